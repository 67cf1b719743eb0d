"""The desk UI's events view in a real browser: Debian's Chromium driven
by Playwright, against a real ``shoal serve`` (the demo organization,
``org`` in ``conftest.py``) and a real ``shoal desk ui`` process.

Three members send signed reports of one event through the real upload
routes (times, places, one photo from two of them), their keys recorded
at vetting through the UI's own form; a web contact passes one member's
words on; another event and a lone message stand apart. What the handler
sees: the events in each order, narrowed by the filters (in a tab
without JavaScript too), what confirms and what repeats what, a
suggestion that grades nothing until its button is pressed, the
contested tab, an exported event whose manifest verifies, and regrouping
with another window. Every tab asks the desk alone for anything (no map
tiles, nothing from outside) and meets no Content-Security-Policy refusal.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from _served_org import Org
from desk_browser_kit import (
    DeskUI,
    Handler,
    Watch,
    folded,
    form_token,
    is_locked,
    new_contact,
    open_desk,
    send,
    shoot,
    unlock,
)
from events_scene_kit import FIRE, HEADLINE, PHOTO_NOTE, POWER, TANKS, TANKS_UK, photo
from member_kit import DeskDir, Member
from shoal import org as shoal_org
from shoal.desk._export import verify_manifest

pytestmark = pytest.mark.timeout(300)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def member_report(
    member: Member,
    epoch: shoal_org.Epoch,
    text: str,
    time: str,
    place: dict[str, Any] | None = None,
    picture: bytes | None = None,
) -> list[str]:
    """A report, and its photo, as the field client sends them: the report's
    time on both (``Member.report`` gives files the kit's fixed time)."""
    head = {"report": secrets.token_hex(16), "time": time}
    where = {"place": place} if place else {}
    sealed = [member.seal(epoch, "report", text.encode(), parts=1 + bool(picture), **head, **where)]
    if picture:
        sealed.append(
            member.seal(
                epoch,
                "report-file",
                picture,
                name="photo.png",
                type="image/png",
                scrubbed=[],
                **head,
            )
        )
    return [member.upload(s, epoch.number) for s in sealed]


@dataclass
class Scene:
    """What was sent, by whom (item ids), synced and vetted on the news desk."""

    ann: list[str]
    bohdan: list[str]
    chloe: list[str]
    fire: list[str]
    web: str
    power: str


@pytest.fixture(scope="module")
def handler(chromium: Browser, news: DeskUI) -> Iterator[Handler]:
    """One tab for the module, JavaScript on: the handler's moves build on
    one another (grades, then the contested tab). Checked when it closes."""
    context, page, watch = open_desk(chromium, news)
    if is_locked(page):
        unlock(page, news.passphrase)
    yield Handler(page, news, watch)
    context.close()
    checked(watch)


def checked(watch: Watch) -> None:
    assert watch.requests, "the tab asked for nothing at all"
    assert watch.outside() == [], "nothing is fetched from outside the desk"
    assert watch.csp() == []


@pytest.fixture(scope="module")
def scene(org: Org, handler: Handler) -> Scene:
    handler.sync()  # the epochs: what members seal to
    epoch = DeskDir.of(org).trust().current
    members = {name: Member(org) for name in ("ann", "bohdan", "chloe")}
    now = datetime.now(UTC)
    picture = photo()
    kyiv = {"lat": 50.4650, "lon": 30.5150, "cell_m": 0}
    sent = Scene(
        ann=member_report(
            members["ann"], epoch, TANKS, stamp(now - timedelta(minutes=50)), kyiv, picture
        ),
        bohdan=member_report(
            members["bohdan"],
            epoch,
            TANKS_UK,
            stamp(now - timedelta(minutes=40)),
            {"lat": 50.47, "lon": 30.52, "cell_m": 1000},
        ),
        chloe=member_report(
            members["chloe"], epoch, PHOTO_NOTE, stamp(now - timedelta(minutes=30)), None, picture
        ),
        fire=member_report(
            members["ann"],
            epoch,
            FIRE,
            stamp(now - timedelta(days=2)),
            {"lat": 49.8, "lon": 30.1, "cell_m": 10000},
        ),
        # The server writes the time a web contact's message arrived (now).
        web=send(org, new_contact(org, "news"), TANKS + "!!")[0],
        power=send(org, new_contact(org, "news"), POWER)[0],
    )
    handler.sync()
    # The handler compares each member's key out of band and records it at
    # vetting: their reports, vouched for by the server only until then, are signed.
    for name, item in (("ann", sent.fire[0]), ("bohdan", sent.bohdan[0]), ("chloe", sent.chloe[0])):
        contact = contact_of_item(handler, item)
        for to, key in (("in-contact", ""), ("vetting", members[name].key_text)):
            moved = handler.page.request.post(
                f"{handler.desk.origin}/contacts/{contact}/move",
                form={
                    "form_token": form_token(handler.page),
                    "to": to,
                    "reason": "met",
                    "member_key": key,
                },
            )
            assert moved.ok and "Moved: " in moved.text(), moved.text()
    return sent


def contact_of_item(handler: Handler, item: str) -> str:
    """The contact an item came from, as the event page links it."""
    handler.go(f"/events/{item}")
    page = handler.page
    report = page.locator("section.event-report", has=page.locator(f"#item-{item}"))
    href = report.locator("h2 a").get_attribute("href")
    assert href and href.startswith("/contacts/"), href
    return href.removeprefix("/contacts/").split("#")[0]


def event_titles(page: Page) -> list[str]:
    return [folded(t) for t in page.locator("article.event h2 a").all_inner_texts()]


def event_of(page: Page, words: str) -> Any:
    return page.locator("article.event").filter(
        has=page.get_by_role("link", name=words, exact=True)
    )


# --- the list --------------------------------------------------------------------------


def test_the_events_list_orders_and_says_what_confirms_what(handler: Handler, scene: Scene) -> None:
    page = handler.page
    handler.go("/")
    handler.press(page.get_by_role("link", name="Events", exact=True))
    assert page.url == handler.desk.origin + "/events"
    titles = event_titles(page)
    # The web contacts' messages arrived last (the server's time of arrival):
    # the tanks and the power cut are newer than the fire of two days ago.
    assert max(titles.index(POWER), titles.index(TANKS)) < titles.index(FIRE), "newest first"
    tanks = event_of(page, TANKS)
    tally = folded(tanks.locator(".tally").inner_text())
    assert tally == "4 reports · 4 sources, 2 independent", tally
    reasons = [folded(r) for r in tanks.locator(".reasons li").all_inner_texts()]
    assert reasons[0] == HEADLINE
    assert reasons[1].endswith("vouched for by the server only, never counted as a confirmation")
    assert folded(tanks.locator(".suggestion p").inner_text()) == (
        "Suggested credibility: 2 — Probably true (a suggestion only: the grades are yours to give)"
    )
    assert folded(tanks.locator(".place").inner_text()) == "Place: 50.46500, 30.51500 — exact"
    fire = event_of(page, FIRE)
    assert folded(fire.locator(".place").inner_text()) == (
        "Place: 49.80000, 30.10000 — grid cell of 10,000 m"
    )
    assert folded(event_of(page, POWER).locator(".place").inner_text()) == "No place given."
    shoot(page, "events")

    handler.press(page.get_by_role("link", name="Most corroborated"))
    titles = event_titles(page)
    assert titles.index(TANKS) < titles.index(FIRE) < titles.index(POWER)
    assert page.locator('.tabs a[aria-current="page"]').inner_text() == "Most corroborated"
    handler.press(page.get_by_role("link", name="Contested"))
    assert event_titles(page) == [] and "No event is contested." in handler.text()


def test_the_filters_narrow_without_javascript(
    chromium: Browser, news: DeskUI, handler: Handler, scene: Scene
) -> None:
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(20_000)
    watch = Watch(news.origin)
    watch.attach(context)
    page = context.new_page()
    page.goto(news.launch)  # the desk is unlocked: the launch link's cookie is enough
    page.goto(news.origin + "/events")
    try:
        form = page.locator("#event-filters")
        form.get_by_label("Words").fill("warehouse")
        with page.expect_navigation():
            form.get_by_role("button", name="Show").click()
        assert event_titles(page) == [FIRE]
        form.get_by_label("Words").fill("Київ")  # Kyiv, as the Ukrainian report spells it
        with page.expect_navigation():
            form.get_by_role("button", name="Show").click()
        assert event_titles(page) == [TANKS]
        form.get_by_label("Words").fill("")
        form.locator("input[name=min_independent]").fill("2")
        with page.expect_navigation():
            form.get_by_role("button", name="Show").click()
        assert event_titles(page) == [TANKS]
        form.locator("input[name=min_independent]").fill("0")
        form.locator("input[name=min_reports]").fill("1")
        form.get_by_label("only with a place").check()
        with page.expect_navigation():
            form.get_by_role("button", name="Show").click()
        assert POWER not in event_titles(page) and {TANKS, FIRE} <= set(event_titles(page))
    finally:
        context.close()
    checked(watch)


# --- one event -------------------------------------------------------------------------


def test_the_event_page_marks_copies_and_the_suggestion_grades_only_when_pressed(
    handler: Handler, scene: Scene
) -> None:
    page = handler.page
    handler.go("/events")
    handler.press(event_of(page, TANKS).locator("h2 a"))
    reports = page.locator("section.event-report")
    assert reports.count() == 4
    marks = {folded(r.locator("h2").inner_text()) for r in reports.all()}
    assert sum("verified" in m for m in marks) == 3
    assert sum("vouched for by the server only" in m for m in marks) == 1
    chloe = reports.filter(has_text=PHOTO_NOTE)
    assert "repeats an earlier report (a copy of its photo or file)" in chloe.inner_text()
    web = reports.filter(has=page.locator(".badge.server.mark"))
    assert "repeats an earlier report (a copy of its text)" in web.inner_text()
    assert chloe.locator("img.shown").count() == 1, "the photo, as the sanitizer re-encoded it"
    shoot(page, "event")

    # Seen, and nothing graded: the suggestion is only shown.
    for section in reports.all():
        select = section.locator("form.grade-form select[name=grade]").first
        assert select.input_value() == "", "not graded"
    bohdan = reports.filter(has_text="Поділ")
    url = page.url
    handler.press(bohdan.get_by_role("button", name="Grade as suggested (2)"))
    assert handler.notice() == "Report credibility recorded."
    assert page.url == f"{url}#item-{scene.bohdan[0]}", "back to the report, on the event"
    bohdan = page.locator("section.event-report").filter(has_text="Поділ")
    assert bohdan.locator(".grade").first.inner_text() == "credibility 2"
    others = page.locator("section.event-report").filter(has_not_text="Поділ")
    assert all(s.locator(".grade").count() == 0 for s in others.all()), "one report graded"

    # The handler thinks Chloe's photo improbable: the event is contested.
    grade = page.locator(f"#item-{scene.chloe[0]} > .actions form.grade-form")
    grade.locator("select[name=grade]").select_option("5")
    handler.press(grade.locator("button"))
    handler.go("/events?order=contested")
    assert event_titles(page) == [TANKS]
    assert event_of(page, TANKS).locator(".badge.contested").inner_text() == "contested"


def test_an_exported_event_carries_its_findings_under_a_manifest_that_verifies(
    org: Org, handler: Handler, scene: Scene, exports: Path
) -> None:
    page = handler.page
    handler.go(f"/events/{scene.web}")
    before = set(exports.iterdir())
    handler.press(page.get_by_role("button", name="Export this event"))
    (folder,) = set(exports.iterdir()) - before
    assert handler.notice().startswith(f"Exported the event to {folder} "), handler.notice()
    assert verify_manifest(folder).handler_id == DeskDir.of(org).handler_id()
    written = json.loads((folder / "reports.json").read_text("utf-8"))
    event = written["event"]
    assert (event["independent"], event["sources"], event["reasons"][0]) == (2, 4, HEADLINE)
    sent = {*scene.ann, *scene.bohdan, *scene.chloe, scene.web}
    assert {i for r in event["reports"] for i in r} == sent
    assert {r["item_id"] for r in written["reports"]} == sent


def test_regrouping_with_a_narrower_window_splits_the_event(handler: Handler, scene: Scene) -> None:
    page = handler.page
    handler.go("/events")
    settings = page.locator("#event-settings")
    assert settings.get_by_label("Time window").input_value() == "3"
    assert settings.get_by_label("Distance").input_value() == "2"
    settings.get_by_label("Time window").fill("0.05")
    handler.press(settings.get_by_role("button", name="Group again"))
    assert handler.notice() == "Grouped again: reports within 0.05 hours and 2 km of each other."
    # 3 minutes: Bohdan's report (10 minutes after Ann's) stands alone;
    # Chloe's photo still joins Ann's, and so do the web contact's words,
    # which give no time of their own (the server's arrival time is none).
    assert event_titles(page).count(TANKS_UK) == 1
    handler.press(event_of(page, TANKS).locator("h2 a"))
    assert page.locator("section.event-report").count() == 3
    handler.go("/events")
    settings.get_by_label("Time window").fill("0")
    handler.press(settings.get_by_role("button", name="Group again"))
    assert handler.notice() == "the time window is between 1 minute and 30 days"
    settings.get_by_label("Time window").fill("3")
    handler.press(settings.get_by_role("button", name="Group again"))
