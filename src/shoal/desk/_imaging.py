"""Untrusted images, decoded in a confined process and shown as a clean PNG.

An image a contact sends is the desk's most exposed input: image decoders
are large C libraries with a long history of memory bugs, and this process
holds the handler's decrypted keys. So nothing here decodes an image.
:func:`sanitize_image` sends the bytes through a pipe (the plaintext never
touches disk) to ``python -I -m shoal.desk._imaging_worker``, started by
fork and exec (never a ``multiprocessing`` fork, which would copy the keys
into the process that parses hostile data) with an empty environment (the
parent's may hold a passphrase), no inherited file descriptors, ``/`` as
its directory and, where the machine allows it:

- its own network namespace (``unshare --net``: no interface but a
  loopback that is down) and process namespace (it cannot name this
  process, let alone read its memory);
- no capabilities and no new privileges (``setpriv``), or user ``nobody``
  when that user can run this Python;
- resource limits (``prlimit``, and again by the worker itself before it
  decodes): address space, CPU time, no file written, few descriptors, no
  core dump;

and a wall-clock timeout here. Which of these hold is probed once per
process and told by :func:`isolation`.

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

import contextlib
import functools
import json
import os
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import time
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from .errors import ItemError

__all__ = [
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

#: Limits on the worker, as ``prlimit`` options: applied by the wrapper and
#: again by the worker itself, so one missing tool does not lift them.
#: 1 GiB holds a 40-megapixel RGBA image (160 MB) and a converted copy.
_RLIMITS: Mapping[str, tuple[int, int]] = {
    "as": (resource.RLIMIT_AS, 1024 * 1024 * 1024),
    "cpu": (resource.RLIMIT_CPU, 10),
    "fsize": (resource.RLIMIT_FSIZE, 0),
    "nofile": (resource.RLIMIT_NOFILE, 16),
    "core": (resource.RLIMIT_CORE, 0),
}

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

_MAX_HEADER = 64 * 1024
#: The largest PNG of SHOWN_EDGE² RGBA pixels, stored uncompressed, fits.
_MAX_ANSWER = _MAX_HEADER + 2 * SHOWN_EDGE * SHOWN_EDGE * 4 + 1024 * 1024
_MAX_SHOWN_TEXT = 200
_PIPE_CHUNK = 64 * 1024
_PROBE_TIMEOUT = 10.0
_GROUP_GRACE = 0.5
#: Where the wrappers are looked for: never the parent's PATH.
_TOOL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_NOBODY = 65534

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
    """An image re-encoded as a PNG of pixels only, at most SHOWN_EDGE a side."""

    png: bytes
    width: int
    height: int
    revealed: Revealed


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
    shrunk to SHOWN_EDGE, as a PNG with no metadata, and what the metadata
    revealed. Raises :class:`ImageRefused` before starting any process if
    ``data`` is over MAX_INPUT or not an image by its magic bytes, and for
    every failure of the worker: a refusal, a crash, a timeout, an answer
    too long or malformed.
    """
    if len(data) > MAX_INPUT:
        raise ImageRefused("too-large")
    if sniff_image(data[:32]) is None:
        raise ImageRefused("not-an-image")
    try:
        ran = _run_confined(_worker_argv(), data, timeout=timeout, limit=_MAX_ANSWER)
    except OSError as error:  # the interpreter or a wrapper would not start
        raise ImageRefused("not-started") from error
    if ran.timed_out:
        raise ImageRefused("timeout")
    if ran.overflowed:
        raise ImageRefused("too-much-output")
    answer = _split_answer(ran.out)
    if answer is not None and isinstance(answer[0].get("error"), str):
        code = answer[0]["error"]
        raise ImageRefused(code if code in _WORKER_CODES else "malformed")
    if ran.status != 0:
        raise ImageRefused("crashed")
    if answer is None:
        raise ImageRefused("malformed")
    return _clean_image(*answer)


def isolation() -> str:
    """How the worker is confined on this machine, for the desk's about text."""
    return _confinement().description


# -- the worker's answer ---------------------------------------------------


def _split_answer(out: bytes) -> tuple[dict[str, object], bytes] | None:
    """The JSON head and the PNG after it, or None if there is no such head."""
    line, newline, rest = out.partition(b"\n")
    if not newline or len(line) > _MAX_HEADER:
        return None
    try:
        head = json.loads(line)
    except ValueError:
        return None
    return (head, rest) if isinstance(head, dict) else None


def _clean_image(head: Mapping[str, object], png: bytes) -> CleanImage:
    width, height = head.get("width"), head.get("height")
    if not (_is_edge(width) and _is_edge(height)) or head.get("length") != len(png):
        raise ImageRefused("malformed")
    if not _is_bare_png(png, width, height):
        raise ImageRefused("malformed")
    return CleanImage(png, width, height, _revealed(head.get("revealed")))


def _is_edge(value: object) -> TypeGuard[int]:
    return type(value) is int and 1 <= value <= SHOWN_EDGE


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


# -- the confined process --------------------------------------------------


@dataclass(frozen=True)
class _Ran:
    """How a confined process ended: ``status`` as Popen's returncode."""

    status: int
    out: bytes
    timed_out: bool = False
    overflowed: bool = False


@dataclass(frozen=True)
class _Confinement:
    prefix: tuple[str, ...]
    description: str


def _worker_argv() -> list[str]:
    return [sys.executable, "-I", "-m", "shoal.desk._imaging_worker"]


