"""The audit log, from a desk: the entries it appends, and its checks of the log.

DESIGN.md, "The audit log". The server keeps one Merkle-tree log for the
organization (:mod:`shoal.org._tlog`) and signs its head. Each entry is an
age file that a desk sealed to its compartment's current recipients and to
command's reading recipient (whatever the compartment's reading policy),
signed inside the encryption by the handler who acted. An entry
records an action and its reason — a lifecycle move (cutting ties is one),
the deletion of an item or of a contact — never what anyone wrote.

What a desk checks, at the end of every sync (:func:`check_log`) and after
each entry it appends (:func:`record`):

1. The log's key. No note of command's certifies it: the desk pins the key
   it is shown first (*trust on first use*) and raises an alarm, saving
   nothing, if the server later shows another. A server seized before a
   desk's first sync can therefore give that desk a log of its own; the
   checkpoints desks embed in their entries (3.) are what exposes it.
2. The log only grows: the checkpoint the desk remembers must be extended
   by the one now shown, with a consistency proof (:func:`tlog.advance`). A
   smaller tree is a rollback, a failing proof a rewritten history. The new
   checkpoint is saved before anything it covers is looked at; after an
   alarm nothing is saved, so the alarm comes back on every sync.
3. The compartment's new entries, each opened and checked: sealed to this
   desk, signed by a handler of an epoch the desk accepted, of kind
   "audit", naming this compartment and its signer, well formed. Each
   carries the checkpoint its desk had last verified ("each desk sends its
   latest checkpoint with its uploads"); the desk checks, with a proof from
   the server, that it and its own head are of one history. When they are
   not, the server shows that handler another history: a split view.

Only entries under the verified head are checked; later ones wait for the
next sync. Whatever the server or an entry does becomes an alarm string
(starting with "ALARM: audit log"), never an exception; only an
unreachable server and a damaged ``audit.json`` end the check with an error.

Each entry a desk downloads comes with its inclusion proof in the head it
verified: the bytes shown are the leaf the signed tree holds at that index
(a server cannot show a signed entry at another place than it logged it).

State: ``DIR/audit.json`` (:func:`state_path`; the desk's
:class:`~._state.Layout` has no property for it), written with
:func:`shoal.trusted.write_json`::

    {"key": <the pinned log key>, "checkpoint": <signed note> | null,
     "seen": <the highest entry index checked, -1 for none>}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from .. import crypto, org, trusted
from ..org import _tlog as tlog
from ..trusted import Trust
from . import _lifecycle as lifecycle
from ._api import MAX_AUDIT_ENTRY, HandlerAPI
from ._state import Layout, check_id
from .errors import ItemError, NotReadyError, ServerError

KIND = "audit"
MOVE, DELETE_ITEM, DELETE_CONTACT = "move", "delete-item", "delete-contact"
ACTIONS = frozenset({MOVE, DELETE_ITEM, DELETE_CONTACT})
_HEADER = frozenset({"kind", "compartment", "handler"})
_FIELDS = frozenset({"action", "contact", "item", "from", "to", "reason", "time", "checkpoint"})
#: An embedded checkpoint is an origin, a size, a root and a few signatures.
MAX_CHECKPOINT = 4096
_TIME = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
ALARM = "ALARM: audit log"


class AuditEntryError(ItemError):
    """An audit entry not to be believed: not sealed to this desk, not
    signed by a handler of the compartment, of another compartment, or
    malformed. Messages read after "entry N"."""


def log_origin(org_id: str) -> str:
    """The log's name: its checkpoints' origin and its note key's name."""
    return f"shoal/{org_id}/audit"


def state_path(layout: Layout) -> Path:
    return layout.root / "audit.json"


