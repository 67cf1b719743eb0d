"""What a handler's desk can do on the server, one compartment per token.

Login is a signed challenge: the server stores only public keys, so a
handler proves possession of the Ed25519 key their compartment's current
epoch lists. A challenge is single use and lives until the end of its day;
a token lives until the end of the day after it was issued, and every call
re-checks that its handler is still in the current epoch, so removing a
handler (a new epoch) takes effect on their next request.

Access control here is the second wall (DESIGN.md, "Compartments"): a
token sees only its compartment's items, blobs, contacts and epochs, but
even without this check nothing of another compartment would decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import BinaryIO

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import crypto, org
from ..store import BlobNotFoundError, BlobStore, StorageFullError, schema
from . import _messages as msg
from ._bodies import body_chunks
from ._chain import COMMAND, EPOCH, ORGANIZATION
from ._clock import Clock, day_of
from ._config import Limits
from ._doors import Door, Doors
from .errors import (
    BadRequestError,
    ConflictError,
    DiskFullError,
    NotFoundError,
    UnauthorizedError,
)

LOGIN_CONTEXT = b"shoal handler login v1\n"
AGE_MAGIC = b"age-encryption.org/v1\n"
NONCE_SIZE = 32
TOKEN_GRACE = timedelta(days=1)
#: Items retention deletes per sync call: bounded work per request.
_EXPIRE_BATCH = 1000


@dataclass(frozen=True)
class Handler:
    """An authenticated token: which handler, in which (verified) door."""

    handler_id: str
    door: Door


@dataclass(frozen=True)
class OrgNotes:
    organization: str
    commands: list[str]
    epochs: list[str]


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UnauthorizedError(msg.HANDLER_LOGIN_FAILED) from None


class HandlerService:
    def __init__(
        self,
        *,
        db: sessionmaker[Session],
        doors: Doors,
        blobs: BlobStore,
        limits: Limits,
        clock: Clock,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._db = db
        self._doors = doors
        self._blobs = blobs
        self._limits = limits
        self._clock = clock
        self._retention = retention

    def challenge(self) -> tuple[str, bytes]:
        today = day_of(self._clock())
        challenge = schema.HandlerChallenge(
            id=org.new_id(), nonce=secrets.token_bytes(NONCE_SIZE), day=today
        )
        with self._db() as db:
            # Challenges die with their day: sweeping here bounds the table.
            db.execute(delete(schema.HandlerChallenge).where(schema.HandlerChallenge.day < today))
            db.add(challenge)
            db.commit()
        return challenge.id, challenge.nonce

    def login(self, challenge_id: str, compartment_id: str, key: str, signature: str) -> str:
        """A token for the handler whose key signed the challenge."""
        today = day_of(self._clock())
        with self._db() as db:
            row = db.get(schema.HandlerChallenge, challenge_id)
            # Used up before anything is checked; the rowcount makes two
            # concurrent logins with one challenge (on two nodes) yield one.
            # (A Core execute on the session's connection reports rowcount.)
            used = db.connection().execute(
                delete(schema.HandlerChallenge).where(schema.HandlerChallenge.id == challenge_id)
            )
            db.commit()
            if row is None or used.rowcount != 1 or row.day != today:
                raise UnauthorizedError(msg.HANDLER_LOGIN_FAILED)
            try:
                verify_key = crypto.VerifyKey(_b64(key))
                signed = LOGIN_CONTEXT + row.nonce + compartment_id.encode()
                verify_key.verify(_b64(signature), signed)
            except crypto.CryptoError:
                raise UnauthorizedError(msg.HANDLER_LOGIN_FAILED) from None
            try:
                door = self._doors.of_compartment(db, compartment_id)
            except NotFoundError:
                raise UnauthorizedError(msg.HANDLER_LOGIN_FAILED) from None
            entry = door.epoch.handler(verify_key)
            if entry is None:
                raise UnauthorizedError(msg.HANDLER_LOGIN_FAILED)
            token = secrets.token_urlsafe(32)
            db.execute(
                delete(schema.HandlerToken).where(schema.HandlerToken.day < today - TOKEN_GRACE)
            )
            db.add(
                schema.HandlerToken(
                    token_hash=_token_hash(token),
                    handler_id=entry.handler_id,
                    compartment_id=door.compartment_id,
                    day=today,
                )
            )
            db.commit()
        return token

    def authenticate(self, token: str | None) -> Handler:
        with self._db() as db:
            return self._authenticate(db, token)

    def _authenticate(self, db: Session, token: str | None) -> Handler:
        row = db.get(schema.HandlerToken, _token_hash(token)) if token else None
        if row is None or row.day < day_of(self._clock()) - TOKEN_GRACE:
            raise UnauthorizedError(msg.HANDLER_NOT_LOGGED_IN)
        door = self._doors.of_compartment(db, row.compartment_id)
        if all(h.handler_id != row.handler_id for h in door.epoch.handlers):
            raise UnauthorizedError(msg.HANDLER_NOT_LOGGED_IN)
        return Handler(row.handler_id, door)

    def org_notes(self, token: str | None) -> OrgNotes:
        """The chain a desk verifies: organization, command keys, and the
        epochs of the token's compartment only (need-to-know)."""
        with self._db() as db:
            handler = self._authenticate(db, token)
            notes = db.scalars(
                select(schema.Note)
                .where(
                    schema.Note.kind.in_((ORGANIZATION, COMMAND))
                    | (schema.Note.compartment_id == handler.door.compartment_id)
                )
                .order_by(schema.Note.kind, schema.Note.number)
            ).all()
        return OrgNotes(
            organization=next(n.body for n in notes if n.kind == ORGANIZATION),
            commands=[n.body for n in notes if n.kind == COMMAND],
            epochs=[n.body for n in notes if n.kind == EPOCH],
        )

    def items(self, token: str | None, after: int, limit: int) -> Sequence[schema.Item]:
        with self._db() as db:
            handler = self._authenticate(db, token)
            return db.scalars(
                select(schema.Item)
                .where(
                    schema.Item.compartment_id == handler.door.compartment_id,
                    schema.Item.seq > after,
                )
                .order_by(schema.Item.seq)
                .limit(limit)
            ).all()

    def open_blob(self, token: str | None, blob_id: str) -> BinaryIO:
        """An open blob, if an item of the token's compartment refers to it."""
        with self._db() as db:
            handler = self._authenticate(db, token)
            found = db.scalars(
                select(schema.Item.id)
                .where(
                    schema.Item.blob_id == blob_id,
                    schema.Item.compartment_id == handler.door.compartment_id,
                )
                .limit(1)
            ).first()
        if found is None:
            raise NotFoundError(msg.NO_SUCH_BLOB)
        try:
            return self._blobs.open(blob_id)
        except BlobNotFoundError:
            raise NotFoundError(msg.NO_SUCH_BLOB) from None

    def contact(self, token: str | None, contact_id: str) -> schema.Contact:
        with self._db() as db:
            return self._contact(db, self._authenticate(db, token), contact_id)

    def _contact(self, db: Session, handler: Handler, contact_id: str) -> schema.Contact:
        contact = db.get(schema.Contact, contact_id)
        if contact is None or contact.compartment_id != handler.door.compartment_id:
            raise NotFoundError(msg.NO_SUCH_CONTACT)
        return contact

    async def store_reply(self, token: str | None, contact_id: str, request: Request) -> str:
        """Store the request's body (an age file) as a reply to the contact.

        The server cannot read it and does not try: the contact's page
        shows it only if, once decrypted, it is signed by a handler.
        """
        handler = await run_in_threadpool(self._reply_target, token, contact_id)
        try:
            ref = await self._blobs.put_async(age_file_body(request, self._limits.max_reply))
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        item = schema.Item(
            id=org.new_id(),
            compartment_id=handler.door.compartment_id,
            contact_id=contact_id,
            direction="out",
            blob_id=ref.blob_id,
            size=ref.size,
            epoch=handler.door.epoch.number,
            day=day_of(self._clock()),
        )
        try:
            await run_in_threadpool(self._insert, item)
        except BaseException:
            self._blobs.discard(ref)
            raise
        return item.id

    def _reply_target(self, token: str | None, contact_id: str) -> Handler:
        with self._db() as db:
            handler = self._authenticate(db, token)
            if not self._contact(db, handler, contact_id).accepted:
                raise ConflictError(msg.CONTACT_CUT)
        return handler

    async def store_state(self, token: str | None, contact_id: str, request: Request) -> None:
        """Keep a contact's lifecycle record: ciphertext the desk sealed to
        the compartment and signed; the server can neither read nor forge it."""
        # Checked before the body is read, and again when it is stored.
        await run_in_threadpool(self.contact, token, contact_id)
        body = age_file_body(request, self._limits.max_small_body)
        sealed = b"".join([c async for c in body])
        await run_in_threadpool(self._set_state, token, contact_id, sealed)

    def _set_state(self, token: str | None, contact_id: str, sealed: bytes) -> None:
        with self._db() as db:
            contact = self._contact(db, self._authenticate(db, token), contact_id)
            contact.state = sealed
            db.commit()

    def cut_contact(self, token: str | None, contact_id: str) -> None:
        """Cut ties with a contact at once (DESIGN.md, "Cutting ties").

        Their lookup id is replaced by random bytes and their recipient
        erased, so their codename now takes the very path of a wrong one;
        their sessions end on their next request (the flag); replies not yet
        read are deleted. What they sent stays: the organization keeps it.
        """
        with self._db() as db:
            contact = self._contact(db, self._authenticate(db, token), contact_id)
            contact.accepted = False
            contact.lookup_id = os.urandom(len(contact.lookup_id))
            contact.recipient = ""
            replies = db.scalars(
                select(schema.Item).where(
                    schema.Item.contact_id == contact_id, schema.Item.direction == "out"
                )
            ).all()
            self._delete_items(db, replies)

    def delete_item(self, token: str | None, item_id: str) -> None:
        with self._db() as db:
            handler = self._authenticate(db, token)
            item = db.scalars(
                select(schema.Item).where(
                    schema.Item.id == item_id,
                    schema.Item.compartment_id == handler.door.compartment_id,
                )
            ).one_or_none()
            if item is None:
                raise NotFoundError(msg.NO_SUCH_ITEM)
            self._delete_items(db, [item])

    def delete_contact(self, token: str | None, contact_id: str) -> None:
        """The contact and everything of theirs on the server (the desks
        keep what they synced)."""
        with self._db() as db:
            contact = self._contact(db, self._authenticate(db, token), contact_id)
            items = db.scalars(
                select(schema.Item).where(schema.Item.contact_id == contact_id)
            ).all()
            self._delete_items(db, items, also=[contact])

    def synced(self, token: str | None, seq: int) -> int:
        """Record that the handler's desk holds its compartment's items up
        to ``seq``; then delete what retention allows. Returns how many
        items went."""
        today = day_of(self._clock())
        with self._db() as db:
            handler = self._authenticate(db, token)
            compartment_id = handler.door.compartment_id
            newest = db.scalar(
                select(func.max(schema.Item.seq)).where(
                    schema.Item.compartment_id == compartment_id
                )
            )
            # Never past what exists: a desk cannot claim items to come.
            seq = min(seq, newest or 0)
            row = db.get(schema.HandlerSync, (handler.handler_id, compartment_id))
            if row is None:
                db.add(schema.HandlerSync(
                    handler_id=handler.handler_id, compartment_id=compartment_id,
                    seq=seq, day=today,
                ))  # fmt: skip
            elif seq > row.seq:
                row.seq, row.day = seq, today
            db.flush()
            return self._expire(db, handler.door, today)

    def _expire(self, db: Session, door: Door, today: date) -> int:
        """Delete the compartment's contacts' items that every current
        handler's desk has synced and that are older than the retention
        period. Replies are the contact's to read or delete: not these."""
        current = [h.handler_id for h in door.epoch.handlers]
        marks = db.scalars(
            select(schema.HandlerSync.seq).where(
                schema.HandlerSync.compartment_id == door.compartment_id,
                schema.HandlerSync.handler_id.in_(current),
            )
        ).all()
        if not current or len(marks) < len(current):
            db.commit()
            return 0  # some desk has synced nothing yet: keep everything
        expired = db.scalars(
            select(schema.Item)
            .where(
                schema.Item.compartment_id == door.compartment_id,
                schema.Item.direction == "in",
                schema.Item.seq <= min(marks),
                schema.Item.day <= today - self._retention,
            )
            .limit(_EXPIRE_BATCH)
        ).all()
        self._delete_items(db, expired)
        return len(expired)

    def _delete_items(
        self, db: Session, items: Sequence[schema.Item], also: Sequence[schema.Base] = ()
    ) -> None:
        """Rows first, in one transaction, then their ciphertext: a crash
        between leaves an orphaned blob (ciphertext only), never a row
        without its blob. A blob another item still names stays."""
        gone = {item.blob_id for item in items}
        for item in items:
            db.delete(item)
        db.flush()  # the items before what they refer to (a contact)
        for row in also:
            db.delete(row)
        db.flush()
        kept = set(
            db.scalars(select(schema.Item.blob_id).where(schema.Item.blob_id.in_(gone))).all()
        )
        db.commit()
        for blob_id in gone - kept:
            self._blobs.delete(blob_id)

    def _insert(self, item: schema.Item) -> None:
        with self._db() as db:
            db.add(item)
            db.commit()


async def age_file_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body, refused unless it starts like a binary age file."""
    head = b""
    async for chunk in body_chunks(request, limit, msg.REPLY_TOO_LARGE):
        if len(head) >= len(AGE_MAGIC):
            yield chunk
            continue
        head += chunk
        if len(head) >= len(AGE_MAGIC):
            if not head.startswith(AGE_MAGIC):
                raise BadRequestError(msg.NOT_AN_AGE_FILE)
            yield head
    if len(head) < len(AGE_MAGIC):
        raise BadRequestError(msg.NOT_AN_AGE_FILE)
