"""Reports grouped into events: an index that places each new report at once.

Two reports are *linked* when they surely tell of one event
(:func:`linked`: one picture, or close in time and place and a little
alike in words); linked reports are one strong group (union-find). A
report that gives no time or no place cannot be sure of anything: it
joins the one report it is most alike (:func:`alike`), and so that
report's event, never two events. An event is a part of a strong group
(:func:`parts`: links that chain reports whose facts disagree are cut)
and the reports whose best matches lead into it. Placing one report
never needs the others regrouped.

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
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ._report import EARTH_RADIUS_M, METRES_PER_DEGREE, Report, Settings, Spot
from ._text import ALIKE, NEAR, NEAR_ALONE, NEAR_APART, bands, jaccard

#: Bits two difference hashes of one picture may differ by (re-encoding,
#: resizing and light cropping move a few; unrelated pictures ~32 of 64).
NEAR_PICTURE = 6
#: Metres per degree on the sphere of :meth:`Spot.distance_m`.
_SPHERE_DEGREE = EARTH_RADIUS_M * math.pi / 180
#: Turns a band's key into its key among reports without time or place
#: (an int, cheaper than a tuple; a clash only adds a candidate).
_LOOSE = 0x5A5A_1F2E_3D4C_6B7A
#: Levels of space cells, each 4 times as wide as the one before.
_LEVELS = 8
#: Cells looked at around a place at most, before reading its window whole.
_MOST_CELLS = 150
#: Reports a bucket of the words' or pictures' index holds at most. Past it
#: the text (or picture) is a template or a chain message sent by hundreds:
#: the first ones stay found by it, later ones by time, place and file
#: only, or each placing would compare with every copy (seconds at 100,000).
BUCKET_CAP = 256
#: Reports in a strong group past which :func:`parts` leaves it whole.
SPLIT_AT_MOST = 64
#: How far apart two witnesses' own words may put one moment ("around
#: 14:00", "at 14:40"): people round to the hour and guess.
SAME_MOMENT_S = 3600.0


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
    if abs(a.spot.lat - b.spot.lat) * _SPHERE_DEGREE > reach:
        return False  # further apart north to south alone: no need to measure
    return a.spot.distance_m(b.spot) <= reach


def same_picture(a: Report, b: Report) -> bool:
    """Whether the two share a file, or a picture up to re-encoding."""
    if a.sha256 and b.sha256 and not set(a.sha256).isdisjoint(b.sha256):
        return True
    if not (a.dhash and b.dhash):
        return False
    return any((x ^ y).bit_count() <= NEAR_PICTURE for x in a.dhash for y in b.dhash)


def anchored(report: Report) -> bool:
    """Whether a report gives both a time and a place."""
    return report.time is not None and report.spot is not None


def linked(a: Report, b: Report, settings: Settings) -> bool:
    """Whether ``a`` and ``b`` surely tell of one event.

    One picture or file links them whenever each was sent: a photograph
    sent again a week later is the same origin repeated, and showing it
    beside the first is the point. Otherwise both must give a time and a
    place, close, and their words be a little alike (NEAR, with a number
    in common; NEAR_ALONE without; NEAR_APART if both give facts and none
    alike; more the further apart they were sent, :func:`_later`): there
    time and place already speak. Facts that disagree
    (:func:`at_odds`) take words far more alike (ALIKE). A
    report of pictures only, close in both, is linked too: time and place
    are all it tells.
    """
    if same_picture(a, b):
        return True
    if not (anchored(a) and anchored(b)):
        return False
    if not (close_in_time(a, b, settings) and close_in_place(a, b, settings)):
        return False
    if not a.shingles or not b.shingles:
        return True
    return jaccard(a.shingles, b.shingles) >= _later(_bar(a, b), a, b, settings)


def _later(bar: float, a: Report, b: Report, settings: Settings) -> float:
    """``bar``, raised for reports sent far apart in the window: from the
    bar itself up to :data:`SAME_MOMENT_S` apart, to ALIKE at the window's
    end. Witnesses of one moment mostly send within the hour; two reports
    of one kind in one town two hours apart are as often two events, and
    only words that say the same thing make them one."""
    assert a.time is not None and b.time is not None  # both anchored
    late = abs(a.time - b.time) - SAME_MOMENT_S
    if late <= 0:  # always so in a window of an hour or less
        return bar
    return bar + (ALIKE - bar) * late / (settings.window_s - SAME_MOMENT_S)


def _bar(a: Report, b: Report) -> float:
    """How alike the words of two reports close in time and place must be
    to tell of one event (:func:`linked`)."""
    if at_odds(a, b):
        # Two events of one kind in one town that afternoon, however alike
        # the telling: only words much more alike say otherwise.
        return ALIKE
    if agree(a, b):
        return NEAR
    if _tells_facts(a) and _tells_facts(b) and not _a_fact_in_common(a, b):
        # Each tells what the other does not ("30 of them heading east";
        # "at 20:30, low over Peremohy St"): neither confirms the other.
        return NEAR_APART
    return NEAR_ALONE


def _tells_facts(report: Report) -> bool:
    # Not its town: two reports close in place are in one town, or near
    # it, and saying so confirms nothing.
    return bool(report.numbers or report.bearings or report.streets or report.clock)


def _a_fact_in_common(a: Report, b: Report) -> bool:
    """Whether two reports not :func:`at_odds`, with no number they
    :func:`agree` on, give one fact alike: a street, or times of day (not
    at odds, so within the hour). Not a compass direction: it is one of
    eight, and two convoys through one town that hour share one by chance
    (a direction that differs still sets them at odds)."""
    return bool(a.streets & b.streets or (a.clock and b.clock))


class Facts(Protocol):
    """What a report's words say that witnesses of one event agree on."""

    @property
    def numbers(self) -> frozenset[str]: ...
    @property
    def counts(self) -> frozenset[tuple[str, str]]: ...
    @property
    def bearings(self) -> frozenset[str]: ...
    @property
    def streets(self) -> frozenset[str]: ...
    @property
    def towns(self) -> frozenset[str]: ...
    @property
    def clock(self) -> frozenset[int]: ...


