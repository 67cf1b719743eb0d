"""The desk's in-memory index: records in, inbox, conversations and search out.

The same records give the same answers however they arrive: one by one
(sync), all at once (unlock), or as a compaction's snapshot. Search takes
the handler's words as words, never as FTS5 syntax. Pseudonyms and the
Admiralty grades are pure tables, checked as such.
"""

# ruff: noqa: RUF001 (Cyrillic, Greek and full-width letters are what these tests are about)

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.desk import _grading as grading
from shoal.desk._library import Filters, ItemRow, Library
from shoal.desk._pseudonym import pseudonym

COMPARTMENT = "a" * 32
CONTACTS = ["c" * 31 + str(n) for n in range(4)]
STATES = ["new", "in-contact", "vetting", "member", "suspended", "cut"]
DAYS = ["2026-01-01", "2026-01-15", "2026-02-01", "2026-03-10"]
#: One token each for the FTS5 tokenizer; accents and case on purpose.
VOCABULARY = [
    "convoy", "Bridge", "DAWN", "café", "naïve", "Straße",
    "Ёлка", "ёжик", "колонна", "Мост", "Йошкар", "Ελλάδα", "दुनिया",
]  # fmt: skip
TAGS = ["urgent", "Urgent", "50%", "a_b", "a%b", "ab", "срочно", "СРОЧНО", "x\\y", "it's"]


def item(n: int, **fields: Any) -> dict[str, Any]:
    record = {
        "t": "item",
        "id": f"item-{n}",
        "seq": n,
        "contact": CONTACTS[0],
        "direction": "in",
        "day": DAYS[0],
        "kind": "message",
        "standing": "server-only",
        "verdict": "vouched for by the server only",
        "text": "",
    }
    return record | fields


# -- what a library answers, all of it ---------------------------------------


def answers(library: Library) -> dict[str, Any]:
    contacts = library.inbox(limit=10_000)
    every = Filters()
    return {
        "counts": library.counts(),
        "inbox": contacts,
        "by state": {s: library.inbox(state=s, limit=10_000) for s in STATES},
        "conversations": {c.contact_id: library.conversation(c.contact_id) for c in contacts},
        "forwards": library.forwards(),
        "tags": library.all_tags(),
        "doors": library.forward_doors(),
        "search": library.search(every, limit=10_000),
        "words": {w: library.search(Filters(text=w), limit=10_000) for w in VOCABULARY},
        "filters": {
            f: library.search(f, limit=10_000)
            for f in [
                Filters(state="member"),
                Filters(reliability="B"),
                Filters(credibility="2"),
                Filters(tag="urgent"),
                Filters(tag="a_b"),
                Filters(since=DAYS[1], until=DAYS[2]),
                Filters(text="co", state="vetting", since=DAYS[1]),
            ]
        },
    }


# -- realistic record streams: what a workbench writes ------------------------


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records as a desk makes them: items in the server's order, and the
    handler's marks on items and contacts that exist by then."""
    records: list[dict[str, Any]] = []
    items: list[str] = []
    contacts: list[str] = []
    seq = 0
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["item"] * 4 + ["state", "read", "mark", "contact mark"]))
        if kind == "item" or not items:
            seq += draw(st.integers(1, 3))
            direction = draw(st.sampled_from(["in", "in", "out", "forwarded"]))
            contact = None if direction == "forwarded" else draw(st.sampled_from(CONTACTS))
            words = draw(st.lists(st.sampled_from(VOCABULARY), max_size=3))
            record = item(
                seq,
                contact=contact,
                direction=direction,
                day=draw(st.sampled_from(DAYS)),
                text=" ".join(words),
            )
            if draw(st.booleans()):
                record["name"] = draw(st.sampled_from(VOCABULARY)) + ".jpg"
                record["image"] = "jpeg"
                record["size"] = draw(st.integers(0, 10**9))
                del record["text"]  # a file: no text kept
            if draw(st.integers(0, 9)) == 0:  # a forged one: no text either
                record = {k: v for k, v in record.items() if k != "text"}
                record |= {"kind": "?", "standing": "rejected", "verdict": "FORGED"}
            if items and draw(st.integers(0, 14)) == 0:
                record["id"] = draw(st.sampled_from(items))  # the same item twice
            if contact is not None and contact not in contacts and record["id"] not in items:
                contacts.append(contact)  # a duplicate is ignored whole: not its contact
            items.append(record["id"])
            records.append(record)
        elif kind == "state":
            contact = draw(st.sampled_from(CONTACTS))
            contacts.append(contact)
            record = {
                "t": "state",
                "contact": contact,
                "state": draw(st.sampled_from(STATES)),
                "steps": json.dumps([{"to": draw(st.sampled_from(STATES))}]),
                "member_key": draw(st.none() | st.just("age1member")),
            }
            records.append(record)
        elif kind == "read":
            ids = draw(st.lists(st.sampled_from(items), max_size=4))
            records.append({"t": "read", "ids": ids})
        elif kind == "mark":
            target = draw(st.sampled_from(items))
            mark = draw(st.sampled_from(["credibility", "tags", "forwarded"]))
            if mark == "credibility":
                records.append(
                    {"t": mark, "item": target, "grade": draw(st.sampled_from("123456"))}
                )
            elif mark == "tags":
                tags = draw(st.lists(st.sampled_from(TAGS), max_size=3, unique=True))
                records.append({"t": mark, "item": target, "tags": tags})
            else:
                door = draw(st.sampled_from(["field", "desk"]))
                records.append({"t": mark, "item": target, "to": door})
        elif contacts:
            contact = draw(st.sampled_from(contacts))
            if draw(st.booleans()):
                grade = draw(st.sampled_from("ABCDEF"))
                records.append({"t": "reliability", "contact": contact, "grade": grade})
            else:
                note = draw(st.sampled_from(["", "met twice", "Ёлка note"]))
                records.append({"t": "note", "contact": contact, "text": note})
        if draw(st.integers(0, 19)) == 0:
            records.append({"t": "from-a-newer-desk", "x": 1})
    return records


