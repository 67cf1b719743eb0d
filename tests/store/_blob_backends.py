"""The blob store backends under one contract: how to open each, how another
process reopens the same one, and how to see, behind a store's back, what
a failed or crashed write left.

A store is named by a short argument list (``where``) so that the crash
tests' writer subprocess (this module run as a script) opens exactly the
store the test looks at: ``file ROOT``, ``database URL`` or ``s3 ENDPOINT
BUCKET PREFIX``.

S3 runs against moto's S3 server in its own process on 127.0.0.1
(:class:`MotoServer`), serving one request at a time: moto's threaded
``moto_server`` checks ``If-None-Match`` and then writes without a lock,
so two concurrent conditional completions both succeed there (measured:
up to 7 of 8), where AWS S3 lets exactly one through. Serving requests one
by one gives the per-request atomicity AWS promises; the clients still run
concurrently.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shoal.store import (
    BlobStore,
    DatabaseBlobStore,
    FileBlobStore,
    S3BlobStore,
    create_db_engine,
    schema,
)
from shoal.store._database_blobs import BATCH, CHUNK_SIZE
from shoal.store._s3_blobs import PART_SIZE

VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"

# moto's own WSGI application and request handler, as moto_server runs
# them, but with threaded=False (see the module docstring).
_MOTO = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app,
)
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """moto's S3 server in a subprocess; :meth:`stop` ends it."""

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [str(VENV_PYTHON), "-c", _MOTO, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def open_store(where: Sequence[str]) -> BlobStore:
    kind, *args = where
    if kind == "file":
        return FileBlobStore(Path(args[0]))
    if kind == "database":
        return DatabaseBlobStore(create_db_engine(args[0]))
    if kind == "s3":
        endpoint, bucket, prefix = args
        return S3BlobStore.connect(
            endpoint_url=endpoint,
            bucket=bucket,
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
            prefix=prefix,
        )
    raise ValueError(f"no such backend: {kind}")


def close_store(store: BlobStore) -> None:
    if isinstance(store, DatabaseBlobStore):
        store.engine.dispose()


def leftovers(store: BlobStore) -> int:
    """How many pieces of unfinished writes the store holds (none is a blob)."""
    if isinstance(store, FileBlobStore):
        return sum(1 for _ in (store.root / "tmp").iterdir())
    if isinstance(store, DatabaseBlobStore):
        with store.engine.connect() as connection:
            writes = connection.scalar(select(func.count()).select_from(schema.BlobWrite))
            orphans = connection.scalar(
                select(func.count())
                .select_from(schema.BlobChunk)
                .where(schema.BlobChunk.storage_id.not_in(select(schema.BlobObject.storage_id)))
            )
        return int(writes or 0) + int(orphans or 0)
    if isinstance(store, S3BlobStore):
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        tmp = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}tmp/")
        return len(uploads) + len(tmp.get("Contents", []))
    raise TypeError(type(store).__name__)


@contextlib.contextmanager
def tmpfs(mount: Path, size: str, owner: str = "root") -> Iterator[Path]:
    """A real tmpfs of ``size`` (``"1m"``) at ``mount``, owned by ``owner``:
    a disk that fills up for real (mounting needs root)."""
    if os.geteuid() != 0:
        message = "ROOT NEEDED: mounting a tmpfs to fill a disk for real"
        if os.environ.get("SHOAL_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    user = pwd.getpwnam(owner)
    mount.mkdir(exist_ok=True)
    options = f"size={size},mode=0700,uid={user.pw_uid},gid={user.pw_gid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def pattern(size: int, seed: int = 0) -> bytes:
    """``size`` reproducible bytes that do not compress (like ciphertext)."""
    return random.Random(seed).randbytes(size)


def pieces(size: int, piece: int, seed: int = 0) -> Iterator[bytes]:
    """:func:`pattern` of ``size`` bytes, made and handed over ``piece`` at a
    time (memory stays at one piece)."""
    source = random.Random(seed)
    for start in range(0, size, piece):
        yield source.randbytes(min(piece, size - start))


#: The crash writer's blob, in 1 MiB chunks: it sends them all, never the end.
CRASH_CHUNKS = 40
#: After this many chunks, past the first database batch and the first S3
#: part (so something of the write is stored), the writer says "midway";
#: from then on it writes slowly, then blocks.
CRASH_MIDWAY = max(BATCH, PART_SIZE // CHUNK_SIZE) + 4


def crash_chunks() -> Iterator[bytes]:
    """The chunks of the blob the crash writer puts, and never finishes."""
    return pieces(CRASH_CHUNKS << 20, 1 << 20, seed=9)


def crash_writer(where: Sequence[str]) -> None:
    """Put :func:`crash_chunks` into the store, announcing "midway" and
    then sending the rest slowly; block before the end, forever."""
    store = open_store(where)

    def slowly() -> Iterator[bytes]:
        for n, chunk in enumerate(crash_chunks()):
            if n == CRASH_MIDWAY:
                print("midway", flush=True)
            if n >= CRASH_MIDWAY:
                time.sleep(0.02)
            yield chunk
        time.sleep(3600)  # the test kills us before the put can finish

    store.put(slowly())
    sys.exit("the put finished: the crash test expected to kill it first")


if __name__ == "__main__":
    crash_writer(sys.argv[1:])
