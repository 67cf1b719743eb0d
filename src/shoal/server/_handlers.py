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
The one thing a token does to another compartment is forward a report to
it: the item is filed there, and the sender's compartment keeps no row of
it, so it can neither list nor download nor delete what it sent.

A desk also re-seals its compartment's late items (a member's, sealed to
an epoch older than the current one) and the server swaps the ciphertext:
it counts the new file's stanzas against the current epoch, since it can
read neither version.
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

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import crypto, org
from ..store import BlobNotFoundError, BlobRef, BlobStore, OpenBlob, StorageFullError, schema
from . import _messages as msg
from ._bodies import body_chunks
from ._chain import EPOCH
from ._clock import Clock, day_of
from ._config import Limits
from ._doors import Door, Doors, OrgNotes, org_notes
from ._unreferenced import release_blobs
from ._uploads import forget_uploads
from .errors import (
    BadRequestError,
    ConflictError,
    DiskFullError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)

AGE_MAGIC = b"age-encryption.org/v1\n"
NONCE_SIZE = 32
TOKEN_GRACE = timedelta(days=1)
#: Items retention deletes per sync call: bounded work per request.
_EXPIRE_BATCH = 1000
#: Items retention may delete: what the compartment received, from its
#: contacts ("in") or forwarded from another compartment ("forwarded").
_RECEIVED = ("in", "forwarded")
#: age's payload is STREAM chunks of 64 KiB, each with a 16-byte tag
#: (age spec, "Payload").
_AGE_CHUNK = 64 << 10
_AGE_TAG = 16
#: What sealing adds besides padding and tags: the age header (a stanza per
#: recipient, about 1.6 KiB each for post-quantum ones), the payload nonce,
#: the envelope's header, trailer and signature. Generous: it bounds a flood.
_SEAL_ROOM = 64 << 10


