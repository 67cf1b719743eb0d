"""A late report re-sealed, end to end over a real ``shoal serve``.

The demo's door "field" gets two more handlers through the real command
line: B (in epoch 2, with the original handler A) and D (in epoch 3 only,
signed when command removes A). A member seals a report to epoch 2 on
their device; it reaches the server only after A was removed — sealed to
A among others. B's desk, a handler of epoch 2, opens it, checks it and
re-seals the same signed envelope to epoch 3; the server replaces the
blob and gives the item a new seq. Then: A's key opens nothing of it any
more, the old blob is gone, D (who could not open the late ciphertext)
reads it at its next sync in place of the undecryptable copy — once, as
the member's signed report — and a desk that re-seals after another did
is told so (409) and carries on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from desk_kit import DOOR as KIT_DOOR
from desk_kit import Setup, message

from _served_org import Org
from member_kit import DeskDir, Member, run
from shoal import crypto
from shoal.desk._api import HandlerAPI
from shoal.desk._reseal import Outcome, reseal
from shoal.desk._state import ItemMeta, load_index
from shoal.desk._workbench import Workbench

#: Not "news": the members' tests share the served organization and its
#: door "news", whose handler this module removes.
DOOR = "field"
SIGNED = "signed by the member's key recorded at vetting"
TEXT = "CANARY-late-report-the-bridge-is-mined-0d4b"


class Quiet:
    def expect(self, count: int) -> None:
        pass

    def advance(self) -> None:
        pass


@dataclass
class Late:
    served: Org
    a: DeskDir
    b: DeskDir
    d: DeskDir
    member: Member
    contact: str
    item: str
    #: The item as the server listed it to B before the re-seal.
    before: ItemMeta


def new_desk(served: Org, name: str) -> DeskDir:
    """A handler's desk: keystore made, added by command (not yet signed)."""
    folder = served.root / f"desk-{DOOR}-{name}"
    desk = DeskDir(folder, DeskDir.of(served, DOOR).passphrase_file)
    run("desk", "keygen", "--dir", str(desk.folder), "--passphrase-file",
        str(desk.passphrase_file), "--work-factor", "10")  # fmt: skip
    run("command", "handler", "add", "--dir", str(served.root / "command"), "--door", DOOR,
        "--bundle", str(desk.folder / "enrollment.txt"))  # fmt: skip
    return desk


def enroll(served: Org, desk: DeskDir) -> None:
    state = json.loads((served.root / "command" / "organization.json").read_text())
    run("desk", "enroll", "--dir", str(desk.folder), "--server", served.url, "--root-key",
        served.shown["root key"], "--door", DOOR, "--compartment",
        state["compartments"][DOOR]["id"])  # fmt: skip


def publish(served: Org, number: int) -> None:
    """The server operator imports the epoch command signed."""
    note = served.root / "command" / "notes" / f"epoch-{DOOR}-{number}.note"
    run("admin", "import", "--data", str(served.root / "server"), str(note))


@pytest.fixture(scope="module")
def late(served: Org) -> Late:
    return _late(served)


def _late(served: Org) -> Late:
    command = ["--dir", str(served.root / "command"), "--door", DOOR]
    command_pass = ["--passphrase-file", str(served.root / "passphrases" / "command.passphrase")]
    a = DeskDir.of(served, DOOR)
    b = new_desk(served, "b")
    run("command", "epoch", *command, *command_pass)
    publish(served, 2)
    enroll(served, b)
    a.run("sync")
    b.run("sync")
    assert a.trust().current.number == b.trust().current.number == 2

    member = Member(served, DOOR)
    epoch2 = b.trust().current
    offer = member.offer_key(epoch2)
    b.run("sync")
    contact = b.list_lines()[offer].split("contact ")[1].split()[0]
    # Written on the device while epoch 2 was current: sealed to A and B.
    sealed = member.seal(epoch2, "report", TEXT.encode(), report="f" * 32, parts=1)

    d = new_desk(served, "d")
    run("command", "handler", "remove", *command, "--handler", a.handler_id(), *command_pass)
    publish(served, 3)
    enroll(served, d)
    # B vets the member now: the record is sealed to epoch 3, which D reads;
    # and syncs, as desks do: from then on B knows epoch 3 is the server's.
    b.run("sync")
    b.run("move", contact, "in-contact", "--reason", "answered")
    b.run("move", contact, "vetting", "--reason", "key compared", "--member-key",
          member.key_text)  # fmt: skip
    # D syncs first: epoch 3 accepted, no late item yet.
    bench = Workbench.unlock(d.layout, d.passphrase_file.read_text().strip())
    bench.sync(Quiet(), Quiet())
    bench.close()

    # The outbox sends it now, declaring the epoch it was sealed to.
    item = member.upload(sealed, 2)
    # D again: it holds the late item but cannot open it (never in epoch 2).
    bench = Workbench.unlock(d.layout, d.passphrase_file.read_text().strip())
    report = bench.sync(Quiet(), Quiet())
    assert report.resealed == 0
    row = bench.library.item(item)
    assert row is not None and "cannot be decrypted" in (row.error or "")
    bench.close()
    before = next(i for i in load_index(d.layout).items if i.item_id == item)
    assert before.epoch == 2
    return Late(served, a, b, d, member, contact, item, before)


