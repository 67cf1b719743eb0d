"""Metadata removal: a copy of a file without who made it, where, when, with what.

Used on the member's device before a file is sealed, and on the desk
before a file is forwarded; never on the server, which would have to hold
the plaintext. One call, :func:`scrub_file`, takes a file and writes a
clean copy, or refuses it: a file whose metadata cannot be removed is
never passed on as it is. What each format keeps and loses is told in its
module's docstring:

- JPEG, PNG, WebP (``_jpeg``, ``_png``, ``_webp``): containers rewritten,
  compressed pixels copied byte for byte; HEIC (``_heif``): re-encoded;
- PDF (``_pdf``): rewritten as a new single-revision file;
- docx/xlsx/pptx (``_ooxml``) and odt/ods/odp/odg (``_odf``): ZIP packages
  rewritten part by part, pictures and documents inside them cleaned too;
- MP4/MOV (``_video``): remuxed by ffmpeg where installed.

Everything else is refused with :class:`UnsupportedFormatError`. Hostile
files are expected: decompression bombs (:class:`BombError`) and damaged
files (:class:`MalformedFileError`) are refused, not crashed on, and no
message ever holds anything read from the file. The parsers and decoders
run in the calling process: a caller that holds keys and cleans files
from others (the desk) should call this in a confined process, as
:mod:`shoal.desk._imaging` does for images.

This package imports nothing else of Shoal's.
"""

from ._result import Scrubbed
from ._scrub import scrub_file
from .errors import (
    BombError,
    MalformedFileError,
    ScrubError,
    ToolMissingError,
    UnsupportedFormatError,
)

__all__ = [
    "BombError",
    "MalformedFileError",
    "ScrubError",
    "Scrubbed",
    "ToolMissingError",
    "UnsupportedFormatError",
    "scrub_file",
]
