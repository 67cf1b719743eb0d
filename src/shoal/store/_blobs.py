"""A content-addressed blob store on the local filesystem.

Blobs are age ciphertext, named by the SHA-256 of their bytes, so a name
reveals nothing and identical uploads are stored once. Writing is crash-safe:
bytes go to a temporary name in ``tmp/`` (same filesystem), are fsynced,
renamed into place, and the directory is fsynced — a crash leaves the whole
object or none, and :meth:`BlobStore.clean_partials` removes what a crash
left in ``tmp/`` (ciphertext only, never plaintext).

A full disk is a normal condition: the half-written temporary file is
removed and :class:`StorageFullError` raised; stored blobs are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ._durable import fsync_dir
from .errors import BlobNotFoundError, StorageFullError

_BLOB_ID = re.compile(r"\A[0-9a-f]{64}\Z")
_TMP = "tmp"


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


_FULL = (errno.ENOSPC, errno.EDQUOT)


def _full(exc: OSError) -> Exception:
    """A full disk (or inode table) as the normal condition it is."""
    if exc.errno in _FULL:
        return StorageFullError("the disk is full: the object was not stored")
    return exc


class _Pending:
    """One blob being written to ``tmp/``: write, then commit or abort."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._path = store.root / _TMP / f"{secrets.token_hex(16)}.partial"
        try:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _full(exc) from None
        self._hash = hashlib.sha256()
        self._size = 0
        self._open = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        try:
            while view:
                n = os.write(self._fd, view)
                self._hash.update(view[:n])
                self._size += n
                view = view[n:]
        except OSError as exc:
            self.abort()
            raise _full(exc) from None

    def commit(self) -> BlobRef:
        blob_id = self._hash.hexdigest()
        target = self._store.path_of(blob_id)
        try:
            os.fsync(self._fd)
            self._close()
            target.parent.mkdir(parents=True, exist_ok=True)
            # A hard link creates the name only if it is absent, atomically:
            # two puts of the same bytes cannot both believe they created it.
            try:
                os.link(self._path, target)
                created = True
            except FileExistsError:
                created = False
            self._path.unlink()
            fsync_dir(target.parent)
        except OSError as exc:
            self.abort()
            raise _full(exc) from None
        return BlobRef(blob_id, self._size, created)

    def _close(self) -> None:
        # Closing twice could close a descriptor another thread just got.
        if self._open:
            self._open = False
            os.close(self._fd)

    def abort(self) -> None:
        self._close()
        self._path.unlink(missing_ok=True)


class BlobStore:
    """Blobs under ``root``: ``root/ab/cd/abcd…`` and ``root/tmp/`` for writes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / _TMP).mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, blob_id: str) -> Path:
        if not _BLOB_ID.match(blob_id):
            raise BlobNotFoundError("not a blob id")
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def put(self, chunks: Iterable[bytes | bytearray | memoryview]) -> BlobRef:
        """Store the concatenation of ``chunks``; durable when this returns."""
        pending = _Pending(self)
        try:
            for chunk in chunks:
                pending.write(chunk)
        except BaseException:
            pending.abort()
            raise
        return pending.commit()

    def put_file(self, path: Path) -> BlobRef:
        """Store the file at ``path`` (written and fsynced by the caller, who
        no longer writes to it) by linking it into place: a finished upload
        of hundreds of MiB is hashed once, not copied. Where ``path`` is on
        another file system, its bytes are copied as :meth:`put` does."""
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(source.fileno())
        blob_id = digest.hexdigest()
        target = self.path_of(blob_id)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
                created = True
            except FileExistsError:
                created = False
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                with path.open("rb") as source:
                    return self.put(iter(lambda: source.read(1 << 20), b""))
            fsync_dir(target.parent)
        except OSError as exc:
            raise _full(exc) from None
        return BlobRef(blob_id, size, created)

    async def put_async(self, chunks: AsyncIterable[bytes | bytearray | memoryview]) -> BlobRef:
        """:meth:`put` for async producers (a request body being encrypted).

        Writes go to the page cache on the event loop (fast); the final
        fsync and rename, which wait on the disk, run in a thread so that one
        large upload does not stall every other request.
        """
        pending = _Pending(self)
        try:
            async for chunk in chunks:
                pending.write(chunk)
        except BaseException:
            pending.abort()
            raise
        return await asyncio.to_thread(pending.commit)

    def open(self, blob_id: str) -> BinaryIO:
        try:
            return self.path_of(blob_id).open("rb")
        except FileNotFoundError:
            raise BlobNotFoundError("no such blob") from None

    def exists(self, blob_id: str) -> bool:
        return self.path_of(blob_id).is_file()

    def discard(self, ref: BlobRef) -> None:
        """Undo a put whose item was never recorded.

        Only a blob this put created is removed: the same bytes stored
        earlier belong to an item already acknowledged (a retried upload),
        and deleting them would lose it.
        """
        if ref.created:
            self.delete(ref.blob_id)

    def delete(self, blob_id: str) -> None:
        """Remove a blob; removing a missing one is not an error."""
        path = self.path_of(blob_id)
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)

    def clean_partials(self, older_than: float = 0.0) -> int:
        """Remove writes a crash interrupted; returns how many.

        ``older_than`` (seconds) spares recent ones: with several server
        processes over one store, another process may be writing them now.
        """
        removed = 0
        limit = time.time() - older_than
        for leftover in (self.root / _TMP).glob("*.partial"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime <= limit:
                    leftover.unlink()
                    removed += 1
        return removed
