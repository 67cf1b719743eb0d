"""Which replies a contact may see: only what a current handler signed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _server_kit import OrgKit, new_handler, reply_item

from shoal import crypto
from shoal.server._replies import open_reply

CONTACT_ID = "c0ffee" * 5 + "00"


@pytest.fixture
def contact() -> crypto.AgeIdentity:
    return crypto.generate_identity()


def header(test_org: OrgKit, handler_id: str, **changes: str) -> dict[str, str]:
    made = {
        "kind": "reply",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contact": CONTACT_ID,
        "compartment": test_org.compartments["north"].compartment_id,
        "handler": handler_id,
    }
    return made | changes


def opened(test_org: OrgKit, contact: crypto.AgeIdentity, item: bytes) -> str | None:
    return open_reply(item, contact, test_org.epoch("north"), CONTACT_ID)


def test_a_reply_signed_by_a_handler_of_the_epoch_is_shown(
    test_org: OrgKit, contact: crypto.AgeIdentity
) -> None:
    handler = test_org.compartments["north"].handlers[1]
    item = reply_item(str(contact.recipient()), "hello", test_org, "north", CONTACT_ID, handler)
    assert opened(test_org, contact, item) == "hello"


def test_an_unsigned_reply_is_not_shown(test_org: OrgKit, contact: crypto.AgeIdentity) -> None:
    handler = test_org.compartments["north"].handlers[0]
    item = crypto.encrypt_item(
        [contact.recipient(), *test_org.epoch("north").recipients()],
        header(test_org, handler.handler_id),
        b"forged",
    )
    assert opened(test_org, contact, item) is None


@pytest.mark.parametrize("who", ["stranger", "other compartment"])
def test_a_reply_signed_by_a_key_outside_the_epoch_is_not_shown(
    test_org: OrgKit, contact: crypto.AgeIdentity, who: str
) -> None:
    outsider = new_handler() if who == "stranger" else test_org.compartments["south"].handlers[0]
    # The forger even names a real handler of the compartment in the header.
    real = test_org.compartments["north"].handlers[0]
    item = reply_item(
        str(contact.recipient()),
        "forged",
        test_org,
        "north",
        CONTACT_ID,
        real,
        signing_key=outsider.signing,
    )
    assert opened(test_org, contact, item) is None


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "message"},
        {"contact": "0" * 32},
        {"compartment": "0" * 32},
        {"handler": "0" * 32},
    ],
)
def test_a_signed_reply_with_the_wrong_header_is_not_shown(
    test_org: OrgKit, contact: crypto.AgeIdentity, change: dict[str, str]
) -> None:
    handler = test_org.compartments["north"].handlers[0]
    item = reply_item(
        str(contact.recipient()),
        "misdirected",
        test_org,
        "north",
        CONTACT_ID,
        handler,
        header=header(test_org, handler.handler_id, **change),
    )
    assert opened(test_org, contact, item) is None


def test_a_reply_the_contact_cannot_decrypt_is_not_shown(
    test_org: OrgKit, contact: crypto.AgeIdentity
) -> None:
    handler = test_org.compartments["north"].handlers[0]
    someone_else = crypto.generate_identity()
    item = reply_item(
        str(someone_else.recipient()), "not for you", test_org, "north", CONTACT_ID, handler
    )
    assert opened(test_org, contact, item) is None


@pytest.mark.parametrize("garbage", [b"", b"age-encryption.org/v1\n", b"\x00" * 1000])
def test_garbage_is_not_shown(
    test_org: OrgKit, contact: crypto.AgeIdentity, garbage: bytes
) -> None:
    assert opened(test_org, contact, garbage) is None


def test_a_handler_removed_from_the_epoch_no_longer_vouches(
    test_org: OrgKit, contact: crypto.AgeIdentity
) -> None:
    north = test_org.compartments["north"]
    item = reply_item(
        str(contact.recipient()), "old", test_org, "north", CONTACT_ID, north.handlers[0]
    )
    later = test_org.epoch("north", 2, handlers=north.handlers[1:])
    assert open_reply(item, contact, later, CONTACT_ID) is None
