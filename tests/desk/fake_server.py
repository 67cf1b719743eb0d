"""An in-memory server implementing the handler API of docs/api.md.

It sits behind ``httpx.MockTransport``, the same transport interface the
desk's real client uses, and checks what the real server checks: the
organization's notes verify against the root key, a login signature is
Ed25519 over ``b"shoal handler login v1\\n" + nonce + compartment`` by a
handler of the compartment's current epoch, a challenge is used once,
every handler call carries a token it issued, and a reply is an age file.
Errors are JSON ``{"error": …}`` with a 4xx status, as in the contract.

A forward (``POST /api/v1/handler/forwards/<door>``) goes to the door of a
compartment whose epoch the served notes hold, other than the token's own:
it becomes an item of that compartment (direction ``forwarded``, no
contact, its current epoch) and is kept, by door, in :attr:`forwarded`.

Tests change what it serves (``document``) to play a hostile server.

The audit log (``/api/v1/handler/audit…``) is a :class:`FakeAuditLog`: the
entries and a :class:`MemoryHashSource` over their leaves, its checkpoints
signed by the server's own log key under the origin
``shoal/<org id>/audit``. Hooks play a seized server: :meth:`audit_rollback`
(truncate), :meth:`audit_rewrite` (change an entry's bytes and rebuild the
tree), :meth:`audit_fork` (show one handler another history: logins are
per command, so the fork follows the handler behind a token, not one
token), :meth:`audit_swap_key` and :meth:`audit_add` (an entry the server
made up).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from shoal import crypto, org
from shoal.org import _tlog as tlog

LOGIN_CONTEXT = b"shoal handler login v2\n"
AGE_MAGIC = b"age-encryption.org/v1\n"
TODAY = "2026-11-23"
MAX_AUDIT_ENTRY = 64 * 1024
#: The compartment of the entry a fork adds: one no desk of the tests reads.
ELSEWHERE = "e" * 32


@dataclass
class FakeAuditEntry:
    compartment_id: str
    blob: bytes

    @property
    def blob_id(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()


class FakeAuditLog:
    """One history of the audit log: its entries and the tree over them."""

    def __init__(self, entries: list[FakeAuditEntry] | None = None) -> None:
        self.entries: list[FakeAuditEntry] = []
        self.source = tlog.MemoryHashSource()
        for entry in entries or []:
            self.append(entry)

    @property
    def size(self) -> int:
        return self.source.size

    def append(self, entry: FakeAuditEntry) -> int:
        self.entries.append(entry)
        self.source.append(tlog.leaf_hash(entry.blob))
        return self.source.size - 1

    def copy(self) -> FakeAuditLog:
        return FakeAuditLog(list(self.entries))


@dataclass
class FakeItem:
    item_id: str
    seq: int
    compartment_id: str
    contact: str | None
    direction: str
    blob: str
    day: str = TODAY
    epoch: int = 0


@dataclass
class FakeContact:
    contact_id: str
    compartment_id: str
    recipient: str
    accepted: bool = True
    state: bytes | None = None


@dataclass
class FakeServer:
    root: crypto.NoteVerifier
    document: dict[str, Any]
    max_page: int = 100
    items: list[FakeItem] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    contacts: dict[str, FakeContact] = field(default_factory=dict)
    challenges: dict[str, bytes] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token → compartment id
    login_hosts: list[str] = field(default_factory=list)  # the names logins were signed for
    log: list[str] = field(default_factory=list)
    #: Blob sizes to announce instead of the true ones (a lying server).
    announced: dict[str, int] = field(default_factory=dict)
    #: Show the notes to logged-in handlers only, and only their compartment's
    #: epochs (need-to-know), as ``shoal serve`` does.
    notes_after_login: bool = False
    logins: int = 0
    #: What each compartment's desk reported with ``POST /handler/synced``.
    synced: dict[str, int] = field(default_factory=dict)
    token_handlers: dict[str, str] = field(default_factory=dict)  # token → handler id
    audit: FakeAuditLog = field(default_factory=FakeAuditLog)
    #: Handler id → the other history the server shows that handler.
    audit_forks: dict[str, FakeAuditLog] = field(default_factory=dict)
    audit_key: crypto.SigningKey = field(default_factory=crypto.SigningKey.generate)
    audit_page: int = 1000
    #: Answer a "from" past the head with the head and no proof, as
    #: ``shoal serve`` does, instead of the contract's 400.
    audit_head_past_from: bool = False
    #: Answer every inclusion proof for this index (an entry shown out of place).
    audit_misplaced: int | None = None
    #: Door → the bodies forwarded to it, in order (also filed as items).
    forwarded: dict[str, list[bytes]] = field(default_factory=dict)

    # What tests use to fill it, as contacts and the intake would.

    def add_contact(self, compartment_id: str, recipient: crypto.AgeRecipient) -> str:
        contact_id = secrets.token_hex(16)
        self.contacts[contact_id] = FakeContact(contact_id, compartment_id, str(recipient))
        return contact_id

    def add_item(
        self,
        compartment_id: str,
        sealed: bytes,
        *,
        contact: str | None,
        direction: str = "in",
        epoch: int = 0,
    ) -> str:
        blob = hashlib.sha256(sealed).hexdigest()
        self.blobs[blob] = sealed
        seq = max((i.seq for i in self.items), default=0) + 1
        item = FakeItem(
            secrets.token_hex(16), seq, compartment_id, contact, direction, blob, epoch=epoch
        )
        self.items.append(item)
        return item.item_id

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # The audit log: what the real server does, and what a seized one could.

    @property
    def audit_origin(self) -> str:
        organization = org.verify_organization(self.document["organization"], self.root)
        return f"shoal/{organization.org_id}/audit"

    @property
    def audit_verifier(self) -> crypto.NoteVerifier:
        return crypto.NoteVerifier(self.audit_origin, self.audit_key.verify_key)

    def audit_checkpoint(self, log: FakeAuditLog, size: int) -> str:
        head = tlog.Checkpoint(self.audit_origin, size, tlog.Prover(log.source).root(size))
        return tlog.sign_checkpoint(head, crypto.NoteSigner(self.audit_origin, self.audit_key))

    def audit_add(self, compartment_id: str, blob: bytes) -> int:
        """Append to every history, as the server does with every entry (a
        forked handler is shown the others' entries too, in its own tree);
        the index in the main history."""
        for fork in self.audit_forks.values():
            fork.append(FakeAuditEntry(compartment_id, blob))
        return self.audit.append(FakeAuditEntry(compartment_id, blob))

    def audit_rollback(self, size: int) -> None:
        """Forget every entry from index ``size`` on."""
        self.audit = FakeAuditLog(self.audit.entries[:size])

    def audit_rewrite(self, index: int, blob: bytes) -> None:
        """Replace entry ``index``'s bytes and rebuild the tree (same size)."""
        entries = list(self.audit.entries)
        entries[index] = FakeAuditEntry(entries[index].compartment_id, blob)
        self.audit = FakeAuditLog(entries)

    def audit_fork(self, handler_id: str) -> None:
        """From now on, show ``handler_id`` another history: this one with
        an entry of another compartment that nobody else's tree holds."""
        fork = self.audit.copy()
        fork.append(FakeAuditEntry(ELSEWHERE, secrets.token_bytes(64)))
        self.audit_forks[handler_id] = fork

    def audit_swap_key(self) -> None:
        self.audit_key = crypto.SigningKey.generate()

    # The server side of the contract.

    def _verified_epochs(self) -> list[tuple[org.Epoch, str]]:
        """The epoch notes that verify along the chain from the root, as imported."""
        organization = org.verify_organization(self.document["organization"], self.root)
        commands = [
            org.verify_command(n, self.root, organization) for n in self.document["commands"]
        ]
        newest = max(commands, key=lambda c: c.serial)  # the command key in force
        found = []
        for note in self.document["epochs"]:
            try:
                epoch = org.verify_epoch(note, newest, organization, now=datetime.now(UTC))
            except (crypto.CryptoError, org.OrgError):
                continue
            found.append((epoch, note))
        return found

    def _current_epoch(self, compartment_id: str) -> org.Epoch | None:
        mine = [e for e, _ in self._verified_epochs() if e.compartment_id == compartment_id]
        return max(mine, key=lambda e: e.number, default=None)

    def _epochs_of(self, compartment_id: str) -> list[str]:
        return [n for e, n in self._verified_epochs() if e.compartment_id == compartment_id]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.log.append(f"{request.method} {path}?{request.url.query.decode()}")
        if (request.method, path) == ("GET", "/api/v1/org") and not self.notes_after_login:
            return httpx.Response(200, json=self.document)
        if (request.method, path) == ("POST", "/api/v1/handler/challenges"):
            challenge_id, nonce = secrets.token_hex(16), secrets.token_bytes(32)
            self.challenges[challenge_id] = nonce
            return httpx.Response(
                201, json={"id": challenge_id, "nonce": base64.b64encode(nonce).decode()}
            )
        if (request.method, path) == ("POST", "/api/v1/handler/tokens"):
            return self._token(json.loads(request.content))
        compartment_id = self.tokens.get(
            request.headers.get("Authorization", "").removeprefix("Bearer ")
        )
        if compartment_id is None:
            return _error(401, "The token is missing, unknown or expired.")
        parts = path.split("/")[1:]
        if (request.method, path) == ("GET", "/api/v1/org"):
            epochs = self._epochs_of(compartment_id)
            return httpx.Response(200, json={**self.document, "epochs": epochs})
        if request.method == "GET" and path == "/api/v1/handler/items":
            return self._items(compartment_id, request.url.params)
        if request.method == "POST" and path == "/api/v1/handler/synced":
            self.synced[compartment_id] = int(json.loads(request.content)["seq"])
            return httpx.Response(200, json={"expired": 0})
        if parts[:4] == ["api", "v1", "handler", "audit"]:
            return self._audit(request, parts[4:], compartment_id)
        if request.method == "POST" and parts[:4] == ["api", "v1", "handler", "forwards"]:
            if len(parts) != 5:
                return _error(404, "Not found.")
            return self._forward(compartment_id, parts[4], request.content)
        if request.method == "DELETE" and parts[:4] == ["api", "v1", "handler", "items"]:
            found = [i for i in self.items if i.item_id == parts[-1]]
            if len(parts) != 5 or not found or found[0].compartment_id != compartment_id:
                return _error(404, "No such item in this compartment.")
            self.items.remove(found[0])
            return httpx.Response(204)
        if request.method == "GET" and parts[:4] == ["api", "v1", "handler", "blobs"]:
            blob = self.blobs.get(parts[4]) if len(parts) == 5 else None
            if blob is None or not any(
                i.blob == parts[4] and i.compartment_id == compartment_id for i in self.items
            ):
                return _error(404, "No such blob in this compartment.")
            return httpx.Response(200, content=blob)
        if parts[:4] == ["api", "v1", "handler", "contacts"] and len(parts) >= 5:
            contact = self.contacts.get(parts[4])
            if contact is None or contact.compartment_id != compartment_id:
                return _error(404, "No such contact in this compartment.")
            if request.method == "GET" and len(parts) == 5:
                return httpx.Response(
                    200,
                    json={
                        "id": contact.contact_id,
                        "recipient": contact.recipient,
                        "accepted": contact.accepted,
                        "state": base64.b64encode(contact.state).decode()
                        if contact.state is not None
                        else None,
                    },
                )
            if request.method == "DELETE" and len(parts) == 5:
                del self.contacts[contact.contact_id]
                self.items = [i for i in self.items if i.contact != contact.contact_id]
                return httpx.Response(204)
            if request.method == "PUT" and parts[5:] == ["state"]:
                contact.state = request.content
                return httpx.Response(204)
            if request.method == "POST" and parts[5:] == ["cut"]:
                contact.accepted, contact.recipient = False, ""
                return httpx.Response(204)
            if request.method == "POST" and parts[5:] == ["replies"]:
                if not request.content.startswith(AGE_MAGIC):
                    return _error(400, "A reply must be an age file.")
                reply_id = self.add_item(
                    compartment_id, request.content, contact=contact.contact_id, direction="out"
                )
                return httpx.Response(201, json={"id": reply_id})
        return _error(404, "Not found.")

    def _token(self, body: dict[str, str]) -> httpx.Response:
        self.logins += 1
        nonce = self.challenges.pop(body.get("challenge", ""), None)  # used once, even on failure
        epoch = self._current_epoch(body.get("compartment", ""))
        try:
            key = crypto.VerifyKey(base64.b64decode(body["key"], validate=True))
            signature = base64.b64decode(body["signature"], validate=True)
        except (KeyError, binascii.Error, crypto.KeyFormatError):
            return _error(400, "The request is malformed.")
        if nonce is None or epoch is None or epoch.handler(key) is None:
            return _error(
                401, "The login failed: the challenge, key or signature was not accepted."
            )
        # The desk signs the name it dialled (a relaying phishing server
        # would get a signature for its own name); recorded for the tests.
        host = body.get("host", "")
        self.login_hosts.append(host)
        signed = LOGIN_CONTEXT + nonce + epoch.compartment_id.encode() + b"\n" + host.encode()
        try:
            key.verify(signature, signed)
        except crypto.SignatureError:
            return _error(
                401, "The login failed: the challenge, key or signature was not accepted."
            )
        token = secrets.token_urlsafe(32)
        self.tokens[token] = epoch.compartment_id
        self.token_handlers[token] = org.handler_id_for(key)
        return httpx.Response(201, json={"token": token})

    def _forward(self, compartment_id: str, door: str, sealed: bytes) -> httpx.Response:
        """As ``shoal serve``: the door first (404, or 400 for one's own), then the body."""
        epochs = [e for e, _ in self._verified_epochs() if e.door == door]
        if not epochs:
            return _error(404, "There is no door here.")
        target = max(epochs, key=lambda e: e.number)
        if target.compartment_id == compartment_id:
            return _error(400, "A report cannot be forwarded to its own compartment.")
        if not sealed.startswith(AGE_MAGIC):
            return _error(400, "A forwarded report must be an age file.")
        self.forwarded.setdefault(door, []).append(sealed)
        item_id = self.add_item(
            target.compartment_id,
            sealed,
            contact=None,
            direction="forwarded",
            epoch=target.number,
        )
        return httpx.Response(201, json={"id": item_id})

    def _items(self, compartment_id: str, params: httpx.QueryParams) -> httpx.Response:
        after, limit = (
            int(params.get("after", 0)),
            min(int(params.get("limit", 100)), self.max_page),
        )
        mine = sorted(
            (i for i in self.items if i.compartment_id == compartment_id and i.seq > after),
            key=lambda i: i.seq,
        )
        page, rest = mine[:limit], mine[limit:]
        listed = [
            {
                "id": i.item_id,
                "seq": i.seq,
                "contact": i.contact,
                "direction": i.direction,
                "blob": i.blob,
                "size": self.announced.get(i.blob, len(self.blobs[i.blob])),
                "day": i.day,
                "epoch": i.epoch,
            }
            for i in page
        ]
        return httpx.Response(200, json={"items": listed, "next": page[-1].seq if rest else None})

    def _audit(
        self, request: httpx.Request, rest: list[str], compartment_id: str
    ) -> httpx.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        handler = self.token_handlers[token]
        log = self.audit_forks.get(handler, self.audit)
        params = request.url.params
        if request.method == "POST" and rest == []:
            blob = request.content
            if len(blob) > MAX_AUDIT_ENTRY:
                return _error(413, "An audit entry is at most 64 KiB.")
            if not blob.startswith(AGE_MAGIC):
                return _error(400, "An audit entry must be an age file.")
            self.audit_add(compartment_id, blob)
            index = log.size - 1
            return httpx.Response(
                201, json={"index": index, "checkpoint": self.audit_checkpoint(log, log.size)}
            )
        if request.method == "GET" and rest == ["checkpoint"]:
            try:
                start = int(params.get("from", "0"))
                end = int(params["to"]) if "to" in params else log.size
            except ValueError:
                return _error(400, "from and to are integers.")
            if self.audit_head_past_from and start > end:
                start = end
            if not 0 <= start <= end <= log.size:
                return _error(400, "0 <= from <= to <= size.")
            proof = tlog.Prover(log.source).consistency_proof(start, end)
            return httpx.Response(
                200,
                json={
                    "key": str(self.audit_verifier),
                    "origin": self.audit_origin,
                    "checkpoint": self.audit_checkpoint(log, end),
                    "proof": [base64.b64encode(h).decode() for h in proof],
                },
            )
        if request.method == "GET" and rest == ["entries"]:
            after = int(params.get("after", "-1"))
            mine = [
                {"index": index, "blob": entry.blob_id, "size": len(entry.blob)}
                for index, entry in enumerate(log.entries)
                if index > after and entry.compartment_id == compartment_id
            ]
            return httpx.Response(200, json={"entries": mine[: self.audit_page]})
        if request.method == "GET" and len(rest) == 3 and rest[0] == "entries":
            index, size = int(rest[1]), int(params["size"])
            if not 0 <= index < size <= log.size:
                return _error(400, "0 <= index < size <= the log's size.")
            if self.audit_misplaced is not None:
                index = self.audit_misplaced  # a proof for another leaf than the one shown
            proof = tlog.Prover(log.source).inclusion_proof(index, size)
            return httpx.Response(
                200, json={"proof": [base64.b64encode(h).decode() for h in proof]}
            )
        if request.method == "GET" and len(rest) == 2 and rest[0] == "entries":
            index = int(rest[1]) if rest[1].isdigit() else -1
            if not 0 <= index < log.size or log.entries[index].compartment_id != compartment_id:
                return _error(404, "No such audit entry in this compartment.")
            return httpx.Response(
                200,
                content=log.entries[index].blob,
                headers={"Content-Type": "application/octet-stream"},
            )
        return _error(404, "Not found.")


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message})
