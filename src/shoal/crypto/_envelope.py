"""The plaintext inside every stored age file: a Shoal item envelope.

An age file proves nothing about who wrote it and its size tells what was
sent, so every item's plaintext is framed like this before encryption::

    "shoal-item/v1\\n"
    u32 n, then n bytes of header JSON   kind, file name, exact time, …
    (u32 n, then n bytes of content)*    segments, 1..1 MiB each
    u32 0                                end of content
    u32 n, then n bytes of trailer JSON  content length and SHA-256, and
                                         optionally the signer's key and
                                         Ed25519 signature
    zero bytes                           up to padme(length so far)

All integers are big-endian. Framing lets both sides stream: the writer
needs no length in advance (an upload's size is known only at its end), and
the reader keeps at most one frame header, never the content.

The signature covers the header and the content's digest, so exact times,
names and kinds travel inside the ciphertext and under the signature
(DESIGN.md: "Authorship is signed inside the encryption"). Items from web
contacts carry no signature: the desk shows them as vouched for by the
server only.

The reader is strict: the padding must be exactly what the writer adds and
all zeros, so nothing can hide in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._padding import padme
from ._signing import SigningKey, VerifyKey
from .errors import EnvelopeError, KeyFormatError

MAGIC = b"shoal-item/v1\n"
SIGNATURE_CONTEXT = b"shoal-item/v1 signature\n"
MAX_HEADER = 64 * 1024
MAX_SEGMENT = 1 << 20
_U32 = struct.Struct(">I")
_ZEROS = bytes(64 * 1024)


def _signed_message(header: bytes, content_sha256: bytes) -> bytes:
    return SIGNATURE_CONTEXT + _U32.pack(len(header)) + header + content_sha256


def _encode_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class EnvelopeWriter:
    """Frame one item: :meth:`update` with content, then :meth:`finalize`."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        self._header = _encode_json(header)
        if len(self._header) > MAX_HEADER:
            raise ValueError("item header too large")
        self._digest = hashlib.sha256()
        self._length = 0
        self._written = 0
        self._prefix: bytes | None = MAGIC + _U32.pack(len(self._header)) + self._header

    def _emit(self, data: bytes) -> bytes:
        if self._prefix is not None:
            data, self._prefix = self._prefix + data, None
        self._written += len(data)
        return data

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        view = memoryview(data).cast("B")
        out = []
        for start in range(0, len(view), MAX_SEGMENT):
            piece = view[start : start + MAX_SEGMENT]
            self._digest.update(piece)
            self._length += len(piece)
            out.append(_U32.pack(len(piece)) + piece.tobytes())
        return self._emit(b"".join(out))

    def finalize(self, signer: SigningKey | None = None) -> Iterator[bytes]:
        """The end of content, the trailer, then the padding in 64 KiB pieces.

        Padding reaches 6 % of a large file, so it is yielded piece by piece
        (one shared block of zeros), never built whole.
        """
        digest = self._digest.digest()
        trailer: dict[str, Any] = {"length": self._length, "sha256": digest.hex()}
        if signer is not None:
            trailer["key"] = base64.b64encode(signer.verify_key.public_bytes).decode()
            signature = signer.sign(_signed_message(self._header, digest))
            trailer["signature"] = base64.b64encode(signature).decode()
        encoded = _encode_json(trailer)
        yield self._emit(_U32.pack(0) + _U32.pack(len(encoded)) + encoded)
        padding = padme(self._written) - self._written
        while padding:
            piece = _ZEROS[: min(padding, len(_ZEROS))]
            padding -= len(piece)
            yield piece


@dataclass(frozen=True)
class Envelope:
    """What the reader found around the content."""

    header: Mapping[str, Any]
    length: int
    sha256: bytes
    signer: VerifyKey | None

    @property
    def signed(self) -> bool:
        return self.signer is not None


