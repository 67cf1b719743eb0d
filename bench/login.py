"""Codename logins: how many a second, and what a flood of wrong ones does
to the real ones.

Against a real ``shoal serve --workers W`` (default: one per core) of the
demo organization (post-quantum keys, SQLite), each client its own contact
(made first with ``POST /api/v1/doors/news/contacts``) logging in again and
again with ``POST /api/v1/doors/news/sessions`` ``{"codename": …}`` over a
keep-alive connection (``_loadgen.py``, its own process; 201 expected):

* ``logins_per_s``, ``p50_ms``, ``p99_ms``: ``--clients`` (64) clients at once;
* ``real_p50_ms_alone``, ``real_p99_ms_alone``: ``--real`` (8) of those
  clients alone;
* ``real_p50_ms_during_flood``, ``real_p99_ms_during_flood``: the same
  clients while ``--clients - --real`` (56) others send codenames of the
  right shape (7 words of the list, ``crypto.generate_codename``) that no
  contact has (401 expected), from a second load generator whose measured
  window encloses the first's; ``wrong_per_s``: the wrong ones answered;
  ``flood_ratio`` = ``real_p99_ms_during_flood / real_p99_ms_alone``.

The alone and flood runs alternate ``--repeat`` times (the machine's drift
hits both alike); each figure is the best (lowest latency, highest rate)
of its runs. A login derives the contact's keys from the codename
(``crypto.derive_contact_keys``); its cost is measured in this process too
(``derive_us``; a wrong codename's, whose identity is never made,
``wrong_codename_derive_us``; the lookup id's HKDF alone, ``lookup_hkdf_us``), see the
line ``"bench": "login_kdf"``.

    .venv/bin/python bench/login.py                     # ~1.5 minutes
    .venv/bin/python bench/login.py --seconds 3 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import _harness as h
from shoal import crypto
from shoal.crypto import _codename

DOOR = "news"


def _login(codename: str, port: int) -> bytes:
    body = json.dumps({"codename": codename}).encode()
    return h.http_request(
        "POST", f"/api/v1/doors/{DOOR}/sessions", body, {"Content-Type": "application/json"}, port
    )


def _contacts(port: int, count: int) -> list[str]:
    """``count`` new contacts' codenames; each checked to log in once."""
    codenames = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        for _ in range(count):
            made = http.post(f"/api/v1/doors/{DOOR}/contacts")
            made.raise_for_status()
            codenames.append(made.json()["codename"])
        first = http.post(f"/api/v1/doors/{DOOR}/sessions", json={"codename": codenames[0]})
        assert first.status_code == 201, first.text
        wrong = http.post(
            f"/api/v1/doors/{DOOR}/sessions", json={"codename": crypto.generate_codename()}
        )
        assert wrong.status_code == 401, wrong.text
    return codenames


