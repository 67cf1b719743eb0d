"""The blob store on the local filesystem (the default backend).

Writing is crash-safe: bytes go to a temporary name in ``tmp/`` (same
filesystem), are fsynced, linked into place, and the directory is fsynced
— a crash leaves the whole object or none, and
:meth:`FileBlobStore.clean_partials` removes what a crash left in ``tmp/``
(ciphertext only, never plaintext).

A full disk is a normal condition: the half-written temporary file is
removed and :class:`StorageFullError` raised; stored blobs are untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..durable import fsync_dir
from ._blobs import BlobStore, PendingBlob, check_blob_id, is_blob_id, kept
from .errors import BlobNotFoundError, StorageFullError

_TMP = "tmp"
_FULL = (errno.ENOSPC, errno.EDQUOT)
#: What a write gathers in memory before a thread writes it out.
_BUFFERED = 1 << 20
#: Bytes written between two fdatasync calls of a large blob: the disk
#: takes them while more arrive, and the commit's fsync waits on the last
#: few only, not on the whole file at once (bench/upload.py).
_SYNCED_EVERY = 64 << 20
#: Buffers one writev takes at most (Linux's IOV_MAX).
_IOV_MAX = 1024


def _full(exc: OSError) -> Exception:
    """A full disk (or inode table) as the normal condition it is."""
    if exc.errno in _FULL:
        return StorageFullError("the disk is full: the object was not stored")
    return exc


class _FilePending(PendingBlob):
    """One blob being written to ``tmp/``.

    Nothing touches the filesystem on the event loop, not even creating the
    file: with other requests' fsyncs in flight, ext4 makes a new file wait
    for the journal, and ``open(O_CREAT)`` on the loop took 0.7 ms a
    message (``bench/intake.py``, cProfile). Bytes are gathered in memory
    (at most :data:`_BUFFERED`), and the file is created and written in
    :meth:`flush` and :meth:`_commit`, which run in threads."""

    def __init__(self, store: FileBlobStore) -> None:
        super().__init__()
        self._store = store
        self._path = store.root / _TMP / f"{secrets.token_hex(16)}.partial"
        self._fd = -1
        self._open = False
        self._buffer: list[memoryview] = []
        self._buffered = 0
        self._unsynced = 0

    def _write(self, view: memoryview) -> None:
        self._buffer.append(memoryview(kept(view)))
        self._buffered += len(view)

    @property
    def ready(self) -> bool:
        return self._buffered >= _BUFFERED

    def flush(self) -> None:
        taken, self._buffer, self._buffered = self._buffer, [], 0
        try:
            if self._fd < 0:
                self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                self._open = True
            while taken:
                written = os.writev(self._fd, taken[:_IOV_MAX])
                self._unsynced += written
                while taken and written >= len(taken[0]):
                    written -= len(taken.pop(0))
                if written:
                    taken[0] = taken[0][written:]
            if self._unsynced >= _SYNCED_EVERY:
                os.fdatasync(self._fd)
                self._unsynced = 0
        except OSError as exc:
            raise _full(exc) from None

    def _commit(self, blob_id: str, size: int) -> bool:
        target = self._store.path_of(blob_id)
        self.flush()
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
            raise _full(exc) from None
        return created

    def _close(self) -> None:
        # Closing twice could close a descriptor another thread just got.
        if self._open:
            self._open = False
            os.close(self._fd)

    def abort(self) -> None:
        self._close()
        self._buffer = []
        self._path.unlink(missing_ok=True)


class FileBlobStore(BlobStore):
    """Blobs under ``root``: ``root/ab/cd/abcd…`` and ``root/tmp/`` for writes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / _TMP).mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, blob_id: str) -> Path:
        check_blob_id(blob_id)
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def _begin(self) -> PendingBlob:
        return _FilePending(self)

    def _open(self, blob_id: str) -> BinaryIO:
        try:
            return self.path_of(blob_id).open("rb")
        except FileNotFoundError:
            raise BlobNotFoundError("no such blob") from None

    def _size(self, blob_id: str) -> int | None:
        try:
            return self.path_of(blob_id).stat().st_size
        except FileNotFoundError:
            return None

    def _delete(self, blob_id: str) -> None:
        path = self.path_of(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return  # nothing changed (its directory may not even exist)
        fsync_dir(path.parent)

    def ids(self, written_before: float | None = None) -> Iterator[str]:
        # "??" leaves out tmp/; a name is a blob only where path_of puts it.
        for path in self.root.glob("??/??/*"):
            if not (is_blob_id(path.name) and path == self.path_of(path.name)):
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                if written_before is None or path.stat().st_mtime < written_before:
                    yield path.name

    def clean_partials(self, older_than: float = 0.0) -> int:
        removed = 0
        limit = time.time() - older_than
        for leftover in (self.root / _TMP).glob("*.partial"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime <= limit:
                    leftover.unlink()
                    removed += 1
        return removed
