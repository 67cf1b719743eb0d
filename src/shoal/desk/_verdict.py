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

A member's items (kinds ``report``, ``report-file``, ``member-key`` and
``alarm``, written by ``shoal field``) are judged against the member keys
recorded at vetting (``members``: contact → key, see :mod:`._members`),
never against the handlers':

=========================================  ==========================================
what the envelope holds                    verdict
=========================================  ==========================================
no signature                               rejected: forged
a header "compartment" not ours, or an     rejected: forged (sealed for another
"epoch" this desk never accepted           compartment, or a future epoch)
report or file signed by the key recorded  signed by the member's key recorded at
for the thread's contact                   vetting
... signed, no key recorded for that       signed by a key not yet recorded at vetting:
contact yet                                vouched for by the server only
... signed by another key                  rejected: forged
member-key signed by the key it offers     an offer, to compare out of band and record
member-key signed by another key           rejected: forged
alarm signed by a member's recorded key    the duress signal, in that member's thread
alarm signed by no recorded member key     rejected: forged (the sync still warns)
=========================================  ==========================================

Keys recorded at vetting can arrive after the items they vouch for: a
verdict on a member's item depends on the recorded keys through
:func:`basis` only, and the desk judges again whatever it judged on
another basis than the current one.

A rejected item is never shown as what it claims to be. Pure.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import crypto, org
from ..trusted import Trust

#: Kinds the server seals for web contacts, who have no key to sign with.
SERVER_KINDS = frozenset({"message", "file", "application"})
#: Kinds a member's field client seals and signs (contracts: item envelopes).
REPORT, REPORT_FILE, MEMBER_KEY, ALARM = "report", "report-file", "member-key", "alarm"
MEMBER_KINDS = frozenset({REPORT, REPORT_FILE, MEMBER_KEY, ALARM})
#: What a member's duress alarm means for the handler, shown in their thread.
DURESS = (
    "DURESS SIGNAL: this member's device was opened under duress — "
    "treat the device and codename as compromised"
)
RECORDED = "signed by the member's key recorded at vetting"


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
    header: Mapping[str, Any],
    signer: crypto.VerifyKey | None,
    trust: Trust,
    *,
    contact: str | None,
    members: Mapping[str, crypto.VerifyKey],
) -> Verdict:
    """The verdict on an opened item; ``contact`` is the thread the server
    filed it under, ``members`` the keys recorded at vetting, by contact."""
    kind = header.get("kind")
    if kind in MEMBER_KINDS:
        return _judge_member(str(kind), header, signer, trust, contact=contact, members=members)
    return _judge_handlers(header, signer, trust, contact)


def _judge_handlers(
    header: Mapping[str, Any], signer: crypto.VerifyKey | None, trust: Trust, contact: str | None
) -> Verdict:
    """The verdict on a web contact's item or a handler's."""
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
    return shown_kind(kind, "item")


def shown_kind(kind: object, default: str) -> str:
    """``kind`` if it is a name safe to show (an identifier, hyphens allowed:
    "report-file"), else ``default``: the header is the sender's to write."""
    if isinstance(kind, str) and kind.replace("-", "_").isidentifier():
        return kind
    return default


def key_text(key: crypto.VerifyKey) -> str:
    """A member's key as the field client shows it and vetting records it."""
    return base64.b64encode(key.public_bytes).decode()


def owner(signer: crypto.VerifyKey | None, members: Mapping[str, crypto.VerifyKey]) -> str | None:
    """The contact whose recorded member key is ``signer``, if any."""
    if signer is None:
        return None
    # Sorted: if two contacts were recorded with one key (a mistake at
    # vetting), the answer is still the same on every desk.
    return next((c for c, key in sorted(members.items()) if key == signer), None)


def thread(
    header: Mapping[str, Any],
    signer: crypto.VerifyKey | None,
    members: Mapping[str, crypto.VerifyKey],
    *,
    contact: str | None,
) -> str | None:
    """The thread an item belongs in: where the server filed it, except an
    alarm, which the server files under no contact (it must not learn whose
    device was seized): it goes to the member whose recorded key signed it."""
    if header.get("kind") == ALARM and contact is None:
        return owner(signer, members)
    return contact


