"""The pixel budget, and the check that a cleaned image still decodes.

Cleaning a JPEG, PNG or WebP never decodes it: the cleaners rewrite the
container and copy the compressed image data byte for byte. But a cleaner
that misread a hostile file could write one that no longer opens, and the
member would only learn that from the handler. So each cleaned image is
decoded once, by Pillow, before it is written.

Decoding is where decompression bombs go off: a few kilobytes that
declare 100,000 by 100,000 pixels ask for 30 GB. So the size the
container declares is checked against MAX_PIXELS by the cleaners while
they parse, and again here between Pillow's open (which reads headers
only) and its load (which allocates and decodes). Pillow's own guard
(``Image.MAX_IMAGE_PIXELS``) is process-wide state left as it is; ours is
lower, so it never fires first.
"""

from __future__ import annotations

import io

from .errors import BombError, MalformedFileError

#: 80 megapixels: more than any phone or consumer camera takes (2024's
#: largest phone sensors bin to 50 MP; 200 MP modes exist but are rare),
#: and at 4 bytes a pixel 320 MB, which a laptop can spare.
MAX_PIXELS = 80_000_000


def check_pixels(kind: str, width: int, height: int) -> None:
    """Refuse a picture of ``width`` by ``height`` if it exceeds MAX_PIXELS."""
    if width <= 0 or height <= 0:
        raise MalformedFileError(kind, "declares no pixels")
    if width * height > MAX_PIXELS:
        raise BombError(
            kind,
            f"declares {width} x {height} pixels, more than {MAX_PIXELS // 1_000_000} million",
        )


def check_decodes(data: bytes, pillow_format: str, kind: str) -> None:
    """Decode ``data`` with Pillow as ``pillow_format`` only; refuse it if that fails.

    Only the named plugin is tried (never Pillow's others: EPS would start
    Ghostscript). Truncated data is an error, as Pillow's default
    (``ImageFile.LOAD_TRUNCATED_IMAGES`` false) has it.
    """
    from PIL import Image  # noqa: PLC0415 (Pillow's C libraries load when first needed)

    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            check_pixels(kind, *image.size)
            image.load()
    except (BombError, MalformedFileError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BombError(kind, "declares too many pixels") from None
    except Exception:  # a decoder of hostile data raises anything; each is one refusal
        raise MalformedFileError(kind, "does not decode") from None
