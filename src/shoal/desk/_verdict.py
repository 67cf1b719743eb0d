"""Who wrote an item, as far as the desk can tell.

age proves nothing about authorship and a seized server knows every
recipient, so it can write items that decrypt perfectly. What counts is
the signature inside (DESIGN.md, "Authorship is signed inside the
encryption"), checked against the accepted epochs:

=========================================  ==========================================
what the envelope holds                    verdict
=========================================  ==========================================
no signature, kind message, file or        vouched for by the server only (web contact)
application (an offer of services)
no signature, any other kind (a reply)     rejected: forged
signed by a handler of the current epoch   signed by that handler
signed by a handler of an earlier epoch    signed by a former handler (say so)
signed by any other key                    rejected: forged
a reply whose signed header names another  rejected: forged (a real signature
handler, compartment or contact            moved to another thread)
a signature that does not verify           rejected: forged (see :data:`BAD_SIGNATURE`)
=========================================  ==========================================

A forward (another compartment's handler passing a report on, kind
``forward``) is judged against the other compartments' current epochs
(:func:`judge_forward`): signed by a handler of the compartment it names,
addressed to ours — or rejected.

A rejected item is never shown as what it claims to be. Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import crypto, org
from ._trust import Trust

#: Kinds the server seals for web contacts, who have no key to sign with.
SERVER_KINDS = frozenset({"message", "file", "application"})


class Standing(enum.Enum):
    SIGNED = "signed"
    FORMER = "former"
    SERVER_ONLY = "server-only"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Verdict:
    standing: Standing
    text: str

    @property
    def acceptable(self) -> bool:
        return self.standing is not Standing.REJECTED


BAD_SIGNATURE = Verdict(Standing.REJECTED, "FORGED: its signature does not verify — rejected")


def _rejected(why: str) -> Verdict:
    return Verdict(Standing.REJECTED, f"FORGED: {why} — rejected")


def judge(
    header: Mapping[str, Any], signer: crypto.VerifyKey | None, trust: Trust, *, contact: str | None
) -> Verdict:
    """The verdict on an opened item; ``contact`` is the thread the server filed it under."""
    kind = header.get("kind")
    if signer is None:
        if kind in SERVER_KINDS:
            return Verdict(Standing.SERVER_ONLY, "vouched for by the server only")
        return _rejected(f"a {_kind(kind)} without a handler's signature")
    found = trust.signer(signer)
    if found is None:
        return _rejected("signed by a key that is no handler of this compartment")
    entry, number = found
    if kind == "reply":
        claims = {
            "handler": entry.handler_id,
            "compartment": trust.compartment_id,
            "contact": contact,
        }
        for field, expected in claims.items():
            if header.get(field) != expected:
                return _rejected(f"the signed reply names another {field}")
    if number == trust.current.number:
        return Verdict(Standing.SIGNED, f"signed by handler {entry.handler_id}")
    return Verdict(
        Standing.FORMER,
        f"signed by former handler {entry.handler_id} (epoch {number}, not the current one)",
    )


def _kind(kind: object) -> str:
    return kind if isinstance(kind, str) and kind.isidentifier() else "item"


def judge_forward(
    header: Mapping[str, Any],
    signer: crypto.VerifyKey | None,
    sender: org.Epoch | None,
    *,
    compartment: str,
) -> Verdict:
    """The verdict on a forward that reached ``compartment``; ``sender`` is
    the verified current epoch of the door it says it came from."""
    if header.get("kind") != "forward" or header.get("to") != compartment:
        return _rejected("a forward addressed to another compartment")
    if signer is None:
        return _rejected("a forward without a handler's signature")
    if sender is None or sender.compartment_id != header.get("from"):
        return _rejected("a forward from a door the organization's notes do not vouch for")
    entry = sender.handler(signer)
    if entry is None:
        return _rejected("a forward signed by no current handler of the compartment it names")
    return Verdict(
        Standing.SIGNED, f"forwarded by handler {entry.handler_id} of door {sender.door}"
    )