def basis(
    kind: str,
    signer: crypto.VerifyKey | None,
    members: Mapping[str, crypto.VerifyKey],
    *,
    contact: str | None,
) -> str:
    """What of ``members`` the verdict on a member's item depends on: the
    key recorded for its contact, or, for an alarm, whose key signed it.
    Equal bases, equal verdicts; "" for other kinds, which never depend on it."""
    if kind == ALARM:
        return owner(signer, members) or ""
    if kind in MEMBER_KINDS and contact is not None and contact in members:
        return key_text(members[contact])
    return ""


def _judge_member(
    kind: str,
    header: Mapping[str, Any],
    signer: crypto.VerifyKey | None,
    trust: Trust,
    *,
    contact: str | None,
    members: Mapping[str, crypto.VerifyKey],
) -> Verdict:
    refused = _unsound(kind, header, signer, trust)
    if refused is not None or signer is None:
        return refused or BAD_SIGNATURE
    if kind == ALARM:
        return _judge_alarm(owner(signer, members), contact)
    if contact is None:
        return _rejected(f"a member's {kind} filed under no contact")
    recorded = members.get(contact)
    if kind == MEMBER_KEY:
        return _judge_offer(header.get("key"), signer, recorded)
    return _judge_report(signer, recorded)


def _unsound(
    kind: str, header: Mapping[str, Any], signer: crypto.VerifyKey | None, trust: Trust
) -> Verdict | None:
    """Why a member's item is rejected whoever signed it, if it is."""
    if signer is None:
        return _rejected(f"a member's {kind} without a signature")
    if header.get("compartment") != trust.compartment_id:
        return _rejected(f"a member's {kind} sealed for another compartment")
    epoch = header.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        return _rejected(f"a member's {kind} that names no epoch")
    # The member's device seals to the newest epoch it verified; a higher
    # number than this desk accepted is no epoch command signed, as far as
    # the desk knows.
    if epoch > trust.current.number:
        return _rejected(f"a member's {kind} sealed to epoch {epoch}, never accepted here")
    return None


def _judge_report(signer: crypto.VerifyKey, recorded: crypto.VerifyKey | None) -> Verdict:
    if recorded is None:
        return Verdict(
            Standing.SERVER_ONLY,
            "signed by a key not yet recorded at vetting: vouched for by the server only",
        )
    if recorded != signer:
        return _rejected("signed by another key than the member's recorded at vetting")
    return Verdict(Standing.SIGNED, RECORDED)


def _judge_alarm(found: str | None, contact: str | None) -> Verdict:
    """``found``: whose recorded key signed the alarm; ``contact``: where
    the server filed it (nowhere, by the route alarms take)."""
    if found is None:
        return _rejected("an alarm signed by no member key recorded at vetting")
    if contact not in (None, found):
        return _rejected("an alarm filed under another member than the one who signed it")
    return Verdict(Standing.SIGNED, f"{DURESS} ({RECORDED})")


def _judge_offer(
    offered: object, signer: crypto.VerifyKey, recorded: crypto.VerifyKey | None
) -> Verdict:
    if not _offers(offered, signer):
        return _rejected("a signing key offered under another key's signature")
    if recorded == signer:
        return Verdict(Standing.SIGNED, f"signing key {key_text(signer)}, recorded at vetting")
    return Verdict(
        Standing.SERVER_ONLY,
        f"offers signing key {key_text(signer)} — compare it with the member out of band, "
        "then record it at vetting",
    )


def _offers(value: object, signer: crypto.VerifyKey) -> bool:
    """Whether the header's "key" is ``signer`` itself (a self-signed offer)."""
    if not isinstance(value, str):
        return False
    try:
        return base64.b64decode(value, validate=True) == signer.public_bytes
    except (binascii.Error, ValueError):
        return False


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
