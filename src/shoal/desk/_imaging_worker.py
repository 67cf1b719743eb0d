"""The image worker: decodes one untrusted image, answers with a clean PNG.

Run only by :mod:`._imaging` as ``python -I -m shoal.desk._imaging_worker``,
confined by :mod:`._confined` (no network, no keys, no environment). It
lowers its own resource limits before anything else, in case a wrapper was
missing (:data:`._imaging.LIMITS`), then
reads the image from stdin and writes to stdout one JSON line, then the
PNG::

    {"width": W, "height": H, "length": N, "revealed": {...}, "dhash": "<16 hex>"}
    \\n<N bytes of PNG>

or, exiting with status 2, ``{"error": CODE}`` where CODE is one of
``not-an-image``, ``too-large``, ``bomb``, ``undecodable``. Nothing else is
ever written: no traceback, no message, since a decoder's message may quote
the image, and stderr is not read anyway.

Pillow opens only the format the magic bytes named (never its other
plugins: EPS would start Ghostscript), refuses more than MAX_PIXELS
(its bomb warning is an error here), and decodes the first frame only.

``dhash`` is the 64-bit difference hash of the picture as shown (the first
frame, upright): alike for a re-encoded, resized or recompressed copy of one
photo, so that the desk can tell one photo sent on by several sources
(:mod:`shoal.corroborate`). It is written here on Pillow in a few lines:
the ``imagehash`` package would bring numpy, SciPy and PyWavelets into the
desk for them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import warnings
from typing import TYPE_CHECKING, Any

from ._imaging import LIMITS, MAX_INPUT, MAX_PIXELS, SHOWN_EDGE, sniff_image

if TYPE_CHECKING:
    from PIL import Image

_PILLOW_FORMATS = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_MAX_TEXT = 400
#: dHash compares 8 pairs in each of 8 rows: 64 bits.
_DHASH_SIDE = 8

# EXIF tags (CIPA DC-008), by the IFD they live in.
_ORIENTATION, _MAKE, _MODEL, _SOFTWARE, _DATE_TIME = 0x0112, 0x010F, 0x0110, 0x0131, 0x0132
_ARTIST, _COPYRIGHT, _XP_AUTHOR = 0x013B, 0x8298, 0x9C9D
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATE_TIME_ORIGINAL, _MAKER_NOTE = 0x9003, 0x927C
_OWNER, _BODY_SERIAL, _LENS_SERIAL = 0xA430, 0xA431, 0xA435
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_THUMBNAIL_OFFSET = 0x0201
_TIFF_XMP, _TIFF_IPTC = 700, 33723


class _Refused(Exception):
    """The image is refused for the reason ``code``, one of the documented codes."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def main() -> int:
    LIMITS.apply()
    out = sys.stdout.buffer
    try:
        head, png = _sanitize(sys.stdin.buffer.read(MAX_INPUT + 1))
    except _Refused as refused:
        code = refused.code
    except Exception:  # MemoryError too: every failure is one code, with no detail
        code = "undecodable"
    else:
        out.write(json.dumps(head).encode("ascii") + b"\n" + png)
        out.flush()
        return 0
    out.write(json.dumps({"error": code}).encode("ascii") + b"\n")
    out.flush()
    return 2


def _sanitize(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) > MAX_INPUT:
        raise _Refused("too-large")
    kind = sniff_image(data[:32])
    if kind is None:
        raise _Refused("not-an-image")
    # Imported here, after the limits: Pillow's C libraries load inside them.
    from PIL import Image  # noqa: PLC0415

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    warnings.simplefilter("ignore")
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        image = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[kind]])
        # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale: far less memory
        # for a large photo, and still twice the size shown.
        image.draft(None, (2 * SHOWN_EDGE, 2 * SHOWN_EDGE))
        image.load()  # the first frame: Image.open leaves it selected
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        raise _Refused("bomb") from bomb
    revealed = _revealed(image)
    orientation = _orientation(image)
    shown = _pixels(image)
    shown.thumbnail((SHOWN_EDGE, SHOWN_EDGE), Image.Resampling.LANCZOS)
    shown = _upright(shown, orientation)
    # A fresh image of the bare pixels: no info, EXIF, ICC or text is
    # carried into the encoder, whatever a Pillow version copies along.
    clean = Image.frombytes(shown.mode, shown.size, shown.tobytes())
    png = io.BytesIO()
    clean.save(png, "PNG")
    width, height = clean.size
    head = {
        "width": width,
        "height": height,
        "length": png.tell(),
        "revealed": revealed,
        "dhash": f"{_dhash(shown):016x}",
    }
    return head, png.getvalue()


def _dhash(image: Image.Image) -> int:
    """The difference hash of ``image`` (Krawetz's dHash, as ``imagehash.dhash``):
    grey, shrunk to 9x8, one bit per pair of neighbours in a row, set where
    the right one is brighter; the first pair of the top row is the highest
    bit. An image with transparency is taken by its colours alone (the grey
    conversion drops the alpha)."""
    from PIL import Image  # noqa: PLC0415 (loaded by _sanitize, under the limits)

    small = image.convert("L").resize((_DHASH_SIDE + 1, _DHASH_SIDE), Image.Resampling.LANCZOS)
    grey = small.tobytes()
    value = 0
    for row in range(_DHASH_SIDE):
        at = row * (_DHASH_SIDE + 1)
        for column in range(_DHASH_SIDE):
            value = value << 1 | (grey[at + column + 1] > grey[at + column])
    return value


