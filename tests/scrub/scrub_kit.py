"""Sample files full of metadata, made here, and the checks that none survives.

Every planted value contains the marker "Qzx" (a name, a serial number, a
company, a folder), so that a leak shows as the marker anywhere in the
cleaned file's bytes or in what exiftool reads from it, and cannot be
mistaken for something a library legitimately writes. Positions are
planted as 50.45 N, 30.52 E (Kyiv), which exiftool reports as GPS tags.
"""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

import _tools

MARKER = "qzx"
NAME = "Ivanka Qzxenko"
SERIAL = "SN-QZX-7731"
COMPANY = "Qzx Holdings"
LAT, LON = "50.45", "30.52"

#: exiftool groups about the file on disk, not its content.
_FILESYSTEM_GROUPS = frozenset({"System", "File", "ExifTool"})
_FORBIDDEN_TAGS = re.compile(
    r"GPS|Serial|Artist|Author|Creator|LastModifiedBy|Company|By-?line|^Make$|Model"
    r"|Manager|Owner|Software|Producer|Keywords|Comment|Location|Template|TotalEdit"
    r"|Copyright|Rights|Title|Initial|Generator|EditingDuration|UserDefined|Department"
    r"|Encoder|ThumbnailImage|PreviewImage|XMPToolkit",
    re.IGNORECASE,
)
_DATE = re.compile(r"(?<!\d)\d{4}[:-]\d\d[:-]\d\d(?!\d)")
#: Dates that say nothing: MP4's zero, and the earliest a ZIP entry can carry.
_NO_DATES = ("0000:00:00 00:00:00", "1980:01:01 00:00:00")


def exiftool() -> str:
    return _tools.require_tool("exiftool", "the scrub tests read metadata back with exiftool")


def ffmpeg() -> str:
    return _tools.require_tool("ffmpeg", "the video samples are made, and cleaned, by ffmpeg")


def read_tags(path: Path) -> dict[str, Any]:
    """What exiftool finds in ``path`` (all groups, embedded documents too),
    without the groups that describe the file on disk."""
    ran = subprocess.run(
        [exiftool(), "-json", "-a", "-G1", "-ee", "-struct", str(path)],
        capture_output=True,
        check=True,
    )
    (found,) = json.loads(ran.stdout)
    return {
        key: value
        for key, value in found.items()
        if key != "SourceFile" and key.split(":", 1)[0] not in _FILESYSTEM_GROUPS
    }


def leaks(path: Path) -> list[str]:
    """Everything exiftool reads from ``path`` that identifies or dates it."""
    found = []
    for key, value in read_tags(path).items():
        tag = key.split(":", 1)[-1]
        text = json.dumps(value)
        dated = _DATE.search(text) and not any(date in text for date in _NO_DATES)
        if _FORBIDDEN_TAGS.search(tag) or MARKER in text.lower() or dated:
            found.append(f"{key}={text}")
    return found


def assert_clean(path: Path) -> None:
    """No identifying or dating metadata in ``path``, by exiftool or in its raw bytes."""
    found = leaks(path)
    assert not found, found
    for name, data in contents(path).items():
        assert MARKER.encode() not in data.lower(), (name, data[:2000])


def contents(path: Path) -> dict[str, bytes]:
    """The file's bytes, or for a ZIP each entry's, inflated (ZIPs in ZIPs too)."""
    return _contents(path.name, path.read_bytes())


def _contents(name: str, data: bytes) -> dict[str, bytes]:
    if not data.startswith(b"PK\x03\x04"):
        return {name: data}
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.namelist():
            found.update(_contents(f"{name}/{entry}", archive.read(entry)))
    return found


def run_exiftool(path: Path, *assignments: str) -> None:
    """Write metadata into ``path`` with exiftool (``-TAG=VALUE`` arguments)."""
    subprocess.run(
        [exiftool(), "-q", "-q", "-overwrite_original", *assignments, str(path)],
        check=True,
        capture_output=True,
    )


RICH_TAGS = (
    f"-GPSLatitude={LAT}",
    "-GPSLatitudeRef=N",
    f"-GPSLongitude={LON}",
    "-GPSLongitudeRef=E",
    "-GPSAltitude=180",
    f"-SerialNumber={SERIAL}",
    f"-LensSerialNumber={SERIAL}",
    f"-OwnerName={NAME}",
    f"-Artist={NAME}",
    f"-Copyright={COMPANY}",
    "-Make=QzxCam",
    "-Model=Qzx-Cam 9",
    "-Software=QzxSoft 1.0",
    "-DateTimeOriginal=2024:03:01 12:00:00",
    "-CreateDate=2024:03:01 12:00:00",
    "-ModifyDate=2024:03:01 12:00:00",
    f"-XMP-dc:Creator={NAME}",
    "-XMP-dc:Title=Qzx secret title",
    "-XMP-photoshop:City=Qzx City",
)


def picture(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A picture with detail in every channel, so any change to pixels shows.

    The same every time (seeded noise): the leak checks search compressed
    bytes for a three-letter marker, which random pixels would now and
    then spell by chance.
    """
    fractal = Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 64)
    noise = Image.frombytes(
        "L", size, random.Random(size[0] * size[1]).randbytes(size[0] * size[1])
    )
    return Image.merge("RGB", (fractal, noise, fractal.transpose(Image.Transpose.ROTATE_180)))


def rich_jpeg(path: Path, *, orientation: int = 1, **save: Any) -> Path:
    """A JPEG carrying EXIF (GPS, serials, camera, dates), XMP, IPTC, a comment
    and an EXIF thumbnail."""
    picture(save.pop("size", (96, 64))).convert(save.pop("mode", "RGB")).save(
        path, "JPEG", quality=90, **save
    )
    thumbnail = path.with_suffix(".thumb.jpg")
    picture((32, 24)).save(thumbnail, "JPEG")
    run_exiftool(
        path,
        *RICH_TAGS,
        f"-IPTC:By-line={NAME}",
        "-IPTC:City=Qzx City",
        "-Comment=Qzx comment",
        f"-Orientation#={orientation}",
        f"-ThumbnailImage<={thumbnail}",
    )
    thumbnail.unlink()
    return path


def pixels(data: bytes | Path) -> list[tuple[str, tuple[int, int], bytes]]:
    """Every frame of an image, decoded: (mode, size, raw pixels)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    frames = []
    with Image.open(source) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append((image.mode, image.size, image.tobytes()))
    return frames


def office_zip(path: Path, parts: dict[str, str | bytes], *, first: str | None = None) -> Path:
    """A ZIP of ``parts`` written the way a careless tool would: real dates,
    Unix permissions, an archive comment; ``first`` stored, first."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.comment = b"made by Qzx"
        names = [first] if first else []
        names += [name for name in parts if name != first]
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(2024, 3, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name == first else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            data = parts[name]
            archive.writestr(info, data.encode() if isinstance(data, str) else data)
    return path
