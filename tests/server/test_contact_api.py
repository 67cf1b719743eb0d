"""The contact's JSON API, in process, over a real data directory."""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy.orm
from _server_kit import FakeClock, OrgKit, Stored, TestClient
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from shoal import crypto
from shoal.server import _messages as msg
from shoal.store import schema

NORTH = "/api/v1/doors/north"


def first_contact(client: TestClient, door: str = "north") -> dict[str, str]:
    answer = client.post(f"/api/v1/doors/{door}/contacts")
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def bearer(session: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session}"}


def submit(client: TestClient, session: str, **kwargs: Any) -> Any:
    return client.post(f"{NORTH}/submissions", headers=bearer(session), **kwargs)


def test_first_contact_gives_a_seven_word_codename_and_a_session(
    client: TestClient, stored: Stored
) -> None:
    made = first_contact(client)
    assert crypto.is_codename_shaped(made["codename"])
    assert client.get(f"{NORTH}/replies", headers=bearer(made["session"])).status_code == 200
    assert stored.rows(schema.Contact) == 1


def test_the_codename_logs_in_however_it_is_typed(client: TestClient) -> None:
    codename = first_contact(client)["codename"]
    for typed in (codename, "  " + codename.upper().replace(" ", "   ") + " "):
        answer = client.post(f"{NORTH}/sessions", json={"codename": typed})
        assert answer.status_code == 201
        session = answer.json()["session"]
        assert client.get(f"{NORTH}/replies", headers=bearer(session)).status_code == 200


def test_wrong_and_cut_codenames_get_the_same_answer(
    client: TestClient, stored: Stored, test_org: OrgKit
) -> None:
    codename = first_contact(client)["codename"]
    wrong = client.post(f"{NORTH}/sessions", json={"codename": "alpha beta gamma"})
    with stored.session() as db:
        db.execute(update(schema.Contact).values(accepted=False))
        db.commit()
    cut = client.post(f"{NORTH}/sessions", json={"codename": codename})
    assert wrong.status_code == cut.status_code == 401
    assert wrong.json() == cut.json()
    assert set(wrong.json()) == {"error"}


def test_a_codename_opens_only_its_own_door(client: TestClient) -> None:
    codename = first_contact(client, "south")["codename"]
    assert client.post(f"{NORTH}/sessions", json={"codename": codename}).status_code == 401


def test_a_session_is_only_good_at_its_own_door(client: TestClient) -> None:
    session = first_contact(client, "south")["session"]
    assert client.get(f"{NORTH}/replies", headers=bearer(session)).status_code == 401


def test_cutting_ties_ends_the_session_on_the_next_request(
    client: TestClient, stored: Stored
) -> None:
    session = first_contact(client)["session"]
    with stored.session() as db:
        db.execute(update(schema.Contact).values(accepted=False))
        db.commit()
    assert client.get(f"{NORTH}/replies", headers=bearer(session)).status_code == 401
    assert stored.rows(schema.Session) == 0


def test_a_submission_becomes_one_sealed_item_per_part(
    client: TestClient, stored: Stored, test_org: OrgKit
) -> None:
    session = first_contact(client)["session"]
    answer = submit(
        client,
        session,
        data={"message": "the bridge at dawn"},
        files=[
            ("files", ("photo.jpg", b"\xff\xd8" + bytes(3000), "image/jpeg")),
            ("files", ("notes.txt", "ünïcode".encode(), "text/plain")),
        ],
    )
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["items"]) == 3
    handler = test_org.compartments["north"].handlers[1]
    opened = []
    for blob in stored.blobs():
        envelope, content = crypto.decrypt_item(blob.read_bytes(), [handler.identity])
        assert not envelope.signed
        opened.append((dict(envelope.header), content))
    headers = sorted(
        ((h.pop("kind"), h.pop("time")[-1], h, c) for h, c in opened),
        key=lambda found: (found[0], found[2].get("name", "")),
    )
    assert headers == [
        ("file", "Z", {"name": "notes.txt", "type": "text/plain"}, "ünïcode".encode()),
        ("file", "Z", {"name": "photo.jpg", "type": "image/jpeg"}, b"\xff\xd8" + bytes(3000)),
        ("message", "Z", {}, b"the bridge at dawn"),
    ]
    assert stored.rows(schema.Item) == 3


def test_a_retry_with_the_same_idempotency_key_stores_nothing_twice(
    client: TestClient, stored: Stored
) -> None:
    session = first_contact(client)["session"]
    key = {"Idempotency-Key": secrets.token_urlsafe(16)}
    first = client.post(
        f"{NORTH}/submissions", headers=bearer(session) | key, files={"message": (None, "once")}
    )
    assert first.status_code == 201, first.text
    again = client.post(
        f"{NORTH}/submissions", headers=bearer(session) | key, files={"message": (None, "once")}
    )
    assert again.status_code == 409
    assert again.json()["error"] == msg.ALREADY_SENT
    assert stored.rows(schema.Item) == 1
    assert len(stored.blobs()) == 1  # the retry's sealed blob was discarded
    other = {"Idempotency-Key": secrets.token_urlsafe(16)}
    answer = client.post(
        f"{NORTH}/submissions", headers=bearer(session) | other, files={"message": (None, "b")}
    )
    assert answer.status_code == 201
    # Without a key, as before: each request stores.
    assert submit(client, session, files={"message": (None, "c")}).status_code == 201
    assert stored.rows(schema.Item) == 3
    malformed = {"Idempotency-Key": "short"}
    answer = client.post(
        f"{NORTH}/submissions", headers=bearer(session) | malformed, files={"message": (None, "d")}
    )
    assert answer.status_code == 400
    assert stored.rows(schema.Item) == 3


