"""The I/O shells: decrypt_to_file, EncryptWriter, DecryptReader, async, memory.

Each shell is thin over the same core, so these tests are about what the
shells add: all-or-nothing files, abandoning on exceptions, file-object
semantics, an event loop that is never held for long, and memory that stays
flat whatever the size.
"""

from __future__ import annotations

import array
import asyncio
import gc
import io
import json
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import shoal.crypto._io as crypto_io
from shoal import crypto
from shoal.crypto import _header, errors
from shoal.crypto._age import Buffer, Decryption
from shoal.crypto._stream import CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, NONCE_SIZE


def data_of(size: int) -> bytes:
    return bytes(i * 31 % 253 for i in range(size))


@pytest.fixture(scope="module")
def identity() -> crypto.AgeIdentity:
    return crypto.generate_identity()


def encrypt_to(identity: crypto.AgeIdentity, plaintext: bytes) -> bytes:
    return crypto.encrypt(plaintext, [identity.recipient()])


def payload_start(ciphertext: bytes) -> int:
    end = _header.find_end(ciphertext)
    assert end is not None
    return end + NONCE_SIZE


# decrypt_to_file: all or nothing.

BIG = 3 * (1 << 20) + 12345  # several read blocks, so plaintext is written before the end


def _truncated_mid_last_chunk(ciphertext: bytes) -> bytes:
    return ciphertext[:-7]


def _truncated_at_a_chunk_boundary(ciphertext: bytes) -> bytes:
    start = payload_start(ciphertext)
    return ciphertext[: start + 10 * ENCRYPTED_CHUNK_SIZE]


def _flipped_in_last_tag(ciphertext: bytes) -> bytes:
    flipped = bytearray(ciphertext)
    flipped[-1] ^= 0x01
    return bytes(flipped)


def _flipped_in_last_chunk_body(ciphertext: bytes) -> bytes:
    flipped = bytearray(ciphertext)
    flipped[-100] ^= 0x80
    return bytes(flipped)


def _with_trailing_garbage(ciphertext: bytes) -> bytes:
    return ciphertext + b"\x00"


Corruption = Callable[[bytes], bytes]
CORRUPTIONS: list[Corruption] = [
    _truncated_mid_last_chunk,
    _truncated_at_a_chunk_boundary,
    _flipped_in_last_tag,
    _flipped_in_last_chunk_body,
    _with_trailing_garbage,
]


@pytest.fixture(scope="module")
def big_ciphertext(identity: crypto.AgeIdentity) -> bytes:
    return encrypt_to(identity, data_of(BIG))


def test_decrypt_to_file_writes_the_exact_plaintext_with_mode_0600(
    tmp_path: Path, identity: crypto.AgeIdentity, big_ciphertext: bytes
) -> None:
    target = tmp_path / "report.pdf"
    crypto.decrypt_to_file(io.BytesIO(big_ciphertext), target, [identity])
    assert target.read_bytes() == data_of(BIG)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]


def test_decrypt_to_file_accepts_a_str_path_and_an_empty_plaintext(
    tmp_path: Path, identity: crypto.AgeIdentity
) -> None:
    target = tmp_path / "empty"
    crypto.decrypt_to_file(io.BytesIO(encrypt_to(identity, b"")), str(target), [identity])
    assert target.read_bytes() == b""


def test_decrypt_to_file_replaces_an_existing_target_on_success(
    tmp_path: Path, identity: crypto.AgeIdentity
) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"old contents")
    target.chmod(0o644)
    crypto.decrypt_to_file(io.BytesIO(encrypt_to(identity, b"new")), target, [identity])
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_decrypt_to_file_leaves_nothing_behind_on_a_bad_file(
    tmp_path: Path, identity: crypto.AgeIdentity, big_ciphertext: bytes, corrupt: Corruption
) -> None:
    bad = corrupt(big_ciphertext)
    target = tmp_path / "out"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_to_file(io.BytesIO(bad), target, [identity])
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_decrypt_to_file_leaves_nothing_behind_for_the_wrong_identity(
    tmp_path: Path, big_ciphertext: bytes
) -> None:
    target = tmp_path / "out"
    with pytest.raises(errors.NoIdentityMatchError):
        crypto.decrypt_to_file(io.BytesIO(big_ciphertext), target, [crypto.generate_identity()])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_decrypt_to_file_leaves_an_existing_target_untouched_on_failure(
    tmp_path: Path, identity: crypto.AgeIdentity, big_ciphertext: bytes, corrupt: Corruption
) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"keep me")
    before = target.stat()
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_to_file(io.BytesIO(corrupt(big_ciphertext)), target, [identity])
    after = target.stat()
    assert target.read_bytes() == b"keep me"
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_mode,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


