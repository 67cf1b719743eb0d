"""Streaming ``multipart/form-data``: body chunks in, part events out.

DANGER — why this exists: Starlette's ``request.form()`` and FastAPI's
``UploadFile`` spool every part over 1 MiB to a temporary file, which would
put a contact's plaintext on the server's disk (DESIGN.md, "Traps we know
of"). This module wraps python-multipart's callback parser so that each
part's bytes are handed on as they arrive and never buffered whole: the
caller encrypts them at once.

Events, in order, for each part: a :class:`PartStart` (its name, file name
and type), its content as ``bytes`` chunks, then :data:`PART_END`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from . import _messages as msg
from .errors import BadRequestError

#: RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
MAX_BOUNDARY = 70


@dataclass(frozen=True)
class PartStart:
    name: str
    filename: str | None
    content_type: str | None

    def __repr__(self) -> str:
        # A file name is the contact's plaintext: never in a repr or a log.
        return f"PartStart(name={self.name!r}, filename={'…' if self.filename else None})"


class _PartEnd:
    def __repr__(self) -> str:
        return "PART_END"


PART_END: Final = _PartEnd()
Event = PartStart | bytes | _PartEnd


def _silent_logger() -> logging.Logger:
    # python-multipart logs parse errors with bytes of the body in them
    # ("Expected boundary character …, got …") to a module logger that may
    # reach stderr through logging's last-resort handler. A logger of our
    # own, not registered anywhere and above CRITICAL, drops them whatever
    # the process's logging configuration.
    logger = logging.Logger("shoal.server.multipart.silenced", logging.CRITICAL + 1)
    logger.propagate = False
    return logger


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type, or 400."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary", b"")
    if kind != b"multipart/form-data" or not 0 < len(boundary) <= MAX_BOUNDARY:
        raise BadRequestError(msg.MALFORMED_UPLOAD)
    return boundary


class MultipartEvents:
    """Push body chunks with :meth:`feed`; call :meth:`finish` at the end."""

    def __init__(self, boundary: bytes, *, max_header: int, max_headers: int) -> None:
        self._events: list[Event] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
                max_header_count=max_headers,
                max_header_size=max_header,
            )
        except FormParserError:
            raise BadRequestError(msg.MALFORMED_UPLOAD) from None
        self._parser.logger = _silent_logger()

    def feed(self, chunk: bytes) -> list[Event]:
        if self._ended:
            # The epilogue after the last boundary is meaningless; ignore it.
            return []
        try:
            self._parser.write(chunk)
        except FormParserError:
            raise BadRequestError(msg.MALFORMED_UPLOAD) from None
        events, self._events = self._events, []
        return events

    def finish(self) -> None:
        """Raise 400 unless the body ended with its closing boundary."""
        if not self._ended:
            raise BadRequestError(msg.MALFORMED_UPLOAD)

    def _on_part_begin(self) -> None:
        self._headers = []

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._field).lower(), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        headers = dict(self._headers)
        # Headers are latin-1 on the wire (one byte, one character), so the
        # parsed options come back as the bytes the client sent.
        kind, options = parse_options_header(
            headers.get(b"content-disposition", b"").decode("latin-1")
        )
        try:
            name = options[b"name"].decode("ascii")
        except (KeyError, UnicodeDecodeError):
            raise BadRequestError(msg.MALFORMED_UPLOAD) from None
        if kind != b"form-data":
            raise BadRequestError(msg.MALFORMED_UPLOAD)
        raw_filename = options.get(b"filename")
        # Browsers send file names as UTF-8; anything else is kept readable.
        filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        raw_type = headers.get(b"content-type")
        content_type = None if raw_type is None else raw_type.decode("latin-1").strip()
        self._events.append(PartStart(name, filename, content_type))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(data[start:end])

    def _on_part_end(self) -> None:
        self._events.append(PART_END)

    def _on_end(self) -> None:
        self._ended = True
