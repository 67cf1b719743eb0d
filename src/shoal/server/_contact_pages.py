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
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from . import _messages as msg
from ._bodies import read_form
from ._config import Limits
from ._contacts import ContactService
from ._credentials import session_token
from ._pages import Pages
from ._sessions import COOKIE_NAME
from .errors import BadRequestError, ForbiddenError, UnauthorizedError

FORM_COOKIE = "shoal_form"
FORM_FIELD = "form_token"
# secrets.token_urlsafe(32): anything else in the cookie is replaced, never echoed.
_FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
# "none": typed, bookmarked or reloaded; a form of ours is "same-origin".
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def _set_session(response: Response, token: str) -> None:
    # No max-age: the cookie dies with the browser session (Tor Browser
    # forgets it on close); the record itself expires after two hours.
    response.set_cookie(COOKIE_NAME, token, path="/", httponly=True, samesite="strict")


def _see(door: str, page: str) -> RedirectResponse:
    return RedirectResponse(f"/d/{door}/{page}", status_code=303)


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


async def _checked_form(request: Request, limit: int) -> dict[str, str]:
    """An urlencoded form whose ``form_token`` matches the cookie."""
    # The cookie first: a POST without one is refused before its body is read.
    if _cookie_token(request) is None:
        raise ForbiddenError(msg.FORM_EXPIRED)
    try:
        form = await read_form(request, limit)
    except BadRequestError:
        # Our forms always send a well-formed body with the token: this did not
        # come from one of them (or lost its body), so say what helps.
        raise ForbiddenError(msg.FORM_EXPIRED) from None
    _check_token(request, form.get(FORM_FIELD))
    return form


def contact_pages(service: ContactService, pages: Pages, limits: Limits) -> APIRouter:
    router = APIRouter(
        prefix="/d/{door}", include_in_schema=False, dependencies=[Depends(_same_origin_posts)]
    )

    def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
        """A page with forms: their token, and the cookie it must match."""
        fresh = _cookie_token(request) is None
        token = secrets.token_urlsafe(32) if fresh else request.cookies[FORM_COOKIE]
        response = pages.render(template, status, form_token=token, **context)
        if fresh:
            # No max-age, like shoal_session: it dies with the browser session.
            response.set_cookie(FORM_COOKIE, token, path="/d/", httponly=True, samesite="strict")
        return response

    @router.get("/")
    def landing(door: str, request: Request) -> Response:
        service.visit(door)
        return page(request, "landing.html", door=door)

    @router.post("/first-contact")
    async def first_contact(door: str, request: Request) -> Response:
        await _checked_form(request, limits.max_small_body)
        first = await run_in_threadpool(service.first_contact, door)
        response = pages.render("codename.html", door=door, codename=first.codename)
        _set_session(response, first.session)
        return response

    @router.get("/login")
    def login_form(door: str, request: Request) -> Response:
        service.visit(door)
        return page(request, "login.html", door=door, error=None)

    @router.post("/login")
    async def login(door: str, request: Request) -> Response:
        form = await _checked_form(request, limits.max_small_body)
        try:
            token = await run_in_threadpool(service.login, door, form.get("codename", ""))
        except UnauthorizedError as refused:
            return page(request, "login.html", refused.status, door=door, error=refused.message)
        response = _see(door, "submit")
        _set_session(response, token)
        return response

    @router.get("/submit")
    def submit_form(door: str, request: Request, sent: int = 0) -> Response:
        try:
            service.check_session(door, session_token(request, allow_bearer=False))
        except UnauthorizedError:
            return _see(door, "login")
        return page(request, "submit.html", door=door, sent=sent > 0)

    @router.post("/submit")
    async def submit(door: str, request: Request) -> Response:
        # From the query string, before the upload's body is read at all.
        _check_token(request, request.query_params.get(FORM_FIELD))
        await service.submit(door, session_token(request, allow_bearer=False), request)
        # A flag, not a count: the address may stay in the browser's history.
        return _see(door, "submit?sent=1")

    @router.get("/replies")
    def replies(door: str, request: Request) -> Response:
        try:
            shown = service.replies(door, session_token(request, allow_bearer=False))
        except UnauthorizedError:
            return _see(door, "login")
        return page(request, "replies.html", door=door, replies=shown)

    @router.post("/logout")
    async def logout(door: str, request: Request) -> Response:
        await _checked_form(request, limits.max_small_body)
        await run_in_threadpool(service.logout, door, session_token(request, allow_bearer=False))
        response = _see(door, "")
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    return router
