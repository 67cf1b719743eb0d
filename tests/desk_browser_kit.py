"""What the desk UI's browser tests share (a module name no other folder uses).

A real ``shoal desk ui`` process over a demo organization's desk (its
launch link read from its output), contacts who write through the server's
contact API, a photo that gives its sender away in its EXIF, a recorder of
what a desk page asks for, and the handler's moves in the UI: open,
unlock, sync, find a contact by what they wrote.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
)

from _served_org import Org

DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
#: Two capitalised words of the EFF list and a two-digit number.
PSEUDONYM = re.compile(r"[A-Z][a-z-]+ [A-Z][a-z-]+ [0-9]{2}")
_LAUNCH = re.compile(r"^(http://127\.0\.0\.1:[0-9]+)/launch\?token=[A-Za-z0-9_-]+$")

# --- the desk UI process ----------------------------------------------------------------


@dataclass
class DeskUI:
    """One running ``shoal desk ui`` and what it printed."""

    door: str
    folder: Path
    passphrase: str
    origin: str
    launch: str
    process: subprocess.Popen[str]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        if self.process.stdout is not None:
            self.process.stdout.close()


def passphrase_of(org: Org, door: str) -> str:
    return (org.root / "passphrases" / f"desk-{door}.passphrase").read_text("utf-8").strip()


def start_desk_ui(
    org: Org, door: str, log_dir: Path, *, export_dir: Path, idle_minutes: float = 30
) -> DeskUI:
    """``shoal desk ui`` on the desk of ``door``; waits for its launch link."""
    folder = org.root / f"desk-{door}"
    log = log_dir / f"desk-ui-{door}.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "desk", "ui", "--dir", str(folder), "--port", "0",
             "--idle-minutes", str(idle_minutes), "--export-dir", str(export_dir)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )  # fmt: skip
    found: list[re.Match[str]] = []
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            match = _LAUNCH.match(line.strip())
            if match:
                found.append(match)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=60)
    if not found:
        process.kill()
        process.wait(timeout=20)
        raise AssertionError(f"shoal desk ui printed no launch link:\n{log.read_text()}")
    match = found[0]
    return DeskUI(
        door, folder, passphrase_of(org, door), match.group(1), match.group(0), process, log
    )


# --- contacts, through the server's contact API ----------------------------------------


@dataclass
class Contact:
    door: str
    codename: str
    session: str


def new_contact(org: Org, door: str) -> Contact:
    answer = httpx.post(f"{org.url}/api/v1/doors/{door}/contacts", timeout=30)
    assert answer.status_code == 201, answer.text
    return Contact(door, answer.json()["codename"], answer.json()["session"])


def send(
    org: Org, contact: Contact, message: str = "", files: list[tuple[str, bytes]] | None = None
) -> list[str]:
    """A submission (a message and files, as the submit page sends them); the item ids."""
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("message", (None, message.encode("utf-8"), "text/plain; charset=utf-8"))
    ]
    parts += [("files", (name, data, "application/octet-stream")) for name, data in files or []]
    answer = httpx.post(
        f"{org.url}/api/v1/doors/{contact.door}/submissions",
        headers={"Authorization": f"Bearer {contact.session}"},
        files=parts,
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    items: list[str] = answer.json()["items"]
    return items


# --- files a contact may send --------------------------------------------------------------

MAKE, MODEL, EXIF_IFD, GPS_IFD, BODY_SERIAL = 0x010F, 0x0110, 0x8769, 0x8825, 0xA431
SERIAL = "SERIAL-CANARY-5512"


def telltale_jpeg() -> bytes:
    """A 64x48 JPEG whose EXIF names a GPS position, the camera and its serial."""
    image = Image.new("RGB", (64, 48), (30, 90, 160))
    image.paste((220, 180, 40), (0, 0, 32, 24))
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[MODEL] = "ModelCanary X1"
    exif.get_ifd(EXIF_IFD)[BODY_SERIAL] = SERIAL
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (50.0, 27.0, 1.0), 3: "E", 4: (30.0, 31.0, 24.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


# --- what a desk page asks for -------------------------------------------------------------


@dataclass
class Watch:
    """Every request and console message of one browser context."""

    origin: str
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.on("request", self._request)
        context.on("console", self._console)

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append((message.type, message.text))

    def outside(self) -> list[str]:
        """Requests to anything but the desk."""
        ours = (self.origin, self.origin + "/")
        return [u for u in self.requests if not (u == ours[0] or u.startswith(ours[1]))]

    def csp(self) -> list[str]:
        """Content-Security-Policy refusals the console reported."""
        return [
            text
            for _, text in self.console
            if "content security policy" in text.lower() or "refused to" in text.lower()
        ]


# --- the handler's moves -------------------------------------------------------------------


def open_desk(browser: Browser, desk: DeskUI) -> tuple[BrowserContext, Page, Watch]:
    """A fresh context (JavaScript on) that has followed the launch link."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(20_000)
    watch = Watch(desk.origin)
    watch.attach(context)
    page = context.new_page()
    page.goto(desk.launch)
    return context, page, watch