@pytest.fixture(scope="module")
def resealed(late: Late) -> str:
    """B's sync, which re-seals the late item: its output."""
    synced = late.b.run("sync")
    return synced.output


def test_the_desk_that_can_open_it_reseals_it_to_the_current_epoch(
    late: Late, resealed: str
) -> None:
    assert "Epoch 3: 1 new item(s)" in resealed
    assert "1 late item(s) re-sealed to epoch 3." in resealed
    assert "ALARM" not in resealed and "warning" not in resealed
    [meta] = [i for i in load_index(late.b.layout).items if i.item_id == late.item]
    assert meta.epoch == 3 and meta.seq > late.before.seq
    assert load_index(late.b.layout).late == ()
    # What the server lists now: the same id, the current epoch, a new seq.
    with httpx.Client(base_url=late.served.url, timeout=30) as client:
        api = HandlerAPI(client)
        api.login(late.b.keystore().signing_key, late.b.trust().compartment_id)
        listed = [i for i in api.items(late.before.seq).items if i.item_id == late.item]
    assert [(i.epoch, i.seq) for i in listed] == [(3, meta.seq)]
    assert listed[0].blob != late.before.blob


def test_the_removed_handler_opens_nothing_of_it_any_more(late: Late, resealed: str) -> None:
    blobs = late.served.root / "server" / "blobs"
    [meta] = [i for i in load_index(late.b.layout).items if i.item_id == late.item]
    stored = [p for p in blobs.rglob(meta.blob) if p.is_file()]
    assert len(stored) == 1
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(stored[0].read_bytes(), list(late.a.keystore().identities))
    assert not [p for p in blobs.rglob(late.before.blob) if p.is_file()]  # the old one deleted
    # B holds the server's copy, stanza for stanza, and it opens to the member's report.
    held = (late.b.folder / "items" / f"{late.item}.age").read_bytes()
    assert hashlib.sha256(held).hexdigest() == hashlib.sha256(stored[0].read_bytes()).hexdigest()
    envelope, content = crypto.decrypt_item(held, list(late.b.keystore().identities))
    assert content == TEXT.encode()
    assert envelope.signer == late.member.key.verify_key  # the member's signature still verifies
    assert envelope.header["epoch"] == 2  # the epoch the member sealed to, kept true


def test_every_desk_shows_it_once_as_the_members_signed_report(late: Late, resealed: str) -> None:
    lines = late.b.list_lines()
    assert list(lines).count(late.item) == 1
    assert SIGNED in lines[late.item] and f"contact {late.contact}" in lines[late.item]

    bench = Workbench.unlock(late.d.layout, late.d.passphrase_file.read_text().strip())
    try:
        report = bench.sync(Quiet(), Quiet())
        assert report.new_items == 0  # the same item, taken back: no second one
        assert report.warnings == ()
        row = bench.library.item(late.item)
        assert row is not None and row.error is None
        assert (row.standing, row.verdict, row.text) == ("signed", SIGNED, TEXT)
        thread = bench.library.conversation(late.contact)
        assert [r.item_id for r in thread].count(late.item) == 1
        contact = bench.library.contact(late.contact)
        assert contact is not None and contact.total == len(thread)
    finally:
        bench.close()
    indexed = [i for i in load_index(late.d.layout).items if i.item_id == late.item]
    assert len(indexed) == 1 and indexed[0].epoch == 3
    assert SIGNED in late.d.list_lines()[late.item]


def test_a_desk_that_reseals_after_another_is_told_and_carries_on(
    late: Late, resealed: str
) -> None:
    with httpx.Client(base_url=late.served.url, timeout=30) as client:
        api = HandlerAPI(client)
        keystore = late.b.keystore()
        trust = late.b.trust()
        api.login(keystore.signing_key, trust.compartment_id)
        outcome = reseal(api, late.b.layout, keystore, trust, late.before)
    assert outcome is Outcome.TAKEN
    assert not list((late.b.folder / "items").glob(".*"))  # nothing staged is left behind
    assert not list((late.b.folder / "items").glob("*.resealed"))


