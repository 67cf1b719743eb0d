"""The ways in: bytes, iterators, file objects, async iterators, files.

Each is a thin shell over :class:`~._age.Encryption` or
:class:`~._age.Decryption`. Memory stays flat: nothing here holds more than
one read block (1 MiB) plus one STREAM chunk, whatever the file size.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ._age import Buffer, Decryption, Encryption
from ._recipients import Identity, Recipient
from ._stream import CHUNK_SIZE

#: Read size for file sources: big enough that almost every chunk is
#: decrypted straight from the read buffer, without a copy.
READ_SIZE = 16 * CHUNK_SIZE
#: Ciphertext gathered before each write to the destination.
WRITE_SIZE = 16 * CHUNK_SIZE
#: Most work done between two awaits in the async shells (about 0.1 ms of
#: ChaCha20-Poly1305), so the event loop is never held for long.
ASYNC_SLICE = 4 * CHUNK_SIZE


def encrypt(data: Buffer, recipients: Sequence[Recipient], *, armor: bool = False) -> bytes:
    """Encrypt ``data`` in memory. For large data use :func:`encrypt_writer`."""
    enc = Encryption(recipients, armor=armor)
    return b"".join(enc.update(data) + enc.finalize())


def decrypt(data: Buffer, identities: Sequence[Identity], *, armor: bool | None = None) -> bytes:
    """Decrypt an age file held in memory; armor is detected unless given."""
    dec = Decryption(identities, armor=armor)
    return b"".join(dec.update(data) + dec.finalize())


def encrypt_iter(
    chunks: Iterable[Buffer], recipients: Sequence[Recipient], *, armor: bool = False
) -> Iterator[bytes]:
    """Encrypt an iterable of plaintext pieces, yielding ciphertext pieces."""
    enc = Encryption(recipients, armor=armor)
    for chunk in chunks:
        yield from enc.update(chunk)
    yield from enc.finalize()


def decrypt_iter(
    chunks: Iterable[Buffer], identities: Sequence[Identity], *, armor: bool | None = None
) -> Iterator[bytes]:
    """Decrypt ciphertext pieces, yielding plaintext as each chunk verifies.

    The last piece is yielded only after the final chunk verified; if the
    stream is cut short the iterator raises instead, so discard what it gave.
    """
    dec = Decryption(identities, armor=armor)
    for chunk in chunks:
        yield from dec.update(chunk)
    yield from dec.finalize()


async def encrypt_async(
    chunks: AsyncIterable[Buffer], recipients: Sequence[Recipient], *, armor: bool = False
) -> AsyncIterator[bytes]:
    """Async :func:`encrypt_iter`. Header work (scrypt, KEM) runs in a thread."""
    enc = await asyncio.to_thread(Encryption, recipients, armor=armor)
    async for chunk in chunks:
        view = memoryview(chunk).cast("B")
        for start in range(0, len(view), ASYNC_SLICE):
            for out in enc.update(view[start : start + ASYNC_SLICE]):
                yield out
            await asyncio.sleep(0)
    for out in enc.finalize():
        yield out


async def decrypt_async(
    chunks: AsyncIterable[Buffer], identities: Sequence[Identity]
) -> AsyncIterator[bytes]:
    """Async :func:`decrypt_iter`. Until the header is done (scrypt may take
    a second, the KEM a fraction of a millisecond per stanza) each piece is
    handled in a thread; then inline, in slices."""
    dec = Decryption(identities)
    async for chunk in chunks:
        view = memoryview(chunk).cast("B")
        for start in range(0, len(view), ASYNC_SLICE):
            piece = view[start : start + ASYNC_SLICE]
            if dec.header_done:
                outs = dec.update(piece)
            else:
                outs = await asyncio.to_thread(dec.update, bytes(piece))
            for out in outs:
                yield out
            await asyncio.sleep(0)
    for out in dec.finalize():
        yield out


class EncryptWriter(io.RawIOBase):
    """A writable file object; closing it writes the final chunk.

    Leaving a ``with`` block by an exception does *not* write the final
    chunk (nor the batch not yet written): the truncated file then fails to
    decrypt, as it should.
    """

    def __init__(self, dst: BinaryIO, recipients: Sequence[Recipient], *, armor: bool) -> None:
        super().__init__()
        self._dst = dst
        self._enc: Encryption | None = Encryption(recipients, armor=armor)
        # Ciphertext goes out in ~1 MiB gathered writes. Linux caches a file
        # written in 64 KiB pieces in small folios, and reading it back is
        # then half as fast (measured here: 7.9 against 17.3 GiB/s) — for
        # every later reader of the file, not just for us. An unbuffered
        # file gets one writev per batch (no copy); others get plain writes.
        self._fd = dst.fileno() if isinstance(dst, io.FileIO) else None
        self._batch: list[bytes] = []
        self._batched = 0

    def writable(self) -> bool:
        return True

    def _emit(self, outs: list[bytes], *, flush: bool = False) -> None:
        self._batch += outs
        self._batched += sum(len(out) for out in outs)
        if self._batched < WRITE_SIZE and not flush:
            return
        batch, self._batch, self._batched = self._batch, [], 0
        if self._fd is None:
            for out in batch:
                self._dst.write(out)
            return
        views = [memoryview(out) for out in batch]
        while views:
            written = os.writev(self._fd, views)
            while views and written >= len(views[0]):
                written -= len(views.pop(0))
            if views:
                views[0] = views[0][written:]

    def write(self, data: Buffer) -> int:  # type: ignore[override]
        if self._enc is None:
            raise ValueError("write to a closed EncryptWriter")
        self._emit(self._enc.update(data))
        return memoryview(data).nbytes

    def close(self) -> None:
        if self._enc is not None:
            self._emit(self._enc.finalize(), flush=True)
            self._enc = None
        super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._enc = None  # abandon: no final chunk
        self.close()

    def __del__(self) -> None:
        # io's finalizer would call close() and so seal a stream its writer
        # abandoned, making a cut-short file decrypt as if complete. Only an
        # explicit close() (or a clean ``with`` exit) writes the final chunk.
        self._enc = None
        super().__del__()


def encrypt_writer(
    dst: BinaryIO, recipients: Sequence[Recipient], *, armor: bool = False
) -> EncryptWriter:
    """``with encrypt_writer(f, recipients) as w: w.write(...)``."""
    return EncryptWriter(dst, recipients, armor=armor)


class DecryptReader(io.RawIOBase):
    """A readable file object over an age file.

    The header is read and checked at construction, so a wrong identity
    fails at once. A cut-short stream raises from ``read`` at its end.
    """

    def __init__(self, src: BinaryIO, identities: Sequence[Identity]) -> None:
        super().__init__()
        self._src = src
        self._dec = Decryption(identities)
        self._ready: deque[bytes] = deque()
        # Reused for every read: the core copies only what it must keep.
        self._block = memoryview(bytearray(READ_SIZE))
        self._offset = 0
        self._eof = False
        while not self._dec.header_done and not self._eof:
            self._pull()

    def readable(self) -> bool:
        return True

    def _pull(self) -> None:
        readinto = getattr(self._src, "readinto", None)
        if readinto is not None:
            n = readinto(self._block)
            block: Buffer = self._block[:n]
        else:
            block = self._src.read(READ_SIZE)
            n = len(block)
        if n:
            self._ready.extend(self._dec.update(block))
        else:
            self._ready.extend(self._dec.finalize())
            self._eof = True

    def readinto(self, buffer: Buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._ready and not self._eof:
            self._pull()
        while self._ready and not self._ready[0]:
            self._ready.popleft()
        if not self._ready:
            return 0
        head = self._ready[0]
        n = min(len(view), len(head) - self._offset)
        view[:n] = head[self._offset : self._offset + n]
        self._offset += n
        if self._offset == len(head):
            self._ready.popleft()
            self._offset = 0
        return n

    def chunks(self) -> Iterator[bytes]:
        """Yield plaintext pieces without copying them into a caller buffer."""
        while True:
            while self._ready:
                head = self._ready.popleft()[self._offset :]
                self._offset = 0
                if head:
                    yield head
            if self._eof:
                return
            self._pull()


def decrypt_reader(src: BinaryIO, identities: Sequence[Identity]) -> DecryptReader:
    return DecryptReader(src, identities)


def decrypt_to_file(
    src: BinaryIO, path: str | os.PathLike[str], identities: Sequence[Identity]
) -> None:
    """Decrypt ``src`` into ``path``, all or nothing.

    Plaintext goes to a temporary name in the same directory, is fsynced,
    and is renamed over ``path`` only after the final chunk verified; the
    directory is fsynced after. On any failure the temporary file is removed
    and ``path`` is untouched. (A desk-side call: the server never decrypts.)
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.urandom(8).hex()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in DecryptReader(src, identities).chunks():
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
