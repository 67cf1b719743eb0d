"""The desk's events through the unlocked desk (:class:`Workbench`) and
its pages (:mod:`shoal.desk.ui._events_pages`), over a desk synced from
the fake server.

Members send signed reports with times, places and photos, as the field
client seals them; their keys are recorded at vetting through ``shoal
desk move``; a web contact passes one member's words on; one photo comes
from two members. The events are asked for as the UI asks, and the pages
are fetched from the desk UI's own app (its guard, which a real browser
passes, is tested in test_desk_ui_guard; the real browser in
tests/browser/test_desk_events.py).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from desk_kit import DOOR, PASSPHRASE, Setup

from events_scene_kit import FIRE, HEADLINE, PHOTO_NOTE, POWER, TANKS, TANKS_UK, photo
from shoal import crypto
from shoal.corroborate import Settings
from shoal.desk._events import EventFilters, EventView
from shoal.desk._export import verify_manifest
from shoal.desk._state import Layout
from shoal.desk._workbench import Workbench
from shoal.desk.ui._app import Desk, create_app
from shoal.desk.ui._guard import FORM_FIELD, Tokens


class Quiet:
    def expect(self, count: int) -> None:
        pass

    def advance(self) -> None:
        pass


class Scene:
    """Three vetted members, two web contacts and what they sent, synced and indexed."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.recipients = setup.recipients()
        self.epoch = setup.kit.state.compartment(DOOR).epoch
        server, compartment = setup.server, setup.compartment_id
        self.keys: dict[str, crypto.SigningKey] = {}
        self.contacts: dict[str, str] = {}
        for name in ("ann", "bohdan", "chloe", "web", "lone"):
            self.contacts[name] = server.add_contact(compartment, setup.kit.reading.recipient())
        self.picture = photo(3)
        place = {"lat": 50.4650, "lon": 30.5150, "cell_m": 0}
        self.ann = self.report("ann", "2026-11-20T05:40:00Z", TANKS, place, self.picture)
        self.bohdan = self.report(
            "bohdan", "2026-11-20T06:00:00Z", TANKS_UK, {"lat": 50.47, "lon": 30.52, "cell_m": 1000}
        )
        self.chloe = self.report("chloe", "2026-11-20T06:40:00Z", PHOTO_NOTE, None, self.picture)
        self.fire = self.report(
            "ann", "2026-11-22T09:00:00Z", FIRE, {"lat": 49.8, "lon": 30.1, "cell_m": 10000}
        )
        self.web = self.message("web", "2026-11-20T06:50:00Z", TANKS + "!!")
        self.power = self.message("lone", "2026-11-21T12:00:00Z", POWER)
        desk = setup.desk
        desk.ok("sync")
        for name, key in self.keys.items():
            key_text = crypto_key_text(key)
            desk.ok("move", self.contacts[name], "in-contact", "--reason", "answered")
            desk.ok("move", self.contacts[name], "vetting", "--reason", "met", "--member-key",
                    key_text)  # fmt: skip
        self.layout = Layout(desk.folder)

    def add(self, sealed: bytes, name: str, day: str) -> str:
        item_id = self.setup.server.add_item(
            self.setup.compartment_id, sealed, contact=self.contacts[name]
        )
        self.setup.server.items[-1].day = day
        return item_id

    def message(self, name: str, time: str, text: str) -> str:
        """A web contact's message, sealed as the server's intake seals it
        (which writes the time it arrived into the header)."""
        sealed = crypto.encrypt_item(
            self.recipients, {"kind": "message", "time": time}, text.encode()
        )
        return self.add(sealed, name, time[:10])

    def report(
        self, name: str, time: str, text: str, place: dict[str, Any] | None, *files: bytes
    ) -> list[str]:
        """A member's report and its files, signed as the field client signs: the item ids."""
        key = self.keys.setdefault(name, crypto.SigningKey.generate())
        report_id = secrets.token_hex(16)
        head = {
            "time": time,
            "epoch": self.epoch,
            "compartment": self.setup.compartment_id,
            "report": report_id,
        }
        where = {"place": place} if place else {}
        parts = [("report", text.encode(), {"parts": 1 + len(files), **where})]
        parts += [
            ("report-file", data, {"name": f"photo-{i}.png", "type": "image/png", "scrubbed": []})
            for i, data in enumerate(files)
        ]
        return [
            self.add(
                crypto.encrypt_item(
                    self.recipients, {"kind": kind, **head, **extra}, content, signer=key
                ),
                name,
                time[:10],
            )
            for kind, content, extra in parts
        ]

    def unlock(self) -> Workbench:
        bench = Workbench.unlock(self.layout, PASSPHRASE)
        bench.index_new(Quiet())
        return bench


