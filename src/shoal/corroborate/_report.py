"""What corroboration knows of one report, and the handler's settings. Pure values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from ._text import (
    bearings,
    clock,
    counts,
    numbers,
    own_words,
    sketch,
    streets,
    towns,
    word_pieces,
)

#: Metres per degree of latitude (mean), as the field client's grid uses.
METRES_PER_DEGREE = 111_320.0
EARTH_RADIUS_M = 6_371_000.0


#: Independent sources a forward may say stand behind it, at most: more
#: is no figure a desk finds, and is taken as none.
MAX_DECLARED = 1000
#: Times past this (the year 3000) are no time a report can give.
LATEST = 32_503_680_000.0


def instant(value: object) -> float | None:
    """POSIX seconds of a time a report gives: ISO 8601 with its zone, as
    the field client and desks write it ("2026-11-23T05:40:00Z"); None for
    anything else. A time without a zone is no instant: guessing UTC could
    move it hours, across the window."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    seconds = moment.timestamp()
    return seconds if 0 <= seconds <= LATEST else None


@dataclass(frozen=True)
class Spot:
    """Where a report says it happened: a point, or the centre of the grid
    cell of ``cell_m`` metres the sender coarsened it to."""

    lat: float
    lon: float
    cell_m: int = 0

    #: How far the event may be from these coordinates: half a cell's
    #: diagonal (the sender told no more than "somewhere in this cell").
    slack_m: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slack_m", self.cell_m * math.sqrt(2) / 2)

    def distance_m(self, other: Spot) -> float:
        """Great-circle distance (haversine) between the two coordinates."""
        p1, p2 = math.radians(self.lat), math.radians(other.lat)
        dp, dl = p2 - p1, math.radians(other.lon - self.lon)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Settings:
    """How close in time and place two reports must be to tell of one event.
    The handler sets both: a shelling lasts hours, a convoy passes in minutes."""

    window_s: float = 3 * 3600
    distance_m: float = 2000

    def __post_init__(self) -> None:
        if not (60 <= self.window_s <= 30 * 86400):
            raise ValueError("the time window is between 1 minute and 30 days")
        if not (10 <= self.distance_m <= 500_000):
            raise ValueError("the distance is between 10 m and 500 km")


@dataclass(frozen=True)
class Report:
    """One report, as corroboration weighs it.

    ``source`` is an opaque name for who sent it, only ever compared for
    equality (a contact id on a desk, never shown); ``verified`` whether its
    authorship was verified (a member's report signed by the key recorded
    at vetting, or a forward signed by a handler of the door it names);
    ``compartment`` whose sources it came from. A forward carries what the
    forwarding desk found: ``declared`` independent sources behind it.
    """

    key: str
    source: str | None
    verified: bool
    compartment: str
    time: float | None = None
    spot: Spot | None = None
    text: str = ""
    sha256: tuple[str, ...] = ()
    dhash: tuple[int, ...] = ()
    declared: int | None = None
    shingles: frozenset[int] = field(init=False, repr=False, compare=False)
    signature: tuple[int, ...] = field(init=False, repr=False, compare=False)
    numbers: frozenset[str] = field(init=False, repr=False, compare=False)
    counts: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)
    clock: frozenset[int] = field(init=False, repr=False, compare=False)
    bearings: frozenset[str] = field(init=False, repr=False, compare=False)
    streets: frozenset[str] = field(init=False, repr=False, compare=False)
    towns: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = own_words(self.text)
        shingles = word_pieces(words)
        object.__setattr__(self, "shingles", shingles)
        object.__setattr__(self, "signature", sketch(shingles))
        object.__setattr__(self, "numbers", numbers(self.text))
        object.__setattr__(self, "counts", counts(words))
        object.__setattr__(self, "clock", clock(self.text))
        object.__setattr__(self, "bearings", bearings(words))
        object.__setattr__(self, "streets", streets(words))
        object.__setattr__(self, "towns", towns(words))

    @property
    def forwarded(self) -> bool:
        return self.declared is not None
