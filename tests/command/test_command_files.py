"""Command's directory: the lock, and files that are never replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoal.command import _files, _state
from shoal.command.errors import BusyError, StateError


def test_a_written_note_is_never_replaced(tmp_path: Path) -> None:
    note = tmp_path / "epoch-news-1.note"
    _files.write_new(note, b"first")
    with pytest.raises(StateError, match="exists already"):
        _files.write_new(note, b"second")
    assert note.read_bytes() == b"first"
    assert note.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["epoch-news-1.note"]  # no temporary file left


def test_a_held_lock_is_waited_for_then_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "LOCK_WAIT_SECONDS", 0.3)
    layout = _state.Layout(tmp_path)
    busy = pytest.raises(BusyError, match="another shoal command is running")
    with _files.locked(layout), busy, _files.locked(layout):  # two open files: two holders
        pass
    with _files.locked(layout):  # released at the end of the block
        pass
