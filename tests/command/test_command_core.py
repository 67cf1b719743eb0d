"""Command's pure core: state transitions and the epochs it builds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shoal import crypto, org, trusted
from shoal.command import _notes, _state
from shoal.command.errors import EpochRefusedError, RequestError, StateError

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
DOOR = "news"


def enrollment(key_type: crypto.KeyType = crypto.KeyType.HYBRID) -> trusted.Enrollment:
    recipient = crypto.generate_identity(key_type).recipient()
    return trusted.Enrollment(recipient, crypto.SigningKey.generate().verify_key)


def founded(
    key_type: crypto.KeyType = crypto.KeyType.HYBRID,
) -> tuple[_notes.Founding, crypto.SigningKey]:
    organization = org.Organization(org.new_id(), key_type, crypto.generate_salt())
    command_key = crypto.SigningKey.generate()
    founding = _notes.found(
        organization,
        root=crypto.SigningKey.generate(),
        command=command_key,
        reading=crypto.generate_identity(key_type).recipient(),
    )
    return founding, command_key


ESCROW = crypto.generate_identity().recipient()


def with_handler() -> tuple[_state.CommandState, crypto.SigningKey]:
    """One handler, backed by an escrow recipient (an epoch may be signed)."""
    founding, key = founded()
    state = _state.add_compartment(founding.state, DOOR, org.new_id())
    state = _state.set_escrow(state, DOOR, ESCROW)
    return _state.add_handler(state, DOOR, enrollment()), key


def test_the_next_epoch_numbers_lists_and_expires() -> None:
    state, _ = with_handler()
    epoch = _notes.next_epoch(state, DOOR, now=NOW, days=90)
    assert epoch.number == 1
    assert epoch.expires == NOW + timedelta(days=90)
    assert epoch.command == state.command.reading_recipient
    assert epoch.escrow == ESCROW
    assert epoch.handlers == state.compartment(DOOR).handlers
    state = _state.record_epoch(state, epoch)
    assert _notes.next_epoch(state, DOOR, now=NOW, days=1).number == 2


def test_a_signed_epoch_verifies_along_the_chain() -> None:
    founding, key = founded()
    state = _state.add_compartment(founding.state, DOOR, org.new_id())
    state = _state.add_handler(state, DOOR, enrollment())
    state = _state.add_handler(state, DOOR, enrollment())
    epoch = _notes.next_epoch(state, DOOR, now=NOW, days=90)
    note = _notes.sign_epoch(state, epoch, key)
    organization = org.verify_organization(founding.notes["organization.note"], state.root_key)
    certificate = org.verify_command(founding.notes["command-1.note"], state.root_key, organization)
    assert org.verify_epoch(note, certificate, organization, now=NOW) == epoch
    assert _notes.epoch_note_name(epoch) == "epoch-news-1.note"


def test_recipients_of_mixed_key_types_are_refused_before_signing() -> None:
    state, _ = with_handler()
    classic = enrollment(crypto.KeyType.X25519)
    entry = org.HandlerEntry(classic.handler_id, classic.recipient, classic.verify_key)
    compartment = state.compartment(DOOR)
    mixed = dataclasses.replace(compartment, handlers=(*compartment.handlers, entry))
    state = dataclasses.replace(state, compartments=(mixed,))  # as a hand-edited state file
    with pytest.raises(EpochRefusedError, match="would mix key types"):
        _notes.next_epoch(state, DOOR, now=NOW, days=90)


def test_only_the_certified_command_key_signs() -> None:
    state, _ = with_handler()
    epoch = _notes.next_epoch(state, DOOR, now=NOW, days=90)
    with pytest.raises(StateError, match="does not hold the certified command key"):
        _notes.sign_epoch(state, epoch, crypto.SigningKey.generate())


def test_a_bundle_of_the_other_key_type_is_refused() -> None:
    founding, _ = founded(crypto.KeyType.X25519)
    state = _state.add_compartment(founding.state, DOOR, org.new_id())
    with pytest.raises(RequestError, match="shoal desk keygen --classic"):
        _state.add_handler(state, DOOR, enrollment(crypto.KeyType.HYBRID))


def test_the_state_file_round_trips() -> None:
    state, _ = with_handler()
    state = _state.record_epoch(state, _notes.next_epoch(state, DOOR, now=NOW, days=9))
    assert _state.from_json(_state.to_json(state)) == state


@pytest.mark.parametrize(
    "damage",
    [
        lambda j: j.pop("root_key"),
        lambda j: j["organization"].update(key_type="rsa"),
        lambda j: j["compartments"]["news"]["handlers"][0].update(id="0" * 32),
        lambda j: j.update({"shoal-command": 2}),
    ],
)
def test_a_damaged_state_file_is_refused(damage: object) -> None:
    state, _ = with_handler()
    value = _state.to_json(state)
    damage(value)  # type: ignore[operator]
    with pytest.raises(StateError):
        _state.from_json(value)


def test_the_last_handler_removed_leaves_an_epoch_for_command_and_escrow() -> None:
    state, _ = with_handler()
    state = _state.record_epoch(state, _notes.next_epoch(state, DOOR, now=NOW, days=90))
    [entry] = state.compartment(DOOR).handlers
    state = _state.remove_handler(state, DOOR, entry.handler_id)
    epoch = _notes.next_epoch(state, DOOR, now=NOW, days=90)
    assert (epoch.number, epoch.handlers) == (2, ())
    assert epoch.recipients() == [state.command.reading_recipient, ESCROW]


@pytest.mark.parametrize(("handlers", "escrow", "allowed"), [
    (0, False, False), (1, False, False), (2, False, True), (3, False, True),
    (0, True, True), (1, True, True),
])  # fmt: skip
def test_an_epoch_needs_two_handlers_or_an_escrow(
    handlers: int, escrow: bool, allowed: bool
) -> None:
    founding, _ = founded()
    state = _state.add_compartment(founding.state, DOOR, org.new_id())
    for _ in range(handlers):
        state = _state.add_handler(state, DOOR, enrollment())
    if escrow:
        state = _state.set_escrow(state, DOOR, ESCROW)
    # Command reading everything does not count: it does not keep the desk.
    assert state.compartment(DOOR).command_reads
    if allowed:
        assert _notes.next_epoch(state, DOOR, now=NOW, days=1).number == 1
    else:
        with pytest.raises(EpochRefusedError, match="no escrow recipient"):
            _notes.next_epoch(state, DOOR, now=NOW, days=1)


def test_without_command_reading_an_epoch_leaves_command_out() -> None:
    state, _ = with_handler()
    state = _state.set_command_reads(state, DOOR, False)
    epoch = _notes.next_epoch(state, DOOR, now=NOW, days=1)
    assert epoch.command is None
    assert state.command.reading_recipient not in epoch.recipients()
    assert _state.from_json(_state.to_json(state)) == state


def test_epoch_numbers_follow_the_notes_when_the_state_lags_behind() -> None:
    state, _ = with_handler()
    assert _notes.next_epoch(state, DOOR, now=NOW, days=1, newest_note=5).number == 6
    for _ in range(7):
        state = _state.record_epoch(state, _notes.next_epoch(state, DOOR, now=NOW, days=1))
    assert _notes.next_epoch(state, DOOR, now=NOW, days=1, newest_note=5).number == 8


def test_the_newest_epoch_note_of_a_door_among_file_names() -> None:
    names = [
        "organization.note",
        "command-1.note",
        "epoch-news-2.note",
        "epoch-news-10.note",
        "epoch-news-2-30.note",  # door news-2, epoch 30
        "epoch-news-x.note",
        ".0123abcd.partial",
    ]
    assert _notes.newest_epoch_note("news", names) == 10
    assert _notes.newest_epoch_note("news-2", names) == 30
    assert _notes.newest_epoch_note("sport", names) == 0
