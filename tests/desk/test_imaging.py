"""The image sanitizer, with real worker processes and real Pillow.

Images are made here with Pillow; the worker decodes them confined as on a
desk. Failures of the worker are real processes too: the private command
builder is swapped for one that crashes, hangs or lies.
"""

from __future__ import annotations

import io
import json
import os
import resource
import socket
import struct
import sys
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from shoal.desk import _confined, _imaging
from shoal.desk._imaging import (
    MAX_INPUT,
    CleanImage,
    ImageRefused,
    Revealed,
    isolation,
    sanitize_image,
    sniff_image,
)

SERIAL, LENS_SERIAL = "SERIAL-CANARY-4711", "LENS-CANARY-0815"
ARTIST, MODEL = "Artist Canary", "ModelCanary X1"
CANARIES = [SERIAL, LENS_SERIAL, ARTIST, MODEL, "Darkroom Canary", "2021:07:04"]

# EXIF tags used below (CIPA DC-008).
MAKE, MODEL_TAG, SOFTWARE, ARTIST_TAG, ORIENTATION = 0x010F, 0x0110, 0x0131, 0x013B, 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATE_TIME_ORIGINAL, BODY_SERIAL, LENS_SERIAL_TAG = 0x9003, 0xA431, 0xA435


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decoded(clean: CleanImage) -> Image.Image:
    image = Image.open(io.BytesIO(clean.png))
    image.load()
    return image


def photo_exif(lat_ref: str = "S", lon_ref: str = "W", **base: object) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[MODEL_TAG] = MODEL
    exif[SOFTWARE] = "Darkroom Canary 3.1"
    exif[ARTIST_TAG] = ARTIST
    exif[ORIENTATION] = 6
    for tag, value in base.items():
        exif[int(tag.removeprefix("tag_"), 16)] = value
    exif.get_ifd(EXIF_IFD).update(
        {
            DATE_TIME_ORIGINAL: "2021:07:04 09:15:00",
            BODY_SERIAL: SERIAL,
            LENS_SERIAL_TAG: LENS_SERIAL,
        }
    )
    exif.get_ifd(GPS_IFD).update(
        {1: lat_ref, 2: (48.0, 27.0, 43.56), 3: lon_ref, 4: (35.0, 2.0, 42.0)}
    )
    return exif


def photo(**exif: object) -> bytes:
    """A 20x10 JPEG, left half red, carrying the canaries in its EXIF."""
    image = Image.new("RGB", (20, 10), (0, 0, 200))
    image.paste((200, 0, 0), (0, 0, 10, 10))
    return encode(image, "JPEG", exif=photo_exif(**exif).tobytes())  # type: ignore[arg-type]


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side: int = 20_000) -> bytes:
    """A PNG that declares ``side``² one-bit pixels in a few dozen bytes."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def probe(code: str, timeout: float = 10.0) -> _confined.Ran:
    """Run Python ``code`` as the worker is run: same wrapper, same spawn."""
    return _confined.run_confined(
        [sys.executable, "-I", "-c", code],
        b"",
        limits=_imaging.LIMITS,
        timeout=timeout,
        limit=1 << 20,
    )


def fake_worker(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Make the next sanitize_image run Python ``code`` in place of the worker."""
    monkeypatch.setattr(_imaging, "_worker_argv", lambda: [sys.executable, "-I", "-c", code])


# -- sniffing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("GIF", "gif"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
    ],
)
def test_each_kind_is_known_by_its_magic_bytes(fmt: str, kind: str) -> None:
    assert sniff_image(encode(Image.new("RGB", (4, 4)), fmt)[:32]) == kind


@pytest.mark.parametrize(
    "head",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0"?><svg><script>alert(1)</script></svg>',
        b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)>",
        b"BMW parts list, page 1 of 3\n",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"%PDF-1.7\n",
        b"",
    ],
)
def test_text_and_other_files_are_never_images(head: bytes) -> None:
    assert sniff_image(head) is None


# -- clean copies ----------------------------------------------------------


def test_a_photo_reveals_where_when_and_with_what_it_was_taken() -> None:
    clean = sanitize_image(photo())

    assert clean.revealed == Revealed(
        gps="-48.46210, -35.04500",
        device=f"Canon {MODEL}, serial {SERIAL}, lens serial {LENS_SERIAL}",
        time="2021:07:04 09:15:00",
        software="Darkroom Canary 3.1",
        author=ARTIST,
    )
    assert clean.revealed.warnings()[0] == "GPS position: -48.46210, -35.04500"
    assert len(clean.revealed.warnings()) == 5
    assert not clean.revealed.empty


def test_north_and_east_are_positive() -> None:
    clean = sanitize_image(photo(lat_ref="N", lon_ref="E"))

    assert clean.revealed.gps == "48.46210, 35.04500"


