"""The desk UI's events pages: reports grouped by what they tell of.

``/events`` lists the events (:mod:`shoal.desk._events`) newest first,
most corroborated first, or only the contested ones, narrowed by a GET
form; the handler's time window and distance regroup them (POST).
``/events/{key}`` shows one event's reports as the conversation shows
items, each marked verified, vouched for by the server only, or a repeat
of an earlier report, with the suggested credibility and a button per
report to take it — through the existing credibility route: the
suggestion itself never writes a grade. Exporting an event writes the
usual export with what corroboration found, under the signed manifest.

Places are shown as coordinates and the sender's grid cell, never on a
map: a map would fetch tiles from outside, telling a tile server where
the desk's reports are (the UI's Content-Security-Policy forbids it).

This judges reports, never people: a source is only ever shown as
verified or not, which the conversation already shows.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ... import corroborate
from .._events import ORDERS, EventFilters, EventView, ReportView
from .._verdict import REPORT
from .._workbench import Workbench

if TYPE_CHECKING:
    from ._app import _UI, Shown

TABS = {"newest": "Newest", "corroborated": "Most corroborated", "contested": "Contested"}
_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
#: Events a page lists at most (the filters narrow the rest).
LIMIT = 100


@dataclass(frozen=True)
class ShownReport:
    """One report of an event as its page shows it."""

    view: ReportView
    #: Its items, a member's files under their report, as the conversation shows them.
    shown: list[Shown]
    #: The contact's pseudonym, or the compartment that forwarded it.
    who: str
    #: Where its items are: the conversation, or the forwards page.
    link: str
    #: The item a grade of the report goes to (its text, else its first item).
    graded: str
    #: "repeats an earlier report (a copy of its …)", or "" for an origin.
    repeats: str


def place(spot: corroborate.Spot | None) -> str:
    """A place in words: coordinates and the grid cell they were coarsened to."""
    if spot is None:
        return ""
    cell = f"grid cell of {spot.cell_m:,} m" if spot.cell_m else "exact"
    return f"{spot.lat:.5f}, {spot.lon:.5f} — {cell}"


def title(event: EventView) -> str:
    """A line naming the event: its first words, else its first file's name."""
    items = [item for view in event.reports for item in view.items]
    for words in (*(i.text for i in items), *(i.name for i in items)):
        line = " ".join((words or "").split())
        if line:
            return line if len(line) <= 90 else line[:89] + "…"
    return "(no words)"


def link(event: EventView) -> str:
    """The event's page: by its first item (an item id is URL-safe and
    stays in the same event when the event grows)."""
    return f"/events/{event.reports[0].first.item_id}"


def repeats(event: EventView) -> dict[str, str]:
    """What each repeating report repeats, in words, by report key."""
    ordered = sorted(
        (v.report for v in event.reports),
        key=lambda r: (r.time is None, r.time or 0.0, r.key),
    )
    keys = {v.report.key for v in event.reports if v.repeat}
    said: dict[str, str] = {}
    for i, report in enumerate(ordered):
        if report.key not in keys:
            continue
        for earlier in ordered[:i]:
            if corroborate.copies(earlier, report):
                what = "photo or file" if corroborate.same_picture(earlier, report) else "text"
                said[report.key] = f"repeats an earlier report (a copy of its {what})"
                break
    return said


def filters_of(query: Any) -> EventFilters:
    """The GET form's filters; what is not understood does not narrow."""
    return EventFilters(
        text=str(query.get("q", ""))[:500],
        since=query.get("since", "") if _DAY.match(query.get("since", "")) else "",
        until=query.get("until", "") if _DAY.match(query.get("until", "")) else "",
        min_reports=_count(query.get("min_reports"), 1),
        min_independent=_count(query.get("min_independent"), 0),
        placed=query.get("placed") == "1",
    )


def _count(value: str | None, default: int) -> int:
    try:
        return min(10_000, max(0, int(value or default)))
    except ValueError:
        return default


class EventPages:
    """The handlers; ``ui`` renders pages and checks forms, as for every page."""

    def __init__(self, ui: _UI) -> None:
        self.ui = ui

    async def index(self, request: Request, workbench: Workbench) -> Response:
        query = request.query_params
        order = query.get("order", "newest")
        order = order if order in ORDERS else "newest"
        filters = filters_of(query)
        found = await run_in_threadpool(workbench.events, filters, order=order, limit=LIMIT)
        kept = {k: v for k, v in query.items() if k != "order" and v}
        tabs = [
            (o, label, "/events?" + urllib.parse.urlencode({**kept, "order": o}))
            for o, label in TABS.items()
        ]
        settings = workbench.event_settings
        return self.ui.page(
            request,
            "events.html",
            events=found,
            order=order,
            tabs=tabs,
            filters=filters,
            narrowed=filters != EventFilters(),
            window_hours=f"{settings.window_s / 3600:g}",
            distance_km=f"{settings.distance_m / 1000:g}",
            limit=LIMIT,
            title=title,
            link=link,
            place=place,
        )

    async def show(self, request: Request, workbench: Workbench) -> Response:
        event = await run_in_threadpool(workbench.event, request.path_params["key"])
        if event is None:
            return PlainTextResponse("No such event on this desk.", 404)
        said = repeats(event)
        reports = [await self._report(workbench, view, said) for view in event.reports]
        return self.ui.page(
            request,
            "event.html",
            event=event,
            reports=reports,
            title=title(event),
            link=link(event),
            place=place(event.spot),
        )

    async def _report(
        self, workbench: Workbench, view: ReportView, said: dict[str, str]
    ) -> ShownReport:
        first = view.first
        with workbench.lock:
            contact = workbench.library.contact(first.contact) if first.contact else None
        if contact is not None:
            who, where = contact.pseudonym, f"/contacts/{contact.contact_id}#item-{first.item_id}"
        else:
            who = f"forwarded from compartment {view.report.compartment}"
            where = f"/forwards#item-{first.item_id}"
        text = next((i for i in view.items if i.kind == REPORT), first)
        return ShownReport(
            view=view,
            shown=await self.ui.shown(workbench, view.items),
            who=who,
            link=where,
            graded=text.item_id,
            repeats=said.get(view.report.key, ""),
        )

    async def regroup(self, request: Request, workbench: Workbench) -> Response:
        values = await self.ui.form(request)
        try:
            window = float(values.get("window_hours", "")) * 3600
            distance = float(values.get("distance_km", "")) * 1000
        except ValueError:
            raise ValueError(
                "The window is a number of hours, the distance of kilometres."
            ) from None
        settings = corroborate.Settings(window_s=window, distance_m=distance)
        await run_in_threadpool(workbench.regroup, settings)
        self.ui.desk.say(
            f"Grouped again: reports within {window / 3600:g} hours "
            f"and {distance / 1000:g} km of each other."
        )
        return self.ui.back("/events")

    async def export(self, request: Request, workbench: Workbench) -> Response:
        key = request.path_params["key"]
        await self.ui.form(request)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.ui.desk.export_dir / f"shoal-event-{stamp}"
        manifest = await run_in_threadpool(workbench.export_event, key, target)
        self.ui.desk.say(
            f"Exported the event to {target} (plaintext: mind where it goes). "
            f"Check it with: shoal desk verify-manifest {manifest.parent}"
        )
        return self.ui.back(f"/events/{urllib.parse.quote(key)}")
