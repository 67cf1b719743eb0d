"""JPEG: the segments a decoder needs, copied; every other one dropped.

A JPEG file (ITU-T T.81, Annex B) is a run of marker segments, then
entropy-coded scan data. Metadata lives in segments no decoder needs:
APP1 (EXIF with GPS, camera serial numbers, maker notes and a thumbnail;
XMP), APP2 (ICC profiles, which name devices and dates; MPF, which
appends further images), APP13 (Photoshop and IPTC: by-line, captions,
places), the other APPn and COM. They are all dropped, and so is anything
after the end-of-image marker (phones append a second image or a
"motion photo" video there).

What stays is copied byte for byte, so the pixels are exactly the
original's: no re-encoding, no quality lost.

- Frame headers (SOFn), Huffman and quantisation tables (DHT, DQT), the
  arithmetic-coding conditioning (DAC), restart interval (DRI), line count
  (DNL), and each scan (SOS with its entropy-coded data).
- A JFIF APP0, rewritten to its 14 fixed bytes (pixel density kept, the
  optional thumbnail gone), if the original had one.
- An Adobe APP14, rewritten to its 12 fixed bytes, if the original had
  one: its transform flag tells a decoder whether the channels are RGB,
  YCbCr or YCCK, so dropping it would change the colours of a CMYK or RGB
  JPEG. It holds nothing else.
- The EXIF orientation when it is not "upright", in a new EXIF block that
  holds nothing else (:mod:`._exif`), so the photo is not shown on its side.
"""

from __future__ import annotations

import struct

from . import _exif
from ._pixels import check_decodes, check_pixels
from ._result import Cleaned, unique
from .errors import MalformedFileError, UnsupportedFormatError

_KIND = "JPEG image"

_SOI, _EOI, _SOS, _TEM = 0xD8, 0xD9, 0xDA, 0x01
_APP0, _APP1, _APP2, _APP13, _APP14, _APP15 = 0xE0, 0xE1, 0xE2, 0xED, 0xEE, 0xEF
_COM = 0xFE
_RST = range(0xD0, 0xD8)
#: Segments a decoder needs: DHT, DAC, DQT, DNL, DRI, DHP, EXP. The frame
#: headers (SOF0-SOF15 but for C4, C8, CC) are handled on their own.
_TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF})
_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

_JFIF = b"JFIF\x00"
_ADOBE = b"Adobe"
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"

#: What an APPn segment is, by the identifier it starts with.
_APP_NAMES = {
    (_APP1, _XMP): "XMP",
    (_APP1, _XMP_EXTENSION): "XMP",
    (_APP2, b"ICC_PROFILE\x00"): "ICC colour profile",
    (_APP2, b"MPF\x00"): "extra images (MPF)",
    (_APP2, b"FPXR\x00"): "FlashPix data",
    (_APP13, b"Photoshop 3.0\x00"): "IPTC and Photoshop data",
}


def scrub_jpeg(data: bytes) -> Cleaned:
    """``data`` with only the segments a decoder needs; see the module docstring."""
    if not data.startswith(b"\xff\xd8"):
        raise MalformedFileError(_KIND, "does not start as a JPEG does")
    parsed = _Parsed()
    at = 2
    while True:
        marker, at = _next_marker(data, at)
        if marker == _EOI:
            break
        if marker in _RST or marker == _TEM:
            parsed.kept.append(bytes((0xFF, marker)))
            continue
        if marker in (_SOI, 0x00):
            raise MalformedFileError(_KIND, "has a marker out of place")
        if at + 2 > len(data):
            raise MalformedFileError(_KIND, "is truncated")
        (length,) = struct.unpack_from(">H", data, at)
        if length < 2 or at + length > len(data):
            raise MalformedFileError(_KIND, "has a segment longer than the file")
        segment, body = data[at - 2 : at + length], data[at + 2 : at + length]
        at += length
        if marker == _SOS:
            if not parsed.framed:
                raise MalformedFileError(_KIND, "has image data before its frame header")
            end = _scan_end(data, at)
            parsed.kept.append(segment + data[at:end])
            at = end
        else:
            parsed.segment(marker, segment, body)
    if not parsed.framed:
        raise MalformedFileError(_KIND, "has no image")
    if data[at:]:
        parsed.removed.append("data after the end of the image (extra images or video)")
    clean = parsed.assemble()
    check_decodes(clean, "JPEG", _KIND)
    return Cleaned(clean, unique(parsed.removed))


