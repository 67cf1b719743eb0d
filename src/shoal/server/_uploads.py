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

Each PUT's body becomes a *piece*: a blob in the blob store (ciphertext),
durable before the transaction that records it in ``upload_pieces`` and
raises ``received`` — only if ``received`` is still where the piece
starts (``UPDATE … WHERE received = offset``). That one condition is the
whole of the concurrency control: two requests for one upload, on one
server process or on two, cannot both append, and the loser's piece is
dropped (409, with where to resume). Nothing lives in process memory or
on a server's own disk, so with a shared database and blob store any
process serves any request of any upload. A client that goes away midway
keeps what arrived (stored and counted), so a broken circuit costs only
the bytes in flight. Finishing joins the pieces into the item's blob (one
piece is the item's blob as it is).

Bounds (DESIGN.md, "floods"): a declared size of at most ``max_body`` plus
what sealing adds; at most ``Limits.max_uploads`` unfinished per contact
(counted in the transaction that adds one, with the contact's row locked
where the database can); and at most ``Limits.max_upload_bytes`` declared
by all unfinished uploads together, reserved in the ``quotas`` row in the
transaction that adds the upload and released when it is filed or
dropped, so server processes sharing the database cannot together pass
it. Rows go two days after their last progress, finished or not (a
finished upload is then answered from its item).

A crash between a piece's blob and its row leaves that blob unreferenced
(ciphertext; at most one piece per interrupted request): it is not
counted, and the client sends those bytes again.

The upload's machine is the table :data:`MACHINE`, a pure function of the
upload's progress and the request; :class:`UploadService` carries out
what it says.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import crypto
from ..store import BlobRef, BlobStore, StorageFullError, schema
from . import _messages as msg
from ._bodies import body_chunks
from ._clock import Clock, day_of
from ._config import Limits
from ._contacts import ContactService
from ._unreferenced import release_blobs
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
#: Rows (and their pieces) stay this long after their last progress.
KEPT = timedelta(days=2)
#: The ``quotas`` row of the bytes unfinished uploads have declared.
UPLOAD_QUOTA = "upload_bytes"
#: Expired rows one sweep deletes: bounded work per request.
_SWEEP_BATCH = 100
_COPY_CHUNK = 1 << 20
_ID = re.compile(r"\A[0-9a-f]{32}\Z")
#: Part files of uploads begun before pieces moved into the blob store
#: (``DATA/uploads/<id>.part``), adopted as pieces at start-up.
_LEGACY_PART = ".part"


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


