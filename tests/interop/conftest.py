"""Plumbing shared by the interoperability tests.

Every test that takes a ``size`` argument runs once per entry of
:data:`SIZES`; its ``plaintext`` fixture is that many random bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

KIB = 1024
MIB = 1024 * KIB
#: age's STREAM chunk: plaintext is sealed in chunks of this size.
CHUNK = 64 * KIB
#: Empty, tiny, and each side of one- and two-chunk boundaries, where the
#: last-chunk flag and the "final chunk is empty only if alone" rule bite.
SIZES = [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1]
BIG_SIZE = 100 * MIB
#: Read and write block for files streamed in the tests.
BLOCK = MIB


def _size_id(size: int) -> str:
    """``empty``, ``1000B``, ``64KiB-1``, ``128KiB``: readable test ids."""
    boundary = round(size / CHUNK) * CHUNK
    if size == 0:
        return "empty"
    if boundary and abs(size - boundary) <= 1:
        offset = size - boundary
        return f"{boundary // KIB}KiB" + (f"{offset:+d}" if offset else "")
    return f"{size}B"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "size" in metafunc.fixturenames:
        metafunc.parametrize("size", SIZES, ids=[_size_id(s) for s in SIZES])


@pytest.fixture
def plaintext(size: int) -> bytes:
    return os.urandom(size)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class BigFile:
    """A large random plaintext file, shared by the session's big tests."""

    path: Path
    size: int
    sha256: str

    def blocks(self) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while block := f.read(BLOCK):
                yield block

    def assert_same(self, other: Path) -> None:
        """Compare by size and digest: a 100 MiB assertion diff helps nobody."""
        assert other.stat().st_size == self.size
        assert sha256_file(other) == self.sha256


@pytest.fixture(scope="session")
def big_plaintext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigFile]:
    path = tmp_path_factory.mktemp("big") / "plain.bin"
    digest = hashlib.sha256()
    # A whole number of chunks: the final chunk is full, the case where a
    # writer must hold a chunk back until it knows whether more follows.
    size = BIG_SIZE
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
    yield BigFile(path, size, digest.hexdigest())
    path.unlink()


@pytest.fixture
def big_tmp_path(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path`` for 100 MiB files, emptied afterwards: pytest keeps the
    temporary directories of its last three runs, and these add up."""
    yield tmp_path
    for path in tmp_path.iterdir():
        if path.is_file():
            path.unlink()