class _Parsed:
    """The segments kept and what was dropped, as :func:`scrub_jpeg` walks the file."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []
        self.removed: list[str] = []
        self.jfif: bytes | None = None
        self.adobe_transform: int | None = None
        self.turn: int | None = None
        self.framed = False

    def segment(self, marker: int, segment: bytes, body: bytes) -> None:
        if marker in _FRAMES:
            if len(body) < 6:
                raise MalformedFileError(_KIND, "has a damaged frame header")
            height, width = struct.unpack_from(">HH", body, 1)
            check_pixels(_KIND, width, height)
            self.framed = True
            self.kept.append(segment)
        elif marker in _TABLES:
            self.kept.append(segment)
        elif marker == _APP0 and body.startswith(_JFIF) and len(body) >= 14:
            self._jfif(body)
        elif marker == _APP1 and body.startswith(_exif.JPEG_PREFIX):
            self._exif(body[len(_exif.JPEG_PREFIX) :])
        elif marker == _APP14 and body.startswith(_ADOBE) and len(body) >= 12:
            if self.adobe_transform is None:
                self.adobe_transform = body[11]
        elif _APP0 <= marker <= _APP15:
            self.removed.append(self._app_name(marker, body))
        elif marker == _COM:
            self.removed.append("comment")
        else:  # JPG, JPGn (extensions such as JPEG-LS): nothing here can decode them
            raise UnsupportedFormatError("JPEG files using extensions (such as JPEG-LS)")

    def _jfif(self, body: bytes) -> None:
        if self.jfif is None:
            # Version, density units and X/Y density kept; no thumbnail (0 by 0).
            self.jfif = _JFIF + body[5:12] + b"\x00\x00"
        if body[12] or body[13] or len(body) > 14:
            self.removed.append("JFIF thumbnail")

    def _exif(self, tiff: bytes) -> None:
        name, turn = _exif.describe(tiff)
        if self.turn is None:  # the first EXIF block is the one decoders read
            self.turn = turn
        self.removed.append(name)

    @staticmethod
    def _app_name(marker: int, body: bytes) -> str:
        for (app, prefix), name in _APP_NAMES.items():
            if marker == app and body.startswith(prefix):
                return name
        if marker == _APP0:
            return "JFIF thumbnail"
        return f"application data (APP{marker - _APP0})"

    def assemble(self) -> bytes:
        head = [b"\xff\xd8"]
        if self.jfif is not None:
            head.append(_segment(_APP0, self.jfif))
        if self.turn not in (None, 1):
            head.append(_segment(_APP1, _exif.JPEG_PREFIX + _exif.minimal(self.turn)))
        if self.adobe_transform is not None:
            # DCTEncode version 100, no flags, the original's colour transform.
            adobe = _ADOBE + struct.pack(">HHHB", 100, 0, 0, self.adobe_transform)
            head.append(_segment(_APP14, adobe))
        return b"".join([*head, *self.kept, b"\xff\xd9"])


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _next_marker(data: bytes, at: int) -> tuple[int, int]:
    """The marker at ``at`` (after any 0xFF fill bytes) and where its segment starts."""
    if at >= len(data) or data[at] != 0xFF:
        raise MalformedFileError(_KIND, "is truncated or damaged")
    while at < len(data) and data[at] == 0xFF:
        at += 1
    if at >= len(data):
        raise MalformedFileError(_KIND, "is truncated")
    return data[at], at + 1


def _scan_end(data: bytes, at: int) -> int:
    """Where the entropy-coded data starting at ``at`` ends: at the next real marker.

    In scan data 0xFF is followed by 0x00 (a stuffed byte), a restart
    marker, or more 0xFF (fill); anything else is the next segment's marker.
    """
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            raise MalformedFileError(_KIND, "is truncated")
        following = data[at + 1]
        if following == 0x00 or following in _RST or following == 0xFF:
            at += 1 if following == 0xFF else 2
            continue
        return at