class _Watching(io.RawIOBase):
    """A source that records the directory's contents on every read."""

    def __init__(self, data: bytes, directory: Path) -> None:
        self._src = io.BytesIO(data)
        self._directory = directory
        self.seen: list[list[str]] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        self.seen.append(sorted(p.name for p in self._directory.iterdir()))
        return self._src.readinto(buffer)


def test_decrypt_to_file_streams_into_a_hidden_temporary_name_not_the_target(
    tmp_path: Path, identity: crypto.AgeIdentity, big_ciphertext: bytes
) -> None:
    source = _Watching(_truncated_mid_last_chunk(big_ciphertext), tmp_path)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_to_file(source, tmp_path / "out", [identity])  # type: ignore[arg-type]
    during = {name for names in source.seen for name in names}
    assert "out" not in during
    assert all(name.startswith(".out.") and name.endswith(".partial") for name in during)
    assert during  # the temporary file did exist while plaintext was written
    assert list(tmp_path.iterdir()) == []


class _Interrupting(io.RawIOBase):
    def __init__(self, data: bytes, after: int) -> None:
        self._src = io.BytesIO(data)
        self._reads_left = after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        if self._reads_left == 0:
            raise KeyboardInterrupt
        self._reads_left -= 1
        return self._src.readinto(buffer)


def test_decrypt_to_file_cleans_up_when_interrupted(
    tmp_path: Path, identity: crypto.AgeIdentity, big_ciphertext: bytes
) -> None:
    target = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        crypto.decrypt_to_file(_Interrupting(big_ciphertext, 2), target, [identity])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# EncryptWriter.


def test_encrypt_writer_round_trips_many_odd_writes(identity: crypto.AgeIdentity) -> None:
    plaintext = data_of(200_000)
    dst = io.BytesIO()
    with crypto.encrypt_writer(dst, [identity.recipient()]) as writer:
        for i in range(0, len(plaintext), 9999):
            assert writer.write(plaintext[i : i + 9999]) == len(plaintext[i : i + 9999])
    assert crypto.decrypt(dst.getvalue(), [identity]) == plaintext


def test_encrypt_writer_accepts_bytearray_and_memoryview(identity: crypto.AgeIdentity) -> None:
    dst = io.BytesIO()
    with crypto.encrypt_writer(dst, [identity.recipient()]) as writer:
        writer.write(bytearray(b"ab"))
        writer.write(memoryview(b"cd"))
    assert crypto.decrypt(dst.getvalue(), [identity]) == b"abcd"


def test_encrypt_writer_write_returns_bytes_not_items(identity: crypto.AgeIdentity) -> None:
    # RawIOBase.write returns the number of bytes written; for a memoryview
    # of 2-byte items (a Buffer, as the signature allows) that is twice its
    # len(), and all 6 bytes are encrypted.
    items = array.array("H", [1, 2, 3])
    dst = io.BytesIO()
    with crypto.encrypt_writer(dst, [identity.recipient()]) as writer:
        assert writer.write(memoryview(items)) == 6
    assert crypto.decrypt(dst.getvalue(), [identity]) == items.tobytes()


def test_encrypt_writer_armored(identity: crypto.AgeIdentity) -> None:
    dst = io.BytesIO()
    with crypto.encrypt_writer(dst, [identity.recipient()], armor=True) as writer:
        writer.write(data_of(70_000))
    assert dst.getvalue().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert crypto.decrypt(dst.getvalue(), [identity]) == data_of(70_000)


