"""Moving a contact through its lifecycle, online: the one path for the
command line and the desk UI.

The record lives on the server, sealed to the compartment and signed
(:mod:`._lifecycle`); this desk remembers the newest step it saw of each
contact (``DIR/lifecycle.json``) and refuses a server that shows an older
one. A move is signed and stored, then recorded in the audit log; moving to
"cut" also cuts ties on the server. Every record read or made here passes
its member key, if any, to :mod:`._members`, which member reports are
judged against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .. import crypto, org, trusted
from ..trusted import Trust
from . import _audit as audit
from . import _lifecycle as lifecycle
from . import _members as members
from ._api import HandlerAPI
from ._state import Layout
from .errors import ItemError


@dataclass(frozen=True)
class Moved:
    before: lifecycle.Record
    after: lifecycle.Record

    def action(self) -> audit.Action:
        """The audit log's entry for this move (appended once it is done)."""
        return audit.Action.move(
            self.after.contact, self.before.state, self.after.state, self.after.steps[-1].reason
        )


def current(
    api: HandlerAPI, layout: Layout, keystore: crypto.Keystore, trust: Trust, contact_id: str
) -> lifecycle.Record:
    """The contact's record from the server, opened and checked (signed by a
    handler of any accepted epoch, not older than this desk has seen)."""
    sealed = api.contact_state(contact_id)
    seen = _seen_steps(layout)
    if sealed is None:
        if seen.get(contact_id, 0) > 0:
            raise ItemError(
                f"the server no longer shows the state of contact {contact_id}, which this "
                "desk has seen: refused, a rollback"
            )
        return lifecycle.initial(contact_id, trust.compartment_id)
    signers = {h.verify_key: h.handler_id for e in trust.epochs for h in e.handlers}
    record = lifecycle.open_record(
        sealed,
        list(keystore.identities),
        signers,
        contact=contact_id,
        compartment=trust.compartment_id,
        newest_seen=seen.get(contact_id, 0),
    )
    _remember_step(layout, contact_id, record.seq)
    members.remember(layout, keystore, contact_id, record.member_key)
    return record


def move_contact(
    api: HandlerAPI,
    layout: Layout,
    keystore: crypto.Keystore,
    trust: Trust,
    contact_id: str,
    *,
    to: lifecycle.State,
    reason: str,
    now: datetime,
    key: str | None = None,
) -> Moved:
    """Move, store, and cut ties if "cut"; the caller then says so and
    records :meth:`Moved.action` in the audit log.

    :class:`lifecycle.TransitionError` before anything is sent when the
    table does not allow the move.
    """
    record = current(api, layout, keystore, trust, contact_id)
    handler = org.handler_id_for(keystore.signing_key.verify_key)
    moved = lifecycle.move(record, to, reason, handler=handler, now=now, key=key)
    api.put_state(contact_id, lifecycle.seal_record(moved, trust.current, keystore.signing_key))
    _remember_step(layout, contact_id, moved.seq)
    members.remember(layout, keystore, contact_id, moved.member_key)
    if moved.state is lifecycle.State.CUT:
        api.cut(contact_id)
    return Moved(record, moved)


def _seen_steps(layout: Layout) -> dict[str, int]:
    if not layout.lifecycle.exists():
        return {}
    return {k: int(v) for k, v in trusted.read_json(layout.lifecycle).items()}


def _remember_step(layout: Layout, contact_id: str, seq: int) -> None:
    seen = _seen_steps(layout)
    if seq > seen.get(contact_id, 0):
        trusted.write_json(layout.lifecycle, {**seen, contact_id: seq})
