"""Message intake: 1 KiB messages from concurrent contacts, against real
``shoal serve`` processes, beside the framework's ceiling and two peers.

For each engine (SQLite, PostgreSQL) and each number of clients (16, 64),
in one run and interleaved, so that the machine's drift hits all alike:

* **shoal**: the demo organization (post-quantum keys: every message is
  sealed to three ML-KEM-768 + X25519 recipients), ``shoal serve
  --workers W`` (default: one per core), each client its own contact
  posting ``POST /api/v1/doors/news/submissions`` over a keep-alive
  connection. Then every server process is killed with SIGKILL, started
  again, and every acknowledged item id is looked up with its blob: a run
  in which any is missing prints ``"durable": false`` and ``msgs_per_s`` 0.
* **ceiling**: the same ASGI server (uvicorn, same options, same loop and
  parser) and FastAPI, answering the same POST with an empty 201.
* **onionshare**: OnionShare's receive mode (``onionshare-cli --receive
  --local-only``, installed into ``.venv-peers/onionshare`` on first use)
  taking the same text (``POST /upload-ajax``): no encryption, no fsync.
* **gpg**: the same ASGI server taking the message and encrypting it by
  calling ``gpg`` through python-gnupg to an RSA-4096 key, then writing and
  fsyncing the file: SecureDrop's design until recently.

``--nodes 2`` (issue's "scaling") serves from two ``shoal serve``
processes on one PostgreSQL (and one data directory), each client pinned
to one of them. The load generator (``_loadgen.py``) runs as its own
process; its CPU time is printed so its cost can be checked.

    .venv/bin/python bench/intake.py                  # everything, ~6 minutes
    .venv/bin/python bench/intake.py --engines sqlite --clients 16 --seconds 5
    .venv/bin/python bench/intake.py --engines postgresql --nodes 2 --no-peers
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select

import _harness as h
from shoal.store import FileBlobStore, schema

MESSAGE = b"m" * 1024
DOOR = "news"


def _submission(session: str, port: int) -> bytes:
    body, content_type = h.multipart([("message", MESSAGE)])
    return h.http_request(
        "POST", f"/api/v1/doors/{DOOR}/submissions", body,
        {"Authorization": f"Bearer {session}", "Content-Type": content_type}, port,
    )  # fmt: skip


def _stored(served: h.Served) -> dict[str, str]:
    """item id -> blob id of every item the database holds."""
    engine = create_engine(served.database())
    try:
        with engine.connect() as c:
            rows = c.execute(select(schema.Item.id, schema.Item.blob_id)).all()
    finally:
        engine.dispose()
    return {row.id: row.blob_id for row in rows}


def run_shoal(
    root: Path, clients: int, seconds: float, *, database: str | None, nodes: int, workers: int
) -> dict[str, object]:
    served = h.serve_demo(root, database=database, nodes=nodes, workers=workers)
    try:
        targets: list[tuple[int, list[bytes]]] = [(port, []) for port in served.ports]
        with httpx.Client(timeout=60) as http:
            for n in range(clients):
                port, requests = targets[n % nodes]
                made = http.post(f"http://127.0.0.1:{port}/api/v1/doors/{DOOR}/contacts")
                made.raise_for_status()
                requests.append(_submission(made.json()["session"], port))
        before = set(_stored(served))
        bodies = root / "acknowledged"
        result = h.load_many(
            [(port, reqs) for port, reqs in targets], seconds=seconds, bodies=bodies
        )
        acknowledged = [
            item
            for path in sorted(root.glob("acknowledged*"))
            for line in path.read_bytes().splitlines()
            for item in json.loads(line)["items"]
        ]
        served.kill()
        served.start()  # starts cleanly after the kill, or raises
        stored = _stored(served)
        blobs = FileBlobStore(served.data / "blobs")
        missing = [i for i in acknowledged if i not in stored or not blobs.exists(stored[i])]
        durable = not missing and len(set(stored) - before) >= len(acknowledged)
    finally:
        served.stop()
    rate = result["done"] / result["seconds"]
    return {
        "msgs_per_s": round(rate, 1) if durable else 0,
        "measured_msgs_per_s": round(rate, 1),
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "errors": result["errors"],
        "durable": durable,
        "acknowledged": len(acknowledged),
        "missing_after_kill": len(missing),
        "client_cpu_s": result["client_cpu_s"],
    }


def run_peer(kind: str, clients: int, seconds: float, *args: str) -> float:
    """Messages per second that ``_peers.py KIND`` takes."""
    port = h.free_port()
    process = subprocess.Popen(
        [sys.executable, str(h.BENCH / "_peers.py"), kind, str(port), *args],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        h.wait_up(f"http://127.0.0.1:{port}", process, "/docs")
        body, content_type = h.multipart([("message", MESSAGE)])
        request = h.http_request("POST", "/", body, {"Content-Type": content_type}, port)
        result = h.load(port, [request] * clients, seconds=seconds)
    finally:
        h.stop(process)
    return result["done"] / result["seconds"]


@contextmanager
def gpg_keyring(tmp: Path) -> Iterator[tuple[str, str]]:
    import gnupg  # noqa: PLC0415

    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    keyring = gnupg.GPG(gnupghome=str(home))
    key = keyring.gen_key(
        keyring.gen_key_input(
            key_type="RSA", key_length=4096, name_email="journalist@example.org",
            no_protection=True,
        )
    )  # fmt: skip
    try:
        yield str(home), str(key.fingerprint)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def run_onionshare(tmp: Path, clients: int, seconds: float) -> float:
    data = Path(tempfile.mkdtemp(dir=tmp))
    with h.onionshare(data) as port:
        body, content_type = h.multipart([("text", MESSAGE)])
        request = h.http_request("POST", "/upload-ajax", body, {"Content-Type": content_type}, port)
        result = h.load(port, [request] * clients, seconds=seconds, expect=200)
    return result["done"] / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-peers", action="store_true", help="shoal alone")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if args.nodes > 1 and engines != ["postgresql"]:
        parser.error("--nodes shares one PostgreSQL: use --engines postgresql")
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        cluster = stack.enter_context(h.postgresql()) if "postgresql" in engines else ""
        keyring = None if args.no_peers else stack.enter_context(gpg_keyring(tmp))
        for engine in engines:
            for clients in (int(c) for c in args.clients.split(",")):
                name = f"{engine}-{clients}-{time.monotonic_ns()}"
                database = h.create_database(cluster, name[:40]) if engine == "postgresql" else None
                h.note(f"intake: shoal, {engine}, {clients} clients")
                record: dict[str, object] = {
                    "bench": "intake", "engine": engine, "clients": clients,
                    "nodes": args.nodes, "workers": args.workers, "code": h.code_version(),
                }  # fmt: skip
                record |= run_shoal(
                    tmp / name, clients, args.seconds, database=database,
                    nodes=args.nodes, workers=args.workers,
                )  # fmt: skip
                if keyring is not None:
                    h.note("intake: ceiling, onionshare, gpg")
                    rate = float(record["msgs_per_s"])  # type: ignore[arg-type]
                    ceiling = run_peer("ceiling", clients, args.seconds)
                    onionshare = run_onionshare(tmp, clients, args.seconds)
                    out = tempfile.mkdtemp(dir=tmp)
                    gpg = run_peer("gpg", clients, args.seconds, *keyring, out)
                    record |= {
                        "ceiling_msgs_per_s": round(ceiling, 1),
                        "ratio_to_ceiling": round(rate / ceiling, 3),
                        "onionshare_msgs_per_s": round(onionshare, 1),
                        "ratio_to_onionshare": round(rate / onionshare, 2),
                        "gpg_baseline_msgs_per_s": round(gpg, 1),
                        "ratio_to_gpg": round(rate / gpg, 1),
                    }
                h.emit(record)
                shutil.rmtree(tmp / name, ignore_errors=True)


if __name__ == "__main__":
    main()
