"""What a file is, told by its first bytes alone.

A file's name and declared type are whatever the device or the sender
chose; a photo renamed ``notes.txt`` must still be cleaned as a photo, and
a file that claims to be a photo but is not must not slip through as one.
So the format is read from magic bytes, and a format not recognised here
is refused, never passed on as it is.

ZIP-based Office files are only told apart by their contents, which
:mod:`._office` reads; here they are just ``zip``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import UnsupportedFormatError

#: How many leading bytes :func:`sniff` wants: an ``ftyp`` box lists its
#: compatible brands after the major one, and a PDF header may be preceded
#: by up to 1 KiB of junk (ISO 32000-2, 7.5.2: readers look that far).
HEAD_SIZE = 4096


@dataclass(frozen=True)
class Format:
    """A recognised format: ``kind`` picks the cleaner, ``mime`` is its media type."""

    kind: str
    mime: str


_PNG = b"\x89PNG\r\n\x1a\n"

# ISO base media file format (ISO/IEC 14496-12) brands, from the ftyp box.
_HEVC_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs"})
_HEIF_BRANDS = frozenset({"mif1", "msf1", "mif2"})
_AVIF_BRANDS = frozenset({"avif", "avis"})
_MP4_BRANDS = frozenset(
    {
        *(f"iso{n}" for n in "m23456789"),
        "mp41",
        "mp42",
        "mp71",
        "avc1",
        "M4V ",
        "M4VH",
        "M4VP",
        "MSNV",
        "XAVC",
        "dash",
        "mmp4",
        "f4v ",
    }
)
_3GP_PREFIXES = ("3gp", "3gg", "3ge", "3gs")
_M4A_BRANDS = frozenset({"M4A ", "M4B "})
_QUICKTIME = "qt  "

#: The sizes a BMP's DIB header has, from OS/2 1.x (12) to BITMAPV5HEADER (124).
_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
#: Formats recognised only to be refused by name, so the message says what it was.
_REFUSED_MAGIC = (
    (b"GIF87a", "GIF images"),
    (b"GIF89a", "GIF images"),
    (b"II*\x00", "TIFF images and camera raw files"),
    (b"MM\x00*", "TIFF images and camera raw files"),
    (b"II+\x00", "TIFF images and camera raw files"),
    (b"MM\x00+", "TIFF images and camera raw files"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Office files (doc, xls, ppt) and encrypted ones"),
    (b"{\\rtf", "RTF documents"),
    (b"Rar!", "RAR archives"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archives"),
    (b"\x1f\x8b", "gzip archives"),
    (b"\x1aE\xdf\xa3", "Matroska and WebM videos"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg audio and video"),
    (b"fLaC", "FLAC audio"),
    (b"\x00\x00\x01\x00", "icons"),
)


def sniff(head: bytes) -> Format:
    """The format that ``head`` (a file's first HEAD_SIZE bytes) starts.

    Raises :class:`UnsupportedFormatError` for anything that is not a
    format cleaned here, naming it when it is a known one.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return Format("jpeg", "image/jpeg")
    if head.startswith(_PNG):
        return Format("png", "image/png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format("webp", "image/webp")
    if head[:4] == b"RIFF":
        raise UnsupportedFormatError("RIFF files (AVI, WAV)")
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"PK\x03\x04"):
        return Format("zip", "application/zip")
    if b"%PDF-" in head[:1024]:
        return Format("pdf", "application/pdf")
    # "BM" alone starts too much text; the size of a DIB header pins it down.
    if head[:2] == b"BM" and len(head) >= 18 and head[14] in _DIB_SIZES and not any(head[15:18]):
        raise UnsupportedFormatError("BMP images")
    for magic, what in _REFUSED_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormatError(what)
    raise UnsupportedFormatError("files of this kind")


def _iso_media(head: bytes) -> Format:
    """HEIF image or MP4/MOV video, by the brands of the leading ftyp box."""
    (size,) = struct.unpack_from(">I", head)
    end = min(size, len(head))
    if size < 16 or (size - 16) % 4:
        raise UnsupportedFormatError("files of this kind")
    major = head[8:12].decode("latin-1")
    compatible = {head[at : at + 4].decode("latin-1") for at in range(16, end - 3, 4)}
    brands = {major, *compatible}
    if major in _HEVC_BRANDS:
        return Format("heic", "image/heic")
    if brands & _AVIF_BRANDS:
        raise UnsupportedFormatError("AVIF images")
    if major in _HEIF_BRANDS or brands & _HEVC_BRANDS:
        return Format("heic", "image/heic")
    if major == _QUICKTIME:
        return Format("mov", "video/quicktime")
    if major in _M4A_BRANDS:
        return Format("m4a", "audio/mp4")
    if major.startswith(_3GP_PREFIXES):
        return Format("3gp", "video/3gpp")
    if major in _MP4_BRANDS or brands & _MP4_BRANDS:
        return Format("mp4", "video/mp4")
    if "crx " in brands:
        raise UnsupportedFormatError("camera raw files")
    raise UnsupportedFormatError("ISO media files of this brand")
