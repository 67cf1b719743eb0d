"""The signed doors lists, served, and the page that says how to check an address.

- ``GET /doors.note``: the newest doors list (``shoal.org._doors``) for the
  listener the request came in on: a door's own onion address gets that
  door's list, every other listener the organization's general list. The
  body is the note exactly as command signed it, for anyone to verify with
  the root key's fingerprint (``shoal field check-doors``).
- ``GET /d/<door>/check``: how a contact checks that the address they are
  on is the organization's: compare it with one given out of band, read the
  addresses the root key signed, and check the signature against the
  fingerprint published out of band, never the one the page shows.

Every list is verified against the configured root key on each request,
and must sit where its signed text says it belongs (its door's compartment,
or none): a row a seized-and-returned server's database altered, or moved
to another door, is no list. The newest list that verifies is served, as
for epochs (``_doors.py``).

A careless phishing proxy forwards the visitor's ``Host`` header. When it
names an onion address that no current list holds, the check page says,
prominently, that this address is not one the organization signed. On a
door's own address only that door's list counts: whether an address
belongs to another compartment is not that door's visitors' business.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .. import crypto, org
from ..store import schema
from . import _messages as msg
from ._chain import DOORS
from ._i18n import choose
from ._listeners import DOORS_NOTE_PATH, Listener, listener_of
from ._pages import Pages, View
from .errors import NotFoundError

#: What the check page tells a contact to run (not translated: a command).
CHECK_COMMAND = "shoal field check-doors --fingerprint FINGERPRINT doors.note"
_ONION_SUFFIX = ".onion"


@dataclass(frozen=True)
class SignedList:
    """A stored doors list that verified: its note, and what it says."""

    note: str
    doors: org.DoorsList


def newest_lists(db: Session, root: crypto.NoteVerifier) -> dict[str | None, SignedList]:
    """Each scope's newest list that verifies, by door (``None``: general).

    Rows are tried newest first, and a scope's older rows are not verified
    once one of its rows has: a request costs one signature check per
    scope, however many lists command has signed over the years.
    """
    doors_of = {c.id: c.door for c in db.scalars(select(schema.Compartment))}
    rows = db.scalars(
        select(schema.Note).where(schema.Note.kind == DOORS).order_by(schema.Note.number.desc())
    )
    found: dict[str | None, SignedList] = {}
    for row in rows:
        placed = None if row.compartment_id is None else doors_of.get(row.compartment_id, "")
        if placed in found:
            continue
        try:
            doors = org.verify_doors_list(row.body, root)
        except (crypto.CryptoError, org.OrgError):
            continue  # a tampered note is no note
        # Where the row sits, and the number it is sorted by, must be what
        # the signed text says: else an edited row could pass off an old
        # list as the newest, or one door's list as another's.
        if doors.door != placed or doors.number != row.number:
            continue
        found[placed] = SignedList(row.body, doors)
    return found


def scope_of(listener: Listener) -> str | None:
    """Whose list a listener serves: its door's, or (``None``) the general one."""
    return listener.door if listener.kind == "door" else None


def visited_onion(host: str | None) -> str | None:
    """The onion address a ``Host`` header names (without port or
    subdomains, which reach the same service), or None if it names none."""
    if not host or "[" in host:  # none, or an IPv6 literal
        return None
    name = host.strip().lower().rsplit(":", 1)[0].rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or f".{labels[-1]}" != _ONION_SUFFIX:
        return None
    return f"{labels[-2]}{_ONION_SUFFIX}"


class DoorsLists:
    """The stored lists, as a request sees them (verified each time)."""

    def __init__(self, db: sessionmaker[Session], root: crypto.NoteVerifier) -> None:
        self._db = db
        self.root = root

    def lists(self) -> dict[str | None, SignedList]:
        with self._db() as db:
            return newest_lists(db, self.root)

    def door_exists(self, door: str) -> bool:
        try:
            org.check_door(door)
        except ValueError:
            return False
        with self._db() as db:
            found = db.scalars(
                select(schema.Compartment.id).where(schema.Compartment.door == door)
            ).first()
        return found is not None


def doors_pages(db: sessionmaker[Session], root: crypto.NoteVerifier, pages: Pages) -> APIRouter:
    router = APIRouter()
    stored = DoorsLists(db, root)

    # Not in the OpenAPI description, like the pages: a file for people
    # and `shoal field check-doors`, documented in docs/api.md.
    @router.get(DOORS_NOTE_PATH, include_in_schema=False)
    def doors_note(request: Request) -> Response:
        """The organization's onion addresses signed by its root key: this
        door's own list on a door's address, the general list elsewhere."""
        found = stored.lists().get(scope_of(listener_of(request.scope)))
        if found is None:
            raise NotFoundError(msg.NOT_FOUND)
        return PlainTextResponse(found.note, media_type="text/plain; charset=utf-8")

    @router.get("/d/{door}/check", include_in_schema=False)
    def check(door: str, request: Request) -> Response:
        if not stored.door_exists(door):
            raise NotFoundError(msg.NO_SUCH_DOOR)
        listener = listener_of(request.scope)
        lists = stored.lists()
        shown = lists.get(scope_of(listener))
        # On a door's own address only its list counts (see the module doc).
        counted = [shown] if listener.kind == "door" else list(lists.values())
        signed = {a for found in counted if found is not None for a in found.doors.addresses}
        visited = visited_onion(request.headers.get("host"))
        language = choose(request.query_params.get("lang"), request.headers.get("accept-language"))
        return pages.render(
            "check.html",
            View(language, door, request.url.path),
            addresses=list(shown.doors.addresses) if shown is not None else [],
            unsigned_address=visited is not None and visited not in signed,
            fingerprint=org.root_fingerprint(stored.root),
            command=CHECK_COMMAND,
            placeholder="FINGERPRINT",
            doors_note=DOORS_NOTE_PATH,
        )

    return router
