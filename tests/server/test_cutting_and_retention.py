"""Cutting ties with a contact, handlers deleting, and retention: what goes
(rows and ciphertext), what stays (what the organization already holds),
and that another compartment's objects answer 404."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _server_kit import FakeClock, OrgKit, Stored, TestClient, handler_token, reply_item

from _server_config import update_server_config
from shoal.store import FileBlobStore, schema

API = "/api/v1"


def contact(client: TestClient, door: str = "north") -> tuple[str, str]:
    """A contact who wrote one message and one file: (codename, session)."""
    made = client.post(f"{API}/doors/{door}/contacts").json()
    sent = client.post(
        f"{API}/doors/{door}/submissions",
        headers={"Authorization": f"Bearer {made['session']}"},
        files=[("message", (None, "hello")), ("files", ("a.txt", b"a file", "text/plain"))],
    )
    assert sent.status_code == 201, sent.text
    return made["codename"], made["session"]


def auth(
    client: TestClient, test_org: OrgKit, door: str = "north", which: int = 0
) -> dict[str, str]:
    compartment = test_org.compartments[door]
    token = handler_token(client, compartment.handlers[which], compartment.compartment_id)
    return {"Authorization": f"Bearer {token}"}


def contact_id_of(client: TestClient, headers: dict[str, str]) -> str:
    return str(client.get(f"{API}/handler/items", headers=headers).json()["items"][-1]["contact"])


def reply(client: TestClient, test_org: OrgKit, headers: dict[str, str], contact_id: str) -> str:
    recipient = client.get(f"{API}/handler/contacts/{contact_id}", headers=headers).json()
    north = test_org.compartments["north"]
    item = reply_item(recipient["recipient"], "an answer", test_org, "north", contact_id,
                      north.handlers[0])  # fmt: skip
    made = client.post(
        f"{API}/handler/contacts/{contact_id}/replies", content=item, headers=headers
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def login(client: TestClient, codename: str) -> tuple[int, bytes]:
    answer = client.post(f"{API}/doors/north/sessions", json={"codename": codename})
    return answer.status_code, answer.content


def test_cutting_ties_refuses_the_codename_like_a_wrong_one_and_keeps_what_was_sent(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    codename, session = contact(client)
    headers = auth(client, test_org)
    contact_id = contact_id_of(client, headers)
    reply(client, test_org, headers, contact_id)
    with stored.session() as db:
        before = db.get(schema.Contact, contact_id)
        assert before is not None
        lookup_before = before.lookup_id
    assert stored.rows(schema.Item) == 3 and len(stored.blobs()) == 3
    wrong = login(client, " ".join(["able"] * 7))

    cut = client.post(f"{API}/handler/contacts/{contact_id}/cut", headers=headers)

    assert cut.status_code == 204
    assert login(client, codename) == wrong
    # The session they had ends on their next request.
    mine = client.get(f"{API}/doors/north/replies", headers={"Authorization": f"Bearer {session}"})
    assert mine.status_code == 401
    with stored.session() as db:
        after = db.get(schema.Contact, contact_id)
        assert after is not None and not after.accepted
        assert after.lookup_id != lookup_before and after.recipient == ""
        kinds = sorted(i.direction for i in db.query(schema.Item).all())
    # Their message and file stay; the unread reply went, row and ciphertext.
    assert kinds == ["in", "in"] and len(stored.blobs()) == 2
    again = client.post(
        f"{API}/handler/contacts/{contact_id}/replies", content=b"x", headers=headers
    )
    assert again.status_code == 409
    # Cutting twice is harmless.
    assert (
        client.post(f"{API}/handler/contacts/{contact_id}/cut", headers=headers).status_code == 204
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/handler/contacts/{contact}/cut"),
        ("DELETE", "/handler/contacts/{contact}"),
        ("DELETE", "/handler/items/{item}"),
    ],
)
def test_another_compartments_objects_answer_404_and_stay(
    client: TestClient, test_org: OrgKit, stored: Stored, method: str, path: str
) -> None:
    contact(client, "south")
    south = auth(client, test_org, "south")
    item = client.get(f"{API}/handler/items", headers=south).json()["items"][0]
    north = auth(client, test_org, "north")
    url = API + path.format(contact=item["contact"], item=item["id"])
    assert client.request(method, url, headers=north).status_code == 404
    assert client.request(method, url.replace(item["contact"], "0" * 32).replace(
        item["id"], "0" * 32), headers=north).status_code == 404  # fmt: skip
    assert client.request(method, url).status_code == 401
    assert stored.rows(schema.Item) == 2 and stored.rows(schema.Contact) == 1


def test_a_handler_deletes_an_item_then_a_contact(
    client: TestClient, test_org: OrgKit, stored: Stored
) -> None:
    codename, _ = contact(client)
    contact(client)  # someone else, untouched
    headers = auth(client, test_org)
    items = client.get(f"{API}/handler/items", headers=headers).json()["items"]
    first = items[0]
    assert client.delete(f"{API}/handler/items/{first['id']}", headers=headers).status_code == 204
    listed = [i["id"] for i in client.get(f"{API}/handler/items", headers=headers).json()["items"]]
    assert first["id"] not in listed and len(listed) == 3
    assert len(stored.blobs()) == 3
    assert client.delete(f"{API}/handler/items/{first['id']}", headers=headers).status_code == 404

    gone = client.delete(f"{API}/handler/contacts/{first['contact']}", headers=headers)
    assert gone.status_code == 204
    assert stored.rows(schema.Contact) == 1 and stored.rows(schema.Item) == 2
    assert len(stored.blobs()) == 2
    assert login(client, codename)[0] == 401


def set_retention(data_dir: Path, days: int) -> None:
    update_server_config(data_dir, retention_days=days)


def test_retention_deletes_only_what_every_desk_holds_after_the_period(
    data_dir: Path,
    make_client: Callable[..., TestClient],
    clock: FakeClock,
    test_org: OrgKit,
    stored: Stored,
) -> None:
    set_retention(data_dir, 2)
    client = make_client()
    contact(client)
    first, second = auth(client, test_org, which=0), auth(client, test_org, which=1)
    contact_id = contact_id_of(client, first)
    reply(client, test_org, first, contact_id)
    newest = max(
        i["seq"] for i in client.get(f"{API}/handler/items", headers=first).json()["items"]
    )

    def synced(headers: dict[str, str], seq: int = newest) -> int:
        answer = client.post(f"{API}/handler/synced", json={"seq": seq}, headers=headers)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["expired"])

    assert synced(first) == 0  # the second desk has synced nothing yet
    clock.advance(days=3)
    first, second = auth(client, test_org, which=0), auth(client, test_org, which=1)
    assert synced(first) == 0
    assert synced(second, seq=1) == 1  # only what both desks hold: the first item
    assert synced(second) == 1  # then the second
    # The reply stays for the contact to read; rows and ciphertext of the rest are gone.
    with stored.session() as db:
        assert [i.direction for i in db.query(schema.Item).all()] == ["out"]
    assert len(stored.blobs()) == 1
    # A desk cannot claim items that do not exist yet.
    contact(client)
    assert synced(first, seq=10**9) == 0 and synced(second, seq=10**9) == 0
    assert stored.rows(schema.Item) == 3


def test_retention_zero_days_still_waits_for_every_desk(
    data_dir: Path,
    make_client: Callable[..., TestClient],
    test_org: OrgKit,
    stored: Stored,
) -> None:
    set_retention(data_dir, 0)
    client = make_client()
    contact(client)
    first, second = auth(client, test_org, which=0), auth(client, test_org, which=1)
    assert client.post(f"{API}/handler/synced", json={"seq": 99}, headers=first).json() == {
        "expired": 0
    }
    assert client.post(f"{API}/handler/synced", json={"seq": 99}, headers=second).json() == {
        "expired": 2
    }
    assert stored.rows(schema.Item) == 0 and stored.blobs() == []


def test_a_start_collects_day_old_blobs_that_no_row_names(
    make_client: Callable[..., TestClient], stored: Stored, data_dir: Path
) -> None:
    # What a crash between a blob's write and its row's commit leaves (a
    # submission never answered): ciphertext nothing names, outside the
    # retention rule unless a start-up collects it.
    contact(make_client())
    named = {path.name for path in stored.blobs()}
    assert len(named) == 2
    store = FileBlobStore(data_dir / "blobs")
    old_orphan = store.put([b"ciphertext of a submission never answered"]).blob_id
    new_orphan = store.put([b"a blob whose row may still be on its way"]).blob_id
    for blob_id in [*named, old_orphan]:
        os.utime(store.path_of(blob_id), (time.time() - 2 * 86400,) * 2)
    make_client()  # the next start
    assert {path.name for path in stored.blobs()} == named | {new_orphan}
