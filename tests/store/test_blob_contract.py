"""The contract every blob store keeps, run against each backend for real:
the filesystem, the database on SQLite and on PostgreSQL, and S3 against
moto's S3 server in its own process (see ``_blob_backends``).

Round trips across chunk and part boundaries, content addressing, who
created a blob, deletion and listing, malformed ids, async producers,
failures, concurrency, memory that stays flat for a large blob, and a
writer killed with SIGKILL midway.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import signal
import subprocess
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from _blob_backends import (
    VENV_PYTHON,
    close_store,
    crash_chunks,
    leftovers,
    open_store,
    pattern,
    pieces,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.store import (
    BlobNotFoundError,
    BlobRef,
    BlobStore,
)

MiB = 1 << 20
BACKENDS = ["file", "sqlite", "postgresql", "s3"]


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, new_store: Callable[[str], list[str]]) -> list[str]:
    return new_store(request.param)


@pytest.fixture
def store(where: list[str]) -> Iterator[BlobStore]:
    store = open_store(where)
    yield store
    close_store(store)


def sha256_of(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def read_in(f: BinaryIO, size: int) -> Iterator[bytes]:
    while chunk := f.read(size):
        assert len(chunk) <= size
        yield chunk


SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 17 * MiB + 3]


def test_round_trips_across_chunk_and_part_boundaries(store: BlobStore) -> None:
    # 1 MiB is the database's chunk, 8 MiB its batch and S3's part; the
    # producer's pieces (300,007 bytes) fall across all of them.
    stored = set()
    for seed, size in enumerate(SIZES):
        ref = store.put(pieces(size, 300_007, seed))
        assert (ref.blob_id, ref.size, ref.created) == (
            sha256_of(pieces(size, 300_007, seed)),
            size,
            True,
        )
        assert store.size(ref.blob_id) == size and store.exists(ref.blob_id)
        with store.open(ref.blob_id) as f:
            assert sha256_of(read_in(f, 100_003)) == ref.blob_id
            assert f.read() == b""
        stored.add(ref.blob_id)
    assert set(store.ids()) == stored


def test_one_huge_piece_and_every_bytes_like_type(store: BlobStore) -> None:
    data = pattern(9 * MiB + 5)
    ref = store.put([memoryview(data)[:7], bytearray(data[7 : 5 * MiB]), data[5 * MiB :]])
    assert ref.blob_id == hashlib.sha256(data).hexdigest()
    with store.open(ref.blob_id) as f:
        assert f.read(3) == data[:3]
        assert f.read() == data[3:]
    assert store.put([data]) == ref


def test_a_producer_refilling_one_buffer_gets_each_fill_stored(store: BlobStore) -> None:
    # A store may keep bytes without copying them, never a buffer its
    # producer goes on writing into.
    rng = random.Random(7)
    fills = [rng.randbytes(256 * 1024) for _ in range(12)]

    def refilled() -> Iterator[bytearray]:
        buffer = bytearray(256 * 1024)
        for fill in fills:
            buffer[:] = fill
            yield buffer

    async def refilled_async() -> AsyncIterator[memoryview]:
        for chunk in refilled():
            yield memoryview(chunk)

    expected = hashlib.sha256(b"".join(fills)).hexdigest()
    assert store.put(refilled()).blob_id == expected
    ref = asyncio.run(store.put_async(refilled_async()))
    assert ref.blob_id == expected
    with store.open(ref.blob_id) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == expected


def test_identical_bytes_are_stored_once_and_only_their_creator_discards(
    store: BlobStore,
) -> None:
    for data in (b"identical ciphertext", pattern(9 * MiB + 1)):
        first = store.put([data])
        retry = store.put([data[:5], data[5:]])
        assert first == retry and first.blob_id == hashlib.sha256(data).hexdigest()
        assert first.created and not retry.created
        assert list(store.ids()) == [first.blob_id]
        assert leftovers(store) == 0
        # A retried upload's record failing must not delete the blob the
        # earlier, acknowledged item points to.
        store.discard(retry)
        with store.open(first.blob_id) as f:
            assert f.read() == data
        store.discard(first)
        assert not store.exists(first.blob_id)
        assert list(store.ids()) == []


def test_delete_exists_size_and_listing(store: BlobStore) -> None:
    assert list(store.ids()) == []
    a, b = store.put([b"a"]), store.put([b"bb"])
    assert sorted(store.ids()) == sorted([a.blob_id, b.blob_id])
    assert (store.size(a.blob_id), store.size(b.blob_id)) == (1, 2)
    store.delete(a.blob_id)
    store.delete(a.blob_id)  # deleting a missing blob is not an error
    store.delete(hashlib.sha256(b"never stored").hexdigest())
    assert list(store.ids()) == [b.blob_id]
    assert not store.exists(a.blob_id) and store.exists(b.blob_id)
    with pytest.raises(BlobNotFoundError):
        store.open(a.blob_id)
    with pytest.raises(BlobNotFoundError):
        store.size(a.blob_id)


def test_listing_by_age_leaves_out_what_was_written_after(store: BlobStore) -> None:
    # What collect_orphans relies on: a blob written now is never listed as
    # written before a moment already past (its row may be on its way), and
    # is listed once that moment is past its whole day (stores that date
    # blobs by day list the days before).
    ref = store.put([b"just written"])
    now = time.time()
    assert list(store.ids(written_before=now - 60)) == []
    assert list(store.ids(written_before=now + 2 * 86400)) == [ref.blob_id]
    assert list(store.ids()) == [ref.blob_id]


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "../../etc/passwd",
        hashlib.sha256(b"x").hexdigest().upper(),
        hashlib.sha256(b"x").hexdigest()[:63],
        hashlib.sha256(b"x").hexdigest() + "\n",
        "",
        "tmp",
    ],
)
def test_a_malformed_id_names_no_blob(store: BlobStore, bad: str) -> None:
    store.put([b"x"])
    for call in (store.open, store.size, store.exists, store.delete):
        with pytest.raises(BlobNotFoundError):
            call(bad)
    assert list(store.ids()) == [hashlib.sha256(b"x").hexdigest()]


async def _ticking(work: asyncio.Future[BlobRef]) -> int:
    """How many times another task ran while ``work`` was under way."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0)
        ticks += 1
    return ticks


