"""Forwarding between compartments: ``POST /api/v1/handler/forwards/<door>``.

A handler's desk re-seals a report to another compartment (DESIGN.md,
"Compartments"); the server files the ciphertext with the door's
compartment, whose desks sync it as their own item. Here: north (two
handlers) forwards to south (one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _server_kit import FakeClock, OrgKit, Stored, TestClient, handler_token

from _server_config import update_server_config
from shoal import crypto
from shoal.desk._api import HandlerAPI
from shoal.desk.errors import ServerError
from shoal.server._admin import import_notes
from shoal.server._config import Limits
from shoal.server._handlers import forward_limit
from shoal.store import schema

API = "/api/v1"
AGE = "application/octet-stream"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": AGE}


def token_of(client: TestClient, test_org: OrgKit, door: str, which: int = 0) -> str:
    compartment = test_org.compartments[door]
    return handler_token(client, compartment.handlers[which], compartment.compartment_id)


def forwarded(test_org: OrgKit, text: bytes = b"a scrubbed report", door: str = "south") -> bytes:
    """A report as a north desk forwards it: sealed to the door's epoch
    (its handlers and command) and signed by the forwarding handler."""
    header = {"kind": "message", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    signer = test_org.compartments["north"].handlers[0].signing
    return crypto.encrypt_item(test_org.epoch(door).recipients(), header, text, signer)


def items(client: TestClient, token: str) -> list[dict[str, object]]:
    answer = client.get(f"{API}/handler/items", headers=auth(token))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def forward(client: TestClient, token: str, door: str, body: object) -> tuple[int, object]:
    answer = client.post(f"{API}/handler/forwards/{door}", content=body, headers=auth(token))
    return answer.status_code, answer.json()


def partials(data_dir: Path) -> list[Path]:
    return list((data_dir / "blobs" / "tmp").iterdir())


def test_a_forward_becomes_an_item_of_the_doors_compartment_only(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    north, south = token_of(client, test_org, "north"), token_of(client, test_org, "south")
    body = forwarded(test_org)
    status, answer = forward(client, north, "south", body)
    assert status == 201, answer
    assert isinstance(answer, dict) and set(answer) == {"id"}
    # Durable before the answer: the row and the blob are there now.
    with stored.session() as db:
        row = db.query(schema.Item).filter_by(id=answer["id"]).one()
    assert row.compartment_id == test_org.compartments["south"].compartment_id
    assert len(stored.blobs()) == 1

    (item,) = items(client, south)
    today = datetime.now(UTC).date().isoformat()
    assert item == {
        "id": answer["id"],
        "seq": item["seq"],
        "contact": None,
        "direction": "forwarded",
        "blob": item["blob"],
        "size": len(body),
        "epoch": 1,
        "day": today,
    }
    download = client.get(f"{API}/handler/blobs/{item['blob']}", headers=auth(south))
    assert download.status_code == 200 and download.content == body
    # South's handler and command read it; north filed it and cannot even see it.
    south_identity = test_org.compartments["south"].handlers[0].identity
    for identity in (south_identity, test_org.reading):
        envelope, content = crypto.decrypt_item(download.content, [identity])
        assert content == b"a scrubbed report" and envelope.signer is not None
    assert items(client, north) == []
    blob = client.get(f"{API}/handler/blobs/{item['blob']}", headers=auth(north))
    assert blob.status_code == 404
    deleted = client.delete(f"{API}/handler/items/{answer['id']}", headers=auth(north))
    assert deleted.status_code == 404 and stored.rows(schema.Item) == 1


def test_the_item_records_the_targets_current_epoch(
    client: TestClient, test_org: OrgKit, data_dir: Path
) -> None:
    north = token_of(client, test_org, "north")
    note = data_dir.parent / "epoch-south-2.note"
    note.write_text(test_org.epoch_note("south", 2))
    import_notes(data_dir, [note], datetime.now(UTC))
    status, _ = forward(client, north, "south", forwarded(test_org))
    assert status == 201
    (item,) = items(client, token_of(client, test_org, "south"))
    assert item["epoch"] == 2


def test_every_handler_of_the_target_sees_it_and_the_other_direction_works(
    client: TestClient, test_org: OrgKit
) -> None:
    south = token_of(client, test_org, "south")
    status, answer = forward(client, south, "north", forwarded(test_org, door="north"))
    assert status == 201
    assert isinstance(answer, dict)
    for which in (0, 1):
        listed = items(client, token_of(client, test_org, "north", which))
        assert [(i["id"], i["direction"]) for i in listed] == [(answer["id"], "forwarded")]
    assert items(client, south) == []


def test_forwarding_to_ones_own_door_is_400_and_stores_nothing(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    north = token_of(client, test_org, "north")
    status, answer = forward(client, north, "north", forwarded(test_org, door="north"))
    assert status == 400
    assert answer == {"error": "A report cannot be forwarded to its own compartment."}
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


@pytest.mark.parametrize("door", ["nowhere", "Not-A-Door", "a" * 64, "-"])
def test_a_door_nobody_has_is_404_whatever_its_shape(
    client: TestClient, test_org: OrgKit, stored: Stored, door: str
) -> None:
    north = token_of(client, test_org, "north")
    status, answer = forward(client, north, door, forwarded(test_org))
    assert (status, answer) == (404, {"error": "There is no door here."})
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


@pytest.mark.parametrize("door", ["south", "nowhere"])
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_without_a_handler_token_it_is_401_whatever_the_door(
    client: TestClient, test_org: OrgKit, stored: Stored, door: str, token: str | None
) -> None:
    headers = {"Content-Type": AGE} | ({"Authorization": f"Bearer {token}"} if token else {})
    answer = client.post(
        f"{API}/handler/forwards/{door}", content=forwarded(test_org), headers=headers
    )
    assert answer.status_code == 401
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_a_contacts_session_cannot_forward(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    made = client.post(f"{API}/doors/north/contacts").json()
    session = made["session"]
    body = forwarded(test_org)
    as_bearer = client.post(f"{API}/handler/forwards/south", content=body, headers=auth(session))
    client.cookies.set("shoal_session", session)
    try:
        as_cookie = client.post(
            f"{API}/handler/forwards/south", content=body, headers={"Content-Type": AGE}
        )
    finally:
        client.cookies.clear()
    assert as_bearer.status_code == 401 and as_cookie.status_code == 401
    assert stored.rows(schema.Item) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"age-encryption.org/v1",  # the magic line cut short
        b"-----BEGIN AGE ENCRYPTED FILE-----\n",  # armored: the API takes binary only
        b"a plaintext report that must never be stored\n" * 100,
    ],
)
def test_a_body_that_is_not_an_age_file_is_400_and_stores_nothing(
    client: TestClient, test_org: OrgKit, stored: Stored, data_dir: Path, body: bytes
) -> None:
    north = token_of(client, test_org, "north")
    status, answer = forward(client, north, "south", body)
    assert (status, answer) == (400, {"error": "A forwarded report must be an age file."})
    assert stored.rows(schema.Item) == 0 and stored.blobs() == [] and partials(data_dir) == []


def test_the_limit_is_a_sealed_submission_not_a_reply() -> None:
    limits = Limits()
    # A file the intake took (up to max_body) still fits once re-sealed.
    assert limits.max_body < forward_limit(limits) < limits.max_body * 9 // 8 + (1 << 20)
    assert forward_limit(Limits(max_body=1000)) > 1000


def test_a_forward_larger_than_a_reply_may_be_is_taken(
    make_client: Callable[..., TestClient], test_org: OrgKit
) -> None:
    client = make_client(max_reply=10_000)
    north = token_of(client, test_org, "north")
    body = forwarded(test_org, bytes(200_000))
    status, _ = forward(client, north, "south", body)
    assert status == 201


def _chunked(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 8192):
        yield body[start : start + 8192]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_forward_over_the_limit_is_413_and_leaves_no_blob(
    make_client: Callable[..., TestClient],
    test_org: OrgKit,
    stored: Stored,
    data_dir: Path,
    framing: str,
) -> None:
    client = make_client(max_body=10_000)
    limit = forward_limit(Limits(max_body=10_000))
    north = token_of(client, test_org, "north")
    body = b"age-encryption.org/v1\n" + bytes(limit)
    content = body if framing == "content-length" else _chunked(body)
    status, answer = forward(client, north, "south", content)
    assert (status, answer) == (413, {"error": "The upload is too large. Nothing was stored."})
    assert stored.rows(schema.Item) == 0 and stored.blobs() == [] and partials(data_dir) == []
    # Just within the limit, the same route takes it.
    status, _ = forward(client, north, "south", body[:limit])
    assert status == 201


def test_retention_treats_a_forwarded_item_like_any_received_one(
    data_dir: Path,
    make_client: Callable[..., TestClient],
    clock: FakeClock,
    test_org: OrgKit,
    stored: Stored,
) -> None:
    update_server_config(data_dir, retention_days=2)
    client = make_client()
    status, _ = forward(client, token_of(client, test_org, "north"), "south", forwarded(test_org))
    assert status == 201
    clock.advance(days=3)
    south = token_of(client, test_org, "south")
    (item,) = items(client, south)
    # The sender's desks report nothing of it: north's sync deletes nothing.
    for which in (0, 1):
        north = token_of(client, test_org, "north", which)
        answer = client.post(f"{API}/handler/synced", json={"seq": 10**9}, headers=auth(north))
        assert answer.json() == {"expired": 0}
    assert stored.rows(schema.Item) == 1
    answer = client.post(f"{API}/handler/synced", json={"seq": item["seq"]}, headers=auth(south))
    assert answer.json() == {"expired": 1}
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_a_handler_of_the_target_deletes_it(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    north, south = token_of(client, test_org, "north"), token_of(client, test_org, "south")
    _, answer = forward(client, north, "south", forwarded(test_org))
    assert isinstance(answer, dict)
    deleted = client.delete(f"{API}/handler/items/{answer['id']}", headers=auth(south))
    assert deleted.status_code == 204
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_the_desks_client_forwards_through_the_real_route(
    client: TestClient, test_org: OrgKit
) -> None:
    north = test_org.compartments["north"]
    desk = HandlerAPI(client)
    desk.login(north.handlers[0].signing, north.compartment_id)
    body = forwarded(test_org)
    item_id = desk.forward("south", body)
    (item,) = items(client, token_of(client, test_org, "south"))
    assert item["id"] == item_id and item["size"] == len(body)
    with pytest.raises(ServerError, match=r"\(400\): A report cannot be forwarded") as raised:
        desk.forward("north", body)
    assert raised.value.status == 400
    with pytest.raises(ServerError, match=r"\(404\)"):
        desk.forward("nowhere", body)


def test_a_handler_gets_the_current_epoch_of_the_door_it_names(
    client: TestClient, test_org: OrgKit, data_dir: Path
) -> None:
    north = token_of(client, test_org, "north")
    answer = client.get(f"{API}/handler/forwards/south", headers=auth(north))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"epoch": test_org.epoch_note("south", 1)}
    note = data_dir.parent / "epoch-south-2.note"
    note.write_text(test_org.epoch_note("south", 2))
    import_notes(data_dir, [note], datetime.now(UTC))
    newer = client.get(f"{API}/handler/forwards/south", headers=auth(north))
    assert newer.json() == {"epoch": test_org.epoch_note("south", 2)}


@pytest.mark.parametrize(("door", "status"), [("north", 400), ("nowhere", 404), ("..", 404)])
def test_no_epoch_for_the_own_door_or_a_door_nobody_has(
    client: TestClient, test_org: OrgKit, door: str, status: int
) -> None:
    north = token_of(client, test_org, "north")
    answer = client.get(f"{API}/handler/forwards/{door}", headers=auth(north))
    assert answer.status_code == status


def test_no_epoch_without_a_handlers_token(client: TestClient, test_org: OrgKit) -> None:
    assert client.get(f"{API}/handler/forwards/south").status_code == 401
