"""The member keys recorded at vetting, as this desk last read them.

A member's reports are checked against the signing key a handler recorded
in the member's lifecycle (:mod:`._lifecycle`, ``member_key``). Those
records live on the server, sealed to the compartment, and each is opened
and checked when the desk reads it (:mod:`._vetting`); what it found is
kept here so that judging needs no connection (``shoal desk list`` is
offline) and an alarm, which the server files under no contact, can be
matched against every member's key.

Which contacts became members is itself a secret, so the file
(``DIR/members.age``) is an age file sealed to this desk's own recipients,
like the vault. It only ever learns: a key is replaced by the newer one a
lifecycle record holds, never removed (records only grow, and a rollback
is refused before this module hears of it).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .. import crypto, trusted
from . import _lifecycle as lifecycle
from ._state import Layout, check_id
from .errors import NotReadyError

#: One writer at a time within a process: the UI's sync thread and a move
#: both learn keys, and a read-modify-write race would lose one.
_WRITING = threading.Lock()


def load(layout: Layout, identities: Sequence[crypto.Identity]) -> dict[str, crypto.VerifyKey]:
    """Contact → the member key recorded at vetting; empty if none is known."""
    return {c: _verify_key(k) for c, k in _texts(layout, identities).items()}


def remember(layout: Layout, keystore: crypto.Keystore, contact_id: str, key: str | None) -> bool:
    """Keep ``key`` as the recorded key of ``contact_id``; whether it is new."""
    if key is None:
        return False
    identities = list(keystore.identities)
    with _WRITING:
        known = _texts(layout, identities)
        if known.get(contact_id) == key:
            return False
        known[contact_id] = key
        recipients = [identity.recipient() for identity in identities]
        content = json.dumps({"members": known}, sort_keys=True).encode()
        trusted.make_private_dir(layout.root)
        trusted.write_atomic(layout.members, crypto.encrypt(content, recipients))
    return True


def _texts(layout: Layout, identities: Sequence[crypto.Identity]) -> dict[str, str]:
    try:
        sealed = layout.members.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        value: Any = json.loads(crypto.decrypt(sealed, identities))
        members = value["members"]
        if not isinstance(members, Mapping):
            raise TypeError
        found = {check_id(c, "contact"): lifecycle.member_key(k) for c, k in members.items()}
    except (crypto.CryptoError, ValueError, KeyError, TypeError, lifecycle.TransitionError):
        # Never silently empty: an unreadable file would turn every signed
        # report into "not yet recorded", and every alarm into a forgery.
        raise NotReadyError(f"{layout.members} is damaged or not sealed to this desk") from None
    return found


def _verify_key(text: str) -> crypto.VerifyKey:
    # Checked by lifecycle.member_key when read: base64 of a valid key.
    return crypto.VerifyKey(base64.b64decode(text))
