"""Files written all or nothing: temporary name, fsync, rename, directory fsync.

A crash, a power cut or a full disk leaves either the old file or the new
one, never a mix, and no temporary file once the write is abandoned. Used
by the blob store, by the server's configuration and by the trusted
machines' state, keystores and exports. Files are created 0600.

A module of its own, outside ``shoal.store``: importing the store loads
SQLAlchemy and Alembic (~0.4 s), which the desk, command and field command
lines need no part of.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

__all__ = ["PendingFile", "fsync_dir"]


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PendingFile:
    """A file written under a temporary name in ``directory``.

    It appears under its final name only at :meth:`commit`, which may be
    chosen after the bytes are written (an export learns a file's name by
    decrypting it). Leaving the ``with`` block without committing, or with
    an exception, removes it.
    """

    def __init__(self, directory: Path) -> None:
        self._tmp = directory / f".{secrets.token_hex(8)}.partial"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self._done = False

    def commit(self, path: Path, *, replace: bool = True) -> None:
        """Make the bytes durable and atomically put them at ``path``.

        With ``replace=False`` an existing ``path`` is never replaced, even
        by a concurrent writer (a hard link creates the name only if it is
        absent): :class:`FileExistsError`, and the temporary file is gone.
        """
        if path.parent.resolve() != self._tmp.parent.resolve():
            raise ValueError("a pending file is committed in its own directory")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if replace:
            os.replace(self._tmp, path)
        else:
            os.link(self._tmp, path)
            self._tmp.unlink()
        self._done = True
        fsync_dir(path.parent)

    def abort(self) -> None:
        if not self._done:
            self._done = True
            # Closing flushes, and a full disk makes that fail again: the
            # temporary file must go all the same.
            with contextlib.suppress(OSError):
                self.file.close()
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> PendingFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()
