"""The unlocked desk's index: every record of the vault, in an in-memory SQLite.

Rebuilt at each unlock from :mod:`._vault` and dropped at lock, so nothing
of it ever reaches the disk (an in-memory database has no file, no journal
and no temporary files: ``temp_store=MEMORY``). Full-text search is FTS5
over the decrypted text folded for search (:func:`_fold`), in a
contentless table so each text is held once (in ``items``; the index
keeps only its tokens, and matches give row numbers); the inbox is a
per-contact summary kept current as records arrive, so listing it never
scans the items. ``bench/desk_ui.py``
measures unlock, inbox and search at 100,000 items.

Records (JSON objects, see :mod:`._vault`)::

    item         a synced item, decrypted once at sync: kind, verdict, text
                 or file name, place; or the error it gave
    reopened     the same item opened again, in place of what its "item"
                 record said: it came back re-sealed, or its verdict rests
                 on a member key recorded since (the handler's marks stay)
    state        a contact's lifecycle (as last read from the server)
    read         items the handler opened
    reliability  a contact's Admiralty reliability (A to F)
    credibility  an item's Admiralty credibility (1 to 6)
    tags         an item's tags
    note         the handler's private note on a contact
    forwarded    an item forwarded, and where
    hashes       the SHA-256 and image difference hash of a file item
                 indexed before the desk kept them (found once, later)

Pure apart from SQLite in memory; the only input is records.
"""

from __future__ import annotations

import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._pseudonym import pseudonym

_SCHEMA = """
PRAGMA temp_store = MEMORY;
CREATE TABLE items (
    n INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    seq INTEGER NOT NULL,
    contact TEXT,
    direction TEXT NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    time TEXT,
    standing TEXT NOT NULL,
    verdict TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    name TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    image TEXT,
    lat REAL,
    lon REAL,
    source TEXT,
    error TEXT,
    read INTEGER NOT NULL DEFAULT 0,
    credibility TEXT,
    tags TEXT NOT NULL DEFAULT '',
    forwarded TEXT NOT NULL DEFAULT '',
    report TEXT,
    cell INTEGER,
    signer TEXT,
    basis TEXT,
    sha256 TEXT,
    dhash TEXT
);
CREATE INDEX items_contact ON items (contact, seq);
CREATE INDEX items_seq ON items (seq);
CREATE INDEX items_direction ON items (direction, seq);
CREATE VIRTUAL TABLE search USING fts5(
    text, name, content='',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    pseudonym TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    steps TEXT NOT NULL DEFAULT '[]',
    member_key TEXT,
    reliability TEXT,
    note TEXT NOT NULL DEFAULT '',
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_day TEXT NOT NULL DEFAULT '',
    unread INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX contacts_recent ON contacts (last_seq DESC);
"""

_ITEM_FIELDS = (
    *("id", "seq", "contact", "direction", "day", "kind", "time", "standing", "verdict"),
    *("text", "name", "size", "image", "lat", "lon", "source", "error"),
    # A member's items: the report a file belongs to, the grid cell the
    # place was coarsened to (metres), the signer's key and the member key
    # the verdict rested on (._verdict.basis).
    *("report", "cell", "signer", "basis"),
    # A file's SHA-256 (hex; "" if it could not be read when it was looked
    # for later), and an image's 64-bit difference hash (16 hex digits):
    # what tells copies of one file or one photo apart (shoal.corroborate).
    *("sha256", "dhash"),
)
#: What a "reopened" record replaces of an item: everything the item was
#: opened to; never the handler's marks (read, grades, tags, forwards).
_REOPENED = tuple(f for f in _ITEM_FIELDS if f != "id")
#: What a record may leave out: a rejected or damaged item has no text, a
#: file has none either. (An explicit NULL in those NOT NULL columns would
#: make the row fail; see :data:`_INSERT_ITEM`.)
_ITEM_DEFAULTS: dict[str, Any] = {"text": "", "size": 0}
#: Built from the constant field names above only: no value is ever spliced in.
#: Only a second record of the same item is ignored: ``INSERT OR IGNORE``
#: would also drop, silently, a row that breaks a NOT NULL constraint.
_INSERT_ITEM = (
    f"INSERT INTO items ({', '.join(_ITEM_FIELDS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_ITEM_FIELDS))}) ON CONFLICT (id) DO NOTHING"
)
#: Characters the FTS5 tokenizer keeps in a token (its default categories).
_TOKEN_CATEGORIES = ("L", "N", "Co")
#: Items from the compartment's own side: never "unread" — unless rejected:
#: a seized server labelling forgeries "out" must not hide them from the count.
_OURS = frozenset({"out"})
_REJECTED = "rejected"
#: The per-contact summary; ``which`` is one of two constant conditions.
_RECOUNT = (
    "UPDATE contacts SET total = s.total, unread = s.unread, last_seq = s.last_seq, "
    "last_day = s.last_day FROM (SELECT contact, count(*) AS total, "
    "sum(read = 0 AND (direction NOT IN ('out') OR standing = 'rejected')) AS unread, "
    "max(seq) AS last_seq, "
    "max(day) AS last_day FROM items WHERE {which} GROUP BY contact) AS s "
    "WHERE contacts.id = s.contact"
)


