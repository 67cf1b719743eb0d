"""The desk at 100,000 items: sync end to end, then unlock and search.

The demo organization (post-quantum keys: every item sealed to the door's
three ML-KEM-768 + X25519 recipients) served by a real ``shoal serve``
(SQLite, file blob store). Making ``--items`` messages over HTTP would take
minutes, so they are written the way the server writes them, while it is
stopped: each sealed with ``crypto.encrypt_item`` to the recipients of the
door's verified epoch (``Doors.open``, as a submission does), header
``{"kind": "message", "time": …}``, stored with ``FileBlobStore.put``
(fsync of the file and its directory, as the server does; in
``os.cpu_count()`` processes of 8 threads each) and recorded as
``schema.Item`` rows (one transaction) from ``--contacts`` contacts whose
keys come from real codenames. Then the server is started and the handler
of "news" syncs with the desk's own sync, in this process:
``Workbench.sync`` (what the desk UI's sync runs): ``shoal desk sync``'s
download and checks (``_sync.sync``), then every new item decrypted once
into the desk's vault and index (``Workbench.index_new``). Figures:

* ``generate_s`` (``seal_and_put_s`` + ``rows_s``): making the items;
* ``sync_s``, ``items_per_s``: the whole sync, split into ``download_s``
  (until the last item is stored on the desk; ``download_tenth_s``: each
  tenth of the items), ``decrypt_index_s`` and ``sync_other_s`` (contacts,
  their lifecycle records, the audit log, compaction);
* ``unlock_ms``: ``Workbench.unlock`` (keystore passphrase, vault read and
  decrypted, in-memory index built: the inbox can be shown), median of
  ``--repeat``; ``keystore_ms``: the keystore's scrypt alone;
  ``search_ready_ms``: until the full-text index built after unlock is whole;
  ``events_ready_ms``: until the reports are grouped into events too (the
  same background thread, after the index);
* ``search_while_grouping_p50_ms``, ``…_p99_ms``: the searches below, in a
  loop from the index's completion until the events are grouped (what a
  user searching right after unlock meets; ``searches_while_grouping``:
  how many);
* ``search_p50_ms``, ``search_p99_ms``: once the desk is idle,
  ``Library.search`` as the UI calls it (newest 100 matches) over the
  synced items, for words that match a
  tenth, a thousandth, one item, two words together, a word in every item
  and one in none; every query's match count is checked (a search with no
  limit) against the count the generator knows.

A sync that outlasts ``--deadline`` (900 s) is cut (a sync is safe to
interrupt anywhere) and the line says ``"complete": false``, how many
items were downloaded and how long each tenth took.

    .venv/bin/python bench/sync.py --items 2000    # about a minute
    .venv/bin/python bench/sync.py --items 20000   # about 5 minutes
    .venv/bin/python bench/sync.py                 # 100,000 items: cut at 900 s
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert

import _harness as h
from shoal import crypto, org
from shoal.desk._library import Filters
from shoal.desk._state import Layout
from shoal.desk._workbench import AFTER_UNLOCK_THREAD, Workbench
from shoal.store import FileBlobStore, schema
from shoal.store._database import create_db_engine
from shoal.trusted import unlock_keystore

if TYPE_CHECKING:
    from shoal.server._doors import Door

DOOR = "news"
#: Each item holds exactly one of these (item n: WORDS[n % len(WORDS)]).
WORDS = (
    "convoy", "bridge", "school", "water", "power",
    "shelter", "hospital", "depot", "обстріл", "укриття",
)  # fmt: skip
#: In every item.
FILLER = "seen from the window this morning, more details follow when it is safe"
#: A word in no item.
MISSING = "zeppelin"
PUT_THREADS = 8


def text_of(n: int) -> str:
    """Item n: its own id word, one of WORDS, one of 1,000 groups."""
    return f"k{n:07d} {WORDS[n % len(WORDS)]} g{n % 1000:03d} {FILLER}"


def _expected(query: str, items: int) -> int:
    """How many items' text holds every word of ``query`` (as prefixes)."""
    words = query.split()
    return sum(
        all(any(t.startswith(w) for t in text_of(n).split()) for w in words) for n in range(items)
    )


# -- generation, in worker processes -------------------------------------

_WORKER: dict[str, object] = {}


def _worker_init(blobs: str, recipients: list[str], time_text: str) -> None:
    _WORKER["blobs"] = FileBlobStore(blobs)
    _WORKER["recipients"] = [crypto.parse_recipient(r) for r in recipients]
    _WORKER["header"] = {"kind": "message", "time": time_text}
    _WORKER["pool"] = ThreadPoolExecutor(PUT_THREADS)


def _seal_and_put(numbers: range) -> list[tuple[int, str, int]]:
    """Seal and store items ``numbers``: (n, blob id, size) of each."""
    blobs: FileBlobStore = _WORKER["blobs"]  # type: ignore[assignment]
    recipients: list[crypto.Recipient] = _WORKER["recipients"]  # type: ignore[assignment]
    header: dict[str, str] = _WORKER["header"]  # type: ignore[assignment]
    pool: ThreadPoolExecutor = _WORKER["pool"]  # type: ignore[assignment]

    def one(n: int) -> tuple[int, str, int]:
        sealed = crypto.encrypt_item(recipients, header, text_of(n).encode())
        ref = blobs.put([sealed])
        return n, ref.blob_id, ref.size

    return list(pool.map(one, numbers))