@dataclass(frozen=True)
class Handler:
    """An authenticated token: which handler, in which (verified) door."""

    handler_id: str
    door: Door


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

    def login(
        self,
        challenge_id: str,
        compartment_id: str,
        key: str,
        signature: str,
        *,
        host: str | None = None,
        own_name: str | None = None,
    ) -> str:
        """A token for the handler whose key signed the challenge, the
        compartment and ``host``, the name the desk dialled.

        ``own_name`` is this server's name where it knows it (the onion
        address the request came in by): the signature must then be made
        for it (``org.handler_login_message``), so a relayed login fails.
        """
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
            if own_name is not None and host != own_name:
                raise UnauthorizedError(msg.HANDLER_LOGIN_FAILED)
            try:
                verify_key = crypto.VerifyKey(_b64(key))
                signed = org.handler_login_message(row.nonce, compartment_id, host)
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
            return org_notes(db, handler.door.compartment_id)

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

    def open_blob(self, token: str | None, blob_id: str) -> OpenBlob:
        """An open blob, if an item of the token's compartment refers to it."""
        with self._db() as db:
            handler = self._authenticate(db, token)
            size = db.scalars(
                select(schema.Item.size)
                .where(
                    schema.Item.blob_id == blob_id,
                    schema.Item.compartment_id == handler.door.compartment_id,
                )
                .limit(1)
            ).first()
        if size is None:
            raise NotFoundError(msg.NO_SUCH_BLOB)
        try:
            return OpenBlob(self._blobs.open(blob_id), size)
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
        body = age_file_body(request, self._limits.max_reply)
        return await self._file(body, handler.door, contact_id, "out")

    def _reply_target(self, token: str | None, contact_id: str) -> Handler:
        with self._db() as db:
            handler = self._authenticate(db, token)
            if not self._contact(db, handler, contact_id).accepted:
                raise ConflictError(msg.CONTACT_CUT)
        return handler

    async def store_forward(self, token: str | None, door: str, request: Request) -> str:
        """File the request's body (an age file) as an item of the
        compartment behind ``door``, forwarded by the token's compartment.

        Forwarding is done on the sending desk (DESIGN.md, "Compartments"):
        decrypt, scrub, re-seal to the target's epoch and command, sign.
        The server cannot read it and does not try. The item has no contact
        and is recorded under the target's current verified epoch, so the
        target's desks sync it as their own and count its stanzas.
        """
        target = await run_in_threadpool(self._forward_target, token, door)
        body = age_file_body(
            request,
            forward_limit(self._limits),
            too_large=msg.BODY_TOO_LARGE,
            not_age=msg.FORWARD_NOT_AN_AGE_FILE,
        )
        return await self._file(body, target, None, "forwarded")

    def forward_epoch(self, token: str | None, door: str) -> str:
        """The signed note of ``door``'s current epoch (checked as for a forward)."""
        target = self._forward_target(token, door)
        with self._db() as db:
            note = db.scalars(
                select(schema.Note.body).where(
                    schema.Note.kind == EPOCH,
                    schema.Note.compartment_id == target.compartment_id,
                    schema.Note.number == target.epoch.number,
                )
            ).first()
        if note is None:  # verified a moment ago: gone since, as a closed door
            raise UnavailableError(msg.DOOR_CLOSED)
        return note

    def _forward_target(self, token: str | None, door: str) -> Door:
        """The door forwarded to: checked before a byte of the body is read.

        Only after the token: without one, every door answers 401 alike.
        An unknown door is 404 and a closed one 503, as for contacts, who
        may probe any door anyway.
        """
        with self._db() as db:
            handler = self._authenticate(db, token)
            target = self._doors.open(db, door)
        if target.compartment_id == handler.door.compartment_id:
            # Nothing to forward: the compartment holds the report already.
            raise BadRequestError(msg.FORWARD_TO_OWN_DOOR)
        return target

    async def _file(
        self, body: AsyncIterator[bytes], door: Door, contact_id: str | None, direction: str
    ) -> str:
        """Store ``body`` and record it as an item of ``door``'s compartment,
        sealed to its current epoch; durable when this returns."""
        try:
            ref = await self._blobs.put_async(body)
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        item = schema.Item(
            id=org.new_id(),
            compartment_id=door.compartment_id,
            contact_id=contact_id,
            direction=direction,
            blob_id=ref.blob_id,
            size=ref.size,
            epoch=door.epoch.number,
            day=day_of(self._clock()),
        )
        try:
            await run_in_threadpool(self._insert, item)
        except BaseException:
            # The row never came: no blob without its item (one stored
            # earlier, by identical bytes, stays: see BlobStore.discard).
            self._blobs.discard(ref)
            raise
        return item.id

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

    async def reseal(self, token: str | None, item_id: str, request: Request) -> schema.Item:
        """Replace an item's ciphertext with the same item re-sealed on a desk
        to the compartment's current epoch (DESIGN.md: late items sealed to
        an old epoch, after a handler was cut, are re-sealed and the old
        ciphertext deleted).

        The server cannot read either version; what it checks is that the
        new one has a stanza for each recipient of the current epoch, so a
        desk's slip cannot leave an item sealed to fewer. The item keeps
        its id, contact and day, and gets a new seq: desks page by seq, so
        every desk fetches the new version and replaces its copy.
        """
        await run_in_threadpool(self._resealable, token, item_id)
        body = age_file_body(
            request, forward_limit(self._limits), too_large=msg.BODY_TOO_LARGE, not_age=msg.NOT_AGE
        )
        try:
            ref = await self._blobs.put_async(body)
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        try:
            replaced, old_blob = await run_in_threadpool(self._replace, token, item_id, ref)
        except BaseException:
            self._blobs.discard(ref)
            raise
        release_blobs(self._db, self._blobs, [old_blob])
        return replaced

    def _resealable(self, token: str | None, item_id: str) -> tuple[Handler, schema.Item]:
        """The item, if the token's compartment's, received, and sealed to
        an older epoch than the current one; checked before the body is
        read, and again when it is replaced."""
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
        if item.direction != "in":
            raise BadRequestError(msg.RESEAL_NOT_RECEIVED)
        if item.epoch == handler.door.epoch.number:
            raise ConflictError(msg.ALREADY_CURRENT)
        return handler, item

    def _replace(self, token: str | None, item_id: str, ref: BlobRef) -> tuple[schema.Item, str]:
        """Swap the row for one with the new blob, epoch and seq, in one
        transaction; returns it and the blob it no longer names."""
        handler, item = self._resealable(token, item_id)
        recipients = len(handler.door.epoch.recipients())
        try:
            with self._blobs.open(ref.blob_id) as sealed:
                stanzas = crypto.stanza_count(sealed)
        except crypto.DecryptionError:
            raise BadRequestError(msg.NOT_AGE) from None
        if stanzas != recipients:
            raise BadRequestError(msg.RESEAL_WRONG_RECIPIENTS)
        resealed = schema.Item(
            id=item.id,
            compartment_id=item.compartment_id,
            contact_id=item.contact_id,
            direction=item.direction,
            blob_id=ref.blob_id,
            size=ref.size,
            epoch=handler.door.epoch.number,
            day=item.day,
        )
        with self._db() as db:
            # The seq read a moment ago must still be the row's: of two
            # desks re-sealing at once, one replaces it, the other is told.
            gone = db.connection().execute(
                delete(schema.Item).where(
                    schema.Item.seq == item.seq, schema.Item.epoch == item.epoch
                )
            )
            if gone.rowcount != 1:
                db.rollback()
                raise ConflictError(msg.ALREADY_CURRENT)
            db.add(resealed)
            db.commit()
        return resealed, item.blob_id

    def delete_contact(self, token: str | None, contact_id: str) -> None:
        """The contact and everything of theirs on the server (the desks
        keep what they synced), unfinished uploads included."""
        with self._db() as db:
            contact = self._contact(db, self._authenticate(db, token), contact_id)
            items = db.scalars(
                select(schema.Item).where(schema.Item.contact_id == contact_id)
            ).all()
            pieces = forget_uploads(db, schema.Upload.contact_id == contact_id)
            self._delete_items(db, items, also=[contact])
        release_blobs(self._db, self._blobs, pieces)

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
        """Delete the items the compartment received (from its contacts, or
        forwarded by another compartment) that every current handler's desk
        has synced and that are older than the retention period. Replies
        are the contact's to read or delete: not these."""
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
                schema.Item.direction.in_(_RECEIVED),
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
        """Rows first, in one transaction, then their ciphertext
        (``_unreferenced``)."""
        gone = {item.blob_id for item in items}
        for item in items:
            db.delete(item)
        db.flush()  # the items before what they refer to (a contact)
        for row in also:
            db.delete(row)
        db.commit()
        release_blobs(self._db, self._blobs, gone)

    def _insert(self, item: schema.Item) -> None:
        with self._db() as db:
            db.add(item)
            db.commit()


