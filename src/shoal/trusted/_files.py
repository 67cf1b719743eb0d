"""Files on a trusted machine, written all or nothing.

A desk or command's machine can lose power in the middle of a write; a
half-written state file or keystore would lock its owner out, and a
half-written export would look like a whole one. So every write goes to a
temporary name in the same directory (same filesystem, so the rename is
atomic), is fsynced, renamed over the target, and the directory fsynced:
a reader sees the old file or the new one, never a mix. On any failure
the temporary file is removed.

Files are created 0600 and directories 0700: state, keystores and exports
are nobody else's business on a shared machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO

from .errors import StateFileError


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, each 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)


def _fsync_dir(path: Path) -> None:
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

    def commit(self, path: Path) -> None:
        """Make the bytes durable and atomically replace ``path`` with them."""
        if path.parent.resolve() != self._tmp.parent.resolve():
            raise ValueError("a pending file is committed in its own directory")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self._tmp, path)
        self._done = True
        _fsync_dir(path.parent)

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


def write_atomic(path: Path, data: bytes) -> None:
    with PendingFile(path.parent) as pending:
        pending.file.write(data)
        pending.commit(path)


def write_json(path: Path, value: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; anything else is a :class:`StateFileError`."""
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StateFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise StateFileError(f"{path} is unreadable or not JSON") from None
    if not isinstance(value, dict):
        raise StateFileError(f"{path} is not a JSON object")
    return value