def _run_confined(argv: Sequence[str], data: bytes, *, timeout: float, limit: int) -> _Ran:
    """Run ``argv`` confined, ``data`` on its stdin; its stdout, read to ``limit`` bytes.

    The process and everything it started are killed when the time is up,
    when it writes more than ``limit``, and after it exits (a process it
    left behind would outlive its limits' purpose); this returns once they
    are gone, or half a second later if some are not yet reaped.
    """
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(  # noqa: S603 (a fixed argv: no shell, no input in it)
        [*_confinement().prefix, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={},
        cwd="/",
        close_fds=True,
        start_new_session=True,
        bufsize=0,
    )
    try:
        out, overflowed = _pump(proc, data, deadline, limit)
        exited = not overflowed and _await_exit(proc.pid, deadline)
        _kill_group(proc.pid)
        status = proc.wait()
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
            proc.wait()
        _await_group_gone(proc.pid, time.monotonic() + _GROUP_GRACE)
    return _Ran(status, out, timed_out=not exited and not overflowed, overflowed=overflowed)


def _pump(
    proc: subprocess.Popen[bytes], data: bytes, deadline: float, limit: int
) -> tuple[bytes, bool]:
    """Write ``data`` to the process while reading its output, until EOF or the deadline.

    Returns what was read and whether it overflowed ``limit``; stops
    without error at the deadline (the caller sees the process still alive).
    """
    assert proc.stdin is not None and proc.stdout is not None  # PIPE: both always set
    stdin, stdout = proc.stdin, proc.stdout
    view, sent, chunks, size = memoryview(data), 0, [], 0
    with selectors.DefaultSelector() as selector:
        os.set_blocking(stdin.fileno(), False)
        selector.register(stdin, selectors.EVENT_WRITE)
        selector.register(stdout, selectors.EVENT_READ)
        try:
            while len(selector.get_map()) and (left := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(left):
                    if key.fileobj is stdin:
                        try:
                            sent += os.write(stdin.fileno(), view[sent : sent + _PIPE_CHUNK])
                        except BrokenPipeError:
                            sent = len(data)  # it stopped reading: its answer says why
                        if sent >= len(data):
                            selector.unregister(stdin)
                            stdin.close()
                        continue
                    chunk = os.read(stdout.fileno(), _PIPE_CHUNK)
                    if not chunk:
                        selector.unregister(stdout)
                        continue
                    size += len(chunk)
                    if size > limit:
                        return b"", True
                    chunks.append(chunk)
        finally:
            stdin.close()
            stdout.close()
    return b"".join(chunks), False


def _await_exit(pid: int, deadline: float) -> bool:
    """Whether ``pid`` exited before the deadline; it is left unreaped.

    Unreaped, its process group cannot be reused by another process, so
    killing the group afterwards cannot reach a stranger.
    """
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _await_group_gone(pgid: int, deadline: float) -> None:
    """Wait until no process of group ``pgid`` is left, or the deadline.

    Killed processes take a moment to die, and those in a process namespace
    die after its first one. A process orphaned by the kill (the worker,
    when its ``unshare`` was killed) is a zombie until init reaps it, and an
    init that is slow to reap costs the whole wait, on refusals only.
    """
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone: nothing is left
        os.killpg(pid, signal.SIGKILL)


@functools.cache
def _confinement() -> _Confinement:
    """The strongest confinement this machine permits, probed once by running it.

    Namespaces, then dropped privileges, are each tried with the real
    interpreter (``nobody`` may not be able to read it) and the first that
    starts is kept; a probe that fails costs a few milliseconds, once.
    """
    unshare, setpriv, prlimit = (
        shutil.which(tool, path=_TOOL_PATH) for tool in ("unshare", "setpriv", "prlimit")
    )
    root = os.geteuid() == 0
    limits: list[str] = []
    if prlimit is not None:
        values = (f"--{name}={value}:{value}" for name, (_, value) in _RLIMITS.items())
        limits = [prlimit, *values, "--"]
    spaces: list[_Wrapper] = []
    if unshare is not None:
        # As root, a user namespace would add nothing; otherwise it is what
        # lets an unprivileged user make the others.
        user = [] if root else ["--map-root-user"]
        pid = ["--pid", "--fork", "--kill-child", "--mount-proc"]
        spaces = [
            ([unshare, "--net", *pid, *user, "--"], "network and process namespaces (unshare)"),
            ([unshare, "--net", *user, "--"], "network namespace (unshare -n)"),
        ]
    privileges: list[_Wrapper] = []
    if setpriv is not None:
        no_caps = [
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--ambient-caps=-all",
        ]
        if root:
            nobody = [f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups"]
            privileges.append(([setpriv, *nobody, *no_caps, "--"], "user nobody"))
        privileges += [
            ([setpriv, *no_caps, "--"], "no capabilities"),
            ([setpriv, "--no-new-privs", "--"], "no new privileges"),
        ]
    space = _first_that_starts(spaces, [], limits)
    privilege = _first_that_starts(privileges, space[0], limits)
    parts = [space[1] or "no network namespace (unshare not permitted)"]
    parts += [privilege[1]] if privilege[1] else []
    parts.append("rlimits" if limits else "rlimits set by the worker itself")
    return _Confinement(tuple(space[0] + privilege[0] + limits), ", ".join(parts))


#: A wrapper's argv prefix, and its words in :func:`isolation`.
_Wrapper = tuple[list[str], str]


def _first_that_starts(
    candidates: Sequence[_Wrapper], before: list[str], after: list[str]
) -> _Wrapper:
    for argv, words in candidates:
        if _starts([*before, *argv, *after]):
            return argv, words
    return [], ""


def _starts(prefix: Sequence[str]) -> bool:
    try:
        done = subprocess.run(  # noqa: S603 (fixed tools, found on a fixed path)
            [*prefix, sys.executable, "-I", "-c", "pass"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            cwd="/",
            close_fds=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
