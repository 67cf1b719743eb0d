"""The blob store's interface: content-addressed ciphertext, written whole
or not at all, read as a stream.

Blobs are age ciphertext named by the SHA-256 of their bytes, so a name
reveals nothing and identical uploads are stored once. Three backends
implement :class:`BlobStore`: the filesystem (``_file_blobs``, the
default), the database (``_database_blobs``: many nodes need nothing but
PostgreSQL) and S3-compatible object storage (``_s3_blobs``). What they
share lives here, once: the id check that keeps ``../x`` out of every
backend, the hashing, and the loop that feeds a producer's chunks to a
backend's pending write, synchronously or from an event loop.

A backend supplies a :class:`PendingBlob` (one write in progress) and the
reads; every public method a caller uses is defined here.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import io
import re
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from .errors import BlobNotFoundError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

Bytes = bytes | bytearray | memoryview

_BLOB_ID = re.compile(r"\A[0-9a-f]{64}\Z")


def is_blob_id(name: str) -> bool:
    """Whether ``name`` is a blob id: 64 lower-case hex digits, nothing else."""
    return _BLOB_ID.match(name) is not None


def check_blob_id(blob_id: str) -> str:
    """``blob_id``, or :class:`BlobNotFoundError`: a malformed id names no
    blob (and never reaches a path, a key or a query)."""
    if not is_blob_id(blob_id):
        raise BlobNotFoundError("not a blob id")
    return blob_id


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: its id (SHA-256 hex of its bytes) and size.

    ``created`` says whether this put wrote it, or found the same bytes
    already stored (then they may belong to another item: see
    :meth:`BlobStore.discard`).
    """

    blob_id: str
    size: int
    created: bool = field(default=True, compare=False)


class OpenBlob(NamedTuple):
    """A blob opened for reading, with its size as the row that names it
    records (answers announce their length; a blob need not be a file)."""

    reader: BinaryIO
    size: int


class Rechunker:
    """Cuts a stream of arbitrary pieces into pieces of exactly ``size``
    bytes (the last one shorter). A producer's 64 MiB chunk is cut as it
    comes, never shifted along a buffer (which would cost quadratic time)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._partial = bytearray()
        self.full: list[bytes] = []

    def add(self, view: memoryview) -> None:
        while view:
            take = min(len(view), self._size - len(self._partial))
            self._partial += view[:take]
            view = view[take:]
            if len(self._partial) == self._size:
                self.full.append(bytes(self._partial))
                self._partial.clear()

    def take_full(self) -> list[bytes]:
        """The complete pieces cut so far; they are no longer held here."""
        full, self.full = self.full, []
        return full

    def take_rest(self) -> bytes:
        """What remains after the complete pieces (at the end of the stream)."""
        rest = bytes(self._partial)
        self._partial.clear()
        return rest


class ChunkReader(io.RawIOBase):
    """A raw binary stream over an iterator of chunks fetched on demand, so
    that reading a blob of any size holds one chunk at a time. Wrap it in
    :class:`io.BufferedReader`; ``close`` releases what the chunks come from
    (a response body, a generator)."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], object]) -> None:
        super().__init__()
        self._chunks = chunks
        self._release = close
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._release()
            finally:
                super().close()


def chunk_stream(chunks: Iterator[bytes], close: Callable[[], object]) -> BinaryIO:
    """A buffered, readable binary file over ``chunks`` (see ChunkReader)."""
    return io.BufferedReader(ChunkReader(chunks, close))


class PendingBlob(abc.ABC):
    """One write in progress: bytes in, then :meth:`commit` or :meth:`abort`.

    :meth:`write` hashes and hands the bytes to :meth:`_write`, where a
    backend buffers; when :attr:`ready`, :meth:`flush` writes out what is
    buffered. All of it runs in one thread at a time, in order
    (:meth:`BlobStore.put_async` hands batches to threads, one in flight).
    :meth:`abort` removes whatever the write stored so far; it is called
    once anything fails, commit included, and must tolerate being called
    after a partial commit.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: Bytes) -> None:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._size += len(view)
        self._write(view)

    @abc.abstractmethod
    def _write(self, view: memoryview) -> None: ...

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether enough is buffered for :meth:`flush`."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Write out the full pieces :meth:`_write` buffered (bounded memory)."""

    def commit(self) -> BlobRef:
        blob_id = self._hash.hexdigest()
        return BlobRef(blob_id, self._size, self._commit(blob_id, self._size))

    @abc.abstractmethod
    def _commit(self, blob_id: str, size: int) -> bool:
        """Make the blob durable and visible under ``blob_id``, atomically;
        True if this write created it, False if it was there already (this
        write's bytes are then removed)."""

    @abc.abstractmethod
    def abort(self) -> None: ...


def kept(chunk: Bytes) -> Bytes:
    """``chunk`` as it may be held once its producer has gone on: bytes,
    and views of bytes, as they are (they cannot change); anything else
    copied (a producer may refill one buffer)."""
    held = chunk.obj if isinstance(chunk, memoryview) else chunk
    return chunk if isinstance(held, bytes) else bytes(chunk)


#: Bytes :meth:`BlobStore.put_async` gathers before handing them to its
#: thread: a hand-off costs ~50 µs, a MiB's SHA-256 ~1 ms.
_BATCH = 1 << 20


def _fill(pending: PendingBlob, batch: Iterable[Bytes]) -> None:
    """Hash, buffer and store ``batch`` (in put's, or a put_async thread's)."""
    for chunk in batch:
        pending.write(chunk)
        if pending.ready:
            pending.flush()