class UploadService:
    def __init__(
        self,
        *,
        db: sessionmaker[Session],
        contacts: ContactService,
        blobs: BlobStore,
        limits: Limits,
        clock: Clock,
    ) -> None:
        self._db = db
        self._contacts = contacts
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
            if not _reserve(db, size, self._limits.max_upload_bytes):
                db.rollback()
                raise QuotaError(msg.UPLOADS_FULL)
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
        progress = await run_in_threadpool(self.status, door, token, upload_id)
        action = decide(progress, progress.put(offset))
        if action is Action.RESUME:
            raise ResumeElsewhereError(msg.UPLOAD_ELSEWHERE, "offset", progress.received)
        if action is Action.ANSWER:
            async for _ in body_chunks(request, 0, msg.UPLOAD_TOO_LARGE):
                pass  # a finished upload takes no more bytes (413)
            return progress
        body = _Body(body_chunks(request, progress.size - progress.received, msg.UPLOAD_TOO_LARGE))
        try:
            piece = await self._blobs.put_async(body)
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        if piece.size == 0:
            # Nothing arrived (an empty body, or a client gone at once).
            self._release_blobs([piece.blob_id] if piece.created else [])
            body.raise_if_gone()
            return progress
        recorded = await run_in_threadpool(self._record, token, progress, piece)
        body.raise_if_gone()  # what arrived is kept; the client asks where it is
        return recorded

    def finish(self, door: str, token: str | None, upload_id: str) -> tuple[Progress, bool]:
        """The upload's item, filed now (``True``) or before (``False``).

        The bytes must be all there and start as an age file; otherwise
        nothing is stored, and bytes that are no age file are dropped with
        their upload (no retry can make them one).
        """
        progress = self.status(door, token, upload_id)
        action = decide(progress, Event.FINISH)
        if action is Action.RESUME:
            raise ResumeElsewhereError(msg.UPLOAD_INCOMPLETE, "size", progress.received)
        if action is Action.ANSWER:
            return progress, False
        pieces = self._pieces(progress)
        with _Joined(self._blobs, pieces) as joined:
            if not _is_age_file(joined):
                self._drop(progress)
                raise BadRequestError(msg.NOT_AGE)
        if len(pieces) == 1:
            ref = BlobRef(pieces[0].blob_id, pieces[0].size, created=False)
        else:
            try:
                with _Joined(self._blobs, pieces) as joined:
                    ref = self._blobs.put(iter(lambda: joined.read(_COPY_CHUNK), b""))
            except StorageFullError:
                raise DiskFullError(msg.DISK_FULL) from None
        try:
            finished = self._file(door, token, progress, ref)
        except BaseException:
            self._release_blobs([ref.blob_id] if ref.created else [])
            raise
        self._release_blobs([p.blob_id for p in pieces])
        return finished, True

    def sweep_all(self, legacy_parts: Path | None = None) -> None:
        """At start-up: every expired upload; and part files of a data
        directory from before pieces were blobs, adopted as pieces."""
        if legacy_parts is not None and legacy_parts.is_dir():
            self._adopt(legacy_parts)
        while self._sweep():
            pass

    def _adopt(self, directory: Path) -> None:
        """Each ``<id>.part`` becomes its upload's first piece (the bytes
        the database counted); the file goes, then the empty directory."""
        for part in sorted(directory.glob(f"*{_LEGACY_PART}")):
            upload_id = part.name.removesuffix(_LEGACY_PART)
            with self._db() as db:
                row = db.get(schema.Upload, upload_id) if _ID.match(upload_id) else None
                held = db.scalar(
                    select(func.count())
                    .select_from(schema.UploadPiece)
                    .where(schema.UploadPiece.upload_id == upload_id)
                )
                if row is not None and row.item_id is None and row.received > 0 and not held:
                    with part.open("rb") as source:
                        ref = self._blobs.put(_prefix(source, row.received))
                    if ref.size == row.received:
                        db.add(_piece(upload_id, 0, ref))
                    else:  # the file lost counted bytes: count what is there
                        row.received = 0
                        self._blobs.discard(ref)
                    db.commit()
            part.unlink()
        if not any(directory.iterdir()):
            directory.rmdir()

    def _sweep(self) -> int:
        """Delete a batch of uploads two days past their last progress,
        rows first, then their pieces; returns how many went."""
        oldest = day_of(self._clock()) - KEPT
        with self._db() as db:
            expired = list(
                db.scalars(
                    select(schema.Upload.id).where(schema.Upload.day < oldest).limit(_SWEEP_BATCH)
                ).all()
            )
            pieces = forget_uploads(db, schema.Upload.id.in_(expired)) if expired else []
            db.commit()
        self._release_blobs(pieces)
        return len(expired)

    def _own(self, db: Session, door: str, token: str | None, upload_id: str) -> Progress:
        """The upload, if it is this session's contact's: another's answers
        404 like one that does not exist."""
        _, session = self._contacts.authenticate(db, door, token)
        found = _find(db, upload_id) if _ID.match(upload_id) else None
        if found is None or found[0] != session.contact_id:
            raise NotFoundError(msg.NO_SUCH_UPLOAD)
        return found[1]

    def _pieces(self, progress: Progress) -> list[schema.UploadPiece]:
        """The upload's pieces, which must cover ``received`` exactly."""
        with self._db() as db:
            pieces = list(
                db.scalars(
                    select(schema.UploadPiece)
                    .where(schema.UploadPiece.upload_id == progress.upload_id)
                    .order_by(schema.UploadPiece.offset)
                ).all()
            )
        at = 0
        for piece in pieces:
            if piece.offset != at:
                break
            at += piece.size
        if at != progress.received or any(not self._blobs.exists(p.blob_id) for p in pieces):
            # Bytes the database counted are gone (a blob removed by hand?):
            # start the upload again from nothing rather than file a hole.
            with self._db() as db:
                dropped = forget_pieces(db, progress.upload_id)
                db.execute(
                    update(schema.Upload)
                    .where(schema.Upload.id == progress.upload_id)
                    .values(received=0)
                )
                db.commit()
            self._release_blobs(dropped)
            raise ResumeElsewhereError(msg.UPLOAD_ELSEWHERE, "offset", 0)
        return pieces

    def _record(self, token: str | None, progress: Progress, piece: BlobRef) -> Progress:
        """Count the piece (stored already) as the bytes after ``received``,
        if no other request counted some first."""
        end = progress.received + piece.size
        with self._db() as db:
            changed = db.connection().execute(
                update(schema.Upload)
                .where(
                    schema.Upload.id == progress.upload_id,
                    schema.Upload.received == progress.received,
                    schema.Upload.item_id.is_(None),
                )
                .values(received=end, day=day_of(self._clock()))
            )
            if changed.rowcount == 1:
                db.add(_piece(progress.upload_id, progress.received, piece))
                self._contacts.renew(db, token)
                db.commit()
                return replace(progress, received=end)
            db.rollback()
            now = db.get(schema.Upload, progress.upload_id)
        self._release_blobs([piece.blob_id] if piece.created else [])
        if now is None:  # swept meanwhile (two days without progress): gone
            raise NotFoundError(msg.NO_SUCH_UPLOAD)
        raise ResumeElsewhereError(msg.UPLOAD_BUSY, "offset", now.received)

    def _file(self, door: str, token: str | None, progress: Progress, ref: BlobRef) -> Progress:
        """Record the item, mark the upload finished, forget its pieces and
        release its quota, in one transaction."""
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
            forget_pieces(db, row.id)
            _release(db, row.size)
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
            pieces = forget_uploads(db, schema.Upload.id == progress.upload_id)
            db.commit()
        self._release_blobs(pieces)

    def _release_blobs(self, blob_ids: Iterable[str]) -> None:
        release_blobs(self._db, self._blobs, blob_ids)


