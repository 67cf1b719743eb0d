"""The line format inside Shoal's signed notes.

Every record is a signed note (C2SP) whose text is::

    shoal <kind> v1
    <key> <value…>
    …

one field per line, repeated keys allowed where a list is meant. Parsing is
strict (unknown keys, missing keys and stray spaces are errors) because the
text is what the signature covers: two spellings of one record would let a
server present the same signed bytes as different meanings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence, Set

from .errors import NoteContentError

_VALUE = re.compile(r"\A[\x21-\x7e]+( [\x21-\x7e]+)*\Z")


def encode(kind: str, fields: Sequence[tuple[str, str]]) -> str:
    lines = [f"shoal {kind} v1"]
    for key, value in fields:
        if not _VALUE.match(key) or " " in key or not _VALUE.match(value):
            raise ValueError(f"invalid record field {key!r}")
        lines.append(f"{key} {value}")
    return "\n".join(lines) + "\n"


def decode(
    kind: str,
    text: str,
    *,
    required: Set[str],
    optional: Set[str] = frozenset(),
    repeated: Set[str] = frozenset(),
) -> dict[str, list[str]]:
    """Fields of a record of ``kind``; each key maps to its values in order.

    ``required`` and ``optional`` keys appear at most once; ``repeated``
    keys any number of times.
    """
    lines = text.split("\n")
    if lines[0] != f"shoal {kind} v1" or lines[-1] != "":
        raise NoteContentError(f"not a shoal {kind} record")
    fields: dict[str, list[str]] = {}
    for line in lines[1:-1]:
        key, _, value = line.partition(" ")
        if not _VALUE.match(line) or not value:
            raise NoteContentError(f"malformed line in {kind} record")
        if key not in required | optional | repeated:
            raise NoteContentError(f"unknown field {key!r} in {kind} record")
        if key in fields and key not in repeated:
            raise NoteContentError(f"field {key!r} repeated in {kind} record")
        fields.setdefault(key, []).append(value)
    missing = required - fields.keys()
    if missing:
        raise NoteContentError(f"{kind} record lacks {', '.join(sorted(missing))}")
    return fields
