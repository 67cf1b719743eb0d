"""Two stateless ``shoal serve`` processes sharing one PostgreSQL database
and nothing else (DESIGN.md, "Storage and scale").

Each process has its own data directory: the same ``server.toml`` (database
URL, ``[blobs] backend = "database"``) and the same ``audit.key``, as
docs/deploy.md tells an operator to give every node; no file is shared.
Whatever one process began, the other continues: a first contact through
one and the login through the other, a session ended on one is ended on
both, a handler's login challenge fetched from one and answered to the
other, a resumable upload continued on the other, and quotas that
concurrent requests to both cannot together pass. The handler's listing,
paged alternately through both, shows every item exactly once, and each
opens with the compartment's key.
"""

from __future__ import annotations

import base64
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from _member_server_kit import (
    API,
    Member,
    World,
    create,
    finish,
    new_id,
    put,
    status,
)
from _server_kit import LOGIN_CONTEXT, ServerProcess, Stored, handler_token, new_org
from sqlalchemy import select

import _engines
from _server_config import update_server_config
from shoal import crypto
from shoal.server._admin import import_notes, init_data_dir
from shoal.store import schema

#: Room for exactly QUOTA_UPLOADS uploads of UPLOAD_SIZE declared bytes.
UPLOAD_SIZE = 10_000
QUOTA_UPLOADS = 6
MAX_UPLOADS = 4  # per contact


@dataclass
class Pair:
    a: World
    b: World

    @property
    def both(self) -> tuple[World, World]:
        return self.a, self.b


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, postgresql_cluster: None) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("two")
    kit = new_org()
    kit.add_compartment("north", handlers=1)
    url = _engines.new_postgresql_database()
    node_a, node_b = root / "a", root / "b"
    init_data_dir(node_a, kit.root_key, url)
    update_server_config(
        node_a,
        blobs={"backend": "database"},
        limits={"max_upload_bytes": QUOTA_UPLOADS * UPLOAD_SIZE, "max_uploads": MAX_UPLOADS},
    )
    import_notes(node_a, kit.write_notes(root / "notes"), datetime.now(UTC))
    # The second node: the same configuration and audit key, nothing else.
    node_b.mkdir(mode=0o700)
    for name in ("server.toml", "audit.key"):
        shutil.copy2(node_a / name, node_b / name)
    assert sorted(p.name for p in node_b.iterdir()) == ["audit.key", "server.toml"]
    server_a = ServerProcess(node_a, root / "run-a")
    server_b = ServerProcess(node_b, root / "run-b")
    stored = Stored(node_a)
    a = World(kit, node_a, server_a, server_a.client(), stored, {})
    b = replace(a, data_dir=node_b, server=server_b, client=server_b.client())
    try:
        token = handler_token(
            a.client,
            kit.compartments["north"].handlers[0],
            kit.compartments["north"].compartment_id,
        )
        a.tokens["north"] = token  # one dict: both worlds see it
        yield Pair(a, b)
    finally:
        for world in (a, b):
            world.client.close()
            world.server.stop()
        stored.close()


def first_contact_and_login(made_on: World, login_on: World) -> Member:
    made = made_on.client.post(f"{API}/doors/north/contacts")
    assert made.status_code == 201, made.text
    codename = made.json()["codename"]
    login = login_on.client.post(f"{API}/doors/north/sessions", json={"codename": codename})
    assert login.status_code == 201, login.text
    keys = crypto.derive_contact_keys(
        codename, made_on.kit.organization.salt, made_on.kit.organization.key_type
    )
    with made_on.stored.session() as db:
        contact_id = db.scalar(
            select(schema.Contact.id).where(schema.Contact.lookup_id == keys.lookup_id)
        )
    assert contact_id is not None
    return Member("north", codename, login.json()["session"], contact_id)