def generate(served: h.Served, items: int, contacts: int) -> dict[str, float]:
    """Items written into the stopped server's store as a submission writes them."""
    from shoal.server._chain import NoteCache  # noqa: PLC0415
    from shoal.server._clock import day_of, utc_now  # noqa: PLC0415
    from shoal.server._config import load_config  # noqa: PLC0415
    from shoal.server._doors import Doors  # noqa: PLC0415
    from shoal.store._database import session_factory  # noqa: PLC0415

    config = load_config(served.data)
    engine = create_db_engine(config.database)
    try:
        with session_factory(engine)() as db:
            door = Doors(config.root_key, NoteCache(), utc_now).open(db, DOOR)
        recipients = [str(r) for r in door.epoch.recipients()]
        now = utc_now()
        day = day_of(now)
        contact_rows = []
        for _ in range(contacts):
            keys = crypto.derive_contact_keys(
                crypto.generate_codename(), door.organization.salt, door.organization.key_type
            )
            contact_rows.append({
                "id": org.new_id(), "lookup_id": keys.lookup_id,
                "compartment_id": door.compartment_id, "accepted": True,
                "recipient": str(keys.identity.recipient()), "day": day,
            })  # fmt: skip
        start = time.perf_counter()
        step = 500
        chunks = [range(a, min(a + step, items)) for a in range(0, items, step)]
        stored: list[tuple[int, str, int]] = []
        with ProcessPoolExecutor(
            os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_init,
            initargs=(str(config.blobs_dir), recipients, now.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ) as pool:
            for done in pool.map(_seal_and_put, chunks):
                stored += done
                if len(stored) % 10_000 < step:
                    h.note(f"sync: {len(stored)} items sealed and stored")
        sealed_s = time.perf_counter() - start
        start = time.perf_counter()
        ids = [c["id"] for c in contact_rows]
        rows = [_item_row(door, ids[n % contacts], b, s, day) for n, b, s in sorted(stored)]
        with engine.begin() as c:
            c.execute(insert(schema.Contact), contact_rows)
            c.execute(insert(schema.Item), rows)
        rows_s = time.perf_counter() - start
    finally:
        engine.dispose()
    return {"seal_and_put_s": sealed_s, "rows_s": rows_s}


def _item_row(door: Door, contact: object, blob_id: str, size: int, day: date) -> dict[str, object]:
    return {
        "id": org.new_id(), "compartment_id": door.compartment_id, "contact_id": contact,
        "direction": "in", "blob_id": blob_id, "size": size, "epoch": door.epoch.number,
        "day": day,
    }  # fmt: skip


# -- the desk --------------------------------------------------------------


class _OutOfTimeError(Exception):
    pass


class _Timed:
    """A sync's progress: when the first and the last item were done, and
    when each tenth of ``total`` was; past ``deadline`` (perf_counter) it
    stops the sync (which is safe to interrupt anywhere)."""

    def __init__(self, total: int, deadline: float) -> None:
        self.total = total
        self.deadline = deadline
        self.expected = 0
        self.done = 0
        self.first = self.last = 0.0
        self.tenths: list[float] = []

    def expect(self, count: int) -> None:
        self.expected += count

    def advance(self) -> None:
        self.last = time.perf_counter()
        if not self.done:
            self.first = self.last
        self.done += 1
        if self.done * 10 >= self.total * (len(self.tenths) + 1):
            self.tenths.append(self.last)
            h.note(f"sync: {self.done} of {self.total}")
        if self.last > self.deadline:
            raise _OutOfTimeError


def _search_ready(bench: Workbench, deadline: float) -> None:
    while True:
        searched, upto = bench.library.search_progress
        if searched >= upto:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the search index was not built in time")
        time.sleep(0.005)


def _grouping() -> bool:
    """Whether the desk's work after unlock is under way: its thread builds
    the search index, then groups the reports into events (``Workbench``)."""
    return any(t.name == AFTER_UNLOCK_THREAD for t in threading.enumerate())


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    contacts = max(1, min(args.contacts, args.items))
    served = h.serve_demo(tmp / "org", workers=args.workers)
    try:
        served.stop()
        h.note(f"sync: generating {args.items} items from {contacts} contacts")
        start = time.perf_counter()
        made = generate(served, args.items, contacts)
        generate_s = time.perf_counter() - start
        served.start()
        layout = Layout(Path(served.shown[f"handler of {DOOR!r}: desk"]))
        passphrase = served.shown[f"handler of {DOOR!r}: passphrase"]

        h.note("sync: Workbench.sync (download, then decrypt into the vault)")
        bench = Workbench.unlock(layout, passphrase)
        start = time.perf_counter()
        download = _Timed(args.items, start + args.deadline)
        indexing = _Timed(args.items, start + args.deadline)
        try:
            report = bench.sync(download, indexing)
        except _OutOfTimeError:
            bench.close()
            return _partial(args, generate_s, made, start, download, indexing)
        sync_s = time.perf_counter() - start
        download_s = download.last - start
        marks = [start, *download.tenths]
        index_s = indexing.last - indexing.first
        counts = bench.library.counts()
        bench.close()
    finally:
        served.stop()
    if report.new_items != args.items or counts != (args.items, contacts):
        raise SystemExit(f"synced {report.new_items} items, indexed {counts}: not {args.items}")
    if report.warnings:
        h.note(f"sync warnings: {report.warnings[:3]}")

    h.note("sync: unlock")
    keystore_s = [0.0] * args.repeat
    for n in range(args.repeat):
        start = time.perf_counter()
        unlock_keystore(layout.keystore, passphrase)
        keystore_s[n] = time.perf_counter() - start
    unlock_s, ready_s = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        bench = Workbench.unlock(layout, passphrase)
        unlock_s.append(time.perf_counter() - start)
        _search_ready(bench, time.monotonic() + 600)
        ready_s.append(time.perf_counter() - start)
        if len(unlock_s) < args.repeat:
            bench.close()

    queries = [
        WORDS[0], WORDS[8], f"g{7:03d}", f"k{args.items // 2:07d}",
        f"{WORDS[3]} g{3:03d}", "details", MISSING,
    ]  # fmt: skip
    h.note("sync: search while the events are grouped")
    during: list[float] = []
    while _grouping():
        for query in queries:
            t0 = time.perf_counter()
            bench.library.search(Filters(text=query))
            during.append(time.perf_counter() - t0)
    events_ready_s = time.perf_counter() - start
    h.note("sync: search")
    found = {}
    try:
        for query in queries:
            hits = len(bench.library.search(Filters(text=query), limit=args.items + 1))
            expected = _expected(query, args.items)
            if hits != expected:
                raise SystemExit(f"search {query!r}: {hits} items, expected {expected}")
            found[query] = hits
        times: list[float] = []
        each: dict[str, list[float]] = {q: [] for q in queries}
        for _ in range(args.search_repeat):
            for query in queries:
                start = time.perf_counter()
                bench.library.search(Filters(text=query))
                each[query].append(time.perf_counter() - start)
                times.append(each[query][-1])
    finally:
        bench.close()
    return {
        "bench": "sync", "items": args.items, "complete": True, "contacts": contacts,
        "key_type": crypto.DEFAULT_KEY_TYPE.value,
        "generate_s": round(generate_s, 1),
        "seal_and_put_s": round(made["seal_and_put_s"], 1), "rows_s": round(made["rows_s"], 1),
        "sync_s": round(sync_s, 1), "items_per_s": round(args.items / sync_s, 1),
        "download_s": round(download_s, 1), "decrypt_index_s": round(index_s, 1),
        "sync_other_s": round(sync_s - download_s - index_s, 1),
        "download_tenth_s": [round(b - a, 1) for a, b in itertools.pairwise(marks)],
        "unlock_ms": round(statistics.median(unlock_s) * 1e3, 1),
        "keystore_ms": round(statistics.median(keystore_s) * 1e3, 1),
        "search_ready_ms": round(statistics.median(ready_s) * 1e3, 1),
        "events_ready_ms": round(events_ready_s * 1e3, 1),
        "searches_while_grouping": len(during),
        "search_while_grouping_p50_ms": round(_pct(during, 0.50) * 1e3, 2) if during else None,
        "search_while_grouping_p99_ms": round(_pct(during, 0.99) * 1e3, 2) if during else None,
        "search_p50_ms": round(_pct(times, 0.50) * 1e3, 2),
        "search_p99_ms": round(_pct(times, 0.99) * 1e3, 2),
        "searches": len(times), "matches": found,
        "search_median_ms": {q: round(statistics.median(t) * 1e3, 2) for q, t in each.items()},
        "warnings": len(report.warnings),
    }  # fmt: skip


def _partial(
    args: argparse.Namespace,
    generate_s: float,
    made: dict[str, float],
    start: float,
    download: _Timed,
    indexing: _Timed,
) -> dict[str, object]:
    """What a sync cut at ``--deadline`` measured: how far it got, and how
    long each tenth of the download took (a growing figure is a cost that
    grows with the items held)."""
    marks = [start, *download.tenths]
    return {
        "bench": "sync", "items": args.items, "complete": False, "deadline_s": args.deadline,
        "generate_s": round(generate_s, 1),
        "seal_and_put_s": round(made["seal_and_put_s"], 1), "rows_s": round(made["rows_s"], 1),
        "downloaded": download.done, "indexed": indexing.done,
        "download_s": round(download.last - start, 1),
        "download_items_per_s": round(download.done / (download.last - start), 1),
        "download_tenth_s": [round(b - a, 1) for a, b in itertools.pairwise(marks)],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="shoal serve --workers")
    parser.add_argument("--repeat", type=int, default=5, help="unlocks timed")
    parser.add_argument("--search-repeat", type=int, default=30, help="rounds of the queries")
    parser.add_argument(
        "--deadline", type=float, default=900, help="seconds the sync may take before it is cut"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h.emit(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
