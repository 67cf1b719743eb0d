"""MP4 and MOV: remuxed by a real ffmpeg, streams bit for bit, metadata gone."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from office_samples import pptx
from scrub_kit import NAME, assert_clean, ffmpeg, office_zip, read_tags

import _tools
from shoal.scrub import MalformedFileError, ToolMissingError, scrub_file


def _make_video(path: Path, *extra: str) -> Path:
    """One second of test pattern and tone, tagged with everything a phone writes."""
    subprocess.run(
        [
            ffmpeg(),
            *("-v", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000"),
            *("-t", "1", "-c:v", "mpeg4", "-c:a", "aac"),
            *("-metadata", "title=Qzx secret title", "-metadata", f"artist={NAME}"),
            *("-metadata", "creation_time=2024-03-01T12:00:00Z"),
            *("-metadata", "location=+50.4500+030.5200/", "-metadata", "comment=Qzx comment"),
            *("-metadata:s:v", "handler_name=Qzx Camera"),
            *("-timecode", "12:00:00:00"),  # a data track (tmcd), as cameras write
            *extra,
            *("-movflags", "use_metadata_tags", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


@pytest.mark.parametrize(
    ("name", "extra", "kind", "mime"),
    [
        ("clip.mp4", ("-metadata", "model=Qzx-Phone 9"), "mp4", "video/mp4"),
        (
            "clip.mov",
            (
                *("-metadata", "com.apple.quicktime.location.ISO6709=+50.4500+030.5200/"),
                *("-metadata", "com.apple.quicktime.make=QzxPhone"),
                *("-metadata", f"com.apple.quicktime.author={NAME}"),
            ),
            "mov",
            "video/quicktime",
        ),
    ],
    ids=["mp4", "mov"],
)
def test_video_loses_metadata_and_data_tracks(
    tmp_path: Path, name: str, extra: tuple[str, ...], kind: str, mime: str
) -> None:
    source = _make_video(tmp_path / name, *extra)
    assert any("GPS" in key for key in read_tags(source))
    assert "data" in _stream_types(source)
    target = tmp_path / "clean.bin"

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == (kind, mime)
    assert scrubbed.removed == (
        "video metadata (dates, place, device, software) and data tracks such as GPS",
    )
    assert_clean(target)
    assert _stream_types(target) == ["video", "audio"]
    assert _stream_hashes(target) == _stream_hashes(source)  # not re-encoded


def test_video_without_ffmpeg_is_refused(tmp_path: Path) -> None:
    source = _make_video(tmp_path / "clip.mp4")
    target = tmp_path / "clean.mp4"

    for missing in (None, str(tmp_path / "no-such-ffmpeg")):
        with pytest.raises(ToolMissingError) as refused:
            scrub_file(source, target, ffmpeg=missing)
        assert str(refused.value) == (
            "MP4/MOV metadata needs ffmpeg, which is not installed; the video was refused"
        )
        assert list(tmp_path.iterdir()) == [source]


def test_damaged_video_is_malformed(tmp_path: Path) -> None:
    data = _make_video(tmp_path / "clip.mp4").read_bytes()
    source = tmp_path / "damaged.mp4"
    source.write_bytes(data[:32] + b"\x00\x00\x00\x10junkQzx" + bytes(64))

    with pytest.raises(MalformedFileError, match="this video could not be read by ffmpeg"):
        scrub_file(source, tmp_path / "clean.mp4")
    assert not (tmp_path / "clean.mp4").exists()


def test_video_inside_a_presentation_is_cleaned_too(tmp_path: Path) -> None:
    video = _make_video(tmp_path / "clip.mp4")
    with zipfile.ZipFile(pptx(tmp_path)) as archive:
        parts: dict[str, str | bytes] = {name: archive.read(name) for name in archive.namelist()}
    parts["ppt/media/media1.mp4"] = video.read_bytes()
    source = office_zip(tmp_path / "talk.pptx", parts)
    target = tmp_path / "clean.pptx"

    scrubbed = scrub_file(source, target)

    assert (
        "video metadata (dates, place, device, software) and data tracks such as GPS"
        " of videos inside"
    ) in scrubbed.removed
    assert_clean(target)
    with zipfile.ZipFile(target) as archive:
        inside = tmp_path / "inside.mp4"
        inside.write_bytes(archive.read("ppt/media/media1.mp4"))
    assert _stream_hashes(inside) == _stream_hashes(video)
    with pytest.raises(ToolMissingError):
        scrub_file(source, tmp_path / "refused.pptx", ffmpeg=None)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".scrub-")]


def _ffprobe() -> str:
    return _tools.require_tool("ffprobe", "the video tests count streams with ffprobe")


def _stream_types(path: Path) -> list[str]:
    ran = subprocess.run(
        [_ffprobe(), "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    return [stream["codec_type"] for stream in json.loads(ran.stdout)["streams"]]


def _stream_hashes(path: Path) -> str:
    """A hash of each audio and video stream's packets, as ffmpeg computes them."""
    ran = subprocess.run(
        [
            *(ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v", "-map", "0:a"),
            *("-c", "copy", "-f", "streamhash", "-"),
        ],
        capture_output=True,
        check=True,
    )
    return ran.stdout.decode()
