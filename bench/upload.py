"""Large uploads: one ``--mib`` MiB file (default 1,000) through the
contact's upload path of a real ``shoal serve``, beside OnionShare and the
sink, interleaved in one run (best of ``--repeat``).

* **shoal**: the demo organization (post-quantum keys), ``shoal serve
  --workers 1`` (one process, so its RSS is the server's), a new contact
  (``POST /api/v1/doors/news/contacts``) sending the file as the multipart
  field ``files`` of ``POST /api/v1/doors/news/submissions`` with its
  Bearer session. The server seals it as it streams (age to the door's
  ML-KEM-768 + X25519 recipients) and stores it durably (fsync, then the
  row); the 201 must name one item, and that item's row and blob (at least
  as large as the file) must be in the store. ``rss_growth_mib``: the
  resident memory of the server process and all its children, summed,
  sampled every 50 ms during the upload; peak minus the value just before
  (the largest over the repeats).
* **onionshare**: OnionShare's receive mode (``onionshare-cli --receive
  --local-only``, installed into ``.venv-peers/onionshare`` on first use)
  taking the same file (``POST /upload-ajax``, field ``file[]``, 200): no
  encryption, no fsync. It refuses bodies over 1 GiB, hence 1,000 MiB.
* **sink**: the same ASGI server as ``shoal serve`` (uvicorn, same options)
  with a route that reads the request stream and discards it
  (``bench/_peers.py sink``): the limit for any server on this stack.

MiB/s is wall time from the first byte of the request sent to the answer
read. The client streams the file from disk with ``sendfile`` (the body is
never in memory, and the client costs little CPU beside the server; its
CPU time is shown on stderr).

    .venv/bin/python bench/upload.py                 # 1,000 MiB, about a minute
    .venv/bin/python bench/upload.py --mib 100 --repeat 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, select

import _harness as h
from shoal.store import FileBlobStore, schema

DOOR = "news"
FILENAME = "footage.bin"
BOUNDARY = "shoalbenchupload"
MIB = 1 << 20
TIMEOUT = 900  # seconds, for one upload


def make_file(path: Path, mib: int) -> None:
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))


def _framing(field: str) -> tuple[bytes, bytes, str]:
    """The multipart body around one file: what goes before and after."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{FILENAME}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={BOUNDARY}"


def post_file(
    port: int, path: str, field: str, source: Path, headers: dict[str, str] | None = None
) -> tuple[float, int, bytes, float]:
    """POST ``source`` as a one-file multipart body, streamed from disk.

    Returns (seconds from the first byte sent to the answer read, status,
    answer body, client CPU seconds).
    """
    head, tail, content_type = _framing(field)
    length = len(head) + source.stat().st_size + len(tail)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    connection.connect()
    try:
        cpu = time.thread_time()
        started = time.perf_counter()
        connection.putrequest("POST", path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(length))
        connection.endheaders(head)
        with source.open("rb") as f:
            assert connection.sock is not None
            connection.sock.sendfile(f)
        connection.send(tail)
        answer = connection.getresponse()
        body = answer.read()
        seconds = time.perf_counter() - started
        return seconds, answer.status, body, time.thread_time() - cpu
    finally:
        connection.close()


