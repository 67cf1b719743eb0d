"""What a cleaner returns: the clean bytes, and what it took out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scrubbed:
    """A file written without its metadata.

    ``kind`` is the format as a short word ("jpeg", "docx", "mp4") and
    ``mime`` its media type, both read from the content, never from the
    file's name. ``removed`` names what was taken out, in plain words for
    the member and the handler ("EXIF (incl. GPS)", "XMP"); it is empty when
    the file carried nothing to remove.
    """

    kind: str
    mime: str
    removed: tuple[str, ...]


@dataclass(frozen=True)
class Cleaned:
    """A cleaner's output held in memory: ``data`` and what was removed from it."""

    data: bytes
    removed: tuple[str, ...]


def unique(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` without repeats, in the order first found."""
    return tuple(dict.fromkeys(names))