def test_put_async_stores_and_lets_the_event_loop_run(store: BlobStore) -> None:
    async def body() -> AsyncIterator[bytes]:
        # Never suspends by itself: only the store's own waiting lets the
        # ticker run.
        for chunk in pieces(10 * MiB, 256 * 1024):
            yield chunk

    async def main() -> tuple[BlobRef, int]:
        work = asyncio.ensure_future(store.put_async(body()))
        ticks = await _ticking(work)
        return await work, ticks

    ref, ticks = asyncio.run(main())
    assert ref == store.put(pieces(10 * MiB, 256 * 1024))
    assert ticks > 0, "the put waited on I/O on the event loop"


def test_a_failing_producer_leaves_nothing(store: BlobStore) -> None:
    kept = store.put([b"kept"])

    def fails_after(size: int) -> Iterator[bytes]:
        yield from pieces(size, MiB)
        raise ConnectionError("client went away")

    async def fails_after_async(size: int) -> AsyncIterator[bytes]:
        for chunk in fails_after(size):
            yield chunk

    for size in (100, 10 * MiB + 7):  # before and after something was flushed
        with pytest.raises(ConnectionError):
            store.put(fails_after(size))
        with pytest.raises(ConnectionError):
            asyncio.run(store.put_async(fails_after_async(size)))
        assert list(store.ids()) == [kept.blob_id]
        assert leftovers(store) == 0


