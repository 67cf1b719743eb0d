"""Command's directory on disk: its lock, and files that are never replaced.

Every sub-command that changes the state holds ``DIR/.lock`` from the
moment it reads the state until it has written what it signed. Without it
two commands could each read epoch N and each sign an epoch N + 1 with
different handlers: desks would rightly take the pair for a split view.

Signed notes and keystores are created, never replaced: a name that exists
already is refused, so a state file restored from a backup cannot make
command sign a second, different epoch under a number already given out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .. import org
from ..durable import PendingFile
from ._state import Layout
from .errors import BusyError, StateError

#: How long a command waits for another to release the directory. Long
#: enough to outlast a quick command, short enough that one blocked on a
#: passphrase prompt is reported instead of silently waited for.
LOCK_WAIT_SECONDS = 5.0
_LOCK_POLL_SECONDS = 0.1


@contextlib.contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """Hold command's directory exclusively for the ``with`` block.

    The lock file is left in place afterwards: unlinking it would let a
    waiting command lock the old file while a newer one locks a new one.
    """
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"another shoal command is running on this directory ({layout.root}); "
                        "try again when it has finished"
                    ) from None
                time.sleep(_LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock, also when the process dies


def write_new(path: Path, data: bytes) -> None:
    """Write ``path`` whole (0600, fsynced), refusing if the name exists,
    even if a racing writer takes it first (``PendingFile``'s hard link)."""
    try:
        with PendingFile(path.parent) as pending:
            pending.file.write(data)
            pending.commit(path, replace=False)
    except FileExistsError:
        raise StateError(f"{path} exists already: refusing to replace it") from None
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


def note_names(layout: Layout) -> list[str]:
    """The names of the notes signed so far (none if there is no notes folder)."""
    try:
        return [entry.name for entry in os.scandir(layout.notes)]
    except FileNotFoundError:
        return []


def signed_epochs(layout: Layout) -> list[org.Epoch]:
    """Every epoch command signed so far, from its notes (their records)."""
    return [
        org.Epoch.from_record((layout.notes / name).read_text("utf-8").split("\n\n", 1)[0] + "\n")
        for name in note_names(layout)
        if name.startswith("epoch-")
    ]


class Created:
    """What ``init`` has created so far, to remove if it does not finish.

    Only paths this run created are recorded (every file is made with
    :func:`write_new` or an exclusive keystore write), so undoing never
    touches what was there before.
    """

    def __init__(self) -> None:
        self._paths: list[Path] = []

    def add(self, path: Path) -> None:
        self._paths.append(path)

    def undo(self) -> None:
        for path in reversed(self._paths):
            # Best effort: the error that made init fail is the one to report.
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
        self._paths.clear()
