"""The blob stores with one large blob: put and get on every backend, against the limits.

One blob of ``--size-mib`` MiB (256 by default) of random bytes, made once
up front as 1 MiB chunks and handed to ``put`` by a generator (making it is
not timed), then read back with ``open`` in the 64 KiB reads the server
uses for its answers. Backends (``--backends``, all by default):

* ``filesystem``: :class:`FileBlobStore` in a temporary directory;
* ``database-sqlite``: :class:`DatabaseBlobStore` on a SQLite file beside
  it (WAL, ``synchronous=FULL``, as the server opens it);
* ``database-postgresql``: the same on a throwaway PostgreSQL 15 cluster
  started here from the installed binaries (as the ``postgres`` user
  through ``tests/_pg/pg_ctl`` when run as root), data directory in the
  temporary directory, default settings (fsync on), reached over TCP on
  127.0.0.1;
* ``s3``: :class:`S3BlobStore` against moto's S3 server in its own process
  on 127.0.0.1 (``emulator: true``: moto keeps objects in Python, spilling
  them to temporary files; its figures say what moto costs, not what a
  real S3 would).

One JSON line per backend:

* ``put_mib_s`` and ``get_mib_s``, the first put into an empty store
  (after a small warm-up put that opens connections);
* ``put_peak_mib`` and ``get_peak_mib``: the peak of Python's traced
  memory (tracemalloc) during a second put and get of the same bytes, with
  the first blob deleted in between, above what was traced before each
  began (a streaming store stays at a few chunks whatever the size). The
  second pass, traced, is not timed: tracing slows allocations;
* the limits, measured in the same run just before and after that
  backend's timed put and get, the better of the two: ``sha256_mib_s``,
  hashing the same chunks (every put does), and ``disk_write_mib_s``,
  writing them to a new plain file in the same temporary directory and
  fsyncing it; ``ratio_put_to_disk`` and ``ratio_put_to_sha256`` are
  ``put_mib_s`` over each. A put that hashes then writes on one thread
  is bounded by both at once: at best 1 / (1/sha256 + 1/disk).

Everything this starts or writes (the temporary directory, the cluster,
moto) is removed or stopped at the end, on failure and on SIGTERM too.

Run: ``.venv/bin/python bench/blob_stores.py [--size-mib 256]
[--backends filesystem database-sqlite database-postgresql s3]``.
JSON lines go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoal.store import (
    BlobStore,
    DatabaseBlobStore,
    FileBlobStore,
    S3BlobStore,
    create_db_engine,
    migrate,
)

MIB = 1 << 20
#: What the server reads from a blob per chunk of an answer (BLOB_CHUNK).
READ = 64 * 1024
ROOT = Path(__file__).resolve().parent.parent
PG_CTL = ROOT / "tests" / "_pg" / "pg_ctl"
PG_BIN = "/usr/lib/postgresql/15/bin"
BACKENDS = ("filesystem", "database-sqlite", "database-postgresql", "s3")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Cleanup:
    """Undo actions, run last registered first, once: from ``main``'s
    ``finally`` and, should that be skipped, at exit. Each one runs even if
    an earlier one failed."""

    def __init__(self) -> None:
        self._actions: list[Callable[[], object]] = []
        atexit.register(self.run)

    def add(self, action: Callable[[], object]) -> None:
        self._actions.append(action)

    def run(self) -> None:
        while self._actions:
            action = self._actions.pop()
            try:
                action()
            except Exception as exc:
                log(f"clean-up failed: {exc!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the limits ---------------------------------------------------------------


def sha256_mib_s(chunks: list[bytes]) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return len(chunks) / (time.perf_counter() - started)


def disk_write_mib_s(chunks: list[bytes], directory: Path) -> float:
    """A new file, written and fsynced as the file store writes a blob."""
    path = directory / "disk-limit.bin"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    path.unlink()
    return len(chunks) / elapsed


# -- the backends -------------------------------------------------------------


def start_postgresql(tmp: Path, cleanup: Cleanup) -> str:
    """A throwaway cluster in ``tmp/pg``; its SQLAlchemy URL."""
    base, port = tmp / "pg", free_port()
    data = base / "data"
    base.mkdir()
    env = os.environ | {"SHOAL_PG_BIN": PG_BIN}
    pg_ctl = [str(PG_CTL), "-D", str(data)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    # initdb's --no-sync only spares the cluster's creation; the server
    # then runs with fsync on, as in production.
    subprocess.run(
        [*pg_ctl, "initdb", "-o", "--auth=trust --username=postgres --no-sync"],
        check=True, **quiet,
    )  # fmt: skip
    # Registered before starting: a start that timed out may have left a
    # server running.
    cleanup.add(lambda: subprocess.run([*pg_ctl, "stop", "-m", "fast", "-w"], check=False, **quiet))
    subprocess.run(
        [*pg_ctl, "start", "-w", "-l", str(base / "log"),
         "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {base}"],
        check=True, **quiet,
    )  # fmt: skip
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def start_moto(tmp: Path, cleanup: Cleanup) -> str:
    """moto's S3 server in its own process; its URL. Its spilled objects
    go to ``tmp/moto``."""
    spill, port = tmp / "moto", free_port()
    spill.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=os.environ | {"TMPDIR": str(spill)},
    )  # fmt: skip
    cleanup.add(lambda: stop_process(process))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return url
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)


def open_store(backend: str, tmp: Path, cleanup: Cleanup) -> BlobStore:
    if backend == "filesystem":
        return FileBlobStore(tmp / "files")
    if backend == "s3":
        store = S3BlobStore.connect(
            endpoint_url=start_moto(tmp, cleanup), bucket="shoal-bench", region="us-east-1",
            access_key_id="testing", secret_access_key="testing", prefix="node/",
        )  # fmt: skip
        cleanup.add(store.client.close)
        store.client.create_bucket(Bucket=store.bucket)
        return store
    if backend == "database-sqlite":
        url = f"sqlite:///{tmp / 'blobs.db'}"
    elif backend == "database-postgresql":
        url = start_postgresql(tmp, cleanup)
    else:
        raise ValueError(backend)
    engine = create_db_engine(url)
    cleanup.add(engine.dispose)
    migrate(engine)
    return DatabaseBlobStore(engine)


# -- one backend --------------------------------------------------------------


def put(store: BlobStore, chunks: list[bytes], expected: str) -> float:
    started = time.perf_counter()
    ref = store.put(chunk for chunk in chunks)
    elapsed = time.perf_counter() - started
    if ref.blob_id != expected or not ref.created:
        raise RuntimeError(f"put returned {ref}, expected a new blob {expected}")
    return elapsed


def get(store: BlobStore, blob_id: str, size: int, check: bool = False) -> float:
    digest = hashlib.sha256()
    got = 0
    started = time.perf_counter()
    with store.open(blob_id) as reader:
        while chunk := reader.read(READ):
            got += len(chunk)
            if check:
                digest.update(chunk)
    elapsed = time.perf_counter() - started
    if got != size:
        raise RuntimeError(f"read {got} bytes, not the {size} stored")
    if check and digest.hexdigest() != blob_id:
        raise RuntimeError("the bytes read back are not the bytes stored")
    return elapsed


def traced_peak_mib(action: Callable[[], object]) -> float:
    """Peak traced memory during ``action`` above what was traced before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        action()
        return (tracemalloc.get_traced_memory()[1] - before) / MIB
    finally:
        tracemalloc.stop()


