"""The contact's HTML pages (docs/api.md, "Contact, HTML"), over ContactService.

Plain forms, no JavaScript: every action is a GET link or a POST form, and
every POST that succeeds redirects (303) so that reloading a page never
sends anything twice. Sessions ride only in the ``shoal_session`` cookie
(HttpOnly, SameSite=Strict: another site cannot post with it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ._bodies import read_form
from ._config import Limits
from ._contacts import ContactService
from ._credentials import session_token
from ._pages import Pages
from ._sessions import COOKIE_NAME
from .errors import UnauthorizedError


def _set_session(response: Response, token: str) -> None:
    # No max-age: the cookie dies with the browser session (Tor Browser
    # forgets it on close); the record itself expires after two hours.
    response.set_cookie(COOKIE_NAME, token, path="/", httponly=True, samesite="strict")


def _see(door: str, page: str) -> RedirectResponse:
    return RedirectResponse(f"/d/{door}/{page}", status_code=303)


def contact_pages(service: ContactService, pages: Pages, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/d/{door}", include_in_schema=False)

    @router.get("/")
    def landing(door: str) -> Response:
        service.visit(door)
        return pages.render("landing.html", door=door)

    @router.post("/first-contact")
    def first_contact(door: str) -> Response:
        first = service.first_contact(door)
        response = pages.render("codename.html", door=door, codename=first.codename)
        _set_session(response, first.session)
        return response

    @router.get("/login")
    def login_form(door: str) -> Response:
        service.visit(door)
        return pages.render("login.html", door=door, error=None)

    @router.post("/login")
    async def login(door: str, request: Request) -> Response:
        form = await read_form(request, limits.max_small_body)
        try:
            token = await run_in_threadpool(service.login, door, form.get("codename", ""))
        except UnauthorizedError as refused:
            return pages.render("login.html", refused.status, door=door, error=refused.message)
        response = _see(door, "submit")
        _set_session(response, token)
        return response

    @router.get("/submit")
    def submit_form(door: str, request: Request, sent: int = 0) -> Response:
        try:
            service.check_session(door, session_token(request, allow_bearer=False))
        except UnauthorizedError:
            return _see(door, "login")
        return pages.render("submit.html", door=door, sent=sent > 0)

    @router.post("/submit")
    async def submit(door: str, request: Request) -> Response:
        await service.submit(door, session_token(request, allow_bearer=False), request)
        # A flag, not a count: the address may stay in the browser's history.
        return _see(door, "submit?sent=1")

    @router.get("/replies")
    def replies(door: str, request: Request) -> Response:
        try:
            shown = service.replies(door, session_token(request, allow_bearer=False))
        except UnauthorizedError:
            return _see(door, "login")
        return pages.render("replies.html", door=door, replies=shown)

    @router.post("/logout")
    def logout(door: str, request: Request) -> Response:
        service.logout(door, session_token(request, allow_bearer=False))
        response = _see(door, "")
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    return router
