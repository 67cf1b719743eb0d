"""scrub_file: a file's format from its bytes, its cleaner, and an all-or-nothing write.

The cleaned copy is written under a temporary name beside ``target``,
fsynced, and renamed over it: a reader of ``target`` sees the clean file
whole or nothing new, never half of one, and after any failure the
temporary file is removed. That matters more here than elsewhere, as a
half-written file next to a refusal could be mistaken for a clean one.
The temporary file is created 0600: a clean copy is still the member's
evidence.

Images and PDFs are cleaned in memory (at most MAX_IN_MEMORY bytes);
Office files stream entry by entry; videos are remuxed by ffmpeg, straight
into the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ._heif import scrub_heif
from ._jpeg import scrub_jpeg
from ._office import scrub_office
from ._pdf import scrub_pdf
from ._png import scrub_png
from ._result import Cleaned, Scrubbed
from ._sniff import HEAD_SIZE, sniff
from ._video import MEDIA_KINDS, scrub_video
from ._webp import scrub_webp
from .errors import BombError, ToolMissingError

#: The largest image or PDF cleaned (they are held in memory whole).
MAX_IN_MEMORY = 256 * 1024 * 1024

_IN_MEMORY: dict[str, Callable[[bytes], Cleaned]] = {
    "jpeg": scrub_jpeg,
    "png": scrub_png,
    "webp": scrub_webp,
    "heic": scrub_heif,
    "pdf": scrub_pdf,
}
_NAMES = {"jpeg": "JPEG image", "png": "PNG image", "webp": "WebP image", "heic": "HEIC image"}


def scrub_file(source: Path, target: Path, *, ffmpeg: str | None = "ffmpeg") -> Scrubbed:
    """Write a copy of ``source`` without its metadata to ``target``, all or nothing.

    The format is told by the file's first bytes, never by its name.
    ``ffmpeg`` is the command that cleans videos, looked up on PATH when
    this is called (a name) or given as a path; None means there is none,
    and a video is then refused. ``target`` may be ``source`` itself.

    Raises a :class:`~shoal.scrub.errors.ScrubError` when the file is
    refused, and then nothing is written at ``target``; :class:`OSError`
    when ``source`` cannot be read or ``target`` written.
    """
    tool = shutil.which(ffmpeg) if ffmpeg else None
    with Path(source).open("rb") as file:
        head = file.read(HEAD_SIZE)
        found = sniff(head)
        if found.kind in MEDIA_KINDS:
            if tool is None:
                raise ToolMissingError
            with _pending(target) as (path, _):
                removed = scrub_video(tool, Path(source), path, found)
            return Scrubbed(found.kind, found.mime, removed)
        if found.kind == "zip":
            file.seek(0)
            with _pending(target) as (path, out):
                office, removed = scrub_office(file, out, ffmpeg=tool, workdir=path.parent)
            return Scrubbed(office.kind, office.mime, removed)
        if os.fstat(file.fileno()).st_size > MAX_IN_MEMORY:
            kind = _NAMES.get(found.kind, "PDF")
            raise BombError(kind, f"is larger than {MAX_IN_MEMORY // 2**20} MiB")
        data = head + file.read()
    cleaned = _IN_MEMORY[found.kind](data)
    with _pending(target) as (_, out):
        out.write(cleaned.data)
    return Scrubbed(found.kind, found.mime, cleaned.removed)


@contextlib.contextmanager
def _pending(target: Path) -> Iterator[tuple[Path, IO[bytes]]]:
    """A temporary file beside ``target`` (its path, and a handle open on it),
    renamed to ``target`` when the block ends without error, removed otherwise.
    """
    target = Path(target)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".scrub-", suffix=".partial")
    path = Path(name)
    try:
        with os.fdopen(fd, "w+b") as out:
            yield path, out
            out.flush()
        _fsync(path)  # by path: ffmpeg writes through its own descriptor
        path.replace(target)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
