"""Contacts' sessions: a record in the database, encrypted under a key that
only the contact's cookie holds (DESIGN.md, "Contacts' sessions").

    cookie / bearer:  <session id>.<base64url 32-byte key>
    sessions row:     id, day, record = nonce || ChaCha20-Poly1305(key,
                      {"contact", "identity", "expires"}, aad = id)

A seized database shows random ids and ciphertext; a stolen cookie without
the database shows a random id and a random key: neither alone names the
contact. The record holds the contact's age identity (derived from the
codename at login) because replies are encrypted to it and must be
decrypted for display; the codename itself is never kept.

Any server process can open any session: there is nothing in memory. The
AEAD is pyca's directly: this is the server's own record format, not an
age file, and the session id as associated data stops a record from being
moved to another row.
"""

from __future__ import annotations

import base64
import binascii
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
LIFETIME = timedelta(hours=2)
_KEY_SIZE = 32
_NONCE_SIZE = 12
_TOKEN = re.compile(r"\A([0-9a-f]{32})\.([A-Za-z0-9_-]{43})\Z")


@dataclass(frozen=True, repr=False)
class ContactSession:
    """An opened session: whose it is and the identity that reads replies."""

    contact_id: str
    identity: crypto.AgeIdentity

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

    def create(self, db: Session, contact_id: str, identity: crypto.AgeIdentity) -> str:
        """Store a new session for the contact; returns the cookie value."""
        now = self._clock()
        # Sessions live two hours, so a row two days old is surely dead:
        # sweeping here bounds the table without a background task.
        yesterday = day_of(now - timedelta(days=1))
        db.execute(delete(schema.Session).where(schema.Session.day < yesterday))
        session_id = org.new_id()
        key = os.urandom(_KEY_SIZE)
        plain = json.dumps(
            {
                "contact": contact_id,
                "identity": identity.secret_string(),
                "expires": (now + LIFETIME).isoformat(),
            }
        ).encode()
        nonce = os.urandom(_NONCE_SIZE)
        record = nonce + ChaCha20Poly1305(key).encrypt(nonce, plain, session_id.encode())
        db.add(schema.Session(id=session_id, record=record, day=day_of(now)))
        return f"{session_id}.{_encode_key(key)}"

    def open(self, db: Session, token: str | None) -> ContactSession:
        """The session ``token`` opens, or :class:`UnauthorizedError`.

        An expired session's row is deleted (and committed) on the way out.
        """
        loaded = self._load(db, token)
        if loaded is None:
            raise UnauthorizedError(msg.NO_SESSION)
        row, opened, expires = loaded
        if self._clock() >= expires:
            db.delete(row)
            db.commit()
            raise UnauthorizedError(msg.NO_SESSION)
        return opened

    def end(self, db: Session, token: str | None) -> None:
        """Delete the session ``token`` opens; a dead one is already ended."""
        loaded = self._load(db, token)
        if loaded is not None:
            db.delete(loaded[0])

    def _load(
        self, db: Session, token: str | None
    ) -> tuple[schema.Session, ContactSession, datetime] | None:
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
            opened = ContactSession(fields["contact"], crypto.parse_identity(fields["identity"]))
        except (InvalidTag, ValueError, KeyError, TypeError, crypto.KeyFormatError):
            # A wrong key is someone guessing at a session: it opens nothing
            # and ends nothing.
            return None
        return row, opened, expires
