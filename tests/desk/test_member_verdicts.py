"""The verdict table for a member's items (:mod:`shoal.desk._verdict`), row by row.

Pure: headers, signers and the member keys recorded at vetting in,
verdicts out. The same rows, end to end over a real server, are in
``test_member_reports.py``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from desk_kit import DOOR, OrgKit

from shoal import crypto, trusted
from shoal.desk._verdict import (
    DURESS,
    MEMBER_KINDS,
    Standing,
    Verdict,
    basis,
    judge,
    owner,
    thread,
)
from shoal.trusted import Trust

MEMBER = crypto.SigningKey.generate().verify_key
OTHER = crypto.SigningKey.generate().verify_key
CONTACT, ELSEWHERE = "c" * 32, "d" * 32


@pytest.fixture(scope="module")
def trust() -> Trust:
    """Our compartment at epoch 2 (epoch 1 accepted before it)."""
    kit = OrgKit()
    kit.add_compartment(DOOR)
    handler = crypto.generate_identity(), crypto.SigningKey.generate()
    kit.add_handler(DOOR, trusted.Enrollment(handler[0].recipient(), handler[1].verify_key))
    kit.sign_epoch(DOOR)
    kit.sign_epoch(DOOR)
    epochs = (kit.epoch(DOOR, 1), kit.epoch(DOOR, 2))
    return Trust(kit.organization, epochs, 1)


def header(trust: Trust, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "time": "2026-11-23T06:00:00Z",
        "epoch": 1,
        "compartment": trust.compartment_id,
        **extra,
    }


def verdict(
    trust: Trust,
    head: dict[str, Any],
    signer: crypto.VerifyKey | None,
    *,
    contact: str | None = CONTACT,
    recorded: dict[str, crypto.VerifyKey] | None = None,
) -> Verdict:
    members = {CONTACT: MEMBER} if recorded is None else recorded
    return judge(head, signer, trust, contact=contact, members=members)


@pytest.mark.parametrize("kind", ["report", "report-file"])
def test_a_report_signed_by_the_recorded_key_is_signed(trust: Trust, kind: str) -> None:
    found = verdict(trust, header(trust, kind, report="a" * 32), MEMBER)
    assert found == Verdict(Standing.SIGNED, "signed by the member's key recorded at vetting")


@pytest.mark.parametrize("kind", ["report", "report-file"])
def test_a_report_before_any_key_is_recorded_is_vouched_for_by_the_server_only(
    trust: Trust, kind: str
) -> None:
    found = verdict(trust, header(trust, kind), MEMBER, recorded={ELSEWHERE: OTHER})
    assert found == Verdict(
        Standing.SERVER_ONLY,
        "signed by a key not yet recorded at vetting: vouched for by the server only",
    )


@pytest.mark.parametrize("kind", sorted(MEMBER_KINDS))
def test_unsigned_member_items_are_forged(trust: Trust, kind: str) -> None:
    found = verdict(trust, header(trust, kind), None)
    assert found.standing is Standing.REJECTED
    assert found.text == f"FORGED: a member's {kind} without a signature — rejected"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"compartment": "e" * 32}, "sealed for another compartment"),
        ({"compartment": None}, "sealed for another compartment"),
        ({"epoch": 3}, "sealed to epoch 3, never accepted here"),
        ({"epoch": 0}, "names no epoch"),
        ({"epoch": True}, "names no epoch"),
        ({"epoch": "1"}, "names no epoch"),
    ],
)
@pytest.mark.parametrize("kind", sorted(MEMBER_KINDS))
def test_a_header_for_another_compartment_or_a_future_epoch_is_forged(
    trust: Trust, kind: str, changes: dict[str, Any], why: str
) -> None:
    head = header(trust, kind, key=base64.b64encode(MEMBER.public_bytes).decode()) | changes
    found = verdict(trust, head, MEMBER, contact=None if kind == "alarm" else CONTACT)
    assert found.standing is Standing.REJECTED
    assert why in found.text


def test_the_current_epoch_is_accepted_and_an_old_one_too(trust: Trust) -> None:
    # An old epoch is what a late report carries: still the member's.
    for number in (1, 2):
        head = header(trust, "report") | {"epoch": number}
        assert verdict(trust, head, MEMBER).standing is Standing.SIGNED


def test_a_report_signed_by_another_key_than_the_recorded_one_is_forged(trust: Trust) -> None:
    for signer in (OTHER, crypto.SigningKey.generate().verify_key):
        found = verdict(trust, header(trust, "report"), signer)
        assert found == Verdict(
            Standing.REJECTED,
            "FORGED: signed by another key than the member's recorded at vetting — rejected",
        )


def test_a_real_report_moved_to_another_thread_is_forged(trust: Trust) -> None:
    recorded = {CONTACT: MEMBER, ELSEWHERE: OTHER}
    found = verdict(trust, header(trust, "report"), MEMBER, contact=ELSEWHERE, recorded=recorded)
    assert found.standing is Standing.REJECTED
    filed_nowhere = verdict(trust, header(trust, "report"), MEMBER, contact=None)
    assert filed_nowhere.standing is Standing.REJECTED


def test_a_self_signed_key_offer_is_shown_to_compare_out_of_band(trust: Trust) -> None:
    text = base64.b64encode(MEMBER.public_bytes).decode()
    offer = header(trust, "member-key", key=text)
    found = verdict(trust, offer, MEMBER, recorded={})
    assert found == Verdict(
        Standing.SERVER_ONLY,
        f"offers signing key {text} — compare it with the member out of band, "
        "then record it at vetting",
    )
    recorded = verdict(trust, offer, MEMBER)
    assert recorded == Verdict(Standing.SIGNED, f"signing key {text}, recorded at vetting")


@pytest.mark.parametrize(
    "offered", [base64.b64encode(OTHER.public_bytes).decode(), None, 7, "not base64!"]
)
def test_a_key_offer_not_signed_by_the_key_it_offers_is_forged(
    trust: Trust, offered: object
) -> None:
    found = verdict(trust, header(trust, "member-key", key=offered), MEMBER, recorded={})
    assert found.standing is Standing.REJECTED
    assert "offered under another key's signature" in found.text


def test_an_alarm_goes_to_the_member_whose_recorded_key_signed_it(trust: Trust) -> None:
    recorded = {CONTACT: MEMBER, ELSEWHERE: OTHER}
    alarm = header(trust, "alarm")
    found = verdict(trust, alarm, OTHER, contact=None, recorded=recorded)
    assert found.standing is Standing.SIGNED
    assert found.text.startswith(DURESS)
    assert thread(alarm, OTHER, recorded, contact=None) == ELSEWHERE
    assert owner(OTHER, recorded) == ELSEWHERE


def test_an_alarm_signed_by_no_recorded_key_is_forged(trust: Trust) -> None:
    alarm = header(trust, "alarm")
    stranger = crypto.SigningKey.generate().verify_key
    found = verdict(trust, alarm, stranger, contact=None)
    assert found == Verdict(
        Standing.REJECTED,
        "FORGED: an alarm signed by no member key recorded at vetting — rejected",
    )
    assert thread(alarm, stranger, {CONTACT: MEMBER}, contact=None) is None
    # Filed by the server under another member than the signer's: forged too.
    moved = verdict(trust, alarm, MEMBER, contact=ELSEWHERE)
    assert moved.standing is Standing.REJECTED


def test_a_handler_key_signs_no_member_item(trust: Trust) -> None:
    handler = trust.current.handlers[0].verify_key
    assert verdict(trust, header(trust, "report"), handler).standing is Standing.REJECTED
    assert verdict(trust, header(trust, "alarm"), handler, contact=None).standing is (
        Standing.REJECTED
    )


def test_the_basis_of_a_verdict_changes_exactly_when_the_verdict_may(trust: Trust) -> None:
    """The desk judges again what was judged on another basis: each change
    of recorded keys that can change a verdict changes its basis."""
    before: dict[str, crypto.VerifyKey] = {}
    after = {CONTACT: MEMBER}
    for kind in ("report", "report-file", "member-key"):
        assert basis(kind, MEMBER, before, contact=CONTACT) != basis(
            kind, MEMBER, after, contact=CONTACT
        )
        # Another contact's key: nothing changes for this one.
        assert basis(kind, MEMBER, before, contact=CONTACT) == basis(
            kind, MEMBER, {ELSEWHERE: OTHER}, contact=CONTACT
        )
    assert basis("alarm", MEMBER, before, contact=None) != basis(
        "alarm", MEMBER, after, contact=None
    )
    assert basis("message", None, after, contact=CONTACT) == ""