def test_another_compartment_cannot_read_a_submission(
    client: TestClient, stored: Stored, test_org: OrgKit
) -> None:
    session = first_contact(client)["session"]
    assert submit(client, session, files={"message": (None, "north only")}).status_code == 201
    (blob,) = stored.blobs()
    south = test_org.compartments["south"].handlers[0]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_item(blob.read_bytes(), [south.identity])


def test_empty_parts_are_skipped_and_nothing_at_all_is_refused(
    client: TestClient, stored: Stored
) -> None:
    session = first_contact(client)["session"]
    empty_file = ("files", ("", b"", "application/octet-stream"))
    answer = submit(client, session, data={"message": ""}, files=[empty_file])
    assert answer.status_code == 400
    answer = submit(client, session, data={"message": "only words"}, files=[empty_file])
    assert answer.status_code == 201
    assert len(answer.json()["items"]) == 1
    assert stored.rows(schema.Item) == len(stored.blobs()) == 1


def assert_nothing_stored(stored: Stored) -> None:
    assert stored.rows(schema.Item) == 0
    assert stored.blobs() == []


def test_a_submission_needs_a_session(client: TestClient, stored: Stored) -> None:
    answer = client.post(f"{NORTH}/submissions", data={"message": "who am I"}, files=[])
    assert answer.status_code == 401
    assert_nothing_stored(stored)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"message=plain", "application/x-www-form-urlencoded"),
        (b'--xyz\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi', None),
        (b"garbage", None),
        (b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n", None),
    ],
)
def test_malformed_multipart_is_400_and_stores_nothing(
    client: TestClient, stored: Stored, content: bytes, content_type: str | None
) -> None:
    session = first_contact(client)["session"]
    headers = bearer(session) | {
        "Content-Type": content_type or "multipart/form-data; boundary=xyz"
    }
    answer = client.post(f"{NORTH}/submissions", content=content, headers=headers)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}
    assert_nothing_stored(stored)


def test_an_unknown_field_is_refused_after_earlier_parts_were_sealed(
    client: TestClient, stored: Stored
) -> None:
    session = first_contact(client)["session"]
    answer = submit(
        client,
        session,
        data={"message": "first", "surprise": "x"},
        files=[("files", ("a.txt", b"a", "text/plain"))],
    )
    assert answer.status_code == 400
    assert_nothing_stored(stored)


def test_a_body_over_the_limit_is_413_and_stores_nothing(
    make_client: Callable[..., TestClient], stored: Stored
) -> None:
    client = make_client(max_body=200_000)
    session = first_contact(client)["session"]
    files = [("files", (f"{i}.bin", bytes(60_000), "application/octet-stream")) for i in range(4)]
    answer = submit(client, session, files=files)
    assert answer.status_code == 413
    assert_nothing_stored(stored)
    assert list((stored.data_dir / "blobs" / "tmp").iterdir()) == []


def test_too_many_files_is_413_and_stores_nothing(
    make_client: Callable[..., TestClient], stored: Stored
) -> None:
    client = make_client(max_files=3)
    session = first_contact(client)["session"]
    files = [("files", (f"{i}.txt", b"x", "text/plain")) for i in range(4)]
    assert submit(client, session, files=files).status_code == 413
    assert_nothing_stored(stored)
    assert submit(client, session, files=files[:3]).status_code == 201


def test_many_message_parts_are_refused_and_store_nothing(
    client: TestClient, stored: Stored
) -> None:
    # Each part would be sealed, fsynced and given a row: a body of
    # hundreds of tiny message parts must not turn into hundreds of items.
    session = first_contact(client)["session"]
    parts = [("message", (None, f"m{i}")) for i in range(300)]
    assert submit(client, session, files=parts).status_code == 400
    assert_nothing_stored(stored)
    assert submit(client, session, files=parts[:1]).status_code == 201


def test_an_unknown_door_is_404(client: TestClient) -> None:
    for door in ("west", "NOT-A-DOOR", "a" * 64):
        answer = client.post(f"/api/v1/doors/{door}/contacts")
        assert answer.status_code == 404
        assert set(answer.json()) == {"error"}


def test_an_expired_epoch_closes_the_door(client: TestClient, clock: FakeClock) -> None:
    session = first_contact(client)["session"]
    clock.advance(days=31)
    answer = client.post(f"{NORTH}/contacts")
    assert answer.status_code == 503
    assert "closed" in answer.json()["error"]
    assert submit(client, session, files={"message": (None, "late")}).status_code == 503