def crypto_key_text(key: crypto.SigningKey) -> str:
    return base64.b64encode(key.verify_key.public_bytes).decode()


@pytest.fixture
def bench(setup: Setup) -> Iterator[tuple[Scene, Workbench]]:
    scene = Scene(setup)
    opened = scene.unlock()
    try:
        yield scene, opened
    finally:
        opened.close()


def items_of(event: EventView) -> set[str]:
    return set(event.item_ids)


def records(bench: Workbench) -> list[dict[str, Any]]:
    return list(bench.vault.records())


# --- the events, as the unlocked desk finds them ------------------------------------------


def test_reports_are_grouped_copies_count_once_and_the_orders_and_filters_hold(
    bench: tuple[Scene, Workbench],
) -> None:
    scene, desk = bench
    tanks = {*scene.ann, *scene.bohdan, *scene.chloe, scene.web}
    newest = desk.events()
    assert [items_of(e) for e in newest] == [set(scene.fire), {scene.power}, tanks]
    event = newest[2]
    found = event.independence
    assert (found.reports, found.sources, found.independent) == (4, 4, 2)
    assert found.reasons[0] == HEADLINE
    assert "vouched for by the server only, never counted as a confirmation" in found.reasons[1]
    repeats = {i.item_id for v in event.reports if v.repeat for i in v.items}
    assert repeats == {*scene.chloe, scene.web}, "the photo passed on and the words passed on"
    assert (event.spot and (event.spot.lat, event.spot.cell_m)) == (50.4650, 0)
    assert event.suggestion.grade == "2" and not event.contested  # no source graded reliable

    corroborated = desk.events(order="corroborated")
    assert [items_of(e) for e in corroborated] == [tanks, set(scene.fire), {scene.power}]
    assert desk.events(order="contested") == []

    def found_by(**narrow: Any) -> list[set[str]]:
        return [items_of(e) for e in desk.events(EventFilters(**narrow))]

    assert found_by(text="warehouse") == [set(scene.fire)]
    assert found_by(text="Київ") == [tanks], "Kyiv and Київ fold alike"
    assert found_by(since="2026-11-21") == [set(scene.fire), {scene.power}]
    assert found_by(until="2026-11-20") == [tanks]
    assert found_by(min_reports=2) == [tanks]
    assert found_by(min_independent=1) == [set(scene.fire), tanks]
    assert found_by(placed=True) == [set(scene.fire), tanks]

    # The same event, asked for by any of its items, its report or its own key.
    report = next(v.report.key for v in event.reports if v.report.key.startswith("report "))
    for key in (scene.web, scene.chloe[1], report, event.key):
        shown = desk.event(key)
        assert shown is not None and items_of(shown) == tanks, key
    assert desk.event("no such thing") is None

    # The handler grades one report likely and another improbable: contested.
    desk.grade_report(scene.ann[0], "1")
    desk.grade_report(scene.bohdan[0], "5")
    assert [items_of(e) for e in desk.events(order="contested")] == [tanks]

    # A narrower window and distance: Bohdan's report (20 minutes and 600 m
    # from Ann's) is an event of its own; the photo still joins Chloe's
    # report to Ann's, whenever sent, and the web contact's copy of Ann's
    # words stays with them: it gives no time (the server's arrival time
    # is no time of the event), so only its words are weighed.
    desk.regroup(Settings(window_s=60, distance_m=10))
    assert desk.event_settings == Settings(window_s=60, distance_m=10)
    split = desk.event(scene.ann[0])
    assert split is not None
    assert items_of(split) == {*scene.ann, *scene.chloe, scene.web}


# --- the pages ----------------------------------------------------------------------------