def _pixels(image: Image.Image) -> Image.Image:
    """``image`` as RGB, or RGBA if it has any transparency."""
    if image.mode in _SIXTEEN_BIT:
        # Converted directly, 16-bit grey would be clipped to white.
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("RGB")
    mode = "RGBA" if image.mode in _ALPHA_MODES or "transparency" in image.info else "RGB"
    return image if image.mode == mode else image.convert(mode)


def _orientation(image: Image.Image) -> int:
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a broken EXIF turns nothing; _revealed warns of it
        return 1
    return orientation if isinstance(orientation, int) else 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """``image`` turned by its EXIF orientation, as ImageOps.exif_transpose would.

    Done here, after shrinking, so that a large picture is not copied at
    full size, and from the orientation read before the image was converted
    (a TIFF's tags do not follow it).
    """
    from PIL import Image  # noqa: PLC0415 (loaded by _sanitize, under the limits)

    turn = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return image if turn is None else image.transpose(turn)


def _revealed(image: Image.Image) -> dict[str, Any]:
    """What the metadata of ``image`` gives away, as :class:`._imaging.Revealed` fields."""
    found: dict[str, Any] = {}
    other: set[str] = set()
    try:
        exif = image.getexif()
        base = dict(exif)
        detail = exif.get_ifd(_EXIF_IFD)
        gps = exif.get_ifd(_GPS_IFD)
        thumbnail = exif.get_ifd(-1)  # ExifTags.IFD.IFD1
    except Exception:  # a broken EXIF is still one to warn about
        other.add("unreadable EXIF")
        base, detail, gps, thumbnail = {}, {}, {}, {}
    found["gps"] = _position(gps)
    name = _join(_text(base.get(_MAKE)), _text(base.get(_MODEL)))
    serials = [
        f"{label} {serial}"
        for label, tag in (("serial", _BODY_SERIAL), ("lens serial", _LENS_SERIAL))
        if (serial := _text(detail.get(tag)))
    ]
    found["device"] = ", ".join(part for part in (name, *serials) if part) or None
    found["time"] = _text(detail.get(_DATE_TIME_ORIGINAL)) or _text(base.get(_DATE_TIME))
    found["software"] = _text(base.get(_SOFTWARE))
    authors = [
        _text(base.get(_ARTIST)),
        _xp_text(base.get(_XP_AUTHOR)),
        _text(detail.get(_OWNER)),
        _text(base.get(_COPYRIGHT)),
    ]
    found["author"] = "; ".join(dict.fromkeys(a for a in authors if a)) or None
    if detail.get(_MAKER_NOTE):
        other.add("camera maker notes")
    if thumbnail.get(_THUMBNAIL_OFFSET):
        other.add("an EXIF thumbnail")
    other |= _other_blocks(image)
    found["other"] = sorted(other)
    return found


def _other_blocks(image: Image.Image) -> set[str]:
    info = image.info
    tags = getattr(image, "tag_v2", {})
    other = set()
    if "xmp" in info or "XML:com.adobe.xmp" in info or _TIFF_XMP in tags:
        other.add("XMP")
    if "photoshop" in info or _TIFF_IPTC in tags:
        other.add("IPTC")
    if info.get("comment"):
        other.add("a comment")
    text = getattr(image, "text", None)
    if isinstance(text, dict) and set(text) - {"XML:com.adobe.xmp"}:
        other.add("PNG text")
    return other


def _position(gps: dict[int, Any]) -> str | None:
    if _GPS_LAT not in gps and _GPS_LON not in gps:
        return None
    lat = _degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S", 90)
    lon = _degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W", 180)
    if lat is None or lon is None:
        return "present but unreadable"
    return f"{lat:.5f}, {lon:.5f}"


def _degrees(value: Any, ref: Any, negative: str, bound: float) -> float | None:
    """Degrees, minutes and seconds (EXIF rationals) as signed decimal degrees."""
    try:
        parts = [float(part) for part in value][:3]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = sum(part / 60.0**i for i, part in enumerate(parts))
    if not parts or not math.isfinite(degrees) or abs(degrees) > bound:
        return None
    return -degrees if _text(ref) == negative else degrees


def _text(value: Any) -> str | None:
    """Text from a tag, NULs and runs of spaces folded, cut short.

    EXIF says ASCII and Pillow reads it as Latin-1, but cameras and editors
    write UTF-8 (a name in Cyrillic, say): it is read back as such when it is.
    """
    if isinstance(value, str):
        with contextlib.suppress(UnicodeError):  # if not, Latin-1 it was
            value = value.encode("latin-1").decode("utf-8")
    elif isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = " ".join(value.replace("\x00", " ").split())
    return text[:_MAX_TEXT] or None


def _xp_text(value: Any) -> str | None:
    """Windows' XP tags: UTF-16LE in a BYTE array."""
    if isinstance(value, tuple) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        value = bytes(value)
    if not isinstance(value, bytes):
        return None
    return _text(value.decode("utf-16-le", "replace"))


def _join(make: str | None, model: str | None) -> str | None:
    """Make and model, without the make twice ("Canon", "Canon EOS 5D")."""
    if make and model and model.lower().startswith(make.lower()):
        return model
    return " ".join(part for part in (make, model) if part) or None


if __name__ == "__main__":
    sys.exit(main())
