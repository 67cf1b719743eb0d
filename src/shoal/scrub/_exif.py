"""The one EXIF field worth keeping: which way up the picture is.

A phone stores a photo as the sensor saw it and records in the EXIF
orientation tag how to turn it. Dropping that tag with the rest would show
the member's photo on its side, so when it says anything but "upright"
(1) the cleaners write a new EXIF block holding that one tag and nothing
else. The block is built here byte by byte rather than by a library, so
that nothing else (a library's name, a date) can ride along.

The reading side parses only IFD0 of the original block (TIFF 6.0,
section 2: header, then a count and 12-byte entries), and never follows
offsets into the rest: the original is hostile input and is thrown away.
Anything unreadable reads as "upright" and is dropped all the same.
"""

from __future__ import annotations

import struct

#: The prefix of an EXIF block in a JPEG APP1 segment (CIPA DC-008, 4.7.2).
JPEG_PREFIX = b"Exif\x00\x00"

_ORIENTATION = 0x0112
_GPS_IFD = 0x8825
_SHORT = 3
_UPRIGHT = 1


def describe(tiff: bytes) -> tuple[str, int]:
    """What dropping the EXIF block ``tiff`` removes, in words, and the orientation to keep."""
    turn = orientation(tiff)
    details = [
        detail
        for detail, present in (("incl. GPS", has_gps(tiff)), ("orientation kept", turn != 1))
        if present
    ]
    return (f"EXIF ({'; '.join(details)})" if details else "EXIF"), turn


def orientation(tiff: bytes) -> int:
    """The orientation (1 to 8) recorded in IFD0 of ``tiff``; 1 if none or unreadable."""
    entry = _ifd0_entry(tiff, _ORIENTATION)
    if entry is None:
        return _UPRIGHT
    order, kind, count, value = entry
    if kind != _SHORT or count != 1:
        return _UPRIGHT
    (turn,) = struct.unpack_from(order + "H", value)
    return turn if 1 <= turn <= 8 else _UPRIGHT


def has_gps(tiff: bytes) -> bool:
    """Whether IFD0 of ``tiff`` points to a GPS IFD (a position, usually)."""
    return _ifd0_entry(tiff, _GPS_IFD) is not None


def minimal(turn: int) -> bytes:
    """A TIFF block (big-endian) whose IFD0 holds only the orientation ``turn``."""
    header = b"MM\x00\x2a" + struct.pack(">I", 8)
    entry = struct.pack(">HHIHH", _ORIENTATION, _SHORT, 1, turn, 0)
    return header + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


def _ifd0_entry(tiff: bytes, tag: int) -> tuple[str, int, int, bytes] | None:
    """(byte order, type, count, 4 value bytes) of ``tag`` in IFD0, or None."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (start,) = struct.unpack_from(order + "I", tiff, 4)
    if start + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, start)
    for index in range(count):
        at = start + 2 + 12 * index
        if at + 12 > len(tiff):
            return None
        found, kind, number = struct.unpack_from(order + "HHI", tiff, at)
        if found == tag:
            return order, kind, number, tiff[at + 8 : at + 12]
    return None
