"""Untrusted images, decoded in a confined process and shown as a clean PNG.

An image a contact sends is the desk's most exposed input: image decoders
are large C libraries with a long history of memory bugs, and this process
holds the handler's decrypted keys. So nothing here decodes an image.
:func:`sanitize_image` sends the bytes through a pipe (the plaintext never
touches disk) to ``python -I -m shoal.desk._imaging_worker``, confined as
:mod:`._confined` says (no keys, no network, no environment, resource
limits: :data:`LIMITS`, which let it write no file at all).

The worker answers on stdout with one JSON line, then the PNG. Its answer
is untrusted too: it is read to a bound, its fields are checked, the text
it reports is cut to printable text, and the PNG must hold nothing but
image chunks (so even a subverted worker cannot pass metadata through).
What the worker wrote to stderr is discarded unread: a decoder's error
message may quote the image. Every failure is one :class:`ImageRefused`,
whose message is a sentence for the handler and whose ``reason`` is a word
for the log; neither ever holds image content.

Left to the caller: the PNG is pixels made by Pillow's encoder, but a
subverted worker could still choose those pixels, so it is shown as an
image and never interpreted otherwise. The original stays the item.
"""

from __future__ import annotations

import struct
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

from ._confined import MAX_HEADER, Limits, isolation, run_confined, split_answer, worker_argv
from .errors import ItemError

__all__ = [
    "LIMITS",
    "MAX_INPUT",
    "MAX_PIXELS",
    "SHOWN_EDGE",
    "CleanImage",
    "ImageRefused",
    "Revealed",
    "isolation",
    "sanitize_image",
    "sniff_image",
]

MAX_INPUT = 64 * 1024 * 1024
MAX_PIXELS = 40_000_000
SHOWN_EDGE = 2048

#: The worker's limits: 1 GiB holds a 40-megapixel RGBA image (160 MB) and
#: a converted copy; the image comes and goes on pipes, so no file is written.
LIMITS = Limits(address_space=1024 * 1024 * 1024, cpu_seconds=10, file_size=0, open_files=16)

#: Other metadata the worker may find, named for the handler.
_OTHER_KINDS = frozenset(
    {
        "XMP",
        "IPTC",
        "a comment",
        "PNG text",
        "camera maker notes",
        "an EXIF thumbnail",
        "unreadable EXIF",
    }
)

_DOWNLOAD_ONLY = "it is shown as a download only"
_MESSAGES = {
    "not-an-image": (
        "this file is not an image of a kind the desk shows "
        f"(JPEG, PNG, GIF, WebP, BMP or TIFF): {_DOWNLOAD_ONLY}"
    ),
    "too-large": f"this image is larger than {MAX_INPUT // 2**20} MiB: {_DOWNLOAD_ONLY}",
    "bomb": (
        f"this image declares more than {MAX_PIXELS // 1_000_000} million pixels, "
        f"too many to decode safely: {_DOWNLOAD_ONLY}"
    ),
    "timeout": f"this image took too long to decode: {_DOWNLOAD_ONLY}",
}
_UNSAFE = f"this image could not be decoded safely: {_DOWNLOAD_ONLY}"
#: Codes the worker may answer with; anything else it says is "malformed".
_WORKER_CODES = frozenset({"not-an-image", "too-large", "bomb", "undecodable"})