class EnvelopeReader:
    """Unframe one item: :meth:`update` returns content, :meth:`finalize`
    checks the trailer, signature and padding and returns the :class:`Envelope`.

    Content is returned before the signature is checked (it is at the end);
    like age's STREAM, consumers must treat it as unconfirmed until then.
    """

    # Parser states, in file order.
    _MAGIC, _HEADER_LEN, _HEADER, _SEG_LEN, _SEGMENT, _TRAILER_LEN, _TRAILER, _PADDING = range(8)

    def __init__(self) -> None:
        self._state = self._MAGIC
        self._buffer = bytearray()
        self._need = len(MAGIC)
        self._total = 0
        self._digest = hashlib.sha256()
        self._length = 0
        self._header_bytes = b""
        self._trailer_bytes = b""
        self._trailer: dict[str, Any] = {}
        self._padding_seen = 0

    def update(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        view = memoryview(data).cast("B")
        self._total += len(view)
        out: list[bytes] = []
        pos = 0
        while pos < len(view):
            if self._state == self._PADDING:
                rest = view[pos:]
                if any(rest.tobytes()):
                    raise EnvelopeError("non-zero bytes in item padding")
                self._padding_seen += len(rest)
                break
            if self._state == self._SEGMENT and not self._buffer:
                # Content goes straight through without buffering.
                take = min(self._need, len(view) - pos)
                piece = view[pos : pos + take].tobytes()
                self._digest.update(piece)
                self._length += take
                out.append(piece)
                self._need -= take
                pos += take
                if self._need == 0:
                    self._state = self._SEG_LEN
                    self._need = 4
                continue
            take = min(self._need - len(self._buffer), len(view) - pos)
            self._buffer += view[pos : pos + take]
            pos += take
            if len(self._buffer) == self._need:
                field, self._buffer = bytes(self._buffer), bytearray()
                self._advance(field)
        return out

    def _advance(self, field: bytes) -> None:
        if self._state == self._MAGIC:
            if field != MAGIC:
                raise EnvelopeError("not a Shoal item")
            self._state, self._need = self._HEADER_LEN, 4
        elif self._state == self._HEADER_LEN:
            (n,) = _U32.unpack(field)
            if not 0 < n <= MAX_HEADER:
                raise EnvelopeError("bad item header length")
            self._state, self._need = self._HEADER, n
        elif self._state == self._HEADER:
            self._header_bytes = field
            self._state, self._need = self._SEG_LEN, 4
        elif self._state == self._SEG_LEN:
            (n,) = _U32.unpack(field)
            if n > MAX_SEGMENT:
                raise EnvelopeError("item segment too large")
            if n == 0:
                self._state, self._need = self._TRAILER_LEN, 4
            else:
                self._state, self._need = self._SEGMENT, n
        elif self._state == self._TRAILER_LEN:
            (n,) = _U32.unpack(field)
            if not 0 < n <= MAX_HEADER:
                raise EnvelopeError("bad item trailer length")
            self._state, self._need = self._TRAILER, n
        elif self._state == self._TRAILER:
            self._trailer_bytes = field
            self._trailer = _decode_json(field)
            self._state = self._PADDING

    def finalize(self) -> Envelope:
        if self._state != self._PADDING:
            raise EnvelopeError("item is truncated")
        unpadded = self._total - self._padding_seen
        if padme(unpadded) != self._total:
            raise EnvelopeError("item padding has the wrong length")
        header = _decode_json(self._header_bytes)
        # One meaning, one encoding: a header with duplicate keys, other
        # spacing or key order would read the same but be other bytes.
        if _encode_json(header) != self._header_bytes:
            raise EnvelopeError("item header is not canonical")
        digest = self._digest.digest()
        try:
            length = self._trailer["length"]
            claimed = bytes.fromhex(self._trailer["sha256"])
        except (KeyError, TypeError, ValueError):
            raise EnvelopeError("malformed item trailer") from None
        if length != self._length or claimed != digest:
            raise EnvelopeError("item content does not match its trailer")
        canonical: dict[str, Any] = {"length": self._length, "sha256": digest.hex()}
        signer, signature = None, b""
        if "signature" in self._trailer or "key" in self._trailer:
            try:
                signer = VerifyKey(base64.b64decode(self._trailer["key"], validate=True))
                signature = base64.b64decode(self._trailer["signature"], validate=True)
            except (KeyError, TypeError, ValueError, KeyFormatError):
                raise EnvelopeError("malformed item signature") from None
            canonical["key"] = base64.b64encode(signer.public_bytes).decode()
            canonical["signature"] = base64.b64encode(signature).decode()
        # The trailer is not signed, so it must be the writer's exact bytes:
        # bytes.fromhex takes upper case and b64decode ignores the spare bits
        # of a last character, which would let bits hide even in a signed item.
        if _encode_json(canonical) != self._trailer_bytes:
            raise EnvelopeError("item trailer is not canonical")
        if signer is not None:
            # Raises SignatureError: a forged item is not an item.
            signer.verify(signature, _signed_message(self._header_bytes, digest))
        return Envelope(header=header, length=self._length, sha256=digest, signer=signer)


def _decode_json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EnvelopeError("malformed item JSON") from None
    if not isinstance(value, dict):
        raise EnvelopeError("malformed item JSON")
    try:
        # JSON can escape a lone surrogate ("\ud800"), which no UTF-8 holds:
        # the digest and the signature could then not even be computed.
        _encode_json(value)
    except UnicodeEncodeError:
        raise EnvelopeError("malformed item JSON") from None
    return value


def seal_item(header: Mapping[str, Any], content: bytes, signer: SigningKey | None = None) -> bytes:
    """The whole envelope for small content held in memory."""
    writer = EnvelopeWriter(header)
    return writer.update(content) + b"".join(writer.finalize(signer))


def open_item(data: bytes) -> tuple[Envelope, bytes]:
    """Parse a whole envelope held in memory; returns (envelope, content)."""
    reader = EnvelopeReader()
    content = b"".join(reader.update(data))
    return reader.finalize(), content