# --- entries (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """What a handler did, and why: never what anyone wrote."""

    action: str
    contact: str | None
    item: str | None
    from_: str | None
    to: str | None
    reason: str

    def __post_init__(self) -> None:
        # Raises ValueError (or TypeError, for JSON of the wrong type).
        if self.action not in ACTIONS:
            raise ValueError("unknown action")
        for value, what in ((self.contact, "contact"), (self.item, "item")):
            if value is not None:
                check_id(value, what)
        if not isinstance(self.reason, str) or len(self.reason) > lifecycle.MAX_REASON:
            raise ValueError("malformed reason")
        if self.action == MOVE:
            if self.contact is None or self.item is not None or not self.reason.strip():
                raise ValueError("a move names a contact and has a reason")
            if not isinstance(self.from_, str) or not isinstance(self.to, str):
                raise ValueError("a move has two states")
            if lifecycle.State(self.to) not in lifecycle.TRANSITIONS[lifecycle.State(self.from_)]:
                raise ValueError("a move the lifecycle does not allow")
            return
        if self.from_ is not None or self.to is not None:
            raise ValueError("only a move has states")
        if self.action == DELETE_ITEM and self.item is None:
            raise ValueError("a deletion of an item names it")
        if self.action == DELETE_CONTACT and (self.contact is None or self.item is not None):
            raise ValueError("a deletion of a contact names the contact only")

    @classmethod
    def move(cls, contact: str, from_: lifecycle.State, to: lifecycle.State, reason: str) -> Action:
        return cls(MOVE, contact, None, from_.value, to.value, reason)

    @classmethod
    def delete_item(cls, item: str, reason: str) -> Action:
        return cls(DELETE_ITEM, None, item, None, None, reason)

    @classmethod
    def delete_contact(cls, contact: str, reason: str) -> Action:
        return cls(DELETE_CONTACT, contact, None, None, None, reason)


@dataclass(frozen=True)
class Entry:
    """An entry opened and checked; ``handler`` is its signer's id."""

    handler: str
    action: Action
    time: str
    checkpoint: str | None


def entry_header(trust: Trust, key: crypto.SigningKey) -> dict[str, str]:
    return {
        "kind": KIND,
        "compartment": trust.compartment_id,
        "handler": org.handler_id_for(key.verify_key),
    }


def entry_content(action: Action, *, now: datetime, checkpoint: str | None) -> bytes:
    """Canonical JSON: sorted keys, compact, UTF-8."""
    value = {
        "action": action.action,
        "contact": action.contact,
        "item": action.item,
        "from": action.from_,
        "to": action.to,
        "reason": action.reason,
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "checkpoint": checkpoint,
    }
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal_entry(
    action: Action,
    *,
    trust: Trust,
    key: crypto.SigningKey,
    now: datetime,
    checkpoint: str | None,
) -> bytes:
    """The entry as the server stores it: sealed to the compartment's
    current recipients and to command's reading identity (DESIGN.md, "The
    audit log": even where command does not read the compartment's items),
    signed by the handler."""
    content = entry_content(action, now=now, checkpoint=checkpoint)
    recipients = list(trust.current.recipients())
    if trust.command_reading is not None and trust.command_reading not in recipients:
        recipients.append(trust.command_reading)
    sealed = crypto.encrypt_item(recipients, entry_header(trust, key), content, signer=key)
    if len(sealed) > MAX_AUDIT_ENTRY:
        raise AuditEntryError("would be larger than the server accepts")
    return sealed


def open_entry(sealed: bytes, identities: Sequence[crypto.Identity], trust: Trust) -> Entry:
    """Decrypt and check an entry of this desk's compartment, or raise
    :class:`AuditEntryError`."""
    try:
        envelope, content = crypto.decrypt_item(sealed, identities)
    except crypto.CryptoError:
        raise AuditEntryError(
            "cannot be opened: not sealed to this desk, damaged, or badly signed"
        ) from None
    if envelope.signer is None:
        raise AuditEntryError("is not signed: forged")
    found = trust.signer(envelope.signer)
    if found is None:
        raise AuditEntryError("is not signed by a handler of this compartment: forged")
    handler = found[0].handler_id
    header = envelope.header
    if set(header) != _HEADER or (
        header["kind"],
        header["compartment"],
        header["handler"],
    ) != (KIND, trust.compartment_id, handler):
        raise AuditEntryError(
            f"signed by handler {handler} is not their audit entry for this compartment: "
            "forged or replayed"
        )
    try:
        value: Any = json.loads(content)
        if not isinstance(value, dict) or set(value) != _FIELDS:
            raise ValueError("not an entry")
        checkpoint, time = value["checkpoint"], value["time"]
        if checkpoint is not None and (
            not isinstance(checkpoint, str) or len(checkpoint) > MAX_CHECKPOINT
        ):
            raise ValueError("malformed checkpoint")
        if not isinstance(time, str) or not _TIME.match(time):
            raise ValueError("malformed time")
        action = Action(
            value["action"],
            value["contact"],
            value["item"],
            value["from"],
            value["to"],
            value["reason"],
        )
    except (ValueError, TypeError):
        raise AuditEntryError(f"signed by handler {handler} is malformed") from None
    return Entry(handler, action, time, checkpoint)


