"""``shoal desk reply``: sealed to the contact and the compartment, signed, fresh token."""

from __future__ import annotations

from pathlib import Path

from desk_kit import Setup

from shoal import crypto, org


def test_a_reply_reaches_the_contact_and_the_compartment_signed(setup: Setup) -> None:
    contact_identity = crypto.generate_identity()
    contact = setup.server.add_contact(setup.compartment_id, contact_identity.recipient())
    logins_before = setup.server.logins

    out = setup.desk.ok("reply", contact, "--message", "Stay safe. We will write again.")

    [item] = setup.server.items
    assert f"Reply {item.item_id} sent to contact {contact} (epoch 1)" in out
    assert setup.server.logins == logins_before + 1
    # The login was signed for the name the desk dialled (enrolled with
    # http://shoal.test), which the server checks where it knows its own.
    assert setup.server.login_hosts[-1] == "shoal.test"
    sealed = setup.server.blobs[item.blob]
    readers = [contact_identity, setup.kit.reading, *setup.desk.keystore().identities]
    for reader in readers:
        envelope, content = crypto.decrypt_item(sealed, [reader])
        assert content == b"Stay safe. We will write again."
    key = setup.desk.keystore().signing_key
    assert envelope.signer == key.verify_key
    assert dict(envelope.header) == {
        "kind": "reply",
        "time": envelope.header["time"],
        "contact": contact,
        "compartment": setup.compartment_id,
        "handler": org.handler_id_for(key.verify_key),
    }
    assert envelope.header["time"].endswith("Z")


def test_a_reply_from_a_file(setup: Setup, tmp_path: Path) -> None:
    contact_identity = crypto.generate_identity()
    contact = setup.server.add_contact(setup.compartment_id, contact_identity.recipient())
    text = tmp_path / "reply.txt"
    text.write_text("Line one.\nLine two.\n", encoding="utf-8")

    setup.desk.ok("reply", contact, "--message-file", str(text))

    [item] = setup.server.items
    _, content = crypto.decrypt_item(setup.server.blobs[item.blob], [contact_identity])
    assert content == b"Line one.\nLine two.\n"


def test_a_contact_with_a_classic_recipient_gets_no_reply_in_a_hybrid_org(setup: Setup) -> None:
    classic = crypto.generate_identity(crypto.KeyType.X25519).recipient()
    contact = setup.server.add_contact(setup.compartment_id, classic)

    result = setup.desk.run("reply", contact, "--message", "hello")

    assert result.exit_code == 1
    assert "x25519 recipient, but the organization's items are mlkem768x25519" in result.output
    assert setup.server.items == []


def test_the_server_refusing_a_reply_is_reported(setup: Setup) -> None:
    result = setup.desk.run("reply", "f" * 32, "--message", "hello")

    assert result.exit_code == 1
    assert "the server refused a contact (404): No such contact in this compartment." in (
        result.output
    )


def test_a_reply_needs_exactly_one_text(setup: Setup, tmp_path: Path) -> None:
    assert setup.desk.run("reply", "f" * 32).exit_code == 2
    text = tmp_path / "t"
    text.write_text("x")
    both = setup.desk.run("reply", "f" * 32, "--message", "x", "--message-file", str(text))
    assert both.exit_code == 2
    assert setup.server.log == []
