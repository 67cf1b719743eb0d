"""The blob store: content addressing, atomic writes, a full disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shoal.store import BlobNotFoundError, BlobStore, StorageFullError


def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_then_open_returns_the_bytes_under_their_sha256(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    ref = store.put([b"age-encryption.org/v1\n", b"x" * 70000])
    data = b"age-encryption.org/v1\n" + b"x" * 70000
    assert ref.blob_id == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    with store.open(ref.blob_id) as f:
        assert f.read() == data
    assert store.exists(ref.blob_id)
    assert oct(store.path_of(ref.blob_id).stat().st_mode & 0o777) == "0o600"


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert store.put([b"same"]) == store.put([b"sa", b"me"])
    assert len([p for p in visible_files(tmp_path) if p.parent.name != "tmp"]) == 1


def test_a_failing_producer_leaves_nothing_behind(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)

    def chunks() -> Iterator[bytes]:
        yield b"half an object"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(chunks())
    assert visible_files(tmp_path) == []


def test_async_put_and_its_failure(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)

    async def good() -> AsyncIterator[bytes]:
        for piece in (b"a", b"b"):
            yield piece

    async def bad() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionError

    ref = asyncio.run(store.put_async(good()))
    with store.open(ref.blob_id) as f:
        assert f.read() == b"ab"
    with pytest.raises(ConnectionError):
        asyncio.run(store.put_async(bad()))
    assert [p.name for p in visible_files(tmp_path)] == [ref.blob_id]


def test_delete_and_missing_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    ref = store.put([b"gone soon"])
    store.delete(ref.blob_id)
    store.delete(ref.blob_id)  # idempotent
    with pytest.raises(BlobNotFoundError):
        store.open(ref.blob_id)
    with pytest.raises(BlobNotFoundError):
        store.open("../../etc/passwd")


def test_clean_partials_removes_what_a_crash_left(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    (tmp_path / "tmp" / "dead.partial").write_bytes(b"ciphertext")
    kept = store.put([b"kept"])
    assert store.clean_partials() == 1
    assert [p.name for p in visible_files(tmp_path)] == [kept.blob_id]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs: a disk that fills up for real (needs root)."""
    if os.geteuid() != 0:
        message = "ROOT NEEDED: mounting a 1 MiB tmpfs to fill a disk for real"
        if os.environ.get("SHOAL_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_refuses_the_new_blob_and_keeps_the_old(tiny_disk: Path) -> None:
    store = BlobStore(tiny_disk)
    kept = store.put([b"k" * 300_000])
    with pytest.raises(StorageFullError):
        store.put(b"n" * 65536 for _ in range(32))
    assert [p.name for p in visible_files(tiny_disk)] == [kept.blob_id]
    with store.open(kept.blob_id) as f:
        assert f.read() == b"k" * 300_000
    # And once space is free again, writing works.
    store.delete(kept.blob_id)
    assert store.put([b"after"]).size == 5


def test_clean_partials_spares_recent_writes_of_other_processes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    old, recent = tmp_path / "tmp" / "old.partial", tmp_path / "tmp" / "recent.partial"
    old.write_bytes(b"c")
    recent.write_bytes(b"c")
    os.utime(old, (0, 0))
    assert store.clean_partials(older_than=3600) == 1
    assert not old.exists() and recent.exists()


def test_discarding_a_put_that_found_its_bytes_stored_keeps_them(tmp_path: Path) -> None:
    # A retried upload of identical bytes must not, when its own record
    # fails, delete the blob an earlier acknowledged item points to.
    store = BlobStore(tmp_path)
    first = store.put([b"identical ciphertext"])
    retry = store.put([b"identical ciphertext"])
    assert first.created and not retry.created
    store.discard(retry)
    assert store.exists(first.blob_id)
    store.discard(first)
    assert not store.exists(first.blob_id)
    assert visible_files(tmp_path) == []


def test_a_full_disk_while_creating_a_blob_directory_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "mkdir", no_space)
    with pytest.raises(StorageFullError):
        store.put([b"x"])
    assert visible_files(tmp_path) == []
