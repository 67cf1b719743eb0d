"""Which socket a request came in on, and what may be asked through it.

``shoal serve`` listens on one loopback socket per purpose: its main
address (``--host``/``--port``), and with ``--onion`` one socket behind
each onion service: the organization's contact address, each door that
has an address of its own, and the handlers' address. Tor forwards each
service to its own socket, so the socket a request arrived on says which
address the visitor typed, without trusting any header the visitor sent.

What each kind of listener serves is one table, :data:`SERVES`:

- a door's own address serves that door and nothing else, so a contact
  who has it learns of no other compartment (not even by guessing another
  door's name);
- once the handler API has an address of its own (with Tor's client
  authorization), the contact addresses and the clear web refuse it: a
  flood or a probe through a public address never reaches it;
- the clear web (``--public``: the main socket faces the internet, itself
  or through a proxy) serves the contact side and sends the
  ``Onion-Location`` header, which moves Tor Browser users to the onion.

A refused path is answered as a path that does not exist (the app's own
404 page, in the visitor's language): it tells nothing a guess would not.
Without listeners (an app made in-process, as most tests do) everything is
served, as on the main loopback socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Kind = Literal["local", "public", "onion", "door", "handlers"]

#: Where the listener is kept in the request's scope (for routes that
#: answer by listener, such as the doors list).
SCOPE_KEY = "shoal.listener"
#: A path no route serves: a refused request is answered as this one is
#: (under ``/d/`` the 404 page, elsewhere the API's JSON).
_NOWHERE = ".refused"

_HANDLER_PREFIXES = ("/api/v1/handler/", "/api/v1/org")
#: Where the signed doors list is served (``_doors_pages.py``), on every listener.
DOORS_NOTE_PATH = "/doors.note"
_SHARED = ("/static/", DOORS_NOTE_PATH)


@dataclass(frozen=True)
class Listener:
    kind: Kind
    #: The door a ``door`` listener serves.
    door: str | None = None
    #: The onion address visitors reach this listener by (``onion``,
    #: ``door``, ``handlers``), or the one ``Onion-Location`` names
    #: (``public``); ``None`` if there is none.
    address: str | None = None


LOCAL = Listener("local")


def _is_handler_path(path: str) -> bool:
    return path.startswith(_HANDLER_PREFIXES)


def _door_serves(door: str, path: str) -> bool:
    return (
        path.startswith((f"/d/{door}/", f"/api/v1/doors/{door}/", "/api/v1/alarms/", *_SHARED))
        or path == "/"
    )


#: kind → (does it serve ``path``, with ``door``, when the handler API has
#: its own address?).
SERVES: dict[Kind, Callable[[str | None, str, bool], bool]] = {
    "local": lambda door, path, separate: True,
    "public": lambda door, path, separate: not (separate and _is_handler_path(path)),
    "onion": lambda door, path, separate: not (separate and _is_handler_path(path)),
    "door": lambda door, path, separate: door is not None and _door_serves(door, path),
    "handlers": lambda door, path, separate: _is_handler_path(path) or path == "/openapi.json",
}


def listener_of(scope: Scope) -> Listener:
    """The listener a request came in on (:data:`LOCAL` without any)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, Listener) else LOCAL


class ListenerGate:
    """Pure ASGI: tag each request with its listener, refuse what that
    listener does not serve, and add ``Onion-Location`` on the clear web."""

    def __init__(self, app: ASGIApp, listeners: Mapping[int, Listener]) -> None:
        self.app = app
        self.listeners = dict(listeners)
        self.handlers_separate = any(x.kind == "handlers" for x in self.listeners.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        port = (scope.get("server") or (None, None))[1]
        listener = self.listeners.get(port, LOCAL) if isinstance(port, int) else LOCAL
        scope = {**scope, SCOPE_KEY: listener}
        path = scope["path"]
        if listener.kind == "door" and path == "/" and scope["method"] in ("GET", "HEAD"):
            await _redirect(send, f"/d/{listener.door}/")
            return
        if not SERVES[listener.kind](listener.door, path, self.handlers_separate):
            # A page's 404 links back to the door of its path: this listener's own.
            nowhere = (
                f"/d/{listener.door or ''}/{_NOWHERE}"
                if path.startswith("/d/")
                else (f"/{_NOWHERE}")
            )
            scope["path"] = nowhere
            scope["raw_path"] = nowhere.encode()
        if listener.kind == "public" and listener.address is not None:
            send = _with_onion_location(send, listener.address, scope)
        await self.app(scope, receive, send)


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _with_onion_location(send: Send, address: str, scope: Scope) -> Send:
    """Tor Browser offers (or, if the user chose so, follows) the header's
    address on pages of HTTPS sites; only HTML pages carry it."""
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"http://{address}{scope['path']}" + (f"?{query}" if query else "")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            if headers.get("content-type", "").startswith("text/html"):
                headers["Onion-Location"] = target
        await send(message)

    return sending
