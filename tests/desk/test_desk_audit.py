"""The desk's side of the audit log (shoal.desk._audit): the entries it
appends, and the alarms it raises when the server rolls the log back,
rewrites it, swaps its key, shows desks different histories, or slips in
entries no handler of the compartment signed."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from desk_kit import DOOR, Desk, Setup, message
from fake_server import ELSEWHERE, FakeAuditEntry, FakeAuditLog

from shoal import crypto, org
from shoal.command import _state
from shoal.desk import _audit as audit
from shoal.desk._api import HandlerAPI
from shoal.desk._lifecycle import State
from shoal.desk.errors import ServerError
from shoal.org import _tlog as tlog

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = "meet me by the grain silo at dawn"


def state(desk: Desk) -> dict[str, Any]:
    return json.loads((desk.folder / "audit.json").read_text())


def head(desk: Desk) -> tlog.Checkpoint:
    """The checkpoint the desk remembers (read without verifying: a test)."""
    note = state(desk)["checkpoint"]
    return tlog.Checkpoint.parse(note[: note.index("\n\n") + 1])


def contact_with_message(setup: Setup) -> str:
    contact = setup.server.add_contact(setup.compartment_id, crypto.generate_identity().recipient())
    sealed = message(setup.recipients(), SECRET.encode())
    setup.server.add_item(setup.compartment_id, sealed, contact=contact)
    return contact


def run(desk: Desk, *args: str) -> str:
    """stdout and stderr (where warnings go) of a command that succeeds."""
    result = desk.run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def alarms(output: str) -> list[str]:
    return [line for line in output.splitlines() if "ALARM: audit log" in line]


# What desks append.


def test_a_move_appends_one_entry_of_the_action_and_reason_and_nothing_written(
    setup: Setup,
) -> None:
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    before = state(setup.desk)["checkpoint"]
    out = run(setup.desk, "move", contact, "in-contact", "--reason", "answered our first questions")
    assert "Audit entry 0 recorded." in out and alarms(out) == []
    assert len(setup.server.audit.entries) == 1
    keystore = setup.desk.keystore()
    [(envelope, content)] = setup.audit_entries(keystore)
    assert envelope.signer == keystore.signing_key.verify_key
    assert dict(envelope.header) == {
        "kind": "audit",
        "compartment": setup.compartment_id,
        "handler": setup.desk.handler_id(),
    }
    assert content == {
        "action": "move",
        "contact": contact,
        "item": None,
        "from": "new",
        "to": "in-contact",
        "reason": "answered our first questions",
        "time": content["time"],
        "checkpoint": before,  # the desk's latest verified view, sent along
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", content["time"])
    blob = setup.server.audit.entries[0].blob
    assert SECRET not in json.dumps(content) and SECRET.encode() not in blob
    # Sealed to the compartment's epoch, command's reading identity included.
    assert crypto.stanza_count(io.BytesIO(blob)) == len(setup.recipients())
    assert crypto.decrypt_item(blob, [setup.kit.reading])[1] == audit.entry_content(
        audit.Action.move(contact, State.NEW, State.IN_CONTACT, content["reason"]),
        now=datetime.strptime(content["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        checkpoint=before,
    )


def test_cutting_ties_and_deleting_append_their_entries_each_carrying_the_newer_view(
    setup: Setup,
) -> None:
    contact = contact_with_message(setup)
    other = contact_with_message(setup)
    run(setup.desk, "sync")
    item = next(i.item_id for i in setup.server.items if i.contact == contact)
    outputs = [
        run(setup.desk, "cut", contact, "--reason", "reports never checked out"),
        run(setup.desk, "delete", item, "--reason", "a duplicate"),
        run(setup.desk, "delete-contact", other),
    ]
    assert [alarms(out) for out in outputs] == [[], [], []]
    assert "Audit entry 2 recorded." in outputs[-1]
    assert (
        item not in {i.item_id for i in setup.server.items} and other not in setup.server.contacts
    )
    opened = [content for _, content in setup.audit_entries(setup.desk.keystore())]
    assert [
        (c["action"], c["contact"], c["item"], c["from"], c["to"], c["reason"]) for c in opened
    ] == [
        ("move", contact, None, "new", "cut", "reports never checked out"),
        ("delete-item", None, item, None, None, "a duplicate"),
        ("delete-contact", other, None, None, None, ""),
    ]
    # After each append the desk checked the log again: the next entry
    # carries a checkpoint one larger.
    sizes = [_size(c["checkpoint"]) for c in opened]
    assert sizes == [0, 1, 2]
    assert head(setup.desk).size == 3 and state(setup.desk)["seen"] == 2


def _size(note: str) -> int:
    return int(note.split("\n")[1])


def test_a_reason_too_long_for_a_deletion_is_refused_before_anything_is_done(
    setup: Setup,
) -> None:
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    result = setup.desk.run("delete-contact", contact, "--reason", "x" * 2001)
    assert result.exit_code == 2
    assert contact in setup.server.contacts and setup.server.audit.entries == []


# The checks of every sync.


def test_the_first_sync_pins_the_log_key_and_the_empty_tree(setup: Setup) -> None:
    out = run(setup.desk, "sync")
    assert alarms(out) == []
    saved = state(setup.desk)
    assert saved["key"] == str(setup.server.audit_verifier)
    assert saved["seen"] == -1
    assert head(setup.desk) == tlog.Checkpoint(setup.server.audit_origin, 0, tlog.EMPTY_ROOT)


def valid_entry(
    setup: Setup,
    keystore: crypto.Keystore,
    checkpoint: str | None = None,
    *,
    header: dict[str, str] | None = None,
    content: bytes | None = None,
    signer: crypto.SigningKey | None = None,
    recipients: list[crypto.AgeRecipient] | None = None,
    sign: bool = True,
) -> bytes:
    """An entry as a desk of the compartment seals it, or with one part changed."""
    key = signer or keystore.signing_key
    action = audit.Action.move("c" * 32, State.NEW, State.CUT, "r")
    return crypto.encrypt_item(
        recipients or setup.recipients(),
        header
        or {
            "kind": "audit",
            "compartment": setup.compartment_id,
            "handler": org.handler_id_for(key.verify_key),
        },
        content or audit.entry_content(action, now=NOW, checkpoint=checkpoint),
        signer=key if sign else None,
    )


def test_a_normal_sync_raises_no_alarm_advances_and_checks_every_page(setup: Setup) -> None:
    run(setup.desk, "sync")
    first = state(setup.desk)["checkpoint"]
    keystore = setup.desk.keystore()
    setup.server.audit_page = 1
    for _ in range(3):
        setup.server.audit_add(setup.compartment_id, valid_entry(setup, keystore, first))
    setup.server.audit_add("x" * 32, b"another compartment's entry: never listed here")
    setup.server.log.clear()
    out = run(setup.desk, "sync")
    assert alarms(out) == []
    assert head(setup.desk).size == 4 and state(setup.desk)["seen"] == 2
    assert "GET /api/v1/handler/audit/checkpoint?from=0" in setup.server.log
    entries = [line for line in setup.server.log if "/audit/entries/" in line]
    downloads = [line for line in entries if "/proof" not in line]
    assert len(downloads) == 3  # each entry once, over three pages
    assert len(entries) == 6  # and each one's inclusion proof
    # A second sync asks from the size seen and downloads nothing again.
    setup.server.log.clear()
    assert alarms(run(setup.desk, "sync")) == []
    assert "GET /api/v1/handler/audit/checkpoint?from=4" in setup.server.log
    assert not [line for line in setup.server.log if "/audit/entries/" in line]


def two_moves(setup: Setup) -> None:
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    assert alarms(run(setup.desk, "move", contact, "in-contact", "--reason", "first answer")) == []
    assert alarms(run(setup.desk, "move", contact, "vetting", "--reason", "asked to vet")) == []
    assert head(setup.desk).size == 2


@pytest.mark.parametrize("head_past_from", [False, True])
def test_a_log_rolled_back_raises_an_alarm_and_the_checkpoint_is_kept(
    setup: Setup, head_past_from: bool
) -> None:
    two_moves(setup)
    saved = (setup.desk.folder / "audit.json").read_bytes()
    setup.server.audit_rollback(1)
    setup.server.audit_head_past_from = head_past_from
    setup.server.log.clear()
    out = run(setup.desk, "sync")
    assert [a for a in alarms(out) if "rolled back" in a and "seen 2 entries" in a]
    assert (setup.desk.folder / "audit.json").read_bytes() == saved
    # The contract: the server refuses a proof from 2 (its log has 1 entry),
    # and the desk asks for the head alone. Or the server answers with its
    # head at once. Either way the desk finds it smaller.
    asked = [line for line in setup.server.log if "/audit/checkpoint" in line]
    assert asked == [
        "GET /api/v1/handler/audit/checkpoint?from=2",
        *([] if head_past_from else ["GET /api/v1/handler/audit/checkpoint?from=0"]),
    ]
    assert "rolled back" in run(setup.desk, "sync")  # again, until someone looks


@pytest.mark.parametrize("grown", [False, True])
def test_a_rewritten_history_raises_an_alarm(setup: Setup, grown: bool) -> None:
    two_moves(setup)
    saved = (setup.desk.folder / "audit.json").read_bytes()
    keystore = setup.desk.keystore()
    setup.server.audit_rewrite(0, valid_entry(setup, keystore))
    if grown:
        setup.server.audit_add(setup.compartment_id, valid_entry(setup, keystore))
    out = run(setup.desk, "sync")
    assert [a for a in alarms(out) if "history rewritten" in a]
    assert (setup.desk.folder / "audit.json").read_bytes() == saved


def test_a_log_key_swapped_raises_an_alarm_and_the_pinned_key_stays(setup: Setup) -> None:
    two_moves(setup)
    pinned = state(setup.desk)["key"]
    setup.server.audit_swap_key()
    out = run(setup.desk, "sync")
    assert [a for a in alarms(out) if "another key than the one this desk pinned" in a]
    assert state(setup.desk)["key"] == pinned
    # Entries appended meanwhile are not looked at under a key not trusted.
    assert head(setup.desk).size == 2


@pytest.mark.parametrize("forked", [False, True])
def test_a_split_view_between_two_desks_is_caught_by_one_of_them(
    setup: Setup, tmp_path: Path, forked: bool
) -> None:
    contact = contact_with_message(setup)
    desk_b = setup.add_desk(tmp_path / "desk-b")
    outputs = [run(setup.desk, "sync"), run(desk_b, "sync")]
    if forked:
        setup.server.audit_fork(desk_b.handler_id())
    outputs += [run(setup.desk, "sync"), run(desk_b, "sync")]
    outputs.append(run(setup.desk, "move", contact, "in-contact", "--reason", "answered"))
    outputs.append(run(desk_b, "move", contact, "vetting", "--reason", "vetting now"))
    outputs += [run(setup.desk, "sync"), run(desk_b, "sync")]
    found = [a for out in outputs for a in alarms(out)]
    if not forked:
        assert found == []
        return
    assert found, "nobody noticed the split view"
    assert all("split view" in a for a in found)
    assert [a for a in found if f"shows handler {desk_b.handler_id()} another history" in a]


def _unsigned(setup: Setup, keystore: crypto.Keystore) -> bytes:
    return valid_entry(setup, keystore, sign=False)


def _stranger(setup: Setup, keystore: crypto.Keystore) -> bytes:
    return valid_entry(setup, keystore, signer=crypto.SigningKey.generate())


def _other_compartment(setup: Setup, keystore: crypto.Keystore) -> bytes:
    handler = org.handler_id_for(keystore.signing_key.verify_key)
    header = {"kind": "audit", "compartment": "f" * 32, "handler": handler}
    return valid_entry(setup, keystore, header=header)


def _other_handler_named(setup: Setup, keystore: crypto.Keystore) -> bytes:
    header = {"kind": "audit", "compartment": setup.compartment_id, "handler": "0" * 32}
    return valid_entry(setup, keystore, header=header)


def _not_an_entry(setup: Setup, keystore: crypto.Keystore) -> bytes:
    return valid_entry(setup, keystore, content=json.dumps({"text": SECRET}).encode())


def _not_for_this_desk(setup: Setup, keystore: crypto.Keystore) -> bytes:
    return valid_entry(setup, keystore, recipients=[crypto.generate_identity().recipient()])


def _foreign_checkpoint(setup: Setup, keystore: crypto.Keystore) -> bytes:
    other_key = crypto.SigningKey.generate()
    origin = setup.server.audit_origin
    note = tlog.sign_checkpoint(
        tlog.Checkpoint(origin, 0, tlog.EMPTY_ROOT), crypto.NoteSigner(origin, other_key)
    )
    return valid_entry(setup, keystore, note)


def _well_formed(setup: Setup, keystore: crypto.Keystore) -> bytes:
    return valid_entry(setup, keystore, state(setup.desk)["checkpoint"])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_unsigned, "entry 0 is not signed: forged"),
        (_stranger, "entry 0 is not signed by a handler of this compartment"),
        (_other_compartment, "is not their audit entry for this compartment"),
        (_other_handler_named, "is not their audit entry for this compartment"),
        (_not_an_entry, "is malformed"),
        (_not_for_this_desk, "entry 0 cannot be opened"),
        (_foreign_checkpoint, "split view"),
        (_well_formed, None),
    ],
)
def test_an_entry_no_handler_of_the_compartment_wrote_raises_an_alarm(
    setup: Setup, make: Callable[[Setup, crypto.Keystore], bytes], expected: str | None
) -> None:
    run(setup.desk, "sync")
    setup.server.audit_add(setup.compartment_id, make(setup, setup.desk.keystore()))
    result = setup.desk.run("sync")
    assert result.exit_code == 0  # an alarm, not a crash
    found = alarms(result.output)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found
        assert SECRET not in result.output
    assert state(setup.desk)["seen"] == 0  # reported once


def test_an_entry_carrying_a_larger_checkpoint_of_another_tree_raises_an_alarm(
    setup: Setup,
) -> None:
    run(setup.desk, "sync")
    elsewhere = FakeAuditLog([FakeAuditEntry(ELSEWHERE, bytes([i])) for i in range(5)])
    larger = setup.server.audit_checkpoint(elsewhere, 5)
    setup.server.audit_add(setup.compartment_id, valid_entry(setup, setup.desk.keystore(), larger))
    [found] = alarms(run(setup.desk, "sync"))
    assert "split view" in found and "no proof from size 1 to 5" in found


# A server that does not play along.


def answering_appends_with(setup: Setup, checkpoint: Callable[[], str]) -> Desk:
    """The desk, talking to the fake server whose answers to appends carry
    ``checkpoint()`` instead of the head."""

    def answer(request: httpx.Request) -> httpx.Response:
        response = setup.server.handle(request)
        if (request.method, request.url.path) == ("POST", "/api/v1/handler/audit"):
            index = json.loads(response.content)["index"]
            return httpx.Response(201, json={"index": index, "checkpoint": checkpoint()})
        return response

    return Desk(setup.desk.folder, httpx.MockTransport(answer), setup.desk.passphrase_file)


def test_an_append_answered_with_a_checkpoint_that_misses_the_entry_raises_an_alarm(
    setup: Setup,
) -> None:
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    desk = answering_appends_with(
        setup, lambda: setup.server.audit_checkpoint(setup.server.audit, 0)
    )
    [found] = alarms(run(desk, "move", contact, "in-contact", "--reason", "answered"))
    assert "does not cover it (size 0)" in found


def test_an_append_answered_with_another_history_raises_a_split_view_alarm(
    setup: Setup,
) -> None:
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    other = FakeAuditLog([FakeAuditEntry(setup.compartment_id, b"not the entry")])
    desk = answering_appends_with(setup, lambda: setup.server.audit_checkpoint(other, 1))
    [found] = alarms(run(desk, "move", contact, "in-contact", "--reason", "answered"))
    assert "split view: the server answered this desk's entry 0 with another history" in found
    # The honest answer raises none (the same wrapper, the real head).
    honest = answering_appends_with(
        setup, lambda: setup.server.audit_checkpoint(setup.server.audit, setup.server.audit.size)
    )
    assert alarms(run(honest, "move", contact, "vetting", "--reason", "vetting")) == []


def refusing_audit(setup: Setup) -> Desk:
    """The desk, talking to the fake server with its audit routes refused."""

    def answer(request: httpx.Request) -> httpx.Response:
        if "/handler/audit" in request.url.path:
            return httpx.Response(503, json={"error": "not today"})
        return setup.server.handle(request)

    return Desk(setup.desk.folder, httpx.MockTransport(answer), setup.desk.passphrase_file)


def test_a_server_hiding_its_log_is_an_alarm_on_sync_and_an_error_on_a_move(
    setup: Setup,
) -> None:
    contact = contact_with_message(setup)
    desk = refusing_audit(setup)
    result = desk.run("sync")
    assert result.exit_code == 0
    assert [a for a in alarms(result.output) if "does not show its checkpoint" in a]
    moved = desk.run("move", contact, "in-contact", "--reason", "answered")
    assert moved.exit_code == 1
    assert f"Contact {contact}: new → in-contact." in moved.output  # done, and said so
    assert "refused the audit entry (503): not today" in moved.output


# The HTTP adapter's strictness.


def api(body: object, status: int = 200) -> HandlerAPI:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return HandlerAPI(httpx.Client(base_url="http://shoal.test", transport=transport))


HASH = "A" * 43 + "="


@pytest.mark.parametrize(
    "body",
    [
        {"key": "k", "origin": "o", "checkpoint": "c"},
        {"key": "k", "origin": "o", "checkpoint": "c", "proof": [HASH[:-2] + "=="]},
        {"key": "k", "origin": "o", "checkpoint": "c", "proof": ["B" * 43 + "="]},  # stray bits
        {"key": "k", "origin": "o", "checkpoint": "c", "proof": [HASH] * 129},
        {"key": "k\x1b[2J", "origin": "o", "checkpoint": "c", "proof": []},
        {"key": "k", "origin": "o", "checkpoint": 7, "proof": []},
        [],
    ],
)
def test_malformed_audit_checkpoints_are_server_errors(body: object) -> None:
    with pytest.raises(ServerError):
        api(body).audit_checkpoint(0)


def test_a_well_formed_audit_checkpoint_is_parsed() -> None:
    body = {"key": "k", "origin": "o", "checkpoint": "c\n\n— x y\n", "proof": [HASH]}
    assert api(body).audit_checkpoint(1, 2) == ("k", "o", "c\n\n— x y\n", [bytes(32)])


ENTRY = {"index": 3, "blob": "b" * 64, "size": 100}


@pytest.mark.parametrize(
    "body",
    [
        {"entries": [{**ENTRY, "index": 2}]},  # at the cursor
        {"entries": [ENTRY, ENTRY]},  # not ascending
        {"entries": [{**ENTRY, "index": True}]},
        {"entries": [{**ENTRY, "size": 64 * 1024 + 1}]},
        {"entries": [{**ENTRY, "blob": "../x"}]},
        {"entries": [{**ENTRY, "index": 3 + i} for i in range(1001)]},
        {"entries": "none"},
        {},
    ],
)
def test_malformed_audit_entry_lists_are_server_errors(body: object) -> None:
    with pytest.raises(ServerError):
        api(body).audit_entries(2)


@pytest.mark.parametrize(
    "body", [{"index": -1, "checkpoint": "c"}, {"index": 1}, {"index": "1", "checkpoint": "c"}]
)
def test_malformed_answers_to_an_append_are_server_errors(body: object) -> None:
    with pytest.raises(ServerError):
        api(body, 201).append_audit(b"age")


@pytest.mark.parametrize(
    ("size", "sent"), [(3, b"abcd"), (5, b"abcd"), (None, bytes(64 * 1024 + 1))]
)
def test_an_entry_is_held_to_its_announced_size(size: int | None, sent: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=sent))
    client = HandlerAPI(httpx.Client(base_url="http://shoal.test", transport=transport))
    with pytest.raises(ServerError):
        client.audit_entry(0, size)


# The pure part.


@pytest.mark.parametrize(
    "fields",
    [
        ("move", "c" * 32, None, "new", "member", "r"),  # not a transition the table allows
        ("move", "c" * 32, None, "new", "cut", "  "),  # a move needs a reason
        ("move", None, None, "new", "cut", "r"),
        ("delete-item", None, None, None, None, ""),
        ("delete-contact", "c" * 32, "i" * 32, None, None, ""),
        ("delete-contact", "c" * 32, None, "new", None, ""),
        ("read", "c" * 32, None, None, None, ""),
        ("delete-item", None, "../x", None, None, ""),
        ("delete-item", None, "i" * 32, None, None, "x" * 2001),
    ],
)
def test_actions_the_desk_never_makes_are_refused(fields: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        audit.Action(*fields)


def test_the_log_origin_is_the_organizations(setup: Setup) -> None:
    assert audit.log_origin(setup.kit.organization.org_id) == setup.server.audit_origin


def test_entries_reach_command_even_where_command_does_not_read_the_items(
    setup: Setup,
) -> None:
    setup.kit.state = _state.set_command_reads(setup.kit.state, DOOR, False)
    setup.kit.sign_epoch(DOOR)
    setup.server.document = setup.kit.document()
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    run(setup.desk, "move", contact, "in-contact", "--reason", "checked")
    [entry] = [e for e in setup.server.audit.entries if e.compartment_id == setup.compartment_id]
    # The epoch leaves command out of the items, not out of the log.
    assert setup.kit.reading.recipient() not in setup.recipients()
    envelope, content = crypto.decrypt_item(entry.blob, [setup.kit.reading])
    assert envelope.header["kind"] == "audit" and b"checked" in content


def test_an_entry_shown_out_of_its_place_in_the_log_raises_an_alarm(setup: Setup) -> None:
    contact = contact_with_message(setup)
    run(setup.desk, "sync")
    run(setup.desk, "move", contact, "in-contact", "--reason", "one")
    run(setup.desk, "move", contact, "vetting", "--reason", "two")
    second = setup.add_desk(setup.desk.folder.parent / "second")
    setup.server.audit_misplaced = 0  # every proof is for the first leaf
    out = run(second, "sync")
    assert any("entry 1 is not the leaf the log holds at 1" in a for a in alarms(out))
    setup.server.audit_misplaced = None
    assert not any("is not the leaf" in a for a in alarms(run(setup.add_desk(
        setup.desk.folder.parent / "third"), "sync")))  # fmt: skip
