"""The unlocked desk (:class:`Workbench`) over a desk synced from the fake server.

Items are decrypted once into vault records: what a forged, damaged or
missing item becomes, what a forward is judged against, and what the
handler's grades, tags, notes and read marks become — across a close and
an unlock, and never in plaintext on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from desk_kit import DOOR, PASSPHRASE, Desk, Setup, badly_signed, file_item, message, reply_header

from _seizure import corpus_of, hits
from shoal import crypto, org, trusted
from shoal.desk import _workbench as workbench_module
from shoal.desk._library import Filters
from shoal.desk._pseudonym import pseudonym
from shoal.desk._state import Layout
from shoal.desk._verdict import Standing, judge_forward
from shoal.desk._workbench import Workbench
from shoal.desk.errors import ItemError, NotReadyError

MESSAGE = "CANARY-message-the-convoy-at-dawn-4e1f"
FILE_NAME = "canary-file-name-b7c2.pdf"
FILE_BYTES = b"%PDF-1.4 canary-file-content-93aa " * 50
NOTE = "CANARY-note-met-at-the-bridge-61d0"
TAG = "canary-tag-77ef"
REPLY = "CANARY-reply-signed-0c3e"
FORGED = "CANARY-forged-text-never-kept-2b8d"
FORWARD = "CANARY-forward-text-5a90"
FIELD = "field"


class Counter:
    def __init__(self) -> None:
        self.expected = 0
        self.done = 0

    def expect(self, count: int) -> None:
        self.expected += count

    def advance(self) -> None:
        self.done += 1


class Synced:
    """A desk with one of every kind of item synced, not indexed yet."""

    def __init__(self, setup: Setup, tmp_path: Path) -> None:
        self.setup = setup
        server, compartment = setup.server, setup.compartment_id
        # Another compartment, whose handler forwards to ours.
        setup.kit.add_compartment(FIELD)
        self.field_desk = Desk(
            tmp_path / "field-desk", server.transport(), setup.desk.passphrase_file
        )
        self.field_desk.ok("keygen", "--work-factor", "10")
        setup.kit.add_handler(FIELD, self.field_desk.enrollment())
        setup.kit.sign_epoch(FIELD)
        server.document = setup.kit.document()
        self.field_epoch = setup.kit.epoch(FIELD, 1)
        self.field_key = self.field_desk.keystore().signing_key

        recipients = setup.recipients()
        keystore = setup.desk.keystore()
        handler = setup.desk.handler_id()
        self.contact = server.add_contact(compartment, setup.kit.reading.recipient())
        self.other = server.add_contact(compartment, setup.kit.reading.recipient())
        add = server.add_item
        self.message = add(compartment, message(recipients, MESSAGE.encode()), contact=self.contact)
        self.file = add(
            compartment, file_item(recipients, FILE_NAME, FILE_BYTES), contact=self.contact
        )
        signed = crypto.encrypt_item(
            recipients,
            reply_header(self.contact, compartment, handler),
            REPLY.encode(),
            signer=keystore.signing_key,
        )
        self.reply = add(compartment, signed, contact=self.contact, direction="out")
        stranger = crypto.SigningKey.generate()
        self.stranger_reply = add(
            compartment,
            crypto.encrypt_item(
                recipients,
                reply_header(self.contact, compartment, handler),
                FORGED.encode(),
                signer=stranger,
            ),
            contact=self.contact,
            direction="out",
        )
        self.unsigned_reply = add(
            compartment,
            crypto.encrypt_item(
                recipients, reply_header(self.contact, compartment, handler), FORGED.encode()
            ),
            contact=self.contact,
            direction="out",
        )
        self.bad_signature = add(
            compartment,
            badly_signed(
                recipients, reply_header(self.contact, compartment, handler), FORGED.encode()
            ),
            contact=self.contact,
        )
        # A real signature moved to another thread: the header names the first contact.
        self.moved = add(compartment, signed, contact=self.other, direction="out")
        self.damaged = add(compartment, message(recipients, b"to be damaged"), contact=self.other)
        self.missing = add(compartment, message(recipients, b"to be lost"), contact=self.other)
        self.later = add(compartment, message(recipients, b"after the damage"), contact=self.other)
        self.foreign = add(
            compartment,
            message([crypto.generate_identity().recipient()], b"not to us"),
            contact=self.other,
        )
        self.forward = add(
            compartment,
            self.forwarded(recipients, self.field_key),
            contact=None,
            direction="forwarded",
        )
        self.forward_elsewhere = add(
            compartment,
            self.forwarded(recipients, self.field_key, to="f" * 32),
            contact=None,
            direction="forwarded",
        )
        self.forward_by_stranger = add(
            compartment,
            self.forwarded(recipients, stranger),
            contact=None,
            direction="forwarded",
        )
        self.forward_unknown_door = add(
            compartment,
            self.forwarded(recipients, self.field_key, door="nowhere"),
            contact=None,
            direction="forwarded",
        )
        setup.desk.ok("sync")
        items = setup.desk.folder / "items"
        path = items / f"{self.damaged}.age"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        (items / f"{self.missing}.age").unlink()
        self.layout = Layout(setup.desk.folder)

    def forwarded(
        self,
        recipients: list[crypto.AgeRecipient],
        signer: crypto.SigningKey,
        *,
        to: str | None = None,
        door: str = FIELD,
    ) -> bytes:
        header = {
            "kind": "forward",
            "time": "2026-11-23T08:00:00Z",
            "from": self.field_epoch.compartment_id,
            "from_door": door,
            "to": to or self.setup.compartment_id,
            "handler": org.handler_id_for(signer.verify_key),
            "original": {"kind": "message", "day": "2026-11-20", "credibility": "2"},
        }
        return crypto.encrypt_item(recipients, header, FORWARD.encode(), signer=signer)

    def senders(self, door: str) -> org.Epoch | None:
        return self.field_epoch if door == FIELD else None

    def unlock(self) -> Workbench:
        return Workbench.unlock(self.layout, PASSPHRASE)

    def indexed(self) -> Workbench:
        bench = self.unlock()
        counter = Counter()
        touched = bench.index_new(counter, self.senders)
        assert counter.expected == counter.done == 15
        assert touched == {self.contact, self.other}
        return bench


@pytest.fixture
def synced(setup: Setup, tmp_path: Path) -> Synced:
    return Synced(setup, tmp_path)


def row(bench: Workbench, item_id: str) -> Any:
    found = bench.library.item(item_id)
    assert found is not None, item_id
    return found


def test_a_wrong_passphrase_opens_nothing(synced: Synced) -> None:
    with pytest.raises(trusted.WrongPassphraseError):
        Workbench.unlock(synced.layout, "not the passphrase")
    assert not (synced.layout.root / "vault").exists()


def test_every_item_gets_a_record_and_a_verdict(synced: Synced) -> None:
    bench = synced.indexed()
    good = row(bench, synced.message)
    assert (good.kind, good.standing, good.text) == ("message", "server-only", MESSAGE)
    assert good.time == "2026-11-23T06:00:00Z"
    a_file = row(bench, synced.file)
    assert (a_file.kind, a_file.name, a_file.text, a_file.size) == (
        "file",
        FILE_NAME,
        "",
        len(FILE_BYTES),
    )
    reply = row(bench, synced.reply)
    assert (reply.standing, reply.text) == ("signed", REPLY)
    assert reply.verdict == f"signed by handler {synced.setup.desk.handler_id()}"

    # Forged: rejected, and nothing of what they claim is kept.
    for item_id, why in [
        (synced.stranger_reply, "signed by a key that is no handler of this compartment"),
        (synced.unsigned_reply, "without a handler's signature"),
        (synced.bad_signature, "its signature does not verify"),
        (synced.moved, "the signed reply names another contact"),
    ]:
        forged = row(bench, item_id)
        assert forged.standing == Standing.REJECTED.value, item_id
        assert why in forged.verdict and forged.verdict.startswith("FORGED")
        assert (forged.text, forged.name, forged.time, forged.image) == ("", None, None, None)
    # Damaged, missing, or sealed to others: an error each, and the rest indexed.
    damaged = row(bench, synced.damaged)
    assert damaged.standing == "error" and "cannot be decrypted" in (damaged.error or "")
    missing = row(bench, synced.missing)
    assert missing.standing == "error" and "missing" in (missing.error or "")
    foreign = row(bench, synced.foreign)
    assert foreign.standing == "error" and foreign.text == ""
    later = row(bench, synced.later)
    assert (later.standing, later.text) == ("server-only", "after the damage")

    found = [r.item_id for r in bench.library.search(Filters(text="canary"))]
    assert sorted(found) == sorted([synced.message, synced.file, synced.reply, synced.forward])
    assert bench.library.search(Filters(text="forged")) == []
    bench.close()


def test_forwards_are_judged_against_the_sender_door(synced: Synced) -> None:
    bench = synced.indexed()
    forward = row(bench, synced.forward)
    assert forward.standing == "signed" and forward.contact is None
    assert forward.verdict.startswith("forwarded by handler ")
    assert forward.text == FORWARD
    assert forward.source is not None and "credibility 2" in forward.source
    for item_id in (
        synced.forward_elsewhere,
        synced.forward_by_stranger,
        synced.forward_unknown_door,
    ):
        rejected = row(bench, item_id)
        assert rejected.standing == "rejected", item_id
        assert rejected.text == "" and rejected.source is None
    assert [r.item_id for r in bench.library.forwards()] == [
        synced.forward_unknown_door,
        synced.forward_by_stranger,
        synced.forward_elsewhere,
        synced.forward,
    ]


def test_forwards_without_any_sender_are_all_rejected(synced: Synced) -> None:
    bench = synced.unlock()
    bench.index_new(Counter())  # no door vouched for
    assert row(bench, synced.forward).standing == "rejected"


def test_judge_forward(synced: Synced) -> None:
    ours = synced.setup.compartment_id
    field = synced.field_epoch
    key = synced.field_key.verify_key
    header = {"kind": "forward", "from": field.compartment_id, "to": ours}

    def verdict(h: dict[str, Any], signer: crypto.VerifyKey | None, sender: Any) -> str:
        return judge_forward(h, signer, sender, compartment=ours).standing.value

    assert verdict(header, key, field) == "signed"
    assert verdict(header | {"to": "f" * 32}, key, field) == "rejected"
    assert verdict(header | {"kind": "message"}, key, field) == "rejected"
    assert verdict(header, None, field) == "rejected"
    assert verdict(header, crypto.SigningKey.generate().verify_key, field) == "rejected"
    assert verdict(header, key, None) == "rejected"
    # Our own compartment's epoch vouches for no forward from "field".
    news = synced.setup.kit.epoch(DOOR, synced.setup.kit.state.compartment(DOOR).epoch)
    assert verdict(header, key, news) == "rejected"
    assert verdict(header | {"from": news.compartment_id}, key, news) == "rejected"


def test_the_handlers_marks_are_checked(synced: Synced) -> None:
    bench = synced.indexed()
    for bad in ("G", "7", "", "a", "AB"):
        with pytest.raises(ValueError, match="one of A, B"):
            bench.grade_source(synced.contact, bad)
    for bad in ("G", "7", "0", "", "1 "):
        with pytest.raises(ValueError, match="one of 1, 2"):
            bench.grade_report(synced.message, bad)
    with pytest.raises(NotReadyError):
        bench.grade_report("0" * 32, "2")
    with pytest.raises(NotReadyError):
        bench.tag("0" * 32, ["x"])
    # Marks on a contact the desk does not know would add it to the inbox.
    with pytest.raises(NotReadyError):
        bench.grade_source("0" * 32, "B")
    with pytest.raises(NotReadyError):
        bench.note("0" * 32, "a note")
    with pytest.raises(ValueError, match="at most"):
        bench.note(synced.contact, "x" * (workbench_module.MAX_NOTE + 1))
    with pytest.raises(ValueError, match="at most 20 tags"):
        bench.tag(synced.message, [f"t{n}" for n in range(workbench_module.MAX_TAGS + 1)])
    assert bench.library.counts() == (15, 2)
    assert bench.library.all_tags() == []


def test_tags_are_cleaned_and_bounded(synced: Synced) -> None:
    bench = synced.indexed()
    bench.tag(
        synced.message,
        ["  urgent ", "urgent", "", "   ", "two\nlines", "tab\there", "x" * 100, "Urgent"],
    )
    assert row(bench, synced.message).tags == (
        "urgent",
        "two lines",
        "tab here",
        "x" * workbench_module.MAX_TAG,
        "Urgent",
    )
    bench.tag(synced.message, [f"t{n}" for n in range(20)] + ["t0", " t1 "])  # 20 once cleaned
    assert len(row(bench, synced.message).tags) == 20
    bench.tag(synced.message, [])
    assert row(bench, synced.message).tags == ()


def test_everything_survives_a_close_and_an_unlock(synced: Synced) -> None:
    bench = synced.indexed()
    bench.grade_source(synced.contact, "B")
    bench.grade_report(synced.message, "2")
    bench.tag(synced.message, [TAG, "urgent"])
    bench.note(synced.contact, NOTE)
    bench.note(synced.contact, NOTE + " (amended)")
    bench.note(synced.other, "x" * workbench_module.MAX_NOTE)
    bench.mark_read([synced.message, synced.file, synced.reply])
    bench.mark_read([synced.message])  # nothing new: no record
    before = {
        "contacts": bench.library.inbox(limit=100),
        "items": [bench.library.conversation(c) for c in (synced.contact, synced.other)],
        "forwards": bench.library.forwards(),
    }
    files = sorted(p.name for p in (synced.layout.root / "vault").iterdir())
    bench.close()

    again = synced.unlock()
    after = {
        "contacts": again.library.inbox(limit=100),
        "items": [again.library.conversation(c) for c in (synced.contact, synced.other)],
        "forwards": again.library.forwards(),
    }
    assert after == before
    contact = again.library.contact(synced.contact)
    assert contact is not None
    assert (contact.reliability, contact.note) == ("B", NOTE + " (amended)")
    # The message and the file were read; our reply never counted; the
    # forged items wait to be looked at (shown, as forged), those labelled
    # as our own replies too: a server's label hides no forgery.
    thread = again.library.conversation(synced.contact)
    forged = [r for r in thread if r.standing == "rejected"]
    assert forged and all(not r.read for r in forged)
    assert contact.unread == len(forged) == 3
    message_row = row(again, synced.message)
    assert (message_row.credibility, message_row.tags, message_row.read) == (
        "2",
        (TAG, "urgent"),
        True,
    )
    assert [r.item_id for r in again.library.search(Filters(tag=TAG))] == [synced.message]

    # Nothing is indexed twice, forged and damaged items included.
    counter = Counter()
    assert again.index_new(counter, synced.senders) == set()
    assert counter.expected == 0
    assert sorted(p.name for p in (synced.layout.root / "vault").iterdir()) == files
    again.close()


def test_content_is_streamed_only_from_acceptable_items(synced: Synced) -> None:
    bench = synced.indexed()
    assert b"".join(bench.stream(synced.file)) == FILE_BYTES
    assert b"".join(bench.stream(synced.message)) == MESSAGE.encode()
    # Refused at the call, before anything is promised to a browser.
    for item_id in (synced.stranger_reply, synced.bad_signature, synced.damaged, synced.missing):
        with pytest.raises(ItemError, match="rejected or is damaged"):
            bench.stream(item_id)
    with pytest.raises(NotReadyError):
        bench.stream("0" * 32)
    with pytest.raises(ItemError, match="not an image"):
        bench.image(synced.file)
    # Damaged on disk after it was indexed: the stream fails, never ends cleanly.
    path = synced.layout.item_path(synced.file)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ItemError, match="no longer opens"):
        b"".join(bench.stream(synced.file))


def test_nothing_is_on_disk_in_plaintext(synced: Synced) -> None:
    bench = synced.indexed()
    bench.tag(synced.message, [TAG])
    bench.note(synced.contact, NOTE)
    bench.mark_read([synced.message])
    bench.vault.compact(bench.library.snapshot())
    bench.note(synced.other, NOTE + "-2")
    bench.close()

    corpus = corpus_of(synced.layout.root)
    assert any("vault" in name for name in corpus)
    for secret in (MESSAGE, FILE_NAME, NOTE, TAG, REPLY, FORGED, FORWARD, "canary-file-content"):
        assert hits(corpus, secret.encode()) == [], secret
    assert hits(corpus, FILE_BYTES[:40]) == []


def test_the_compartment_names_the_pseudonyms(synced: Synced) -> None:
    bench = synced.indexed()
    contact = bench.library.contact(synced.contact)
    assert contact is not None
    assert contact.pseudonym == pseudonym(synced.setup.compartment_id, synced.contact)
