"""Reports grouped into events: an index that places each new report at once.

Two reports are *linked* when they tell of one event (:func:`linked`);
an event is a set of reports joined by links (connected components,
kept by union-find), so the order reports arrive in does not change the
events, and placing one report never needs the others regrouped.

Comparing a new report with each of 100,000 would cost a second in
Python; the index finds the few worth comparing (:meth:`Grouping._candidates`):

* the same file (SHA-256) or a near-identical picture (difference hash,
  in four bands of 16 bits: two hashes up to :data:`NEAR_PICTURE` bits
  apart agree on a whole band whenever they are 3 or fewer apart, and
  usually when further);
* alike words (the text sketch's bands, :mod:`._text`);
* close in time and place: cells of time (the window) and of space (at
  least the distance) around the report's own; a place coarsened to a
  wider cell than that is kept in cells as wide as its own (levels, each
  4 times wider), so that finding what is near stays a few cells' work.

A link is then decided on the reports themselves, never on the index.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass

from ._report import METRES_PER_DEGREE, Report, Settings, Spot
from ._text import ALIKE, NEAR, bands, jaccard

#: Bits two difference hashes of one picture may differ by (re-encoding,
#: resizing and light cropping move a few; unrelated pictures ~32 of 64).
NEAR_PICTURE = 6
#: Levels of space cells, each 4 times as wide as the one before.
_LEVELS = 8
#: Cells looked at around a place at most, before reading its window whole.
_MOST_CELLS = 150
#: Reports a bucket of the words' or pictures' index holds at most. Past it
#: the text (or picture) is a template or a chain message sent by hundreds:
#: the first ones stay found by it, later ones by time, place and file
#: only, or each placing would compare with every copy (seconds at 100,000).
BUCKET_CAP = 256


def close_in_time(a: Report, b: Report, settings: Settings) -> bool | None:
    """Whether both times fall in one window; None if either has none."""
    if a.time is None or b.time is None:
        return None
    return abs(a.time - b.time) <= settings.window_s


def close_in_place(a: Report, b: Report, settings: Settings) -> bool | None:
    """Whether the places can be within the distance, each anywhere in the
    cell its sender coarsened it to; None if either has none."""
    if a.spot is None or b.spot is None:
        return None
    reach = settings.distance_m + a.spot.slack_m + b.spot.slack_m
    return a.spot.distance_m(b.spot) <= reach


def same_picture(a: Report, b: Report) -> bool:
    """Whether the two share a file, or a picture up to re-encoding."""
    if a.sha256 and b.sha256 and not set(a.sha256).isdisjoint(b.sha256):
        return True
    if not (a.dhash and b.dhash):
        return False
    return any((x ^ y).bit_count() <= NEAR_PICTURE for x in a.dhash for y in b.dhash)


def linked(a: Report, b: Report, settings: Settings) -> bool:
    """Whether ``a`` and ``b`` tell of one event.

    One picture or file links them whenever each was sent: a photograph
    sent again a week later is the same origin repeated, and showing it
    beside the first is the point. Otherwise times and places given must
    be close, and the words alike: a little (NEAR) when both time and
    place are given and close, as much as ALIKE when either is missing.
    A report of pictures only, close in both time and place, is linked too:
    time and place are all it tells.
    """
    if same_picture(a, b):
        return True
    when = close_in_time(a, b, settings)
    if when is False:
        return False
    where = close_in_place(a, b, settings)
    if where is False:
        return False
    if when and where:
        if not a.shingles or not b.shingles:
            return True
        return jaccard(a.shingles, b.shingles) >= NEAR
    return jaccard(a.shingles, b.shingles) >= ALIKE


@dataclass(frozen=True)
class Event:
    """Reports linked into one event; ``key`` is the key of its first report."""

    key: str
    reports: tuple[Report, ...]


class Grouping:
    """Every report placed so far, and the events they form."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._reports: dict[str, Report] = {}
        self._parent: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}
        self._buckets: dict[Hashable, list[str]] = {}
        self._by_cell: dict[tuple[int, int, int, int], list[str]] = defaultdict(list)
        self._by_time: dict[tuple[int, int], list[str]] = defaultdict(list)
        self._levels: set[int] = set()
        # The finest cells: twice the distance wide (and at least 2 km):
        # a place's neighbourhood is then a few cells, and finer cells only
        # add cells to visit.
        self._base_m = max(2 * settings.distance_m, 2000.0)

    def __len__(self) -> int:
        return len(self._reports)

    def __contains__(self, key: str) -> bool:
        return key in self._reports

    @classmethod
    def of(cls, reports: Iterable[Report], settings: Settings) -> Grouping:
        """Group ``reports`` from scratch."""
        grouping = cls(settings)
        for report in reports:
            grouping.add(report)
        return grouping

    def place(self, report: Report) -> Event:
        """Add ``report`` (a report already placed under its key is placed
        again only if it changed: it is removed first) and return its event."""
        self.add(report)
        return self.event(report.key)

    def add(self, report: Report) -> None:
        """:meth:`place`, without making its event (grouping many at once)."""
        held = self._reports.get(report.key)
        if held is not None:
            if held == report:
                return
            raise ValueError("a report changed after it was placed: group again")
        key = report.key
        self._reports[key] = report
        self._parent[key] = key
        self._members[key] = [key]
        keys = self._keys(report)
        reports, settings = self._reports, self.settings
        for candidate in self._candidates(report, keys):
            if self._root(candidate) != self._root(key) and linked(
                report, reports[candidate], settings
            ):
                self._union(key, candidate)
        self._index(report, keys)

    def event(self, key: str) -> Event:
        root = self._root(key)
        members = sorted(self._members[root], key=_order(self._reports))
        return Event(members[0], tuple(self._reports[m] for m in members))

    def events(self) -> Iterator[Event]:
        for key in list(self._members):
            yield self.event(key)

    # -- the index ----------------------------------------------------------

    @staticmethod
    def _keys(report: Report) -> list[Hashable]:
        """The buckets a report is found by, in one index: its files (their
        digest), its pictures (a band of 16 bits each) and its words (a
        band of the sketch each, as one hash: collisions only add a
        candidate, which is compared anyway)."""
        found: list[Hashable] = list(report.sha256)
        for h in report.dhash:
            found.extend(("picture", b, (h >> (16 * b)) & 0xFFFF) for b in range(4))
        found.extend(bands(report.signature))
        return found

    def _index(self, report: Report, keys: list[Hashable]) -> None:
        key, buckets = report.key, self._buckets
        for bucket_key in keys:
            bucket = buckets.get(bucket_key)
            if bucket is None:
                buckets[bucket_key] = [key]
            elif len(bucket) < BUCKET_CAP:
                bucket.append(key)
        if report.time is not None and report.spot is not None:
            level = self._level(report.spot.slack_m)
            tcell = self._time_cell(report.time)
            self._levels.add(level)
            self._by_time[(level, tcell)].append(key)
            self._by_cell[(level, tcell, *self._space_cell(report.spot, level))].append(key)

    def _candidates(self, report: Report, keys: list[Hashable]) -> set[str]:
        found: set[str] = set()
        buckets = self._buckets
        for bucket_key in keys:
            bucket = buckets.get(bucket_key)
            if bucket:
                found.update(bucket)
        if report.time is not None and report.spot is not None:
            for level in self._levels:
                self._near(found, report.time, report.spot, level)
        found.discard(report.key)
        return found

    def _level(self, slack_m: float) -> int:
        """The level a place is indexed at: the first whose cells are four
        times as wide as the place's slack (a coarsened place sits in cells
        as coarse as the sender's, so that looking around it stays cheap)."""
        level = 0
        while level < _LEVELS - 1 and self._cell_m(level) < 4 * slack_m:
            level += 1
        return level

    def _cell_m(self, level: int) -> float:
        return self._base_m * (1 << (2 * level))

    def _near(self, found: set[str], time: float, spot: Spot, level: int) -> None:
        """Add to ``found`` the reports of ``level`` that may be close to
        ``spot`` in the window: those in the cells the reach touches (the
        distance, this place's slack and the most a place of the level has)."""
        cell_m = self._cell_m(level)
        reach = (self.settings.distance_m + spot.slack_m + cell_m / 4) / METRES_PER_DEGREE
        nearest_pole = min(abs(spot.lat) + reach, 89.0)
        lon_reach = reach / max(math.cos(math.radians(nearest_pole)), 0.01)
        degrees = cell_m / METRES_PER_DEGREE
        rows = range(
            math.floor((spot.lat - reach + 90) / degrees),
            math.floor((spot.lat + reach + 90) / degrees) + 1,
        )
        columns = range(
            math.floor((spot.lon - lon_reach + 180) / degrees),
            math.floor((spot.lon + lon_reach + 180) / degrees) + 1,
        )
        window = self.settings.window_s
        times = range(self._time_cell(time - window), self._time_cell(time + window) + 1)
        if len(rows) * len(columns) > _MOST_CELLS:
            # A place far coarser than the level (or near a pole): the whole
            # window's reports of that level are fewer to read than its cells.
            for t in times:
                found.update(self._by_time.get((level, t), ()))
            return
        wrap = math.ceil(360 / degrees)
        cells = self._by_cell
        for t in times:
            for r in rows:
                for c in columns:
                    bucket = cells.get((level, t, r, c % wrap))
                    if bucket:
                        found.update(bucket)

    def _time_cell(self, time: float) -> int:
        return math.floor(time / self.settings.window_s)

    def _space_cell(self, spot: Spot, level: int) -> tuple[int, int]:
        degrees = self._cell_m(level) / METRES_PER_DEGREE
        return math.floor((spot.lat + 90) / degrees), math.floor((spot.lon + 180) / degrees)

    # -- union-find -----------------------------------------------------------

    def _root(self, key: str) -> str:
        parent = self._parent
        root = key
        while parent[root] != root:
            root = parent[root]
        while parent[key] != root:  # path compression
            parent[key], key = root, parent[key]
        return root

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._members[ra].extend(self._members.pop(rb))


def _order(reports: dict[str, Report]) -> Callable[[str], tuple[bool, float, str]]:
    """Reports in an event: by time given (none last), then key."""

    def key(k: str) -> tuple[bool, float, str]:
        t = reports[k].time
        return (t is None, t or 0.0, k)

    return key
