"""The desk's acceptance of epochs, as a pure function (shoal.desk._trust)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from desk_kit import DOOR, NOW, OrgKit

from shoal import crypto, org, trusted
from shoal.desk import _trust
from shoal.desk._trust import OrgDocument, Trust, accept, rebuild
from shoal.desk.errors import TrustError


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


def doc(kit: OrgKit, *, epochs: list[str] | None = None) -> OrgDocument:
    served = kit.document(epochs=epochs)
    return OrgDocument(served["organization"], tuple(served["commands"]), tuple(served["epochs"]))


def accepted_trust(kit: OrgKit) -> Trust:
    first = accept(doc(kit), kit.state.root_key, DOOR, now=NOW, known=None)
    assert first is not None
    return rebuild(kit.state.root_key, kit.notes["organization.note"], [first])


def test_the_newest_epoch_of_the_door_is_accepted() -> None:
    kit, _ = kit_with_handler()
    kit.sign_epoch(DOOR)
    trust = accepted_trust(kit)
    assert trust.current.number == 2
    assert trust.current.door == DOOR


def test_the_current_epoch_again_is_nothing_new() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    assert accept(doc(kit), kit.state.root_key, DOOR, now=NOW, known=trust) is None


def test_an_expired_epoch_is_refused() -> None:
    kit, _ = kit_with_handler()
    with pytest.raises(TrustError, match="has expired"):
        accept(doc(kit), kit.state.root_key, DOOR, now=NOW + timedelta(days=91), known=None)


def test_two_different_epochs_under_one_number_are_a_split_view() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    forked = kit.sign_variant(DOOR, number=1, expires=NOW + timedelta(days=30))
    with pytest.raises(TrustError, match="two different epochs numbered 1"):
        accept(doc(kit, epochs=[forked]), kit.state.root_key, DOOR, now=NOW, known=trust)


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
    accepted = accept(doc(kit, epochs=epochs), kit.state.root_key, DOOR, now=NOW, known=None)
    assert accepted is not None
    assert accepted.epoch_note == kit.notes[f"epoch-{DOOR}-1.note"]


def test_no_epoch_for_the_door_is_refused() -> None:
    kit, _ = kit_with_handler()
    with pytest.raises(TrustError, match="no epoch of door 'news'"):
        accept(doc(kit, epochs=[]), kit.state.root_key, DOOR, now=NOW, known=None)


def test_a_command_key_not_certified_by_the_root_is_refused() -> None:
    kit, _ = kit_with_handler()
    impostor = OrgKit()
    document = OrgDocument(
        kit.notes["organization.note"],
        (impostor.notes["command-1.note"],),
        (kit.notes[f"epoch-{DOOR}-1.note"],),
    )
    with pytest.raises(TrustError, match="no command key certified"):
        accept(document, kit.state.root_key, DOOR, now=NOW, known=None)


def test_a_door_moved_to_another_compartment_is_refused() -> None:
    kit, _ = kit_with_handler()
    trust = accepted_trust(kit)
    moved = kit.sign_variant(DOOR, compartment_id=org.new_id())
    with pytest.raises(TrustError, match="now belongs to another compartment"):
        accept(doc(kit, epochs=[moved]), kit.state.root_key, DOOR, now=NOW, known=trust)


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
