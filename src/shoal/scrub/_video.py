"""MP4 and MOV: the streams remuxed by ffmpeg, without metadata or data tracks.

An MP4 or QuickTime file keeps metadata in many boxes: ``udta`` and
``meta`` (title, artist, the device's make and model, the place where it
was shot as ``©xyz`` or ``com.apple.quicktime.location.ISO6709``), the
creation and modification times of the movie and of every track and
media header, and sometimes whole tracks of timed metadata (a phone's GPS
track, a camera's telemetry). Writing a correct MP4 is ffmpeg's trade,
not ours, so ffmpeg copies the audio, video and subtitle streams into a
new file, bit for bit (``-c copy``: nothing is re-encoded), with:

- ``-map_metadata -1`` and ``-map_chapters -1``: no metadata or chapters
  carried over;
- ``-dn`` and ``-map -0:d``: no data streams (GPS and telemetry tracks);
- ``-fflags +bitexact`` and the per-stream ``+bitexact`` flags: the muxer
  writes no encoder name or version and zero creation times.

ffmpeg is run with an empty environment, no stdin, nothing but ``file:``
paths, its output discarded unread (a demuxer's messages may quote the
file), and a timeout. Without ffmpeg a video is refused
(:class:`ToolMissingError`), never passed on as it is.

Not removed, because it is inside the coded streams that are copied: user
data an encoder puts in the video itself (H.264/HEVC SEI messages: an
encoder's name and settings, and on some camcorders the date and place,
as Sony and Panasonic's "MDPM" blocks). Phones do not write the latter.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ._sniff import Format
from .errors import MalformedFileError

#: Long enough to copy several gigabytes of streams; it only remuxes.
TIMEOUT = 600.0

_MUXERS = {"mp4": "mp4", "mov": "mov", "3gp": "3gp", "m4a": "ipod"}
#: The formats (by :class:`._sniff.Format` kind) cleaned here.
MEDIA_KINDS = frozenset(_MUXERS)
_REMOVED = ("video metadata (dates, place, device, software) and data tracks such as GPS",)


def scrub_video(ffmpeg: str, source: Path, target: Path, found: Format) -> tuple[str, ...]:
    """Have ``ffmpeg`` write ``source`` to ``target`` as a ``found`` file, clean."""
    kind = "video" if found.mime.startswith("video/") else "audio file"
    argv = [
        ffmpeg,
        *("-nostdin", "-hide_banner", "-loglevel", "quiet", "-y"),
        *("-protocol_whitelist", "file"),
        *("-i", f"file:{source.absolute()}"),
        *("-map", "0", "-map", "-0:d?", "-map", "-0:t?", "-dn"),
        *("-map_metadata", "-1", "-map_chapters", "-1"),
        *("-c", "copy"),
        *("-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"),
        *("-f", _MUXERS[found.kind], f"file:{target.absolute()}"),
    ]
    try:
        ran = subprocess.run(  # noqa: S603 (a fixed argv: no shell; paths as file: URLs)
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            cwd="/",
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MalformedFileError(kind, f"was not copied within {TIMEOUT:.0f} seconds") from None
    if ran.returncode != 0 or target.stat().st_size == 0:
        raise MalformedFileError(kind, "could not be read by ffmpeg")
    return _REMOVED