def test_a_later_sync_changes_nothing(late: Late, resealed: str, tmp_path: Path) -> None:
    before = (late.b.folder / "index.json").read_bytes()
    assert "Epoch 3: 0 new item(s)" in late.b.run("sync").output
    after = json.loads((late.b.folder / "index.json").read_text())
    assert after["items"] == json.loads(before)["items"]


# The same paths against the in-memory server, where it can lie.


def test_a_server_sending_a_held_item_again_with_other_content_is_refused(setup: Setup) -> None:
    contact = setup.server.add_contact(setup.compartment_id, setup.kit.reading.recipient())
    item_id = setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"what was sent"), contact=contact
    )
    setup.desk.ok("sync")
    held = (setup.desk.folder / "items" / f"{item_id}.age").read_bytes()
    # "Re-sealed": the same id under a new seq, but a message of the server's own.
    swap = message(setup.recipients(), b"what the server wants read")
    _relist(setup, item_id, swap)

    result = setup.desk.run("sync")

    assert result.exit_code == 0, result.output
    assert f"ALARM: the server sent item {item_id} again with other content" in result.output
    assert (setup.desk.folder / "items" / f"{item_id}.age").read_bytes() == held
    index = json.loads((setup.desk.folder / "index.json").read_text())
    assert [i["id"] for i in index["items"]] == [item_id]
    assert not list((setup.desk.folder / "items").glob(".*"))  # nothing left behind


def test_a_held_item_sent_again_resealed_replaces_the_copy_once(setup: Setup) -> None:
    contact = setup.server.add_contact(setup.compartment_id, setup.kit.reading.recipient())
    sealed = message(setup.recipients(), b"the same words")
    item_id = setup.server.add_item(setup.compartment_id, sealed, contact=contact)
    setup.desk.ok("sync")
    keystore = setup.desk.keystore()
    plain = crypto.decrypt(sealed, list(keystore.identities))
    again = crypto.encrypt(plain, setup.recipients())  # the same envelope, sealed anew
    _relist(setup, item_id, again)

    out = setup.desk.ok("sync")

    assert "0 new item(s)" in out
    assert (setup.desk.folder / "items" / f"{item_id}.age").read_bytes() == again
    index = json.loads((setup.desk.folder / "index.json").read_text())
    assert [(i["id"], i["seq"]) for i in index["items"]] == [(item_id, 2)]


def test_a_late_item_the_server_will_not_take_is_a_warning_not_a_failed_sync(
    setup: Setup,
) -> None:
    old = setup.recipients()
    setup.kit.sign_epoch(KIT_DOOR)
    setup.server.document = setup.kit.document()
    setup.desk.ok("sync")  # epoch 2 is the server's from now on
    contact = setup.server.add_contact(setup.compartment_id, setup.kit.reading.recipient())
    item_id = setup.server.add_item(
        setup.compartment_id, message(old, b"late"), contact=contact, epoch=1
    )

    result = setup.desk.run("sync")  # this fake server has no re-seal route: 404

    assert result.exit_code == 0, result.output
    assert f"late item {item_id} was not re-sealed: refused by the server" in result.output
    assert json.loads((setup.desk.folder / "index.json").read_text())["late"] == []
    assert "0 new item(s)" in setup.desk.ok("sync")  # not tried again


def test_only_items_stored_after_their_epoch_was_replaced_are_late(setup: Setup) -> None:
    """What was sent while its epoch was current is not late, even if this
    desk first sees it after accepting a newer epoch; an item the server
    stored after one sealed to a newer epoch is, in the same sync."""
    setup.desk.ok("sync")  # epoch 1 accepted, nothing sent yet
    contact = setup.server.add_contact(setup.compartment_id, setup.kit.reading.recipient())
    first = setup.recipients()
    on_time = setup.server.add_item(
        setup.compartment_id, message(first, b"sent at epoch 1"), contact=contact, epoch=1
    )
    setup.kit.sign_epoch(KIT_DOOR)
    setup.server.document = setup.kit.document()
    newer = setup.server.add_item(
        setup.compartment_id, message(setup.recipients(), b"at 2"), contact=contact, epoch=2
    )
    late = setup.server.add_item(
        setup.compartment_id, message(first, b"sent late"), contact=contact, epoch=1
    )

    result = setup.desk.run("sync")

    assert f"late item {late} was not re-sealed" in result.output  # it was tried
    assert on_time not in result.output and newer not in result.output
    index = json.loads((setup.desk.folder / "index.json").read_text())
    assert index["watermark"] == 2


def _relist(setup: Setup, item_id: str, blob: bytes) -> None:
    """The fake server lists ``item_id`` again, under a new seq, with ``blob``."""
    [item] = [i for i in setup.server.items if i.item_id == item_id]
    digest = hashlib.sha256(blob).hexdigest()
    setup.server.blobs[digest] = blob
    item.blob = digest
    item.seq = max(i.seq for i in setup.server.items) + 1
