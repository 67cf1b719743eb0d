"""The server's handler API (docs/api.md, "Handler (desk), JSON"), as a client.

An adapter: HTTP in, the desk's values out. The server is an untrusted
peer, so every answer is parsed strictly (a malformed one is a
:class:`ServerError`, never a ``KeyError`` deep in the desk), streamed
blobs are held to the size announced, and text the server sends back is
cut to printable ASCII before it can reach a terminal.

The ``httpx.Client`` comes from the caller (base URL, timeouts and a
transport: tests pass an ``httpx.MockTransport`` with a fake server).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx

from .. import crypto, org, trusted
from ..trusted import OrgDocument
from ._state import ContactMeta, ItemMeta, check_id
from .errors import ServerError, UnreachableError

#: Items asked for per page of ``GET /api/v1/handler/items``.
PAGE_SIZE = 100
#: The largest audit entry (an age file) the server accepts and serves.
MAX_AUDIT_ENTRY = 64 * 1024
#: At most this many entries per page of ``GET /api/v1/handler/audit/entries``.
AUDIT_PAGE_SIZE = 1000
#: A consistency proof has at most about 2·log2(n) hashes; n < 2**63.
MAX_PROOF = 128


def _count(value: object) -> int:
    """A non-negative JSON integer (``True`` is an int to Python, not here)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("not a count")
    return value


def _text(value: object) -> str:
    """A JSON string of printable ASCII (a key, an origin)."""
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        raise ValueError("not printable ASCII")
    return value


def _note(value: object) -> str:
    """A signed note's text, verified later (its signature lines hold an em dash)."""
    if not isinstance(value, str):
        raise ValueError("a note is text")
    return value


def _hash(value: object) -> bytes:
    """One proof element: canonical base64 of exactly 32 bytes."""
    if not isinstance(value, str):
        raise ValueError("a proof element is base64 text")
    raw = base64.b64decode(value, validate=True)
    if len(raw) != 32 or base64.b64encode(raw).decode() != value:
        raise ValueError("a proof element is 32 bytes of canonical base64")
    return raw


@dataclass(frozen=True)
class Page:
    items: tuple[ItemMeta, ...]
    more: bool  # the server's "next" was not null: ask again after these