def test_leaving_the_with_block_by_an_exception_writes_no_final_chunk(
    identity: crypto.AgeIdentity,
) -> None:
    dst = io.BytesIO()
    writer = crypto.encrypt_writer(dst, [identity.recipient()])
    with pytest.raises(RuntimeError, match="source failed"), writer:
        writer.write(data_of(3 * CHUNK_SIZE + 100))
        raise RuntimeError("source failed")
    assert writer.closed
    # Whatever reached dst (a batch of non-final chunks may not have), it
    # never decrypts as a whole file.
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(dst.getvalue(), [identity])


def test_an_exception_before_any_write_still_leaves_an_undecryptable_file(
    identity: crypto.AgeIdentity,
) -> None:
    dst = io.BytesIO()
    with pytest.raises(RuntimeError), crypto.encrypt_writer(dst, [identity.recipient()]):
        raise RuntimeError("nothing to send")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(dst.getvalue(), [identity])


def test_an_abandoned_writer_that_is_garbage_collected_writes_no_final_chunk(
    identity: crypto.AgeIdentity,
) -> None:
    # Without ``with``: code that writes part of a stream, fails, and drops
    # the writer must not get a valid (silently truncated) file from the
    # garbage collector calling close(). Only an explicit close() commits.
    dst = io.BytesIO()
    writer = crypto.encrypt_writer(dst, [identity.recipient()])
    writer.write(data_of(2 * CHUNK_SIZE + 5))
    del writer
    gc.collect()
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(dst.getvalue(), [identity])


def test_write_after_close_raises(identity: crypto.AgeIdentity) -> None:
    writer = crypto.encrypt_writer(io.BytesIO(), [identity.recipient()])
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"late")


def test_closing_twice_writes_the_final_chunk_once(identity: crypto.AgeIdentity) -> None:
    dst = io.BytesIO()
    writer = crypto.encrypt_writer(dst, [identity.recipient()])
    writer.write(b"once")
    writer.close()
    size = len(dst.getvalue())
    writer.close()
    assert len(dst.getvalue()) == size
    assert crypto.decrypt(dst.getvalue(), [identity]) == b"once"


def test_encrypt_writer_refuses_bad_recipients_at_once() -> None:
    with pytest.raises(crypto.RecipientError):
        crypto.encrypt_writer(io.BytesIO(), [])


# DecryptReader.


@pytest.fixture(scope="module")
def reader_case(identity: crypto.AgeIdentity) -> tuple[bytes, bytes]:
    plaintext = data_of(5 * CHUNK_SIZE + 1234)
    return plaintext, encrypt_to(identity, plaintext)


def test_reader_read_all(identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = reader_case
    with crypto.decrypt_reader(io.BytesIO(ciphertext), [identity]) as reader:
        assert reader.readable()
        assert reader.read() == plaintext


@pytest.mark.parametrize("size", [1, 7, 4095, 65536, 65537, 1 << 20])
def test_reader_read_n_in_odd_sizes(
    identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes], size: int
) -> None:
    plaintext, ciphertext = reader_case
    reader = crypto.decrypt_reader(io.BytesIO(ciphertext), [identity])
    pieces = []
    while piece := reader.read(size):
        assert len(piece) <= size
        pieces.append(piece)
    assert b"".join(pieces) == plaintext
    assert reader.read(size) == b""


def test_reader_readinto(identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = reader_case
    reader = crypto.decrypt_reader(io.BytesIO(ciphertext), [identity])
    buffer = bytearray(10_007)
    out = bytearray()
    while n := reader.readinto(buffer):
        out += buffer[:n]
    assert bytes(out) == plaintext


def test_reader_chunks(identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]) -> None:
    plaintext, ciphertext = reader_case
    reader = crypto.decrypt_reader(io.BytesIO(ciphertext), [identity])
    pieces = list(reader.chunks())
    assert all(pieces)
    assert b"".join(pieces) == plaintext


def test_reader_read_some_then_chunks_for_the_rest(
    identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]
) -> None:
    plaintext, ciphertext = reader_case
    reader = crypto.decrypt_reader(io.BytesIO(ciphertext), [identity])
    head = reader.read(100)
    assert head + b"".join(reader.chunks()) == plaintext


