"""The desk UI at 100,000 items: unlock, inbox, conversation and search.

SecureDrop's Workstation users report slowness at a few hundred sources
because every item is decrypted again; the desk decrypts each item once,
at sync, into records in its encrypted vault (``shoal.desk._vault``), and
rebuilds an in-memory index at unlock (``shoal.desk._library``). This
script measures, on a desk of the demo organization (default post-quantum
keys) holding ``--items`` synthetic reports in Ukrainian, Russian and
English from ``--contacts`` contacts:

* ``vault_write_s``: writing the records (as 20 syncs would);
* ``unlock_vault_s``: reading the vault in-process until the inbox and
  conversations can be shown, with 20 log files and again after compaction
  into one snapshot; ``search_ready_s``: until the full-text index, built
  in the background after unlock, is complete;
* ``naive_unlock_s``: the limit the design avoids, decrypting every item
  at unlock: the per-item cost of opening real sealed items (measured on
  ``--sample`` of them) times ``--items``; ``ratio_naive_to_vault`` says
  how many times faster the vault is;
* over HTTP against a real ``shoal desk ui`` process, median of repeated
  requests: ``unlock_to_inbox_http_s`` (passphrase, keystore scrypt
  included, until the first inbox page is received),
  ``unlock_to_search_ready_http_s`` (until the full-text index is whole),
  ``inbox_ms`` (GET /, 50 contacts), ``inbox_page_200_ms`` (a later page),
  ``conversation_ms``, ``search_ms`` (FTS5, assorted words), and
  ``search_filtered_ms`` (words plus a date range and a credibility);
* the same queries in-process (``*_core_ms``), without HTTP and templates.

One JSON line per figure group. Run: ``.venv/bin/python bench/desk_ui.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from shoal import crypto, demo, trusted
from shoal.desk._library import Filters, Library
from shoal.desk._vault import Vault

UK = [
    "колона",
    "техніка",
    "міст",
    "дорога",
    "школа",
    "вода",
    "світло",
    "обстріл",
    "укриття",
    "лікарня",
    "склад",
    "поїзд",
]
RU = [
    "колонна",
    "техника",
    "мост",
    "дорога",
    "школа",
    "вода",
    "свет",
    "обстрел",
    "укрытие",
    "больница",
    "склад",
    "поезд",
]
EN = [
    "convoy",
    "vehicles",
    "bridge",
    "road",
    "school",
    "water",
    "power",
    "shelling",
    "shelter",
    "hospital",
    "depot",
    "train",
]


def _text(rng: random.Random, vocabulary: list[str]) -> str:
    words = [rng.choice(UK + RU + EN) for _ in range(rng.randint(5, 15))]
    words += rng.choices(vocabulary, k=rng.randint(20, 70))
    rng.shuffle(words)
    return " ".join(words)


def _records(count: int, contacts: int, rng: random.Random) -> list[dict[str, Any]]:
    vocabulary = ["".join(rng.choices("abcdefghijklmnoprstuvyz", k=rng.randint(3, 9)))
                  for _ in range(20_000)]  # fmt: skip
    records = []
    for n in range(count):
        records.append({
            "t": "item", "id": f"item{n:07d}", "seq": n + 1,
            "contact": f"contact{rng.randrange(contacts):06d}", "direction": "in",
            "day": f"2026-{1 + n * 11 // count:02d}-{1 + n % 28:02d}", "kind": "message",
            "standing": "server-only", "verdict": "vouched for by the server only",
            "text": _text(rng, vocabulary), "size": 600,
        })  # fmt: skip
        if n % 7 == 0:
            records.append({"t": "credibility", "item": f"item{n:07d}", "grade": "2"})
    return records


def _timed(fn: Any, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _naive_per_item(sample: int) -> float:
    """Seconds to open one real sealed message (hybrid keys, 3 recipients)."""
    identities = [crypto.generate_identity(crypto.DEFAULT_KEY_TYPE) for _ in range(3)]
    recipients = [i.recipient() for i in identities]
    items = [
        crypto.encrypt_item(recipients, {"kind": "message"}, b"x" * 600) for _ in range(sample)
    ]
    start = time.perf_counter()
    for item in items:
        crypto.decrypt_item(item, identities[-1:])
    return (time.perf_counter() - start) / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "org"
        root.mkdir()
        demo.build(root, "http://127.0.0.1:9")
        desk = root / "desk-news"
        passphrase = (root / "passphrases" / "desk-news.passphrase").read_text().strip()
        keystore = trusted.unlock_keystore(desk / "keystore.age", passphrase)
        ids = list(keystore.identities)
        vault = Vault(desk / "vault", [i.recipient() for i in ids], ids)
        records = _records(args.items, args.contacts, rng)
        start = time.perf_counter()
        batch = len(records) // 20 + 1
        for at in range(0, len(records), batch):
            vault.append(records[at : at + batch])
        write_s = time.perf_counter() - start

        def unlock(*, defer: bool = False) -> Library:
            library = Library("bench")
            library.load(vault.records(), defer_search=defer)
            return library

        def search_ready() -> None:
            library = unlock(defer=True)
            while not library.index_search():
                pass
            library.close()

        logs_s = _timed(lambda: unlock(defer=True).close(), 3)
        library = unlock()
        vault.compact(library.snapshot())
        snapshot_s = _timed(lambda: unlock(defer=True).close(), 3)
        whole_s = _timed(search_ready, 3)
        per_item = _naive_per_item(args.sample)
        naive_s = per_item * args.items
        print(json.dumps({
            "bench": "desk_unlock", "items": args.items, "contacts": args.contacts,
            "vault_write_s": round(write_s, 2), "unlock_vault_s": round(snapshot_s, 2),
            "unlock_vault_20_logs_s": round(logs_s, 2), "search_ready_s": round(whole_s, 2),
            "naive_unlock_s": round(naive_s, 1), "naive_ms_per_item": round(per_item * 1e3, 3),
            "ratio_naive_to_vault": round(naive_s / snapshot_s, 1),
            "ratio_naive_to_search_ready": round(naive_s / whole_s, 1),
        }))  # fmt: skip
        words = [*rng.sample(UK, 4), *rng.sample(RU, 4), *rng.sample(EN, 4)]
        contact = library.inbox(limit=1)[0].contact_id
        core = {
            "inbox_core_ms": _timed(library.inbox, args.repeat),
            "conversation_core_ms": _timed(lambda: library.conversation(contact), args.repeat),
            "search_core_ms": statistics.median(
                _timed(lambda w=w: library.search(Filters(text=w)), 3) for w in words
            ),
            "search_two_words_core_ms": _timed(
                lambda: library.search(Filters(text=f"{UK[0]} {EN[2]}")), args.repeat
            ),
        }
        library.close()
        print(json.dumps({"bench": "desk_core", **{k: round(v * 1e3, 2) for k, v in core.items()}}))
        print(json.dumps({"bench": "desk_http", **_http(desk, passphrase, contact, words, args)}))


def _http(
    desk: Path, passphrase: str, contact: str, words: list[str], args: argparse.Namespace
) -> dict[str, float]:
    process = subprocess.Popen(
        [sys.executable, "-m", "shoal", "desk", "ui", "--dir", str(desk)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = next(line.strip() for line in process.stdout if line.startswith("http"))
        base = url.split("/launch")[0]
        with httpx.Client(base_url=base, timeout=600) as client:
            page = client.get(url, follow_redirects=True).text
            token = re.search(r'name="form_token" value="([^"]+)"', page)
            assert token is not None
            start = time.perf_counter()
            unlocked = client.post(
                "/unlock", data={"form_token": token.group(1), "passphrase": passphrase}
            )
            first_inbox = client.get("/")
            unlock_s = time.perf_counter() - start
            assert unlocked.status_code == 303, unlocked.text[:300]
            assert first_inbox.status_code == 200
            # The full-text index fills in the background after unlock:
            # wait for it, then time pages without it competing.
            while "search-indexing" in client.get("/search?q=x").text:
                time.sleep(0.2)
            ready_s = time.perf_counter() - start

            def get(path: str) -> None:
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)

            return {
                "unlock_to_inbox_http_s": round(unlock_s, 2),
                "unlock_to_search_ready_http_s": round(ready_s, 2),
                "inbox_ms": round(_timed(lambda: get("/"), args.repeat) * 1e3, 1),
                "inbox_page_200_ms": round(
                    _timed(lambda: get("/?offset=10000"), args.repeat) * 1e3, 1
                ),
                "conversation_ms": round(
                    _timed(lambda: get(f"/contacts/{contact}"), args.repeat) * 1e3, 1
                ),
                "search_ms": round(
                    statistics.median(_timed(lambda w=w: get(f"/search?q={w}"), 3) for w in words)
                    * 1e3,
                    1,
                ),
                "search_filtered_ms": round(
                    _timed(
                        lambda: get(
                            f"/search?q={words[0]}&since=2026-03-01&until=2026-06-30&credibility=2"
                        ),
                        args.repeat,
                    )
                    * 1e3,
                    1,
                ),
            }
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
