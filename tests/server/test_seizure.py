"""A first seizure check: after real traffic, nothing a contact sent or was
given is anywhere on the server's disk or in its output.

Canaries go into a message, a file name and file contents (over the 1 MiB
at which Starlette would spool to a temporary file), into requests that
fail (malformed, too long, disconnected), and the codename goes through
every login path. Then the server stops and every file under the data
directory (database, WAL, blobs), its TMPDIR and its stdout/stderr are
searched for each secret: raw, UTF-16-LE, hex, and base64 at all three
alignments.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _server_kit import Compartment, ServerProcess, handler_token, new_org, shoal, wait_for

import _engines
import _pages_kit as kit
from _seizure import canary, corpus_of, database_dump, encodings, hits


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_the_search_finds_every_encoding(tmp_path: Path, shift: int) -> None:
    secret = b"CANARY-" + secrets.token_hex(8).encode()
    for name, needle in encodings(secret).items():
        (tmp_path / "f").write_bytes(os.urandom(shift) + needle + os.urandom(3))
        assert hits(corpus_of(tmp_path), secret), name
    planted = base64.b64encode(os.urandom(shift) + secret + os.urandom(2))
    (tmp_path / "f").write_bytes(planted)
    assert hits(corpus_of(tmp_path), secret)


def test_base64_runs_too_short_to_tell_from_chance_are_not_searched() -> None:
    # A 7-byte canary at shift 1 leaves 4 characters: found by chance in an
    # age header's base64. Every other form of it is still searched.
    short = encodings(b"50.4501")
    assert "base64+1" not in short
    assert {"raw", "hex", "utf-16-le", "base64+0", "base64+2"} <= set(short)
    # From 9 bytes on, every shift gives at least 8 characters.
    assert {f"base64+{s}" for s in range(3)} <= set(encodings(b"123456789"))


MESSAGE_PART = b'--x\r\nContent-Disposition: form-data; name="message"\r\n\r\n'


@dataclass
class Scene:
    data: Path
    server: ServerProcess
    north: Compartment


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    kit = new_org()
    north = kit.add_compartment("north")
    data = tmp_path / "data"
    shoal(
        "admin", "init", "--data", str(data), "--root-key", kit.root_key, *_engines.database_args()
    )
    shoal("admin", "import", "--data", str(data), *map(str, kit.write_notes(tmp_path / "notes")))
    server = ServerProcess(data, tmp_path / "serve")
    yield Scene(data, server, north)
    server.stop()


def test_nothing_a_contact_sent_is_on_disk_or_in_output(scene: Scene) -> None:
    data, server = scene.data, scene.server
    message, name, content = canary("MESSAGE"), canary("NAME") + ".txt", canary("CONTENT")
    failed = canary("FAILED")
    secrets_planted = [message, name, content, failed]
    big = bytearray(os.urandom(2 << 20))
    for offset in (0, 1 << 20, len(big) - 64):
        big[offset : offset + len(content)] = content.encode()

    with server.client() as client:
        # Each form carries the token its page set as the shoal_form cookie.
        first = kit.first_contact(client)
        codename = kit.codename_from(first.text)
        form = {"form_token": client.cookies["shoal_form"]}
        secrets_planted.append(codename)
        assert kit.practice(client, codename).status_code == 303
        client.cookies.delete("shoal_session")
        assert kit.login(client, codename).status_code == 303
        sent = client.post(
            kit.submit_action(client),
            files=[
                ("message", (None, message)),
                ("files", (name, bytes(big), "application/octet-stream")),
                ("files", ("small " + name, content.encode(), "text/plain")),
            ],
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("notice=sent")
        session = client.cookies["shoal_session"]
        client.cookies.delete("shoal_session")
        api_login = client.post("/api/v1/doors/north/sessions", json={"codename": codename})
        assert api_login.status_code == 201

        # Requests that fail, each carrying a canary.
        auth = {"Authorization": f"Bearer {session}"}
        bad = [
            client.post("/d/north/login", data=form | {"codename": failed}),
            client.post("/api/v1/doors/north/sessions", json={"codename": [failed]}),
            client.post("/api/v1/doors/north/sessions", content=failed.encode()),
            client.post(
                "/api/v1/doors/north/submissions",
                headers=auth | {"Content-Type": "multipart/form-data; boundary=x"},
                content=MESSAGE_PART + failed.encode(),
            ),
            client.post(
                "/api/v1/doors/north/submissions",
                headers=auth,
                files=[("message", (None, failed)), (failed, (None, failed))],
            ),
            client.post(
                "/api/v1/doors/north/submissions",
                headers=auth | {"Content-Type": "multipart/form-data; boundary=x"},
                content=b'--x\r\nContent-Disposition: form-data; name="message"\r\n'
                + failed.encode()
                + b"\r\n\r\n",
            ),
        ]
        assert all(400 <= answer.status_code < 500 for answer in bad), [a.status_code for a in bad]
        disconnect_mid_upload(server, session, failed)
        tmp = data / "blobs" / "tmp"
        wait_for(lambda: not any(tmp.iterdir()), "the disconnected upload's cleanup")

        # The submission did arrive, as ciphertext for the desk.
        north = scene.north
        token = handler_token(client, north.handlers[0], north.compartment_id)
        items = client.get("/api/v1/handler/items", headers={"Authorization": f"Bearer {token}"})
        assert len(items.json()["items"]) == 3

    server.stop()
    corpus = corpus_of(data, server.tmpdir) | database_dump(data)
    corpus["stdout and stderr"] = server.output()
    # The search covers the database, whichever engine holds it.
    assert any("-wal" in where or "shoal.db" in where or "pg_dump" in where for where in corpus)
    for secret in secrets_planted:
        assert hits(corpus, secret.encode()) == [], secret


def disconnect_mid_upload(server: ServerProcess, session: str, secret: str) -> None:
    body = (
        b'--cut\r\nContent-Disposition: form-data; name="files"; filename="'
        + secret.encode()
        + b'"\r\n\r\n'
        # Past the 1 MiB a blob write gathers in memory before its file
        # exists (store/_file_blobs.py), so that a partial file is on disk.
        + (secret.encode() + os.urandom(1000)) * 3000
    )
    head = (
        "POST /api/v1/doors/north/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=cut\r\n"
        f"Authorization: Bearer {session}\r\nContent-Length: {len(body) * 2}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(head + body)
        wait_for(lambda: any((server.data_dir / "blobs" / "tmp").iterdir()), "a partial blob")