def test_the_copy_of_a_photo_holds_pixels_only_turned_upright() -> None:
    clean = sanitize_image(photo())
    shown = decoded(clean)

    for canary in CANARIES:
        assert canary.encode() not in clean.png
    assert shown.format == "PNG"
    assert shown.info == {}
    assert dict(shown.getexif()) == {}
    assert shown.text == {}  # type: ignore[attr-defined]
    # Orientation 6: turned a quarter clockwise, so the red left half is on top.
    assert (clean.width, clean.height) == shown.size == (10, 20)
    red, blue = shown.convert("RGB").getpixel((5, 2)), shown.convert("RGB").getpixel((5, 17))
    assert isinstance(red, tuple) and red[0] > 150 > red[2]
    assert isinstance(blue, tuple) and blue[2] > 150 > blue[0]


def test_hostile_text_in_metadata_is_shown_plain_and_short() -> None:
    artist = "\u202egpj.exe\u202c\x07\x1b[31m" + "x" * 1000
    clean = sanitize_image(photo(tag_013B=artist.encode()))

    author = clean.revealed.author
    assert author is not None and author.startswith("gpj.exe [31m")
    assert len(author) <= 200
    assert not any(ch in author for ch in "\u202e\u202c\x07\x1b")


def test_utf8_in_an_ascii_tag_is_read_as_written() -> None:
    clean = sanitize_image(photo(tag_013B="Олена Коваль".encode()))

    assert clean.revealed.author == "Олена Коваль"


def test_a_png_text_chunk_is_gone_and_named() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "PNG-TEXT-CANARY")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>XMP-CANARY</x:xmpmeta>")
    data = encode(Image.new("RGBA", (30, 20), (1, 2, 3, 128)), "PNG", pnginfo=info)
    assert b"PNG-TEXT-CANARY" in data

    clean = sanitize_image(data)

    assert b"CANARY" not in clean.png
    assert decoded(clean).mode == "RGBA"
    assert clean.revealed.other == ("PNG text", "XMP")
    assert clean.revealed.warnings() == ["Other metadata in the original: PNG text, XMP"]


def test_webp_is_shown() -> None:
    clean = sanitize_image(encode(Image.new("RGB", (40, 30), (0, 200, 0)), "WEBP"))

    assert (clean.width, clean.height) == (40, 30)
    assert clean.revealed.empty


def test_a_gif_shows_its_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], comment=b"hi")

    clean = sanitize_image(data)

    assert decoded(clean).convert("RGB").getpixel((8, 8)) == (255, 0, 0)
    assert clean.revealed.other == ("a comment",)


def transparent_palette() -> Image.Image:
    image = Image.new("P", (12, 12), 0)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.info["transparency"] = 0
    return image


@pytest.mark.parametrize(
    ("image", "fmt", "mode", "pixel"),
    [
        (Image.new("RGB", (12, 12), (10, 20, 30)), "BMP", "RGB", (10, 20, 30)),
        (Image.new("RGB", (12, 12), (10, 20, 30)), "TIFF", "RGB", (10, 20, 30)),
        (Image.new("CMYK", (12, 12), (0, 0, 0, 0)), "JPEG", "RGB", (255, 255, 255)),
        (Image.new("I;16", (12, 12), 0x8000), "PNG", "RGB", (128, 128, 128)),
        (transparent_palette(), "PNG", "RGBA", (255, 0, 0, 0)),
    ],
    ids=["bmp", "tiff", "cmyk jpeg", "16-bit grey png", "palette with transparency"],
)
def test_other_kinds_and_modes_become_rgb_or_rgba(
    image: Image.Image, fmt: str, mode: str, pixel: tuple[int, ...]
) -> None:
    shown = decoded(sanitize_image(encode(image, fmt)))

    assert shown.mode == mode
    assert shown.getpixel((6, 6)) == pixel


def test_a_large_image_is_shrunk_to_the_shown_edge() -> None:
    clean = sanitize_image(encode(Image.new("L", (4100, 1000), 90), "PNG"))

    assert (clean.width, clean.height) == (2048, 500)


# -- refusals --------------------------------------------------------------


def test_a_decompression_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(ImageRefused) as refused:
        sanitize_image(bomb_png())

    assert refused.value.reason == "bomb"
    assert "million pixels" in str(refused.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "data",
    [
        photo()[:-400],
        b"\xff\xd8\xff\xe0" + os.urandom(4000),
        b"\x89PNG\r\n\x1a\n" + os.urandom(200),
        bomb_png(100)[:40],
    ],
    ids=["truncated jpeg", "noise with jpeg magic", "noise with png magic", "cut png"],
)
def test_what_does_not_decode_is_refused(data: bytes) -> None:
    with pytest.raises(ImageRefused) as refused:
        sanitize_image(data)

    assert refused.value.reason == "undecodable"
    assert str(refused.value) == (
        "this image could not be decoded safely: it is shown as a download only"
    )


def spawn_forbidden(*args: object, **kwargs: object) -> None:
    raise AssertionError("no process may be started for this input")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<svg onload=alert(1)><script>alert(1)</script></svg>", "not-an-image"),
        (b"<html><body>hello</body></html>", "not-an-image"),
        (b"\xff\xd8\xff" + bytes(MAX_INPUT), "too-large"),
    ],
    ids=["svg", "html", "too large"],
)
def test_what_is_not_an_image_is_refused_without_a_process(
    monkeypatch: pytest.MonkeyPatch, data: bytes, reason: str
) -> None:
    monkeypatch.setattr(_imaging, "run_confined", spawn_forbidden)

    with pytest.raises(ImageRefused) as refused:
        sanitize_image(data)

    assert refused.value.reason == reason
    assert "download only" in str(refused.value)


