"""Damaged files of every format are refused or cleaned, never crashed on.

Hostile input is the rule here: whatever bytes arrive, scrub_file either
writes a clean file or raises a ScrubError, and never lets a parser's own
exception (Pillow's, pypdf's, zipfile's, expat's) escape.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from office_samples import docx, odt
from scrub_kit import picture, rich_jpeg

from shoal.scrub import ScrubError, scrub_file

_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["set", "cut", "insert"]),
        st.floats(min_value=0, max_value=1, exclude_max=True),
        st.binary(min_size=1, max_size=16),
    ),
    min_size=1,
    max_size=6,
)


class Samples(dict[str, bytes]):
    """The sample files by format. A short repr: Hypothesis prints the
    arguments of a failing example, and the bytes would bury the failure."""

    def __repr__(self) -> str:
        return f"Samples({sorted(self)})"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    folder = tmp_path_factory.mktemp("samples")
    png, webp = io.BytesIO(), io.BytesIO()
    picture().save(png, "PNG")
    picture().save(webp, "WEBP", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    return Samples(
        jpeg=rich_jpeg(folder / "photo.jpg").read_bytes(),
        png=png.getvalue(),
        webp=webp.getvalue(),
        docx=docx(folder).read_bytes(),
        odt=odt(folder).read_bytes(),
    )


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["jpeg", "png", "webp", "docx", "odt"]), edits=_EDITS)
def test_damaged_bytes_are_refused_or_cleaned(
    samples: Samples, tmp_path_factory: pytest.TempPathFactory, name: str, edits: list
) -> None:
    _assert_refused_or_cleaned(tmp_path_factory.getbasetemp(), _damage(samples[name], edits))


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["docx", "odt"]), edits=_EDITS, part=st.integers(0, 100))
# Found by this test: a cut that leaves an XML declaration naming an unknown
# encoding ("UTFyes") made expat raise LookupError, which escaped.
@example(name="docx", edits=[("cut", 0.0234375, b"\x00\x00\x00\x00")], part=0)
def test_damaged_parts_of_intact_zips_are_refused_or_cleaned(
    samples: Samples,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    edits: list,
    part: int,
) -> None:
    """The ZIP's checksums are right, so the damage reaches the XML parsers."""
    with zipfile.ZipFile(io.BytesIO(samples[name])) as archive:
        parts = {entry: archive.read(entry) for entry in archive.namelist()}
    damaged = list(parts)[part % len(parts)]
    parts[damaged] = _damage(parts[damaged], edits)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for entry, data in parts.items():
            archive.writestr(entry, data)
    _assert_refused_or_cleaned(tmp_path_factory.getbasetemp(), out.getvalue())


def _damage(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    damaged = bytearray(data)
    for kind, where, chunk in edits:
        at = int(where * len(damaged))
        if kind == "set":
            damaged[at : at + len(chunk)] = chunk
        elif kind == "cut":
            del damaged[at : at + len(chunk) * 4]
        else:
            damaged[at:at] = chunk
    return bytes(damaged)


def _assert_refused_or_cleaned(folder: Path, data: bytes) -> None:
    source, target = folder / "damaged", folder / "clean"
    source.write_bytes(data)
    target.unlink(missing_ok=True)
    try:
        scrub_file(source, target, ffmpeg=None)
    except ScrubError:
        assert not target.exists()
    else:
        assert target.stat().st_size > 0
