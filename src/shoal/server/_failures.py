"""How failures become answers, and what (little) of them is logged.

Refusals (:class:`RequestError`, validation errors, unknown routes) become
``{"error": message}`` for the API and the error page for ``/d/…``, with
the same message. Nothing a peer sent is echoed: FastAPI's validation
errors carry the submitted ``input``, so only field locations are kept.

Unexpected exceptions are caught by :class:`ErrorGuard` before Starlette's
or uvicorn's own handlers could log them with their message (which may
quote a request's content); the log gets the exception's type and code
locations only. A client that went away gets no answer and no log line.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import org
from . import _messages as msg
from ._bodies import describe_invalid
from ._i18n import choose
from ._pages import Pages, View
from .errors import ClientGoneError, RequestError

logger = logging.getLogger("shoal.server")
PAGES_PREFIX = "/d/"


def _door_in(path: str) -> str | None:
    """The door of a ``/d/<door>/…`` path, if well formed (for a back link)."""
    parts = path.split("/")
    try:
        return org.check_door(parts[2]) if len(parts) > 2 else None
    except ValueError:
        return None


def error_answer(
    request: Request,
    pages: Pages,
    status: int,
    message: str,
    detail: str = "",
    *,
    fields: Mapping[str, str | int] | None = None,
) -> Response:
    """The error page under ``/d/``, JSON elsewhere; in the request's language.

    ``fields`` go into the JSON beside ``error`` (a resumable upload's
    ``received``): the pages have none."""
    language = choose(request.query_params.get("lang"), request.headers.get("accept-language"))
    said = pages.catalogs.gettext(language.code, message)
    if detail:
        said = f"{said} ({detail})"
    if request.url.path.startswith(PAGES_PREFIX):
        # A way back to the door's start, unless there may be no such door.
        door = _door_in(request.url.path) if status != 404 else None
        # The switcher reloads the page where a GET failed, else the start.
        here = request.url.path if request.method == "GET" or door is None else f"/d/{door}/"
        view = View(language, door, here)
        return pages.render("error.html", view, status, message=said)
    return JSONResponse({"error": said, **(fields or {})}, status_code=status)


# SQLite says so in words; PostgreSQL by SQLSTATE 53100 (disk_full).
_SQLITE_FULL = "database or disk is full"
_POSTGRES_DISK_FULL = "53100"


def is_disk_full(exc: OperationalError) -> bool:
    """A database write refused for lack of space: a normal condition
    (nothing was committed), answered like a full blob store."""
    return _SQLITE_FULL in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == (
        _POSTGRES_DISK_FULL
    )


def install_error_answers(app: FastAPI, pages: Pages) -> None:
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)  # registered for RequestError only
        return error_answer(
            request, pages, exc.status, exc.message, exc.detail, fields=exc.fields()
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = describe_invalid(exc.errors())
        return error_answer(request, pages, 400, msg.MALFORMED_REQUEST, detail)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: msg.NOT_FOUND, 405: msg.METHOD_NOT_ALLOWED}.get(
            exc.status_code, msg.MALFORMED_REQUEST
        )
        return error_answer(request, pages, exc.status_code, message)

    async def database_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OperationalError)
        if not is_disk_full(exc):
            raise exc  # unexpected: ErrorGuard logs its type and answers 500
        return error_answer(request, pages, 507, msg.DISK_FULL)

    app.add_exception_handler(RequestError, refused)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)


class ErrorGuard:
    """Outermost catch: a sanitized log line and a bare 500."""

    def __init__(self, app: ASGIApp, pages: Pages) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientGoneError:
            return
        except Exception as exc:
            frames = "; ".join(
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(exc.__traceback__)
            )
            logger.error("unexpected %s at %s", type(exc).__name__, frames)
            if not started:
                answer = error_answer(Request(scope), self.pages, 500, msg.INTERNAL_ERROR)
                await answer(scope, receive, send)
