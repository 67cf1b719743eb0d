"""A real ``shoal serve`` for the member routes, with members and handlers.

One organization: door "north" (two handlers) and door "south" (one). A
member is a contact who logged in over the JSON API; its contact id is
found the way the server finds it, by the lookup id its codename derives.
Items are sealed here as a field client seals them: to the door's epoch.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _server_kit import HandlerKeys, OrgKit, ServerProcess, Stored, handler_token, new_org
from sqlalchemy import select

import _engines
from shoal import crypto
from shoal.server._admin import import_notes, init_data_dir
from shoal.store import schema

API = "/api/v1"
AGE = {"Content-Type": "application/octet-stream"}


@dataclass
class Member:
    door: str
    codename: str
    session: str
    contact_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session}"}

    def url(self, path: str) -> str:
        return f"{API}/doors/{self.door}/{path}"


@dataclass
class World:
    kit: OrgKit
    data_dir: Path
    server: ServerProcess
    client: httpx.Client
    stored: Stored
    tokens: dict[str, str]

    def member(self, door: str = "north") -> Member:
        made = self.client.post(f"{API}/doors/{door}/contacts")
        assert made.status_code == 201, made.text
        codename = made.json()["codename"]
        login = self.client.post(f"{API}/doors/{door}/sessions", json={"codename": codename})
        assert login.status_code == 201, login.text
        organization = self.kit.organization
        keys = crypto.derive_contact_keys(codename, organization.salt, organization.key_type)
        with self.stored.session() as db:
            contact_id = db.scalar(
                select(schema.Contact.id).where(schema.Contact.lookup_id == keys.lookup_id)
            )
        assert contact_id is not None
        return Member(door, codename, login.json()["session"], contact_id)

    def handler(self, door: str = "north") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[door]}"}

    def items(self, door: str = "north") -> list[dict[str, Any]]:
        answer = self.client.get(
            f"{API}/handler/items", params={"limit": 1000}, headers=self.handler(door)
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    def blob(self, blob_id: str, door: str = "north") -> httpx.Response:
        return self.client.get(f"{API}/handler/blobs/{blob_id}", headers=self.handler(door))

    def sealed(self, size: int, door: str = "north", number: int = 1) -> bytes:
        """An age file as a field client seals an item: to epoch ``number``
        of ``door`` (the plaintext is random: the server never reads it)."""
        epoch = self.kit.epoch(door, number, handlers=self.epoch_handlers(door, number))
        return crypto.encrypt(os.urandom(size), epoch.recipients())

    def epoch_handlers(self, door: str, number: int) -> list[HandlerKeys]:
        """Epoch 2 of north drops its second handler; every other epoch
        lists the door's handlers."""
        handlers = self.kit.compartments[door].handlers
        return handlers[:1] if (door, number) == ("north", 2) else handlers

    def new_epoch(self, door: str = "north", number: int = 2) -> None:
        note = self.data_dir.parent / f"epoch-{door}-{number}.note"
        note.write_text(
            self.kit.epoch_note(door, number, handlers=self.epoch_handlers(door, number))
        )
        import_notes(self.data_dir, [note], now=datetime.now(UTC))

    def part_file(self, upload_id: str) -> Path:
        """Where an older version kept an unfinished upload's bytes."""
        return self.data_dir / "uploads" / f"{upload_id}.part"

    def pieces(self, upload_id: str) -> list[tuple[int, int, str]]:
        """The upload's recorded pieces: offset, size, blob id."""
        with self.stored.session() as db:
            return [
                (p.offset, p.size, p.blob_id)
                for p in db.scalars(
                    select(schema.UploadPiece)
                    .where(schema.UploadPiece.upload_id == upload_id)
                    .order_by(schema.UploadPiece.offset)
                )
            ]

    def has_blob(self, blob_id: str) -> bool:
        return any(path.name == blob_id for path in self.stored.blobs())


@contextmanager
def served(root: Path) -> Iterator[World]:
    kit = new_org()
    kit.add_compartment("north", handlers=2)
    kit.add_compartment("south")
    data_dir = root / "data"
    init_data_dir(data_dir, kit.root_key, _engines.database_url())
    import_notes(data_dir, kit.write_notes(root / "notes"), datetime.now(UTC))
    server = ServerProcess(data_dir, root)
    stored = Stored(data_dir)
    client = server.client()
    world = World(kit, data_dir, server, client, stored, {})
    try:
        tokens = {
            door: handler_token(
                client, kit.compartments[door].handlers[0], kit.compartments[door].compartment_id
            )
            for door in ("north", "south")
        }
        world.tokens.update(tokens)
        yield world
    finally:
        # A test may have restarted the server: stop the one running now.
        world.client.close()
        stored.close()
        world.server.stop()


def new_id() -> str:
    return secrets.token_hex(16)


def create(
    world: World, member: Member, upload_id: str, size: int, epoch: int = 1
) -> httpx.Response:
    return world.client.post(
        member.url("uploads"),
        json={"id": upload_id, "size": size, "epoch": epoch},
        headers=member.auth,
    )


def put(world: World, member: Member, upload_id: str, offset: int, data: bytes) -> httpx.Response:
    return world.client.put(
        member.url(f"uploads/{upload_id}"),
        params={"offset": offset},
        content=data,
        headers=member.auth | AGE,
    )


def status(world: World, member: Member, upload_id: str) -> httpx.Response:
    return world.client.get(member.url(f"uploads/{upload_id}"), headers=member.auth)


def finish(world: World, member: Member, upload_id: str) -> httpx.Response:
    return world.client.post(member.url(f"uploads/{upload_id}/finish"), headers=member.auth)


def upload(world: World, member: Member, data: bytes, epoch: int = 1) -> str:
    """The whole flow in three pieces; returns the item id."""
    upload_id = new_id()
    assert create(world, member, upload_id, len(data), epoch).status_code == 201
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for start, end in itertools.pairwise(cuts):
        assert put(world, member, upload_id, start, data[start:end]).status_code == 200
    finished = finish(world, member, upload_id)
    assert finished.status_code == 201, finished.text
    return str(finished.json()["item"])