# --- what the desk remembers ---------------------------------------------------


@dataclass(frozen=True)
class AuditState:
    """``audit.json``: the pinned key, the last verified checkpoint, the
    highest entry index checked."""

    key: crypto.NoteVerifier
    checkpoint: str | None
    seen: int = -1


def load_state(layout: Layout) -> AuditState | None:
    """What ``audit.json`` holds; None before the first look at the log."""
    path = state_path(layout)
    if not path.exists():
        return None
    value = trusted.read_json(path)
    try:
        checkpoint, seen = value["checkpoint"], value["seen"]
        if checkpoint is not None and not isinstance(checkpoint, str):
            raise TypeError("malformed checkpoint")
        if not isinstance(seen, int) or isinstance(seen, bool) or seen < -1:
            raise TypeError("malformed index")
        return AuditState(crypto.NoteVerifier.parse(value["key"]), checkpoint, seen)
    except (KeyError, TypeError, AttributeError, crypto.CryptoError):
        raise NotReadyError(f"{path} is malformed") from None


def save_state(layout: Layout, state: AuditState) -> None:
    value = {"key": str(state.key), "checkpoint": state.checkpoint, "seen": state.seen}
    trusted.write_json(state_path(layout), value)


# --- the checks (HTTP through the HandlerAPI given) -------------------------------


class _Alarm(Exception):
    """Ends the check of the log's head with one alarm; nothing is saved."""


@dataclass(frozen=True)
class _Log:
    verifier: crypto.NoteVerifier
    origin: str

    def open(self, note: str) -> tlog.Checkpoint:
        """A checkpoint signed by the pinned key; crypto or tlog errors otherwise.

        Bounded, so that every checkpoint a desk saves fits in the entries it
        sends: a server padding its notes with signatures would otherwise
        make honest entries look malformed to the other desks.
        """
        if len(note) > MAX_CHECKPOINT:
            raise tlog.CheckpointError("an oversized checkpoint")
        return tlog.open_checkpoint(note, self.verifier, self.origin)


def check_log(
    api: HandlerAPI, layout: Layout, trust: Trust, keystore: crypto.Keystore
) -> list[str]:
    """Check the log's head against what this desk saw, then the
    compartment's new entries; the alarms, if any (module docstring)."""
    try:
        log, state, head = _advance(api, layout, trust, load_state(layout))
    except _Alarm as alarm:
        return [str(alarm)]
    return _Entries(api, trust, keystore, log, head).check(layout, state)


def record(
    api: HandlerAPI,
    layout: Layout,
    trust: Trust,
    keystore: crypto.Keystore,
    action: Action,
    *,
    now: datetime,
) -> tuple[int, list[str]]:
    """Append an entry for ``action`` carrying this desk's latest verified
    checkpoint, then check the log (:func:`check_log`) and the checkpoint
    the server answered with; the entry's index and the alarms."""
    state = load_state(layout)
    sealed = seal_entry(
        action,
        trust=trust,
        key=keystore.signing_key,
        now=now,
        checkpoint=state.checkpoint if state is not None else None,
    )
    index, receipt = api.append_audit(sealed)
    alarms = check_log(api, layout, trust, keystore)
    if alarms:
        return index, alarms
    state = load_state(layout)
    if state is None or state.checkpoint is None:  # check_log saves both, or alarms
        return index, [f"{ALARM}: this desk has no checkpoint after appending entry {index}"]
    log = _Log(state.key, log_origin(trust.organization.org_id))
    try:
        answered = log.open(receipt)
    except (crypto.CryptoError, tlog.TlogError):
        return index, [
            f"{ALARM}: the checkpoint the server answered entry {index} with is not "
            "signed by the pinned log key"
        ]
    if answered.size <= index:
        return index, [
            f"{ALARM}: the checkpoint the server answered entry {index} with does not "
            f"cover it (size {answered.size})"
        ]
    problem = _compare(api, log, log.open(state.checkpoint), answered)
    if problem is not None:
        return index, [
            f"{ALARM} split view: the server answered this desk's entry {index} with "
            f"another history than it shows this desk ({problem})"
        ]
    return index, []


