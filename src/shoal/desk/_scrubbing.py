"""Files cleaned of their metadata in a confined process, before they leave the desk.

A file forwarded to another compartment must not carry what identifies the
contact who sent it: a PDF's author, a document's revision history, the
place a video was shot. :mod:`shoal.scrub` removes it, but its parsers
(pypdf, zipfile and XML, Pillow, ffmpeg) would then read hostile files in
the process that holds the handler's keys. So :func:`scrub_confined`
sends the bytes through a pipe to ``python -I -m shoal.desk._scrub_worker``,
confined by :mod:`._confined` like the image sanitizer (no keys, no
network, no environment), with :data:`LIMITS` of its own: it needs files
(``scrub_file`` and ffmpeg work on paths), so it may write files of up to
:data:`MAX_FILE` bytes, in a private directory it makes under ``/dev/shm``
(memory, where there is one; the temporary directory otherwise) and
deletes when it ends. Its name, chosen here at random, is passed to the
worker, so that it is removed here too if the worker was killed first.
ffmpeg is found on this process's PATH and passed as a path: the worker's
environment is empty.

The worker answers with one JSON line (``kind``, ``mime``, ``removed``,
``length``) and the cleaned bytes, or with an error code and
:mod:`shoal.scrub`'s sentence. Its answer is untrusted: it is read to a
bound, every field is checked (a known kind, a media type's shape, short
printable names of what was removed, the length), the bytes must start as
that kind of file does, and a sentence is shown only if it is printable
ASCII, short and shaped as :mod:`shoal.scrub`'s are; any other answer is a
refusal. Every failure is one :class:`ScrubRefused`, a sentence for the
handler (never file content) with a ``reason`` for the log.

Left open: the cleaned bytes cannot be checked here without parsing them,
which is what this module avoids. A worker subverted by a hostile file
(an exploit in one of the parsers) could answer with the file as it came;
it could not reach the keys or the network.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._confined import MAX_HEADER, Limits, run_confined, split_answer, worker_argv
from .errors import ForwardRefusedError

__all__ = ["LIMITS", "MAX_FILE", "CleanFile", "ScrubRefused", "scrub_confined"]

#: The largest file cleaned: :mod:`shoal.scrub` holds a PDF or an image
#: whole in memory, up to this.
MAX_FILE = 256 * 1024 * 1024
#: The worker's limits: room for a large PDF in memory twice over, and for
#: ffmpeg, which inherits them; files up to MAX_FILE (the file received and
#: its clean copy; a copy that grows past it is refused).
LIMITS = Limits(
    address_space=2 * 1024 * 1024 * 1024,
    cpu_seconds=120,
    file_size=MAX_FILE,
    open_files=32,
)
TIMEOUT = 180.0

#: The kinds :mod:`shoal.scrub` writes, and the file name extension of each.
_EXTENSIONS: Mapping[str, str] = {
    "pdf": "pdf",
    **{kind: kind for kind in ("docx", "xlsx", "pptx", "odt", "ods", "odp", "odg")},
    **{kind: kind for kind in ("mp4", "mov", "3gp", "m4a", "heic", "png", "webp")},
    "jpeg": "jpg",
}
_ZIPS = frozenset({"docx", "xlsx", "pptx", "odt", "ods", "odp", "odg"})
_ISO_MEDIA = frozenset({"mp4", "mov", "3gp", "m4a", "heic"})
_MIME = re.compile(r"[a-z]+/[a-z0-9][a-z0-9.+-]{0,100}")
_MAX_REMOVED = 64
_MAX_NAME = 200
_MAX_SENTENCE = 600

_NOT_SENT = "nothing was forwarded"
#: What each refusal says when the worker's own sentence is not shown.
_MESSAGES = {
    "unsupported": f"the metadata of files of this kind cannot be removed: {_NOT_SENT}",
    "malformed": f"this file is damaged, or not what its first bytes say: {_NOT_SENT}",
    "bomb": f"this file would take too much memory or time to clean safely: {_NOT_SENT}",
    "tool-missing": f"videos need ffmpeg, which is not installed on this desk: {_NOT_SENT}",
    "too-large": (
        f"this file is larger than {MAX_FILE // 2**20} MiB, too large to clean on the desk: "
        f"{_NOT_SENT}"
    ),
    "timeout": f"this file took too long to clean: {_NOT_SENT}",
}
_UNSAFE = f"this file could not be cleaned of its metadata safely: {_NOT_SENT}"
#: How :mod:`shoal.scrub`'s sentences start, by the code the worker gives
#: them (``shoal.scrub.errors``); a sentence that does not is not shown.
_SENTENCES = {
    "unsupported": "the metadata of ",
    "malformed": "this ",
    "bomb": "this ",
    "tool-missing": "MP4/MOV metadata needs ffmpeg",
}
#: Codes the worker may answer with; anything else it says is "malformed-answer".
_WORKER_CODES = frozenset({*_SENTENCES, "too-large", "failed"})


@dataclass(frozen=True)
class CleanFile:
    """A file without its metadata: its bytes, its kind and media type read
    from its content, and what was removed, in words for the handler."""

    data: bytes
    kind: str
    mime: str
    removed: tuple[str, ...]

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self.kind]


class ScrubRefused(ForwardRefusedError):
    """A file not cleaned, so not forwarded.

    ``str()`` is a sentence for the handler; ``reason`` one word for a log.
    """

    def __init__(self, reason: str, sentence: str | None = None) -> None:
        super().__init__(sentence or _MESSAGES.get(reason, _UNSAFE))
        self.reason = reason


def scrub_confined(
    data: bytes, *, ffmpeg: str | None, timeout: float = TIMEOUT, workspace: Path | None = None
) -> CleanFile:
    """Clean ``data`` of its metadata with :func:`shoal.scrub.scrub_file`, in a worker.

    ``ffmpeg`` is the absolute path of ffmpeg, or None (videos are then
    refused); ``workspace`` the folder the worker's private directory is
    made in (``/dev/shm`` where there is one). Raises :class:`ScrubRefused`
    before starting any process if ``data`` is over MAX_FILE, and for every
    failure: a refusal, a crash, a timeout, an answer too long or malformed.
    """
    if len(data) > MAX_FILE:
        raise ScrubRefused("too-large")
    if ffmpeg is not None and not os.path.isabs(ffmpeg):
        raise ValueError("ffmpeg must be given as an absolute path")
    private = (workspace or _workspace()) / f"shoal-scrub-{secrets.token_hex(16)}"
    argv = _worker_argv(str(private), *([ffmpeg] if ffmpeg else []))
    try:
        ran = run_confined(argv, data, limits=LIMITS, timeout=timeout, limit=MAX_HEADER + MAX_FILE)
    except OSError as error:  # the interpreter or a wrapper would not start
        raise ScrubRefused("not-started") from error
    finally:
        # The worker removes it as it ends; not if it was killed.
        shutil.rmtree(private, ignore_errors=True)
    if ran.timed_out:
        raise ScrubRefused("timeout")
    if ran.overflowed:
        raise ScrubRefused("too-much-output")
    answer = split_answer(ran.out)
    if answer is not None and isinstance(answer[0].get("error"), str):
        code = answer[0]["error"]
        if code not in _WORKER_CODES:
            raise ScrubRefused("malformed-answer")
        raise ScrubRefused(code, _sentence(code, answer[0].get("message")))
    if ran.status != 0:
        raise ScrubRefused("crashed")
    if answer is None:
        raise ScrubRefused("malformed-answer")
    return _clean_file(*answer)


def _worker_argv(*args: str) -> list[str]:
    return worker_argv("shoal.desk._scrub_worker", *args)


def _workspace() -> Path:
    """Memory-backed ``/dev/shm`` if this machine has one we may write in.

    Plaintext there never reaches a disk unless the machine swaps; and
    ``tempfile`` would honour this process's TMPDIR, whatever it names.
    """
    shm = Path("/dev/shm")  # noqa: S108 (a private directory is made in it)
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


# -- the worker's answer ---------------------------------------------------


def _clean_file(head: Mapping[str, object], data: bytes) -> CleanFile:
    kind, mime, removed = head.get("kind"), head.get("mime"), head.get("removed")
    if set(head) != {"kind", "mime", "removed", "length"} or head.get("length") != len(data):
        raise ScrubRefused("malformed-answer")
    if not isinstance(kind, str) or kind not in _EXTENSIONS or not _starts_as(kind, data):
        raise ScrubRefused("malformed-answer")
    if not isinstance(mime, str) or not _MIME.fullmatch(mime):
        raise ScrubRefused("malformed-answer")
    if not isinstance(removed, list) or len(removed) > _MAX_REMOVED:
        raise ScrubRefused("malformed-answer")
    names = tuple(name for name in removed if isinstance(name, str) and _printable(name))
    if len(names) != len(removed) or any(len(name) > _MAX_NAME for name in names):
        raise ScrubRefused("malformed-answer")
    return CleanFile(data, kind, mime, names)


def _starts_as(kind: str, data: bytes) -> bool:
    """Whether ``data`` starts as a file of ``kind`` does (its magic bytes only)."""
    if kind in _ZIPS:
        return data.startswith(b"PK\x03\x04")
    if kind in _ISO_MEDIA:
        return data[4:8] == b"ftyp"
    if kind == "webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    magic = {"pdf": b"%PDF-", "jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}
    return data.startswith(magic[kind])


def _sentence(code: str, said: object) -> str | None:
    """The worker's sentence, if it is shaped as :mod:`shoal.scrub`'s are."""
    start = _SENTENCES.get(code)
    if start is None or not isinstance(said, str) or len(said) > _MAX_SENTENCE:
        return None
    return said if said.startswith(start) and _printable(said) else None


def _printable(text: str) -> bool:
    """Printable ASCII, and something: no control, format or bidirectional
    characters can reach the handler's page from the worker."""
    return bool(text.strip()) and all(" " <= c <= "~" for c in text)
