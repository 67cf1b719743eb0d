"""Acceptance of epochs, as a pure function (shoal.trusted._trust): what a desk believes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from desk_kit import DOOR, NOW, OrgKit

from shoal import crypto, org, trusted
from shoal.trusted import OrgDocument, Trust, TrustError, _trust, accept, rebuild


def enrollment(key: crypto.SigningKey | None = None) -> trusted.Enrollment:
    key = key or crypto.SigningKey.generate()
    return trusted.Enrollment(crypto.generate_identity().recipient(), key.verify_key)


def kit_with_handler() -> tuple[OrgKit, crypto.SigningKey]:
    kit = OrgKit()
    kit.add_compartment(DOOR)
    key = crypto.SigningKey.generate()
    kit.add_handler(DOOR, enrollment(key))
    kit.sign_epoch(DOOR)
    return kit, key


def doc(
    kit: OrgKit, *, epochs: list[str] | None = None, commands: list[int] | None = None
) -> OrgDocument:
    served = kit.document(epochs=epochs, commands=commands)
    return OrgDocument(served["organization"], tuple(served["commands"]), tuple(served["epochs"]))


def look(
    kit: OrgKit,
    document: OrgDocument,
    *,
    known: Trust | None = None,
    command_serial: int = 0,
    compartment_id: str | None = None,
    now: datetime = NOW,
) -> _trust.Acceptance:
    return accept(
        document,
        kit.state.root_key,
        DOOR,
        now=now,
        known=known,
        command_serial=command_serial,
        compartment_id=compartment_id,
    )


def new_epoch(acceptance: _trust.Acceptance) -> _trust.AcceptedEpoch:
    assert acceptance.epoch is not None
    return acceptance.epoch


def accepted_trust(kit: OrgKit, *history: _trust.AcceptedEpoch) -> Trust:
    first = new_epoch(look(kit, doc(kit)))
    return rebuild(kit.state.root_key, kit.notes["organization.note"], [*history, first])


def test_the_newest_epoch_of_the_door_is_accepted() -> None:
    kit, _ = kit_with_handler()
    kit.sign_epoch(DOOR)
    trust = accepted_trust(kit)
    assert trust.current.number == 2
    assert trust.current.door == DOOR


def test_the_current_epoch_again_is_nothing_new() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    assert look(kit, doc(kit), known=trust) == _trust.Acceptance(1, None)


def test_an_expired_epoch_is_refused() -> None:
    kit, _ = kit_with_handler()
    with pytest.raises(TrustError, match="has expired"):
        look(kit, doc(kit), now=NOW + timedelta(days=91))


def test_two_different_epochs_under_one_number_are_a_split_view() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    forked = kit.sign_variant(DOOR, number=1, expires=NOW + timedelta(days=30))
    with pytest.raises(TrustError, match="two different epochs numbered 1"):
        look(kit, doc(kit, epochs=[forked]), known=trust)


def test_epochs_signed_by_an_unknown_key_or_for_other_doors_are_ignored() -> None:
    kit, _ = kit_with_handler()
    stranger = OrgKit()
    stranger.add_compartment(DOOR)
    stranger.add_handler(DOOR, enrollment())
    stranger.sign_epoch(DOOR)
    kit.add_compartment("other")
    kit.add_handler("other", enrollment())
    kit.sign_epoch("other")
    kit.sign_epoch("other")
    epochs = [
        stranger.notes[f"epoch-{DOOR}-1.note"],
        kit.notes["epoch-other-2.note"],
        kit.notes[f"epoch-{DOOR}-1.note"],
        "not a note at all",
    ]
    accepted = new_epoch(look(kit, doc(kit, epochs=epochs)))
    assert accepted.epoch_note == kit.notes[f"epoch-{DOOR}-1.note"]


def test_no_epoch_for_the_door_is_refused() -> None:
    kit, _ = kit_with_handler()
    with pytest.raises(TrustError, match="no epoch of door 'news'"):
        look(kit, doc(kit, epochs=[]))


def test_a_command_key_not_certified_by_the_root_is_refused() -> None:
    kit, _ = kit_with_handler()
    impostor = OrgKit()
    document = OrgDocument(
        kit.notes["organization.note"],
        (impostor.notes["command-1.note"],),
        (kit.notes[f"epoch-{DOOR}-1.note"],),
    )
    with pytest.raises(TrustError, match="no command key certified"):
        look(kit, document)


def test_a_door_moved_to_another_compartment_is_refused() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    moved = kit.sign_variant(DOOR, compartment_id=org.new_id())
    with pytest.raises(TrustError, match="now belongs to another compartment"):
        look(kit, doc(kit, epochs=[moved]), known=trust)


def test_rebuild_judges_each_epoch_at_the_time_it_was_accepted() -> None:
    kit, key = kit_with_handler()
    trust = accepted_trust(kit)
    assert trust.signer(key.verify_key) is not None
    # Long after expiry, the history still verifies: it says who was a handler then.
    again = rebuild(
        kit.state.root_key,
        kit.notes["organization.note"],
        [_trust.AcceptedEpoch(kit.notes[f"epoch-{DOOR}-1.note"], kit.notes["command-1.note"], NOW)],
    )
    assert again == trust


def test_a_first_epoch_of_another_compartment_than_enrolled_is_refused() -> None:
    kit, _ = kit_with_handler()
    enrolled = org.new_id()
    with pytest.raises(TrustError, match=f"not to {enrolled} as enrolled"):
        look(kit, doc(kit), compartment_id=enrolled)
    assert look(kit, doc(kit), compartment_id=kit.state.compartment(DOOR).compartment_id).epoch


def test_a_rotated_command_key_is_accepted_with_epochs_it_signed() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    assert trust.command_serial == 1
    assert kit.rotate_command() == 2
    kit.sign_epoch(DOOR)
    # An epoch 3 signed by the retired key is shown too: it is not used.
    retired = kit.sign_with_retired(DOOR, 1, enrollment())
    epochs = [kit.notes[f"epoch-{DOOR}-1.note"], kit.notes[f"epoch-{DOOR}-2.note"], retired]

    acceptance = look(kit, doc(kit, epochs=epochs), known=trust, command_serial=1)

    assert acceptance.command_serial == 2
    assert new_epoch(acceptance).epoch_note == kit.notes[f"epoch-{DOOR}-2.note"]
    assert new_epoch(acceptance).command_note == kit.notes["command-2.note"]


def test_after_a_rotation_epochs_signed_by_the_retired_key_only_are_refused() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    kit.rotate_command()
    forged = kit.sign_with_retired(DOOR, 1, enrollment())
    with pytest.raises(TrustError, match="no epoch of door 'news' signed by the command key"):
        look(kit, doc(kit, epochs=[forged]), known=trust, command_serial=2)


def test_a_hidden_newer_command_key_is_a_rollback() -> None:
    kit, _ = kit_with_handler()
    first = new_epoch(look(kit, doc(kit)))
    kit.rotate_command()
    kit.sign_epoch(DOOR)
    trust = accepted_trust(kit, first)
    forged = kit.sign_with_retired(DOOR, 1, enrollment())
    hiding = doc(kit, epochs=[forged], commands=[1])
    with pytest.raises(TrustError, match=r"older command key \(serial 1\).*\(serial 2\)"):
        look(kit, hiding, known=trust, command_serial=2)
    # Without the remembered serial (a desk.json older than it), the
    # certificates of the accepted epochs still set the floor.
    with pytest.raises(TrustError, match="possible rollback attack"):
        look(kit, hiding, known=trust, command_serial=0)


def test_the_remembered_serial_alone_refuses_a_retired_key() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)  # history: epoch 1, under command key 1
    kit.rotate_command()
    # The server once showed command key 2 with epoch 1 signed again by it:
    # nothing new to keep but the serial.
    epoch_1 = kit.epoch(DOOR, 1)
    resigned = crypto.sign_note(
        epoch_1.record(),
        [crypto.NoteSigner(kit.state.command.command_key.name, kit.command_key)],
    )
    assert look(kit, doc(kit, epochs=[resigned]), known=trust, command_serial=1) == (
        _trust.Acceptance(2, None)
    )
    forged = kit.sign_with_retired(DOOR, 1, enrollment())
    with pytest.raises(TrustError, match="possible rollback attack"):
        look(kit, doc(kit, epochs=[forged], commands=[1]), known=trust, command_serial=2)