class RssPeak:
    """Sample the summed RSS of a process and its children in a thread."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.before = self.peak = self.sample()
        self.samples = 0

    def sample(self) -> int:
        total = 0
        for process in [self._process, *self._process.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, self.sample())
            self.samples += 1

    def __enter__(self) -> RssPeak:
        self.before = self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / MIB


def _stored_blob(served: h.Served, item: str) -> str | None:
    engine = create_engine(served.database())
    try:
        with engine.connect() as c:
            row = c.execute(select(schema.Item.blob_id).where(schema.Item.id == item)).first()
    finally:
        engine.dispose()
    return None if row is None else str(row.blob_id)


def run_shoal(served: h.Served, source: Path) -> tuple[float, float]:
    """One upload; returns (seconds, RSS growth in MiB)."""
    port = served.ports[0]
    made = httpx.post(f"http://127.0.0.1:{port}/api/v1/doors/{DOOR}/contacts", timeout=60)
    made.raise_for_status()
    auth = {"Authorization": f"Bearer {made.json()['session']}"}
    with RssPeak(served.processes[0].pid) as rss:
        seconds, status, body, cpu = post_file(
            port, f"/api/v1/doors/{DOOR}/submissions", "files", source, auth
        )
    if status != 201:
        raise RuntimeError(f"shoal answered {status}: {body[:300]!r}")
    items = json.loads(body)["items"]
    if len(items) != 1:
        raise RuntimeError(f"shoal answered {body!r}: one item expected")
    blob = _stored_blob(served, items[0])
    blobs = FileBlobStore(served.data / "blobs")
    if blob is None or not blobs.exists(blob):
        raise RuntimeError(f"item {items[0]} acknowledged but not stored")
    size = blobs.size(blob)
    if size < source.stat().st_size:
        raise RuntimeError(f"stored blob is {size} bytes, smaller than the file")
    h.note(
        f"upload: shoal {source.stat().st_size / MIB / seconds:.1f} MiB/s, "
        f"RSS {rss.before / MIB:.0f} -> peak {rss.peak / MIB:.0f} MiB "
        f"({rss.samples} samples), client CPU {cpu:.2f} s"
    )
    # The next repeat starts from the same disk: the blob is not needed.
    blobs.delete(blob)
    return seconds, rss.growth_mib


def run_onionshare(port: int, received: Path, source: Path) -> float:
    seconds, status, body, cpu = post_file(port, "/upload-ajax", "file[]", source)
    if status != 200:
        raise RuntimeError(f"onionshare answered {status}: {body[:300]!r}")
    got = [p for p in received.rglob(FILENAME) if p.is_file()]
    if len(got) != 1 or got[0].stat().st_size != source.stat().st_size:
        raise RuntimeError(f"onionshare did not store the file: {got}")
    got[0].unlink()
    h.note(f"upload: onionshare {source.stat().st_size / MIB / seconds:.1f} MiB/s, cpu {cpu:.2f} s")
    return seconds


def run_sink(port: int, source: Path) -> float:
    seconds, status, body, cpu = post_file(port, "/", "files", source)
    head, tail, _ = _framing("files")
    expected = len(head) + source.stat().st_size + len(tail)
    if status != 201 or json.loads(body)["size"] != expected:
        raise RuntimeError(f"sink answered {status}: {body[:300]!r}")
    h.note(f"upload: sink {source.stat().st_size / MIB / seconds:.1f} MiB/s, cpu {cpu:.2f} s")
    return seconds


@contextmanager
def sink() -> Iterator[int]:
    port = h.free_port()
    process = subprocess.Popen(
        [sys.executable, str(h.BENCH / "_peers.py"), "sink", str(port)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        h.wait_up(f"http://127.0.0.1:{port}", process, "/docs")
        yield port
    finally:
        h.stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1000, help="file size (OnionShare: < 1024)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N, interleaved")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        source = tmp / FILENAME
        h.note(f"upload: making a {args.mib} MiB file")
        make_file(source, args.mib)

        h.note("upload: starting shoal serve, onionshare, sink")
        served = h.serve_demo(tmp / "org", workers=1)
        stack.callback(served.stop)
        share_data = tmp / "onionshare"
        share_data.mkdir()
        share_port = stack.enter_context(h.onionshare(share_data))
        sink_port = stack.enter_context(sink())

        runs: dict[str, list[float]] = {"shoal": [], "onionshare": [], "sink": []}
        growths: list[float] = []
        steps: dict[str, Callable[[], float]] = {
            "onionshare": lambda: run_onionshare(share_port, share_data / "received", source),
            "sink": lambda: run_sink(sink_port, source),
        }
        for n in range(args.repeat):
            h.note(f"upload: round {n + 1} of {args.repeat}")
            seconds, growth = run_shoal(served, source)
            runs["shoal"].append(seconds)
            growths.append(growth)
            for name, step in steps.items():
                runs[name].append(step())

    rate = {name: args.mib / min(seconds) for name, seconds in runs.items()}
    h.emit(
        {
            "bench": "upload",
            "mib": args.mib,
            "shoal_mib_s": round(rate["shoal"], 1),
            "onionshare_mib_s": round(rate["onionshare"], 1),
            "sink_mib_s": round(rate["sink"], 1),
            "rss_growth_mib": round(max(growths), 1),
            "ratio_to_onionshare": round(rate["shoal"] / rate["onionshare"], 2),
            "ratio_to_sink": round(rate["shoal"] / rate["sink"], 3),
        }
    )


if __name__ == "__main__":
    main()
