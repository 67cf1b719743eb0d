"""A contact's lifecycle, as a table, and the signed record that carries it.

DESIGN.md ("Contacts: lifecycle and cutting ties")::

    new → in contact → vetting → active member → suspended → cut

Every transition has a reason, is made and signed on a desk, and is stored
on the server only as ciphertext for the compartment (``contacts.state``):
"which contacts became members" is itself a secret. The record is an item
envelope of kind "state", signed by the handler, whose content is the
whole history (each step: state, reason, time, handler), so any desk of
the compartment can show how a contact got where they are.

The server could hand a desk an older record (to undo a suspension, say):
each record carries a sequence number, desks remember the highest they
have seen per contact, and refuse a lower one (:func:`open_record`).

Pure: keys, time and the current record come in; records go out.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import crypto, org
from .errors import ItemError

KIND = "state"
MAX_REASON = 2000


class State(enum.Enum):
    NEW = "new"
    IN_CONTACT = "in-contact"
    VETTING = "vetting"
    MEMBER = "member"
    SUSPENDED = "suspended"
    CUT = "cut"


#: Every allowed transition; anything else is refused. Cut is final: ties
#: once cut are not re-tied by a state change (a new codename would be a
#: new contact). Vetting can fail back to "in contact"; a suspension ends
#: back where trust allows, never straight to "new".
TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.NEW: frozenset({State.IN_CONTACT, State.SUSPENDED, State.CUT}),
    State.IN_CONTACT: frozenset({State.VETTING, State.SUSPENDED, State.CUT}),
    State.VETTING: frozenset({State.MEMBER, State.IN_CONTACT, State.SUSPENDED, State.CUT}),
    State.MEMBER: frozenset({State.SUSPENDED, State.CUT}),
    State.SUSPENDED: frozenset({State.IN_CONTACT, State.MEMBER, State.CUT}),
    State.CUT: frozenset(),
}


class TransitionError(ItemError):
    """A transition the table does not allow, or without a reason."""


@dataclass(frozen=True)
class Step:
    state: State
    reason: str
    time: str
    handler: str
    #: The member's public signing key (base64 Ed25519, as the field client
    #: shows it), recorded at vetting: what member reports are checked against.
    member_key: str | None = None

    def to_json(self) -> dict[str, str]:
        value = {
            "state": self.state.value,
            "reason": self.reason,
            "time": self.time,
            "handler": self.handler,
        }
        if self.member_key is not None:
            value["member_key"] = self.member_key
        return value


@dataclass(frozen=True)
class Record:
    """A contact's lifecycle: every step so far, newest last."""

    contact: str
    compartment: str
    steps: tuple[Step, ...]

    @property
    def state(self) -> State:
        return self.steps[-1].state if self.steps else State.NEW

    @property
    def seq(self) -> int:
        return len(self.steps)

    @property
    def member_key(self) -> str | None:
        """The member's signing key recorded at the newest step that recorded one."""
        return next((s.member_key for s in reversed(self.steps) if s.member_key), None)

    def content(self) -> bytes:
        return json.dumps(
            {
                "contact": self.contact,
                "compartment": self.compartment,
                "steps": [s.to_json() for s in self.steps],
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()


def initial(contact: str, compartment: str) -> Record:
    """Where every contact starts: "new", with no step recorded."""
    return Record(contact, compartment, ())


#: Steps at which a member's signing key may be recorded.
KEY_STATES = frozenset({State.VETTING, State.MEMBER})


def member_key(text: str) -> str:
    """``text`` as a member's public signing key (base64 of 32 bytes), or
    :class:`TransitionError`."""
    text = text.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise TransitionError(
            "a member's signing key is the base64 Ed25519 key their field client shows"
        )
    crypto.VerifyKey(raw)
    return text


def move(
    record: Record,
    to: State,
    reason: str,
    *,
    handler: str,
    now: datetime,
    key: str | None = None,
) -> Record:
    """``record`` after the transition to ``to``, or :class:`TransitionError`.

    ``key``: a member's signing key to record, at vetting or membership only.
    """
    if key is not None:
        if to not in KEY_STATES:
            raise TransitionError("a member's signing key is recorded at vetting or membership")
        key = member_key(key)
    reason = reason.strip()
    if not reason:
        raise TransitionError("a transition needs a reason")
    if len(reason) > MAX_REASON:
        raise TransitionError(f"a reason is at most {MAX_REASON} characters")
    if to not in TRANSITIONS[record.state]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[record.state])) or "none"
        raise TransitionError(
            f"a contact cannot go from {record.state.value!r} to {to.value!r} "
            f"(from {record.state.value!r}: {allowed})"
        )
    step = Step(to, reason, now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), handler, key)
    return Record(record.contact, record.compartment, (*record.steps, step))


def seal_record(record: Record, epoch: org.Epoch, key: crypto.SigningKey) -> bytes:
    """The record as the server stores it: sealed to the compartment's
    current recipients only (never to the contact), signed by the handler."""
    header = {
        "kind": KIND,
        "contact": record.contact,
        "compartment": record.compartment,
        "seq": record.seq,
        "handler": org.handler_id_for(key.verify_key),
    }
    return crypto.encrypt_item(epoch.recipients(), header, record.content(), signer=key)


def open_record(
    sealed: bytes,
    identities: list[crypto.Identity],
    signers: Mapping[crypto.VerifyKey, str],
    *,
    contact: str,
    compartment: str,
    newest_seen: int,
) -> Record:
    """The record in ``sealed``, checked: signed by one of ``signers`` (the
    compartment's handlers, past or present), about this contact and
    compartment, and not older than the newest the desk has seen."""
    try:
        envelope, content = crypto.decrypt_item(sealed, identities)
    except crypto.CryptoError:
        raise ItemError(f"the state of contact {contact} cannot be opened") from None
    header = envelope.header
    if envelope.signer is None or envelope.signer not in signers:
        raise ItemError(f"the state of contact {contact} is not signed by a handler: forged")
    if (header.get("kind"), header.get("contact"), header.get("compartment")) != (
        KIND,
        contact,
        compartment,
    ):
        raise ItemError(f"the state of contact {contact} names another contact: forged")
    record = _parse(content, contact, compartment)
    if header.get("seq") != record.seq:
        raise ItemError(f"the state of contact {contact} is malformed")
    if record.seq < newest_seen:
        raise ItemError(
            f"the server shows an older state of contact {contact} (step {record.seq}, "
            f"this desk has seen step {newest_seen}): refused, a rollback"
        )
    return record


def _parse(content: bytes, contact: str, compartment: str) -> Record:
    try:
        value: Any = json.loads(content)
        if value["contact"] != contact or value["compartment"] != compartment:
            raise ValueError
        steps = tuple(
            Step(
                State(s["state"]),
                _text(s["reason"]),
                _text(s["time"]),
                _text(s["handler"]),
                None if s.get("member_key") is None else member_key(_text(s["member_key"])),
            )
            for s in value["steps"]
        )
    except (ValueError, KeyError, TypeError, AttributeError, TransitionError):
        raise ItemError(f"the state of contact {contact} is malformed") from None
    # Replayed through the table: a record of impossible steps is refused.
    replayed = initial(contact, compartment)
    for step in steps:
        if step.state not in TRANSITIONS[replayed.state] or not step.reason.strip():
            raise ItemError(f"the state of contact {contact} holds an impossible step")
        replayed = Record(contact, compartment, (*replayed.steps, step))
    return replayed


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value
