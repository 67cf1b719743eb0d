"""Resumable uploads of items a member's field client sealed itself
(docs/api.md, "Member (field client), JSON").

A member's report is sealed on the device, to the compartment's epoch, the
moment it is finished: the server receives ciphertext only, possibly
hundreds of MiB over a Tor circuit that breaks. So the bytes come in
pieces, each appended where the last durable one ended, and the client
asks where that is after any failure:

    POST uploads                 {"id", "size", "epoch"}: a row, nothing received
    PUT  uploads/<id>?offset=N   bytes appended at N, which must be ``received``
    GET  uploads/<id>            where to resume
    POST uploads/<id>/finish     the bytes become an item (its id is the upload's)

Durability: a PUT appends to ``DATA/uploads/<id>.part``, fsyncs it, and
only then raises ``received`` in the database, before it answers. The
database is the truth: a crash between leaves the file longer than
``received``, and the next request truncates it back first. A client that
goes away midway keeps what arrived (made durable and counted), so a
broken circuit costs only the bytes in flight.

One request at a time per upload: each holds an exclusive ``flock`` on the
part file while it looks at and changes the upload, and a second one is
told to wait (409, with ``received``). Nothing is kept in process memory,
so any server process sharing the data directory serves any request.

Bounds (DESIGN.md, "floods"): a declared size of at most ``max_body`` plus
what sealing adds, at most ``Limits.max_uploads`` unfinished per contact
(counted in the transaction that adds one, with the contact's row locked
where the database can), and rows go two days after their last progress,
finished or not (a finished upload is then answered from its item).

The upload's machine is the table :data:`MACHINE`, a pure function of the
upload's progress and the request; :class:`UploadService` carries out
what it says.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path

from fastapi import Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import crypto
from ..store import BlobRef, BlobStore, StorageFullError, fsync_dir, schema
from . import _messages as msg
from ._bodies import body_chunks
from ._clock import Clock, day_of
from ._config import Limits
from ._contacts import ContactService
from .errors import (
    BadRequestError,
    ClientGoneError,
    ConflictError,
    DiskFullError,
    NotFoundError,
    QuotaError,
    ResumeElsewhereError,
    TooLargeError,
)

#: What sealing adds to an item of ``max_body`` bytes, beyond which a
#: declared size is refused (the age header's stanzas, the envelope).
UPLOAD_ROOM = 64 << 10
#: Rows (and part files) stay this long after their last progress.
KEPT = timedelta(days=2)
#: Expired rows one sweep deletes: bounded work per request.
_SWEEP_BATCH = 100
_COPY_CHUNK = 1 << 20
_ID = re.compile(r"\A[0-9a-f]{32}\Z")
_PART = ".part"


class Stage(Enum):
    RECEIVING = "receiving"  # fewer bytes durable than declared
    COMPLETE = "complete"  # every byte durable, no item yet
    FINISHED = "finished"  # the item is recorded; the part file is gone


class Event(Enum):
    APPEND = "append"  # a PUT at the offset the upload is at
    APPEND_ELSEWHERE = "append elsewhere"  # a PUT at any other offset
    FINISH = "finish"


class Action(Enum):
    WRITE = "write"  # append the body: at most size - received bytes (past it: 413)
    RESUME = "resume"  # 409: tell the client where the upload is
    FILE = "file"  # check the bytes are an age file, store them, record the item
    ANSWER = "answer"  # nothing to do: the upload as it stands


#: Every pair is here: none is impossible, because a client that lost an
#: answer may send anything again.
MACHINE: dict[tuple[Stage, Event], Action] = {
    (Stage.RECEIVING, Event.APPEND): Action.WRITE,
    (Stage.RECEIVING, Event.APPEND_ELSEWHERE): Action.RESUME,
    (Stage.RECEIVING, Event.FINISH): Action.RESUME,  # bytes missing: where to go on
    (Stage.COMPLETE, Event.APPEND): Action.WRITE,  # room for no byte: only an empty body
    (Stage.COMPLETE, Event.APPEND_ELSEWHERE): Action.RESUME,
    (Stage.COMPLETE, Event.FINISH): Action.FILE,
    (Stage.FINISHED, Event.APPEND): Action.ANSWER,  # the last PUT again: an empty body
    (Stage.FINISHED, Event.APPEND_ELSEWHERE): Action.RESUME,
    (Stage.FINISHED, Event.FINISH): Action.ANSWER,  # finish again: the same item
}


@dataclass(frozen=True)
class Progress:
    """An upload as the database has it."""

    upload_id: str
    size: int
    received: int
    item: str | None

    @property
    def stage(self) -> Stage:
        if self.item is not None:
            return Stage.FINISHED
        return Stage.COMPLETE if self.received >= self.size else Stage.RECEIVING

    def put(self, offset: int) -> Event:
        return Event.APPEND if offset == self.received else Event.APPEND_ELSEWHERE


def decide(progress: Progress, event: Event) -> Action:
    return MACHINE[(progress.stage, event)]


class PartFiles:
    """``DATA/uploads/<id>.part``: the bytes of uploads not yet finished
    (ciphertext, sealed on the member's device)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)

    def path(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise ValueError("not an upload id")
        return self.directory / f"{upload_id}{_PART}"

    def open_locked(self, upload_id: str) -> int:
        """A descriptor of the part file (made if missing), exclusively
        locked until it is closed; :class:`BlockingIOError` if another
        request holds it.

        A file unlinked between our open and our lock (its upload finished
        or dropped) is no longer the upload's: that is "busy" too, and the
        client's next try opens the file now at the path.
        """
        path = self.path(upload_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise BlockingIOError(errno.EAGAIN, "the part file was replaced")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def remove(self, upload_ids: Iterable[str]) -> None:
        removed = False
        for upload_id in upload_ids:
            self.path(upload_id).unlink(missing_ok=True)
            removed = True
        if removed:
            fsync_dir(self.directory)

    def names(self) -> set[str]:
        return {p.name.removesuffix(_PART) for p in self.directory.glob(f"*{_PART}")}


class UploadService:
    def __init__(
        self,
        *,
        db: sessionmaker[Session],
        contacts: ContactService,
        parts: PartFiles,
        blobs: BlobStore,
        limits: Limits,
        clock: Clock,
    ) -> None:
        self._db = db
        self._contacts = contacts
        self._parts = parts
        self._blobs = blobs
        self._limits = limits
        self._clock = clock

    @property
    def max_size(self) -> int:
        return self._limits.max_body + UPLOAD_ROOM

    def create(
        self, door: str, token: str | None, upload_id: str, size: int, epoch: int
    ) -> tuple[Progress, bool]:
        """The upload ``upload_id`` of this contact, made now (``True``) or
        before (``False``: the same request again)."""
        with self._db() as db:
            opened, session = self._contacts.authenticate(db, door, token)
            if size > self.max_size:
                raise TooLargeError(msg.UPLOAD_TOO_LARGE)
            if not 1 <= epoch <= opened.epoch.number:
                raise BadRequestError(msg.UPLOAD_EPOCH, "epoch")
            found = _find(db, upload_id)
            if found is not None:
                owner, progress, declared = found
                # An item whose row was swept may have been re-sealed since:
                # only a row still says what was declared.
                same = declared is None or declared == (size, epoch)
                if owner != session.contact_id or not same:
                    raise ConflictError(msg.UPLOAD_TAKEN)
                return progress, False
            # Where the database can, one create per contact at a time, so
            # that two server processes cannot both pass the count below.
            db.scalars(
                select(schema.Contact.id)
                .where(schema.Contact.id == session.contact_id)
                .with_for_update()
            ).one()
            db.add(
                schema.Upload(
                    id=upload_id,
                    contact_id=session.contact_id,
                    compartment_id=opened.compartment_id,
                    size=size,
                    received=0,
                    epoch=epoch,
                    item_id=None,
                    day=day_of(self._clock()),
                )
            )
            try:
                db.flush()
            except IntegrityError:  # the same id, created at this very moment
                db.rollback()
                raise ConflictError(msg.UPLOAD_TAKEN) from None
            unfinished = db.scalar(
                select(func.count())
                .select_from(schema.Upload)
                .where(
                    schema.Upload.contact_id == session.contact_id,
                    schema.Upload.item_id.is_(None),
                )
            )
            if (unfinished or 0) > self._limits.max_uploads:
                db.rollback()
                raise QuotaError(msg.TOO_MANY_UPLOADS)
            db.commit()
        self._sweep()  # now and then, by those who add rows
        return Progress(upload_id, size, 0, None), True

    def status(self, door: str, token: str | None, upload_id: str) -> Progress:
        with self._db() as db:
            return self._own(db, door, token, upload_id)

    async def append(
        self, door: str, token: str | None, upload_id: str, offset: int, request: Request
    ) -> Progress:
        """Append the request's body at ``offset`` (see :data:`MACHINE`)."""
        first = await run_in_threadpool(self.status, door, token, upload_id)
        fd = self._lock(first)
        try:
            progress = await run_in_threadpool(self._locked_status, door, token, upload_id)
            action = decide(progress, progress.put(offset))
            if action is Action.RESUME:
                raise ResumeElsewhereError(msg.UPLOAD_ELSEWHERE, "offset", progress.received)
            if action is Action.ANSWER:
                async for _ in body_chunks(request, 0, msg.UPLOAD_TOO_LARGE):
                    pass  # a finished upload takes no more bytes (413)
                return progress
            await run_in_threadpool(self._align, fd, progress)
            end = await self._write(fd, progress, request, token)
            return await run_in_threadpool(self._record, token, progress, end)
        finally:
            os.close(fd)

    def finish(self, door: str, token: str | None, upload_id: str) -> tuple[Progress, bool]:
        """The upload's item, filed now (``True``) or before (``False``).

        The bytes must be all there and start as an age file; otherwise
        nothing is stored, and bytes that are no age file are dropped with
        their upload (no retry can make them one).
        """
        first = self.status(door, token, upload_id)
        fd = self._lock(first)
        try:
            progress = self._locked_status(door, token, upload_id)
            action = decide(progress, Event.FINISH)
            if action is Action.RESUME:
                raise ResumeElsewhereError(msg.UPLOAD_INCOMPLETE, "size", progress.received)
            if action is Action.ANSWER:
                return progress, False
            self._align(fd, progress)
            path = self._parts.path(upload_id)
            if not _is_age_file(path):
                self._drop(progress)
                raise BadRequestError(msg.NOT_AGE)
            try:
                ref = self._blobs.put_file(path)
            except StorageFullError:
                raise DiskFullError(msg.DISK_FULL) from None
            try:
                finished = self._file(door, token, progress, ref)
            except BaseException:
                self._blobs.discard(ref)
                raise
            self._parts.remove([upload_id])
            return finished, True
        finally:
            os.close(fd)

    def _locked_status(self, door: str, token: str | None, upload_id: str) -> Progress:
        """The upload read again under its lock, which is what counts; the
        lock made a part file, which a finished upload does not keep."""
        progress = self.status(door, token, upload_id)
        if progress.stage is Stage.FINISHED:
            self._parts.remove([upload_id])
        return progress

    def sweep_all(self) -> None:
        """At start-up: every expired upload, and part files without a row
        (a crash between a row's deletion and its file's)."""
        while self._sweep():
            pass
        with self._db() as db:
            known = set(db.scalars(select(schema.Upload.id)).all())
        self._parts.remove(self._parts.names() - known)

    def _sweep(self) -> int:
        """Delete a batch of uploads two days past their last progress,
        rows first, then their part files; returns how many went."""
        oldest = day_of(self._clock()) - KEPT
        with self._db() as db:
            expired = list(
                db.scalars(
                    select(schema.Upload.id).where(schema.Upload.day < oldest).limit(_SWEEP_BATCH)
                ).all()
            )
            if expired:
                db.execute(delete(schema.Upload).where(schema.Upload.id.in_(expired)))
                db.commit()
        self._parts.remove(expired)
        return len(expired)

    def _own(self, db: Session, door: str, token: str | None, upload_id: str) -> Progress:
        """The upload, if it is this session's contact's: another's answers
        404 like one that does not exist."""
        _, session = self._contacts.authenticate(db, door, token)
        found = _find(db, upload_id) if _ID.match(upload_id) else None
        if found is None or found[0] != session.contact_id:
            raise NotFoundError(msg.NO_SUCH_UPLOAD)
        return found[1]

    def _lock(self, progress: Progress) -> int:
        try:
            return self._parts.open_locked(progress.upload_id)
        except BlockingIOError:
            raise ResumeElsewhereError(msg.UPLOAD_BUSY, "offset", progress.received) from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(msg.DISK_FULL) from None
            raise

    def _align(self, fd: int, progress: Progress) -> None:
        """Make the part file exactly ``received`` bytes long: the database
        is the truth."""
        on_disk = os.fstat(fd).st_size
        if on_disk > progress.received:
            os.ftruncate(fd, progress.received)
            os.fsync(fd)
        elif on_disk < progress.received:
            # Bytes the database counted are gone (the file was removed by
            # hand?): count what is there, and have the client resume there.
            with self._db() as db:
                db.execute(
                    update(schema.Upload)
                    .where(schema.Upload.id == progress.upload_id)
                    .values(received=on_disk)
                )
                db.commit()
            raise ResumeElsewhereError(msg.UPLOAD_ELSEWHERE, "offset", on_disk)

    async def _write(self, fd: int, progress: Progress, request: Request, token: str | None) -> int:
        """Append the body at ``received``; durable when this returns the new end.

        Refused bytes (past ``size``, a full disk) are cut off again; a
        client that went away keeps what arrived.
        """
        start = progress.received
        os.lseek(fd, start, os.SEEK_SET)
        end = start
        try:
            async for chunk in body_chunks(request, progress.size - start, msg.UPLOAD_TOO_LARGE):
                _write_all(fd, chunk)
                end += len(chunk)
        except ClientGoneError:
            if end > start:
                await asyncio.to_thread(os.fsync, fd)
                await run_in_threadpool(self._record, token, progress, end)
            raise
        except BaseException:
            os.ftruncate(fd, start)
            raise
        await asyncio.to_thread(os.fsync, fd)
        return end

    def _record(self, token: str | None, progress: Progress, end: int) -> Progress:
        """Count the bytes up to ``end`` (fsynced already) as received."""
        with self._db() as db:
            changed = db.connection().execute(
                update(schema.Upload)
                .where(
                    schema.Upload.id == progress.upload_id,
                    schema.Upload.received == progress.received,
                )
                .values(received=end, day=day_of(self._clock()))
            )
            if changed.rowcount != 1:
                # Swept meanwhile (two days without progress): gone.
                db.rollback()
                self._parts.remove([progress.upload_id])
                raise NotFoundError(msg.NO_SUCH_UPLOAD)
            self._contacts.renew(db, token)
            db.commit()
        return replace(progress, received=end)

    def _file(self, door: str, token: str | None, progress: Progress, ref: BlobRef) -> Progress:
        """Record the item and mark the upload finished, in one transaction."""
        with self._db() as db:
            opened, session = self._contacts.authenticate(db, door, token)
            row = db.get(schema.Upload, progress.upload_id)
            if row is None or row.item_id is not None or row.received != progress.received:
                raise ConflictError(msg.UPLOAD_TAKEN)  # swept or changed meanwhile
            db.add(
                schema.Item(
                    id=row.id,
                    compartment_id=opened.compartment_id,
                    contact_id=session.contact_id,
                    direction="in",
                    blob_id=ref.blob_id,
                    size=ref.size,
                    epoch=row.epoch,
                    day=day_of(self._clock()),
                )
            )
            row.item_id = row.id
            row.day = day_of(self._clock())
            try:
                db.commit()
            except IntegrityError:  # an item of this id exists already
                db.rollback()
                raise ConflictError(msg.UPLOAD_TAKEN) from None
        return replace(progress, item=progress.upload_id)

    def _drop(self, progress: Progress) -> None:
        with self._db() as db:
            db.execute(delete(schema.Upload).where(schema.Upload.id == progress.upload_id))
            db.commit()
        self._parts.remove([progress.upload_id])


def _find(
    db: Session, upload_id: str
) -> tuple[str | None, Progress, tuple[int, int] | None] | None:
    """Whose upload ``upload_id`` is, its progress, and the size and epoch
    it was declared with (while its row lasts).

    After its row is swept, a finished upload is its item (a contact's
    item, "in"); any other item of that id belongs to no upload (owner
    ``None``), so the id is taken.
    """
    row = db.get(schema.Upload, upload_id)
    if row is not None:
        progress = Progress(row.id, row.size, row.received, row.item_id)
        return row.contact_id, progress, (row.size, row.epoch)
    item = db.scalars(select(schema.Item).where(schema.Item.id == upload_id)).one_or_none()
    if item is None:
        return None
    owner = item.contact_id if item.direction == "in" else None
    return owner, Progress(item.id, item.size, item.size, item.id), None


def _is_age_file(path: Path) -> bool:
    """Whether the bytes start with a whole, well-formed age header."""
    try:
        with path.open("rb") as f:
            crypto.stanza_count(f)
    except crypto.DecryptionError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(msg.DISK_FULL) from None
        raise
