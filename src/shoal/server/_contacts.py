"""What a contact can do at a door — one service behind both the HTML pages
(``_contact_pages.py``) and the JSON API (``_contact_api.py``).

Database work is synchronous (SQLAlchemy) and runs in worker threads when
called from the event loop; submissions stream on the loop itself.

A wrong codename and a cut one take the same path: derive the lookup id,
look it up among this door's contacts, refuse if there is no accepted
match. Nothing here logs; nothing it raises carries what the contact sent.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from fastapi import Request
from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import crypto, org
from ..store import BlobNotFoundError, BlobRef, BlobStore, StorageFullError, schema
from . import _messages as msg
from ._clock import Clock, day_of
from ._config import Limits
from ._doors import Door, Doors
from ._group_commit import GroupCommit
from ._intake import Intake
from ._replies import open_reply
from ._sessions import ContactSession, ContactSessions
from ._spent import spend
from .errors import ConflictError, DiskFullError, UnauthorizedError

APPLICATION_KIND = "application"


@dataclass(frozen=True, repr=False)
class FirstContact:
    """A new contact's codename (shown once) and session."""

    codename: str
    session: str

    def __repr__(self) -> str:
        return "FirstContact(…)"


@dataclass(frozen=True, repr=False)
class ShownReply:
    item_id: str
    text: str
    day: date

    def __repr__(self) -> str:
        return f"ShownReply({self.item_id!r})"