def _advance(
    api: HandlerAPI, layout: Layout, trust: Trust, state: AuditState | None
) -> tuple[_Log, AuditState, tlog.Checkpoint]:
    """Pin or check the key, verify the new head extends the known one, save it."""
    origin = log_origin(trust.organization.org_id)
    known = None
    if state is not None and state.checkpoint is not None:
        try:
            known = _Log(state.key, origin).open(state.checkpoint)
        except (crypto.CryptoError, tlog.TlogError):
            raise NotReadyError(
                f"{state_path(layout)} holds a checkpoint that does not verify"
            ) from None
    start = known.size if known is not None else 0
    (key, named, note, proof), refused = _head(api, start)
    log = _Log(_pin(state, key, named, origin), origin)
    try:
        new = log.open(note)
    except (crypto.CryptoError, tlog.TlogError):
        raise _Alarm(f"{ALARM}: the server's checkpoint does not verify (log key)") from None
    if refused and new.size >= start:
        raise _Alarm(
            f"{ALARM}: the server refused a consistency proof from size {start}, which its "
            f"log of size {new.size} must have"
        )
    try:
        head = tlog.advance(known, new, proof)
    except tlog.TlogRollbackError:
        raise _Alarm(
            f"{ALARM} rolled back: this desk has seen {start} entries, the server now "
            f"shows {new.size}; kept the checkpoint seen"
        ) from None
    except tlog.TlogForkError:
        raise _Alarm(
            f"{ALARM} history rewritten: the server's log of size {new.size} does not "
            f"extend the one this desk saw at size {start}; kept the checkpoint seen"
        ) from None
    except tlog.TlogError:
        raise _Alarm(f"{ALARM}: the server's checkpoint and proof are malformed") from None
    seen = state.seen if state is not None else -1
    saved = AuditState(log.verifier, note, seen)
    if saved != state:
        # Persisted before anything the new head covers is looked at.
        save_state(layout, saved)
    return log, saved, head


def _head(api: HandlerAPI, start: int) -> tuple[tuple[str, str, str, list[bytes]], bool]:
    """The server's head with a proof from ``start``; True if it refused that
    proof and only the head was had (a log smaller than ``start``)."""
    try:
        return api.audit_checkpoint(start), False
    except ServerError as exc:
        # The contract: "from" beyond the log's size is a 400. Only a log
        # that shrank (or a lying server) gives one to a desk.
        if exc.status != HTTPStatus.BAD_REQUEST or start == 0:
            raise _Alarm(f"{ALARM}: the server does not show its checkpoint ({exc})") from None
    try:
        return api.audit_checkpoint(0), True
    except ServerError as exc:
        raise _Alarm(f"{ALARM}: the server does not show its checkpoint ({exc})") from None


def _pin(state: AuditState | None, key: str, named: str, origin: str) -> crypto.NoteVerifier:
    """The log key: the one pinned, or the one shown on first use."""
    try:
        verifier = crypto.NoteVerifier.parse(key)
    except crypto.CryptoError:
        raise _Alarm(f"{ALARM}: the server's log key is malformed") from None
    if state is not None and verifier != state.key:
        raise _Alarm(
            f"{ALARM}: the server now signs the log with another key than the one this "
            "desk pinned on first use; kept the pinned key"
        )
    if verifier.name != origin or named != origin:
        raise _Alarm(f"{ALARM}: the server's log is not named {origin}")
    return verifier


def _new_entries(api: HandlerAPI, after: int, below: int) -> Iterator[tuple[int, int]]:
    """(index, size) of the compartment's entries after ``after`` and under
    the verified head's size, page by page."""
    while page := api.audit_entries(after):
        for index, _blob, size in page:
            if index >= below:
                return
            yield index, size
            after = index