def submit(world: World, member: Member, text: bytes) -> httpx.Response:
    return world.client.post(
        f"{API}/doors/north/submissions",
        files=[("message", (None, text))],
        headers=member.auth,
    )


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[int]:
    """Run the calls together (released by one barrier); their statuses."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> int:
        barrier.wait()
        return call().status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def sealed_of_size(world: World, size: int) -> bytes:
    """An item sealed as a field client seals it, exactly ``size`` bytes."""
    overhead = len(world.sealed(1_000)) - 1_000
    data = world.sealed(size - overhead)
    assert len(data) == size
    return data


def quota_used(world: World) -> int:
    with world.stored.session() as db:
        used = db.scalar(select(schema.Quota.used).where(schema.Quota.name == "upload_bytes"))
    assert used is not None
    return used


def test_a_contact_made_on_one_process_logs_in_on_the_other(pair: Pair) -> None:
    member = first_contact_and_login(pair.a, pair.b)
    # The session made on B opens on A, and ending it on A ends it on B.
    for world in pair.both:
        replies = world.client.get(f"{API}/doors/north/replies", headers=member.auth)
        assert replies.status_code == 200, replies.text
    ended = pair.a.client.delete(f"{API}/doors/north/sessions/current", headers=member.auth)
    assert ended.status_code == 204
    for world in pair.both:
        gone = world.client.get(f"{API}/doors/north/replies", headers=member.auth)
        assert gone.status_code == 401


def test_a_handler_challenge_from_one_process_is_answered_to_the_other(pair: Pair) -> None:
    handler = pair.a.kit.compartments["north"].handlers[0]
    compartment_id = pair.a.kit.compartments["north"].compartment_id
    challenge = pair.a.client.post(f"{API}/handler/challenges")
    assert challenge.status_code == 201
    nonce = base64.b64decode(challenge.json()["nonce"])
    signature = handler.signing.sign(LOGIN_CONTEXT + nonce + compartment_id.encode())
    answer: dict[str, Any] = {
        "challenge": challenge.json()["id"],
        "compartment": compartment_id,
        "key": base64.b64encode(handler.signing.verify_key.public_bytes).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    token = pair.b.client.post(f"{API}/handler/tokens", json=answer)
    assert token.status_code == 201, token.text
    # A challenge is spent once, on whichever process.
    again = pair.a.client.post(f"{API}/handler/tokens", json=answer)
    assert again.status_code == 401
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    assert pair.a.client.get(f"{API}/handler/items", headers=bearer).status_code == 200


def test_an_upload_begun_on_one_process_is_finished_on_the_other(pair: Pair) -> None:
    member = first_contact_and_login(pair.a, pair.a)
    data = pair.a.sealed(UPLOAD_SIZE)
    upload_id = new_id()
    assert create(pair.a, member, upload_id, len(data)).status_code == 201
    assert put(pair.a, member, upload_id, 0, data[:3_000]).status_code == 200
    assert status(pair.b, member, upload_id).json()["received"] == 3_000
    assert put(pair.b, member, upload_id, 3_000, data[3_000:7_000]).status_code == 200
    # A piece sent again to the first process, at the old offset, is told
    # where the upload is now.
    stale = put(pair.a, member, upload_id, 3_000, data[3_000:7_000])
    assert stale.status_code == 409
    assert stale.json()["received"] == 7_000
    assert put(pair.a, member, upload_id, 7_000, data[7_000:]).status_code == 200
    assert finish(pair.b, member, upload_id).status_code == 201
    assert finish(pair.a, member, upload_id).status_code == 200  # the same item again
    (item,) = [i for i in pair.a.items() if i["id"] == upload_id]
    for world in pair.both:
        assert world.blob(item["blob"]).content == data


def test_racing_pieces_on_both_processes_count_once(pair: Pair) -> None:
    member = first_contact_and_login(pair.a, pair.b)
    data = pair.a.sealed(UPLOAD_SIZE)
    for _ in range(5):
        upload_id = new_id()
        assert create(pair.a, member, upload_id, len(data)).status_code == 201
        statuses = at_once(
            [lambda w=w: put(w, member, upload_id, 0, data) for w in (*pair.both, *pair.both)]
        )
        assert sorted(statuses) == [200, 409, 409, 409], statuses
        assert [(o, n) for o, n, _ in pair.a.pieces(upload_id)] == [(0, len(data))]
        assert finish(pair.b, member, upload_id).status_code == 201


def test_concurrent_uploads_past_the_global_quota_are_refused_exactly_once(pair: Pair) -> None:
    """QUOTA_UPLOADS + 1 contacts each begin an upload at the same moment,
    alternately on each process: exactly one is refused (429), and the
    quota counts exactly what the others declared; finishing one frees
    room for one more."""
    before = quota_used(pair.a)
    assert before == 0, "an earlier test left an unfinished upload"
    members = [first_contact_and_login(pair.a, pair.b) for _ in range(QUOTA_UPLOADS + 1)]
    ids = [new_id() for _ in members]
    worlds = [pair.both[i % 2] for i in range(len(members))]
    statuses = at_once(
        [
            lambda w=w, m=m, u=u: create(w, m, u, UPLOAD_SIZE)
            for w, m, u in zip(worlds, members, ids, strict=True)
        ]
    )
    assert sorted(statuses) == [201] * QUOTA_UPLOADS + [429], statuses
    assert quota_used(pair.a) == QUOTA_UPLOADS * UPLOAD_SIZE
    refused = statuses.index(429)
    assert create(pair.b, members[refused], new_id(), UPLOAD_SIZE).status_code == 429
    # One finished upload releases what it reserved.
    first = next(i for i, s in enumerate(statuses) if s == 201)
    data = sealed_of_size(pair.a, UPLOAD_SIZE)
    assert put(pair.a, members[first], ids[first], 0, data).status_code == 200
    assert finish(pair.b, members[first], ids[first]).status_code == 201
    assert quota_used(pair.a) == (QUOTA_UPLOADS - 1) * UPLOAD_SIZE
    assert create(pair.a, members[refused], ids[refused], UPLOAD_SIZE).status_code == 201
    # Clean up for the tests after: a handler deleting the contacts
    # releases their unfinished uploads' reservations.
    for member in members:
        deleted = pair.a.client.delete(
            f"{API}/handler/contacts/{member.contact_id}", headers=pair.a.handler()
        )
        assert deleted.status_code == 204
    assert quota_used(pair.a) == 0


def test_one_contacts_concurrent_uploads_past_its_own_limit_are_refused_exactly_once(
    pair: Pair,
) -> None:
    member = first_contact_and_login(pair.a, pair.b)
    statuses = at_once(
        [
            lambda w=pair.both[i % 2]: create(w, member, new_id(), 100)
            for i in range(MAX_UPLOADS + 1)
        ]
    )
    assert sorted(statuses) == [201] * MAX_UPLOADS + [429], statuses
    assert (
        pair.a.client.delete(
            f"{API}/handler/contacts/{member.contact_id}", headers=pair.a.handler()
        ).status_code
        == 204
    )


def test_the_handler_sees_everything_exactly_once(pair: Pair) -> None:
    """Messages sent alternately through both processes, at the same time,
    and the listing paged alternately through both: each message once, in
    one order with no gap, and each opens with the compartment's key."""
    members = [first_contact_and_login(pair.a, pair.b) for _ in range(4)]
    texts = [f"message {i} {new_id()}".encode() for i in range(24)]
    statuses = at_once(
        [
            lambda i=i, t=t: submit(pair.both[i % 2], members[i % len(members)], t)
            for i, t in enumerate(texts)
        ]
    )
    assert statuses == [201] * len(texts)
    seen: list[dict[str, Any]] = []
    after, turn = 0, 0
    while True:
        world = pair.both[turn % 2]
        page = world.client.get(
            f"{API}/handler/items", params={"after": after, "limit": 5}, headers=pair.a.handler()
        )
        assert page.status_code == 200
        items = page.json()["items"]
        if not items:
            break
        seen.extend(items)
        after, turn = page.json()["next"], turn + 1
    seqs = [item["seq"] for item in seen]
    assert seqs == sorted(set(seqs)), "an item listed twice or out of order"
    handler = pair.a.kit.compartments["north"].handlers[0]
    opened: list[bytes] = []
    for item in seen:
        if item["contact"] not in {m.contact_id for m in members}:
            continue
        ciphertext = pair.both[item["seq"] % 2].blob(item["blob"]).content
        opened.append(crypto.decrypt(ciphertext, [handler.identity]))
    for text in texts:
        assert sum(text in plain for plain in opened) == 1, text
