"""Errors raised by :mod:`shoal.scrub`, by origin.

::

    ScrubError                  root of everything this package raises
    ├── UnsupportedFormatError  a format (or a feature of one: encryption,
    │                           attachments) whose metadata cannot be removed
    ├── MalformedFileError      the file is damaged, truncated, or not what its
    │                           first bytes say it is
    ├── BombError               the file would take too much memory or time to
    │                           clean: too many pixels, a zip bomb, too large
    └── ToolMissingError        a video needs ffmpeg, which is not installed

Every one of them means the same to the caller: the file was refused, and
must be neither sent nor stored as it is. The messages are sentences for
the member or handler. They name the format and the reason, never anything
read from the file (a name, a brand, a decoder's message quoting the data),
since a message may be logged or shown where the file itself must not be.

Problems with the source or target files themselves (missing, unreadable,
a full disk) are :class:`OSError`, as from any other file operation.
"""

from __future__ import annotations

#: What :func:`shoal.scrub.scrub_file` cleans, as told in refusals.
SUPPORTED = (
    "JPEG, PNG, WebP and HEIC images; PDF; Word, Excel and PowerPoint files "
    "(docx, xlsx, pptx); OpenDocument files (odt, ods, odp, odg); MP4 and MOV "
    "videos and M4A audio (with ffmpeg)"
)

_REFUSED = "the file was refused, and was not sent or stored unscrubbed"


class ScrubError(Exception):
    """Root of every error raised by shoal.scrub: the file was refused."""


class UnsupportedFormatError(ScrubError):
    """Metadata of this format, or of this feature of it, cannot be removed.

    ``what`` names it in plain words ("GIF images", "encrypted PDFs").
    """

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the metadata of {what} cannot be removed: {_REFUSED}. "
            f"Metadata can be removed from {SUPPORTED}."
        )
        self.what = what


class MalformedFileError(ScrubError):
    """The file is damaged, truncated, or not what its first bytes say.

    ``kind`` names the format ("JPEG image"), ``problem`` what is wrong
    with it, in words chosen here (never a parser's message).
    """

    def __init__(self, kind: str, problem: str = "is damaged or incomplete") -> None:
        super().__init__(f"this {kind} {problem}: {_REFUSED}")
        self.kind = kind


class BombError(ScrubError):
    """The file would take too much memory or time to clean.

    Decompression bombs (a small file that declares billions of pixels, or
    a zip that inflates to gigabytes) are the reason, but an honestly huge
    file is refused the same way.
    """

    def __init__(self, kind: str, problem: str) -> None:
        super().__init__(f"this {kind} {problem}, too much to clean safely: {_REFUSED}")
        self.kind = kind


class ToolMissingError(ScrubError):
    """A video was given, but ffmpeg, which removes its metadata, is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "MP4/MOV metadata needs ffmpeg, which is not installed; the video was refused"
        )