class _Told(NamedTuple):
    """Every fact some reports give, together."""

    numbers: frozenset[str]
    counts: frozenset[tuple[str, str]]
    bearings: frozenset[str]
    streets: frozenset[str]
    towns: frozenset[str]
    clock: frozenset[int]

    @classmethod
    def of(cls, told: Sequence[Facts]) -> _Told:
        return cls(
            frozenset().union(*(t.numbers for t in told)),
            frozenset().union(*(t.counts for t in told)),
            frozenset().union(*(t.bearings for t in told)),
            frozenset().union(*(t.streets for t in told)),
            frozenset().union(*(t.towns for t in told)),
            frozenset().union(*(t.clock for t in told)),
        )


def at_odds(a: Facts, b: Facts) -> bool:
    """Whether the facts both texts give disagree, each kind of fact the
    way witnesses of one event agree on it: some number in common (30 of
    them, not 18; a vehicle 3856, not 5901; counting one kind of thing,
    :func:`agree`), some time of day within :data:`SAME_MOMENT_S`, some
    compass direction, some street, some town. A fact only one of them
    gives says nothing either way. Streets weigh as the rest: a convoy two witnesses
    saw on two streets shows as two events, each with its own witness;
    that is the price of a planted report never borrowing the witnesses
    of another street's event."""
    if a.numbers and b.numbers and not agree(a, b):
        return True
    if a.bearings and b.bearings and a.bearings.isdisjoint(b.bearings):
        return True
    if a.streets and b.streets and a.streets.isdisjoint(b.streets):
        return True
    if a.towns and b.towns and a.towns.isdisjoint(b.towns):
        return True
    return not _same_hours(a.clock, b.clock, SAME_MOMENT_S)