def test_a_session_ends_after_two_hours(client: TestClient, clock: FakeClock) -> None:
    session = first_contact(client)["session"]
    clock.advance(hours=2)
    assert client.get(f"{NORTH}/replies", headers=bearer(session)).status_code == 401


def test_logout_deletes_the_session(client: TestClient, stored: Stored) -> None:
    session = first_contact(client)["session"]
    assert client.delete(f"{NORTH}/sessions/current", headers=bearer(session)).status_code == 204
    assert stored.rows(schema.Session) == 0
    assert client.get(f"{NORTH}/replies", headers=bearer(session)).status_code == 401


def test_the_cookie_works_as_well_as_the_bearer(client: TestClient) -> None:
    session = first_contact(client)["session"]
    client.cookies.set("shoal_session", session)
    assert client.get(f"{NORTH}/replies").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"codename": 123456789}',
        b'{"codename": ["CANARY-INPUT"]}',
        b'{"CANARY-KEY": "x"}',
        b"CANARY-NOT-JSON",
        b'{"codename": "' + b"CANARY-LONG " * 200 + b'"}',
    ],
)
def test_malformed_json_is_400_and_never_echoed(client: TestClient, body: bytes) -> None:
    answer = client.post(
        f"{NORTH}/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}
    assert "CANARY" not in answer.text and "123456789" not in answer.text


def test_a_json_body_over_the_small_limit_is_413(client: TestClient) -> None:
    answer = client.post(f"{NORTH}/sessions", content=b"{" + b" " * 70_000 + b"}")
    assert answer.status_code == 413


def test_openapi_describes_the_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/api/v1/doors/{door}/contacts",
        "/api/v1/doors/{door}/sessions",
        "/api/v1/doors/{door}/submissions",
        "/api/v1/doors/{door}/replies",
        "/api/v1/doors/{door}/sessions/current",
        "/api/v1/doors/{door}/org",
        "/api/v1/doors/{door}/uploads",
        "/api/v1/doors/{door}/uploads/{upload_id}",
        "/api/v1/doors/{door}/uploads/{upload_id}/finish",
        "/api/v1/doors/{door}/sealed-replies",
        "/api/v1/doors/{door}/sealed-replies/{item_id}",
        "/api/v1/doors/{door}/alarms",
        "/api/v1/alarms/{token}",
        "/api/v1/org",
        "/api/v1/handler/challenges",
        "/api/v1/handler/tokens",
        "/api/v1/handler/items",
        "/api/v1/handler/blobs/{blob_id}",
        "/api/v1/handler/contacts/{contact_id}",
        "/api/v1/handler/contacts/{contact_id}/replies",
        "/api/v1/handler/contacts/{contact_id}/cut",
        "/api/v1/handler/contacts/{contact_id}/state",
        "/api/v1/handler/items/{item_id}",
        "/api/v1/handler/items/{item_id}/sealed",
        "/api/v1/handler/synced",
        "/api/v1/handler/forwards/{door}",
        "/api/v1/handler/audit",
        "/api/v1/handler/audit/checkpoint",
        "/api/v1/handler/audit/entries",
        "/api/v1/handler/audit/entries/{index}",
        "/api/v1/handler/audit/entries/{index}/proof",
    }
    submission = paths["/api/v1/doors/{door}/submissions"]["post"]["requestBody"]["content"]
    assert set(submission["multipart/form-data"]["schema"]["properties"]) == {"message", "files"}
    assert client.get("/docs").status_code == 404


def test_a_full_disk_refuses_the_upload_cleanly(
    client: TestClient, stored: Stored, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = first_contact(client)["session"]
    real_writev = os.writev
    written = {"bytes": 0}

    def filling_disk(fd: int, buffers: Any) -> int:
        # Only blob writes fill up: the second part meets a full disk.
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".partial"):
            written["bytes"] += sum(len(b) for b in buffers)
            if written["bytes"] > 100_000:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(fd, buffers)

    # The file store writes blobs with writev (store/_file_blobs.py).
    monkeypatch.setattr(os, "writev", filling_disk)
    answer = submit(
        client,
        session,
        files=[
            ("message", (None, "first, stored")),
            ("files", ("big.bin", bytes(200_000), "application/octet-stream")),
        ],
    )
    monkeypatch.undo()
    assert answer.status_code == 507
    assert "Nothing was stored" in answer.json()["error"]
    assert_nothing_stored(stored)
    assert list((stored.data_dir / "blobs" / "tmp").iterdir()) == []
    assert submit(client, session, files={"message": (None, "later")}).status_code == 201


def test_a_full_database_is_a_507_like_a_full_disk(
    client: TestClient, stored: Stored, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: object) -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(sqlalchemy.orm.Session, "commit", full)
    answer = client.post(f"{NORTH}/contacts")
    monkeypatch.undo()
    assert answer.status_code == 507
    assert answer.json() == {"error": msg.DISK_FULL}
    assert stored.rows(schema.Contact) == 0
