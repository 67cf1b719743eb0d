"""The filesystem blob store's own cases: its layout and file modes, what
it lists, its temporary files, and a disk that fills up for real. The
contract every backend keeps is in test_blob_contract.py."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _blob_backends import tmpfs

from shoal.store import FileBlobStore, StorageFullError


def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_blob_is_one_private_file_named_by_its_sha256(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    ref = store.put([b"age-encryption.org/v1\n", b"x" * 70000])
    again = store.put([b"age-encryption.org/v1\n" + b"x" * 70000])
    blob_id = hashlib.sha256(b"age-encryption.org/v1\n" + b"x" * 70000).hexdigest()
    assert ref == again and ref.blob_id == blob_id
    path = tmp_path / blob_id[:2] / blob_id[2:4] / blob_id
    assert store.path_of(blob_id) == path
    assert visible_files(tmp_path) == [path]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "tmp").stat().st_mode & 0o777) == "0o700"


def test_listing_skips_what_is_not_a_blob_in_its_place(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    ref = store.put([b"listed"])
    misplaced = hashlib.sha256(b"elsewhere").hexdigest()
    (tmp_path / "00" / "00").mkdir(parents=True)
    (tmp_path / "00" / "00" / misplaced).write_bytes(b"elsewhere")
    (tmp_path / ref.blob_id[:2] / ref.blob_id[2:4] / "notes.txt").write_bytes(b"")
    (tmp_path / "tmp" / "x.partial").write_bytes(b"partial")
    assert list(store.ids()) == [ref.blob_id]


def test_a_failing_producer_leaves_no_file_at_all(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)

    def chunks() -> Iterator[bytes]:
        yield b"half an object"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(chunks())
    assert visible_files(tmp_path) == []


def test_clean_partials_removes_what_a_crash_left(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    (tmp_path / "tmp" / "dead.partial").write_bytes(b"ciphertext")
    kept = store.put([b"kept"])
    assert store.clean_partials() == 1
    assert [p.name for p in visible_files(tmp_path)] == [kept.blob_id]


def test_clean_partials_spares_recent_writes_of_other_processes(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    old, recent = tmp_path / "tmp" / "old.partial", tmp_path / "tmp" / "recent.partial"
    old.write_bytes(b"c")
    recent.write_bytes(b"c")
    os.utime(old, (0, 0))
    assert store.clean_partials(older_than=3600) == 1
    assert not old.exists() and recent.exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs."""
    with tmpfs(tmp_path / "disk", "1m") as mount:
        yield mount


def test_a_full_disk_refuses_the_new_blob_and_keeps_the_old(tiny_disk: Path) -> None:
    store = FileBlobStore(tiny_disk)
    kept = store.put([b"k" * 300_000])
    with pytest.raises(StorageFullError):
        store.put(b"n" * 65536 for _ in range(32))
    assert [p.name for p in visible_files(tiny_disk)] == [kept.blob_id]
    with store.open(kept.blob_id) as f:
        assert f.read() == b"k" * 300_000
    # And once space is free again, writing works.
    store.delete(kept.blob_id)
    assert store.put([b"after"]).size == 5


def test_a_full_disk_while_creating_a_blob_directory_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "mkdir", no_space)
    with pytest.raises(StorageFullError):
        store.put([b"x"])
    assert visible_files(tmp_path) == []