def test_reader_behind_a_buffered_reader(
    identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]
) -> None:
    plaintext, ciphertext = reader_case
    buffered = io.BufferedReader(crypto.decrypt_reader(io.BytesIO(ciphertext), [identity]))
    assert buffered.read(3) == plaintext[:3]
    assert buffered.read() == plaintext[3:]


class _OnlyRead:
    """A source with ``read`` and nothing else (no readinto)."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._src.read(n)


class _Trickle(io.RawIOBase):
    """A source that returns at most three bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        return self._src.readinto(view[:3])


def test_reader_over_a_source_without_readinto(identity: crypto.AgeIdentity) -> None:
    ciphertext = encrypt_to(identity, data_of(70_000))
    reader = crypto.decrypt_reader(_OnlyRead(ciphertext), [identity])  # type: ignore[arg-type]
    assert reader.read() == data_of(70_000)


def test_reader_over_a_source_that_trickles(identity: crypto.AgeIdentity) -> None:
    ciphertext = encrypt_to(identity, data_of(5000))
    reader = crypto.decrypt_reader(_Trickle(ciphertext), [identity])  # type: ignore[arg-type]
    assert reader.read() == data_of(5000)


def test_reader_fails_at_construction_for_the_wrong_identity(
    reader_case: tuple[bytes, bytes],
) -> None:
    _, ciphertext = reader_case
    with pytest.raises(errors.NoIdentityMatchError):
        crypto.decrypt_reader(io.BytesIO(ciphertext), [crypto.generate_identity()])


def test_reader_fails_at_construction_for_a_non_age_source(identity: crypto.AgeIdentity) -> None:
    with pytest.raises(errors.HeaderError):
        crypto.decrypt_reader(io.BytesIO(b"just some text\n"), [identity])
    with pytest.raises(errors.HeaderError):
        crypto.decrypt_reader(io.BytesIO(b""), [identity])


def test_reader_raises_at_the_end_of_a_truncated_stream(
    identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]
) -> None:
    plaintext, ciphertext = reader_case
    reader = crypto.decrypt_reader(io.BytesIO(ciphertext[:-1]), [identity])
    received = bytearray()
    with pytest.raises(errors.PayloadError):
        while piece := reader.read(1000):
            received += piece
    # What came before the failure was real, but unconfirmed.
    assert plaintext.startswith(bytes(received))


class _Segments(io.RawIOBase):
    """A source that returns exactly the given segments, one per read."""

    def __init__(self, segments: list[bytes]) -> None:
        self._segments = list(segments)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        if not self._segments:
            return 0
        segment = self._segments.pop(0)
        memoryview(buffer).cast("B")[: len(segment)] = segment
        return len(segment)


def test_reader_keeps_failing_after_a_truncated_stream(
    identity: crypto.AgeIdentity, reader_case: tuple[bytes, bytes]
) -> None:
    _, ciphertext = reader_case
    reader = crypto.decrypt_reader(io.BytesIO(ciphertext[:-1]), [identity])
    with pytest.raises(errors.PayloadError):
        reader.read()
    # Reading again must not look like a clean end, nor fail as misuse.
    with pytest.raises(crypto.DecryptionError):
        reader.read()


def test_reader_never_completes_after_a_failed_chunk(identity: crypto.AgeIdentity) -> None:
    plaintext = data_of(4 * CHUNK_SIZE)
    ciphertext = encrypt_to(identity, plaintext)
    start = payload_start(ciphertext)
    junk_at = start + 2 * ENCRYPTED_CHUNK_SIZE
    segments = [
        ciphertext[:start],
        ciphertext[start:junk_at] + bytes(ENCRYPTED_CHUNK_SIZE) + b"X",
        ciphertext[junk_at:],
    ]
    reader = crypto.decrypt_reader(_Segments(segments), [identity])  # type: ignore[arg-type]
    with pytest.raises(errors.PayloadError):
        reader.read(1 << 20)
    with pytest.raises(crypto.DecryptionError):
        while reader.read(1 << 20):
            pass


# Iterator shells.


