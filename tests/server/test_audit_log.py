"""The audit log on a real server: entries in one Merkle tree, heads signed
by the server's own key, proofs a desk checks — and each attack a seized
server could try, made on its data directory, caught by those checks."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _server_kit import OrgKit, ServerProcess, Stored, handler_token
from sqlalchemy.orm import Session

from shoal import crypto
from shoal.org import _tlog as tlog
from shoal.store import schema

API = "/api/v1/handler/audit"


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, tmp_path)
    yield process
    process.stop()


def bearer(
    client: httpx.Client, test_org: OrgKit, door: str = "north", which: int = 0
) -> dict[str, str]:
    compartment = test_org.compartments[door]
    token = handler_token(client, compartment.handlers[which], compartment.compartment_id)
    return {"Authorization": f"Bearer {token}"}


def entry(text: bytes = b"moved a contact: in-contact") -> bytes:
    return crypto.encrypt(text, [crypto.generate_identity().recipient()])


def append(
    client: httpx.Client, headers: dict[str, str], body: bytes | None = None
) -> dict[str, object]:
    answer = client.post(API, content=body or entry(), headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


class Desk:
    """What a desk keeps: the pinned key and the last head it accepted."""

    def __init__(self, client: httpx.Client, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        first = client.get(f"{API}/checkpoint", headers=headers).json()
        self.key = crypto.NoteVerifier.parse(first["key"])
        self.origin = first["origin"]
        self.known: tlog.Checkpoint | None = None

    def sync(self) -> tlog.Checkpoint:
        start = self.known.size if self.known else 0
        answer = self.client.get(f"{API}/checkpoint", params={"from": start}, headers=self.headers)
        assert answer.status_code == 200, answer.text
        head = answer.json()
        new = tlog.open_checkpoint(head["checkpoint"], self.key, self.origin)
        proof = [base64.b64decode(p) for p in head["proof"]]
        self.known = tlog.advance(self.known, new, proof if self.known else [])
        return self.known


def test_entries_form_one_signed_log_that_only_grows(
    server: ServerProcess, test_org: OrgKit, stored: Stored
) -> None:
    with server.client() as client:
        north, south = bearer(client, test_org), bearer(client, test_org, "south")
        desk = Desk(client, north)
        assert desk.origin == f"shoal/{test_org.org_id}/audit" == desk.key.name
        assert desk.sync().size == 0
        sizes = []
        for i in range(7):
            made = append(client, north if i % 2 else south)
            assert made["index"] == i
            sizes.append(desk.sync().size)
        assert sizes == [1, 2, 3, 4, 5, 6, 7]
        # Each compartment sees its own entries only; the bytes come back whole.
        own = client.get(f"{API}/entries", headers=north).json()["entries"]
        assert [e["index"] for e in own] == [1, 3, 5]
        assert client.get(f"{API}/entries/0", headers=north).status_code == 404
        assert client.get(f"{API}/entries/1", headers=south).status_code == 404
        body = client.get(f"{API}/entries/1", headers=north).content
        with stored.session() as db:
            row = db.get(schema.AuditEntry, 1)
            assert row is not None and tlog.leaf_hash(body) == row.leaf


def test_a_head_of_a_past_size_is_consistent_with_the_present(
    server: ServerProcess, test_org: OrgKit
) -> None:
    with server.client() as client:
        north = bearer(client, test_org)
        desk = Desk(client, north)
        for _ in range(9):
            append(client, north)
        now = desk.sync()
        for size in range(1, 10):
            answer = client.get(
                f"{API}/checkpoint", params={"from": size, "to": 9}, headers=north
            ).json()
            past = client.get(f"{API}/checkpoint", params={"to": size}, headers=north).json()
            then = tlog.open_checkpoint(past["checkpoint"], desk.key, desk.origin)
            tlog.same_history(then, now, [base64.b64decode(p) for p in answer["proof"]])
        for bad in ({"to": 10}, {"from": -1}, {"to": -1}):
            assert client.get(f"{API}/checkpoint", params=bad, headers=north).status_code == 400


def test_concurrent_appends_never_fork_the_log(server: ServerProcess, test_org: OrgKit) -> None:
    with server.client() as client:
        headers = [bearer(client, test_org, "north", 0), bearer(client, test_org, "north", 1)]
    indexes: list[int] = []

    def writer(h: dict[str, str]) -> None:
        with server.client() as own:
            for _ in range(10):
                indexes.append(int(append(own, h)["index"]))  # type: ignore[arg-type]

    threads = [threading.Thread(target=writer, args=(headers[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(indexes) == list(range(40))
    with server.client() as client:
        desk = Desk(client, headers[0])
        assert desk.sync().size == 40
        leaves = [
            tlog.leaf_hash(client.get(f"{API}/entries/{e['index']}", headers=headers[0]).content)
            for e in client.get(f"{API}/entries", headers=headers[0]).json()["entries"]
        ]
        assert tlog.root(leaves) == desk.known.root  # type: ignore[union-attr]


def test_only_a_handler_appends_an_age_file(server: ServerProcess, test_org: OrgKit) -> None:
    with server.client() as client:
        north = bearer(client, test_org)
        assert client.post(API, content=entry()).status_code == 401
        assert client.post(API, content=b"not an age file", headers=north).status_code == 400
        too_big = b"age-encryption.org/v1\n" + bytes(70 * 1024)
        assert client.post(API, content=too_big, headers=north).status_code == 413
        assert client.get(f"{API}/checkpoint").status_code == 401


# Attacks a seized server could make on its own data, and what catches them.


def seize(stored: Stored, edit: Callable[[Session], None]) -> None:
    with stored.session() as db:
        edit(db)
        db.commit()


def rebuild(db: Session, leaves: list[bytes]) -> None:
    """Rewrite the log's tables so they hold exactly ``leaves`` (a seizer
    covering its tracks: the head and every stored node agree)."""
    db.query(schema.AuditNode).delete()
    state = tlog.LogState()
    for leaf in leaves:
        state, finished = state.append(leaf)
        for node in finished:
            db.add(schema.AuditNode(level=node.level, idx=node.index, hash=node.hash))
    head = db.get(schema.AuditHead, 1)
    assert head is not None
    head.size, head.edge = state.size, b"".join(state.edge)


def entries_in_order(db: Session) -> list[schema.AuditEntry]:
    return sorted(db.query(schema.AuditEntry).all(), key=lambda r: r.idx)


def test_a_rolled_back_log_is_caught(
    server: ServerProcess, test_org: OrgKit, stored: Stored
) -> None:
    with server.client() as client:
        north = bearer(client, test_org)
        desk = Desk(client, north)
        for _ in range(5):
            append(client, north)
        desk.sync()

        def drop_last_two(db: Session) -> None:
            rows = entries_in_order(db)
            for row in rows[3:]:
                db.delete(row)
            rebuild(db, [r.leaf for r in rows[:3]])

        seize(stored, drop_last_two)
        with pytest.raises(tlog.TlogRollbackError):
            desk.sync()


def test_a_rewritten_entry_is_caught(
    server: ServerProcess, test_org: OrgKit, stored: Stored
) -> None:
    with server.client() as client:
        north = bearer(client, test_org)
        desk = Desk(client, north)
        for _ in range(6):
            append(client, north)
        desk.sync()

        def rewrite_entry_two(db: Session) -> None:
            rows = entries_in_order(db)
            rows[2].leaf = tlog.leaf_hash(b"a different entry")
            rebuild(db, [r.leaf for r in rows])

        seize(stored, rewrite_entry_two)
        append(client, north)  # and it carries on as if nothing happened
        with pytest.raises(tlog.TlogForkError):
            desk.sync()


def test_a_swapped_log_key_is_caught(
    server: ServerProcess, test_org: OrgKit, data_dir: Path, tmp_path: Path
) -> None:
    with server.client() as client:
        north = bearer(client, test_org)
        desk = Desk(client, north)
        append(client, north)
        desk.sync()
    server.stop()
    (data_dir / "audit.key").write_bytes(crypto.SigningKey.generate().seed_bytes())
    again = ServerProcess(data_dir, tmp_path / "again")
    try:
        with again.client() as client:
            desk.client, desk.headers = client, bearer(client, test_org)
            with pytest.raises(crypto.CryptoError):
                desk.sync()
    finally:
        again.stop()


def test_every_entry_is_proved_at_its_index(server: ServerProcess, test_org: OrgKit) -> None:
    with server.client() as client:
        north, south = bearer(client, test_org), bearer(client, test_org, "south")
        for i in range(6):
            append(client, north if i % 3 else south)
        desk = Desk(client, north)
        head = desk.sync()
        for listed in client.get(f"{API}/entries", headers=north).json()["entries"]:
            index = listed["index"]
            body = client.get(f"{API}/entries/{index}", headers=north).content
            proof = client.get(
                f"{API}/entries/{index}/proof", params={"size": head.size}, headers=north
            ).json()["proof"]
            hashes = [base64.b64decode(h) for h in proof]
            tlog.verify_inclusion(tlog.leaf_hash(body), index, head.size, hashes, head.root)
            with pytest.raises(tlog.TlogError):
                tlog.verify_inclusion(tlog.leaf_hash(body), index + 1, head.size, hashes, head.root)
        assert (
            client.get(f"{API}/entries/0/proof", params={"size": 6}, headers=north).status_code
            == 404
        )
        assert (
            client.get(f"{API}/entries/1/proof", params={"size": 9}, headers=north).status_code
            == 400
        )
        assert (
            client.get(f"{API}/entries/1/proof", params={"size": 1}, headers=north).status_code
            == 400
        )
