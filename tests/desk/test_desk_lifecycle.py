"""A contact's lifecycle: the transition table, the signed record that
carries it, and the desk commands over it (against the fake server)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from desk_kit import DOOR, Setup
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shoal import crypto, org
from shoal.desk import _lifecycle as lifecycle
from shoal.desk._lifecycle import TRANSITIONS, State, TransitionError
from shoal.desk.errors import ItemError

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONTACT, COMPARTMENT = "c" * 32, "d" * 32


def fresh() -> lifecycle.Record:
    return lifecycle.initial(CONTACT, COMPARTMENT)


# The table.


def test_the_table_is_the_designs() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.CUT] == frozenset()  # final
    path = [State.IN_CONTACT, State.VETTING, State.MEMBER, State.SUSPENDED, State.CUT]
    record = fresh()
    for to in path:
        record = lifecycle.move(record, to, "because", handler="h", now=NOW)
    assert [s.state for s in record.steps] == path and record.seq == 5
    assert all(State.NEW not in targets for targets in TRANSITIONS.values())


@pytest.mark.parametrize("start", list(State))
@pytest.mark.parametrize("to", list(State))
def test_every_pair_is_allowed_exactly_as_the_table_says(start: State, to: State) -> None:
    record = lifecycle.Record(CONTACT, COMPARTMENT, (lifecycle.Step(start, "r", "t", "h"),))
    if to in TRANSITIONS[start]:
        assert lifecycle.move(record, to, "r", handler="h", now=NOW).state is to
    else:
        with pytest.raises(TransitionError, match="cannot go from"):
            lifecycle.move(record, to, "r", handler="h", now=NOW)


@pytest.mark.parametrize("reason", ["", "   ", "x" * (lifecycle.MAX_REASON + 1)])
def test_a_transition_needs_a_reason(reason: str) -> None:
    with pytest.raises(TransitionError):
        lifecycle.move(fresh(), State.IN_CONTACT, reason, handler="h", now=NOW)


class Lifecycles(RuleBasedStateMachine):
    """Random sequences of attempted moves: what is accepted is exactly
    what the table allows, and the sealed record always opens to the same."""

    def __init__(self) -> None:
        super().__init__()
        self.record = fresh()
        self.model = State.NEW
        self.steps = 0

    @rule(to=st.sampled_from(list(State)), reason=st.sampled_from(["ok", "", " why "]))
    def attempt(self, to: State, reason: str) -> None:
        allowed = to in TRANSITIONS[self.model] and reason.strip() != ""
        try:
            self.record = lifecycle.move(self.record, to, reason, handler="h", now=NOW)
        except TransitionError:
            assert not allowed
            return
        assert allowed
        self.model, self.steps = to, self.steps + 1

    @precondition(lambda self: self.steps > 0)
    @rule()
    def round_trip(self) -> None:
        sealed = lifecycle.seal_record(self.record, EPOCH, HANDLER_KEY)
        assert open_(sealed, newest_seen=self.steps) == self.record

    @invariant()
    def agrees(self) -> None:
        assert self.record.state is self.model and self.record.seq == self.steps
        if self.model is State.CUT:
            assert not TRANSITIONS[self.record.state]


IDENTITY = crypto.generate_identity()
HANDLER_KEY = crypto.SigningKey.generate()
EPOCH = org.Epoch(
    org_id="o" * 32,
    compartment_id=COMPARTMENT,
    door=DOOR,
    number=1,
    expires=NOW,
    handlers=(
        org.HandlerEntry(
            org.handler_id_for(HANDLER_KEY.verify_key), IDENTITY.recipient(), HANDLER_KEY.verify_key
        ),
    ),
)

TestLifecycles = Lifecycles.TestCase


# The record, sealed.


def sealed_after(*states: State, key: crypto.SigningKey = HANDLER_KEY) -> bytes:
    record = fresh()
    for to in states:
        record = lifecycle.move(record, to, "r", handler="h", now=NOW)
    return lifecycle.seal_record(record, EPOCH, key)


def open_(sealed: bytes, *, newest_seen: int = 0, contact: str = CONTACT) -> lifecycle.Record:
    return lifecycle.open_record(
        sealed, [IDENTITY], {HANDLER_KEY.verify_key: "h"},
        contact=contact, compartment=COMPARTMENT, newest_seen=newest_seen,
    )  # fmt: skip


def test_a_record_signed_by_no_handler_is_forged() -> None:
    with pytest.raises(ItemError, match="not signed by a handler"):
        open_(sealed_after(State.IN_CONTACT, key=crypto.SigningKey.generate()))


def test_a_record_moved_to_another_contact_is_forged() -> None:
    with pytest.raises(ItemError, match="names another contact"):
        open_(sealed_after(State.IN_CONTACT), contact="e" * 32)


def test_an_older_record_than_seen_is_a_rollback() -> None:
    older = sealed_after(State.IN_CONTACT)
    assert open_(older, newest_seen=1).seq == 1
    with pytest.raises(ItemError, match="rollback"):
        open_(older, newest_seen=2)


def test_a_record_of_impossible_steps_is_refused() -> None:
    steps = (lifecycle.Step(State.MEMBER, "skipped vetting", "t", "h"),)
    record = lifecycle.Record(CONTACT, COMPARTMENT, steps)
    with pytest.raises(ItemError, match="impossible step"):
        open_(lifecycle.seal_record(record, EPOCH, HANDLER_KEY))


def test_the_record_is_sealed_to_the_compartment_only() -> None:
    sealed = sealed_after(State.IN_CONTACT)
    assert crypto.stanza_count(io.BytesIO(sealed)) == len(EPOCH.recipients())


# The desk commands.


def test_the_desk_moves_a_contact_and_shows_the_history(setup: Setup) -> None:
    contact = setup.server.add_contact(setup.compartment_id, crypto.generate_identity().recipient())
    assert "contact " + contact + ": new" in setup.desk.ok("state", contact)
    out = setup.desk.ok("move", contact, "in-contact", "--reason", "answered twice, consistent")
    assert f"Contact {contact}: new → in-contact." in out
    setup.desk.ok("move", contact, "vetting", "--reason", "offered first aid")
    shown = setup.desk.ok("state", contact)
    assert f"contact {contact}: vetting" in shown and "offered first aid" in shown
    refused = setup.desk.run("move", contact, "new", "--reason", "x")
    assert refused.exit_code == 2 and "cannot go from 'vetting' to 'new'" in refused.output
    # The server holds ciphertext only.
    assert b"offered first aid" not in (setup.server.contacts[contact].state or b"")


def test_a_server_rolling_the_state_back_is_refused(setup: Setup) -> None:
    contact = setup.server.add_contact(setup.compartment_id, crypto.generate_identity().recipient())
    setup.desk.ok("move", contact, "in-contact", "--reason", "r")
    older = setup.server.contacts[contact].state
    setup.desk.ok("move", contact, "suspended", "--reason", "r")
    setup.server.contacts[contact].state = older
    result = setup.desk.run("state", contact)
    assert result.exit_code == 1 and "rollback" in result.output
    setup.server.contacts[contact].state = None
    gone = setup.desk.run("state", contact)
    assert gone.exit_code == 1 and "no longer shows the state" in gone.output


def test_moving_to_cut_cuts_ties(setup: Setup) -> None:
    contact = setup.server.add_contact(setup.compartment_id, crypto.generate_identity().recipient())
    setup.desk.ok("move", contact, "cut", "--reason", "an infiltrator")
    assert setup.server.contacts[contact].accepted is False
    assert setup.server.contacts[contact].recipient == ""
