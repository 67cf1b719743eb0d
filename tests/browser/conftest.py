"""Fixtures for the real-browser tests: one served organization and one
Chromium per module, a fresh JavaScript-less context per use, and the
rules every context must keep (checked when the test ends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kit import PHONE, Browse, Recorder, Weight, report_weights, start_org
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from _served_org import Org
from _tools import require_tool
from desk_browser_kit import DeskUI, start_desk_ui


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    served = start_org(tmp_path_factory.mktemp("browser-org"))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Debian's Chromium (apt-get install chromium); never `playwright install`.
    path = require_tool("chromium", "the contact pages are tested in a real browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def weights() -> Iterator[dict[str, Weight]]:
    """Each checked page's weight; printed and written to build/ at the end."""
    found: dict[str, Weight] = {}
    yield found
    report_weights(found)


@pytest.fixture
def browse(chromium: Browser, org: Org) -> Iterator[Browse]:
    """New contexts (fresh cookies, no JavaScript, a phone's screen); when the
    test ends, each must have asked only its origin for anything, never for a
    script, and met no Content-Security-Policy refusal."""
    opened: list[tuple[BrowserContext, Recorder]] = []

    def new(accept_language: str = "en-US,en;q=0.5") -> tuple[BrowserContext, Recorder]:
        context = chromium.new_context(
            java_script_enabled=False,
            viewport=PHONE,
            locale=accept_language.split(",", maxsplit=1)[0],
            extra_http_headers={"Accept-Language": accept_language},
        )
        context.set_default_timeout(15_000)
        recorder = Recorder(org.url)
        recorder.attach(context)
        opened.append((context, recorder))
        return context, recorder

    yield new
    problems = []
    for context, recorder in opened:
        context.close()
        assert recorder.requests, "the context recorded no request at all"
        problems += recorder.problems()
    assert problems == []


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where a module's desk UI writes its exports."""
    return tmp_path_factory.mktemp("desk-exports")


@pytest.fixture(scope="module")
def news(org: Org, tmp_path_factory: pytest.TempPathFactory, exports: Path) -> Iterator[DeskUI]:
    """The "news" door's desk UI, for the modules that drive a desk."""
    desk = start_desk_ui(org, "news", tmp_path_factory.mktemp("desk-ui"), export_dir=exports)
    try:
        yield desk
    finally:
        desk.stop()