@dataclass(frozen=True)
class _Entries:
    """The check of the compartment's entries under a verified ``head``."""

    api: HandlerAPI
    trust: Trust
    keystore: crypto.Keystore
    log: _Log
    head: tlog.Checkpoint

    def check(self, layout: Layout, state: AuditState) -> list[str]:
        alarms: list[str] = []
        compared: dict[str, str | None] = {}  # one proof per checkpoint, however many carry it
        seen = state.seen
        try:
            for index, size in _new_entries(self.api, seen, self.head.size):
                sealed = self.api.audit_entry(index, size)
                proof = self.api.audit_inclusion(index, self.head.size)
                try:
                    tlog.verify_inclusion(
                        tlog.leaf_hash(sealed), index, self.head.size, proof, self.head.root
                    )
                except tlog.TlogError:
                    alarms.append(
                        f"{ALARM} entry {index} is not the leaf the log holds at {index}: "
                        "the server shows another entry there than the one it signed"
                    )
                    seen = index
                    continue
                try:
                    entry = open_entry(sealed, self.keystore.identities, self.trust)
                except AuditEntryError as exc:
                    alarms.append(f"{ALARM} entry {index} {exc}")
                else:
                    alarms += self._carried(index, entry, compared)
                seen = index
        except ServerError as exc:
            alarms.append(
                f"{ALARM}: the server does not give this compartment's entries after {seen} ({exc})"
            )
        finally:
            if seen != state.seen:
                save_state(layout, AuditState(state.key, state.checkpoint, seen))
        return alarms

    def _carried(self, index: int, entry: Entry, compared: dict[str, str | None]) -> list[str]:
        """An alarm if the checkpoint ``entry`` carries is not of this desk's history."""
        if entry.checkpoint is None:
            return []
        if entry.checkpoint not in compared:
            try:
                other = self.log.open(entry.checkpoint)
            except (crypto.CryptoError, tlog.TlogError):
                problem: str | None = "their checkpoint is not signed by the log key pinned here"
            else:
                problem = _compare(self.api, self.log, self.head, other)
            compared[entry.checkpoint] = problem
        problem = compared[entry.checkpoint]
        if problem is None:
            return []
        return [
            f"{ALARM} split view: the server shows handler {entry.handler} another history "
            f"than this desk's (entry {index}: {problem})"
        ]


def _compare(
    api: HandlerAPI, log: _Log, head: tlog.Checkpoint, other: tlog.Checkpoint
) -> str | None:
    """Why ``other`` and ``head`` cannot share one history, or None if they can.

    The server proves consistency from the smaller to the larger; the
    checkpoint it signs at the larger size must be the one already held.
    """
    if other.size == head.size:
        try:
            tlog.same_history(head, other, [])
        except tlog.TlogError as exc:
            return str(exc)
        return None
    low, high = (other, head) if other.size < head.size else (head, other)
    try:
        _, _, note, proof = api.audit_checkpoint(low.size, high.size)
        shown = log.open(note)
        if shown.size != high.size:
            return f"asked for size {high.size}, the server signed size {shown.size}"
        tlog.same_history(high, shown, [])
        tlog.same_history(low, high, proof)
    except ServerError as exc:
        return f"the server gives no proof from size {low.size} to {high.size} ({exc})"
    except (crypto.CryptoError, tlog.TlogError) as exc:
        return str(exc)
    return None


def compare_heads(api: HandlerAPI, layout: Layout, trust: Trust, notes: Sequence[str]) -> list[str]:
    """Alarms for the heads other desks saw (gathered by command with
    ``shoal command audit-heads``) that cannot share this desk's history:
    the server must prove each consistent with the head this desk holds."""
    try:
        log, _, head = _advance(api, layout, trust, load_state(layout))
    except _Alarm as alarm:
        return [str(alarm)]
    alarms = []
    for note in notes:
        try:
            other = log.open(note)
        except (crypto.CryptoError, tlog.TlogError):
            alarms.append(f"{ALARM}: a head command gathered is not signed by the pinned log key")
            continue
        problem = _compare(api, log, head, other)
        if problem is not None:
            alarms.append(
                f"{ALARM} split view: a head another desk saw (size {other.size}) is not of "
                f"this desk's history: {problem}"
            )
    return alarms
