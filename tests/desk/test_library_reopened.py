"""An item opened again (``reopened`` records, :mod:`shoal.desk._library`):
it replaces what the index held of the item — verdict, text, thread, seq —
and keeps what the handler made of it; search forgets the old words; the
same answers come back one by one, at unlock (deferred search) and from a
compaction's snapshot. And the member keys this desk keeps
(:mod:`shoal.desk._members`): sealed to the desk, never silently lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shoal import crypto
from shoal.desk import _members as members
from shoal.desk._library import Filters, Library
from shoal.desk._state import Layout
from shoal.desk._verdict import key_text
from shoal.desk.errors import NotReadyError

COMPARTMENT = "a" * 32
MEMBER, OTHER = "c" * 32, "d" * 32


def record(**fields: Any) -> dict[str, Any]:
    base = {
        "t": "item",
        "id": "r" * 32,
        "seq": 3,
        "contact": MEMBER,
        "direction": "in",
        "day": "2026-11-23",
        "kind": "report",
        "standing": "server-only",
        "verdict": "signed by a key not yet recorded at vetting",
        "text": "two trucks at the depot",
        "signer": "key",
        "basis": "",
    }
    return base | fields


RECORDS = [
    record(id="m" * 32, seq=1, kind="message", text="hello", signer=None, basis=None),
    record(),
    {"t": "tags", "item": "r" * 32, "tags": ["urgent"]},
    {"t": "credibility", "item": "r" * 32, "grade": "2"},
    {"t": "read", "ids": ["r" * 32]},
    # Judged again once the key was recorded: another verdict, same words.
    record(t="reopened", standing="signed", verdict="signed by the member's key", basis="k"),
    # Came back re-sealed under a new seq, and the recorded key is another:
    # forged now, and nothing of its text is kept.
    record(t="reopened", seq=9, standing="rejected", verdict="FORGED", text="", basis="k2"),
    # An alarm the server filed under no contact, once matched to its member.
    record(id="a" * 32, seq=10, contact=None, kind="alarm", standing="rejected", text=""),
    record(
        id="a" * 32,
        t="reopened",
        seq=10,
        kind="alarm",
        contact=OTHER,
        standing="signed",
        text="DURESS",
    ),
]


def answers(library: Library) -> dict[str, Any]:
    return {
        "items": [library.item(i) for i in ("m" * 32, "r" * 32, "a" * 32)],
        "inbox": library.inbox(),
        "trucks": library.search(Filters(text="trucks")),
        "duress": [r.item_id for r in library.search(Filters(text="duress"))],
        "hello": [r.item_id for r in library.search(Filters(text="hello"))],
    }


def one_by_one() -> Library:
    library = Library(COMPARTMENT)
    for each in RECORDS:
        library.apply(each)
    return library


def test_a_reopened_item_replaces_what_was_indexed_and_keeps_the_handlers_marks() -> None:
    library = one_by_one()
    row = library.item("r" * 32)
    assert row is not None
    assert (row.seq, row.standing, row.verdict, row.text, row.basis) == (
        9, "rejected", "FORGED", "", "k2"
    )  # fmt: skip
    assert (row.tags, row.credibility, row.read) == (("urgent",), "2", True)
    assert library.search(Filters(text="trucks")) == []  # the old words are forgotten
    assert [r.item_id for r in library.search(Filters(text="duress"))] == ["a" * 32]
    [other] = [c for c in library.inbox() if c.contact_id == OTHER]
    assert (other.total, other.unread, other.last_seq) == (1, 1, 10)
    [member] = [c for c in library.inbox() if c.contact_id == MEMBER]
    assert (member.total, member.last_seq) == (2, 9)
    assert library.counts() == (3, 2)


@pytest.mark.parametrize("defer", [False, True])
def test_the_same_answers_at_unlock_and_from_a_snapshot(defer: bool) -> None:
    expected = answers(one_by_one())
    loaded = Library(COMPARTMENT)
    loaded.load(RECORDS, defer_search=defer)
    while not loaded.index_search():
        pass
    assert answers(loaded) == expected
    again = Library(COMPARTMENT)
    again.load(one_by_one().snapshot())
    assert answers(again) == expected


def test_member_keys_are_sealed_to_the_desk_and_never_silently_lost(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    identity = crypto.generate_identity()
    keystore = crypto.Keystore((identity,), crypto.SigningKey.generate())
    key = crypto.SigningKey.generate().verify_key
    text = key_text(key)
    assert members.load(layout, [identity]) == {}
    assert members.remember(layout, keystore, MEMBER, text)
    assert not members.remember(layout, keystore, MEMBER, text)  # nothing new
    assert not members.remember(layout, keystore, OTHER, None)
    assert members.load(layout, [identity]) == {MEMBER: key}
    assert text.encode() not in layout.members.read_bytes()
    assert MEMBER.encode() not in layout.members.read_bytes()
    with pytest.raises(NotReadyError, match="damaged or not sealed to this desk"):
        members.load(layout, [crypto.generate_identity()])
    layout.members.write_bytes(layout.members.read_bytes()[:-1])
    with pytest.raises(NotReadyError, match="damaged"):
        members.load(layout, [identity])
