"""``shoal desk sync`` against the fake server: what it stores, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

from desk_kit import DOOR, OrgKit, Setup, message

from shoal import crypto, trusted

CANARY = b"CANARY-the-convoy-left-at-dawn-7f3a"


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_sync_stores_ciphertext_only(setup: Setup) -> None:
    contact = setup.server.add_contact(setup.compartment_id, setup.kit.reading.recipient())
    sealed = message(setup.recipients(), CANARY)
    item_id = setup.server.add_item(setup.compartment_id, sealed, contact=contact)

    out = setup.desk.ok("sync")

    assert "Epoch 1: 1 new item(s), 1 contact(s)" in out
    stored = files_under(setup.desk.folder)
    assert stored[f"items/{item_id}.age"] == sealed
    assert not any(CANARY in data for data in stored.values())
    assert not any(name.endswith(".partial") for name in stored)
    index = json.loads(stored["index.json"])
    assert index["cursor"] == 1
    [entry] = index["items"]
    assert {k: entry[k] for k in ("id", "seq", "contact", "direction", "day")} == {
        "id": item_id,
        "seq": 1,
        "contact": contact,
        "direction": "in",
        "day": "2026-11-23",
    }
    assert index["contacts"] == [
        {"id": contact, "recipient": str(setup.kit.reading.recipient()), "accepted": True}
    ]


def test_sync_pages_through_items_and_resumes_at_the_cursor(setup: Setup) -> None:
    ids = [
        setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=None)
        for _ in range(5)
    ]
    assert "5 new item(s)" in setup.desk.ok("sync")
    assert "0 new item(s)" in setup.desk.ok("sync")
    ids.append(
        setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=None)
    )
    assert "1 new item(s)" in setup.desk.ok("sync")

    assert sorted(p.stem for p in (setup.desk.folder / "items").iterdir()) == sorted(ids)
    pages = [line for line in setup.server.log if "/handler/items" in line]
    assert "after=5" in pages[-1]  # the third sync started from the cursor


def test_a_blob_longer_than_announced_is_not_stored(setup: Setup) -> None:
    sealed = message(setup.recipients(), b"m")
    item_id = setup.server.add_item(setup.compartment_id, sealed, contact=None)
    setup.server.announced[setup.server.items[0].blob] = len(sealed) - 1

    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert f"the blob of item {item_id} is larger than announced" in result.output
    assert list((setup.desk.folder / "items").iterdir()) == []  # no partial file either


def test_wrong_passphrase_changes_nothing_and_asks_nothing(setup: Setup, tmp_path: Path) -> None:
    setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=None)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    before = files_under(setup.desk.folder)

    for command in ("sync", "list", "export"):
        args = [str(tmp_path / "out")] if command == "export" else []
        result = setup.desk.run(command, *args, passphrase=wrong)
        assert result.exit_code == 1
        assert "wrong passphrase" in result.output

    assert files_under(setup.desk.folder) == before
    assert setup.server.log == []
    assert not (tmp_path / "out").exists()


def test_rollback_to_an_older_epoch_is_refused(setup: Setup) -> None:
    old = setup.kit.notes[f"epoch-{DOOR}-1.note"]
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    assert "Epoch 2:" in setup.desk.ok("sync")
    config_before = (setup.desk.folder / "desk.json").read_bytes()

    setup.server.document = setup.kit.document(epochs=[old])
    setup.server.log.clear()
    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert "epoch 1 is older than epoch 2 already seen" in result.output
    assert (setup.desk.folder / "desk.json").read_bytes() == config_before
    assert setup.server.log == ["GET /api/v1/org?"]  # refused before logging in


def test_the_newest_epoch_seen_is_remembered_per_compartment(setup: Setup) -> None:
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    setup.desk.ok("sync")
    config = json.loads((setup.desk.folder / "desk.json").read_text())
    assert [e["epoch"] for e in config["epochs"]] == [setup.kit.notes[f"epoch-{DOOR}-2.note"]]
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    assert "Epoch 3:" in setup.desk.ok("sync")


def test_notes_signed_by_another_root_are_refused(setup: Setup) -> None:
    impostor = OrgKit()
    impostor.organization = setup.kit.organization
    setup.server.document = impostor.document()

    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert "not signed by the enrolled root key" in result.output
    assert not (setup.desk.folder / "index.json").exists()


def test_a_desk_not_in_the_epoch_does_not_log_in(setup: Setup) -> None:
    setup.kit.remove_handler(DOOR, setup.desk.handler_id())
    colleague = crypto.generate_identity(), crypto.SigningKey.generate()
    setup.kit.add_handler(
        DOOR, trusted.Enrollment(colleague[0].recipient(), colleague[1].verify_key)
    )
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()

    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert "this desk's key is not a handler of door 'news' in epoch 2" in result.output
    assert setup.server.logins == 0


def test_a_contact_whose_recipient_changes_keeps_the_first(setup: Setup) -> None:
    first = crypto.generate_identity().recipient()
    contact = setup.server.add_contact(setup.compartment_id, first)
    setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=contact)
    setup.desk.ok("sync")
    setup.server.contacts[contact].recipient = str(crypto.generate_identity().recipient())
    setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=contact)

    result = setup.desk.run("sync")

    assert result.exit_code == 0
    assert f"another recipient for contact {contact}" in result.stderr
    index = json.loads((setup.desk.folder / "index.json").read_text())
    assert index["contacts"][0]["recipient"] == str(first)


def test_an_epoch_listing_this_key_with_another_recipient_is_refused(setup: Setup) -> None:
    ours = setup.desk.enrollment()
    setup.kit.remove_handler(DOOR, ours.handler_id)
    swapped = trusted.Enrollment(crypto.generate_identity().recipient(), ours.verify_key)
    setup.kit.add_handler(DOOR, swapped)
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()

    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert "with a recipient it cannot decrypt for" in result.output
    assert setup.server.logins == 0


def test_a_server_showing_notes_only_after_login(setup: Setup) -> None:
    setup.server.notes_after_login = True
    setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=None)

    unknown = setup.desk.run("sync")
    assert unknown.exit_code == 1
    assert "enroll again with --compartment ID" in unknown.output

    setup.desk.ok("enroll", "--server", "http://shoal.test", "--root-key", setup.kit.root_vkey,
                  "--door", DOOR, "--compartment", setup.compartment_id)  # fmt: skip
    setup.server.log.clear()
    assert "Epoch 1: 1 new item(s)" in setup.desk.ok("sync")
    assert setup.server.log[:4] == [
        "GET /api/v1/org?",  # refused: not logged in
        "POST /api/v1/handler/challenges?",
        "POST /api/v1/handler/tokens?",
        "GET /api/v1/org?",
    ]
    assert setup.server.logins == 1


def test_a_retired_command_key_cannot_sign_a_new_epoch(setup: Setup) -> None:
    """The attack: a server that holds command key 1, retired by a rotation,
    hides certificate 2 and signs an epoch 3 adding its own recipient."""
    setup.kit.rotate_command()
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    assert "Epoch 2:" in setup.desk.ok("sync")
    config_before = (setup.desk.folder / "desk.json").read_bytes()
    assert json.loads(config_before)["command_serial"] == 2

    spy = trusted.Enrollment(
        crypto.generate_identity().recipient(), crypto.SigningKey.generate().verify_key
    )
    forged = setup.kit.sign_with_retired(DOOR, 1, spy)
    setup.server.document = setup.kit.document(epochs=[forged], commands=[1])
    setup.server.log.clear()
    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert "older command key (serial 1) than this desk has seen (serial 2)" in result.output
    assert "possible rollback attack" in result.output
    assert (setup.desk.folder / "desk.json").read_bytes() == config_before
    assert setup.server.log == ["GET /api/v1/org?"]  # refused before logging in


def test_a_command_key_rotation_is_followed(setup: Setup) -> None:
    assert "Epoch 1:" in setup.desk.ok("sync")
    assert json.loads((setup.desk.folder / "desk.json").read_text())["command_serial"] == 1
    setup.kit.rotate_command()
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()

    assert "Epoch 2:" in setup.desk.ok("sync")

    config = json.loads((setup.desk.folder / "desk.json").read_text())
    assert config["command_serial"] == 2
    assert [e["command"] for e in config["epochs"]] == [
        setup.kit.notes["command-1.note"],
        setup.kit.notes["command-2.note"],
    ]
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    assert "Epoch 3:" in setup.desk.ok("sync")


def test_a_first_epoch_of_another_compartment_is_refused_and_not_kept(setup: Setup) -> None:
    other = setup.kit.add_compartment("other")
    enroll = ["--server", "http://shoal.test", "--root-key", setup.kit.root_vkey, "--door", DOOR]
    setup.desk.ok("enroll", *enroll, "--compartment", other)
    config_before = (setup.desk.folder / "desk.json").read_bytes()

    result = setup.desk.run("sync")

    assert result.exit_code == 1
    assert f"belongs to compartment {setup.compartment_id}, not to {other}" in result.output
    assert (setup.desk.folder / "desk.json").read_bytes() == config_before
    # Nothing was kept, so the desk is not stuck: enrolled right, it syncs.
    setup.desk.ok("enroll", *enroll, "--compartment", setup.compartment_id)
    assert "Epoch 1:" in setup.desk.ok("sync")
