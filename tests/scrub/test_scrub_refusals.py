"""Refusals: bombs, damaged and unknown files; the all-or-nothing write; the surface."""

from __future__ import annotations

import io
import json
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from scrub_kit import NAME, picture, rich_jpeg

import shoal.scrub
from shoal.scrub import (
    BombError,
    MalformedFileError,
    ScrubError,
    UnsupportedFormatError,
    scrub_file,
)

EXPECTED_EXPORTS = [
    "BombError",
    "MalformedFileError",
    "ScrubError",
    "Scrubbed",
    "ToolMissingError",
    "UnsupportedFormatError",
    "scrub_file",
]


def test_exports_are_exactly_the_public_surface() -> None:
    assert shoal.scrub.__all__ == EXPECTED_EXPORTS
    assert sorted(name for name in vars(shoal.scrub) if not name.startswith("_")) == sorted(
        [*EXPECTED_EXPORTS, "errors"]
    )


def test_scrub_imports_nothing_else_of_shoal() -> None:
    """The field client and the desk both use it; it must drag in neither."""
    code = "import json, sys, shoal.scrub; print(json.dumps(sorted(sys.modules)))"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    loaded = json.loads(ran.stdout)
    assert [m for m in loaded if m.startswith("shoal.") and not m.startswith("shoal.scrub")] == []
    assert not {"PIL", "pypdf", "pillow_heif"} & set(loaded)  # loaded when first needed


def test_png_declaring_ten_billion_pixels_is_a_bomb(tmp_path: Path) -> None:
    """100000 x 100000 pixels in a few hundred bytes, refused before any decoding."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 301, 9)
    source = tmp_path / "bomb.png"
    source.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )

    with pytest.raises(BombError, match="declares 100000 x 100000 pixels, more than 80 million"):
        scrub_file(source, tmp_path / "clean.png")


def test_jpeg_declaring_too_many_pixels_is_a_bomb(tmp_path: Path) -> None:
    source = tmp_path / "bomb.jpg"
    source.write_bytes(_jpeg_bomb())

    with pytest.raises(BombError, match="60000 x 60000 pixels"):
        scrub_file(source, tmp_path / "clean.jpg")


def test_webp_declaring_too_large_a_canvas_is_a_bomb(tmp_path: Path) -> None:
    out = io.BytesIO()
    picture().save(out, "WEBP", lossless=True, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    data = bytearray(out.getvalue())
    vp8x = data.index(b"VP8X")
    data[vp8x + 12 : vp8x + 18] = (20_000 - 1).to_bytes(3, "little") * 2
    source = tmp_path / "bomb.webp"
    source.write_bytes(bytes(data))

    with pytest.raises(BombError, match="20000 x 20000 pixels"):
        scrub_file(source, tmp_path / "clean.webp")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_jpeg_is_malformed(tmp_path: Path, keep: float) -> None:
    data = rich_jpeg(tmp_path / "photo.jpg").read_bytes()
    source = tmp_path / "cut.jpg"
    source.write_bytes(data[: int(len(data) * keep)])

    with pytest.raises(MalformedFileError, match="this JPEG image"):
        scrub_file(source, tmp_path / "clean.jpg")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (random.Random(4096).randbytes(4096), "files of this kind"),
        (b"", "files of this kind"),
        (b"GIF89a" + bytes(100), "GIF images"),
        (b"II*\x00" + bytes(100), "TIFF images and camera raw files"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old Office files"),
        (b"Dear handler, " + NAME.encode(), "files of this kind"),
    ],
    ids=["random", "empty", "gif", "tiff", "ole", "text"],
)
def test_unknown_formats_are_refused_and_say_so(tmp_path: Path, data: bytes, what: str) -> None:
    source = tmp_path / "file.jpg"  # the name claims a photo; the bytes decide
    source.write_bytes(data)

    with pytest.raises(UnsupportedFormatError) as refused:
        scrub_file(source, tmp_path / "clean")

    message = str(refused.value)
    assert message.startswith(f"the metadata of {what}")
    assert "was not sent or stored unscrubbed" in message
    assert "JPEG, PNG, WebP and HEIC images; PDF;" in message
    assert NAME not in message


def test_messages_never_quote_the_file(tmp_path: Path) -> None:
    """A damaged file's content (here, a name in a PNG's text) is never in the error."""
    data = bytearray(_small_png(b"tEXt", b"Author\x00" + NAME.encode()))
    data[45] ^= 1
    source = tmp_path / "damaged.png"
    source.write_bytes(bytes(data))

    with pytest.raises(ScrubError) as refused:
        scrub_file(source, tmp_path / "clean.png")

    assert "Qzx" not in str(refused.value) and refused.value.__cause__ is None


def test_refusal_leaves_the_target_and_directory_as_they_were(tmp_path: Path) -> None:
    source = tmp_path / "random.bin"
    source.write_bytes(random.Random(1000).randbytes(1000))
    target = tmp_path / "clean.jpg"
    target.write_bytes(b"the previous clean file")
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(_jpeg_bomb())
    before = sorted(tmp_path.iterdir())

    for refused in (source, bomb):
        with pytest.raises(ScrubError):
            scrub_file(refused, target)

    assert target.read_bytes() == b"the previous clean file"
    assert sorted(tmp_path.iterdir()) == before


def test_clean_copy_replaces_target_whole_and_privately(tmp_path: Path) -> None:
    source = rich_jpeg(tmp_path / "photo.jpg")
    target = tmp_path / "clean.jpg"
    target.write_bytes(b"old")

    scrub_file(source, target)

    assert target.read_bytes().startswith(b"\xff\xd8")
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clean.jpg", "photo.jpg"]


def test_a_file_can_be_cleaned_in_place(tmp_path: Path) -> None:
    source = rich_jpeg(tmp_path / "photo.jpg")

    scrubbed = scrub_file(source, source)

    assert scrubbed.removed and NAME.encode() not in source.read_bytes()
    assert scrub_file(source, source).removed == ()  # nothing left to remove


def _jpeg_bomb() -> bytes:
    """A small JPEG whose frame header claims 60000 x 60000 pixels."""
    out = io.BytesIO()
    picture().save(out, "JPEG")
    data = bytearray(out.getvalue())
    struct.pack_into(">HH", data, data.index(b"\xff\xc0") + 5, 60_000, 60_000)
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))
    )


def _small_png(kind: bytes, body: bytes) -> bytes:
    out = io.BytesIO()
    picture((8, 8)).save(out, "PNG")
    data = out.getvalue()
    return data[:33] + _png_chunk(kind, body) + data[33:]
