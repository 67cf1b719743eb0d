"""What tells copies of one file or one photo apart, as the desk indexes them.

The confined image worker's difference hash (dHash) of real images made
with Pillow, decoded by real worker processes: near for a re-encoded,
halved copy, for a sideways photo with its EXIF orientation, far for an
unrelated picture; a worker whose dhash is not exactly 16 lowercase hex
digits is refused. Then the desk: files synced from the fake server get the
SHA-256 of their plaintext and images their dhash, kept across an unlock;
and a desk whose items were indexed before it kept hashes finds them once,
without judging anything again.
"""

from __future__ import annotations

import hashlib
import io
import random
import sys
from typing import Any

import pytest
from desk_kit import PASSPHRASE, Setup, file_item, message
from PIL import Image, ImageDraw, ImageFilter

from _tiers import sized
from shoal.desk import _imaging
from shoal.desk import _workbench as workbench_module
from shoal.desk._imaging import ImageRefused, sanitize_image
from shoal.desk._library import ItemRow, Library
from shoal.desk._state import Layout
from shoal.desk._workbench import KEEP_CAP, Workbench

ORIENTATION = 0x0112
#: An image and its copy differ by at most this many bits; unrelated ones by more than FAR.
NEAR, FAR = 4, 20


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A photo-like picture: soft shapes of many colours, different for each seed."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(40, 200)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=colour)
    return image.filter(ImageFilter.GaussianBlur(4))


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def bits(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# -- the worker's dHash --------------------------------------------------------


@pytest.mark.parametrize("seed", range(sized(2, 12)))
def test_a_re_encoded_half_size_copy_has_nearly_the_same_dhash(seed: int) -> None:
    image = scene(seed)
    original = sanitize_image(encode(image, "PNG")).dhash
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    copy = sanitize_image(encode(half, "JPEG", quality=70)).dhash
    assert bits(original, copy) <= NEAR


def test_an_unrelated_picture_is_far() -> None:
    one, other = (sanitize_image(encode(scene(seed), "PNG")).dhash for seed in (1, 2))
    assert bits(one, other) > FAR


def test_the_dhash_is_of_the_upright_picture() -> None:
    image = scene(3)
    sideways = image.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways stores it
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # "turn 90 degrees clockwise to view"
    tagged = sanitize_image(encode(sideways, "JPEG", quality=90, exif=exif.tobytes()))
    upright = sanitize_image(encode(image, "JPEG", quality=90)).dhash
    assert (tagged.width, tagged.height) == image.size
    assert bits(tagged.dhash, upright) <= NEAR
    assert bits(sanitize_image(encode(sideways, "JPEG", quality=90)).dhash, upright) > FAR


@pytest.mark.parametrize(("brighter", "expected"), [("right", 2**64 - 1), ("left", 0)])
def test_a_bit_is_set_where_the_right_neighbour_is_brighter(brighter: str, expected: int) -> None:
    # Black at the top, turned a quarter left: dark on the left, bright on the right.
    ramp = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90)
    if brighter == "left":
        ramp = ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert sanitize_image(encode(ramp, "PNG")).dhash == expected


ECHO = (
    "import json, sys; png = sys.stdin.buffer.read(); sys.stdout.buffer.write(json.dumps("
    "{{'width': 8, 'height': 8, 'length': len(png), 'revealed': {{}}, 'dhash': {dhash!r}}}"
    ").encode() + b'\\n' + png)"
)


@pytest.mark.parametrize(
    "dhash",
    ["00FF00FF00FF00FF", "0x00ff00ff00ff00", "00ff00ff00ff00f", "00ff00ff00ff00ff0",
     " 0ff00ff00ff00ff", "00ff00ff00ff00fg", 71777214294589695, None],
    ids=["upper", "0x", "15", "17", "space", "not hex", "number", "null"],
)  # fmt: skip
def test_a_worker_answer_with_a_bad_dhash_is_malformed(
    monkeypatch: pytest.MonkeyPatch, dhash: object
) -> None:
    argv = [sys.executable, "-I", "-c", ECHO.format(dhash=dhash)]
    monkeypatch.setattr(_imaging, "_worker_argv", lambda: argv)
    with pytest.raises(ImageRefused) as refused:
        sanitize_image(encode(Image.new("RGB", (8, 8)), "PNG"))
    assert refused.value.reason == "malformed"


def test_the_same_answer_with_a_good_dhash_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [sys.executable, "-I", "-c", ECHO.format(dhash="00ff00ff00ff00ff")]
    monkeypatch.setattr(_imaging, "_worker_argv", lambda: argv)
    assert sanitize_image(encode(Image.new("RGB", (8, 8)), "PNG")).dhash == 0x00FF00FF00FF00FF


# -- on the desk ---------------------------------------------------------------


class Tally:
    """A progress that counts what index_new expects and does."""

    def __init__(self) -> None:
        self.expected = self.done = 0

    def expect(self, count: int) -> None:
        self.expected += count

    def advance(self) -> None:
        self.done += 1