def _flood(
    port: int, real: list[bytes], wrong: list[bytes], seconds: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Both generators at once; the real clients are measured inside the
    window the wrong ones are measured in (started later, ended earlier)."""
    with ThreadPoolExecutor(2) as pool:
        flooding = pool.submit(h.load, port, wrong, seconds=seconds + 1.0, warmup=1.0, expect=401)
        measured = pool.submit(h.load, port, real, seconds=seconds, warmup=1.5)
        return measured.result(), flooding.result()


def kdf_cost(samples: int) -> dict[str, object]:
    """In-process cost of what a login derives from the codename."""
    salt = os.urandom(_codename.SALT_SIZE)
    names = [crypto.generate_codename() for _ in range(samples)]
    key_type = crypto.DEFAULT_KEY_TYPE

    def per_call(fn: object) -> float:
        start = time.perf_counter()
        for name in names:
            fn(name)  # type: ignore[operator]
        return (time.perf_counter() - start) / samples * 1e6

    lookup = per_call(lambda n: _codename._hkdf(n, salt, _codename.LOOKUP_ID_INFO))
    # What a wrong codename costs (the identity is made only when used) and
    # what a real login costs (the identity made).
    wrong = per_call(lambda n: crypto.derive_contact_keys(n, salt, key_type))
    whole = per_call(lambda n: crypto.derive_contact_keys(n, salt, key_type).identity)
    classic = per_call(
        lambda n: crypto.derive_contact_keys(n, salt, crypto.KeyType.X25519).identity
    )
    return {
        "bench": "login_kdf",
        "kdf": "HKDF-SHA-256 (two derivations: lookup id, identity seed), then the "
        f"{key_type.value} identity from the seed",
        "key_type": key_type.value,
        "derive_us": round(whole, 1),
        "wrong_codename_derive_us": round(wrong, 1),
        "lookup_hkdf_us": round(lookup, 1),
        "derive_x25519_us": round(classic, 1),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--real", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--kdf-samples", type=int, default=2000)
    args = parser.parse_args()
    if not 0 < args.real < args.clients:
        parser.error("--real must be between 1 and --clients - 1")
    with tempfile.TemporaryDirectory() as tmp:
        served = h.serve_demo(Path(tmp) / "org", workers=args.workers)
        try:
            port = served.ports[0]
            h.note(f"login: making {args.clients} contacts")
            codenames = _contacts(port, args.clients)
            logins = [_login(c, port) for c in codenames]
            real = logins[: args.real]
            wrong = [_login(crypto.generate_codename(), port) for _ in codenames[args.real :]]
            runs: dict[str, list[dict[str, float]]] = {
                k: [] for k in ("all", "alone", "flood", "wrong")
            }
            for n in range(args.repeat):
                h.note(f"login: run {n + 1}/{args.repeat}: {args.clients} clients")
                runs["all"].append(h.load(port, logins, seconds=args.seconds))
                h.note(f"login: {args.real} real clients alone")
                runs["alone"].append(h.load(port, real, seconds=args.seconds))
                h.note(f"login: {args.real} real clients, {len(wrong)} wrong ones")
                measured, flooding = _flood(port, real, wrong, args.seconds)
                runs["flood"].append(measured)
                runs["wrong"].append(flooding)
        finally:
            served.stop()
    for name, results in runs.items():
        for r in results:
            h.note(f"  {name}: {json.dumps(r)}")
    best_all = max(runs["all"], key=lambda r: r["done"] / r["seconds"])
    alone_p99 = min(r["p99_ms"] for r in runs["alone"])
    flood_p99 = min(r["p99_ms"] for r in runs["flood"])
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    h.emit({
        "bench": "login", "engine": "sqlite", "workers": args.workers,
        "clients": args.clients, "real_clients": args.real,
        "logins_per_s": round(best_all["done"] / best_all["seconds"], 1),
        "p50_ms": best_all["p50_ms"], "p99_ms": best_all["p99_ms"],
        "real_p50_ms_alone": min(r["p50_ms"] for r in runs["alone"]),
        "real_p99_ms_alone": alone_p99,
        "real_per_s_alone": round(max(r["done"] / r["seconds"] for r in runs["alone"]), 1),
        "real_p50_ms_during_flood": min(r["p50_ms"] for r in runs["flood"]),
        "real_p99_ms_during_flood": flood_p99,
        "real_per_s_during_flood": round(
            max(r["done"] / r["seconds"] for r in runs["flood"]), 1
        ),
        "flood_ratio": round(flood_p99 / alone_p99, 2),
        "wrong_per_s": round(max(r["done"] / r["seconds"] for r in runs["wrong"]), 1),
        "errors": errors,
        "client_cpu_s": round(sum(r["client_cpu_s"] for rs in runs.values() for r in rs), 2),
        "repeat": args.repeat,
    })  # fmt: skip
    h.emit(kdf_cost(args.kdf_samples))


if __name__ == "__main__":
    main()
