"""ASCII armor: strict PEM (RFC 7468, Figure 3) with the label age uses.

Spec: "ASCII armor". Armored files are malleable unless the parser is strict,
so the decoder accepts exactly one form: 64-column lines, a shorter (or
full) last line, canonical padded base64, no headers, LF or CRLF line ends,
and whitespace only outside the block. Both directions stream, holding at
most one line, so armor does not break "memory stays flat".
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import ArmorError

BEGIN_LINE = b"-----BEGIN AGE ENCRYPTED FILE-----"
END_LINE = b"-----END AGE ENCRYPTED FILE-----"
COLUMNS = 64
_RAW_PER_LINE = COLUMNS // 4 * 3
_WHITESPACE = b" \t\r\n"
_FULL_LINE = re.compile(rb"\A[A-Za-z0-9+/]{64}\Z")
_LAST_LINE = re.compile(rb"\A[A-Za-z0-9+/]*={0,2}\Z")
# Longest line the decoder will buffer while looking for its end.
_MAX_LINE = 2 * COLUMNS


class ArmorEncoder:
    """Binary in, armored text out."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._started = False

    def update(self, data: bytes) -> bytes:
        out = b"" if self._started else BEGIN_LINE + b"\n"
        self._started = True
        self._pending += data
        whole = len(self._pending) // _RAW_PER_LINE * _RAW_PER_LINE
        if whole:
            text = base64.b64encode(self._pending[:whole])
            del self._pending[:whole]
            out += b"".join(text[i : i + COLUMNS] + b"\n" for i in range(0, len(text), COLUMNS))
        return out

    def finalize(self) -> bytes:
        out = self.update(b"")
        if self._pending:
            out += base64.b64encode(self._pending) + b"\n"
        return out + END_LINE + b"\n"


class ArmorDecoder:
    """Armored text in, binary out; raises :class:`ArmorError` on any deviation."""

    # States, in order: looking for BEGIN, inside the body, after END.
    _BEFORE, _BODY, _AFTER = range(3)

    def __init__(self) -> None:
        self._state = self._BEFORE
        self._buffer = bytearray()
        self._held: bytes | None = None  # the previous body line, maybe the last

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        self._buffer += data
        out: list[bytes] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            line = bytes(self._buffer[:newline])
            del self._buffer[: newline + 1]
            out.append(self._line(line[:-1] if line.endswith(b"\r") else line))
        if len(self._buffer) > _MAX_LINE and self._state != self._AFTER:
            raise ArmorError("armor line too long")
        if self._state == self._AFTER:
            if self._buffer.strip(_WHITESPACE):
                raise ArmorError("data after the armor end line")
            self._buffer.clear()  # trailing whitespace: nothing to keep
        return b"".join(out)

    def _line(self, line: bytes) -> bytes:
        if self._state == self._BEFORE:
            if line == BEGIN_LINE:
                self._state = self._BODY
            elif line.strip(_WHITESPACE):
                raise ArmorError("data before the armor begin line")
            return b""
        if self._state == self._AFTER:
            if line.strip(_WHITESPACE):
                raise ArmorError("data after the armor end line")
            return b""
        if line == END_LINE:
            self._state = self._AFTER
            return self._decode_last()
        out = b""
        if self._held is not None:
            # A line that was followed by another body line must be full.
            if not _FULL_LINE.match(self._held):
                raise ArmorError("short armor line before the last")
            out = base64.b64decode(self._held)
        self._held = line
        return out

    def _decode_last(self) -> bytes:
        line, self._held = self._held, None
        if line is None:
            return b""
        if not line or len(line) > COLUMNS or len(line) % 4 or not _LAST_LINE.match(line):
            raise ArmorError("malformed last armor line")
        try:
            data = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise ArmorError("invalid base64 in armor") from None
        if base64.b64encode(data) != line:
            raise ArmorError("non-canonical base64 in armor")
        return data

    def finalize(self) -> bytes:
        # The end line may lack its newline (a file cut after "-----").
        out = b""
        if self._buffer and self._state == self._BODY:
            line = bytes(self._buffer)
            self._buffer.clear()
            out = self._line(line[:-1] if line.endswith(b"\r") else line)
        if self._state != self._AFTER:
            raise ArmorError("armor end line missing")
        if self._buffer.strip(_WHITESPACE):
            raise ArmorError("data after the armor end line")
        return out
