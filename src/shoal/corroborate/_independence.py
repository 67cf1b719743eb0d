"""What independently confirms an event, and what merely repeats it.

Only a source whose authorship was verified can confirm anything: a
member's report signed by the key recorded at vetting, or a forward signed
by a handler of the door it names (who vouches for what their desk found).
What web contacts send is vouched for by the server only: shown, counted
as a source, never as a confirmation. A server that is seized, or an
infiltrator who found a door, can make any number of web contacts.

Copies count once. Reports are one *origin* when they share a file, a
picture up to re-encoding, or near-identical words (:data:`._text.COPY`);
sources that sent one origin are one confirmation between them, whoever
wrote first — a planted photograph passed on by three honest members is
still one photograph.

Compartments are never added up. Two doors do not make two people: one
person can write to two doors, and nothing the desk or command can see
tells otherwise. So an event's independent sources are those of the one
compartment that has most; a forward counts as many as its own desk found
behind it (it says so, signed), never more.

Everything is said in words (:attr:`Assessment.reasons`). This weighs
reports, never people: no source is marked as anything but verified or
not, which the desk already shows. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from ._grouping import same_picture
from ._report import MAX_DECLARED, Report
from ._text import CONTAINED, COPY, bands, contained, jaccard


@dataclass(frozen=True)
class Independence:
    """How many sources stand behind an event, and how many count."""

    reports: int
    #: Distinct sources in the own compartment, plus one per other
    #: compartment that forwarded reports.
    sources: int
    #: The independent verified sources of the compartment that has most.
    independent: int
    #: The reliability of each of those (None: not graded): a group of
    #: sources that sent one origin takes the lowest of theirs.
    reliabilities: tuple[str | None, ...]
    #: Keys of reports repeating an earlier report's origin.
    repeats: frozenset[str]
    reasons: tuple[str, ...]


#: Who a report's source is graded as: A to F, or None.
Reliability = Callable[[Report], "str | None"]


def copies(a: Report, b: Report) -> bool:
    """Whether ``a`` and ``b`` are one origin: a shared file or picture,
    or words repeated: near-identical, or one text (almost) whole inside
    the other ("Fwd: ..." with a line of one's own). A witness whose few
    words another's report happens to contain counts once with it: the
    cautious side, since a copy counted twice is what a plant needs."""
    if same_picture(a, b):
        return True
    return bool(a.shingles and b.shingles) and (
        jaccard(a.shingles, b.shingles) >= COPY or contained(a.shingles, b.shingles) >= CONTAINED
    )


class _Sets:
    """Union-find over any hashable names."""

    def __init__(self) -> None:
        self.parent: dict[Hashable, Hashable] = {}

    def find(self, x: Hashable) -> Hashable:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Hashable, b: Hashable) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


def independence(reports: Sequence[Report], reliability: Reliability) -> Independence:
    """What stands behind the event of ``reports``."""
    ordered = sorted(reports, key=lambda r: (r.time is None, r.time or 0.0, r.key))
    origins, shared = _origins(ordered)
    by_compartment: dict[str, list[Report]] = defaultdict(list)
    for report in ordered:
        by_compartment[report.compartment].append(report)
    best: tuple[str | None, ...] = ()
    local_sources: set[str] = set()
    forwarding: dict[str, int] = {}
    for compartment, own in sorted(by_compartment.items()):
        local = [r for r in own if not r.forwarded]
        local_sources.update(_who(r) for r in local)
        counted = tuple(_lowest(reliability(r) for r in g) for g in _groups(local, origins))
        # A forward counts only if its forwarding handler's signature was
        # verified: anyone can write "3 independent sources" in a header.
        forwards = [r for r in own if r.forwarded and r.verified]
        if forwards:
            forward = max(forwards, key=lambda r: r.declared or 0)
            declared = min(max(forward.declared or 0, 0), MAX_DECLARED)
            forwarding[compartment] = declared
            if declared > len(counted):
                # As many as its desk found; their grades are the desk's
                # to know: the forward's own source reliability for one.
                counted = (_grade(reliability(forward)), *(None,) * (declared - 1))
        if len(counted) > len(best):
            best = counted
    sources = len(local_sources) + len(forwarding)
    reasons = [_headline(len(ordered), sources, len(best), shared)]
    unverified = {_who(r) for r in ordered if not r.verified and not r.forwarded}
    if unverified:
        reasons.append(
            f"{_n(len(unverified), 'source')} {'is' if len(unverified) == 1 else 'are'} "
            "not verified (a web contact, or a member whose key is not yet recorded at "
            "vetting): vouched for by the server only, never counted as a confirmation"
        )
    reasons.extend(
        f"forwarded from compartment {compartment}: its desk found "
        f"{_n(declared, 'independent source')} behind it"
        for compartment, declared in sorted(forwarding.items())
    )
    if len(by_compartment) > 1:
        reasons.append(
            f"reports came through {len(by_compartment)} compartments: one person can "
            "write to two doors, so reports from different compartments are never "
            "counted as independent of each other on that ground alone"
        )
    first: dict[Hashable, str] = {}
    for r in ordered:  # the earliest report of each origin is its origin
        first.setdefault(origins.find(r.key), r.key)
    repeats = frozenset(r.key for r in ordered if first[origins.find(r.key)] != r.key)
    return Independence(len(ordered), sources, len(best), best, repeats, tuple(reasons))


def _origins(ordered: Sequence[Report]) -> tuple[_Sets, dict[str, set[str]]]:
    """Reports joined into origins (copies of one another); and, for the
    reasons, which sources shared a "photo" or a "text" with another."""
    sets = _Sets()
    shared: dict[str, set[str]] = defaultdict(set)
    for a, later in _pairs(ordered):
        sets.find(a.key)
        for b in later:
            if not copies(a, b):
                continue
            sets.union(a.key, b.key)
            if _who(a) != _who(b):
                shared["photo" if same_picture(a, b) else "text"].update({_who(a), _who(b)})
    return sets, shared


#: Reports of an event compared pair by pair at most; past it (a flood of
#: one message, say) only reports sharing a file, a picture's band or a
#: band of the words' sketch are: every pair of 10,000 would take minutes.
_EVERY_PAIR = 200


def _pairs(ordered: Sequence[Report]) -> Iterator[tuple[Report, list[Report]]]:
    """Each report, with the reports it is compared with."""
    if len(ordered) <= _EVERY_PAIR:
        for i, report in enumerate(ordered):
            yield report, list(ordered[i + 1 :])
        return
    index: dict[Hashable, list[int]] = defaultdict(list)
    keys = [_report_keys(report) for report in ordered]
    for i, found in enumerate(keys):
        for key in found:
            index[key].append(i)
    # Each report against the first of each bucket it shares only: a
    # thousand copies of one message join the first one by one, in
    # linear time (a copy of a copy that shares no bucket with the first
    # may stay apart: fewer repeats found, never more confirmations than
    # distinct origins).
    for i, report in enumerate(ordered):
        first = {index[key][0] for key in keys[i]} - {i}
        yield report, [ordered[j] for j in sorted(first)]


def _report_keys(report: Report) -> list[Hashable]:
    found: list[Hashable] = list(report.sha256)
    for h in report.dhash:
        found.extend(("picture", b, (h >> (16 * b)) & 0xFFFF) for b in range(4))
    found.extend(bands(report.signature))
    return found


def _who(report: Report) -> str:
    """The source's name for counting (never shown)."""
    if report.forwarded:
        return f"compartment {report.compartment}"
    return report.source if report.source is not None else f"unknown {report.key}"


def _groups(local: Sequence[Report], origins: _Sets) -> list[list[Report]]:
    """Verified sources, joined when they sent one origin: each group is
    one independent confirmation (its reports are returned)."""
    verified = [r for r in local if r.verified and r.source is not None]
    sets = _Sets()
    for r in verified:
        sets.union(("source", r.source), ("origin", origins.find(r.key)))
    groups: dict[Hashable, list[Report]] = defaultdict(list)
    for r in verified:
        groups[sets.find(("source", r.source))].append(r)
    return list(groups.values())


_ORDER = "ABCDEF"


def _grade(value: str | None) -> str | None:
    """A reliability grade, or None for anything else."""
    return value if value is not None and len(value) == 1 and value in _ORDER else None


def _lowest(grades: Iterable[str | None]) -> str | None:
    """The least reliable of a group's graded sources; None if none is graded."""
    found = [g for g in map(_grade, grades) if g is not None]
    return max(found, key=_ORDER.index) if found else None


def _headline(reports: int, sources: int, independent: int, shared: dict[str, set[str]]) -> str:
    head = f"{_n(reports, 'report')} from {_n(sources, 'source')}, {independent} independent"
    repeated = [
        f"the same {what} came from {len(names)} of them"
        for what, names in sorted(shared.items(), key=lambda kv: kv[0] != "photo")
    ]
    return head + (": " + "; ".join(repeated) if repeated else "")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
