"""``shoal desk list`` and ``read``: who vouches for each item, and forgeries."""

from __future__ import annotations

from desk_kit import DOOR, Setup, badly_signed, file_item, message, reply_header

from shoal import crypto, trusted


def line_of(listing: str, item_id: str) -> str:
    [line] = [line for line in listing.splitlines() if line.startswith(item_id)]
    return line


def contact_in(setup: Setup) -> str:
    return setup.server.add_contact(setup.compartment_id, crypto.generate_identity().recipient())


def test_a_web_contacts_message_is_vouched_for_by_the_server_only(setup: Setup) -> None:
    contact = contact_in(setup)
    item = setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"hello"), contact=contact
    )
    setup.desk.ok("sync")

    line = line_of(setup.desk.ok("list"), item)

    assert line.split()[:4] == [item, "2026-11-23", "message", "contact"]
    assert contact in line
    assert line.endswith("vouched for by the server only")


def test_a_reply_from_this_desk_is_signed_by_its_handler(setup: Setup) -> None:
    contact = contact_in(setup)
    setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"hi"), contact=contact)
    setup.desk.ok("sync")
    setup.desk.ok("reply", contact, "--message", "We read you.")
    setup.desk.ok("sync")
    [reply] = [i.item_id for i in setup.server.items if i.direction == "out"]

    line = line_of(setup.desk.ok("list"), reply)

    assert " reply " in line
    assert line.endswith(f"signed by handler {setup.desk.handler_id()}")
    assert "We read you." in setup.desk.ok("read", reply)


def forgeries(setup: Setup, contact: str) -> dict[str, bytes]:
    """Valid age files the seized server could write, each claiming to be a reply."""
    handler = setup.desk.handler_id()
    header = reply_header(contact, setup.compartment_id, handler)
    recipients = setup.recipients()
    stranger = crypto.SigningKey.generate()
    return {
        "unsigned": crypto.encrypt_item(recipients, header, b"FORGED TEXT"),
        "stranger": crypto.encrypt_item(recipients, header, b"FORGED TEXT", stranger),
        "bad signature": badly_signed(recipients, header, b"FORGED TEXT"),
    }


def test_forged_replies_are_rejected_never_shown_as_replies(setup: Setup) -> None:
    contact = contact_in(setup)
    ids = {
        name: setup.server.add_item(setup.compartment_id, sealed, contact=contact, direction="out")
        for name, sealed in forgeries(setup, contact).items()
    }
    setup.desk.ok("sync")
    listing = setup.desk.ok("list")

    for item in ids.values():
        line = line_of(listing, item)
        assert "FORGED" in line
        assert line.endswith("rejected")
        assert "signed by handler" not in line
        result = setup.desk.run("read", item)
        assert result.exit_code == 1
        assert "FORGED TEXT" not in result.output
    assert "without a handler's signature" in line_of(listing, ids["unsigned"])
    assert "no handler of this compartment" in line_of(listing, ids["stranger"])
    assert "signature does not verify" in line_of(listing, ids["bad signature"])


def test_a_handlers_signature_moved_to_another_thread_is_rejected(setup: Setup) -> None:
    first, second = contact_in(setup), contact_in(setup)
    key = setup.desk.keystore().signing_key
    header = reply_header(first, setup.compartment_id, setup.desk.handler_id())
    sealed = crypto.encrypt_item(setup.recipients(), header, b"for the first", key)
    item = setup.server.add_item(setup.compartment_id, sealed, contact=second, direction="out")
    setup.desk.ok("sync")

    assert "the signed reply names another contact" in line_of(setup.desk.ok("list"), item)


def test_a_former_handlers_reply_says_so(setup: Setup) -> None:
    identity, key = crypto.generate_identity(), crypto.SigningKey.generate()
    former = trusted.Enrollment(identity.recipient(), key.verify_key)
    setup.kit.add_handler(DOOR, former)
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    setup.desk.ok("sync")
    contact = contact_in(setup)
    header = reply_header(contact, setup.compartment_id, former.handler_id)
    sealed = crypto.encrypt_item(setup.recipients(), header, b"old reply", key)
    item = setup.server.add_item(setup.compartment_id, sealed, contact=contact, direction="out")
    setup.kit.remove_handler(DOOR, former.handler_id)
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    setup.desk.ok("sync")

    line = line_of(setup.desk.ok("list"), item)

    assert f"signed by former handler {former.handler_id} (epoch 2, not the current one)" in line


def test_corrupted_ciphertext_is_reported_and_the_rest_still_list(setup: Setup) -> None:
    ids = [
        setup.server.add_item(setup.compartment_id, message(setup.recipients(), b"m"), contact=None)
        for _ in range(3)
    ]
    setup.desk.ok("sync")
    damaged = setup.desk.folder / "items" / f"{ids[1]}.age"
    data = bytearray(damaged.read_bytes())
    data[-20] ^= 0x01
    damaged.write_bytes(bytes(data))

    result = setup.desk.run("list")

    assert result.exit_code == 0
    assert "ERROR" in line_of(result.stdout, ids[1])
    assert "cannot be decrypted" in line_of(result.stdout, ids[1])
    for good in (ids[0], ids[2]):
        assert line_of(result.stdout, good).endswith("vouched for by the server only")


def test_read_prints_a_message_and_describes_a_file(setup: Setup) -> None:
    text = "Танки на мосту.\x1b[2J and no terminal escapes"
    msg = setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), text.encode()), contact=None
    )
    doc = setup.server.add_item(
        setup.compartment_id, file_item(setup.recipients(), "report.pdf", b"x" * 1000), contact=None
    )
    setup.desk.ok("sync")

    shown = setup.desk.ok("read", msg)
    assert "Танки на мосту." in shown
    assert "\x1b" not in shown
    assert "vouched for by the server only" in shown
    described = setup.desk.ok("read", doc)
    assert "file 'report.pdf', 1000 bytes" in described


def test_read_replaces_format_characters_that_reorder_a_line(setup: Setup) -> None:
    # A right-to-left override, the bidi isolates, zero-width characters and
    # a byte-order mark: all Unicode category Cf.
    tricks = "\u202e\u2066\u2067\u2068\u2069\u200b\u200d\ufeff"
    text = f"pay to {tricks[0]}0001 account{tricks[1:]} end"
    msg = setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), text.encode()), contact=None
    )
    setup.desk.ok("sync")

    shown = setup.desk.ok("read", msg)

    assert not any(c in shown for c in tricks)
    assert "pay to \ufffd0001 account" + "\ufffd" * 7 + " end" in shown
    assert not any(c in setup.desk.ok("list") for c in tricks)


def test_read_of_an_unknown_item_says_to_sync(setup: Setup) -> None:
    setup.desk.ok("sync")
    result = setup.desk.run("read", "0" * 32)
    assert result.exit_code == 1
    assert "run `shoal desk sync`" in result.output
