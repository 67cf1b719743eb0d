"""PNG: the chunks that draw the picture, copied; the rest dropped.

A PNG file (ISO/IEC 15948, section 5) is a signature and a run of chunks,
each with a CRC. Metadata is in ancillary chunks: tEXt, zTXt and iTXt
(author, software, comments, and XMP under the keyword
``XML:com.adobe.xmp``), eXIf (EXIF with GPS), tIME (last modification)
and iCCP (an ICC profile, which may name a device). Those, and every
ancillary chunk not known here, are dropped.

Kept, byte for byte: the critical chunks (IHDR, PLTE, IDAT, IEND), the
ancillary ones that only change how pixels are shown (tRNS, gAMA, cHRM,
sRGB, sBIT, pHYs), and the animation chunks of APNG (acTL, fcTL, fdAT).
An unknown *critical* chunk (an uppercase first letter) is refused: a
decoder must understand it, so it cannot be dropped, and nothing says
what it holds. Every chunk's CRC is checked, kept or not: a damaged file
is refused rather than guessed at.

As for JPEG, an EXIF orientation other than "upright" is kept alone in a
new eXIf chunk.
"""

from __future__ import annotations

import struct
import zlib

from . import _exif
from ._pixels import check_decodes, check_pixels
from ._result import Cleaned, unique
from .errors import MalformedFileError, UnsupportedFormatError

_KIND = "PNG image"
SIGNATURE = b"\x89PNG\r\n\x1a\n"

_KEPT = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"sBIT",
        b"pHYs",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)
_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"
_NAMES = {
    b"tIME": "modification time",
    b"iCCP": "ICC colour profile",
}
_MAX_CHUNK = 2**31 - 1  # section 5.3: a length is at most 2^31 - 1


def scrub_png(data: bytes) -> Cleaned:
    """``data`` with only the chunks that draw the picture; see the module docstring."""
    if not data.startswith(SIGNATURE):
        raise MalformedFileError(_KIND, "does not start as a PNG does")
    kept: list[bytes] = []
    removed: list[str] = []
    turn: int | None = None
    at = len(SIGNATURE)
    while True:
        kind, body, chunk, at = _chunk(data, at)
        if not kept and kind != b"IHDR":
            raise MalformedFileError(_KIND, "does not start with its header")
        if kind == b"IHDR":
            if kept or len(body) != 13:
                raise MalformedFileError(_KIND, "has a damaged header")
            check_pixels(_KIND, *struct.unpack_from(">II", body))
        if kind in _KEPT:
            kept.append(chunk)
        elif kind == b"eXIf":
            name, found = _exif.describe(body)
            turn = found if turn is None else turn
            removed.append(name)
        else:
            removed.append(_dropped(kind, body))
        if kind == b"IEND":
            break
    if data[at:]:
        removed.append("data after the end of the image")
    if turn not in (None, 1):
        # eXIf must come before the first IDAT (PNG 3rd edition, 4.9): right after IHDR.
        kept.insert(1, _make_chunk(b"eXIf", _exif.minimal(turn)))
    clean = SIGNATURE + b"".join(kept)
    check_decodes(clean, "PNG", _KIND)
    return Cleaned(clean, unique(removed))


def _dropped(kind: bytes, body: bytes) -> str:
    """What the ancillary chunk ``kind`` held, in words; a critical one is refused."""
    if kind[0:1].isupper():
        raise UnsupportedFormatError("PNG files with chunks this program does not know")
    if kind in _TEXT:
        return "XMP" if body.startswith(_XMP_KEYWORD) else "text (author, comments)"
    return _NAMES.get(kind, "other ancillary data")


def _chunk(data: bytes, at: int) -> tuple[bytes, bytes, bytes, int]:
    """(type, body, whole chunk, where the next starts) of the chunk at ``at``."""
    if at + 12 > len(data):
        raise MalformedFileError(_KIND, "is truncated")
    size, kind = struct.unpack_from(">I4s", data, at)
    end = at + 12 + size
    if size > _MAX_CHUNK or end > len(data):
        raise MalformedFileError(_KIND, "is truncated")
    if not kind.isalpha() or not kind.isascii():
        raise MalformedFileError(_KIND, "has a damaged chunk")
    body = data[at + 8 : end - 4]
    (crc,) = struct.unpack_from(">I", data, end - 4)
    if zlib.crc32(body, zlib.crc32(kind)) != crc:
        raise MalformedFileError(_KIND, "has a chunk whose checksum is wrong")
    return kind, body, data[at:end], end


def _make_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
