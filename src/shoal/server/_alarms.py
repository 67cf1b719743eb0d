"""A member's silent alarm: stored ahead of time, released by a token.

A member who turns on the duress passphrase has, while still safe, sealed
and signed an "I am compromised" item on the device and stored it here as
a *pending* alarm; the server answers with a random token. On duress the
device sends only that token: a tiny request that needs no session and no
key (the duress path destroys those), and the alarm becomes an item of the
compartment, for its desks to sync.

What the server keeps is chosen so that a seized disk shows no member:

- ``alarms`` holds the token's SHA-256, the compartment, the blob and its
  size, the epoch and a day, and no contact id: which contacts are members
  is itself a secret. The desk finds the member by the signing key inside
  the item, which it recorded at vetting.
- A pending alarm is no item: handlers cannot list or fetch it, so it
  tells them nothing until it is released.
- Releasing answers 204 whatever the token (unknown, malformed, spent), so
  a probe learns nothing, and a released item has no contact either.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import org
from ..store import BlobRef, BlobStore, StorageFullError, schema
from . import _messages as msg
from ._clock import Clock, day_of
from ._config import Limits
from ._contacts import ContactService
from ._doors import Door
from ._handlers import age_file_body
from .errors import DiskFullError

#: Longer tokens are no token of ours: not even hashed.
MAX_TOKEN = 64


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AlarmService:
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

    async def store(self, door: str, token: str | None, request: Request) -> str:
        """Keep the body (an age file) as a pending alarm; returns its token.

        The session is checked before the body is read; then nothing of it
        is kept with the alarm: only the door's compartment and epoch.
        """
        opened = await run_in_threadpool(self._door_of_session, door, token)
        body = age_file_body(
            request,
            self._limits.max_small_body,
            too_large=msg.REQUEST_TOO_LARGE,
            not_age=msg.NOT_AGE,
        )
        try:
            ref = await self._blobs.put_async(body)
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        release = secrets.token_urlsafe(32)
        try:
            await run_in_threadpool(self._insert, opened, ref, release)
        except BaseException:
            self._blobs.discard(ref)
            raise
        return release

    def release(self, token: str) -> None:
        """File the alarm ``token`` names as an item, once; anything else
        does nothing (and the caller answers the same)."""
        if len(token) > MAX_TOKEN:
            return
        token_hash = _token_hash(token)
        with self._db() as db:
            alarm = db.get(schema.Alarm, token_hash)
            if alarm is None:
                return
            # Taken before the item is added: of two releases at once (on
            # two server processes), one deletes the row and files the item.
            taken = db.connection().execute(
                delete(schema.Alarm).where(schema.Alarm.token_hash == token_hash)
            )
            if taken.rowcount != 1:
                db.rollback()
                return
            db.add(
                schema.Item(
                    id=org.new_id(),
                    compartment_id=alarm.compartment_id,
                    contact_id=None,
                    direction="in",
                    blob_id=alarm.blob_id,
                    size=alarm.size,
                    epoch=alarm.epoch,
                    day=day_of(self._clock()),
                )
            )
            db.commit()

    def _door_of_session(self, door: str, token: str | None) -> Door:
        with self._db() as db:
            return self._contacts.authenticate(db, door, token)[0]

    def _insert(self, opened: Door, ref: BlobRef, release: str) -> None:
        with self._db() as db:
            db.add(
                schema.Alarm(
                    token_hash=_token_hash(release),
                    compartment_id=opened.compartment_id,
                    blob_id=ref.blob_id,
                    size=ref.size,
                    epoch=opened.epoch.number,
                    day=day_of(self._clock()),
                )
            )
            db.commit()
