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

import json
from pathlib import Path
from typing import Any

from ..durable import PendingFile
from .errors import StateFileError


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, each 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)


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
