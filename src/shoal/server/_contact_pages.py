"""The contact's HTML pages (docs/api.md, "Contact, HTML"), over ContactService.

Plain forms, no JavaScript: every action is a GET link or a POST form, and
every POST that succeeds redirects (303) so that reloading a page never
sends anything twice. Sessions ride only in the ``shoal_session`` cookie
(HttpOnly, SameSite=Strict: another site cannot post with it).

SameSite stops another site *using* a session, not *setting* one: a
cross-site top-level POST to the login form would still log the victim into
the attacker's codename, and the victim's report would land in the
attacker's conversation. So every POST here passes two checks, neither
needing JavaScript:

- ``Sec-Fetch-Site``, when the browser sends it, must say the form came
  from this origin (or from no page at all). Origin is no help: under
  ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` for our own
  forms too.
- A double-submit token: each page with a form sets a random ``shoal_form``
  cookie (if absent) and renders the same value into the form; a POST must
  carry both, equal. Another site can make the browser send the cookie but
  cannot read it to fill in the form. The multipart form carries it in its
  action's query string instead of a field, so that it is checked before a
  byte of the upload is read (the streaming parser in ``_intake`` knows only
  its own fields).

Forms that store something also carry a ``once`` value (``_spent.py``), so
that a double click or a reload stores nothing twice. Pages reached after
a POST say what happened through a ``notice`` name in the address, never
through text taken from a request.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from . import _messages as msg
from ._bodies import drain, read_form
from ._config import Limits
from ._contacts import ContactService
from ._credentials import session_token
from ._i18n import Language, choose
from ._pages import Pages, View
from ._questionnaire import InvalidAnswers, Questionnaire, validate_answers
from ._services import ShownQuestionnaire
from ._sessions import COOKIE_NAME, IDLE_MINUTES
from ._spent import new_once
from .errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RequestError,
    UnauthorizedError,
)

FORM_COOKIE = "shoal_form"
FORM_FIELD = "form_token"
ONCE_FIELD = "once"
# secrets.token_urlsafe(32): anything else in the cookie is replaced, never echoed.
_FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
# "none": typed, bookmarked or reloaded; a form of ours is "same-origin".
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})
#: Where a new contact goes once the codename is typed back, if not to write.
SERVICES_NEXT = "services"
#: What a page reached by redirect says: name in the address -> (text, is an error).
NOTICES: Mapping[str, tuple[str, bool]] = {
    "sent": (msg.SENT, False),
    "already-sent": (msg.ALREADY_SENT, False),
    "applied": (msg.APPLICATION_SENT, False),
    "deleted": (msg.REPLY_DELETED, False),
    "all-deleted": (msg.REPLIES_DELETED, False),
    "logged-in": (msg.LOGGED_IN, False),
    "practiced": (msg.PRACTICE_DONE, False),
    "practiced-services": (msg.PRACTICE_DONE_SERVICES, False),
    "already-codename": (msg.ALREADY_GOT_CODENAME, True),
    "practice-first": (msg.PRACTICE_FIRST, False),
    "idle": (msg.SESSION_IDLE, True),
}


def _set_cookie(request: Request, response: Response, name: str, value: str, path: str) -> None:
    """Both of our cookies: HttpOnly, SameSite=Strict, Secure behind TLS, and
    no max-age: they die with the browser session (Tor Browser forgets them
    on close); a session record itself ends after an idle hour."""
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _set_session(request: Request, response: Response, token: str) -> None:
    _set_cookie(request, response, COOKIE_NAME, token, "/")


def _end_session(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


def language_of(request: Request) -> Language:
    return choose(request.query_params.get("lang"), request.headers.get("accept-language"))


def _see(request: Request, door: str, page: str, **params: str) -> RedirectResponse:
    """303 to another page of the door, keeping a chosen language."""
    view = View(language_of(request), door, path="")
    return RedirectResponse(view.link(page, **params), status_code=303)


def _cookie_token(request: Request) -> str | None:
    token = request.cookies.get(FORM_COOKIE)
    return token if token is not None and _FORM_TOKEN.fullmatch(token) else None


def _check_token(request: Request, sent: str | None) -> None:
    expected = _cookie_token(request)
    # Bytes: compare_digest refuses non-ASCII str, and a peer chooses ``sent``.
    if (
        expected is None
        or sent is None
        or not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace"))
    ):
        raise ForbiddenError(msg.FORM_EXPIRED)


def _same_origin_posts(request: Request) -> None:
    """Every POST under ``/d/``: refuse what the browser says came from elsewhere."""
    if request.method != "POST":
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in _OWN_FETCH_SITES:
        raise ForbiddenError(msg.CROSS_SITE_FORM)


def _idle_notice(refused: UnauthorizedError) -> str:
    """ "idle" for a session that did end; nothing for none at all, or for
    one of another door (which must not hear of it)."""
    return "idle" if refused.message == msg.SESSION_IDLE else ""


def _from_own_page(request: Request) -> bool:
    """The browser says this POST came from one of our own pages: safe to
    show what it carried back to the same person (never across sites)."""
    return request.headers.get("sec-fetch-site", "").strip().lower() == "same-origin"


def _one(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


class StaleFormError(ForbiddenError):
    """A form refused for its token; ``sent`` is what it carried, if read."""

    def __init__(self, sent: dict[str, list[str]] | None) -> None:
        super().__init__(msg.FORM_EXPIRED)
        self.sent = sent


async def _checked_form(
    request: Request, limit: int, max_fields: int | None = None
) -> dict[str, list[str]]:
    """An urlencoded form whose ``form_token`` matches the cookie, else
    :class:`StaleFormError`."""
    # The cookie first: a POST without one is refused before its body is read.
    if _cookie_token(request) is None:
        raise StaleFormError(None)
    try:
        if max_fields is None:
            form = await read_form(request, limit)
        else:
            form = await read_form(request, limit, max_fields)
    except BadRequestError:
        # Our forms always send a well-formed body with the token: this did not
        # come from one of them (or lost its body), so say what helps.
        raise StaleFormError(None) from None
    try:
        _check_token(request, _one(form, FORM_FIELD))
    except ForbiddenError:
        raise StaleFormError(form) from None
    return form


class _Shell:
    """What every page route needs: the service, rendering, and the rules
    that every page follows (form token, language, notices, sessions)."""

    def __init__(
        self,
        service: ContactService,
        pages: Pages,
        limits: Limits,
        questionnaires: Mapping[str, Questionnaire],
    ) -> None:
        self.service = service
        self.pages = pages
        self.limits = limits
        self.questionnaires = questionnaires

    def page(
        self, request: Request, door: str, template: str, status: int = 200, **context: Any
    ) -> Response:
        """A page with forms: their token, and the cookie it must match."""
        fresh = _cookie_token(request) is None
        token = secrets.token_urlsafe(32) if fresh else request.cookies[FORM_COOKIE]
        # The switcher reloads this page; a page shown by a POST has no
        # address of its own to reload, so it switches at the door's start.
        path = request.url.path if request.method == "GET" else f"/d/{door}/"
        view = View(language_of(request), door, path, token, services=door in self.questionnaires)
        notice_name = request.query_params.get("notice")
        text, is_error = NOTICES.get(notice_name or "", (None, False))
        shown = self.pages.catalogs.gettext(view.lang, text) if text else None
        context.setdefault("error", shown if is_error else None)
        context.setdefault("notice", None if is_error else shown)
        response = self.pages.render(template, view, status, **context)
        if fresh:
            _set_cookie(request, response, FORM_COOKIE, token, "/d/")
        return response

    def says(self, request: Request, message: str) -> str:
        return self.pages.catalogs.gettext(language_of(request).code, message)

    def contact_page(
        self, request: Request, door: str, render: Callable[[], Response], *, practiced: bool = True
    ) -> Response:
        """``render`` for a contact with a live session (and, unless
        ``practiced`` is false, one who has typed the codename back)."""
        token = session_token(request, allow_bearer=False)
        try:
            session = self.service.check_session(door, token)
        except UnauthorizedError as refused:
            return _see(request, door, "login", notice=_idle_notice(refused))
        if practiced and not session.practiced:
            return _see(request, door, "practice", notice="practice-first")
        return render()

    def submit_page(
        self, request: Request, door: str, status: int = 200, **context: Any
    ) -> Response:
        context.setdefault("message", "")
        return self.page(
            request,
            door,
            "submit.html",
            status,
            once=new_once(),
            max_files=self.limits.max_files,
            # Binary megabytes, as file managers count: 1 GiB reads 1024 MB.
            max_mb=max(1, self.limits.max_body >> 20),
            idle_minutes=IDLE_MINUTES,
            **context,
        )

    def questionnaire_of(self, door: str) -> Questionnaire:
        self.service.visit(door)
        found = self.questionnaires.get(door)
        if found is None:
            raise NotFoundError(msg.NO_QUESTIONNAIRE)
        return found

    def services_page(
        self,
        request: Request,
        door: str,
        questionnaire: Questionnaire,
        status: int = 200,
        refused: InvalidAnswers | None = None,
        **context: Any,
    ) -> Response:
        lang = language_of(request).code
        shown = ShownQuestionnaire.of(questionnaire, lang, self.pages.catalogs, refused)
        return self.page(
            request, door, "services.html", status, form=shown, once=new_once(), **context
        )


def contact_pages(
    service: ContactService,
    pages: Pages,
    limits: Limits,
    questionnaires: Mapping[str, Questionnaire],
) -> APIRouter:
    router = APIRouter(
        prefix="/d/{door}", include_in_schema=False, dependencies=[Depends(_same_origin_posts)]
    )
    shell = _Shell(service, pages, limits, questionnaires)
    _entry_routes(router, shell)
    _newcomer_routes(router, shell)
    _conversation_routes(router, shell)
    _services_routes(router, shell)
    return router


def _entry_routes(router: APIRouter, shell: _Shell) -> None:
    """Coming in and going out: the landing page, login, logout."""

    @router.get("/")
    def landing(door: str, request: Request) -> Response:
        shell.service.visit(door)
        return shell.page(request, door, "landing.html", once=new_once())

    @router.get("/login")
    def login_form(door: str, request: Request) -> Response:
        shell.service.visit(door)
        return shell.page(request, door, "login.html")

    @router.post("/login")
    async def login(door: str, request: Request) -> Response:
        form = await _checked_form(request, shell.limits.max_small_body)
        try:
            token = await shell.service.login(door, _one(form, "codename") or "")
        except UnauthorizedError as refused:
            error = shell.says(request, refused.message)
            return shell.page(request, door, "login.html", refused.status, error=error)
        response = _see(request, door, "submit", notice="logged-in")
        _set_session(request, response, token)
        return response

    @router.post("/logout")
    async def logout(door: str, request: Request) -> Response:
        await _checked_form(request, shell.limits.max_small_body)
        await run_in_threadpool(
            shell.service.logout, door, session_token(request, allow_bearer=False)
        )
        response = _see(request, door, "goodbye")
        _end_session(response)
        return response

    @router.get("/goodbye")
    def goodbye(door: str, request: Request) -> Response:
        shell.service.visit(door)
        return shell.page(request, door, "goodbye.html")


def _newcomer_routes(router: APIRouter, shell: _Shell) -> None:
    """A new contact: the codename, shown once, then typed back."""

    @router.post("/first-contact")
    async def first_contact(door: str, request: Request) -> Response:
        form = await _checked_form(request, shell.limits.max_small_body)
        follow = _next(form)
        try:
            # A page's form always has its once; a missing one is refused ("").
            once = _one(form, ONCE_FIELD) or ""
            first = await run_in_threadpool(shell.service.first_contact, door, once)
        except ConflictError:
            return _see(request, door, "practice", notice="already-codename", next=follow)
        response = shell.page(request, door, "codename.html", codename=first.codename, next=follow)
        _set_session(request, response, first.session)
        return response

    @router.post("/codename")
    async def codename_again(door: str, request: Request) -> Response:
        """The codename page once more, in the language the contact chose."""
        form = await _checked_form(request, shell.limits.max_small_body)
        codename = _one(form, "codename") or ""
        token = session_token(request, allow_bearer=False)
        try:
            own = await run_in_threadpool(shell.service.is_own_codename, door, token, codename)
        except UnauthorizedError:
            own = False
        if not own:
            return _see(request, door, "practice")
        return shell.page(request, door, "codename.html", codename=codename, next=_next(form))

    @router.get("/practice")
    def practice_form(door: str, request: Request) -> Response:
        return shell.contact_page(
            request,
            door,
            lambda: shell.page(request, door, "practice.html", next=_next(request.query_params)),
            practiced=False,
        )

    @router.post("/practice")
    async def practice(door: str, request: Request) -> Response:
        form = await _checked_form(request, shell.limits.max_small_body)
        follow = _next(form)
        token = session_token(request, allow_bearer=False)
        try:
            ok = await run_in_threadpool(
                shell.service.practiced, door, token, _one(form, "codename") or ""
            )
        except UnauthorizedError as refused:
            return _see(request, door, "login", notice=_idle_notice(refused))
        if not ok:
            error = shell.says(request, msg.PRACTICE_WRONG)
            return shell.page(request, door, "practice.html", 401, next=follow, error=error)
        if follow == SERVICES_NEXT:
            return _see(request, door, SERVICES_NEXT, notice="practiced-services")
        return _see(request, door, "submit", notice="practiced")

    @router.post("/start-over")
    async def start_over(door: str, request: Request) -> Response:
        await _checked_form(request, shell.limits.max_small_body)
        token = session_token(request, allow_bearer=False)
        with contextlib.suppress(UnauthorizedError):  # nothing left to forget
            await run_in_threadpool(shell.service.start_over, door, token)
        response = _see(request, door, "")
        _end_session(response)
        return response


def _conversation_routes(router: APIRouter, shell: _Shell) -> None:
    """Writing, and reading and deleting replies."""

    @router.get("/submit")
    def submit_form(door: str, request: Request) -> Response:
        return shell.contact_page(request, door, lambda: shell.submit_page(request, door))

    @router.post("/submit")
    async def submit(door: str, request: Request) -> Response:
        # From the query string, before the upload's body is read at all.
        try:
            _check_token(request, request.query_params.get(FORM_FIELD))
        except ForbiddenError:
            if not _from_own_page(request):
                raise
            # A page left open past its browser session (New Identity, say):
            # give the message back with a fresh form rather than lose it.
            kept = await shell.service.first_message(request)
            await drain(request, shell.limits.max_body)
            return shell.submit_page(
                request,
                door,
                403,
                error=shell.says(request, msg.FORM_EXPIRED_KEPT),
                message=kept.decode("utf-8", errors="ignore"),
            )
        token = session_token(request, allow_bearer=False)
        typed = bytearray()
        try:
            await shell.service.submit(
                door,
                token,
                request,
                once=request.query_params.get(ONCE_FIELD, ""),
                message=typed,
            )
        except ConflictError:
            return _see(request, door, "submit", notice="already-sent")
        except UnauthorizedError:
            await drain(request, shell.limits.max_body)
            error = shell.says(request, msg.SESSION_ENDED_UNSENT)
            return shell.page(request, door, "login.html", 401, error=error)
        except (ForbiddenError, NotFoundError):
            raise  # not one of our forms, or no such door: nothing to give back
        except RequestError as refused:
            # Refused as a whole (too large, too many files, nothing to send):
            # the page comes back with the message as typed — read now if
            # the body was refused for its declared size before any of it.
            if not typed and not getattr(request.state, "body_started", False):
                typed += await shell.service.first_message(request)
            await drain(request, shell.limits.max_body)
            error = shell.says(request, refused.message)
            message = typed.decode("utf-8", errors="ignore")
            notice = shell.says(request, msg.CHOOSE_FILES_AGAIN) if message else None
            return shell.submit_page(
                request, door, refused.status, error=error, notice=notice, message=message
            )
        return _see(request, door, "submit", notice="sent")

    @router.get("/replies")
    def replies(door: str, request: Request) -> Response:
        def render() -> Response:
            shown = shell.service.replies(door, session_token(request, allow_bearer=False))
            return shell.page(request, door, "replies.html", replies=shown)

        return shell.contact_page(request, door, render)

    @router.post("/replies/{item_id}/delete")
    async def delete_reply(door: str, item_id: str, request: Request) -> Response:
        await _checked_form(request, shell.limits.max_small_body)
        token = session_token(request, allow_bearer=False)
        await run_in_threadpool(shell.service.delete_replies, door, token, item_id)
        return _see(request, door, "replies", notice="deleted")

    @router.get("/replies/delete")
    def confirm_delete_all(door: str, request: Request) -> Response:
        return shell.contact_page(
            request, door, lambda: shell.page(request, door, "delete_all.html")
        )

    @router.post("/replies/delete")
    async def delete_all(door: str, request: Request) -> Response:
        await _checked_form(request, shell.limits.max_small_body)
        token = session_token(request, allow_bearer=False)
        await run_in_threadpool(shell.service.delete_replies, door, token)
        return _see(request, door, "replies", notice="all-deleted")


def _services_routes(router: APIRouter, shell: _Shell) -> None:
    """The offer of services (a door's questionnaire)."""

    @router.get("/services")
    def services_form(door: str, request: Request) -> Response:
        questionnaire = shell.questionnaire_of(door)
        return shell.contact_page(
            request, door, lambda: shell.services_page(request, door, questionnaire)
        )

    async def stale_services(
        request: Request, door: str, questionnaire: Questionnaire, stale: StaleFormError
    ) -> Response:
        """The form again, as it was filled in, when its page had expired."""
        fields = 4 + sum(max(1, len(f.options)) for f in questionnaire.fields)
        try:
            form = stale.sent
            if form is None and not getattr(request.state, "body_started", False):
                form = await read_form(request, shell.limits.max_small_body, fields)
            if form is None:
                raise BadRequestError(msg.MALFORMED_REQUEST)  # read, and unreadable
            answers = validate_answers(
                questionnaire,
                form,
                language=language_of(request).code,
                ignore=(FORM_FIELD, ONCE_FIELD),
            )
            kept = {
                name: (value,) if isinstance(value, str) else tuple(value or ())
                for name, value in answers.values.items()
            }
            refused = InvalidAnswers({}, kept)
        except InvalidAnswers as invalid:
            refused = invalid
        except RequestError:
            refused = None  # not even a form: nothing to give back
        error = shell.says(request, msg.FORM_EXPIRED_KEPT)
        return shell.services_page(request, door, questionnaire, 403, refused, error=error)

    @router.post("/services")
    async def services(door: str, request: Request) -> Response:
        questionnaire = shell.questionnaire_of(door)
        fields = 4 + sum(max(1, len(f.options)) for f in questionnaire.fields)
        try:
            form = await _checked_form(request, shell.limits.max_small_body, max_fields=fields)
        except StaleFormError as stale:
            if not _from_own_page(request):
                raise
            return await stale_services(request, door, questionnaire, stale)
        language = language_of(request).code
        try:
            answers = validate_answers(
                questionnaire, form, language=language, ignore=(FORM_FIELD, ONCE_FIELD)
            )
        except InvalidAnswers as refused:
            # An error about the form as a whole, else "see the fields below".
            error = shell.says(request, refused.errors.get("") or msg.FIX_ANSWERS)
            return shell.services_page(request, door, questionnaire, 400, refused, error=error)
        token = session_token(request, allow_bearer=False)
        try:
            await shell.service.apply(door, token, answers.content(), _one(form, ONCE_FIELD) or "")
        except ConflictError:
            return _see(request, door, "services", notice="already-sent")
        except UnauthorizedError:
            error = shell.says(request, msg.SESSION_ENDED_UNSENT)
            return shell.page(request, door, "login.html", 401, error=error)
        return _see(request, door, "submit", notice="applied")


def _next(values: Mapping[str, Any]) -> str:
    """Where a new contact goes after the practice step: :data:`SERVICES_NEXT`,
    or "" for the usual (writing). Never any other page: it goes in links."""
    value = values.get("next")
    if isinstance(value, list):
        value = value[-1] if value else None
    return SERVICES_NEXT if value == SERVICES_NEXT else ""
