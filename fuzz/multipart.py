"""Fuzz the streaming multipart parser (``shoal.server._multipart``) and
python-multipart beneath it.

An input is a ``Content-Type`` value, a newline, then the body. Contract
checked on every input:

* ``boundary_of`` returns a boundary or raises ``BadRequestError`` (a 400);
* fed in one piece, or in pieces of a size the input's last byte chooses,
  ``MultipartEvents`` gives events or raises ``BadRequestError``, with the
  same outcome and, once pieces are joined, the same events either way;
* the events follow their grammar: for each part a ``PartStart``, bytes,
  ``PART_END``;
* a body it accepts, written again with the same boundary (when its names,
  file names and types are plain enough to quote), parses to the same parts.

Seeds: bodies as httpx and browsers write them (``fuzz/seed_corpus.py``).
"""

from __future__ import annotations

import re

import atheris

from _harness import main

with atheris.instrument_imports(include=["shoal.server._multipart", "python_multipart"]):
    from shoal.server._multipart import PART_END, MultipartEvents, PartStart, boundary_of
    from shoal.server.errors import BadRequestError

#: The server's defaults (``Limits.max_part_header``, ``max_part_headers``).
MAX_HEADER = 4096
MAX_HEADERS = 8
_PLAIN = re.compile(r"[A-Za-z0-9._ /+-]*")

Part = tuple[PartStart, bytes]


def parse(boundary: bytes, pieces: list[bytes]) -> list[Part] | None:
    """The parts, or None if refused; checks the events' grammar."""
    try:
        events = MultipartEvents(boundary, max_header=MAX_HEADER, max_headers=MAX_HEADERS)
        found = [event for piece in pieces for event in events.feed(piece)]
        events.finish()
    except BadRequestError:
        return None
    parts: list[Part] = []
    start: PartStart | None = None
    content = bytearray()
    for event in found:
        if isinstance(event, PartStart):
            assert start is None
            start = event
        elif event is PART_END:
            assert start is not None
            parts.append((start, bytes(content)))
            start, content = None, bytearray()
        else:
            assert start is not None and isinstance(event, bytes) and event
            content += event
    assert start is None
    return parts


def plain(part: PartStart) -> bool:
    texts = [part.name, part.filename or "", part.content_type or ""]
    return all(_PLAIN.fullmatch(text) for text in texts) and part.content_type != ""


def written(boundary: bytes, parts: list[Part]) -> bytes:
    out = bytearray()
    for start, content in parts:
        disposition = f'form-data; name="{start.name}"'
        if start.filename is not None:
            disposition += f'; filename="{start.filename}"'
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n"
        if start.content_type is not None:
            out += b"Content-Type: " + start.content_type.encode() + b"\r\n"
        out += b"\r\n" + content + b"\r\n"
    return bytes(out + b"--" + boundary + b"--\r\n")


def test_one_input(data: bytes) -> None:
    content_type, newline, body = data.partition(b"\n")
    if not newline or not body:
        return
    try:
        boundary = boundary_of(content_type.decode("latin-1"))
    except BadRequestError:
        return
    size = body[-1] % 64 + 1
    whole = parse(boundary, [body])
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    assert parse(boundary, pieces) == whole
    if whole is None or not all(plain(start) for start, _ in whole):
        return
    assert parse(boundary, [written(boundary, whole)]) == whole


if __name__ == "__main__":
    main("multipart", test_one_input)