def forward_limit(limits: Limits) -> int:
    """The largest forward accepted: an item of up to ``max_body`` bytes, sealed.

    A forward carries one item the compartment received, a message or one
    file of a submission, so it is bounded like a submission (``max_body``),
    not like a reply (``max_reply``, 16 MiB, meant for text: most files
    would not pass). Sealing makes it larger than what it carries: PADMÉ
    padding (up to 12 %), age's tags and header. Bounded by ``max_body``
    itself, a file near the submission limit, which the server took from a
    contact, could not be forwarded.
    """
    padded = crypto.padme(limits.max_body + _SEAL_ROOM)
    return padded + _AGE_TAG * -(-padded // _AGE_CHUNK) + _SEAL_ROOM


async def age_file_body(
    request: Request,
    limit: int,
    *,
    too_large: str = msg.REPLY_TOO_LARGE,
    not_age: str = msg.NOT_AN_AGE_FILE,
) -> AsyncIterator[bytes]:
    """The body, refused unless it starts like a binary age file (``not_age``,
    400) and unless it fits in ``limit`` bytes (``too_large``, 413)."""
    head = b""
    async for chunk in body_chunks(request, limit, too_large):
        if len(head) >= len(AGE_MAGIC):
            yield chunk
            continue
        head += chunk
        if len(head) >= len(AGE_MAGIC):
            if not head.startswith(AGE_MAGIC):
                raise BadRequestError(not_age)
            yield head
    if len(head) < len(AGE_MAGIC):
        raise BadRequestError(not_age)
