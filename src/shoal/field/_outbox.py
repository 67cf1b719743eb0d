"""The outbox: finished reports wait here, sealed, until they can go.

Each entry is one report: its parts (the report item and one item per
file), each a sealed file on the device with the upload id chosen when it
was sealed. The id makes every send idempotent — the server files an
upload once, whatever happens to the answers — so an entry leaves the
outbox only after the server has confirmed every part, and a part
confirmed once is never sent again.

When an entry may go, as a table (pure; ``now`` and the random source are
passed in):

=============  =====================================  ==========================
event          condition                              the entry then
=============  =====================================  ==========================
queued         —                                      waits a random delay, so
                                                      that sending does not line
                                                      up with the event reported
sent           every part confirmed                   leaves the outbox
offline        no connection, or the server failed    waits a growing delay
               (5xx)                                  (backoff with jitter)
refused        the server refused a part (4xx)        is held until the member
                                                      acts: nothing is dropped
=============  =====================================  ==========================
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

#: Backoff after the n-th failure: FIRST_RETRY·2ⁿ, at most LONGEST_RETRY,
#: each multiplied by a random factor in [0.5, 1.5) so that many devices cut
#: off at once do not come back at once.
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)


@dataclass(frozen=True)
class Part:
    upload: str  # the upload id, chosen when the part was sealed
    file: str  # the sealed file's name in the device store
    item: str | None = None  # the server's item id, once confirmed


@dataclass(frozen=True)
class Entry:
    report: str
    epoch: int
    parts: tuple[Part, ...]
    not_before: datetime
    attempts: int = 0
    refused: str | None = None
    created: datetime = field(default_factory=lambda: datetime.min)

    @property
    def done(self) -> bool:
        return all(p.item is not None for p in self.parts)

    def due(self, now: datetime, *, ignore_delay: bool = False) -> bool:
        if self.refused is not None:
            return False
        return ignore_delay or self.not_before <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "epoch": self.epoch,
            "parts": [{"upload": p.upload, "file": p.file, "item": p.item} for p in self.parts],
            "not_before": self.not_before.isoformat(),
            "attempts": self.attempts,
            "refused": self.refused,
            "created": self.created.isoformat(),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Entry:
        return cls(
            report=value["report"],
            epoch=value["epoch"],
            parts=tuple(Part(p["upload"], p["file"], p["item"]) for p in value["parts"]),
            not_before=datetime.fromisoformat(value["not_before"]),
            attempts=value["attempts"],
            refused=value["refused"],
            created=datetime.fromisoformat(value["created"]),
        )


def queued(
    report: str,
    epoch: int,
    parts: tuple[Part, ...],
    *,
    now: datetime,
    delay: tuple[int, int],
    rng: random.Random,
) -> Entry:
    """A new entry, due after a random delay of ``delay`` (min, max) seconds."""
    low, high = delay
    wait = timedelta(seconds=rng.uniform(low, high)) if high > 0 else timedelta(0)
    return Entry(report, epoch, parts, not_before=now + wait, created=now)


def confirmed(entry: Entry, upload: str, item: str) -> Entry:
    """``entry`` with the part ``upload`` confirmed as server item ``item``."""
    parts = tuple(replace(p, item=item) if p.upload == upload else p for p in entry.parts)
    return replace(entry, parts=parts)


def offline(entry: Entry, now: datetime, rng: random.Random) -> Entry:
    """After a failed attempt: wait longer each time, never beyond an hour."""
    wait = min(FIRST_RETRY * (2**entry.attempts), LONGEST_RETRY)
    return replace(
        entry, attempts=entry.attempts + 1, not_before=now + wait * rng.uniform(0.5, 1.5)
    )


def refused(entry: Entry, why: str) -> Entry:
    return replace(entry, refused=why)


def released(entry: Entry, now: datetime) -> Entry:
    """The member asks to try a refused entry again, now."""
    return replace(entry, refused=None, not_before=now)
