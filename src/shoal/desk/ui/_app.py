"""The desk UI's routes: pages rendered here, one small script for shortcuts.

One handler, one browser: the UI's state is one :class:`Desk` — locked (no
:class:`Workbench`, so no keys and no decrypted text in the process) or
unlocked. Locking happens on the lock button or its key, after the idle
time set at launch, and before any request that arrives after that time.
Polling the sync status is not activity: an open tab must not keep the
desk unlocked forever.

Everything a contact wrote is untrusted: Jinja escapes every value; files
are downloads (``Content-Disposition: attachment``, ``application/
octet-stream``, a ``sandbox`` policy) and never rendered, except images,
which are shown only as the PNG the sanitizer re-encoded in a separate
process (:mod:`shoal.desk._imaging`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ... import trusted
from .. import _grading as grading
from .. import _lifecycle as lifecycle
from .._application import parse_application
from .._imaging import CleanImage, isolation
from .._items import safe_file_name
from .._library import Filters, ItemRow
from .._state import Layout
from .._verdict import REPORT, REPORT_FILE
from .._workbench import Workbench
from ..errors import DeskError
from ._events_pages import EventPages
from ._guard import FORM_FIELD, Tokens

PAGE = 50
IMAGE_CACHE = 64
_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_ANCHOR = re.compile(r"item-[0-9A-Za-z_-]{1,64}")


class _Stopped(Exception):
    """The desk was locked while a sync ran: the sync stops."""


@dataclass
class SyncJob:
    running: bool = False
    phase: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "warnings": self.warnings,
        }


class _Counter:
    def __init__(self, desk: Desk, phase: str, generation: int) -> None:
        self._desk = desk
        self._phase = phase
        self._generation = generation

    def expect(self, count: int) -> None:
        job = self._desk.sync
        if job.phase != self._phase:
            job.phase, job.done, job.total = self._phase, 0, 0
        job.total += count

    def advance(self) -> None:
        if self._desk.generation != self._generation:
            raise _Stopped
        self._desk.sync.done += 1


class Desk:
    """The UI's whole state."""

    def __init__(self, layout: Layout, *, idle_seconds: float, export_dir: Path) -> None:
        self.layout = layout
        self.idle_seconds = idle_seconds
        self.export_dir = export_dir
        self.workbench: Workbench | None = None
        self.generation = 0  # bumped at each lock: a running sync sees it and stops
        self.last_activity = time.monotonic()
        self.sync = SyncJob()
        self.notice: tuple[str, str] | None = None
        self._images: collections.OrderedDict[str, CleanImage] = collections.OrderedDict()
        self._mutex = threading.Lock()

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def idle_expired(self) -> bool:
        return time.monotonic() - self.last_activity > self.idle_seconds

    def lock(self) -> None:
        with self._mutex:
            workbench, self.workbench = self.workbench, None
            self.generation += 1
            self._images.clear()
            self.notice = None
        if workbench is not None:
            workbench.close()

    def say(self, text: str, kind: str = "ok") -> None:
        self.notice = (kind, text)

    def image(self, workbench: Workbench, item_id: str) -> CleanImage:
        cached = self._images.get(item_id)
        if cached is None:
            cached = workbench.image(item_id)
            self._images[item_id] = cached
            while len(self._images) > IMAGE_CACHE:
                self._images.popitem(last=False)
        return cached

    def start_sync(self) -> bool:
        workbench = self.workbench
        if workbench is None or self.sync.running:
            return False
        self.sync = SyncJob(running=True, phase="connecting")
        generation = self.generation
        thread = threading.Thread(
            target=self._sync, args=(workbench, generation), name="desk-sync", daemon=True
        )
        thread.start()
        return True

    def _sync(self, workbench: Workbench, generation: int) -> None:
        job = self.sync
        try:
            report = workbench.sync(
                _Counter(self, "downloading", generation), _Counter(self, "indexing", generation)
            )
            job.warnings = list(report.warnings)
            job.message = f"Epoch {report.epoch}: {report.new_items} new item(s)."
            if report.resealed:
                job.message += f" {report.resealed} late item(s) re-sealed."
            job.phase = "done"
        except _Stopped:
            job.phase, job.message = "stopped", "Stopped: the desk was locked."
        except (DeskError, trusted.TrustedError) as exc:
            job.phase, job.message = "failed", str(exc)
        except OSError as exc:
            job.phase, job.message = "failed", f"Sync failed: {exc.strerror or exc}"
        finally:
            job.running = False


