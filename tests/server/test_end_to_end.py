"""The whole loop through real processes: ``shoal admin``, ``shoal serve``,
httpx as the contact and as the desk, and raw sockets where a client
misbehaves."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from _server_kit import (
    OrgKit,
    ServerProcess,
    Stored,
    handler_token,
    new_handler,
    new_org,
    reply_item,
    shoal,
    wait_for,
)

import _engines
import _pages_kit as pages
from _server_config import update_server_config
from shoal import crypto
from shoal.store import schema

MAX_BODY = 12 << 20
FIVE_MIB = 5 << 20


@pytest.fixture(scope="module")
def kit() -> OrgKit:
    made = new_org()
    made.add_compartment("north", handlers=2)
    made.add_compartment("south")
    return made


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, kit: OrgKit) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    shoal(
        "admin", "init", "--data", str(data), "--root-key", kit.root_key, *_engines.database_args()
    )
    shoal("admin", "import", "--data", str(data), *map(str, kit.write_notes(root / "notes")))
    update_server_config(data, limits={"max_body": MAX_BODY})
    return data


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, tmp_path_factory.mktemp("serve"))
    yield process
    process.stop()


@pytest.fixture
def stored(data_dir: Path) -> Iterator[Stored]:
    found = Stored(data_dir)
    yield found
    found.close()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_contact_to_desk_and_back(client: httpx.Client, kit: OrgKit) -> None:
    north = kit.compartments["north"]
    made = client.post("/api/v1/doors/north/contacts")
    assert made.status_code == 201
    codename = made.json()["codename"]
    wrong = client.post("/api/v1/doors/north/sessions", json={"codename": "not my words"})
    assert wrong.status_code == 401
    login = client.post("/api/v1/doors/north/sessions", json={"codename": codename})
    assert login.status_code == 201
    session = login.json()["session"]

    big = os.urandom(FIVE_MIB)
    files = {
        "report.pdf": (big, "application/pdf"),
        "фото.jpg": (os.urandom(1000), "image/jpeg"),
        "empty-name-ok.txt": (b"small", "text/plain"),
    }
    answer = client.post(
        "/api/v1/doors/north/submissions",
        headers=bearer(session),
        files=[("message", (None, "We saw them at 5."))]
        + [("files", (name, content, kind)) for name, (content, kind) in files.items()],
    )
    assert answer.status_code == 201, answer.text
    ids = answer.json()["items"]
    assert len(ids) == 4

    # The desk: log in with the handler's key, list, download, decrypt.
    for handler in north.handlers:
        token = handler_token(client, handler, north.compartment_id)
        items = client.get("/api/v1/handler/items", headers=bearer(token)).json()["items"]
        mine = [i for i in items if i["id"] in ids]
        assert [i["id"] for i in mine] == ids
        found = {}
        for item in mine:
            blob = client.get(f"/api/v1/handler/blobs/{item['blob']}", headers=bearer(token))
            assert len(blob.content) == item["size"]
            envelope, content = crypto.decrypt_item(blob.content, [handler.identity])
            header = dict(envelope.header)
            datetime.strptime(header.pop("time"), "%Y-%m-%dT%H:%M:%SZ")
            found[header.get("name")] = (header, content)
        assert found[None] == ({"kind": "message"}, b"We saw them at 5.")
        for name, (content, kind) in files.items():
            assert found[name] == ({"kind": "file", "name": name, "type": kind}, content)

    # A reply from the desk shows on the contact's page; forgeries do not.
    contact_id = mine[0]["contact"]
    recipient = client.get(f"/api/v1/handler/contacts/{contact_id}", headers=bearer(token)).json()[
        "recipient"
    ]
    stranger = new_handler()
    replies = [
        reply_item(
            recipient, "We read you. Stay safe.", kit, "north", contact_id, north.handlers[1]
        ),
        reply_item(recipient, "FORGED-UNSIGNED", kit, "north", contact_id, None),
        reply_item(
            recipient,
            "FORGED-STRANGER",
            kit,
            "north",
            contact_id,
            north.handlers[0],
            signing_key=stranger.signing,
        ),
    ]
    for item in replies:
        stored = client.post(
            f"/api/v1/handler/contacts/{contact_id}/replies", content=item, headers=bearer(token)
        )
        assert stored.status_code == 201
    shown = client.get("/api/v1/doors/north/replies", headers=bearer(session)).json()["replies"]
    assert [r["text"] for r in shown] == ["We read you. Stay safe."]
    client.cookies.set("shoal_session", session)
    page = client.get("/d/north/replies")
    client.cookies.clear()
    assert "We read you. Stay safe." in page.text and "FORGED" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_pages_work_with_plain_form_posts(client: httpx.Client) -> None:
    landing = client.get("/d/north/")
    assert landing.status_code == 200 and "<script" not in landing.text
    first = pages.first_contact(client)
    codename = pages.codename_from(first.text)
    client.cookies.delete("shoal_session")
    login = pages.login(client, codename)
    assert login.status_code == 303
    sent = client.post(
        pages.submit_action(client),
        files=[("message", (None, "by form")), ("files", ("", b"", "application/octet-stream"))],
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("?notice=sent")
    assert "Sent." in client.get(sent.headers["location"]).text
    form = {"form_token": client.cookies["shoal_form"]}
    assert client.post("/d/north/logout", data=form).status_code == 303
    client.cookies.clear()


def assert_unchanged(stored: Stored, before: tuple[int, int]) -> None:
    assert (stored.rows(schema.Item), len(stored.blobs())) == before
    assert list((stored.data_dir / "blobs" / "tmp").iterdir()) == []


def snapshot(stored: Stored) -> tuple[int, int]:
    return stored.rows(schema.Item), len(stored.blobs())


def new_session(client: httpx.Client) -> str:
    return str(client.post("/api/v1/doors/north/contacts").json()["session"])


def test_malformed_multipart_is_400(client: httpx.Client, stored: Stored) -> None:
    before = snapshot(stored)
    headers = bearer(new_session(client)) | {"Content-Type": "multipart/form-data; boundary=b"}
    body = b'--b\r\nContent-Disposition: form-data; name="message"\r\n\r\ncut off'
    answer = client.post("/api/v1/doors/north/submissions", content=body, headers=headers)
    assert answer.status_code == 400 and set(answer.json()) == {"error"}
    assert_unchanged(stored, before)


@pytest.mark.parametrize("declared", [True, False])
def test_an_oversized_body_is_413_and_stores_nothing(
    client: httpx.Client, stored: Stored, declared: bool
) -> None:
    before = snapshot(stored)
    session = new_session(client)
    boundary = b"big"
    head = b'--big\r\nContent-Disposition: form-data; name="message"\r\n\r\nfirst part\r\n'
    head += b'--big\r\nContent-Disposition: form-data; name="files"; filename="x"\r\n\r\n'
    piece = bytes(1 << 20)

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(MAX_BODY // len(piece) + 1):
            yield piece
        yield b"\r\n--big--\r\n"

    headers = bearer(session) | {
        "Content-Type": f"multipart/form-data; boundary={boundary.decode()}"
    }
    content: bytes | Iterator[bytes] = b"".join(body()) if declared else body()
    answer = client.post("/api/v1/doors/north/submissions", content=content, headers=headers)
    assert answer.status_code == 413
    assert_unchanged(stored, before)


def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    server: ServerProcess, client: httpx.Client, stored: Stored
) -> None:
    before = snapshot(stored)
    session = new_session(client)
    tmp = stored.data_dir / "blobs" / "tmp"
    body = (
        b'--cut\r\nContent-Disposition: form-data; name="message"\r\n\r\nthe first part\r\n'
        b'--cut\r\nContent-Disposition: form-data; name="files"; filename="half.bin"\r\n\r\n'
    )
    declared = len(body) + (6 << 20)
    head = (
        "POST /api/v1/doors/north/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=cut\r\n"
        f"Authorization: Bearer {session}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(head + body + bytes(3 << 20))
        # The message part is sealed and stored; the file is being written.
        wait_for(lambda: len(stored.blobs()) == before[1] + 1, "the first part's blob")
        wait_for(lambda: any(tmp.iterdir()), "the second part's partial blob")
    wait_for(lambda: snapshot(stored) == before and not any(tmp.iterdir()), "cleanup")
    time.sleep(0.3)
    assert_unchanged(stored, before)
    assert client.get("/d/north/").status_code == 200


def test_an_unknown_door_is_404(client: httpx.Client) -> None:
    assert client.post("/api/v1/doors/nowhere/contacts").status_code == 404
    assert client.get("/d/nowhere/").status_code == 404


def test_two_processes_share_one_data_directory(
    server: ServerProcess,
    data_dir: Path,
    tmp_path: Path,
    kit: OrgKit,
) -> None:
    other = ServerProcess(data_dir, tmp_path)
    try:
        with server.client() as one, other.client() as two:
            codename = one.post("/api/v1/doors/north/contacts").json()["codename"]
            session = two.post("/api/v1/doors/north/sessions", json={"codename": codename}).json()[
                "session"
            ]
            sent = two.post(
                "/api/v1/doors/north/submissions",
                headers=bearer(session),
                files={"message": (None, "via the second process")},
            )
            assert sent.status_code == 201
            assert (
                one.get("/api/v1/doors/north/replies", headers=bearer(session)).status_code == 200
            )
            north = kit.compartments["north"]
            token = handler_token(two, north.handlers[0], north.compartment_id)
            items = one.get("/api/v1/handler/items?limit=1000", headers=bearer(token)).json()
            assert sent.json()["items"][0] in [i["id"] for i in items["items"]]
    finally:
        other.stop()


def test_serve_refuses_a_public_address_unless_told(data_dir: Path) -> None:
    done = shoal("serve", "--data", str(data_dir), "--host", "0.0.0.0", check=False)
    assert done.returncode != 0 and "--public" in done.stderr


def test_the_server_wrote_nothing_to_its_output(server: ServerProcess) -> None:
    # Every request above, good and bad, and not one line about any of them.
    assert b"shoal serve:" in server.output()
    assert server.output().count(b"\n") == 1
