"""The age v1 header: stanzas, encoding, strict parsing and the header MAC.

Spec: "Header" and "ABNF definition of file header". The parser is strict on
purpose: every byte of the header is covered by the MAC, but the MAC is keyed
with the file key, so a malleable encoding would let an attacker who learns
nothing still make two different-looking files that decrypt the same.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from hashlib import sha256
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _base64
from .errors import HeaderError, HMACError

VERSION_LINE = b"age-encryption.org/v1\n"
VERSION_PREFIX = b"age-encryption.org/"
STANZA_PREFIX = b"-> "
MAC_PREFIX = b"---"
HEADER_MAC_INFO = b"header"
FILE_KEY_SIZE = 16
COLUMNS = 64
# A hybrid stanza is about 1.5 KiB; a header this large holds hundreds of
# recipients. The bound keeps a hostile file from making us buffer forever.
MAX_HEADER_SIZE = 1 << 20

_MAC_LINE_LOOKBACK = 64
_ARGUMENT = re.compile(rb"\A[\x21-\x7e]+\Z")
_FULL_LINE = re.compile(rb"\A[A-Za-z0-9+/]{64}\Z")
_MAC_LINE = re.compile(rb"\A--- ([A-Za-z0-9+/]{43})\Z")


@dataclass(frozen=True)
class Stanza:
    """One recipient stanza: its arguments (the first is its type) and body."""

    args: tuple[str, ...]
    body: bytes

    @property
    def type(self) -> str:
        return self.args[0]

    def __repr__(self) -> str:
        # The body wraps a file key: keep it out of logs and tracebacks.
        return f"Stanza(args={self.args[:1]!r}…, body=<{len(self.body)} bytes>)"


@dataclass(frozen=True)
class Header:
    """A parsed header. ``mac_input`` is every byte the MAC covers."""

    stanzas: tuple[Stanza, ...]
    mac: bytes
    mac_input: bytes


def _hmac_key(file_key: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=HEADER_MAC_INFO).derive(file_key)


def compute_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac.new(_hmac_key(file_key), mac_input, sha256).digest()


def verify_mac(header: Header, file_key: bytes) -> None:
    """Raise :class:`HMACError` unless the header MAC matches ``file_key``."""
    if not hmac.compare_digest(compute_mac(file_key, header.mac_input), header.mac):
        raise HMACError("header MAC mismatch")


def encode_stanza(stanza: Stanza) -> bytes:
    body = _base64.encode(stanza.body)
    lines = [STANZA_PREFIX + " ".join(stanza.args).encode("ascii")]
    lines += [body[i : i + COLUMNS] for i in range(0, len(body), COLUMNS)]
    # The body must end with a line shorter than 64 columns, even if empty.
    if len(body) % COLUMNS == 0:
        lines.append(b"")
    return b"\n".join(lines) + b"\n"


def encode_header(stanzas: list[Stanza], file_key: bytes) -> bytes:
    """The whole header, MAC line included."""
    mac_input = VERSION_LINE + b"".join(encode_stanza(s) for s in stanzas) + MAC_PREFIX
    return mac_input + b" " + _base64.encode(compute_mac(file_key, mac_input)) + b"\n"


def check_prefix(data: bytes | bytearray) -> None:
    """Fail early on input that cannot be an age file, before buffering more."""
    n = min(len(data), len(VERSION_PREFIX))
    if data[:n] != VERSION_PREFIX[:n]:
        raise HeaderError("not an age file")


def find_end(data: bytes | bytearray, start: int = 0) -> int | None:
    """Length of the header at the start of ``data``, or None if incomplete.

    The MAC line is the first line starting with ``---``: stanza argument
    lines start with ``->`` and body lines hold only base64 characters, so no
    earlier line can. ``start`` is where the previous call stopped looking
    (bytes before it were already searched), so feeding a header one byte
    at a time costs linear, not quadratic, time. Raises
    :class:`HeaderError` past ``MAX_HEADER_SIZE``.
    """
    check_prefix(data)
    # Look back far enough to see a MAC line that began before ``start`` but
    # was not yet terminated: a valid one is 47 bytes plus its newline.
    mark = data.find(b"\n" + MAC_PREFIX, max(0, start - _MAC_LINE_LOOKBACK), MAX_HEADER_SIZE)
    if mark >= 0:
        end = data.find(b"\n", mark + 1, MAX_HEADER_SIZE)
        if end >= 0:
            return end + 1
    if len(data) >= MAX_HEADER_SIZE:
        raise HeaderError("header too large")
    return None


def parse(data: bytes) -> Header:
    """Parse a complete header, as delimited by :func:`find_end`."""
    if not data.startswith(VERSION_PREFIX):
        raise HeaderError("not an age file")
    if not data.startswith(VERSION_LINE):
        raise HeaderError("unsupported age version")
    if not data.endswith(b"\n"):
        raise HeaderError("truncated header")
    lines = data[len(VERSION_LINE) : -1].split(b"\n")
    stanzas: list[Stanza] = []
    i = 0
    while i < len(lines) and lines[i].startswith(STANZA_PREFIX):
        args = lines[i][len(STANZA_PREFIX) :].split(b" ")
        if not all(_ARGUMENT.match(a) for a in args):
            raise HeaderError("invalid stanza arguments")
        i += 1
        body_lines: list[bytes] = []
        while True:
            if i >= len(lines):
                raise HeaderError("stanza body is not terminated")
            line = lines[i]
            i += 1
            body_lines.append(line)
            if _FULL_LINE.match(line):
                continue
            if len(line) >= COLUMNS:
                raise HeaderError("stanza body line too long")
            break
        body = _base64.decode(b"".join(body_lines))
        stanzas.append(Stanza(tuple(a.decode("ascii") for a in args), body))
    if not stanzas:
        raise HeaderError("header has no recipient stanza")
    if i != len(lines) - 1:
        raise HeaderError("malformed header line")
    match = _MAC_LINE.match(lines[i])
    if match is None:
        raise HeaderError("malformed header MAC line")
    mac = _base64.decode(match.group(1), length=32)
    mac_input = data[: len(data) - len(lines[i]) - 1] + MAC_PREFIX
    return Header(tuple(stanzas), mac, mac_input)


def stanza_count(source: BinaryIO) -> int:
    """How many recipient stanzas the binary age file ``source`` has,
    reading only its header (at most :data:`MAX_HEADER_SIZE` bytes).

    A desk compares it with its epoch's recipients: a file sealed to more
    (or fewer) recipients than the epoch lists was not sealed to that
    epoch, whatever the server claims (DESIGN.md, "Compartments"). No key
    is needed: stanzas are public; the MAC is not checked here.
    """
    data = bytearray()
    searched = 0
    while (end := find_end(data, searched)) is None:
        searched = len(data)
        chunk = source.read(64 * 1024)
        if not chunk:
            raise HeaderError("truncated header")
        data += chunk
    return len(parse(bytes(data[:end])).stanzas)
