"""The desk's part in compartments that hold: the stanza-count alarm,
reporting sync for retention, cutting ties and deleting on the server."""

from __future__ import annotations

from desk_kit import DOOR, Setup, message

from shoal import crypto
from shoal.command import _state
from shoal.desk._workbench import forward_recipients


def sync_output(setup: Setup) -> str:
    """A sync's whole output: alarms are warnings, on stderr."""
    result = setup.desk.run("sync")
    assert result.exit_code == 0, result.output
    return result.output


def test_an_item_sealed_to_its_epoch_raises_no_alarm_and_sync_is_reported(setup: Setup) -> None:
    setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"m"), contact=None, epoch=1
    )
    assert "ALARM" not in sync_output(setup)
    assert setup.server.synced == {setup.compartment_id: 1}


def test_an_item_sealed_to_other_keys_than_its_epoch_raises_an_alarm(setup: Setup) -> None:
    # A seized server adding a recipient (a removed handler, say): one stanza too many.
    extra = crypto.generate_identity().recipient()
    item_id = setup.server.add_item(
        setup.compartment_id, message([*setup.recipients(), extra], b"m"), contact=None, epoch=1
    )
    result = setup.desk.run("sync")
    expected = len(setup.recipients())
    assert f"ALARM: item {item_id} has {expected + 1} recipient stanza(s) but epoch 1 has" in (
        result.output
    )
    assert (setup.desk.folder / "items" / f"{item_id}.age").exists()  # kept, for the record


def test_an_item_said_to_be_sealed_to_an_unknown_epoch_raises_an_alarm(setup: Setup) -> None:
    item_id = setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"m"), contact=None, epoch=7
    )
    result = setup.desk.run("sync")
    assert f"ALARM: item {item_id} is said to be sealed to epoch 7" in result.output


def test_cutting_ties_keeps_the_desks_record_and_refuses_replies(setup: Setup) -> None:
    contact_identity = crypto.generate_identity()
    contact = setup.server.add_contact(setup.compartment_id, contact_identity.recipient())
    setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"m"), contact=contact, epoch=1
    )
    setup.desk.ok("sync")
    out = setup.desk.ok("cut", contact, "--reason", "reports never checked out")
    assert f"Contact {contact}: new → cut." in out and "no longer opens anything" in out
    assert setup.server.contacts[contact].recipient == ""
    # The next sync sees the erased recipient: no warning, the pinned one kept.
    setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"late"), contact=contact, epoch=1
    )
    synced = setup.desk.ok("sync")
    assert "another recipient" not in synced
    refused = setup.desk.run("reply", contact, "--message", "hello")
    assert refused.exit_code == 1
    assert "are cut: they can receive no reply" in refused.output


def test_an_ill_formed_id_is_refused_before_anything_is_asked(setup: Setup) -> None:
    for command in ("cut", "delete", "delete-contact"):
        result = setup.desk.run(command, "../etc", *(["--reason", "r"] if command == "cut" else []))
        assert result.exit_code == 2
    assert not [line for line in setup.server.log if "/cut" in line or "DELETE" in line]


def _forward_sealed_as_desks_seal_it(setup: Setup) -> str:
    number = setup.kit.state.compartment(DOOR).epoch
    recipients = forward_recipients(setup.kit.epoch(DOOR, number), setup.kit.reading.recipient())
    return setup.server.add_item(
        setup.compartment_id,
        message(recipients, b"f"),
        contact=None,
        direction="forwarded",
        epoch=number,
    )


def test_a_forward_counts_command_only_where_the_epoch_does_not_list_it(setup: Setup) -> None:
    # Command reads this compartment: its recipient is in the epoch already.
    _forward_sealed_as_desks_seal_it(setup)
    assert "ALARM" not in sync_output(setup)
    # Command does not: a forward adds its recipient, one stanza more.
    setup.kit.state = _state.set_command_reads(setup.kit.state, DOOR, False)
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    _forward_sealed_as_desks_seal_it(setup)
    assert "ALARM" not in sync_output(setup)
    # A forward with one stanza more than that is still caught.
    extra = crypto.generate_identity().recipient()
    number = setup.kit.state.compartment(DOOR).epoch
    recipients = forward_recipients(setup.kit.epoch(DOOR, number), setup.kit.reading.recipient())
    item_id = setup.server.add_item(
        setup.compartment_id,
        message([*recipients, extra], b"f"),
        contact=None,
        direction="forwarded",
        epoch=number,
    )
    assert f"ALARM: item {item_id}" in setup.desk.run("sync").output
