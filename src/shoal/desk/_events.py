"""The desk's events: its reports grouped by :mod:`shoal.corroborate`.

The pure core groups; this module turns the vault's item records into
reports and keeps one :class:`~shoal.corroborate.Grouping` current as
items arrive. Placing a report is milliseconds; grouping every report
from scratch (seconds at 100,000) happens at the first look after unlock,
when the handler changes the window or distance, and when an item of a
report already placed changes (a report's second file arriving later, an
item opened again). It reads records, not the index, so that it needs
nothing of the index's schema but item ids to show rows by.

What is a report here:

* a member's report: its text and its files (items sharing a ``report``
  id), its source the member's thread, verified if every item was signed
  by the key recorded at vetting;
* a web contact's message or file: each item alone, never verified (the
  server vouches for it), with no place and no time: the time its header
  holds is when the server received it, not when anything happened, and a
  copy passed on a day later must still meet its original;
* a forward from another compartment: verified if its forwarding
  handler's signature checks, its source that compartment, standing for
  as many independent sources as the forwarding desk found (``declared``).

Replies, applications, key offers and alarms are not reports; rejected
and damaged items never reach here. Nothing is written: grades stay the
handler's (the suggestion is shown, never applied).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import corroborate
from ..corroborate import Grouping, Independence, Report, Settings, Spot, Suggestion
from ._library import ItemRow
from ._verdict import REPORT, REPORT_FILE, Standing

#: How long grouping keeps the interpreter before letting another thread
#: take it. Left to CPython, it changes hands every 5 ms, and a search,
#: which takes it back after each SQLite call, waited that long each time:
#: while 10,000 reports were grouped after unlock, searches took 62 ms
#: (p50) and 623 ms (p99); sharing every 0.5 ms, 2.3 and 29 ms, and the
#: grouping took as long (bench/sync.py, ``search_while_grouping``).
_SHARE_EVERY_S = 0.0005

#: Item kinds that make reports.
REPORT_KINDS = frozenset({REPORT, REPORT_FILE, "message", "file", "forward"})
ORDERS = ("newest", "corroborated", "contested")
#: Kinds whose time is the sender's word of when it happened.
_TIMED = frozenset({REPORT, REPORT_FILE, "forward"})
_SIGNED = Standing.SIGNED.value


def _sharing(keys: Iterable[str]) -> Iterator[str]:
    """``keys``, letting the desk's other threads (a request, the sync)
    run every :data:`_SHARE_EVERY_S` of the work done between them."""
    turn = time.perf_counter() + _SHARE_EVERY_S
    for key in keys:
        yield key
        if time.perf_counter() >= turn:
            time.sleep(0)  # releases the GIL to a thread waiting for it
            turn = time.perf_counter() + _SHARE_EVERY_S


@dataclass(frozen=True)
class ReportView:
    """A report as the events page shows it: its items as the index has them."""

    report: Report
    items: tuple[ItemRow, ...]
    #: Repeats an earlier report's origin (a copy of its text or picture).
    repeat: bool

    @property
    def first(self) -> ItemRow:
        return self.items[0]

    @property
    def when(self) -> str:
        return self.first.time or self.first.day


@dataclass(frozen=True)
class EventView:
    key: str
    reports: tuple[ReportView, ...]
    independence: Independence
    suggestion: Suggestion
    contested: bool
    #: The latest time (or day) any of its reports gives.
    latest: str
    #: The most precise place its reports give, if any.
    spot: Spot | None

    @property
    def item_ids(self) -> list[str]:
        return [item.item_id for view in self.reports for item in view.items]

    def summary(self) -> dict[str, Any]:
        """What an export records of the event beside its reports."""
        return {
            "reports": [[item.item_id for item in view.items] for view in self.reports],
            "repeats": [
                [item.item_id for item in view.items] for view in self.reports if view.repeat
            ],
            "independent": self.independence.independent,
            "sources": self.independence.sources,
            "reasons": list(self.independence.reasons),
            "suggested_credibility": self.suggestion.grade,
            "suggestion_reasons": list(self.suggestion.reasons),
            "contested": self.contested,
        }


@dataclass(frozen=True)
class EventFilters:
    """What the events page narrows by; empty fields do not narrow."""

    text: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive
    until: str = ""
    min_reports: int = 1
    min_independent: int = 0
    placed: bool = False  # only events with a place


#: What of an item record a report is made of.
_FIELDS = (
    *("id", "kind", "direction", "contact", "standing", "time", "day", "lat", "lon"),
    *("cell", "text", "name", "report", "sha256", "dhash", "origin", "declared", "vouched"),
)


def report_key(record: Mapping[str, Any]) -> str:
    """The report an item belongs to: a member's report id, else the item."""
    report = record.get("report")
    return f"report {report}" if report else str(record["id"])


