"""The desk's API: signed-challenge login, one compartment per token."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _server_kit import (
    LOGIN_CONTEXT,
    FakeClock,
    HandlerKeys,
    OrgKit,
    Stored,
    TestClient,
    handler_token,
    new_handler,
    reply_item,
)
from sqlalchemy import update

from shoal import crypto
from shoal.server._admin import import_notes
from shoal.store import schema


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login_body(
    client: TestClient, handler: HandlerKeys, compartment_id: str, **changes: str
) -> dict[str, str]:
    challenge = client.post("/api/v1/handler/challenges").json()
    nonce = base64.b64decode(challenge["nonce"])
    signature = handler.signing.sign(LOGIN_CONTEXT + nonce + compartment_id.encode())
    body = {
        "challenge": challenge["id"],
        "compartment": compartment_id,
        "key": base64.b64encode(handler.signing.verify_key.public_bytes).decode(),
        "signature": base64.b64encode(signature).decode(),
    }
    return body | changes


def submit_as_contact(client: TestClient, door: str, message: str) -> str:
    made = client.post(f"/api/v1/doors/{door}/contacts").json()
    answer = client.post(
        f"/api/v1/doors/{door}/submissions",
        files={"message": (None, message)},
        headers=auth(made["session"]),
    )
    assert answer.status_code == 201
    return str(made["session"])


def test_a_challenge_is_32_random_bytes(client: TestClient) -> None:
    first = client.post("/api/v1/handler/challenges").json()
    second = client.post("/api/v1/handler/challenges").json()
    assert len(base64.b64decode(first["nonce"])) == 32
    assert first["nonce"] != second["nonce"] and first["id"] != second["id"]


def test_a_challenge_is_single_use(client: TestClient, test_org: OrgKit) -> None:
    north = test_org.compartments["north"]
    body = login_body(client, north.handlers[0], north.compartment_id)
    assert client.post("/api/v1/handler/tokens", json=body).status_code == 201
    assert client.post("/api/v1/handler/tokens", json=body).status_code == 401


def test_a_failed_login_uses_up_the_challenge(client: TestClient, test_org: OrgKit) -> None:
    north = test_org.compartments["north"]
    good = login_body(client, north.handlers[0], north.compartment_id)
    bad = good | {"signature": base64.b64encode(bytes(64)).decode()}
    assert client.post("/api/v1/handler/tokens", json=bad).status_code == 401
    assert client.post("/api/v1/handler/tokens", json=good).status_code == 401


def test_a_challenge_expires_with_its_day(
    client: TestClient, test_org: OrgKit, clock: FakeClock
) -> None:
    north = test_org.compartments["north"]
    body = login_body(client, north.handlers[0], north.compartment_id)
    clock.advance(days=1)
    assert client.post("/api/v1/handler/tokens", json=body).status_code == 401


@pytest.mark.parametrize("who", ["stranger", "other compartment", "other compartment id"])
def test_only_a_handler_of_the_compartment_logs_in(
    client: TestClient, test_org: OrgKit, who: str
) -> None:
    north = test_org.compartments["north"]
    south = test_org.compartments["south"]
    if who == "stranger":
        body = login_body(client, new_handler(), north.compartment_id)
    elif who == "other compartment":
        body = login_body(client, south.handlers[0], north.compartment_id)
    else:
        body = login_body(client, north.handlers[0], "f" * 32)
    answer = client.post("/api/v1/handler/tokens", json=body)
    assert answer.status_code == 401
    assert set(answer.json()) == {"error"}


@pytest.mark.parametrize(
    "changes",
    [
        {"key": "not base64!"},
        {"key": base64.b64encode(bytes(31)).decode()},
        {"signature": "AAAA"},
        {"compartment": ""},
        {"challenge": "nope"},
    ],
)
def test_malformed_logins_are_401(
    client: TestClient, test_org: OrgKit, changes: dict[str, str]
) -> None:
    north = test_org.compartments["north"]
    body = login_body(client, north.handlers[0], north.compartment_id, **changes)
    assert client.post("/api/v1/handler/tokens", json=body).status_code == 401


def test_every_handler_call_needs_a_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/org"),
        ("GET", "/api/v1/handler/items"),
        ("GET", "/api/v1/handler/blobs/" + "0" * 64),
        ("GET", "/api/v1/handler/contacts/" + "0" * 32),
        ("POST", "/api/v1/handler/contacts/" + "0" * 32 + "/replies"),
    ]:
        for headers in ({}, auth("made-up"), {"Authorization": "Basic x"}):
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path)


def test_items_page_by_seq_and_stay_in_their_compartment(
    client: TestClient, test_org: OrgKit
) -> None:
    for i in range(5):
        submit_as_contact(client, "north", f"north {i}")
    submit_as_contact(client, "south", "south")
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[1], north.compartment_id)
    page = client.get("/api/v1/handler/items?limit=3", headers=auth(token)).json()
    assert [i["seq"] for i in page["items"]] == [1, 2, 3]
    assert page["next"] == 3
    rest = client.get(f"/api/v1/handler/items?after={page['next']}", headers=auth(token)).json()
    assert [i["seq"] for i in rest["items"]] == [4, 5]
    empty = client.get(f"/api/v1/handler/items?after={rest['next']}", headers=auth(token)).json()
    assert empty == {"items": [], "next": 5}
    item = page["items"][0]
    assert set(item) == {"id", "seq", "contact", "direction", "blob", "size", "epoch", "day"}
    assert item["direction"] == "in"
    assert item["epoch"] == 1  # what the server sealed it to
    assert item["day"] == datetime.now(UTC).date().isoformat()
    for bad in ("limit=0", "limit=1001", "after=-1", "after=x"):
        assert client.get(f"/api/v1/handler/items?{bad}", headers=auth(token)).status_code == 400


def test_blobs_download_whole_and_only_within_the_compartment(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    submit_as_contact(client, "north", "for north")
    submit_as_contact(client, "south", "for south")
    north, south = test_org.compartments["north"], test_org.compartments["south"]
    north_token = handler_token(client, north.handlers[0], north.compartment_id)
    south_token = handler_token(client, south.handlers[0], south.compartment_id)
    (item,) = client.get("/api/v1/handler/items", headers=auth(north_token)).json()["items"]
    url = f"/api/v1/handler/blobs/{item['blob']}"
    blob = client.get(url, headers=auth(north_token))
    assert blob.status_code == 200
    assert blob.headers["content-type"] == "application/octet-stream"
    assert int(blob.headers["content-length"]) == item["size"] == len(blob.content)
    envelope, content = crypto.decrypt_item(blob.content, [north.handlers[0].identity])
    assert content == b"for north" and envelope.header["kind"] == "message"
    assert client.get(url, headers=auth(south_token)).status_code == 404
    for bad in ("0" * 64, "../../server.json", "xyz"):
        answer = client.get(f"/api/v1/handler/blobs/{bad}", headers=auth(north_token))
        assert answer.status_code == 404


def test_contacts_are_visible_only_to_their_compartment(
    client: TestClient, test_org: OrgKit
) -> None:
    submit_as_contact(client, "north", "hello")
    north, south = test_org.compartments["north"], test_org.compartments["south"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    (item,) = client.get("/api/v1/handler/items", headers=auth(token)).json()["items"]
    found = client.get(f"/api/v1/handler/contacts/{item['contact']}", headers=auth(token)).json()
    assert found["id"] == item["contact"] and found["accepted"] is True
    assert crypto.parse_recipient(found["recipient"])
    other = handler_token(client, south.handlers[0], south.compartment_id)
    answer = client.get(f"/api/v1/handler/contacts/{item['contact']}", headers=auth(other))
    assert answer.status_code == 404


def contact_of_north(client: TestClient, token: str) -> str:
    submit_as_contact(client, "north", "hello")
    items = client.get("/api/v1/handler/items", headers=auth(token)).json()["items"]
    return str(items[-1]["contact"])


def test_a_reply_must_be_an_age_file(client: TestClient, test_org: OrgKit, stored: Stored) -> None:
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    contact = contact_of_north(client, token)
    url = f"/api/v1/handler/contacts/{contact}/replies"
    before = len(stored.blobs())
    for body in (b"", b"age-encryption.org/v1", b"-----BEGIN AGE ENCRYPTED FILE-----\n", b"x" * 99):
        assert client.post(url, content=body, headers=auth(token)).status_code == 400
    assert len(stored.blobs()) == before and stored.rows(schema.Item) == 1


def test_a_reply_over_the_limit_is_413(
    make_client: object, test_org: OrgKit, stored: Stored
) -> None:
    client = make_client(max_reply=10_000)  # type: ignore[operator]
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    contact = contact_of_north(client, token)
    body = b"age-encryption.org/v1\n" + bytes(20_000)
    url = f"/api/v1/handler/contacts/{contact}/replies"
    assert client.post(url, content=body, headers=auth(token)).status_code == 413
    assert stored.rows(schema.Item) == 1 and len(stored.blobs()) == 1


def test_replies_go_only_to_accepted_contacts_of_the_compartment(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    north, south = test_org.compartments["north"], test_org.compartments["south"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    contact = contact_of_north(client, token)
    recipient = client.get(f"/api/v1/handler/contacts/{contact}", headers=auth(token)).json()[
        "recipient"
    ]
    item = reply_item(recipient, "hi", test_org, "north", contact, north.handlers[0])
    url = f"/api/v1/handler/contacts/{contact}/replies"
    south_token = handler_token(client, south.handlers[0], south.compartment_id)
    assert client.post(url, content=item, headers=auth(south_token)).status_code == 404
    with stored.session() as db:
        db.execute(update(schema.Contact).values(accepted=False))
        db.commit()
    assert client.post(url, content=item, headers=auth(token)).status_code == 409
    assert stored.rows(schema.Item) == 1


def test_a_stored_reply_is_an_out_item(client: TestClient, test_org: OrgKit) -> None:
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    contact = contact_of_north(client, token)
    recipient = client.get(f"/api/v1/handler/contacts/{contact}", headers=auth(token)).json()[
        "recipient"
    ]
    item = reply_item(recipient, "hi", test_org, "north", contact, north.handlers[0])
    answer = client.post(
        f"/api/v1/handler/contacts/{contact}/replies", content=item, headers=auth(token)
    )
    assert answer.status_code == 201
    items = client.get("/api/v1/handler/items", headers=auth(token)).json()["items"]
    assert items[-1]["id"] == answer.json()["id"]
    assert items[-1]["direction"] == "out" and items[-1]["contact"] == contact
    assert items[-1]["size"] == len(item)


def test_org_gives_the_chain_and_only_the_tokens_epochs(
    client: TestClient, test_org: OrgKit
) -> None:
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    notes = client.get("/api/v1/org", headers=auth(token)).json()
    assert notes["organization"] == test_org.organization_note()
    assert notes["commands"] == [test_org.command_note()]
    assert len(notes["epochs"]) == 1
    epoch = crypto.open_note(notes["epochs"][0], [test_org.command.verifier]).text
    assert f"compartment {north.compartment_id}\n" in epoch
    assert "door south" not in "".join(notes["epochs"])


def test_a_handler_removed_by_a_new_epoch_is_out_at_once(
    client: TestClient, test_org: OrgKit, data_dir: Path
) -> None:
    north = test_org.compartments["north"]
    leaving, staying = north.handlers
    token = handler_token(client, leaving, north.compartment_id)
    assert client.get("/api/v1/handler/items", headers=auth(token)).status_code == 200
    note = data_dir.parent / "epoch-north-2.note"
    note.write_text(test_org.epoch_note("north", 2, handlers=[staying]))
    import_notes(data_dir, [note], datetime.now(UTC))
    assert client.get("/api/v1/handler/items", headers=auth(token)).status_code == 401
    body = login_body(client, leaving, north.compartment_id)
    assert client.post("/api/v1/handler/tokens", json=body).status_code == 401
    assert handler_token(client, staying, north.compartment_id)


def test_a_token_lasts_until_the_end_of_the_next_day(
    client: TestClient, test_org: OrgKit, clock: FakeClock
) -> None:
    north = test_org.compartments["north"]
    token = handler_token(client, north.handlers[0], north.compartment_id)
    clock.advance(days=1)
    assert client.get("/api/v1/handler/items", headers=auth(token)).status_code == 200
    clock.advance(days=1)
    assert client.get("/api/v1/handler/items", headers=auth(token)).status_code == 401