class Pages:
    """The desk UI's app over an unlocked desk, asked as the browser asks."""

    def __init__(self, bench: Workbench, exports: Path) -> None:
        self.ui = Desk(bench.layout, idle_seconds=600, export_dir=exports)
        self.ui.workbench = bench
        self.tokens = Tokens()
        self.app = create_app(self.ui, self.tokens)

    def get(self, path: str, **params: str) -> str:
        page = self.ask("GET", path, params=params)
        assert page.status_code == 200, page.text
        return html.unescape(page.text)

    def post(self, path: str, **form: str) -> httpx.Response:
        return self.ask("POST", path, data={FORM_FIELD: self.tokens.form, **form})

    def ask(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def asked() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://desk") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(asked())

    def notice(self) -> str:
        said = self.ui.notice
        return said[1] if said else ""


def test_the_pages_show_what_confirms_what_and_viewing_them_grades_nothing(
    bench: tuple[Scene, Workbench], tmp_path: Path
) -> None:
    scene, desk = bench
    pages = Pages(desk, tmp_path / "exports")
    before = records(desk)
    listed = pages.get("/events")
    assert "3 event(s)." in listed and HEADLINE in listed
    assert "Suggested credibility: 2 — Probably true" in listed
    assert "(a suggestion only: the grades are yours to give)" in listed
    assert "Place: 50.46500, 30.51500 — exact" in listed
    assert "Place: 49.80000, 30.10000 — grid cell of 10,000 m" in listed
    assert listed.index(FIRE) < listed.index(POWER) < listed.index(TANKS)
    ranked = pages.get("/events", order="corroborated")
    assert ranked.index(TANKS) < ranked.index(FIRE) < ranked.index(POWER)
    assert 'aria-current="page">Most corroborated' in ranked
    narrowed = pages.get("/events", q="warehouse", min_reports="x", since="not a day")
    assert "1 event(s)." in narrowed and FIRE in narrowed and TANKS not in narrowed
    assert 'href="/events?q=warehouse&amp;min_reports=x' in html.escape(narrowed, quote=False)

    shown = pages.get(f"/events/{scene.web}")
    assert TANKS_UK in shown and PHOTO_NOTE in shown and "photo-0.png" in shown
    assert shown.count('<span class="badge signed mark">verified</span>') == 3
    assert shown.count('<span class="badge server mark">vouched for by the server only</span>') == 1
    assert "repeats an earlier report (a copy of its photo or file)" in shown
    assert "repeats an earlier report (a copy of its text)" in shown
    ann = desk.library.contact(scene.contacts["ann"])
    assert ann is not None
    linked = re.findall(rf'href="/contacts/{ann.contact_id}#item-(\w+)">{ann.pseudonym}</a>', shown)
    assert linked and set(linked) <= set(scene.ann), "the pseudonym, linking to the conversation"
    assert shown.count('name="grade" value="2"') == 4, "one 'grade as suggested' per report"
    assert pages.ask("GET", "/events/nothing-here").status_code == 404
    assert records(desk) == before, "looking at events writes nothing"

    # The button posts the suggestion to the credibility route: now it is a grade.
    taken = pages.post(f"/items/{scene.bohdan[0]}/credibility", grade="2",
                       back=f"/events/{scene.web}#item-{scene.bohdan[0]}")  # fmt: skip
    assert taken.headers["location"] == f"/events/{scene.web}#item-{scene.bohdan[0]}"
    row = desk.library.item(scene.bohdan[0])
    assert row is not None and row.credibility == "2"

    exported = pages.post(f"/events/{scene.web}/export")
    assert exported.headers["location"] == f"/events/{scene.web}"
    said = pages.notice()
    assert said.startswith(f"Exported the event to {tmp_path / 'exports'}/shoal-event-"), said
    [folder] = (tmp_path / "exports").iterdir()
    verify_manifest(folder, handler_key=desk.keystore.signing_key.verify_key)
    written = json.loads((folder / "reports.json").read_text("utf-8"))
    assert written["event"]["independent"] == 2 and written["event"]["reasons"][0] == HEADLINE
    assert {i for r in written["event"]["reports"] for i in r} == {
        *scene.ann, *scene.bohdan, *scene.chloe, scene.web
    }  # fmt: skip

    refused = pages.post("/events/settings", window_hours="soon", distance_km="2")
    assert refused.headers["location"] == "/" and "number of hours" in pages.notice()
    pages.post("/events/settings", window_hours="0", distance_km="2")
    assert pages.notice() == "the time window is between 1 minute and 30 days"
    regrouped = pages.post("/events/settings", window_hours="0.5", distance_km="0.25")
    assert regrouped.headers["location"] == "/events"
    assert desk.event_settings == Settings(window_s=1800, distance_m=250)
    assert 'name="window_hours" type="number"' in pages.get("/events")
