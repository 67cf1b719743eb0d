"""The multipart parser's events with adjacent content chunks joined: what
does not depend on how the body was cut. Shared by the parser's unit tests
and its properties; importable from any test module, like ``_tools``."""

from __future__ import annotations


def joined(events: list[object]) -> list[object]:
    out: list[object] = []
    for event in events:
        if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += event
        else:
            out.append(event)
    return out
