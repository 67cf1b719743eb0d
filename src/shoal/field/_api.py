"""The server's member routes (docs/api.md, "Member (field client), JSON"), as a client.

An adapter: HTTP in, the field client's values out. The server is an
untrusted peer: answers are parsed strictly (a malformed one is a
:class:`ServerError`), text it sends back is cut to printable ASCII before
it reaches a terminal, and nothing it says is believed about the
organization — the notes are verified against the root key (``_trust``).

Everything can go through a SOCKS5 proxy (``socks5h://host:port``, as
Tor's SOCKS port: the ``h`` has the proxy resolve names, so no DNS query
leaves the device). A connection that fails or stalls is an
:class:`OfflineError`: the outbox keeps what it holds and tries later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from .. import trusted
from ..trusted import OrgDocument
from .errors import OfflineError, ServerError

#: Bytes per PUT of a resumable upload. The server keeps what arrived of
#: a piece whose connection was cut, so a piece's size costs nothing on a
#: bad link; each piece costs a round trip and an fsync, so fewer are faster.
UPLOAD_CHUNK = 16 << 20
READ_SIZE = 256 << 10
#: The largest reply the client downloads (the server's reply limit, and more).
MAX_REPLY = 1 << 20
TIMEOUT = httpx.Timeout(60.0, connect=30.0)
_ID = re.compile(r"\A[0-9a-f]{32}\Z")


def _id(value: object) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ServerError("the server answered with a malformed id")
    return value


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ServerError("the server answered with a malformed count")
    return value


@dataclass(frozen=True)
class DoorNotes:
    """``GET …/org``: the root key the server claims and the notes, unverified."""

    root: str
    document: OrgDocument


@dataclass(frozen=True)
class UploadState:
    received: int
    item: str | None


@dataclass(frozen=True)
class SealedReply:
    reply_id: str
    size: int


def client(server: str, proxy: str | None, *, timeout: float | None = None) -> httpx.Client:
    """An HTTP client for ``server``, through ``proxy`` if one is set."""
    return httpx.Client(
        base_url=server,
        timeout=TIMEOUT if timeout is None else httpx.Timeout(timeout),
        proxy=proxy,
        follow_redirects=False,
    )


class MemberAPI:
    """One session at one door: log in, then ask."""

    def __init__(self, http: httpx.Client, door: str) -> None:
        self._http = http
        self._door = door
        self._session: str | None = None

    @contextmanager
    def _exchange(
        self, method: str, path: str, what: str, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        with trusted.exchange(
            self._http,
            method,
            path,
            what,
            bearer=self._session,
            refused=ServerError,
            unreachable=OfflineError,
            **kwargs,
        ) as response:
            yield response

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        with self._exchange(method, path, what, **kwargs) as response:
            response.read()
        return trusted.json_object(response, what, refused=ServerError)

    def _door_path(self, rest: str) -> str:
        return f"/api/v1/doors/{self._door}/{rest}"

    def login(self, codename: str) -> None:
        answer = self._json(
            "POST", self._door_path("sessions"), "the codename", json={"codename": codename}
        )
        session = answer.get("session")
        if not isinstance(session, str) or not session.isascii() or len(session) > 200:
            raise ServerError("the server answered the login with a malformed session")
        self._session = session

    def logout(self) -> None:
        if self._session is None:
            return
        try:
            with self._exchange("DELETE", self._door_path("sessions/current"), "logging out"):
                pass
        except (OfflineError, ServerError):
            pass  # it expires on its own within the hour
        self._session = None

    def notes(self) -> DoorNotes:
        answer = self._json("GET", self._door_path("org"), "the organization's notes")
        try:
            root, organization = answer["root"], answer["organization"]
            commands, epochs = answer["commands"], answer["epochs"]
            if not (isinstance(root, str) and isinstance(organization, str)):
                raise TypeError
            if not all(isinstance(n, str) for n in [*commands, *epochs]):
                raise TypeError
        except (KeyError, TypeError):
            raise ServerError("the server's organization notes are malformed") from None
        return DoorNotes(root, OrgDocument(organization, tuple(commands), tuple(epochs)))

    def _upload_state(self, answer: dict[str, Any]) -> UploadState:
        item = answer.get("item")
        return UploadState(_count(answer.get("received")), None if item is None else _id(item))

    def upload(
        self,
        upload_id: str,
        path: Path,
        epoch: int,
        resumed: Callable[[int], None] = lambda _: None,
    ) -> str:
        """Send the sealed file at ``path`` under ``upload_id``; returns the item id.

        Idempotent and resumable: the server keeps how much it holds, so a
        second call after a cut connection (or a crash on either side)
        continues where the first stopped, and one whose upload was already
        finished just learns the item's id.
        """
        size = path.stat().st_size
        body = {"id": upload_id, "size": size, "epoch": epoch}
        state = self._upload_state(
            self._json("POST", self._door_path("uploads"), "the upload", json=body)
        )
        if state.item is None and state.received > 0:
            resumed(state.received)
        with path.open("rb") as source:
            while state.item is None and state.received < size:
                source.seek(state.received)
                length = min(UPLOAD_CHUNK, size - state.received)
                try:
                    answer = self._json(
                        "PUT",
                        self._door_path(f"uploads/{upload_id}"),
                        "a piece of the upload",
                        params={"offset": state.received},
                        # Streamed with its length: a piece held whole would
                        # cost its size in memory, and httpx's copies more.
                        content=_piece(source, length),
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(length),
                        },
                    )
                except ServerError as exc:
                    if exc.status != 409:
                        raise
                    # Out of step (a piece that landed but whose answer was
                    # lost): ask where the server is, and go on from there.
                    answer = self._json(
                        "GET", self._door_path(f"uploads/{upload_id}"), "the upload's progress"
                    )
                state = self._upload_state(answer)
        if state.item is not None:
            return state.item
        answer = self._json("POST", self._door_path(f"uploads/{upload_id}/finish"), "the upload")
        item = self._upload_state(answer).item
        if item is None:
            raise ServerError("the server finished the upload without an item")
        return item

    def arm_alarm(self, sealed: bytes) -> str:
        answer = self._json(
            "POST",
            self._door_path("alarms"),
            "the duress signal",
            content=sealed,
            headers={"Content-Type": "application/octet-stream"},
        )
        token = answer.get("token")
        if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", token):
            raise ServerError("the server answered with a malformed token")
        return token

    def release_alarm(self, token: str) -> None:
        with self._exchange("POST", f"/api/v1/alarms/{token}", "the signal"):
            pass

    def sealed_replies(self) -> list[SealedReply]:
        answer = self._json("GET", self._door_path("sealed-replies"), "the messages")
        replies = answer.get("replies")
        if not isinstance(replies, list):
            raise ServerError("the server's list of messages is malformed")
        out = []
        for entry in replies:
            if not isinstance(entry, dict):
                raise ServerError("the server's list of messages is malformed")
            out.append(SealedReply(_id(entry.get("id")), _count(entry.get("size"))))
        return out

    def sealed_reply(self, reply_id: str) -> bytes:
        with self._exchange(
            "GET", self._door_path(f"sealed-replies/{reply_id}"), "a message"
        ) as response:
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_REPLY:
                    raise ServerError("the server sent a message larger than any reply")
        return bytes(data)

    def delete_reply(self, reply_id: str) -> None:
        with self._exchange(
            "DELETE", self._door_path(f"sealed-replies/{reply_id}"), "deleting a message"
        ):
            pass


def _piece(source: BinaryIO, length: int) -> Iterator[bytes]:
    while length > 0 and (chunk := source.read(min(length, READ_SIZE))):
        length -= len(chunk)
        yield chunk