def forget_pieces(db: Session, upload_id: str) -> list[str]:
    """Delete an upload's piece rows (in ``db``'s transaction); returns
    their blobs, for :func:`release_blobs` once that has committed."""
    blob_ids = list(
        db.scalars(
            select(schema.UploadPiece.blob_id).where(schema.UploadPiece.upload_id == upload_id)
        ).all()
    )
    db.execute(delete(schema.UploadPiece).where(schema.UploadPiece.upload_id == upload_id))
    return blob_ids


def forget_uploads(db: Session, which: ColumnElement[bool]) -> list[str]:
    """Delete the uploads ``which`` selects, with their pieces, and release
    what the unfinished ones reserved (in ``db``'s transaction); returns
    the pieces' blobs, for :func:`release_blobs` once that has committed."""
    rows = db.scalars(select(schema.Upload).where(which)).all()
    blob_ids = [blob for row in rows for blob in forget_pieces(db, row.id)]
    _release(db, sum(row.size for row in rows if row.item_id is None))
    db.execute(delete(schema.Upload).where(schema.Upload.id.in_([row.id for row in rows])))
    return blob_ids


def _reserve(db: Session, size: int, limit: int) -> bool:
    """Reserve ``size`` bytes of the global upload quota, if they fit."""
    changed = db.connection().execute(
        update(schema.Quota)
        .where(schema.Quota.name == UPLOAD_QUOTA, schema.Quota.used + size <= limit)
        .values(used=schema.Quota.used + size)
    )
    return changed.rowcount == 1


def _release(db: Session, size: int) -> None:
    if size:
        db.execute(
            update(schema.Quota)
            .where(schema.Quota.name == UPLOAD_QUOTA)
            .values(used=schema.Quota.used - size)
        )


def _piece(upload_id: str, offset: int, ref: BlobRef) -> schema.UploadPiece:
    return schema.UploadPiece(
        upload_id=upload_id, offset=offset, blob_id=ref.blob_id, size=ref.size
    )


class _Body:
    """A request body's chunks, ending quietly if the client goes away:
    what arrived before is a piece like any other."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._gone = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except ClientGoneError:
            self._gone = True

    def raise_if_gone(self) -> None:
        if self._gone:
            raise ClientGoneError("the client disconnected")


class _Joined(io.RawIOBase):
    """The pieces' blobs read one after another, as one file."""

    def __init__(self, blobs: BlobStore, pieces: list[schema.UploadPiece]) -> None:
        self._blobs = blobs
        self._waiting = [p.blob_id for p in pieces]
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._current is None:
                if not self._waiting:
                    return 0
                self._current = self._blobs.open(self._waiting.pop(0))
            data = self._current.read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


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


def _is_age_file(source: io.RawIOBase) -> bool:
    """Whether the bytes start with a whole, well-formed age header."""
    try:
        crypto.stanza_count(io.BufferedReader(source))
    except crypto.DecryptionError:
        return False
    return True


def _prefix(source: BinaryIO, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``source`` (fewer if it is shorter)."""
    left = size
    while left > 0 and (chunk := source.read(min(left, _COPY_CHUNK))):
        left -= len(chunk)
        yield chunk
