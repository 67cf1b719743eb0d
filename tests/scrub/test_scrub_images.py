"""JPEG, PNG, WebP and HEIC: metadata gone (by exiftool), pixels untouched."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageOps
from scrub_kit import (
    NAME,
    RICH_TAGS,
    SERIAL,
    assert_clean,
    picture,
    pixels,
    read_tags,
    rich_jpeg,
    run_exiftool,
)

from shoal.scrub import MalformedFileError, UnsupportedFormatError, scrub_file


def test_jpeg_loses_all_metadata_and_keeps_its_pixels(tmp_path: Path) -> None:
    source = rich_jpeg(tmp_path / "photo.jpg")
    assert read_tags(source)["GPS:GPSLatitude"]  # the sample is as rich as meant
    target = tmp_path / "clean.jpg"

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == ("jpeg", "image/jpeg")
    assert scrubbed.removed == ("EXIF (incl. GPS)", "IPTC and Photoshop data", "XMP", "comment")
    assert_clean(target)
    assert pixels(target) == pixels(source)


def test_jpeg_orientation_alone_survives(tmp_path: Path) -> None:
    source = rich_jpeg(tmp_path / "portrait.jpg", orientation=6)
    target = tmp_path / "clean.jpg"

    scrubbed = scrub_file(source, target)

    assert scrubbed.removed[0] == "EXIF (incl. GPS; orientation kept)"
    tags = read_tags(target)
    assert [key for key in tags if key.startswith(("IFD", "Exif", "GPS"))] == ["IFD0:Orientation"]
    assert tags["IFD0:Orientation"] == "Rotate 90 CW"
    assert_clean(target)
    with Image.open(target) as image:
        assert ImageOps.exif_transpose(image).size == (64, 96)  # shown upright


def test_jpeg_trailer_and_extra_images_are_dropped(tmp_path: Path) -> None:
    """Phones append a second image or a video after the end of the first."""
    source = rich_jpeg(tmp_path / "motion.jpg")
    second = io.BytesIO()
    picture((40, 30)).save(second, "JPEG", comment=f"by {NAME}".encode())
    source.write_bytes(source.read_bytes() + second.getvalue() + b"Qzx video")
    target = tmp_path / "clean.jpg"

    scrubbed = scrub_file(source, target)

    assert "data after the end of the image (extra images or video)" in scrubbed.removed
    assert_clean(target)
    assert target.read_bytes().count(b"\xff\xd8") == 1


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "CMYK"},  # its Adobe APP14 says how to read the channels
        {"mode": "L"},
        {"progressive": True, "subsampling": 0},
        {"size": (1000, 8), "restart_marker_blocks": 1},
    ],
    ids=["cmyk", "grey", "progressive", "restart-markers"],
)
def test_jpeg_variants_keep_identical_pixels(tmp_path: Path, options: dict[str, object]) -> None:
    source = rich_jpeg(tmp_path / "variant.jpg", **options)
    target = tmp_path / "clean.jpg"

    scrub_file(source, target)

    assert pixels(target) == pixels(source)
    assert_clean(target)


def test_png_loses_text_exif_time_and_profile(tmp_path: Path) -> None:
    source = tmp_path / "screen.png"
    info = _png_info()
    picture().save(source, "PNG", pnginfo=info, icc_profile=_srgb_profile(), exif=_exif(6))
    run_exiftool(source, *RICH_TAGS)
    target = tmp_path / "clean.png"

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == ("png", "image/png")
    assert set(scrubbed.removed) >= {
        "text (author, comments)",
        "modification time",
        "ICC colour profile",
        "XMP",
    }
    assert_clean(target)
    assert pixels(target) == pixels(source)
    assert read_tags(target)["IFD0:Orientation"] == "Rotate 90 CW"


def test_apng_keeps_every_frame(tmp_path: Path) -> None:
    source = tmp_path / "anim.png"
    frames = [picture(), picture().rotate(90), picture().rotate(180)]
    frames[0].save(source, "PNG", save_all=True, append_images=frames[1:], pnginfo=_png_info())
    target = tmp_path / "clean.png"

    scrub_file(source, target)

    assert pixels(target) == pixels(source)
    assert len(pixels(target)) == 3
    assert_clean(target)


def test_png_unknown_critical_chunk_is_refused(tmp_path: Path) -> None:
    """Apple's CgBI PNGs cannot be decoded by anyone else, nor cleaned."""
    data = _png_with_chunk(b"CgBI", b"\x50\x00\x20\x06")
    source = tmp_path / "iphone.png"
    source.write_bytes(data)

    with pytest.raises(UnsupportedFormatError, match="PNG files with chunks"):
        scrub_file(source, tmp_path / "clean.png")