def test_iterator_shells_round_trip_with_odd_pieces(identity: crypto.AgeIdentity) -> None:
    plaintext = data_of(300_000)
    pieces = [plaintext[i : i + 12345] for i in range(0, len(plaintext), 12345)]
    ciphertext = b"".join(crypto.encrypt_iter(pieces, [identity.recipient()]))
    cut = [ciphertext[i : i + 777] for i in range(0, len(ciphertext), 777)]
    assert b"".join(crypto.decrypt_iter(cut, [identity])) == plaintext


def test_decrypt_iter_raises_instead_of_ending_early(identity: crypto.AgeIdentity) -> None:
    ciphertext = encrypt_to(identity, data_of(3 * CHUNK_SIZE))
    with pytest.raises(errors.PayloadError):
        b"".join(crypto.decrypt_iter([ciphertext[:-ENCRYPTED_CHUNK_SIZE]], [identity]))


# Async shells.


async def _aiter(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


@pytest.mark.parametrize("key_type", list(crypto.KeyType))
@pytest.mark.parametrize("armor", [False, True])
def test_async_round_trip(key_type: crypto.KeyType, armor: bool) -> None:
    identity = crypto.generate_identity(key_type)
    plaintext = data_of(1_300_000)
    pieces = [plaintext[i : i + 333_333] for i in range(0, len(plaintext), 333_333)]

    async def main() -> bytes:
        ciphertext = await _collect(
            crypto.encrypt_async(_aiter(pieces), [identity.recipient()], armor=armor)
        )
        cut = [ciphertext[i : i + 100_001] for i in range(0, len(ciphertext), 100_001)]
        return await _collect(crypto.decrypt_async(_aiter(cut), [identity]))

    assert asyncio.run(main()) == plaintext


def test_async_round_trip_of_an_empty_stream(identity: crypto.AgeIdentity) -> None:
    async def main() -> bytes:
        ciphertext = await _collect(crypto.encrypt_async(_aiter([]), [identity.recipient()]))
        return await _collect(crypto.decrypt_async(_aiter([ciphertext]), [identity]))

    assert asyncio.run(main()) == b""


def test_async_decrypt_of_a_truncated_stream_raises(identity: crypto.AgeIdentity) -> None:
    ciphertext = encrypt_to(identity, data_of(100_000))
    with pytest.raises(errors.PayloadError):
        asyncio.run(_collect(crypto.decrypt_async(_aiter([ciphertext[:-3]]), [identity])))


def test_async_decrypt_with_the_wrong_identity_raises() -> None:
    ciphertext = encrypt_to(crypto.generate_identity(), b"secret")
    with pytest.raises(errors.NoIdentityMatchError):
        asyncio.run(
            _collect(crypto.decrypt_async(_aiter([ciphertext]), [crypto.generate_identity()]))
        )


async def _max_loop_gap(work: Awaitable[object]) -> float:
    """Run ``work`` beside a 1 ms ticker; the longest the ticker waited."""
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            gaps.append(time.perf_counter() - start)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.005)
    try:
        await work
    finally:
        done = True
        await task
    return max(gaps)


PIECE = 8 << 20


def _pieces_of(data: bytes) -> list[memoryview]:
    view = memoryview(data)
    return [view[i : i + PIECE] for i in range(0, len(view), PIECE)]


async def _aiter_views(pieces: list[memoryview]) -> AsyncIterator[memoryview]:
    for piece in pieces:
        yield piece


async def _drain(stream: AsyncIterator[bytes]) -> int:
    total = 0
    async for piece in stream:
        total += len(piece)
    return total


@pytest.fixture(scope="module")
def ciphertext_64mib(identity: crypto.AgeIdentity) -> bytes:
    return encrypt_to(identity, bytes(64 << 20))


def test_decrypt_async_never_blocks_the_event_loop_for_long(
    identity: crypto.AgeIdentity, ciphertext_64mib: bytes
) -> None:
    pieces = _pieces_of(ciphertext_64mib)

    async def main() -> float:
        work = _drain(crypto.decrypt_async(_aiter_views(pieces), [identity]))
        return await _max_loop_gap(work)

    assert asyncio.run(main()) < 0.050


