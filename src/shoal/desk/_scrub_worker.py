"""The scrub worker: cleans one untrusted file of its metadata, answers with the copy.

Run only by :mod:`._scrubbing` as ``python -I -m shoal.desk._scrub_worker
DIRECTORY [FFMPEG]``, confined by :mod:`._confined` (no network, no keys,
no environment). It lowers its own resource limits before anything else,
in case a wrapper was missing (:data:`._scrubbing.LIMITS`), makes
DIRECTORY (private: 0700, and it must not exist yet), writes the file it
reads from stdin there, runs :func:`shoal.scrub.scrub_file` on it (with
FFMPEG, an absolute path, for videos; without it videos are refused) and
deletes DIRECTORY before it exits. It writes to stdout one JSON line, then
the clean file::

    {"kind": K, "mime": M, "removed": [...], "length": N}\\n<N bytes>

or, exiting with status 2, ``{"error": CODE, "message": SENTENCE}`` where
CODE is ``unsupported``, ``malformed``, ``bomb`` or ``tool-missing`` (with
:mod:`shoal.scrub`'s sentence, which never quotes the file), or
``too-large`` or ``failed`` (with none). Nothing else is ever written: no
traceback, since a parser's message may quote the file, and stderr is not
read anyway.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from pathlib import Path
from typing import BinaryIO

from ._scrubbing import LIMITS, MAX_FILE

_CHUNK = 1024 * 1024


class _Refused(Exception):
    """The file is refused for the reason ``code``, one of the documented codes."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def main(argv: list[str]) -> int:
    LIMITS.apply()
    out = sys.stdout.buffer
    if len(argv) not in (2, 3) or not os.path.isabs(argv[1]):
        return _refuse(out, _Refused("failed"))
    workdir = Path(argv[1])
    try:
        workdir.mkdir(mode=0o700)  # never one that exists: it could be anyone's
    except OSError:
        return _refuse(out, _Refused("failed"))
    try:
        return _answer(out, workdir, argv[2] if len(argv) == 3 else None)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _answer(out: BinaryIO, workdir: Path, ffmpeg: str | None) -> int:
    try:
        clean = workdir / "clean"
        head = _scrub(_receive(sys.stdin.buffer, workdir / "received"), clean, ffmpeg)
        with clean.open("rb") as source:
            out.write(json.dumps(head).encode("ascii") + b"\n")
            shutil.copyfileobj(source, out, _CHUNK)
        out.flush()
    except _Refused as refused:
        return _refuse(out, refused)
    return 0


def _scrub(source: Path, target: Path, ffmpeg: str | None) -> dict[str, object]:
    # Imported here, after the limits: Pillow's and pypdf's code loads inside them.
    from shoal import scrub  # noqa: PLC0415

    codes: list[tuple[type[scrub.ScrubError], str]] = [
        (scrub.UnsupportedFormatError, "unsupported"),
        (scrub.MalformedFileError, "malformed"),
        (scrub.BombError, "bomb"),
        (scrub.ToolMissingError, "tool-missing"),
    ]
    try:
        done = scrub.scrub_file(source, target, ffmpeg=ffmpeg)
    except scrub.ScrubError as error:
        code = next((code for kind, code in codes if isinstance(error, kind)), "failed")
        raise _Refused(code, str(error) if code != "failed" else None) from None
    except OSError as error:  # EFBIG: a clean copy larger than RLIMIT_FSIZE
        raise _Refused("too-large" if error.errno == errno.EFBIG else "failed") from None
    except Exception:  # MemoryError too: every failure is one code, with no detail
        raise _Refused("failed") from None
    length = target.stat().st_size
    if length > MAX_FILE:
        raise _Refused("too-large")
    return {"kind": done.kind, "mime": done.mime, "removed": list(done.removed), "length": length}


def _receive(stdin: BinaryIO, path: Path) -> Path:
    """Write what stdin holds to ``path`` (a new file, 0600), refusing more than MAX_FILE."""
    size = 0
    try:
        with path.open("xb") as file:
            os.chmod(file.fileno(), 0o600)
            while chunk := stdin.read(_CHUNK):
                size += len(chunk)
                if size > MAX_FILE:
                    raise _Refused("too-large")
                file.write(chunk)
    except OSError:
        raise _Refused("failed") from None
    return path


def _refuse(out: BinaryIO, refused: _Refused) -> int:
    answer: dict[str, str] = {"error": refused.code}
    if refused.message is not None:
        answer["message"] = refused.message
    out.write(json.dumps(answer).encode("ascii") + b"\n")
    out.flush()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