def test_png_with_a_bad_checksum_is_refused(tmp_path: Path) -> None:
    data = bytearray(_png_with_chunk(b"tEXt", b"Author\x00" + NAME.encode()))
    data[-20] ^= 0xFF  # inside the tEXt chunk's body
    source = tmp_path / "damaged.png"
    source.write_bytes(bytes(data))

    with pytest.raises(MalformedFileError, match="checksum"):
        scrub_file(source, tmp_path / "clean.png")


def test_webp_loses_exif_xmp_and_profile(tmp_path: Path) -> None:
    source = tmp_path / "photo.webp"
    picture().save(
        source,
        "WEBP",
        lossless=True,
        exif=_exif(1),
        xmp=f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{NAME}</x:xmpmeta>'.encode(),
        icc_profile=_srgb_profile(),
    )
    run_exiftool(source, *RICH_TAGS)
    target = tmp_path / "clean.webp"

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == ("webp", "image/webp")
    assert set(scrubbed.removed) == {"ICC colour profile", "EXIF (incl. GPS)", "XMP"}
    assert_clean(target)
    assert pixels(target) == pixels(source)
    data = target.read_bytes()
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    assert data[20] == 0  # VP8X: no ICC, EXIF or XMP flag left


def test_animated_webp_keeps_every_frame(tmp_path: Path) -> None:
    source = tmp_path / "anim.webp"
    frames = [picture(), picture().rotate(180)]
    frames[0].save(
        source, "WEBP", save_all=True, append_images=frames[1:], lossless=True, exif=_exif(1)
    )
    target = tmp_path / "clean.webp"

    scrub_file(source, target)

    assert pixels(target) == pixels(source)
    assert_clean(target)


def test_heic_is_re_encoded_without_metadata(tmp_path: Path) -> None:
    source = tmp_path / "photo.heic"
    heif = pillow_heif.from_pillow(picture((128, 96)))
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><c>{NAME}</c></x:xmpmeta>'
    heif.save(source, exif=_exif(1), xmp=xmp.encode(), quality=90)
    assert read_tags(source)["GPS:GPSLatitude"]
    target = tmp_path / "clean.jpeg.txt"  # the name says nothing to scrub_file

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == ("heic", "image/heic")
    assert scrubbed.removed == ("EXIF (incl. GPS)", "XMP")
    assert_clean(target)
    original = pillow_heif.open_heif(source).to_pillow()
    cleaned = pillow_heif.open_heif(target).to_pillow()
    assert cleaned.size == original.size
    difference = sum(abs(a - b) for a, b in zip(original.tobytes(), cleaned.tobytes()))
    assert difference / len(original.tobytes()) < 8  # lossy, but the same picture


# -- sample parts ----------------------------------------------------------


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "QzxCam"  # Make
    exif[0x013B] = NAME  # Artist
    exif[0x8825] = {1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 12.0)}  # GPS
    exif[0x8769] = {0xA431: SERIAL, 0x9003: "2024:03:01 12:00:00"}  # serial, time taken
    return exif.tobytes()


def _png_info() -> object:
    from PIL import PngImagePlugin  # noqa: PLC0415

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", NAME)
    info.add_text("Comment", "Qzx comment", zip=True)
    info.add_itxt("Description", f"taken by {NAME}")
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 3, 1, 12, 0, 0))
    info.add(b"quXz", b"Qzx private chunk")
    return info


def _srgb_profile() -> bytes:
    from PIL import ImageCms  # noqa: PLC0415

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def _png_with_chunk(kind: bytes, body: bytes) -> bytes:
    """A small PNG with one more chunk before its image data."""
    out = io.BytesIO()
    picture((8, 8)).save(out, "PNG")
    data = out.getvalue()
    at = 8 + 25  # signature, then IHDR (12 + 13 bytes)
    crc = struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))
    return data[:at] + struct.pack(">I", len(body)) + kind + body + crc + data[at:]