def _finish(pending: PendingBlob, batch: Iterable[Bytes]) -> BlobRef:
    _fill(pending, batch)
    return pending.commit()


def _abort(pending: PendingBlob, failure: BaseException) -> None:
    """Remove a failed write's partial data, keeping ``failure`` the error
    the caller sees: a clean-up that fails too (the full disk refuses even
    a DELETE, the database is gone) leaves an invisible partial, which
    ``clean_partials`` removes later."""
    try:
        pending.abort()
    except Exception as exc:
        failure.add_note(f"the partial write stays until clean_partials: {exc!r}")


class BlobStore(abc.ABC):
    """A content-addressed store of ciphertext blobs.

    ``put`` is durable and atomic when it returns: the blob appears whole or
    not at all, under the SHA-256 hex of its bytes. ``open`` streams (memory
    stays flat whatever the size). Every method taking an id raises
    :class:`BlobNotFoundError` for a malformed one. A full storage raises
    :class:`StorageFullError`, and nothing half-stored is left visible;
    what a crash leaves is invisible to ``ids``/``exists`` and removed by
    ``clean_partials``.
    """

    @abc.abstractmethod
    def _begin(self) -> PendingBlob:
        """A new pending write (no waiting I/O: see :class:`PendingBlob`)."""

    @abc.abstractmethod
    def _open(self, blob_id: str) -> BinaryIO: ...

    @abc.abstractmethod
    def _size(self, blob_id: str) -> int | None:
        """The blob's size, or None if there is no such blob."""

    @abc.abstractmethod
    def _delete(self, blob_id: str) -> None: ...

    @abc.abstractmethod
    def ids(self, written_before: float | None = None) -> Iterator[str]:
        """Every stored blob's id (never a partial write); with
        ``written_before`` (a Unix time), only blobs written before it, so
        that a caller looking for blobs no row names leaves alone those
        whose row may still be on its way. Stores that date blobs by day
        list those of days before ``written_before``'s: never one written
        after it, some written a little before it left out."""

    @abc.abstractmethod
    def clean_partials(self, older_than: float = 0.0) -> int:
        """Remove what interrupted writes left, older than ``older_than``
        seconds; returns how many writes were removed. ``older_than`` spares
        recent ones: with several server processes over one store, another
        process may be writing them now (``0`` removes every unfinished
        write: only when no other writer runs)."""

    def put(self, chunks: Iterable[Bytes]) -> BlobRef:
        """Store the concatenation of ``chunks``; durable when this returns."""
        pending = self._begin()
        try:
            return _finish(pending, chunks)
        except BaseException as exc:
            _abort(pending, exc)
            raise

    async def put_async(self, chunks: AsyncIterable[Bytes]) -> BlobRef:
        """:meth:`put` for async producers (a request body being encrypted).

        The loop only gathers the producer's chunks; hashing, buffering and
        whatever waits on a disk, a database or the network (flushes, the
        final commit, the clean-up of a failed write) run in a thread, one
        batch at a time and in order, so that one large upload neither
        stalls every other request nor keeps the second core idle.
        """
        pending = self._begin()
        # One batch in flight while the next is gathered: awaiting each
        # write before sealing on left the loop idle ~40% of a large upload,
        # and hashing the ciphertext on the loop took a quarter of its time
        # (bench/upload.py).
        storing: asyncio.Future[None] | None = None
        batch: list[Bytes] = []
        gathered = 0
        try:
            async for chunk in chunks:
                batch.append(kept(chunk))
                gathered += len(chunk)
                if gathered >= _BATCH:
                    if storing is not None:
                        await storing
                    storing = asyncio.ensure_future(asyncio.to_thread(_fill, pending, batch))
                    batch, gathered = [], 0
            if storing is not None:
                await storing
            # The rest and the commit in one hand-off: a small message is
            # one batch, and each hand-off costs the intake.
            return await asyncio.to_thread(_finish, pending, batch)
        except BaseException as exc:
            # Never abort under a store still running in its thread (asyncio.wait
            # leaves it be when this task is cancelled again meanwhile).
            while storing is not None and not storing.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait([storing])
            # Even if this task is cancelled again while waiting, the
            # thread runs the clean-up to its end.
            await asyncio.to_thread(_abort, pending, exc)
            raise

    def open(self, blob_id: str) -> BinaryIO:
        """The blob's bytes, as a stream; :class:`BlobNotFoundError` if absent."""
        return self._open(check_blob_id(blob_id))

    def exists(self, blob_id: str) -> bool:
        return self._size(check_blob_id(blob_id)) is not None

    def size(self, blob_id: str) -> int:
        size = self._size(check_blob_id(blob_id))
        if size is None:
            raise BlobNotFoundError("no such blob")
        return size

    def delete(self, blob_id: str) -> None:
        """Remove a blob; removing a missing one is not an error."""
        self._delete(check_blob_id(blob_id))

    def discard(self, ref: BlobRef) -> None:
        """Undo a put whose item was never recorded.

        Only a blob this put created is removed: the same bytes stored
        earlier belong to an item already acknowledged (a retried upload),
        and deleting them would lose it.

        What no backend closes: two puts of identical bytes racing, where
        the one that created the blob discards it just after the other found
        it (``created=False``) and is about to record its item. Identical
        ciphertext only arises from the same encrypted bytes sent twice
        (age picks a random file key per encryption), and it takes the
        first record failing in that window; only the caller can close it,
        by checking that no record names the blob before deleting it.
        """
        if ref.created:
            self.delete(ref.blob_id)