@dataclass(frozen=True)
class ContactRow:
    contact_id: str
    pseudonym: str
    state: str
    steps: str
    member_key: str | None
    reliability: str | None
    note: str
    last_seq: int
    last_day: str
    unread: int
    total: int


@dataclass(frozen=True)
class ItemRow:
    item_id: str
    seq: int
    contact: str | None
    direction: str
    day: str
    kind: str
    time: str | None
    standing: str
    verdict: str
    text: str
    name: str | None
    size: int
    image: str | None
    lat: float | None
    lon: float | None
    source: str | None
    error: str | None
    read: bool
    credibility: str | None
    tags: tuple[str, ...]
    forwarded: tuple[str, ...]
    report: str | None
    cell: int | None
    signer: str | None
    basis: str | None
    sha256: str | None
    dhash: str | None

    @property
    def place(self) -> tuple[float, float] | None:
        return None if self.lat is None or self.lon is None else (self.lat, self.lon)


@dataclass(frozen=True)
class Filters:
    """What the search page can narrow by; empty fields do not narrow."""

    text: str = ""
    state: str = ""
    reliability: str = ""
    credibility: str = ""
    tag: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive
    until: str = ""


def _fold(value: str | None) -> str:
    """Text as the full-text index holds it: compatibility-decomposed (NFKD),
    so an accent is a separate mark the tokenizer drops, in every script
    (``remove_diacritics`` alone folds precomposed Latin letters only, so
    "Ёлка" and "елка" were different words), and text typed composed (NFC)
    finds text written decomposed (NFD, as macOS writes file names)."""
    return unicodedata.normalize("NFKD", value or "")


def _words(text: str) -> list[str]:
    """The search box's words, each to be one quoted FTS5 phrase: split at
    white space only and left for the FTS5 tokenizer to cut, so query and
    index are tokenized by the same code; a chunk with nothing the tokenizer
    keeps (only punctuation or marks) is no word. Control characters part
    words: FTS5 reads its query up to a NUL, which would cut a quote open."""
    spaced = "".join(" " if unicodedata.category(c) == "Cc" else c for c in _fold(text))
    return [
        chunk
        for chunk in spaced.split()
        if any(unicodedata.category(c).startswith(_TOKEN_CATEGORIES) for c in chunk)
    ]


def _tags(value: str) -> tuple[str, ...]:
    return tuple(t for t in value.split("\n") if t)


def _item_values(record: Mapping[str, Any]) -> list[Any]:
    values = [record.get(f) for f in _ITEM_FIELDS]
    return [
        _ITEM_DEFAULTS.get(f) if v is None else v for f, v in zip(_ITEM_FIELDS, values, strict=True)
    ]


P = ParamSpec("P")
R = TypeVar("R")