def bench(backend: str, chunks: list[bytes], expected: str, tmp: Path) -> dict[str, Any]:
    cleanup = Cleanup()
    work = tmp / backend
    work.mkdir()
    try:
        store = open_store(backend, work, cleanup)
        small = store.put([b"warm-up"])
        get(store, small.blob_id, small.size)
        store.delete(small.blob_id)

        size = len(chunks) * MIB
        sha = [sha256_mib_s(chunks)]
        disk = [disk_write_mib_s(chunks, work)]
        put_s = put(store, chunks, expected)
        get_s = get(store, expected, size)
        store.delete(expected)
        sha.append(sha256_mib_s(chunks))
        disk.append(disk_write_mib_s(chunks, work))

        put_peak = traced_peak_mib(lambda: put(store, chunks, expected))
        get_peak = traced_peak_mib(lambda: get(store, expected, size, check=True))
        store.delete(expected)

        put_mib_s = len(chunks) / put_s
        record: dict[str, Any] = {
            "bench": "blob_stores",
            "backend": backend,
            "size_mib": len(chunks),
            "put_mib_s": round(put_mib_s, 1),
            "get_mib_s": round(len(chunks) / get_s, 1),
            "put_peak_mib": round(put_peak, 2),
            "get_peak_mib": round(get_peak, 2),
            "sha256_mib_s": round(max(sha), 1),
            "disk_write_mib_s": round(max(disk), 1),
            "ratio_put_to_disk": round(put_mib_s / max(disk), 3),
            "ratio_put_to_sha256": round(put_mib_s / max(sha), 3),
        }
        if backend == "s3":
            record["emulator"] = True
        return record
    finally:
        cleanup.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args()
    # SIGTERM ends the run through the finally blocks, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    cleanup = Cleanup()
    try:
        tmp = Path(tempfile.mkdtemp(prefix="shoal-bench-blobs-"))
        cleanup.add(lambda: shutil.rmtree(tmp, ignore_errors=True))
        log(f"making {args.size_mib} MiB of random bytes")
        chunks = [os.urandom(MIB) for _ in range(args.size_mib)]
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
        expected = digest.hexdigest()
        for backend in args.backends:
            started = time.monotonic()
            record = bench(backend, chunks, expected, tmp)
            print(json.dumps(record), flush=True)
            log(f"{backend}: {time.monotonic() - started:.1f} s")
    finally:
        cleanup.run()


if __name__ == "__main__":
    main()
