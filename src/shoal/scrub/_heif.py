"""HEIC/HEIF: the primary picture, decoded and encoded again, alone.

A HEIF file (ISO/IEC 23008-12) is a box tree whose metadata items (EXIF
with GPS, XMP), thumbnails, depth maps and auxiliary images are separate
items beside the picture. No library here rewrites that tree without
them, so the primary image is decoded (through libheif, in pillow_heif)
and encoded anew as HEIC with no metadata and nothing beside it. Unlike
the other images this is lossy: the new file is HEVC at QUALITY.

The decoder applies the rotation and mirroring the file declares (its
``irot`` and ``imir`` properties), so the new picture is upright without
any orientation tag. libheif keeps its own security limits on; the pixel
budget is checked before anything is decoded.
"""

from __future__ import annotations

import io

from . import _exif
from ._pixels import check_pixels
from ._result import Cleaned, unique
from .errors import MalformedFileError, ScrubError, UnsupportedFormatError

_KIND = "HEIC image"
#: Visually lossless for photos at about half the original's size.
QUALITY = 90


def scrub_heif(data: bytes) -> Cleaned:
    """The primary image of ``data``, re-encoded as HEIC without metadata."""
    try:
        import pillow_heif  # noqa: PLC0415 (libheif loads when first needed)
    except ImportError:
        raise UnsupportedFormatError("HEIC images (pillow-heif is not installed)") from None
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    except Exception:  # libheif refuses hostile data with any of several errors
        raise UnsupportedFormatError("HEIF images of this kind") from None
    try:
        image = heif[heif.primary_index]
        check_pixels(_KIND, *image.size)
        info = image.info
        exif = info.get("exif")
        exif = exif if isinstance(exif, bytes) else b""
        gps = _exif.has_gps(exif.removeprefix(_exif.JPEG_PREFIX))
        removed = [
            name
            for name, present in (
                ("EXIF (incl. GPS)" if gps else "EXIF", exif),
                ("XMP", info.get("xmp")),
                ("other metadata", info.get("metadata")),
                ("ICC colour profile", info.get("icc_profile")),
                ("thumbnails", info.get("thumbnails")),
                ("depth maps", info.get("depth_images")),
                ("auxiliary images", info.get("aux")),
                ("other images in the file", len(heif) > 1),
            )
            if present
        ]
        out = io.BytesIO()
        pillow_heif.encode(
            image.mode, image.size, image.data, out, stride=image.stride, quality=QUALITY
        )
    except ScrubError:
        raise
    except Exception:  # a decoder of hostile data raises anything; each is one refusal
        raise MalformedFileError(_KIND, "does not decode") from None
    return Cleaned(out.getvalue(), unique(removed))