def _serialized(
    method: Callable[Concatenate[Library, P], R],
) -> Callable[Concatenate[Library, P], R]:
    """One thread at a time on the connection. SQLite's own mutex is not
    enough: a thread inside a statement that calls back into Python (the
    index's folding function) waits for the GIL while holding that mutex,
    and a thread holding the GIL can block on the mutex — a deadlock the
    background index build met. A Python lock is waited on without the GIL."""

    def serialized(self: Library, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._mutex:
            return method(self, *args, **kwargs)

    serialized.__doc__ = method.__doc__
    return serialized


class Library:
    def __init__(self, compartment_id: str) -> None:
        self._mutex = threading.RLock()
        self._compartment = compartment_id
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._db.create_function("shoal_fold", 1, _fold, deterministic=True)
        self._known: set[str] = set()  # contacts with a row, while loading
        self._defer = False
        #: Rows up to ``_searched`` are in the full-text index; a load with
        #: ``defer_search`` leaves rows up to ``_search_upto`` for later.
        self._searched = 0
        self._search_upto = 0

    @_serialized
    def close(self) -> None:
        self._db.close()

    @_serialized
    def load(self, records: Iterable[Mapping[str, Any]], *, defer_search: bool = False) -> None:
        """Apply many records at once (unlock): items go in by the thousand,
        every other record after them in its order (none of them makes an
        item, and an item never undoes one), and the per-contact summary is
        computed once at the end: three times faster than one by one.

        ``defer_search``: leave the loaded items out of the full-text index
        for :meth:`index_search` to add a slice at a time. Building it is
        two thirds of an unlock (about 3 of 4 s at 100,000 items): the inbox
        and conversations need none of it and open at once.
        """
        self._defer = defer_search
        batch: list[list[Any]] = []
        later: list[Mapping[str, Any]] = []
        for record in records:
            if record.get("t") != "item":
                later.append(record)
                continue
            batch.append(_item_values(record))
            if len(batch) >= 5000:
                self._insert_items(batch)
                batch = []
        if batch:
            self._insert_items(batch)
        for record in later:
            if record.get("t") == "read":
                self._db.executemany(
                    "UPDATE items SET read = 1 WHERE id = ?", [(i,) for i in record.get("ids", ())]
                )
            else:
                self.apply(record)
        self._recount()
        self._defer = False
        (self._search_upto,) = self._db.execute("SELECT coalesce(max(n), 0) FROM items").fetchone()
        if not defer_search:
            self._searched = self._search_upto

    @_serialized
    def index_search(self, batch: int = 2000) -> bool:
        """Add the next ``batch`` items loaded with ``defer_search`` to the
        full-text index; True once every item is in it."""
        if self._searched < self._search_upto:
            upto = min(self._searched + batch, self._search_upto)
            self._db.execute(
                "INSERT INTO search (rowid, text, name) "
                "SELECT n, shoal_fold(text), shoal_fold(name) FROM items WHERE n > ? AND n <= ?",
                (self._searched, upto),
            )
            self._searched = upto
        return self._searched >= self._search_upto

    @property
    @_serialized
    def search_progress(self) -> tuple[int, int]:
        """(items indexed, items to index) of what was loaded; search finds
        only the former (and everything applied since the load)."""
        return self._searched, self._search_upto

    def _insert_items(self, batch: list[list[Any]]) -> None:
        (last,) = self._db.execute("SELECT coalesce(max(n), 0) FROM items").fetchone()
        self._db.executemany(
            _INSERT_ITEM,
            batch,
        )
        if not self._defer:
            self._db.execute(
                "INSERT INTO search (rowid, text, name) "
                "SELECT n, shoal_fold(text), shoal_fold(name) FROM items WHERE n > ?",
                (last,),
            )
        # The contacts of the rows inserted, not of the batch: a record of an
        # item already held is ignored whole, its contact too.
        inserted = self._db.execute(
            "SELECT DISTINCT contact FROM items WHERE n > ? AND contact IS NOT NULL", (last,)
        )
        new = {contact for (contact,) in inserted} - self._known
        self._known |= new
        self._db.executemany(
            "INSERT OR IGNORE INTO contacts (id, pseudonym) VALUES (?, ?)",
            [(c, pseudonym(self._compartment, c)) for c in new],
        )

    def _recount(self, contact: str | None = None) -> None:
        """The per-contact summary, of every contact or of ``contact``."""
        if contact is None:
            self._db.execute(_RECOUNT.format(which="contact IS NOT NULL"))
        else:
            self._db.execute(_RECOUNT.format(which="contact = ?"), (contact,))

    # -- records in ------------------------------------------------------

    @_serialized
    def apply(self, record: Mapping[str, Any]) -> None:
        kind = record.get("t")
        handler = getattr(self, f"_apply_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            return  # a record type of a newer desk: kept in the vault, not shown
        handler(record)

    def _contact(self, contact_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO contacts (id, pseudonym) VALUES (?, ?)",
            (contact_id, pseudonym(self._compartment, contact_id)),
        )

    def _apply_item(self, record: Mapping[str, Any]) -> None:
        cursor = self._db.execute(_INSERT_ITEM, _item_values(record))
        if not cursor.rowcount:
            return
        n = cursor.lastrowid
        self._db.execute(
            "INSERT INTO search (rowid, text, name) VALUES (?, ?, ?)",
            (n, _fold(record.get("text")), _fold(record.get("name"))),
        )
        contact = record.get("contact")
        if isinstance(contact, str):
            self._contact(contact)
            ours = record.get("direction") in _OURS and record.get("standing") != _REJECTED
            unread = 0 if ours else 1
            self._db.execute(
                "UPDATE contacts SET total = total + 1, unread = unread + ?, "
                "last_seq = max(last_seq, ?), last_day = max(last_day, ?) WHERE id = ?",
                (unread, record.get("seq", 0), record.get("day", ""), contact),
            )

    def _apply_reopened(self, record: Mapping[str, Any]) -> None:
        values = dict(zip(_ITEM_FIELDS, _item_values(record), strict=True))
        found = self._db.execute(
            "SELECT n, contact, text, name FROM items WHERE id = ?", (values["id"],)
        ).fetchone()
        if found is None:
            self._apply_item(record)
            return
        n, contact, text, name = found
        indexed = not self._defer and (n <= self._searched or n > self._search_upto)
        if indexed:
            # A contentless index forgets a row only when told what it held.
            self._db.execute(
                "INSERT INTO search (search, rowid, text, name) VALUES ('delete', ?, ?, ?)",
                (n, _fold(text), _fold(name)),
            )
        assignments = ", ".join(f"{f} = ?" for f in _REOPENED)
        self._db.execute(
            f"UPDATE items SET {assignments} WHERE n = ?",  # noqa: S608 (constant names)
            [*(values[f] for f in _REOPENED), n],
        )
        if indexed:
            self._db.execute(
                "INSERT INTO search (rowid, text, name) VALUES (?, ?, ?)",
                (n, _fold(values["text"]), _fold(values["name"])),
            )
        for touched in {contact, values["contact"]} - {None}:
            # Zeroed first: a contact left with no item has no row to count.
            self._contact(touched)
            self._db.execute("UPDATE contacts SET total = 0, unread = 0 WHERE id = ?", (touched,))
            self._recount(touched)

    def _apply_state(self, record: Mapping[str, Any]) -> None:
        contact = str(record["contact"])
        self._contact(contact)
        self._db.execute(
            "UPDATE contacts SET state = ?, steps = ?, member_key = coalesce(?, member_key) "
            "WHERE id = ?",
            (record["state"], record.get("steps", "[]"), record.get("member_key"), contact),
        )

    def _apply_read(self, record: Mapping[str, Any]) -> None:
        for item_id in record.get("ids", ()):
            row = self._db.execute(
                "SELECT contact, read, direction, standing FROM items WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None or row[1]:
                continue
            self._db.execute("UPDATE items SET read = 1 WHERE id = ?", (item_id,))
            if row[0] is not None and (row[2] not in _OURS or row[3] == _REJECTED):
                self._db.execute(
                    "UPDATE contacts SET unread = max(unread - 1, 0) WHERE id = ?", (row[0],)
                )

    def _apply_reliability(self, record: Mapping[str, Any]) -> None:
        self._contact(str(record["contact"]))
        self._db.execute(
            "UPDATE contacts SET reliability = ? WHERE id = ?", (record["grade"], record["contact"])
        )

    def _apply_note(self, record: Mapping[str, Any]) -> None:
        self._contact(str(record["contact"]))
        self._db.execute(
            "UPDATE contacts SET note = ? WHERE id = ?", (record["text"], record["contact"])
        )

    def _apply_credibility(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            "UPDATE items SET credibility = ? WHERE id = ?", (record["grade"], record["item"])
        )

    def _apply_tags(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            "UPDATE items SET tags = ? WHERE id = ?", ("\n".join(record["tags"]), record["item"])
        )

    def _apply_forwarded(self, record: Mapping[str, Any]) -> None:
        row = self._db.execute(
            "SELECT forwarded FROM items WHERE id = ?", (record["item"],)
        ).fetchone()
        if row is not None:
            done = [*_tags(row[0]), str(record["to"])]
            self._db.execute(
                "UPDATE items SET forwarded = ? WHERE id = ?", ("\n".join(done), record["item"])
            )

    def _apply_hashes(self, record: Mapping[str, Any]) -> None:
        self._db.execute(
            "UPDATE items SET sha256 = ?, dhash = ? WHERE id = ?",
            (record["sha256"], record.get("dhash"), record["item"]),
        )

    def snapshot(self) -> Iterator[dict[str, Any]]:
        """Records that rebuild exactly the current state (for compaction),
        taken whole under the lock, then handed out."""
        with self._mutex:
            records = list(self._snapshot())
        return iter(records)

    def _snapshot(self) -> Iterator[dict[str, Any]]:
        """Records that rebuild exactly the current state (for compaction)."""
        columns = ", ".join(_ITEM_FIELDS)
        read = []
        for row in self._db.execute(
            f"SELECT {columns}, read, credibility, tags, forwarded FROM items ORDER BY n"  # noqa: S608
        ).fetchall():
            item = dict(zip(_ITEM_FIELDS, row[: len(_ITEM_FIELDS)], strict=True))
            yield {"t": "item", **{k: v for k, v in item.items() if v is not None}}
            item_read, grade, tags, forwarded = row[len(_ITEM_FIELDS) :]
            if item_read:
                read.append(item["id"])
            if grade is not None:
                yield {"t": "credibility", "item": item["id"], "grade": grade}
            if tags:
                yield {"t": "tags", "item": item["id"], "tags": list(_tags(tags))}
            for to in _tags(forwarded):
                yield {"t": "forwarded", "item": item["id"], "to": to}
        if read:
            yield {"t": "read", "ids": read}
        for cid, state, steps, key, grade, note in self._db.execute(
            "SELECT id, state, steps, member_key, reliability, note FROM contacts ORDER BY id"
        ).fetchall():
            yield {"t": "state", "contact": cid, "state": state, "steps": steps, "member_key": key}
            if grade is not None:
                yield {"t": "reliability", "contact": cid, "grade": grade}
            if note:
                yield {"t": "note", "contact": cid, "text": note}

    # -- queries ---------------------------------------------------------

    @_serialized
    def seqs(self) -> dict[str, int]:
        """Every item's id and the seq it was last opened under."""
        return dict(self._db.execute("SELECT id, seq FROM items").fetchall())

    @_serialized
    def judged(self, kinds: frozenset[str]) -> list[tuple[str, str, str | None, str | None, str]]:
        """(id, kind, contact, signer, basis) of the items of ``kinds``: what
        a member's item was judged on, to tell which to judge again."""
        marks = ", ".join("?" * len(kinds))
        rows = self._db.execute(
            "SELECT id, kind, contact, signer, coalesce(basis, '') FROM items "  # noqa: S608
            f"WHERE kind IN ({marks})",
            sorted(kinds),
        ).fetchall()
        return [tuple(row) for row in rows]

    @_serialized
    def unhashed(self, kinds: frozenset[str], named: frozenset[str]) -> list[str]:
        """Items of ``kinds``, and of ``named`` kinds that carry a file name,
        not rejected or damaged, with no SHA-256 (not even ""): files indexed
        before the desk kept their hashes."""
        marks, named_marks = ", ".join("?" * len(kinds)), ", ".join("?" * len(named))
        rows = self._db.execute(
            "SELECT id FROM items WHERE sha256 IS NULL AND error IS NULL "  # noqa: S608
            f"AND standing != ? AND (kind IN ({marks}) "
            f"OR (kind IN ({named_marks}) AND name IS NOT NULL)) ORDER BY n",
            [_REJECTED, *sorted(kinds), *sorted(named)],
        ).fetchall()
        return [item_id for (item_id,) in rows]

    @_serialized
    def has_item(self, item_id: str) -> bool:
        found = self._db.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone()
        return found is not None

    @_serialized
    def counts(self) -> tuple[int, int]:
        """(items, contacts)."""
        items = self._db.execute("SELECT count(*) FROM items").fetchone()[0]
        contacts = self._db.execute("SELECT count(*) FROM contacts").fetchone()[0]
        return int(items), int(contacts)

    @_serialized
    def inbox(self, *, offset: int = 0, limit: int = 50, state: str = "") -> list[ContactRow]:
        """Contacts, newest activity first."""
        where, args = ("WHERE state = ?", [state]) if state else ("", [])
        rows = self._db.execute(
            f"SELECT * FROM contacts {where} ORDER BY last_seq DESC, id LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        ).fetchall()
        return [ContactRow(*row) for row in rows]

    @_serialized
    def contact(self, contact_id: str) -> ContactRow | None:
        row = self._db.execute("SELECT * FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        return None if row is None else ContactRow(*row)

    _ITEM_SELECT = (
        "SELECT items.id, seq, contact, direction, day, kind, time, standing, verdict, "
        "items.text, items.name, size, image, lat, lon, source, error, read, credibility, "
        "tags, forwarded, report, cell, signer, basis, sha256, dhash FROM items"
    )

    def _rows(self, sql: str, args: list[Any]) -> list[ItemRow]:
        out = []
        for row in self._db.execute(sql, args).fetchall():
            values = list(row)
            values[17] = bool(values[17])
            values[19] = _tags(values[19])
            values[20] = _tags(values[20])
            out.append(ItemRow(*values))
        return out

    @_serialized
    def conversation(self, contact_id: str) -> list[ItemRow]:
        return self._rows(f"{self._ITEM_SELECT} WHERE contact = ? ORDER BY seq", [contact_id])

    @_serialized
    def item(self, item_id: str) -> ItemRow | None:
        found = self._rows(f"{self._ITEM_SELECT} WHERE items.id = ?", [item_id])
        return found[0] if found else None

    @_serialized
    def forwards(self, *, limit: int = 200) -> list[ItemRow]:
        return self._rows(
            f"{self._ITEM_SELECT} WHERE direction = 'forwarded' ORDER BY seq DESC LIMIT ?", [limit]
        )

    @_serialized
    def forward_count(self) -> int:
        (count,) = self._db.execute(
            "SELECT count(*) FROM items WHERE direction = 'forwarded'"
        ).fetchone()
        return int(count)

    @_serialized
    def forward_doors(self) -> list[str]:
        """Doors items were forwarded to, as the handler typed them."""
        found: set[str] = set()
        for (forwarded,) in self._db.execute(
            "SELECT DISTINCT forwarded FROM items WHERE forwarded != ''"
        ):
            found.update(_tags(forwarded))
        return sorted(found)

    @_serialized
    def all_tags(self) -> list[str]:
        found: set[str] = set()
        for (tags,) in self._db.execute("SELECT DISTINCT tags FROM items WHERE tags != ''"):
            found.update(_tags(tags))
        return sorted(found)

    @_serialized
    def search(self, filters: Filters, *, limit: int = 100) -> list[ItemRow]:
        """Items matching every filter given, newest first."""
        source, order, where, args = "items", "items.n", [], []
        words = _words(filters.text)
        if words:
            # Each word a quoted prefix: the handler's text is never FTS5 syntax.
            # The full-text index leads and is walked newest first (rowid
            # descending, no sort of every match); items arrive in the
            # server's order, so rowid order is arrival order.
            source = "search JOIN items ON items.n = search.rowid"
            order = "search.rowid"
            where.append("search MATCH ?")
            args.append(" ".join('"' + w.replace('"', '""') + '"*' for w in words))
        if filters.state or filters.reliability:
            source += " JOIN contacts ON contacts.id = items.contact"
        # One whole tag, exactly: LIKE would also fold ASCII case (and only
        # ASCII), so "Urgent" found "urgent" but "Срочно" not "срочно".
        tag = f"\n{filters.tag}\n" if filters.tag else ""
        conditions = (
            ("contacts.state = ?", filters.state),
            ("contacts.reliability = ?", filters.reliability),
            ("items.credibility = ?", filters.credibility),
            ("instr(char(10) || items.tags || char(10), ?) > 0", tag),
            ("items.day >= ?", filters.since),
            ("items.day <= ?", filters.until),
        )
        for condition, value in conditions:
            if value:
                where.append(condition)
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        select = self._ITEM_SELECT.replace(" FROM items", f" FROM {source}")
        return self._rows(f"{select} {clause} ORDER BY {order} DESC LIMIT ?", [*args, limit])
