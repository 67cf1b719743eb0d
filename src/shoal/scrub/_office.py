"""Office documents: which ZIP package this is, and the files inside it.

Word, Excel and PowerPoint files (Office Open XML, ISO/IEC 29500) and
OpenDocument files (ISO/IEC 26300) are ZIP archives of XML parts and
media. They are told apart by their contents, as their names cannot be
trusted: an OpenDocument package starts with an entry ``mimetype``
(ODF 1.2 part 3, 3.3), an Open XML one has ``[Content_Types].xml``
(OPC, ISO/IEC 29500-2, 10.1.2.1). Any other ZIP is refused.

:mod:`._ooxml` and :mod:`._odf` clean their own parts; both hand every
other entry to :class:`Nested` first. Pictures pasted into a document are
kept as the files they were, EXIF and GPS included, and a chart carries a
whole workbook with its own properties; so an entry that is, by its magic
bytes, a JPEG, PNG, WebP, HEIC, PDF, Office document or MP4/MOV video is
cleaned like a file of its own, and a TIFF (which cannot be) is refused.
Nesting stops at MAX_DEPTH, and nested documents share their parent's
:class:`._zip.Budget`. A video goes through ffmpeg, which needs it on disk:
it is copied to a private temporary directory beside the cleaned file.

Not cleaned, and passed on as they are: OLE objects (``*.bin``: embedded
objects of old Office formats and VBA macros, whose summary streams can
name an author), and ``customXml`` parts (data bound to content controls,
which may hold whatever a template put there).
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from . import _odf, _ooxml
from ._heif import scrub_heif
from ._jpeg import scrub_jpeg
from ._pdf import scrub_pdf
from ._png import scrub_png
from ._result import Cleaned, unique
from ._sniff import HEAD_SIZE, Format, sniff
from ._video import MEDIA_KINDS, scrub_video
from ._webp import scrub_webp
from ._zip import READ_ERRORS, Budget, ZipOut, open_checked, read_entry
from .errors import (
    BombError,
    MalformedFileError,
    ScrubError,
    ToolMissingError,
    UnsupportedFormatError,
)

#: The largest entry read whole to be cleaned as a file of its own.
MAX_NESTED = 64 * 1024 * 1024
#: A document in a document is common (a chart's workbook); deeper is not.
MAX_DEPTH = 2

_KIND = "Office document"
_COPY_CHUNK = 1024 * 1024
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_MEMORY_CLEANERS: dict[str, Callable[[bytes], Cleaned]] = {
    "jpeg": scrub_jpeg,
    "png": scrub_png,
    "webp": scrub_webp,
    "heic": scrub_heif,
    "pdf": scrub_pdf,
}


def scrub_office(
    source: IO[bytes],
    target: IO[bytes],
    *,
    ffmpeg: str | None,
    workdir: Path,
    budget: Budget | None = None,
    depth: int = 0,
) -> tuple[Format, tuple[str, ...]]:
    """Write a clean copy of the Office document in ``source`` to ``target``.

    Returns its format, read from its contents, and what was removed.
    Videos inside are cleaned with ``ffmpeg`` (refused if None), through
    temporary files in ``workdir``.
    """
    budget = budget or Budget(_KIND)
    archive = open_checked(source, budget)
    try:
        with ZipOut(target) as out:
            nested = Nested(archive, budget, depth, ffmpeg=ffmpeg, workdir=workdir)
            entries = archive.infolist()
            if entries and entries[0].filename == "mimetype":
                found, removed = _odf.scrub(archive, out, nested)
            elif any(entry.filename == "[Content_Types].xml" for entry in entries):
                found, removed = _ooxml.scrub(archive, out, nested)
            else:
                raise UnsupportedFormatError("ZIP archives other than Office documents")
    except ScrubError:
        raise
    except READ_ERRORS:
        raise MalformedFileError(_KIND, "is damaged") from None
    finally:
        archive.close()
    return found, unique(removed)


class Nested:
    """Cleans an entry that is a file of its own (see the module docstring)."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        budget: Budget,
        depth: int,
        *,
        ffmpeg: str | None,
        workdir: Path,
    ) -> None:
        self._archive = archive
        self._budget = budget
        self._depth = depth
        self._ffmpeg = ffmpeg
        self._workdir = workdir

    def __call__(self, entry: zipfile.ZipInfo, out: ZipOut) -> list[str] | None:
        """Write ``entry`` cleaned to ``out`` and say what went; None if it is no file
        of a kind cleaned here (it is then to be copied as it is)."""
        with self._archive.open(entry) as stream:
            head = stream.read(HEAD_SIZE)
        if head.startswith(_TIFF):
            raise UnsupportedFormatError("Office files with TIFF pictures in them")
        try:
            found = sniff(head)
        except UnsupportedFormatError:
            return None  # XML, fonts, OLE objects and the rest: see the module docstring
        if found.kind in MEDIA_KINDS:
            removed = self._media(entry, found, out)
            return [f"{name} of videos inside" for name in removed]
        data = read_entry(self._archive, entry, MAX_NESTED, _KIND)
        cleaner = _MEMORY_CLEANERS.get(found.kind)
        if cleaner is not None:
            cleaned = cleaner(data)
            out.write(entry.filename, cleaned.data)
            return [f"{name} of pictures inside" for name in cleaned.removed]
        if self._depth >= MAX_DEPTH:
            raise BombError(_KIND, "nests documents too deeply")
        cleaned_document = io.BytesIO()  # seekable, so zipfile writes no data descriptors
        _, removed = scrub_office(
            io.BytesIO(data),
            cleaned_document,
            ffmpeg=self._ffmpeg,
            workdir=self._workdir,
            budget=self._budget,
            depth=self._depth + 1,
        )
        out.write(entry.filename, cleaned_document.getvalue())
        return [f"{name} of documents inside" for name in removed]

    def _media(self, entry: zipfile.ZipInfo, found: Format, out: ZipOut) -> tuple[str, ...]:
        """A video (or sound) entry through ffmpeg, which needs files: two
        temporary ones in a private directory, gone when this returns."""
        if self._ffmpeg is None:
            raise ToolMissingError
        with tempfile.TemporaryDirectory(dir=self._workdir, prefix=".scrub-") as work:
            raw, clean = Path(work) / "original", Path(work) / "clean"
            with self._archive.open(entry) as stream, raw.open("wb") as file:
                shutil.copyfileobj(stream, file, _COPY_CHUNK)
            removed = scrub_video(self._ffmpeg, raw, clean, found)
            with clean.open("rb") as file:
                out.copy(file, entry.filename)
        return removed