#: The largest PNG of SHOWN_EDGE² RGBA pixels, stored uncompressed, fits.
_MAX_ANSWER = MAX_HEADER + 2 * SHOWN_EDGE * SHOWN_EDGE * 4 + 1024 * 1024
_MAX_SHOWN_TEXT = 200
_DHASH_DIGITS = 16
_HEX = frozenset("0123456789abcdef")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: All a PNG of pixels needs; text, EXIF, ICC, time and the rest are refused.
_PNG_IMAGE_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})
_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (_PNG_SIGNATURE, "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
#: The sizes a BMP's DIB header has, from OS/2 1.x (12) to BITMAPV5HEADER (124).
_DIB = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_image(head: bytes) -> str | None:
    """The image kind that ``head`` (a file's first bytes) starts with, or None.

    By magic bytes only: a file name or a declared type is the sender's word.
    SVG, HTML and everything else that is text are never images here.
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    # "BM" alone starts too much text; the DIB header's size pins it down.
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack_from("<I", head, 14)[0] in _DIB:
        return "bmp"
    return None


@dataclass(frozen=True)
class Revealed:
    """What an image's metadata gave away, shown to the handler as a warning.

    The copy shown has none of it, but the original (the item, and any file
    exported from it) still does. ``other`` names further metadata found,
    whose content is not shown: XMP, a comment, maker notes and the like.
    """

    gps: str | None = None
    device: str | None = None
    time: str | None = None
    software: str | None = None
    author: str | None = None
    other: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        found = [
            ("GPS position", self.gps),
            ("Camera or phone", self.device),
            ("Time taken", self.time),
            ("Software", self.software),
            ("Author", self.author),
        ]
        sentences = [f"{label}: {value}" for label, value in found if value is not None]
        if self.other:
            sentences.append(f"Other metadata in the original: {', '.join(self.other)}")
        return sentences

    @property
    def empty(self) -> bool:
        return not self.warnings()


@dataclass(frozen=True)
class CleanImage:
    """An image re-encoded as a PNG of pixels only, at most SHOWN_EDGE a side.

    ``dhash``: the 64-bit difference hash of its pixels as shown, near (in
    bits) that of a re-encoded or resized copy (:mod:`._imaging_worker`).
    """

    png: bytes
    width: int
    height: int
    revealed: Revealed
    dhash: int


class ImageRefused(ItemError):
    """An image that is not shown: not an image, too large, or not decoded safely.

    ``str()`` is a sentence for the handler; ``reason`` one word for a log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(_MESSAGES.get(reason, _UNSAFE))
        self.reason = reason


def sanitize_image(data: bytes, *, timeout: float = 20.0) -> CleanImage:
    """Decode and re-encode ``data`` in a separate, confined process.

    Returns the first frame, turned upright by its EXIF orientation and
    shrunk to SHOWN_EDGE, as a PNG with no metadata, what the metadata
    revealed, and its difference hash. Raises :class:`ImageRefused` before starting any process if
    ``data`` is over MAX_INPUT or not an image by its magic bytes, and for
    every failure of the worker: a refusal, a crash, a timeout, an answer
    too long or malformed.
    """
    if len(data) > MAX_INPUT:
        raise ImageRefused("too-large")
    if sniff_image(data[:32]) is None:
        raise ImageRefused("not-an-image")
    try:
        ran = run_confined(_worker_argv(), data, limits=LIMITS, timeout=timeout, limit=_MAX_ANSWER)
    except OSError as error:  # the interpreter or a wrapper would not start
        raise ImageRefused("not-started") from error
    if ran.timed_out:
        raise ImageRefused("timeout")
    if ran.overflowed:
        raise ImageRefused("too-much-output")
    answer = split_answer(ran.out)
    if answer is not None and isinstance(answer[0].get("error"), str):
        code = answer[0]["error"]
        raise ImageRefused(code if code in _WORKER_CODES else "malformed")
    if ran.status != 0:
        raise ImageRefused("crashed")
    if answer is None:
        raise ImageRefused("malformed")
    return _clean_image(*answer)


# -- the worker's answer ---------------------------------------------------


def _clean_image(head: Mapping[str, object], png: bytes) -> CleanImage:
    width, height = head.get("width"), head.get("height")
    if not (_is_edge(width) and _is_edge(height)) or head.get("length") != len(png):
        raise ImageRefused("malformed")
    if not _is_bare_png(png, width, height):
        raise ImageRefused("malformed")
    dhash = head.get("dhash")
    if not _is_dhash(dhash):
        raise ImageRefused("malformed")
    return CleanImage(png, width, height, _revealed(head.get("revealed")), int(dhash, 16))


def _is_edge(value: object) -> TypeGuard[int]:
    return type(value) is int and 1 <= value <= SHOWN_EDGE


def _is_dhash(value: object) -> TypeGuard[str]:
    """Exactly 16 lowercase hex digits: no sign, space or "0x" that int() would take."""
    return isinstance(value, str) and len(value) == _DHASH_DIGITS and set(value) <= _HEX


def _is_bare_png(png: bytes, width: int, height: int) -> bool:
    """Whether ``png`` is well formed, ``width`` by ``height``, and holds image chunks only."""
    if not png.startswith(_PNG_SIGNATURE):
        return False
    at = len(_PNG_SIGNATURE)
    kinds: list[bytes] = []
    while at + 12 <= len(png):
        (size,) = struct.unpack_from(">I", png, at)
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + size]
        if len(body) != size or at + 12 + size > len(png):
            return False
        (crc,) = struct.unpack_from(">I", png, at + 8 + size)
        if kind not in _PNG_IMAGE_CHUNKS or zlib.crc32(body, zlib.crc32(kind)) != crc:
            return False
        if not kinds and (kind != b"IHDR" or body[:8] != struct.pack(">II", width, height)):
            return False
        kinds.append(kind)
        at += 12 + size
        if kind == b"IEND":
            break
    return at == len(png) and kinds[-1:] == [b"IEND"] and b"IDAT" in kinds


def _revealed(found: object) -> Revealed:
    if not isinstance(found, dict):
        return Revealed()
    other = found.get("other")
    kinds = other if isinstance(other, list) else []
    return Revealed(
        gps=_plain(found.get("gps")),
        device=_plain(found.get("device")),
        time=_plain(found.get("time")),
        software=_plain(found.get("software")),
        author=_plain(found.get("author")),
        other=tuple(sorted({kind for kind in kinds if kind in _OTHER_KINDS})),
    )


def _plain(value: object) -> str | None:
    """Text from the image, safe to show: no control or format characters, cut short.

    Format characters include the bidirectional overrides that could make
    "gpj.exe" read as "exe.jpg"; the sender chose every byte of this text.
    """
    if not isinstance(value, str):
        return None
    kept = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in value)
    text = " ".join(kept.split())
    if len(text) > _MAX_SHOWN_TEXT:
        text = text[: _MAX_SHOWN_TEXT - 1] + "…"
    return text or None


def _worker_argv() -> list[str]:
    return worker_argv("shoal.desk._imaging_worker")