def test_encrypt_async_never_blocks_the_event_loop_for_long(
    identity: crypto.AgeIdentity,
) -> None:
    pieces = _pieces_of(bytes(64 << 20))

    async def main() -> float:
        work = _drain(crypto.encrypt_async(_aiter_views(pieces), [identity.recipient()]))
        return await _max_loop_gap(work)

    assert asyncio.run(main()) < 0.050


# The two tests below make the CPU artificially slow (a blocking sleep of
# SLOW_PER_CHUNK for each 64 KiB handed to the core, as on a weak field
# device) so that whether the loop is held depends on the shell's design,
# not on this machine's speed: sliced, each step blocks for 4 chunks; with
# an 8 MiB piece handled at once, a step blocks for 128 chunks.
SLOW_PER_CHUNK = 0.001


class _SlowDecryption(Decryption):
    def update(self, data: Buffer) -> list[bytes]:
        time.sleep(len(memoryview(data)) / CHUNK_SIZE * SLOW_PER_CHUNK)
        return super().update(data)


def _slow_gap(identity: crypto.AgeIdentity, ciphertext: bytes) -> float:
    pieces = _pieces_of(ciphertext)

    async def main() -> float:
        return await _max_loop_gap(_drain(crypto.decrypt_async(_aiter_views(pieces), [identity])))

    return asyncio.run(main())


def test_on_a_slow_cpu_slicing_keeps_the_loop_responsive(
    monkeypatch: pytest.MonkeyPatch, identity: crypto.AgeIdentity
) -> None:
    monkeypatch.setattr(crypto_io, "Decryption", _SlowDecryption)
    assert _slow_gap(identity, encrypt_to(identity, bytes(24 << 20))) < 0.050


def test_the_ticker_catches_a_shell_that_decrypts_a_whole_piece_at_once(
    monkeypatch: pytest.MonkeyPatch, identity: crypto.AgeIdentity
) -> None:
    # The control for the test above: with slicing disabled, an 8 MiB piece
    # blocks the loop for at least 128 * SLOW_PER_CHUNK.
    monkeypatch.setattr(crypto_io, "Decryption", _SlowDecryption)
    monkeypatch.setattr(crypto_io, "ASYNC_SLICE", 1 << 30)
    assert _slow_gap(identity, encrypt_to(identity, bytes(24 << 20))) > 0.100


# Memory stays flat.

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, threading
    from shoal import crypto

    TOTAL = 256 << 20
    PIECE = 100_003  # odd, so pieces straddle chunks

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def source():
        block = (bytes(range(256)) * (PIECE // 256 + 1))[:PIECE]
        sent = 0
        while sent < TOTAL:
            n = min(PIECE, TOTAL - sent)
            yield block if n == PIECE else block[:n]
            sent += n

    identity = crypto.generate_identity()
    recipients = [identity.recipient()]
    # Warm up every shell on a small file so one-time allocations come first.
    small = crypto.encrypt(b"x" * 200_000, recipients)
    assert crypto.decrypt(small, [identity]) == b"x" * 200_000
    baseline = peak()

    total = 0
    for piece in crypto.decrypt_iter(crypto.encrypt_iter(source(), recipients), [identity]):
        total += len(piece)
    assert total == TOTAL, total
    after_iterators = peak()

    read_fd, write_fd = os.pipe()

    def produce():
        with os.fdopen(write_fd, "wb") as dst, crypto.encrypt_writer(dst, recipients) as writer:
            for piece in source():
                writer.write(piece)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    total = 0
    with os.fdopen(read_fd, "rb") as src:
        reader = crypto.decrypt_reader(src, [identity])
        for piece in reader.chunks():
            total += len(piece)
    producer.join()
    assert total == TOTAL, total
    after_files = peak()
    print(json.dumps({"baseline": baseline, "iterators": after_iterators, "files": after_files}))
    """
)


@pytest.mark.timeout(120)
def test_memory_stays_flat_through_256_mib_of_iterator_and_file_shells() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    peaks = json.loads(result.stdout)
    limit = 64 << 20
    assert peaks["iterators"] - peaks["baseline"] < limit, peaks
    assert peaks["files"] - peaks["baseline"] < limit, peaks