def _templates() -> Jinja2Templates:
    folder = resources.files("shoal.desk.ui") / "templates"
    templates = Jinja2Templates(directory=str(folder))
    templates.env.globals.update(
        RELIABILITY=grading.RELIABILITY,
        CREDIBILITY=grading.CREDIBILITY,
        STATES=[s.value for s in lifecycle.State],
    )
    return templates


class _UI:
    def __init__(self, desk: Desk, tokens: Tokens) -> None:
        self.desk = desk
        self.tokens = tokens
        self.templates = _templates()

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        notice, self.desk.notice = self.desk.notice, None
        workbench = self.desk.workbench
        base = {
            "form_field": FORM_FIELD,
            "form_token": self.tokens.form,
            "notice": notice,
            "unlocked": workbench is not None,
            "idle_minutes": self.desk.idle_seconds / 60,
            # A sync that ends between this page and its script's first poll
            # must still reload it: the script starts from this.
            "syncing": self.desk.sync.running,
            "handler_id": workbench.handler_id if workbench else "",
            "door": workbench.config.door if workbench else "",
        }
        return self.templates.TemplateResponse(
            request, name, {**base, **context}, status_code=status
        )

    def back(self, path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    async def shown(self, workbench: Workbench, rows: Sequence[ItemRow]) -> list[Shown]:
        """Items as the conversation shows them, files under their report."""
        return _grouped([await _shown(self.desk, workbench, row) for row in rows])

    async def form(self, request: Request) -> dict[str, str]:
        data = await request.form()
        values = {k: v for k, v in data.items() if isinstance(v, str)}
        token = values.get(FORM_FIELD) or request.scope.get("state", {}).get("form_header")
        if not self.tokens.form_ok(token):
            raise _FormRefused
        return values

    def unlocked(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Routes that need the keys: locked (or idle too long) → the unlock page."""

        async def wrapped(request: Request) -> Response:
            if self.desk.workbench is not None and self.desk.idle_expired():
                self.desk.lock()
                self.desk.say("Locked after inactivity.", "warn")
            workbench = self.desk.workbench
            if workbench is None:
                if request.method == "GET" and request.url.path == "/":
                    return self.page(request, "unlock.html")
                return self.back("/")
            self.desk.touch()
            try:
                response: Response = await handler(request, workbench)
                return response
            except _FormRefused:
                return PlainTextResponse("Refused: this form is not from this desk.", 403)
            except (DeskError, ValueError) as exc:
                self.desk.say(str(exc), "error")
                values = await self.form(request) if request.method == "POST" else {}
                return self.back(_return_to(request, values))

        return wrapped

    # -- unlock and lock ---------------------------------------------------

    async def unlock(self, request: Request) -> Response:
        try:
            values = await self.form(request)
        except _FormRefused:
            return PlainTextResponse("Refused: this form is not from this desk.", 403)
        if self.desk.workbench is not None:
            return self.back("/")  # unlocked already: one workbench, never two
        passphrase = values.get("passphrase", "")
        try:
            workbench = await run_in_threadpool(Workbench.unlock, self.desk.layout, passphrase)
        except trusted.WrongPassphraseError:
            return self.page(request, "unlock.html", 401, error="Wrong passphrase.")
        except (DeskError, trusted.TrustedError) as exc:
            return self.page(request, "unlock.html", 409, error=str(exc))
        del passphrase, values
        self.desk.workbench = workbench
        self.desk.touch()
        items, contacts = workbench.library.counts()
        self.desk.say(f"Unlocked: {items} item(s) from {contacts} contact(s).")
        return self.back("/")

    async def lock(self, request: Request) -> Response:
        try:
            await self.form(request)
        except _FormRefused:
            return PlainTextResponse("Refused: this form is not from this desk.", 403)
        self.desk.lock()
        self.desk.say("Locked. The keys and everything decrypted were dropped.")
        return self.back("/")

    # -- reading -------------------------------------------------------------

    async def inbox(self, request: Request, workbench: Workbench) -> Response:
        state = request.query_params.get("state", "")
        state = state if state in {s.value for s in lifecycle.State} else ""
        offset = _int(request.query_params.get("offset"), 0)
        with workbench.lock:
            contacts = workbench.library.inbox(offset=offset, limit=PAGE + 1, state=state)
            forwards = workbench.library.forward_count()
            counts = workbench.library.counts()
        return self.page(
            request,
            "inbox.html",
            contacts=contacts[:PAGE],
            more=len(contacts) > PAGE,
            offset=offset,
            state=state,
            page_size=PAGE,
            forwards=forwards,
            counts=counts,
            synced_once=workbench.synced_once,
        )

    async def conversation(self, request: Request, workbench: Workbench) -> Response:
        contact_id = request.path_params["contact"]
        with workbench.lock:
            contact = workbench.library.contact(contact_id)
            items = workbench.library.conversation(contact_id) if contact else []
            following = _next_unread(workbench, contact_id)
        if contact is None:
            return PlainTextResponse("No such contact on this desk.", 404)
        shown = _grouped([await _shown(self.desk, workbench, item) for item in items])
        await run_in_threadpool(workbench.mark_read, [i.item_id for i in items])
        state = lifecycle.State(contact.state)
        return self.page(
            request,
            "contact.html",
            contact=contact,
            items=shown,
            steps=json.loads(contact.steps),
            # In the lifecycle's order: sorted by name, "cut" came first and
            # was what the form held by default.
            moves=[s.value for s in lifecycle.State if s in lifecycle.TRANSITIONS[state]],
            key_states=sorted(s.value for s in lifecycle.KEY_STATES),
            next_unread=following,
        )

    async def forwards(self, request: Request, workbench: Workbench) -> Response:
        with workbench.lock:
            items = workbench.library.forwards()
        shown = [await _shown(self.desk, workbench, item) for item in items]
        await run_in_threadpool(workbench.mark_read, [i.item_id for i in items])
        return self.page(request, "forwards.html", items=shown)

    async def search(self, request: Request, workbench: Workbench) -> Response:
        q = request.query_params
        filters = Filters(
            text=q.get("q", "")[:500],
            state=q.get("state", "")
            if q.get("state") in {s.value for s in lifecycle.State}
            else "",
            reliability=q.get("reliability", "")
            if q.get("reliability") in grading.RELIABILITY
            else "",
            credibility=q.get("credibility", "")
            if q.get("credibility") in grading.CREDIBILITY
            else "",
            tag=q.get("tag", "")[:40],
            since=q.get("since", "") if _DAY.match(q.get("since", "")) else "",
            until=q.get("until", "") if _DAY.match(q.get("until", "")) else "",
        )
        started = time.perf_counter()
        with workbench.lock:
            found = workbench.library.search(filters)
            names = {
                i.contact: (c.pseudonym if (c := workbench.library.contact(i.contact)) else "")
                for i in found
                if i.contact
            }
            tags = workbench.library.all_tags()
            indexed, loaded = workbench.library.search_progress
        took = (time.perf_counter() - started) * 1000
        return self.page(
            request,
            "search.html",
            filters=filters,
            found=found,
            names=names,
            tags=tags,
            took_ms=took,
            indexing=(indexed, loaded) if indexed < loaded else None,
            searched=any(
                q.get(k)
                for k in ("q", "state", "reliability", "credibility", "tag", "since", "until")
            ),
        )

    async def download(self, request: Request, workbench: Workbench) -> Response:
        item_id = request.path_params["item"]
        with workbench.lock:
            row = workbench.library.item(item_id)
        if row is None:
            return PlainTextResponse("No such item on this desk.", 404)
        name = safe_file_name(row.name or f"{item_id}.txt")
        ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
        headers = {
            "Content-Disposition": (
                f'attachment; filename="{ascii_name}"; '
                f"filename*=UTF-8''{urllib.parse.quote(name)}"
            ),
            "Content-Security-Policy": "sandbox; default-src 'none'",
        }
        return StreamingResponse(
            iterate_in_threadpool(workbench.stream(item_id)),
            media_type="application/octet-stream",
            headers=headers,
        )

    async def image(self, request: Request, workbench: Workbench) -> Response:
        item_id = request.path_params["item"]
        try:
            clean = await run_in_threadpool(self.desk.image, workbench, item_id)
        except DeskError:
            return PlainTextResponse("This image is shown as a download only.", 415)
        return Response(clean.png, media_type="image/png")

    # -- acting ---------------------------------------------------------------

    async def reply(self, request: Request, workbench: Workbench) -> Response:
        contact_id = request.path_params["contact"]
        values = await self.form(request)
        text = values.get("text", "").strip()
        if not text:
            raise ValueError("A reply needs a text.")
        reply_id = await run_in_threadpool(workbench.reply, contact_id, text)
        self.desk.say(
            f"Reply {reply_id} sent, signed and sealed. It appears here at the next sync."
        )
        return self.back(f"/contacts/{contact_id}")

    async def move(self, request: Request, workbench: Workbench) -> Response:
        contact_id = request.path_params["contact"]
        values = await self.form(request)
        to = lifecycle.State(values.get("to", ""))
        key = values.get("member_key", "").strip() or None
        moved, alarms = await run_in_threadpool(
            workbench.move, contact_id, to, values.get("reason", ""), key
        )
        text = f"Moved: {moved.before.state.value} → {moved.after.state.value}; signed and logged."
        self.desk.say(" ".join([text, *alarms]), "warn" if alarms else "ok")
        return self.back(f"/contacts/{contact_id}")

    async def grade_source(self, request: Request, workbench: Workbench) -> Response:
        contact_id = request.path_params["contact"]
        values = await self.form(request)
        await run_in_threadpool(workbench.grade_source, contact_id, values.get("grade", ""))
        self.desk.say("Source reliability recorded.")
        return self.back(f"/contacts/{contact_id}")

    async def note(self, request: Request, workbench: Workbench) -> Response:
        contact_id = request.path_params["contact"]
        values = await self.form(request)
        await run_in_threadpool(workbench.note, contact_id, values.get("text", ""))
        self.desk.say("Note saved (encrypted on this desk).")
        return self.back(f"/contacts/{contact_id}")

    async def grade_report(self, request: Request, workbench: Workbench) -> Response:
        item_id = request.path_params["item"]
        values = await self.form(request)
        await run_in_threadpool(workbench.grade_report, item_id, values.get("grade", ""))
        self.desk.say("Report credibility recorded.")
        return self.back(_return_to(request, values))

    async def tag(self, request: Request, workbench: Workbench) -> Response:
        item_id = request.path_params["item"]
        values = await self.form(request)
        tags = [t for t in values.get("tags", "").split(",")]
        await run_in_threadpool(workbench.tag, item_id, tags)
        self.desk.say("Tags saved.")
        return self.back(_return_to(request, values))

    async def forward_form(self, request: Request, workbench: Workbench) -> Response:
        item_id = request.path_params["item"]
        row = workbench.library.item(item_id)
        if row is None:
            return PlainTextResponse("No such item on this desk.", 404)
        doors = await run_in_threadpool(workbench.forward_doors)
        return self.page(request, "forward.html", item=row, doors=doors)

    async def forward(self, request: Request, workbench: Workbench) -> Response:
        item_id = request.path_params["item"]
        values = await self.form(request)
        door = values.get("door", "")
        sent = await run_in_threadpool(workbench.forward, item_id, door)
        said = f"Forwarded to door {door} as {sent.forward_id}: scrubbed, sealed and signed."
        if sent.scrubbed:
            said += f" Removed from the file: {'; '.join(sent.scrubbed)}."
        elif sent.scrubbed is not None:
            said += " The file carried no metadata to remove."
        self.desk.say(said)
        return self.back(_return_to(request, values))

    async def export(self, request: Request, workbench: Workbench) -> Response:
        data = await request.form()
        token = data.get(FORM_FIELD)
        if not isinstance(token, str) or not self.tokens.form_ok(token):
            raise _FormRefused
        values = {k: v for k, v in data.items() if isinstance(v, str)}
        ids = [v for v in data.getlist("item") if isinstance(v, str)]
        if not ids:
            raise ValueError("Select the reports to export first.")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.desk.export_dir / f"shoal-export-{stamp}"
        manifest = await run_in_threadpool(workbench.export, ids, target)
        self.desk.say(
            f"Exported {len(ids)} report(s) to {target} (plaintext: mind where it goes). "
            f"Check it with: shoal desk verify-manifest {manifest.parent}"
        )
        return self.back(_return_to(request, values))

    async def sync(self, request: Request, workbench: Workbench) -> Response:
        values = await self.form(request)
        if self.desk.start_sync():
            self.desk.say("Sync started.")
        return self.back(_return_to(request, values))

    async def sync_status(self, request: Request) -> Response:
        # Polled by the page's script: not activity, and no keys needed.
        if self.desk.workbench is not None and self.desk.idle_expired():
            self.desk.lock()
            # The page goes to "/" next: say why, as the other idle locks do.
            self.desk.say("Locked after inactivity.", "warn")
        return JSONResponse({**self.desk.sync.as_json(), "locked": self.desk.workbench is None})

    async def about(self, request: Request, workbench: Workbench) -> Response:
        return self.page(request, "about.html", isolation=isolation())

    async def no_icon(self, request: Request) -> Response:
        # Browsers ask for /favicon.ico by themselves; a 404 is an error in
        # the console, where a real problem (a CSP refusal) must stand out.
        return Response(status_code=204)

    def app(self) -> Starlette:
        static = str(resources.files("shoal.desk.ui") / "static")
        events = EventPages(self)
        routes = [
            Route("/", self.unlocked(self.inbox)),
            Route("/unlock", self.unlock, methods=["POST"]),
            Route("/lock", self.lock, methods=["POST"]),
            Route("/search", self.unlocked(self.search)),
            Route("/forwards", self.unlocked(self.forwards)),
            Route("/about", self.unlocked(self.about)),
            Route("/events", self.unlocked(events.index)),
            Route("/events/settings", self.unlocked(events.regroup), methods=["POST"]),
            Route("/events/{key}", self.unlocked(events.show)),
            Route("/events/{key}/export", self.unlocked(events.export), methods=["POST"]),
            Route("/favicon.ico", self.no_icon),
            Route("/sync", self.unlocked(self.sync), methods=["POST"]),
            Route("/sync/status", self.sync_status),
            Route("/export", self.unlocked(self.export), methods=["POST"]),
            Route("/contacts/{contact}", self.unlocked(self.conversation)),
            Route("/contacts/{contact}/reply", self.unlocked(self.reply), methods=["POST"]),
            Route("/contacts/{contact}/move", self.unlocked(self.move), methods=["POST"]),
            Route(
                "/contacts/{contact}/reliability",
                self.unlocked(self.grade_source),
                methods=["POST"],
            ),
            Route("/contacts/{contact}/note", self.unlocked(self.note), methods=["POST"]),
            Route("/items/{item}/download", self.unlocked(self.download)),
            Route("/items/{item}/image", self.unlocked(self.image)),
            Route("/items/{item}/credibility", self.unlocked(self.grade_report), methods=["POST"]),
            Route("/items/{item}/tags", self.unlocked(self.tag), methods=["POST"]),
            Route("/items/{item}/forward", self.unlocked(self.forward_form)),
            Route("/items/{item}/forward", self.unlocked(self.forward), methods=["POST"]),
            Mount("/static", StaticFiles(directory=static), name="static"),
        ]
        return Starlette(routes=routes)


def create_app(desk: Desk, tokens: Tokens) -> Starlette:
    return _UI(desk, tokens).app()


class _FormRefused(Exception):
    pass


@dataclass(frozen=True)
class Shown:
    """An item as the conversation page shows it."""

    row: ItemRow
    image_ok: bool
    warnings: tuple[str, ...]
    application: Any
    #: A member's report: the files sent with it (each a report-file item).
    files: tuple[Shown, ...] = ()


def _grouped(shown: list[Shown]) -> list[Shown]:
    """A thread with each member's files under their report: a file whose
    report has not arrived (or was rejected) stays in its own place."""
    reports = {
        s.row.report: i
        for i, s in enumerate(shown)
        if s.row.kind == REPORT and s.row.report and s.row.standing != "rejected"
    }

    def home(s: Shown) -> int | None:
        if s.row.kind != REPORT_FILE or s.row.report is None:
            return None
        return reports.get(s.row.report)

    files: dict[int, list[Shown]] = {}
    for s in shown:
        if (at := home(s)) is not None:
            files.setdefault(at, []).append(s)
    return [
        dataclasses.replace(s, files=tuple(files.get(i, ())))
        for i, s in enumerate(shown)
        if home(s) is None
    ]


async def _shown(desk: Desk, workbench: Workbench, row: ItemRow) -> Shown:
    warnings: tuple[str, ...] = ()
    image_ok = False
    application = None
    if row.image and not row.error:
        try:
            clean = await run_in_threadpool(desk.image, workbench, row.item_id)
            image_ok = True
            warnings = tuple(clean.revealed.warnings())
        except DeskError as exc:
            warnings = (str(exc),)
    if row.kind == "application" and row.text:
        try:
            application = parse_application(row.text.encode("utf-8"))
        except DeskError:
            warnings = ("This offer of services is malformed: not shown.",)
    return Shown(row, image_ok, warnings, application)


def _next_unread(workbench: Workbench, current: str) -> str | None:
    for contact in workbench.library.inbox(limit=500):
        if contact.unread and contact.contact_id != current:
            return contact.contact_id
    return None


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value or default))
    except ValueError:
        return default


def _return_to(request: Request, values: dict[str, str] | None = None) -> str:
    """Where to go after a form: the page it names in its ``back`` field,
    if that is a path of this desk (the Referer, sent or not by the
    referrer policy, is not relied on)."""
    parsed = urllib.parse.urlsplit((values or {}).get("back", "/"))
    if parsed.scheme or parsed.netloc or not parsed.path.startswith("/"):
        return "/"
    if parsed.path.startswith("//") or "\\" in parsed.path:
        return "/"
    # Back to the item the form was on (the page's script focuses it), not
    # to the top of a long conversation.
    anchor = f"#{parsed.fragment}" if _ANCHOR.fullmatch(parsed.fragment) else ""
    return parsed.path + (f"?{parsed.query}" if parsed.query else "") + anchor
