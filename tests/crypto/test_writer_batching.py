"""EncryptWriter gathers its output into ~1 MiB writes (``writev`` on an
unbuffered file): the batches must add up to exactly the file, also when
the kernel writes only part of a batch."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from shoal import crypto
from shoal.crypto._io import WRITE_SIZE

SIZE = 3 * WRITE_SIZE + 12345


def plaintext() -> bytes:
    return os.urandom(SIZE)


def test_an_unbuffered_file_gets_gathered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = crypto.generate_identity()
    data = plaintext()
    sizes: list[int] = []
    real_writev = os.writev

    def counting_writev(fd: int, buffers: list[memoryview]) -> int:
        sizes.append(sum(len(b) for b in buffers))
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", counting_writev)
    path = tmp_path / "out.age"
    with (
        open(path, "wb", buffering=0) as out,
        crypto.encrypt_writer(out, [identity.recipient()]) as writer,
    ):
        for start in range(0, SIZE, 10_000):
            writer.write(data[start : start + 10_000])
    assert all(size >= WRITE_SIZE for size in sizes[:-1])
    assert sum(sizes) == path.stat().st_size
    assert crypto.decrypt(path.read_bytes(), [identity]) == data


def test_partial_writes_are_resumed_where_they_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = crypto.generate_identity()
    data = plaintext()
    real_writev = os.writev

    def stingy_writev(fd: int, buffers: list[memoryview]) -> int:
        # The kernel may write less than asked: here at most 70,001 bytes,
        # which cuts buffers in the middle.
        budget, taken = 70_001, []
        for buffer in buffers:
            taken.append(buffer[:budget])
            budget -= len(taken[-1])
            if not budget:
                break
        return real_writev(fd, taken)

    monkeypatch.setattr(os, "writev", stingy_writev)
    path = tmp_path / "out.age"
    with (
        open(path, "wb", buffering=0) as out,
        crypto.encrypt_writer(out, [identity.recipient()]) as writer,
    ):
        writer.write(data)
    assert crypto.decrypt(path.read_bytes(), [identity]) == data


def test_other_destinations_get_plain_writes() -> None:
    identity = crypto.generate_identity()
    data = plaintext()
    sink = io.BytesIO()
    with crypto.encrypt_writer(sink, [identity.recipient()]) as writer:
        writer.write(data)
    assert crypto.decrypt(sink.getvalue(), [identity]) == data