def build_report(records: Sequence[Mapping[str, Any]], compartment: str) -> Report:
    """One report from its items' records (one, or a member's text and files)."""
    first = records[0]
    forwarded = first.get("direction") == "forwarded"
    spot = next(
        (
            Spot(float(r["lat"]), float(r["lon"]), int(r.get("cell") or 0))
            for r in records
            if r.get("lat") is not None and r.get("lon") is not None
        ),
        None,
    )
    texts = [
        str(r["text"])
        for r in records
        if r.get("text") and r.get("kind") != REPORT_FILE and not r.get("name")
    ]
    declared = first.get("declared")
    return Report(
        key=report_key(first),
        source=None if forwarded else first.get("contact"),
        verified=all(r.get("standing") == _SIGNED for r in records),
        compartment=str(first.get("origin") or "?") if forwarded else compartment,
        time=_when(records),
        spot=spot,
        text="\n".join(texts),
        sha256=tuple(str(r["sha256"]) for r in records if r.get("sha256")),
        dhash=tuple(int(str(r["dhash"]), 16) for r in records if r.get("dhash")),
        declared=(declared if isinstance(declared, int) else 0) if forwarded else None,
    )


#: The index's rows of these item ids (those it has).
Rows = Callable[[Sequence[str]], list[ItemRow]]