def applied(records: list[dict[str, Any]]) -> Library:
    library = Library(COMPARTMENT)
    for record in records:
        library.apply(record)
    return library


def loaded(records: Any) -> Library:
    library = Library(COMPARTMENT)
    library.load(records)
    return library


@settings(max_examples=60, deadline=None)
@given(streams(), st.data())
def test_one_by_one_all_at_once_and_from_a_snapshot_agree(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    one_by_one = applied(records)
    expected = answers(one_by_one)
    assert answers(loaded(records)) == expected
    snapshot = list(one_by_one.snapshot())
    assert answers(loaded(snapshot)) == expected
    # A snapshot of a snapshot is the same snapshot: compaction is stable.
    assert list(loaded(snapshot).snapshot()) == snapshot
    # Unlock, then sync some more.
    split = data.draw(st.integers(0, len(records)))
    resumed = loaded(records[:split])
    for record in records[split:]:
        resumed.apply(record)
    assert answers(resumed) == expected


def _fold(word: str) -> str:
    """The model of the index's folding: marks dropped, lower case."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)
    ).lower()


@settings(max_examples=60, deadline=None)
@given(streams(), st.data())
def test_answers_match_a_model_of_the_records(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    library = applied(records)
    # The model: first record of each item wins; marks on top.
    items: dict[str, dict[str, Any]] = {}
    contacts: dict[str, dict[str, Any]] = {}
    for record in records:
        kind = record["t"]
        if kind == "item" and record["id"] not in items:
            items[record["id"]] = {**record, "read": False, "tags": [], "cred": None}
            if record["contact"] is not None:
                contacts.setdefault(record["contact"], {"state": "new", "rel": None})
        elif kind == "read":
            for i in record["ids"]:
                items[i]["read"] = True
        elif kind == "tags":
            items[record["item"]]["tags"] = record["tags"]
        elif kind == "credibility":
            items[record["item"]]["cred"] = record["grade"]
        elif kind == "state":
            contacts.setdefault(record["contact"], {"state": "new", "rel": None})
            contacts[record["contact"]]["state"] = record["state"]
        elif kind == "reliability":
            contacts[record["contact"]]["rel"] = record["grade"]

    assert library.counts() == (len(items), len(contacts))
    inbox = library.inbox(limit=1000)
    assert {c.contact_id for c in inbox} == set(contacts)
    for row in inbox:
        mine = [i for i in items.values() if i["contact"] == row.contact_id]
        assert row.total == len(mine)
        # Unread: what came in and was not opened; our own replies never,
        # unless forged (a server labelling forgeries "out" hides nothing).
        assert row.unread == sum(
            1
            for i in mine
            if (i["direction"] != "out" or i.get("standing") == "rejected") and not i["read"]
        )
        assert row.last_seq == max((i["seq"] for i in mine), default=0)
        assert row.pseudonym == pseudonym(COMPARTMENT, row.contact_id)
        assert row.state == contacts[row.contact_id]["state"]
    # Newest activity first, then by id: a stable order for paging.
    assert [(-c.last_seq, c.contact_id) for c in inbox] == sorted(
        (-c.last_seq, c.contact_id) for c in inbox
    )
    assert library.inbox(offset=1, limit=2) == inbox[1:3]

    newest_first = list(reversed(items.values()))

    def found(filters: Filters) -> list[str]:
        return [r.item_id for r in library.search(filters, limit=1000)]

    # Words: each a prefix of some word of the text or file name, any case,
    # any accents, composed or not.
    word = data.draw(st.sampled_from(VOCABULARY))
    prefix = word[: data.draw(st.integers(1, len(word)))]
    typed = data.draw(st.sampled_from([prefix, prefix.upper(), prefix.lower()]))
    typed = unicodedata.normalize(data.draw(st.sampled_from(["NFC", "NFD"])), typed)

    def has(i: dict[str, Any], query: str) -> bool:
        tokens = re.split(r"[\s.]+", _fold(i.get("text", "") + " " + i.get("name", "")))
        return any(t.startswith(_fold(query)) for t in tokens if t)

    assert found(Filters(text=typed)) == [i["id"] for i in newest_first if has(i, typed)]

    state = data.draw(st.sampled_from(["", *STATES]))
    reliability = data.draw(st.sampled_from(["", "A", "B"]))
    credibility = data.draw(st.sampled_from(["", "1", "2"]))
    tag = data.draw(st.sampled_from(["", *TAGS]))
    since = data.draw(st.sampled_from(["", *DAYS]))
    until = data.draw(st.sampled_from(["", *DAYS]))
    text = data.draw(st.sampled_from(["", typed]))

    def keep(i: dict[str, Any]) -> bool:
        contact = contacts.get(i["contact"]) if i["contact"] else None
        return (
            (not text or has(i, text))
            and (not state or (contact is not None and contact["state"] == state))
            and (not reliability or (contact is not None and contact["rel"] == reliability))
            and (not credibility or i["cred"] == credibility)
            and (not tag or tag in i["tags"])
            and (not since or i["day"] >= since)
            and (not until or i["day"] <= until)
        )

    filters = Filters(text, state, reliability, credibility, tag, since, until)
    assert found(filters) == [i["id"] for i in newest_first if keep(i)]


# -- unread, one case at a time ------------------------------------------------


def test_read_marks_and_our_own_items() -> None:
    library = applied(
        [
            item(1),
            item(2, direction="out"),  # our reply: never unread
            item(3),
            item(4, contact=None, direction="forwarded"),
            item(5, contact=CONTACTS[1], day=DAYS[2]),
        ]
    )
    first, second = library.contact(CONTACTS[0]), library.contact(CONTACTS[1])
    assert first is not None and (first.total, first.unread) == (3, 2)
    assert second is not None and (second.total, second.unread) == (1, 1)
    assert [c.contact_id for c in library.inbox()] == [CONTACTS[1], CONTACTS[0]]

    library.apply({"t": "read", "ids": ["item-1", "item-1", "item-2", "unknown"]})
    library.apply({"t": "read", "ids": ["item-1"]})  # twice: still one fewer
    first = library.contact(CONTACTS[0])
    assert first is not None and first.unread == 1
    row = library.item("item-2")
    assert row is not None and row.read
    library.apply({"t": "read", "ids": ["item-3", "item-4"]})
    first = library.contact(CONTACTS[0])
    assert first is not None and first.unread == 0
    assert [r.item_id for r in library.forwards()] == ["item-4"]


def test_items_without_text_are_indexed() -> None:
    """A rejected, damaged or file item has no ``text``: it is listed all the
    same (dropping it would hide a forgery and index it again each sync)."""
    forged = {k: v for k, v in item(1).items() if k != "text"}
    forged |= {"kind": "?", "standing": "rejected", "verdict": "FORGED: …"}
    damaged = {k: v for k, v in item(2).items() if k not in {"text", "kind", "standing"}}
    damaged |= {"kind": "?", "standing": "error", "verdict": "", "error": "damaged"}
    a_file = {k: v for k, v in item(3).items() if k != "text"} | {"name": "x.pdf", "size": None}
    for library in (applied([forged, damaged, a_file]), loaded([forged, damaged, a_file])):
        assert library.counts() == (3, 1)
        assert [r.item_id for r in library.conversation(CONTACTS[0])] == [
            "item-1",
            "item-2",
            "item-3",
        ]
        row = library.item("item-3")
        assert row is not None and (row.text, row.size, row.name) == ("", 0, "x.pdf")
        assert [r.item_id for r in library.search(Filters(text="x.pdf"))] == ["item-3"]


def test_an_item_record_missing_what_it_must_have_is_an_error() -> None:
    broken = {k: v for k, v in item(1).items() if k != "seq"}
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        applied([broken])
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        loaded([broken])


def test_place_and_rows() -> None:
    library = applied([item(1, lat=48.5, lon=-3.25, time="2026-01-01T00:00:00Z")])
    row = library.item("item-1")
    assert isinstance(row, ItemRow)
    assert row.place == (48.5, -3.25)
    assert library.item("nope") is None
    assert library.contact("nope") is None
    assert library.has_item("item-1") and not library.has_item("item-2")


# -- search: the handler's words are words -------------------------------------

HOSTILE = [
    '"', '""', "*", "NEAR(", "NEAR(a b)", "a OR b", "a AND b", "NOT a", "-x", "col:val",
    "text:convoy", "name:x", "^convoy", "convoy*", "(convoy", "convoy)", "{text}: a",
    "'", "'; DROP TABLE items; --", "a'b", '" OR 1=1 --', "%", "_", "\\", "\x00", "+",
    "a\u0301", "\u0301", "a\x00b", "a\x00", "\x00a", "ﬁ", "\u200b", "\ufeff", "🦊",
    "convoy  bridge", "\t\n",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_fts_syntax_is_never_syntax(query: str) -> None:
    library = applied([item(1, text="convoy a b"), item(2, text="OR NOT NEAR col val x")])
    found = [r.item_id for r in library.search(Filters(text=query))]
    assert set(found) <= {"item-1", "item-2"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a OR b", []),  # three words, all needed: "or" is one of them
        ("or not near", ["item-2"]),
        ("col:val", ["item-2"]),
        ("NEAR(", ["item-2"]),
        ("-x", ["item-2"]),
        ("convoy*", ["item-1"]),
        ('"convoy', ["item-1"]),
        ("", ["item-2", "item-1"]),
        ('"', ["item-2", "item-1"]),  # no word at all: no text filter
    ],
)
def test_operators_are_plain_words(query: str, expected: list[str]) -> None:
    library = applied([item(1, text="convoy a b"), item(2, text="OR NOT NEAR col val x")])
    assert [r.item_id for r in library.search(Filters(text=query))] == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_no_query_raises(query: str) -> None:
    library = applied([item(1, text="convoy Ёлка café"), item(2, text="मोस्ट 🦊")])
    found = library.search(Filters(text=query, tag=query, state=query))
    assert {r.item_id for r in found} <= {"item-1", "item-2"}


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("Ёлка у моста", "елка"),
        ("Ёлка у моста", "ЁЛКА"),
        ("елка у моста", "Ёлка"),
        ("Йошкар-Ола", "йошкар"),
        ("Йошкар-Ола", "ола"),
        (unicodedata.normalize("NFD", "Ёлка"), "ёлк"),
        ("Ёлка", unicodedata.normalize("NFD", "ЁЛК")),
        ("café crème", "CAFE"),
        ("cafe creme", "Café"),
        ("МОСТ", "мос"),
        ("Ελλάδα", "ελλαδα"),
        ("ﬁle", "file"),
        ("Ｆｕｌｌ width", "full"),
    ],
)
def test_case_accents_and_normal_forms_do_not_matter(text: str, query: str) -> None:
    for library in (applied([item(1, text=text)]), loaded([item(1, text=text)])):
        assert [r.item_id for r in library.search(Filters(text=query))] == ["item-1"]


def test_words_are_prefixes_and_all_needed() -> None:
    library = applied(
        [
            item(1, text="the convoy crossed the bridge"),
            item(2, text="a convex lens"),
            item(3, text="recon of the bridge"),
        ]
    )

    def found(q: str) -> list[str]:
        return [r.item_id for r in library.search(Filters(text=q))]

    assert found("con") == ["item-2", "item-1"]  # newest first
    assert found("c") == ["item-2", "item-1"]
    assert found("conv bri") == ["item-1"]
    assert found("bridge") == ["item-3", "item-1"]
    assert found("onvoy") == []  # a prefix, not any substring
    assert found("convoys") == []


def test_file_names_are_searched() -> None:
    library = applied([item(1, name=unicodedata.normalize("NFD", "Фото-Ёж.jpg"), text="")])
    assert [r.item_id for r in library.search(Filters(text="ёж"))] == ["item-1"]
    assert [r.item_id for r in library.search(Filters(text="jpg"))] == ["item-1"]


def test_filters_combine() -> None:
    records = [
        item(1, day=DAYS[0], text="convoy"),
        item(2, day=DAYS[1], text="convoy", contact=CONTACTS[1]),
        item(3, day=DAYS[2], text="convoy", contact=CONTACTS[1]),
        item(4, day=DAYS[3], text="bridge", contact=CONTACTS[1]),
        item(5, day=DAYS[2], text="convoy", contact=None, direction="forwarded"),
        {"t": "state", "contact": CONTACTS[1], "state": "vetting", "steps": "[]"},
        {"t": "reliability", "contact": CONTACTS[1], "grade": "B"},
        {"t": "credibility", "item": "item-3", "grade": "2"},
        {"t": "credibility", "item": "item-5", "grade": "2"},
        {"t": "tags", "item": "item-3", "tags": ["a_b", "50%"]},
        {"t": "tags", "item": "item-2", "tags": ["axb", "50x"]},
        {"t": "tags", "item": "item-5", "tags": ["Urgent"]},
        {"t": "tags", "item": "item-1", "tags": ["urgent", "СРОЧНО"]},
    ]
    library = applied(records)

    def found(**filters: str) -> list[str]:
        return [r.item_id for r in library.search(Filters(**filters))]

    assert found(text="convoy") == ["item-5", "item-3", "item-2", "item-1"]
    assert found(text="convoy", state="vetting") == ["item-3", "item-2"]
    assert found(text="convoy", reliability="B", since=DAYS[2]) == ["item-3"]
    assert found(credibility="2") == ["item-5", "item-3"]
    assert found(credibility="2", state="vetting") == ["item-3"]
    assert found(since=DAYS[1], until=DAYS[2]) == ["item-5", "item-3", "item-2"]
    assert found(since=DAYS[3], until=DAYS[0]) == []
    # Tags: whole tags, exactly; % and _ are characters, not wildcards.
    assert found(tag="a_b") == ["item-3"]
    assert found(tag="50%") == ["item-3"]
    assert found(tag="a") == []
    assert found(tag="%") == []
    assert found(tag="_") == []
    assert found(tag="urgent") == ["item-1"]
    assert found(tag="Urgent") == ["item-5"]
    assert found(tag="срочно") == []
    assert found(tag="СРОЧНО") == ["item-1"]
    assert found(state="'; DROP TABLE contacts; --") == []
    assert library.all_tags() == sorted(["a_b", "50%", "axb", "50x", "Urgent", "urgent", "СРОЧНО"])


def test_limit() -> None:
    library = applied([item(n, text="convoy") for n in range(1, 21)])
    assert len(library.search(Filters(text="convoy"), limit=5)) == 5
    assert [r.seq for r in library.search(Filters(), limit=3)] == [20, 19, 18]


def test_an_unknown_record_type_is_kept_out_of_the_index() -> None:
    library = applied([item(1), {"t": "hologram", "x": 1}, {"no type": True}, {"t": 7}])
    assert library.counts() == (1, 1)
    assert list(applied(list(library.snapshot())).snapshot()) == list(library.snapshot())


def test_a_state_record_keeps_the_member_key() -> None:
    base = {"t": "state", "contact": CONTACTS[0], "steps": "[]"}
    library = applied(
        [
            base | {"state": "member", "member_key": "age1key"},
            base | {"state": "suspended", "member_key": None},
        ]
    )
    contact = library.contact(CONTACTS[0])
    assert contact is not None and (contact.state, contact.member_key) == ("suspended", "age1key")
    assert [c.contact_id for c in library.inbox(state="suspended")] == [CONTACTS[0]]
    assert library.inbox(state="member") == []


# -- pseudonyms ------------------------------------------------------------------

_NAME = re.compile(r"\A[A-Z][a-z]*(?:-[a-z]+)? [A-Z][a-z]*(?:-[a-z]+)? [0-9]{2}\Z")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_pseudonyms_are_derived_and_well_formed(compartment: str, contact: str) -> None:
    name = pseudonym(compartment, contact)
    assert _NAME.match(name), name
    assert pseudonym(compartment, contact) == name
    first, second, _ = name.split(" ")
    words = set(crypto.wordlist())
    assert first.lower() in words and second.lower() in words


def test_pseudonyms_are_stable_and_differ() -> None:
    # A known value: every desk of the compartment shows this same name.
    assert pseudonym(COMPARTMENT, CONTACTS[0]) == pseudonym("a" * 32, "c" * 31 + "0")
    names = {pseudonym(COMPARTMENT, f"{n:032x}") for n in range(2000)}
    assert len(names) > 1990
    other = {pseudonym("b" * 32, f"{n:032x}") for n in range(200)}
    assert len(other & names) < 5
    # The separator keeps ("ab", "c") apart from ("a", "bc").
    assert pseudonym("ab", "c") != pseudonym("a", "bc")


def test_pseudonyms_follow_the_compartment() -> None:
    library = applied([item(1)])
    contact = library.contact(CONTACTS[0])
    assert contact is not None and contact.pseudonym == pseudonym(COMPARTMENT, CONTACTS[0])
    elsewhere = Library("b" * 32)
    elsewhere.load(library.snapshot())
    moved = elsewhere.contact(CONTACTS[0])
    assert moved is not None and moved.pseudonym == pseudonym("b" * 32, CONTACTS[0])


# -- the Admiralty code ------------------------------------------------------------


def test_grades_and_their_meanings() -> None:
    assert list(grading.RELIABILITY) == list("ABCDEF")
    assert list(grading.CREDIBILITY) == list("123456")
    assert all(
        grading.RELIABILITY[g] and grading.CREDIBILITY[n] for g, n in zip("ABCDEF", "123456")
    )
    for grade in "ABCDEF":
        assert grading.reliability(grade) == grade
    for grade in "123456":
        assert grading.credibility(grade) == grade


@pytest.mark.parametrize(
    "value", ["", "G", "a", "AA", " A", "A ", "1", "Ａ", "А", "\x00", "None", "B\n"]
)
def test_reliability_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError, match="one of A, B, C, D, E, F"):
        grading.reliability(value)


@pytest.mark.parametrize("value", ["", "0", "7", "G", "A", "12", " 1", "１", "٣", "1.0", "-1"])
def test_credibility_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError, match="one of 1, 2, 3, 4, 5, 6"):
        grading.credibility(value)


@given(st.text(max_size=3))
def test_grades_accept_exactly_the_table(value: str) -> None:
    for check, table in (
        (grading.reliability, grading.RELIABILITY),
        (grading.credibility, grading.CREDIBILITY),
    ):
        if value in table:
            assert check(value) == value
        else:
            with pytest.raises(ValueError):
                check(value)


def test_rows_are_frozen() -> None:
    library = applied([item(1)])
    row = library.item("item-1")
    assert row is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.text = "changed"  # type: ignore[misc]


def test_a_forgery_labelled_as_our_own_reply_still_counts_as_unread() -> None:
    library = Library(COMPARTMENT)
    forged = item(1, direction="out") | {"kind": "?", "standing": "rejected", "verdict": "FORGED"}
    library.apply(forged)
    (row,) = library.inbox()
    assert row.unread == 1
    library.apply({"t": "read", "ids": [forged["id"]]})
    (row,) = library.inbox()
    assert row.unread == 0
    loaded = Library(COMPARTMENT)
    loaded.load([forged])
    assert loaded.inbox()[0].unread == 1


def test_a_deferred_search_index_fills_a_slice_at_a_time() -> None:
    loaded = [item(n, text=f"bridge number{n}") for n in range(1, 8)]
    library = Library(COMPARTMENT)
    library.load(loaded, defer_search=True)
    assert library.search_progress == (0, 7)
    assert library.search(Filters(text="bridge")) == []
    # The inbox needs no full-text index: whole at once.
    assert library.counts() == (7, len({i["contact"] for i in loaded}))
    library.apply(item(8, text="bridge after the unlock"))
    assert [r.seq for r in library.search(Filters(text="bridge"))] == [8]
    assert library.index_search(batch=3) is False
    assert library.search_progress == (3, 7)
    while not library.index_search(batch=3):
        pass
    assert [r.seq for r in library.search(Filters(text="bridge"))] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert [r.seq for r in library.search(Filters(text="number5"))] == [5]
    eager = Library(COMPARTMENT)
    eager.load(loaded)
    assert eager.search_progress == (7, 7) and eager.index_search() is True