def agree(a: Facts, b: Facts) -> bool:
    """Whether the texts give a number in common that counts no two kinds
    of thing: "22 вибухи" and "22 vehicles" share the digits and no fact.
    A number one of them counts nothing known with agrees with any."""
    common = a.numbers & b.numbers
    if not (a.counts and b.counts):
        return bool(common)
    for number in common:
        mine = {kind for n, kind in a.counts if n == number}
        theirs = {kind for n, kind in b.counts if n == number}
        if not (mine and theirs) or not mine.isdisjoint(theirs):
            return True
    return False


def alike(a: Report, b: Report, settings: Settings) -> float:
    """How alike the words of ``a`` and ``b`` are, when one of them gives
    no time or no place (0 if not as alike as ALIKE, or if the times or
    places both give are far apart).

    Such a report joins the one event it is most alike (:class:`Grouping`):
    never two. It says too little to bridge events, and a short message
    with no time is alike many; joined by every one, it would make one
    event of everything of its kind."""
    if close_in_time(a, b, settings) is False or close_in_place(a, b, settings) is False:
        return 0.0
    if at_odds(a, b):
        return 0.0  # "30 of them" is not "18 of them", however alike the rest
    found = jaccard(a.shingles, b.shingles)
    return found if found >= ALIKE else 0.0


def _same_hours(a: frozenset[int], b: frozenset[int], within_s: float) -> bool:
    """Whether two texts' times of day (minutes) can be one moment: some
    pair within ``within_s``, round the clock; true if either gives none."""
    if not (a and b):
        return True
    window = within_s / 60
    return any(min(abs(x - y), 1440 - abs(x - y)) <= window for x in a for y in b)


def parts(reports: Sequence[Report], settings: Settings) -> list[list[str]]:
    """A strong group's reports in the events they tell of (keys).

    Links chain: "39 blasts, 15:34" links "39 blasts at 16:17 near
    Tsentralna" and, on its other side, "hits near Heroiv Pratsi", and a
    planted report would borrow the witnesses of another street. So a
    group in which two reports are :func:`at_odds` is cut: its links
    taken from the most alike (a picture first) to the least, each joins
    two parts unless the facts of one, together, are at odds with those
    of the other (a report giving the count and another the plate number
    of one convoy each agree with a third that gives both). Pure, and in
    a fixed order: the parts do not depend on the order the reports came
    in. A group of more than :data:`SPLIT_AT_MOST` reports is left whole
    (comparing every pair would cost more than a placing may)."""
    if len(reports) > SPLIT_AT_MOST or not _contested(reports):
        return [sorted(r.key for r in reports)]
    ordered = sorted(reports, key=lambda r: r.key)
    links = sorted(
        (-2.0 if same_picture(a, b) else -jaccard(a.shingles, b.shingles), a.key, b.key)
        for i, a in enumerate(ordered)
        for b in ordered[i + 1 :]
        if linked(a, b, settings)
    )
    part = {r.key: [r.key] for r in ordered}
    told = {r.key: _Told.of([r]) for r in ordered}
    for _, a, b in links:
        mine, theirs = part[a], part[b]
        if mine is theirs or at_odds(told[mine[0]], told[theirs[0]]):
            continue
        told[mine[0]] = _Told.of([told[mine[0]], told[theirs[0]]])
        mine.extend(theirs)
        for k in theirs:
            part[k] = mine
    found = {id(members): members for members in part.values()}
    return sorted(sorted(members) for members in found.values())


