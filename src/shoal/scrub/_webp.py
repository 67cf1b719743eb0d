"""WebP: the RIFF chunks that draw the picture, copied; the rest dropped.

A WebP file (RFC 9649) is a RIFF container: ``RIFF``, a size, ``WEBP``,
then chunks of a FourCC, a little-endian size and a body padded to an
even length. A simple file holds one ``VP8 `` or ``VP8L`` chunk and no
metadata. An extended one starts with ``VP8X``, whose flags announce the
optional chunks: ``ICCP`` (an ICC profile), ``EXIF`` (with GPS) and
``XMP ``. Those are dropped with their flags cleared, and so is every chunk
not known here (section 2.7: readers ignore unknown chunks, so writers
hide things in them), inside animation frames (``ANMF``) too.

Kept byte for byte: VP8X (flags fixed), ANIM, ANMF, ALPH, VP8 and VP8L.
The RIFF size is recomputed; data after the RIFF chunk is dropped. As for
JPEG, an EXIF orientation other than "upright" is kept alone in a new EXIF
chunk.
"""

from __future__ import annotations

import struct

from . import _exif
from ._pixels import check_decodes, check_pixels
from ._result import Cleaned, unique
from .errors import MalformedFileError

_KIND = "WebP image"

_KEPT = frozenset({b"VP8X", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"})
_FRAME_KEPT = frozenset({b"ALPH", b"VP8 ", b"VP8L"})
_NAMES = {b"ICCP": "ICC colour profile", b"XMP ": "XMP"}

# VP8X flags (RFC 9649, 2.7) kept or set; ICC (0x20), XMP (0x04) and the
# reserved bits are always cleared.
_ALPHA, _EXIF, _ANIMATION = 0x10, 0x08, 0x02
_ANMF_HEADER = 16  # X, Y, width, height (3 bytes each), duration (3), flags (1)


def scrub_webp(data: bytes) -> Cleaned:
    """``data`` with only the chunks that draw the picture; see the module docstring."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MalformedFileError(_KIND, "does not start as a WebP does")
    (size,) = struct.unpack_from("<I", data, 4)
    end = 8 + size
    if size < 4 or end > len(data):
        raise MalformedFileError(_KIND, "is truncated")
    removed: list[str] = []
    turn: int | None = None
    kept: list[tuple[bytes, bytes]] = []
    for fourcc, body in _chunks(data, 12, end):
        if fourcc == b"EXIF":
            name, found = _exif.describe(body)
            turn = found if turn is None else turn
            removed.append(name)
        elif fourcc not in _KEPT:
            removed.append(_NAMES.get(fourcc, "other data"))
        elif fourcc == b"ANMF":
            kept.append((fourcc, _frame(body, removed)))
        else:
            kept.append((fourcc, body))
    if data[end:]:
        removed.append("data after the end of the image")
    _check_size(kept)
    if turn not in (None, 1):
        kept.append((b"EXIF", _exif.minimal(turn)))
    if kept[0][0] == b"VP8X":
        kept[0] = (b"VP8X", _flags(kept[0][1], exif=turn not in (None, 1)))
    chunks = b"".join(_chunk(fourcc, body) for fourcc, body in kept)
    clean = b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks
    check_decodes(clean, "WEBP", _KIND)
    return Cleaned(clean, unique(removed))


def _chunks(data: bytes, at: int, end: int) -> list[tuple[bytes, bytes]]:
    """The (FourCC, body) chunks from ``at`` to ``end``."""
    found = []
    while at < end:
        if at + 8 > end:
            raise MalformedFileError(_KIND, "is truncated")
        fourcc, size = struct.unpack_from("<4sI", data, at)
        body = data[at + 8 : at + 8 + size]
        if len(body) != size or at + 8 + size > end:
            raise MalformedFileError(_KIND, "is truncated")
        found.append((fourcc, body))
        at += 8 + size + (size & 1)
    return found


def _frame(body: bytes, removed: list[str]) -> bytes:
    """An ANMF body with only the chunks that draw its frame."""
    if len(body) < _ANMF_HEADER:
        raise MalformedFileError(_KIND, "has a damaged animation frame")
    kept = []
    for fourcc, inner in _chunks(body, _ANMF_HEADER, len(body)):
        if fourcc in _FRAME_KEPT:
            kept.append(_chunk(fourcc, inner))
        else:
            removed.append("other data")
    return body[:_ANMF_HEADER] + b"".join(kept)


def _check_size(kept: list[tuple[bytes, bytes]]) -> None:
    """Refuse a canvas over the pixel budget, from the first chunk's header."""
    if not kept:
        raise MalformedFileError(_KIND, "has no image")
    fourcc, body = kept[0]
    if fourcc == b"VP8X" and len(body) >= 10:
        width = 1 + int.from_bytes(body[4:7], "little")
        height = 1 + int.from_bytes(body[7:10], "little")
    elif fourcc == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = (value & 0x3FFF for value in struct.unpack_from("<HH", body, 6))
    elif fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        (bits,) = struct.unpack_from("<I", body, 1)
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise MalformedFileError(_KIND, "has a damaged header")
    check_pixels(_KIND, width, height)


def _flags(vp8x: bytes, *, exif: bool) -> bytes:
    """VP8X with the ICC and XMP flags and reserved bits cleared, EXIF set only if ``exif``."""
    flags = vp8x[0] & (_ALPHA | _ANIMATION) | (_EXIF if exif else 0)
    return bytes((flags, 0, 0, 0)) + vp8x[4:]


def _chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)