class DeskEvents:
    """One compartment's reports, grouped: fed item records, asked for events.

    Thread-safe: the sync thread feeds while the UI's requests read."""

    def __init__(self, compartment: str, settings: Settings | None = None) -> None:
        self.compartment = compartment
        self.settings = settings or Settings()
        self._mutex = threading.RLock()
        #: Each report's items' records (the fields a report is made of).
        self._records: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._key_of: dict[str, str] = {}
        self._reports: dict[str, Report] = {}
        self._grouping: Grouping | None = None
        #: Reports whose records changed since they were built.
        self._stale: set[str] = set()
        #: The handler's grades, as their records say: items' credibility
        #: and contacts' reliability (read here so that sorting thousands
        #: of events never asks the index).
        self._credibility: dict[str, str] = {}
        self._closed = False
        self._reliability: dict[str, str] = {}

    def feed(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Take the item records among ``records`` (others are ignored)."""
        with self._mutex:
            for record in records:
                kind = record.get("t")
                if kind == "hashes":
                    self._hashes(record)
                elif kind == "credibility":
                    self._credibility[str(record["item"])] = str(record["grade"])
                elif kind == "reliability":
                    self._reliability[str(record["contact"])] = str(record["grade"])
                if record.get("t") not in ("item", "reopened"):
                    continue
                item_id = str(record.get("id"))
                key = self._key_of.pop(item_id, None)
                if key is not None:  # opened again: out of its old report
                    self._records[key].pop(item_id, None)
                    self._stale.add(key)
                if not _reportable(record):
                    continue
                key = report_key(record)
                self._key_of[item_id] = key
                # What the report needs, and nothing empty: at 100,000
                # items the copies are held for as long as the desk is open.
                self._records[key][item_id] = {
                    f: record[f] for f in _FIELDS if record.get(f) is not None
                }
                self._stale.add(key)

    def _hashes(self, record: Mapping[str, Any]) -> None:
        """A file's hashes, found after it was indexed (._workbench)."""
        key = self._key_of.get(str(record.get("item")))
        if key is not None:
            held = self._records[key][str(record["item"])]
            held.update(sha256=record.get("sha256"), dhash=record.get("dhash"))
            self._stale.add(key)

    def regroup(self, settings: Settings) -> None:
        """Group every report again, with ``settings``."""
        with self._mutex:
            self.settings = settings
            self._grouping = None

    def key_of(self, item_id: str) -> str | None:
        """The report an item makes part of, if it is in one."""
        with self._mutex:
            return self._key_of.get(item_id)

    def close(self) -> None:
        """Drop every report (at lock); a grouping under way stops soon."""
        self._closed = True
        with self._mutex:
            self._records.clear()
            self._reports.clear()
            self._grouping = None

    def grouped(self) -> Grouping:
        """The grouping, brought up to date: new reports placed, and all
        grouped again if a report already placed changed."""
        with self._mutex:
            changed = {k for k in self._stale if k in self._reports}
            for key in _sharing(self._stale):
                if self._closed:
                    break
                records = list(self._records[key].values())
                if records:
                    self._reports[key] = build_report(records, self.compartment)
                else:
                    self._reports.pop(key, None)
                    self._records.pop(key, None)
            fresh = self._stale - changed
            self._stale = set()
            if self._grouping is None or changed:
                self._grouping = Grouping(self.settings)
                fresh = set(self._reports)
            for key in _sharing(sorted(fresh)):
                if self._closed:
                    break
                if key in self._reports:
                    self._grouping.add(self._reports[key])
            return self._grouping

    def events(
        self,
        rows: Rows,
        *,
        filters: EventFilters = EventFilters(),
        order: str = "newest",
        limit: int = 100,
    ) -> list[EventView]:
        """The events, filtered and in ``order`` (one of :data:`ORDERS`).

        Narrowed and sorted on what the records hold, then only the events
        shown are read from the index: at 100,000 reports a page must not
        ask the index for every one of them."""
        if order not in ORDERS:
            raise ValueError(f"the order is one of {', '.join(ORDERS)}")
        needle = corroborate.fold(filters.text) if filters.text.strip() else ""
        with self._mutex:
            grouping = self.grouped()
            found = []
            for event in grouping.events():
                if len(event.reports) < filters.min_reports:
                    continue
                records = [rec for r in event.reports for rec in self._records[r.key].values()]
                if not _kept(event, records, filters, needle):
                    continue
                latest = max(str(rec.get("time") or rec.get("day") or "") for rec in records)
                found.append((event, latest))
            weighed = order != "newest" or filters.min_independent > 0
            if weighed:
                found = [
                    (event, latest)
                    for event, latest in found
                    if self._weight(event)[0] >= filters.min_independent
                    and (order != "contested" or self._weight(event)[1])
                ]
            found.sort(key=lambda entry: (entry[1], entry[0].key), reverse=True)
            if order == "corroborated":
                found.sort(
                    key=lambda entry: (self._weight(entry[0])[0], len(entry[0].reports)),
                    reverse=True,
                )
            return [self._view(event, rows) for event, _ in found[:limit]]

    def event(self, key: str, rows: Rows) -> EventView | None:
        """The event of the report ``key`` (or of the item ``key``)."""
        with self._mutex:
            grouping = self.grouped()
            key = self._key_of.get(key, key)
            if key not in grouping:
                return None
            return self._view(grouping.event(key), rows)

    def _weight(self, event: corroborate.Event) -> tuple[int, bool]:
        """(independent sources, contested) of an event, from the records."""
        found = corroborate.independence(event.reports, self._source_grade)
        return found.independent, corroborate.contested(self._grades(event))

    def _source_grade(self, report: Report) -> str | None:
        """The reliability behind a report: its contact's as the handler
        graded it; a forward's as the forwarding desk graded its source."""
        if report.forwarded:
            vouched = next(iter(self._records[report.key].values())).get("vouched")
            return vouched if isinstance(vouched, str) else None
        return None if report.source is None else self._reliability.get(report.source)

    def _grades(self, event: corroborate.Event) -> list[str | None]:
        """The handler's credibility of each report: of its first item graded."""
        return [
            next(
                (
                    self._credibility[i]
                    for i in sorted(self._records[r.key])
                    if i in self._credibility
                ),
                None,
            )
            for r in event.reports
        ]

    def _view(self, event: corroborate.Event, rows: Rows) -> EventView:
        items = {r.key: tuple(rows(sorted(self._records[r.key]))) for r in event.reports}
        found = corroborate.independence(event.reports, self._source_grade)
        grades = self._grades(event)
        views = tuple(
            ReportView(r, items[r.key], r.key in found.repeats)
            for r in event.reports
            if items[r.key]
        )
        spots = [r.spot for r in event.reports if r.spot is not None]
        return EventView(
            key=event.key,
            reports=views,
            independence=found,
            suggestion=corroborate.suggest(found, grades),
            contested=corroborate.contested(grades),
            latest=max((v.when for v in views), default=""),
            spot=min(spots, key=lambda s: s.cell_m) if spots else None,
        )


def _when(records: Sequence[Mapping[str, Any]]) -> float | None:
    """When a report says it happened: a member's report by its text's
    time (its files' as a fallback), a forward by its original's (the
    desk keeps that as its time); never a time the server wrote."""
    ranked = sorted(records, key=lambda r: r.get("kind") != REPORT)
    return next(
        (
            t
            for t in (corroborate.instant(r.get("time")) for r in ranked if r.get("kind") in _TIMED)
            if t is not None
        ),
        None,
    )


def _reportable(record: Mapping[str, Any]) -> bool:
    return (
        record.get("kind") in REPORT_KINDS
        and record.get("direction") in ("in", "forwarded")
        and record.get("standing") not in (None, Standing.REJECTED.value, "error")
        and not record.get("error")
    )


def _kept(
    event: corroborate.Event, records: list[dict[str, Any]], filters: EventFilters, needle: str
) -> bool:
    days = [str(rec.get("day") or "") for rec in records]
    checks = (
        bool(days),
        not filters.since or max(days, default="") >= filters.since,
        not filters.until or min(days, default="") <= filters.until,
        not filters.placed or any(r.spot is not None for r in event.reports),
        not needle or any(needle in corroborate.fold(r.text) for r in event.reports),
    )
    return all(checks)