class Files:
    """Files and a message synced to the desk, not indexed yet; plaintexts by item id."""

    def __init__(self, setup: Setup) -> None:
        noise = random.Random(7)
        photo = encode(scene(4, (800, 600)), "PNG", compress_level=0)
        self.plain = {
            "document": b"%PDF-1.4 a plain document " * 40,
            # More than the desk holds while decrypting: hashed as it streams.
            "large": noise.randbytes(3 * KEEP_CAP),
            # An image larger than KEEP_CAP: held whole for the sanitizer.
            "photo": photo,
            "bitmap": encode(scene(5, (64, 48)), "BMP"),  # known by 18 bytes, not 16
            "lost": b"a file whose ciphertext goes missing",
        }
        assert len(photo) > KEEP_CAP
        recipients, compartment = setup.recipients(), setup.compartment_id
        contact = setup.server.add_contact(compartment, setup.kit.reading.recipient())
        self.ids = {
            name: setup.server.add_item(
                compartment, file_item(recipients, f"{name}.bin", data), contact=contact
            )
            for name, data in self.plain.items()
        }
        self.message = setup.server.add_item(
            compartment, message(recipients, b"no file here"), contact=contact
        )
        setup.desk.ok("sync")
        self.layout = Layout(setup.desk.folder)

    def row(self, bench: Workbench, name: str) -> ItemRow:
        found = bench.library.item(self.ids[name])
        assert found is not None, name
        return found

    def expected_dhash(self, name: str) -> str:
        return f"{sanitize_image(self.plain[name]).dhash:016x}"

    def check(self, bench: Workbench, *, lost: str) -> None:
        for name, data in self.plain.items():
            wanted = lost if name == "lost" else hashlib.sha256(data).hexdigest()
            assert self.row(bench, name).sha256 == wanted, name
        assert [self.row(bench, n).dhash for n in ("document", "large", "lost")] == [None] * 3
        assert self.row(bench, "photo").dhash == self.expected_dhash("photo")
        assert self.row(bench, "bitmap").image == "bmp"
        assert self.row(bench, "bitmap").dhash == self.expected_dhash("bitmap")
        text = bench.library.item(self.message)
        assert text is not None and (text.sha256, text.dhash) == (None, None)


@pytest.fixture
def files(setup: Setup) -> Files:
    return Files(setup)


def test_synced_files_get_the_sha256_of_their_plaintext_and_images_a_dhash(
    files: Files,
) -> None:
    bench = Workbench.unlock(files.layout, PASSPHRASE)
    bench.index_new(Tally())
    files.check(bench, lost=hashlib.sha256(files.plain["lost"]).hexdigest())
    bench.close()
    again = Workbench.unlock(files.layout, PASSPHRASE)  # from the vault's records
    files.check(again, lost=hashlib.sha256(files.plain["lost"]).hexdigest())
    tally = Tally()
    again.index_new(tally)
    assert tally.expected == 0
    again.close()


def test_items_indexed_before_hashes_were_kept_get_them_once(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = workbench_module._shown

    def as_before(*args: Any, **kwargs: Any) -> dict[str, Any]:
        found = shown(*args, **kwargs)
        return {k: v for k, v in found.items() if k not in {"sha256", "dhash"}}

    with monkeypatch.context() as patch:  # a desk of before this change
        patch.setattr(workbench_module, "_shown", as_before)
        old = Workbench.unlock(files.layout, PASSPHRASE)
        old.index_new(Tally())
        old.close()
    (files.layout.root / "items" / f"{files.ids['lost']}.age").unlink()

    bench = Workbench.unlock(files.layout, PASSPHRASE)
    before = {name: files.row(bench, name) for name in files.ids}
    assert {row.sha256 for row in before.values()} == {None}
    tally = Tally()
    bench.index_new(tally)
    assert tally.expected == tally.done == len(files.ids)  # the message is no file
    files.check(bench, lost="")
    for name, row in before.items():  # hashed, never judged or shown again
        after = files.row(bench, name)
        assert (after.standing, after.verdict, after.error) == (row.standing, row.verdict, None)
    bench.close()

    again = Workbench.unlock(files.layout, PASSPHRASE)
    files.check(again, lost="")  # kept in the vault
    tally = Tally()
    again.index_new(tally)
    assert tally.expected == 0  # once: the lost one is not tried again
    again.close()


@pytest.mark.parametrize(
    ("kind", "name", "hashed"),
    [
        ("file", "a.pdf", True),
        ("report-file", None, True),
        ("forward", "a.pdf", True),  # a forward carrying a file
        ("forward", None, False),  # a forwarded text
        ("message", None, False),
        ("report", None, False),
    ],
)
def test_only_files_are_hashed(kind: str, name: str | None, hashed: bool) -> None:
    header = {"kind": kind} if name is None else {"kind": kind, "name": name}
    content = b"%PDF-1.4 some words"
    shown = workbench_module._shown(
        header, kind, len(content), content[:32], content, sha256="ab" * 32
    )
    assert ("sha256" in shown, shown.get("dhash")) == (hashed, None)


def test_a_forwarded_image_gets_its_dhash() -> None:
    png = encode(scene(6), "PNG")
    header = {"kind": "forward", "name": "photo.png"}
    shown = workbench_module._shown(header, "forward", len(png), png[:32], png, sha256="")
    assert shown["dhash"] == f"{sanitize_image(png).dhash:016x}"


def test_hashes_found_later_survive_a_compaction() -> None:
    item = {
        "t": "item",
        "id": "f" * 32,
        "seq": 1,
        "contact": "c" * 32,
        "direction": "in",
        "day": "2026-11-23",
        "kind": "file",
        "standing": "server-only",
        "verdict": "from the server",
        "name": "a.png",
    }
    library = Library("a" * 32)
    hashes = {"t": "hashes", "item": item["id"], "sha256": "ab" * 32, "dhash": "0f" * 8}
    library.load([item, hashes])
    rebuilt = Library("a" * 32)
    rebuilt.load(library.snapshot())
    for opened in (library, rebuilt):
        row = opened.item(item["id"])
        assert row is not None and (row.sha256, row.dhash) == ("ab" * 32, "0f" * 8)
    assert rebuilt.unhashed(frozenset({"file"}), frozenset()) == []
    library.close()
    rebuilt.close()