def _contested(reports: Sequence[Report]) -> bool:
    """Whether two of the reports give facts :func:`at_odds` (each set of
    facts compared once: copies give one). If none do, no two parts can
    be, and the group is one part without a pair compared."""
    told = list({_Told.of([r]): r for r in reports})
    return any(at_odds(a, b) for i, a in enumerate(told) for b in told[i + 1 :])


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
        #: A report alone, with no time or no place: its best match, and
        #: back from each match to those that chose it.
        self._best: dict[str, tuple[float, str]] = {}
        self._pointed: dict[str, set[str]] = {}
        #: A strong group's :func:`parts`, by its root, while it is unchanged.
        self._split: dict[str, list[list[str]]] = {}
        #: A bucket of one report is its key, not a list: most are (each
        #: text's bands are its own), and filing a list for each was a
        #: quarter of the grouping.
        self._buckets: dict[Hashable, str | list[str]] = {}
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
        looks, filed = self._keys(report)
        reports, settings = self._reports, self.settings
        # In any order: unions are, and best matches break ties by key.
        candidates = self._candidates(report, looks)
        mine = key
        for candidate in candidates:
            if self._root(candidate) != mine and linked(report, reports[candidate], settings):
                self._union(key, candidate)
                mine = self._root(key)
        sure = anchored(report)
        for candidate in candidates:
            other = reports[candidate]
            if sure and other.time is not None and other.spot is not None:
                continue
            similarity = alike(report, other, settings)
            if similarity:
                self._offer(key, candidate, similarity)
                self._offer(candidate, key, similarity)
        self._index(report, filed)

    def _offer(self, weak: str, to: str, similarity: float) -> None:
        """Make ``to`` the best match of ``weak`` if it is better than the
        one it has: only a report alone in its strong group, with no time
        or no place, takes a best match (:func:`alike`)."""
        if anchored(self._reports[weak]) or len(self._members[self._root(weak)]) > 1:
            return
        held = self._best.get(weak)
        if held is not None:
            # The more alike wins; a tie goes to the smaller key, so the
            # match is the same whatever order the reports came in.
            if (-held[0], held[1]) <= (-similarity, to):
                return
            self._pointed[held[1]].discard(weak)
        self._best[weak] = (similarity, to)
        self._pointed.setdefault(to, set()).add(weak)

    def _home(self, key: str, told: dict[str, _Told]) -> str:
        """The part of a strong group (:meth:`_part`) an event is named
        by: a report's own, or, for a report alone with a best match, that
        match's home (a cycle of best matches is named by its smallest
        member). ``told``: the facts of groups gathered so far
        (:meth:`_admitted`)."""
        root = self._part(key)[0]
        seen: list[str] = []
        while root in self._best and len(self._members[root]) == 1 and root not in seen:
            seen.append(root)
            root = self._part(self._best[root][1])[0]
        if root in seen:
            return min(seen[seen.index(root) :])
        # The chain ends in its event only as far as each report on it
        # agrees with that event's facts (:meth:`_gather` stops there too).
        for at in range(len(seen) - 1, -1, -1):
            if not self._admitted(seen[at], root, told):
                return seen[at]
        return root

    def _admitted(self, weak: str, root: str, told: dict[str, _Told]) -> bool:
        """Whether the report alone ``weak`` may join the part named by
        ``root`` (:meth:`_part`): its best match agrees with it, but "at
        06:52" does not join an event whose reports all say other hours
        ("at 00:29")."""
        members = self._part(root)
        if len(members) == 1:
            # Reports alone lead one to the next only as alike as ALIKE and
            # not at odds, pair by pair: a chain of them stays whole.
            return True
        report = self._reports[weak]
        if not (_tells_facts(report) or report.towns):
            return True
        facts = told.get(root)
        if facts is None:
            # Once per group and call: an event of thousands of copies
            # would otherwise be read whole for each report joining it.
            facts = told[root] = _Told.of([self._reports[m] for m in members])
        return not at_odds(report, facts)

    def event(self, key: str) -> Event:
        return self._event(key, {})

    def events(self) -> Iterator[Event]:
        told: dict[str, _Told] = {}
        for root in list(self._members):
            for part in self._parts(root):
                if self._home(part[0], told) == part[0]:
                    yield self._event(part[0], told)

    def _event(self, key: str, told: dict[str, _Told]) -> Event:
        found = self._gather(self._home(key, told), told)
        members = sorted(found, key=_order(self._reports))
        return Event(members[0], tuple(self._reports[m] for m in members))

    def _gather(self, home: str, told: dict[str, _Told]) -> list[str]:
        """Every report of the event named by ``home``: its part of a strong
        group and the reports whose best matches lead into it."""
        found = list(self._part(home))
        seen = set(found)
        at = 0
        while at < len(found):
            for weak in sorted(self._pointed.get(found[at], ())):
                if (
                    weak not in seen
                    and len(self._members[self._root(weak)]) == 1
                    and self._admitted(weak, home, told)
                ):
                    seen.add(weak)
                    found.append(weak)
            at += 1
        return found

    # -- the index ----------------------------------------------------------

    @staticmethod
    def _keys(report: Report) -> tuple[list[Hashable], list[Hashable]]:
        """The buckets a report looks in, and those it is filed in, in one
        index: its files (their digest), its pictures (a band of 16 bits
        each) and its words (a band of the sketch each, as one hash:
        collisions only add a candidate, which is compared anyway).

        Words alone link nothing between two reports that both give a time
        and a place (:func:`linked`: those are found by place), so such a
        report looks only among the words of reports without ("loose"):
        in a corpus of alike reports, words would otherwise make every
        report of a kind a candidate of every other."""
        media: list[Hashable] = list(report.sha256)
        for h in report.dhash:
            media.extend(("picture", b, (h >> (16 * b)) & 0xFFFF) for b in range(4))
        words = bands(report.signature)
        loose = [band ^ _LOOSE for band in words]
        if anchored(report):
            return [*media, *loose], [*media, *words]
        return [*media, *words], [*media, *words, *loose]

    def _index(self, report: Report, keys: list[Hashable]) -> None:
        key, buckets = report.key, self._buckets
        for bucket_key in keys:
            bucket = buckets.get(bucket_key)
            if bucket is None:
                buckets[bucket_key] = key
            elif isinstance(bucket, str):
                buckets[bucket_key] = [bucket, key]
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
            if bucket is None:
                continue
            if isinstance(bucket, str):
                found.add(bucket)
            else:
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
        # In degrees of the sphere close_in_place measures on, with 1% to
        # spare: cells are cut in the grid's degrees (METRES_PER_DEGREE), a
        # little longer, and a place at a cell's edge must not be missed.
        reach = (self.settings.distance_m + spot.slack_m + cell_m / 4) * 1.01 / _SPHERE_DEGREE
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

    def _parts(self, root: str) -> list[list[str]]:
        """The :func:`parts` of the strong group of ``root``; each part's
        first key names it (a group whole is named by its root)."""
        members = self._members[root]
        if len(members) == 1:
            return [members]
        found = self._split.get(root)
        if found is None:
            found = parts([self._reports[m] for m in members], self.settings)
            self._split[root] = found = [members] if len(found) == 1 else found
        return found

    def _part(self, key: str) -> list[str]:
        """The part (:meth:`_parts`) ``key`` is in."""
        found = self._parts(self._root(key))
        return found[0] if len(found) == 1 else next(p for p in found if key in p)

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
        for root in (ra, rb):  # in a strong group now: no best match of its own
            if len(self._members[root]) == 1 and root in self._best:
                self._pointed[self._best.pop(root)[1]].discard(root)
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._split.pop(ra, None)
        self._split.pop(rb, None)
        self._parent[rb] = ra
        self._members[ra].extend(self._members.pop(rb))


def _order(reports: dict[str, Report]) -> Callable[[str], tuple[bool, float, str]]:
    """Reports in an event: by time given (none last), then key."""

    def key(k: str) -> tuple[bool, float, str]:
        t = reports[k].time
        return (t is None, t or 0.0, k)

    return key