def test_a_crashing_worker_is_a_refusal_and_the_desk_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        fake_worker(patch, "import os; os.abort()")
        with pytest.raises(ImageRefused) as refused:
            sanitize_image(photo())

    assert refused.value.reason == "crashed"
    assert sanitize_image(photo()).width == 10


def test_a_hanging_worker_is_killed_with_everything_it_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = f"shoal-imaging-hang-{os.getpid()}"
    fake_worker(
        monkeypatch,
        f"import subprocess, sys, time; tag = {marker!r}; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', tag]); "
        "time.sleep(60)",
    )
    started = time.monotonic()
    with pytest.raises(ImageRefused) as refused:
        sanitize_image(photo(), timeout=1.0)

    assert refused.value.reason == "timeout"
    assert time.monotonic() - started < 5
    assert not [p for p in Path("/proc").glob("[0-9]*") if marker.encode() in cmdline(p)]


def cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import sys; sys.stdout.buffer.write(b'x' * (40 << 20))", "too-much-output"),
        ("print('hello')", "malformed"),
        ('print(\'{"error": "<img src=x>"}\')', "malformed"),
        (
            "import json; print(json.dumps({'width': 5000, 'height': 1, 'length': 0}))",
            "malformed",
        ),
        # An answer that passes a PNG with its text chunk through unchanged.
        (
            "import json, sys; png = sys.stdin.buffer.read(); sys.stdout.buffer.write("
            "json.dumps({'width': 8, 'height': 8, 'length': len(png)}).encode() + b'\\n' + png)",
            "malformed",
        ),
    ],
    ids=["too much", "garbage", "unknown code", "too wide", "metadata passed through"],
)
def test_a_worker_answer_that_is_not_right_is_refused(
    monkeypatch: pytest.MonkeyPatch, code: str, reason: str
) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "PASSED-THROUGH")
    fake_worker(monkeypatch, code)

    with pytest.raises(ImageRefused) as refused:
        sanitize_image(encode(Image.new("RGB", (8, 8)), "PNG", pnginfo=info))

    assert refused.value.reason == reason
    assert "PASSED" not in str(refused.value) and "<img" not in str(refused.value)


# -- confinement -----------------------------------------------------------


def test_the_worker_has_no_network() -> None:
    if "no network namespace" in isolation():
        pytest.skip(f"NOT ISOLATED FROM THE NETWORK on this machine: {isolation()}")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            listener.accept()[0].close()  # the listener works from here

        ran = probe(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError:\n"
            "    print('no network')\n"
        )

        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert ran.status == 0 and ran.out == b"no network\n"


def test_the_worker_inherits_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_TEST_SECRET", "correct horse battery staple")

    ran = probe("import json, os; print(json.dumps(dict(os.environ)))")

    environment = json.loads(ran.out)
    assert "SHOAL_TEST_SECRET" not in environment
    assert "correct horse" not in ran.out.decode()
    # Python itself may set LC_CTYPE when it coerces the C locale (PEP 538).
    assert set(environment) <= {"LC_CTYPE"}


def test_the_worker_runs_in_a_fresh_directory_with_no_inherited_descriptor() -> None:
    read, write = os.pipe()
    try:
        ran = probe("import os; print(os.getcwd(), sorted(os.listdir('/proc/self/fd')))")
    finally:
        os.close(read)
        os.close(write)

    cwd, fds = ran.out.decode().split(" ", 1)
    assert cwd == "/"
    assert fds.strip() == "['0', '1', '2', '3']"  # 3: the listing itself


LIMITS = (
    "import resource as r; print(*[r.getrlimit(getattr(r, 'RLIMIT_' + n))[1] "
    "for n in ('AS', 'CPU', 'FSIZE', 'NOFILE', 'CORE')])"
)
EXPECTED_LIMITS = f"{1 << 30} 10 0 16 0"


def test_the_wrapper_limits_the_worker() -> None:
    if "worker itself" in isolation():
        pytest.skip(f"no prlimit on this machine: {isolation()}")

    assert probe(LIMITS).out.decode().strip() == EXPECTED_LIMITS


def test_the_worker_limits_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_confined, "_confinement", lambda: _confined._Confinement((), "none"))

    unconfined = probe(LIMITS).out.decode().strip()
    confined = probe("from shoal.desk._imaging import LIMITS; LIMITS.apply(); " + LIMITS)

    assert unconfined != EXPECTED_LIMITS
    assert confined.out.decode().strip() == EXPECTED_LIMITS
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] != 0  # the parent is untouched


def test_isolation_says_how_on_this_machine() -> None:
    said = isolation()

    assert said.endswith("rlimits") or said.endswith("rlimits set by the worker itself")
    if os.geteuid() == 0:
        assert "network" in said and "namespace" in said and "no network" not in said