class HandlerAPI:
    """One desk's session with the server: log in once, then ask."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self._token: str | None = None

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    @contextmanager
    def _exchange(
        self, method: str, path: str, what: str, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """The response to one request, streamed; errors mapped by origin."""
        with trusted.exchange(
            self._client,
            method,
            path,
            what,
            bearer=self._token,
            refused=ServerError,
            unreachable=UnreachableError,
            **kwargs,
        ) as response:
            yield response

    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        with self._exchange(method, path, what, **kwargs) as response:
            response.read()
        return trusted.json_object(response, what, refused=ServerError)

    def organization(self) -> OrgDocument:
        value = self._json("GET", "/api/v1/org", "the organization's notes")
        try:
            organization = value["organization"]
            commands, epochs = value["commands"], value["epochs"]
            notes = [organization, *commands, *epochs]
            if not all(isinstance(n, str) for n in notes):
                raise TypeError
        except (KeyError, TypeError):
            raise ServerError("malformed answer to the organization's notes") from None
        return OrgDocument(organization, tuple(commands), tuple(epochs))

    def login(self, key: crypto.SigningKey, compartment_id: str) -> None:
        """Signed-challenge login; later calls carry the token."""
        self._token = None
        challenge = self._json("POST", "/api/v1/handler/challenges", "a login challenge")
        try:
            challenge_id = check_id(challenge["id"], "challenge")
            nonce = base64.b64decode(challenge["nonce"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ServerError("malformed login challenge") from None
        # The signature binds the compartment, so a token won for one
        # compartment is no use in another, and the server's name, so a
        # phishing server relaying this login wins nothing.
        host = self._client.base_url.host
        signature = key.sign(org.handler_login_message(nonce, compartment_id, host))
        body = {
            "challenge": challenge_id,
            "compartment": compartment_id,
            "host": host,
            "key": base64.b64encode(key.verify_key.public_bytes).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
        token = self._json("POST", "/api/v1/handler/tokens", "the login", json=body).get("token")
        if not isinstance(token, str) or not token.isascii() or not token.isprintable():
            raise ServerError("malformed login token")
        self._token = token

    def items(self, after: int) -> Page:
        value = self._json(
            "GET",
            "/api/v1/handler/items",
            "the list of items",
            params={"after": after, "limit": PAGE_SIZE},
        )
        try:
            items = tuple(ItemMeta.from_json(i) for i in value["items"])
            more = value["next"] is not None
        except (KeyError, TypeError, ValueError) as exc:
            raise ServerError(f"malformed list of items ({exc})") from None
        # The cursor moves to the highest seq received, whatever "next"
        # holds; a page that does not move it would make the desk ask
        # forever.
        if any(i.seq <= after for i in items):
            raise ServerError("the server sent items at or before the cursor")
        return Page(items, more and bool(items))

    def download(self, item: ItemMeta, out: BinaryIO) -> None:
        """Stream ``item``'s blob into ``out``, no more and no less than announced."""
        path = f"/api/v1/handler/blobs/{item.blob}"
        received = 0
        with self._exchange("GET", path, f"the blob of item {item.item_id}") as response:
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > item.size:
                    raise ServerError(f"the blob of item {item.item_id} is larger than announced")
                out.write(chunk)
        if received != item.size:
            raise ServerError(f"the blob of item {item.item_id} is shorter than announced")

    def contact(self, contact_id: str) -> ContactMeta:
        value = self._json("GET", f"/api/v1/handler/contacts/{contact_id}", "a contact")
        try:
            contact = ContactMeta.from_json(value)
        except (KeyError, TypeError, ValueError):
            raise ServerError(f"malformed contact {contact_id}") from None
        if contact.contact_id != contact_id:
            raise ServerError(f"asked for contact {contact_id}, the server sent another")
        return contact

    def synced(self, seq: int) -> int:
        """Tell the server this desk holds every item up to ``seq``; returns
        how many items its retention then deleted."""
        value = self._json("POST", "/api/v1/handler/synced", "the sync report", json={"seq": seq})
        expired = value.get("expired")
        if not isinstance(expired, int) or isinstance(expired, bool) or expired < 0:
            raise ServerError("malformed answer to the sync report")
        return expired

    def contact_state(self, contact_id: str) -> bytes | None:
        """The contact's lifecycle record as stored (ciphertext), if any."""
        value = self._json("GET", f"/api/v1/handler/contacts/{contact_id}", "a contact")
        state = value.get("state")
        if state is None:
            return None
        try:
            return base64.b64decode(state, validate=True)
        except (TypeError, ValueError):
            raise ServerError(f"malformed state of contact {contact_id}") from None

    def put_state(self, contact_id: str, sealed: bytes) -> None:
        with self._exchange(
            "PUT",
            f"/api/v1/handler/contacts/{contact_id}/state",
            "the contact's new state",
            content=sealed,
            headers={"Content-Type": "application/octet-stream"},
        ) as response:
            response.read()

    def cut(self, contact_id: str) -> None:
        self._done("POST", f"/api/v1/handler/contacts/{contact_id}/cut", "cutting ties")

    def delete_item(self, item_id: str) -> None:
        self._done("DELETE", f"/api/v1/handler/items/{item_id}", "the deletion")

    def delete_contact(self, contact_id: str) -> None:
        self._done("DELETE", f"/api/v1/handler/contacts/{contact_id}", "the deletion")

    def _done(self, method: str, path: str, what: str) -> None:
        """A request answered with no content (204)."""
        with self._exchange(method, path, what) as response:
            response.read()

    def _post_item(self, path: str, sealed: bytes, what: str) -> str:
        """Post an age file the server files as an item; the item's id."""
        value = self._json(
            "POST",
            path,
            f"the {what}",
            content=sealed,
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            return check_id(value.get("id"), what)
        except ValueError:
            raise ServerError(f"malformed answer to the {what}") from None

    def put_sealed(self, item_id: str, sealed: BinaryIO) -> tuple[int, int]:
        """Replace item ``item_id``'s ciphertext with ``sealed`` (streamed
        from the open file: the same item re-sealed on this desk to the
        compartment's current epoch); its new seq and epoch. A 409
        :class:`ServerError` if it is at the current epoch already (another
        desk re-sealed it first)."""
        check_id(item_id, "item")
        value = self._json(
            "PUT",
            f"/api/v1/handler/items/{item_id}/sealed",
            f"the re-sealed item {item_id}",
            content=sealed,
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            if value["id"] != item_id:
                raise ValueError("another item")
            return _count(value["seq"]), _count(value["epoch"])
        except (KeyError, ValueError):
            raise ServerError(f"malformed answer to the re-sealed item {item_id}") from None

    def post_reply(self, contact_id: str, sealed: bytes) -> str:
        return self._post_item(f"/api/v1/handler/contacts/{contact_id}/replies", sealed, "reply")

    def door_epoch(self, door: str) -> str:
        """The signed note of another compartment's current epoch (unverified)."""
        org.check_door(door)
        value = self._json("GET", f"/api/v1/handler/forwards/{door}", "the door's epoch")
        return _note(value.get("epoch"))

    def forward(self, door: str, sealed: bytes) -> str:
        """File ``sealed`` (an age file re-sealed to the target compartment's
        epoch and signed) with the compartment behind ``door``; the new
        item's id. It is that compartment's item: this desk will not see it.

        :class:`ValueError` if ``door`` is not shaped like a door: it goes
        into the request's path, where a ``/`` or ``..`` would name another.
        """
        org.check_door(door)
        return self._post_item(f"/api/v1/handler/forwards/{door}", sealed, "forward")

    # The audit log (DESIGN.md, "The audit log"; docs/api.md). What the
    # answers mean is checked in ._audit; here only that they are well formed.

    def append_audit(self, sealed: bytes) -> tuple[int, str]:
        """Append an entry (an age file); its index and the signed checkpoint
        the server says covers it."""
        value = self._json(
            "POST",
            "/api/v1/handler/audit",
            "the audit entry",
            content=sealed,
            headers={"Content-Type": "application/octet-stream"},
        )
        try:
            return _count(value["index"]), _note(value["checkpoint"])
        except (KeyError, ValueError):
            raise ServerError("malformed answer to the audit entry") from None

    def audit_checkpoint(
        self, from_: int, to: int | None = None
    ) -> tuple[str, str, str, list[bytes]]:
        """The log's key, origin, the signed checkpoint at size ``to`` (the
        current size if None) and the consistency proof from ``from_``."""
        params = {"from": from_} if to is None else {"from": from_, "to": to}
        value = self._json(
            "GET", "/api/v1/handler/audit/checkpoint", "the audit checkpoint", params=params
        )
        try:
            proof = value["proof"]
            if not isinstance(proof, list) or len(proof) > MAX_PROOF:
                raise ValueError("the proof is not a list of hashes")
            return (
                _text(value["key"]),
                _text(value["origin"]),
                _note(value["checkpoint"]),
                [_hash(h) for h in proof],
            )
        except (KeyError, ValueError, binascii.Error):
            raise ServerError("malformed audit checkpoint") from None

    def audit_entries(self, after: int) -> list[tuple[int, str, int]]:
        """One page of this compartment's entries after index ``after``:
        (index, blob, size), ascending; empty at the end."""
        value = self._json(
            "GET",
            "/api/v1/handler/audit/entries",
            "the list of audit entries",
            params={"after": after},
        )
        try:
            entries = value["entries"]
            if not isinstance(entries, list) or len(entries) > AUDIT_PAGE_SIZE:
                raise ValueError("not a page of entries")
            page = [
                (_count(e["index"]), check_id(e["blob"], "blob"), _count(e["size"]))
                for e in entries
            ]
        except (KeyError, TypeError, ValueError):
            raise ServerError("malformed list of audit entries") from None
        # Strictly ascending and after the cursor: a page that does not move
        # it would make the desk ask forever.
        indexes = [after, *(index for index, _, _ in page)]
        if any(a >= b for a, b in itertools.pairwise(indexes)):
            raise ServerError("the server sent audit entries out of order or before the cursor")
        if any(not 0 < size <= MAX_AUDIT_ENTRY for _, _, size in page):
            raise ServerError("the server announced an audit entry of an impossible size")
        return page

    def audit_inclusion(self, index: int, size: int) -> list[bytes]:
        """The proof that entry ``index`` is that leaf of the tree of ``size``."""
        value = self._json(
            "GET",
            f"/api/v1/handler/audit/entries/{index}/proof",
            f"the inclusion proof of audit entry {index}",
            params={"size": size},
        )
        proof = value.get("proof")
        if not isinstance(proof, list) or len(proof) > _MAX_PROOF:
            raise ServerError(f"malformed inclusion proof of audit entry {index}")
        return [_proof_hash(h, index) for h in proof]

    def audit_entry(self, index: int, size: int | None = None) -> bytes:
        """Entry ``index``'s ciphertext, held to ``size`` bytes if given (and
        never more than an entry may be)."""
        limit = MAX_AUDIT_ENTRY if size is None else size
        received = bytearray()
        with self._exchange(
            "GET", f"/api/v1/handler/audit/entries/{index}", f"audit entry {index}"
        ) as response:
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) > limit:
                    raise ServerError(f"audit entry {index} is larger than announced")
        if size is not None and len(received) != size:
            raise ServerError(f"audit entry {index} is shorter than announced")
        return bytes(received)


#: A tree of at most 2**63 leaves has proofs of at most 63 hashes.
_MAX_PROOF = 64


def _proof_hash(value: object, index: int) -> bytes:
    try:
        if not isinstance(value, str):
            raise ValueError
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ServerError(f"malformed inclusion proof of audit entry {index}") from None
    if len(raw) != 32 or base64.b64encode(raw).decode() != value:
        raise ServerError(f"malformed inclusion proof of audit entry {index}")
    return raw