def is_locked(page: Page) -> bool:
    return page.locator("input#passphrase").count() > 0


def unlock(page: Page, passphrase: str) -> None:
    page.fill("input#passphrase", passphrase)
    with page.expect_navigation():
        page.click("button:text-is('Unlock')")


def lock(page: Page) -> None:
    with page.expect_navigation():
        page.click("#lock-form button")


def sync(page: Page, desk: DeskUI, *, timeout: float = 90) -> str:
    """Press Sync; wait for the page's own reload when it ends; the status line."""
    with page.expect_navigation():
        page.click("#sync-button")
    deadline = time.monotonic() + timeout
    while True:
        status = page.request.get(f"{desk.origin}/sync/status").json()
        if not status["running"]:
            break
        assert time.monotonic() < deadline, f"sync still running: {status}"
        time.sleep(0.2)
    assert status["phase"] == "done", status
    # The page polls the status, and reloads itself once the sync it saw
    # running has ended: the reloaded page's line says "done" and it was not
    # rendered while the sync ran.
    done = page.locator('#sync-status[data-state="done"]:not([data-running])')
    done.wait_for(timeout=timeout * 1000)
    page.wait_for_load_state("load")
    return done.inner_text()


def contact_of(page: Page, desk: DeskUI, words: str) -> str:
    """The id of the contact who wrote ``words`` (found with the search page,
    which marks nothing read)."""
    answer = page.request.get(f"{desk.origin}/search", params={"q": words})
    assert answer.ok, answer.status
    found = set(re.findall(r'href="/contacts/([A-Za-z0-9_-]+)#item-', answer.text()))
    assert len(found) == 1, (words, found)
    return found.pop()


def item_of(page: Page, desk: DeskUI, words: str) -> str:
    """The id of the one item whose text or file name holds ``words``."""
    answer = page.request.get(f"{desk.origin}/search", params={"q": words})
    found = set(re.findall(r'#item-([A-Za-z0-9_-]+)"', answer.text()))
    found |= set(re.findall(r'href="/forwards#item-([A-Za-z0-9_-]+)"', answer.text()))
    assert len(found) == 1, (words, found)
    return found.pop()


def form_token(page: Page) -> str:
    value = page.locator('input[name="form_token"]').first.get_attribute("value")
    assert value, "no form token in the page"
    return value


@dataclass
class Handler:
    """A handler's browser tab on an unlocked desk, and what it asked for."""

    page: Page
    desk: DeskUI
    watch: Watch

    def go(self, path: str) -> None:
        self.page.goto(self.desk.origin + path)

    def press(self, target: Locator) -> None:
        """Click ``target`` and wait for the page it leads to."""
        with self.page.expect_navigation():
            target.click()

    def sync(self) -> str:
        self.go("/")
        return sync(self.page, self.desk)

    def contact(self, words: str) -> str:
        return contact_of(self.page, self.desk, words)

    def item(self, words: str) -> str:
        return item_of(self.page, self.desk, words)

    def open_contact(self, contact_id: str) -> None:
        self.go(f"/contacts/{contact_id}")

    def notice(self) -> str:
        return folded(self.page.locator("p.notice[role=status]").inner_text())

    def text(self) -> str:
        return folded(self.page.locator("body").inner_text())


def shoot(target: Page | Locator, name: str) -> None:
    """``build/screenshots/desk-<name>.png``: a whole page, or one part of it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"desk-{name}.png"
    if isinstance(target, Locator):
        target.screenshot(path=path)
    else:
        target.screenshot(path=path, full_page=True)


def folded(text: str) -> str:
    return " ".join(text.split())
