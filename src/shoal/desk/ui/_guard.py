"""Only this desk's browser drives the desk UI.

The UI listens on loopback, but loopback is shared: another local user can
connect, and any web page the handler visits can make the browser send
requests to 127.0.0.1 (and, through DNS rebinding, read the answers under
a name of its own). So, before any route runs:

- the ``Host`` header must name the loopback address and port the UI was
  started on (a rebinding page's requests carry its own host name);
- the request must carry the cookie set by the launch link, whose token
  is created at each launch and printed only to the handler's terminal
  (the token is compared in constant time and never appears in a page);
- a state-changing request (any method but GET and HEAD) must also carry
  the per-launch form token in its body or ``X-Desk-Form`` header, and an
  ``Origin`` (when the browser sends one) of this very address. The cookie is
  ``SameSite=Strict`` besides, so other sites' forms never carry it.

Every response gets a strict Content-Security-Policy: scripts, styles and
images from this origin only, no inline script, no frames, no plugins.
Pure ASGI, so refusals and static files are covered too.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "shoal_desk"
FORM_FIELD = "form_token"
FORM_HEADER = "x-desk-form"
LAUNCH_PATH = "/launch"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    # Not "no-referrer": with it, browsers send "Origin: null" on every form
    # post (Fetch, serializing a request origin), which the check below must
    # refuse. "same-origin" sends the real Origin here and nothing elsewhere
    # (the CSP lets the page reach no other host anyway).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), usb=()",
}


class Tokens:
    """The secrets of one launch: the cookie's and the forms'."""

    def __init__(self) -> None:
        self.launch = secrets.token_urlsafe(32)
        self.form = secrets.token_urlsafe(32)

    def launch_ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.launch.encode())

    def form_ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.form.encode())


def _refuse(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status)


class Guard:
    def __init__(self, app: ASGIApp, *, tokens: Tokens, hosts: Iterable[str]) -> None:
        self.app = app
        self.tokens = tokens
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        response = self._check(scope)
        if response is not None:
            await response(scope, receive, secured)
            return
        await self.app(scope, receive, secured)

    def _check(self, scope: Scope) -> Response | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if host not in self.hosts:
            return _refuse(421, "This desk answers only at the address it printed.")
        if scope["path"] == LAUNCH_PATH and scope["method"] == "GET":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            token = (query.get("token") or [None])[0]
            if not self.tokens.launch_ok(token):
                return _refuse(403, "This launch link is not the one `shoal desk ui` printed.")
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(
                COOKIE, self.tokens.launch, httponly=True, samesite="strict", path="/"
            )
            return response
        if not any(self.tokens.launch_ok(v) for v in _cookies(headers.get("cookie", ""))):
            return _refuse(
                403, "Open the desk with the link `shoal desk ui` printed in your terminal."
            )
        if scope["method"] not in {"GET", "HEAD"}:
            origin = headers.get("origin")
            if origin is not None and origin != f"http://{host}":
                return _refuse(403, "Refused: this request came from another site.")
            # The form token is checked by the route (it is in the body); a
            # script's request may carry it in a header instead.
            scope.setdefault("state", {})["form_header"] = headers.get(FORM_HEADER)
        return None


def _cookies(header: str) -> list[str]:
    """Every value sent under our cookie's name. Cookies are not kept apart
    by port: a server on another loopback port may have set one of the same
    name (with a longer path, so the browser sends it first). Taking only
    the first would let it lock the handler out; any one must match."""
    found = []
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            found.append(value)
    return found