def test_a_cancelled_async_put_leaves_nothing(store: BlobStore) -> None:
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        for chunk in pieces(10 * MiB, MiB):
            yield chunk
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    async def main() -> None:
        work = asyncio.ensure_future(store.put_async(endless()))
        await started.wait()
        work.cancel()
        with pytest.raises(asyncio.CancelledError):
            await work

    asyncio.run(main())
    assert list(store.ids()) == []
    assert leftovers(store) == 0


@pytest.mark.parametrize("size", [1000, 9 * MiB + 1], ids=["small", "multi-part"])
def test_concurrent_identical_puts_create_once(store: BlobStore, size: int) -> None:
    data = pattern(size, seed=5)
    barrier = threading.Barrier(6)
    refs, errors = [], []

    def put() -> None:
        try:
            barrier.wait()
            refs.append(store.put(data[i : i + MiB] for i in range(0, size, MiB)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(refs) == 6 and len(set(refs)) == 1
    assert sum(ref.created for ref in refs) == 1
    assert list(store.ids()) == [refs[0].blob_id]
    with store.open(refs[0].blob_id) as f:
        assert f.read() == data
    assert leftovers(store) == 0


def test_a_large_blob_streams_in_and_out_in_flat_memory(store: BlobStore) -> None:
    size = 64 * MiB + 12345
    limit = 24 * MiB  # a third of the blob: nothing holds it whole
    tracemalloc.start()
    try:
        ref = store.put(pieces(size, MiB, seed=64))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with store.open(ref.blob_id) as f:
            read_back = sha256_of(read_in(f, 256 * 1024))
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read_back == ref.blob_id and ref.size == size
    assert put_peak < limit, f"put peaked at {put_peak / MiB:.1f} MiB"
    assert get_peak < limit, f"get peaked at {get_peak / MiB:.1f} MiB"


@settings(
    max_examples=8,
    deadline=None,
    # One store for every example on purpose: content addressing keeps
    # them apart, and a fresh database per example would be slow.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lengths=st.lists(st.integers(0, 400_000), max_size=8),
    seed=st.integers(0, 2**32),
)
def test_any_chunking_round_trips(store: BlobStore, lengths: list[int], seed: int) -> None:
    data = pattern(sum(lengths), seed)
    chunks, start = [], 0
    for length in lengths:
        chunks.append(data[start : start + length])
        start += length
    ref = store.put(chunks)
    assert ref.blob_id == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    with store.open(ref.blob_id) as f:
        assert f.read() == data
    assert store.exists(ref.blob_id)


def test_a_writer_killed_midway_leaves_nothing_visible(where: list[str], store: BlobStore) -> None:
    kept = store.put([b"kept"])
    with subprocess.Popen(
        [str(VENV_PYTHON), str(Path(__file__).with_name("_blob_backends.py")), *where],
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "midway\n", "the writer died before midway"
            # Somewhere in the slow part: between chunks, or inside a flush.
            threading.Event().wait(0.05 + secrets.randbelow(300) / 1000)
        finally:
            writer.send_signal(signal.SIGKILL)
    assert writer.returncode == -signal.SIGKILL
    unfinished = sha256_of(crash_chunks())
    assert not store.exists(unfinished)
    assert list(store.ids()) == [kept.blob_id]
    assert leftovers(store) > 0, "the crash left nothing: the test proves nothing"
    # Recent partials may be another live process's writes: spared.
    assert store.clean_partials(older_than=2 * 86400) == 0
    assert leftovers(store) > 0
    assert store.clean_partials() >= 1
    assert leftovers(store) == 0
    fresh = open_store(where)
    try:
        assert list(fresh.ids()) == [kept.blob_id]
        after = fresh.put([b"after the crash"])
        with fresh.open(after.blob_id) as f:
            assert f.read() == b"after the crash"
    finally:
        close_store(fresh)
    assert store.exists(after.blob_id)
    with store.open(kept.blob_id) as f:
        assert f.read() == b"kept"
