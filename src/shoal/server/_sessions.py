"""Contacts' sessions: a record in the database, encrypted under a key that
only the contact's cookie holds (DESIGN.md, "Contacts' sessions").

    cookie / bearer:  <session id>.<base64url 32-byte key>
    sessions row:     id, day, record = nonce || ChaCha20-Poly1305(key,
                      {"contact", "identity", "practiced", "expires"},
                      aad = id)

A seized database shows random ids and ciphertext; a stolen cookie without
the database shows a random id and a random key: neither alone names the
contact. The record holds the contact's age identity (derived from the
codename at login) because replies are encrypted to it and must be
decrypted for display; the codename itself is never kept.

Any server process can open any session: there is nothing in memory. The
AEAD is pyca's directly: this is the server's own record format, not an
age file, and the session id as associated data stops a record from being
moved to another row.

A session ends after :data:`IDLE` without a request: a request that opens
it moves its end forward (a new record under the same key), so no clock
time leaves the ciphertext. Not every request: a session renewed less than
:data:`RENEWED` ago is left as it is, so that a contact sending a message
and its files, or a page and its next, costs reads, not a write each (one
write per request was a third of a submission's cost, ``bench/intake.py``);
the idle time is then between ``IDLE - RENEWED`` and ``IDLE``.
``practiced`` says the contact has typed their codename back once (a new
contact must, before anything else).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import delete
from sqlalchemy.orm import Session

from .. import crypto, org
from ..store import schema
from . import _messages as msg
from ._clock import Clock, day_of
from .errors import UnauthorizedError

COOKIE_NAME = "shoal_session"
#: Long enough to write a long message over a slow Tor circuit; the page
#: that holds the form says how long.
IDLE = timedelta(minutes=60)
IDLE_MINUTES = int(IDLE.total_seconds()) // 60
#: How recent a renewal makes another one unneeded.
RENEWED = timedelta(minutes=1)
_KEY_SIZE = 32
_NONCE_SIZE = 12
_TOKEN = re.compile(r"\A([0-9a-f]{32})\.([A-Za-z0-9_-]{43})\Z")


@dataclass(frozen=True, repr=False)
class ContactSession:
    """An opened session: whose it is and the identity that reads replies."""

    contact_id: str
    identity_text: str
    practiced: bool
    #: When it ends unless renewed (as sealed in the record when opened).
    expires: datetime

    def renewal_due(self, now: datetime) -> bool:
        """Whether a request at ``now`` should move its end (see :data:`RENEWED`)."""
        return self.expires - now < IDLE - RENEWED

    @functools.cached_property
    def identity(self) -> crypto.AgeIdentity:
        # Parsed when a page needs it (replies), not for every request: a
        # post-quantum identity's parsing was a tenth of a submission's CPU.
        return crypto.parse_identity(self.identity_text)

    def __repr__(self) -> str:
        return "ContactSession(…)"


def _encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def _parse_token(token: str) -> tuple[str, bytes] | None:
    match = _TOKEN.match(token)
    if match is None:
        return None
    try:
        key = base64.urlsafe_b64decode(match.group(2) + "=")
    except binascii.Error:
        return None
    # Canonical form only: spare bits in the last character would make
    # several cookies open one session.
    if _encode_key(key) != match.group(2):
        return None
    return match.group(1), key


class ContactSessions:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def create(
        self, db: Session, contact_id: str, identity: crypto.AgeIdentity, *, practiced: bool
    ) -> str:
        """Store a new session for the contact; returns the cookie value."""
        now = self._clock()
        # A session idle for an hour is dead, so a row two days old surely
        # is: sweeping here bounds the table without a background task.
        yesterday = day_of(now - timedelta(days=1))
        db.execute(delete(schema.Session).where(schema.Session.day < yesterday))
        session_id = org.new_id()
        key = os.urandom(_KEY_SIZE)
        row = schema.Session(id=session_id, day=day_of(now))
        session = ContactSession(contact_id, identity.secret_string(), practiced, now + IDLE)
        self._seal(row, key, session)
        db.add(row)
        return f"{session_id}.{_encode_key(key)}"

    def open(self, db: Session, token: str | None) -> ContactSession:
        """The session ``token`` opens, or :class:`UnauthorizedError`; its
        idle time starts again (committed) unless it did less than
        :data:`RENEWED` ago.

        An expired session's row is deleted (and committed) on the way out.
        """
        loaded = self._load(db, token)
        if loaded is None:
            raise UnauthorizedError(msg.NO_SESSION)
        row, key, opened, expires = loaded
        now = self._clock()
        if now >= expires:
            db.delete(row)
            db.commit()
            raise UnauthorizedError(msg.SESSION_IDLE)
        if opened.renewal_due(now):
            self._seal(row, key, opened)
            db.commit()
        return opened

    def renew(self, db: Session, token: str | None, *, practiced: bool = False) -> None:
        """Restart the idle time of a session that was open when a request
        began, even if that request outlasted it (a long upload must not log
        its sender out midway); ``practiced`` can only be turned on."""
        loaded = self._load(db, token)
        if loaded is None:
            return
        row, key, opened, _ = loaded
        if not opened.renewal_due(self._clock()) and opened.practiced >= practiced:
            return
        self._seal(row, key, dataclasses.replace(opened, practiced=opened.practiced or practiced))

    def end(self, db: Session, token: str | None) -> None:
        """Delete the session ``token`` opens; a dead one is already ended."""
        loaded = self._load(db, token)
        if loaded is not None:
            db.delete(loaded[0])

    def _seal(self, row: schema.Session, key: bytes, session: ContactSession) -> None:
        plain = json.dumps(
            {
                "contact": session.contact_id,
                "identity": session.identity_text,
                "practiced": session.practiced,
                "expires": (self._clock() + IDLE).isoformat(),
            }
        ).encode()
        nonce = os.urandom(_NONCE_SIZE)
        row.record = nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, row.id.encode())
        row.day = day_of(self._clock())

    def _load(
        self, db: Session, token: str | None
    ) -> tuple[schema.Session, bytes, ContactSession, datetime] | None:
        parsed = _parse_token(token) if token else None
        row = db.get(schema.Session, parsed[0]) if parsed else None
        if parsed is None or row is None:
            return None
        session_id, key = parsed
        record = row.record
        try:
            plain = ChaCha20Poly1305(key).decrypt(
                record[:_NONCE_SIZE], record[_NONCE_SIZE:], session_id.encode()
            )
            fields = json.loads(plain)
            expires = datetime.fromisoformat(fields["expires"])
            opened = ContactSession(
                fields["contact"], str(fields["identity"]), fields["practiced"] is True, expires
            )
        except (InvalidTag, ValueError, KeyError, TypeError):
            # A wrong key is someone guessing at a session: it opens nothing
            # and ends nothing.
            return None
        return row, key, opened, expires