class ContactService:
    def __init__(
        self,
        *,
        db: sessionmaker[Session],
        doors: Doors,
        sessions: ContactSessions,
        intake: Intake,
        blobs: BlobStore,
        limits: Limits,
        clock: Clock,
    ) -> None:
        self._db = db
        self._commits = GroupCommit(db)
        self._doors = doors
        self._sessions = sessions
        self._intake = intake
        self._blobs = blobs
        self._limits = limits
        self._clock = clock

    def visit(self, door: str) -> None:
        """Raise unless ``door`` exists and is open."""
        with self._db() as db:
            self._doors.open(db, door)

    def first_contact(self, door: str, once: str | None = None) -> FirstContact:
        """A new contact and its session; ``once`` (a page's form) makes a
        second request with the same form a :class:`ConflictError`."""
        with self._db() as db, _spent_once(db, msg.ALREADY_GOT_CODENAME):
            opened = self._doors.open(db, door)
            if once is not None:
                spend(db, once, self._clock(), msg.ALREADY_GOT_CODENAME)
            codename = crypto.generate_codename()
            keys = crypto.derive_contact_keys(
                codename, opened.organization.salt, opened.organization.key_type
            )
            contact = schema.Contact(
                id=org.new_id(),
                lookup_id=keys.lookup_id,
                compartment_id=opened.compartment_id,
                accepted=True,
                recipient=str(keys.identity.recipient()),
                day=day_of(self._clock()),
            )
            db.add(contact)
            # Not practiced: the pages ask for the codename back first.
            session = self._sessions.create(db, contact.id, keys.identity, practiced=False)
            db.commit()
        return FirstContact(codename, session)

    async def login(self, door: str, codename: str) -> str:
        """A new session for the contact ``codename`` names at ``door``.

        The lookup runs in a thread; the new session's row is written by
        the group commit (logins at 64 clients queued one by one for the
        database's write lock, bench/login.py)."""
        contact_id, identity = await run_in_threadpool(self._find, door, codename)
        return await self._commits.run(
            functools.partial(self._sessions.create, contact_id=contact_id, identity=identity,
                              practiced=True)
        )  # fmt: skip

    def _find(self, door: str, codename: str) -> tuple[str, crypto.AgeIdentity]:
        with self._db() as db:
            opened = self._doors.open(db, door)
            keys = crypto.derive_contact_keys(
                codename, opened.organization.salt, opened.organization.key_type
            )
            contact = db.scalars(
                select(schema.Contact).where(
                    schema.Contact.lookup_id == keys.lookup_id,
                    schema.Contact.compartment_id == opened.compartment_id,
                )
            ).one_or_none()
            # Unknown and cut take this one branch and one message, before
            # the identity is made (ContactKeys: only a real login needs it).
            if contact is None or not contact.accepted:
                raise UnauthorizedError(msg.WRONG_CODENAME)
            return contact.id, keys.identity

    def check_session(self, door: str, token: str | None) -> ContactSession:
        with self._db() as db:
            return self.authenticate(db, door, token)[1]

    def is_own_codename(self, door: str, token: str | None, codename: str) -> bool:
        """Whether ``codename`` is the one of this session's contact.

        Nothing is stored either way: a new contact typing it back
        (practice) or the codename page shown again in another language.
        """
        with self._db() as db:
            opened, session = self.authenticate(db, door, token)
            contact = db.get(schema.Contact, session.contact_id)
            keys = crypto.derive_contact_keys(
                codename, opened.organization.salt, opened.organization.key_type
            )
            return contact is not None and hmac.compare_digest(contact.lookup_id, keys.lookup_id)

    def practiced(self, door: str, token: str | None, codename: str) -> bool:
        """Mark the session practiced if ``codename`` is its contact's."""
        if not self.is_own_codename(door, token, codename):
            return False
        with self._db() as db:
            self._sessions.renew(db, token, practiced=True)
            db.commit()
        return True

    def start_over(self, door: str, token: str | None) -> None:
        """Forget a new contact who lost the codename before using it.

        Only a contact with nothing stored goes: one who has sent anything,
        or begun an upload, keeps it (the session just ends), since that is
        not for a session to destroy.
        """
        with self._db() as db:
            _, session = self.authenticate(db, door, token)
            self._sessions.end(db, token)
            used = db.scalar(
                select(
                    exists().where(schema.Item.contact_id == session.contact_id)
                    | exists().where(schema.Upload.contact_id == session.contact_id)
                )
            )
            if not used:
                db.execute(delete(schema.Contact).where(schema.Contact.id == session.contact_id))
            db.commit()

    def logout(self, door: str, token: str | None) -> None:
        """End the session; works even at a closed door (``door`` is unused:
        a session is ended wherever it is presented)."""
        with self._db() as db:
            self._sessions.end(db, token)
            db.commit()

    async def submit(
        self,
        door: str,
        token: str | None,
        request: Request,
        *,
        once: str | None = None,
        message: bytearray | None = None,
    ) -> list[str]:
        """Seal and store the request's multipart body; returns item ids.

        The session is checked before a byte of the body is read, and rows
        are written only once every blob is durable; the form's ``once``
        is spent in the same transaction. ``message`` receives the start of
        the message text (``Intake.seal``), for a page to show it again if
        the submission is refused.
        """
        opened, session = await run_in_threadpool(self._authenticate_alone, door, token)
        try:
            refs = await self._intake.seal(request, opened.epoch.recipients(), message)
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        return await self._record_or_discard(opened, session, token, refs, once)

    async def first_message(self, request: Request) -> bytes:
        """The start of a refused body's message (``Intake.first_message``)."""
        return await self._intake.first_message(request)

    async def apply(self, door: str, token: str | None, content: bytes, once: str | None) -> str:
        """Store a questionnaire's answers as one item of kind "application"."""
        opened, session = await run_in_threadpool(self._authenticate_alone, door, token)
        header = {"kind": APPLICATION_KIND, "time": self._intake.timestamp()}
        sealed = crypto.encrypt_item(opened.epoch.recipients(), header, content)
        try:
            ref = await run_in_threadpool(self._blobs.put, [sealed])
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        return (await self._record_or_discard(opened, session, token, [ref], once))[0]

    async def _record_or_discard(
        self,
        opened: Door,
        session: ContactSession,
        token: str | None,
        refs: list[BlobRef],
        once: str | None,
    ) -> list[str]:
        try:
            return await self._commits.run(
                functools.partial(
                    self._record, opened=opened, session=session, token=token, refs=refs, once=once
                )
            )
        except BaseException:
            for ref in refs:
                self._blobs.discard(ref)
            raise

    def delete_replies(self, door: str, token: str | None, item_id: str | None = None) -> None:
        """Delete one of the contact's replies, or all of them (``None``).

        The rows go first, in one transaction, then the ciphertext: a crash
        between leaves only an orphaned blob, never a row without one.
        Deleting what is already gone is not an error (a reload).
        """
        with self._db() as db:
            opened, session = self.authenticate(db, door, token)
            query = select(schema.Item).where(
                schema.Item.contact_id == session.contact_id,
                schema.Item.compartment_id == opened.compartment_id,
                schema.Item.direction == "out",
            )
            if item_id is not None:
                query = query.where(schema.Item.id == item_id)
            rows = db.scalars(query).all()
            blob_ids = [row.blob_id for row in rows]
            for row in rows:
                db.delete(row)
            db.commit()
        for blob_id in blob_ids:
            self._blobs.delete(blob_id)

    def replies(self, door: str, token: str | None) -> list[ShownReply]:
        """The replies this contact may see, oldest first (``_replies.py``)."""
        with self._db() as db:
            opened, session = self.authenticate(db, door, token)
            items = db.scalars(
                select(schema.Item)
                .where(
                    schema.Item.contact_id == session.contact_id,
                    schema.Item.compartment_id == opened.compartment_id,
                    schema.Item.direction == "out",
                )
                .order_by(schema.Item.seq.desc())
                .limit(self._limits.max_replies_shown)
            ).all()
        shown = []
        for item in reversed(items):
            ciphertext = self._read_blob(item.blob_id)
            if ciphertext is None:
                continue
            text = open_reply(ciphertext, session.identity, opened.epoch, session.contact_id)
            if text is not None:
                shown.append(ShownReply(item.id, text, item.day))
        return shown

    def renew(self, db: Session, token: str | None) -> None:
        """Restart the session's idle time after a long request (in ``db``'s
        transaction): however long an upload took, its sender stays in."""
        self._sessions.renew(db, token)

    def _authenticate_alone(self, door: str, token: str | None) -> tuple[Door, ContactSession]:
        """:meth:`authenticate` in a database session of its own (for a thread)."""
        with self._db() as db:
            return self.authenticate(db, door, token)

    def authenticate(
        self, db: Session, door: str, token: str | None
    ) -> tuple[Door, ContactSession]:
        """The open door and the session ``token`` opens there; 401 unless
        its contact is of this door and not cut, 404 or 503 for the door.
        The door comes first: a door nobody has is 404 for everyone."""
        opened = self._doors.open(db, door)
        session = self._sessions.open(db, token)
        contact = db.get(schema.Contact, session.contact_id)
        if contact is None or contact.compartment_id != opened.compartment_id:
            raise UnauthorizedError(msg.NO_SESSION)
        if not contact.accepted:
            # Cutting ties takes effect on the next request: end the session.
            self._sessions.end(db, token)
            db.commit()
            raise UnauthorizedError(msg.NO_SESSION)
        return opened, session

    def _record(
        self,
        db: Session,
        *,
        opened: Door,
        session: ContactSession,
        token: str | None,
        refs: list[BlobRef],
        once: str | None,
    ) -> list[str]:
        """The submission's rows, written in ``db`` (a group commit's)."""
        day = day_of(self._clock())
        rows = [
            schema.Item(
                id=org.new_id(),
                compartment_id=opened.compartment_id,
                contact_id=session.contact_id,
                direction="in",
                blob_id=ref.blob_id,
                size=ref.size,
                epoch=opened.epoch.number,
                day=day,
            )
            for ref in refs
        ]
        with _spent_once(db, msg.ALREADY_SENT):
            if once is not None:
                spend(db, once, self._clock(), msg.ALREADY_SENT)
            db.add_all(rows)
            # Checked on what authentication read: most submissions then
            # skip loading the session again (a read and an AEAD, per message).
            if session.renewal_due(self._clock()):
                self.renew(db, token)
            # Here, not at the batch's commit: a spent form's collision must
            # fail this work alone (the batch then runs each work apart).
            db.flush()
        return [row.id for row in rows]

    def _read_blob(self, blob_id: str) -> bytes | None:
        """A reply's ciphertext, or ``None`` if gone or over the reply limit."""
        try:
            with self._blobs.open(blob_id) as f:
                data = f.read(self._limits.max_reply + 1)
        except BlobNotFoundError:
            return None
        return data if len(data) <= self._limits.max_reply else None


@contextmanager
def _spent_once(db: Session, already: str) -> Iterator[None]:
    """Two processes that both passed ``spend``'s check collide on its
    primary key at commit: the loser stored nothing, like any second try."""
    try:
        yield
    except IntegrityError:
        db.rollback()
        raise ConflictError(already) from None
