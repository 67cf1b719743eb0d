"""Resumable uploads of items sealed on a member's device, against a real
``shoal serve``: ``/api/v1/doors/<door>/uploads`` (docs/api.md).

Pieces (blobs in the blob store, counted in the database), resuming,
idempotence, two requests racing for one upload, quotas, bounds, the sweep
of abandoned uploads, part files of an older version adopted, and what is
stored: the item the desk syncs is exactly the bytes sent. The quota and
the races across two server processes: test_two_processes.py.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _member_server_kit import API, Member, World, create, finish, new_id, put, served, status
from _server_kit import ServerProcess, wait_for
from sqlalchemy import update

from shoal.server._admin import import_notes
from shoal.server._config import Limits
from shoal.server._uploads import UPLOAD_ROOM
from shoal.store import schema

#: A last progress long enough ago for the sweep (a date, not a date
#: expression: SQLite has no date arithmetic, and would store a number).
DAYS_AGO = datetime.now(UTC).date() - timedelta(days=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("uploads")) as made:
        yield made


def rows(world: World, table: type[schema.Base]) -> int:
    return world.stored.rows(table)


def test_an_upload_in_pieces_becomes_the_members_item(world: World) -> None:
    member = world.member()
    data = world.sealed(300_000)
    upload_id = new_id()
    blobs_before = len(world.stored.blobs())

    made = create(world, member, upload_id, len(data))
    assert made.status_code == 201
    assert made.json() == {"id": upload_id, "received": 0, "item": None}
    offset = 0
    for size in (100_000, 150_000, len(data) - 250_000):
        answer = put(world, member, upload_id, offset, data[offset : offset + size])
        offset += size
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"id": upload_id, "received": offset, "item": None}
    assert status(world, member, upload_id).json()["received"] == len(data)

    finished = finish(world, member, upload_id)
    assert finished.status_code == 201, finished.text
    assert finished.json() == {"id": upload_id, "received": len(data), "item": upload_id}
    (item,) = [i for i in world.items() if i["id"] == upload_id]
    assert item["contact"] == member.contact_id
    assert item["direction"] == "in"
    assert item["epoch"] == 1
    assert item["size"] == len(data)
    assert world.blob(item["blob"]).content == data
    assert status(world, member, upload_id).json()["item"] == upload_id
    # The three pieces were joined into the item's blob, then dropped.
    assert world.pieces(upload_id) == []
    assert [path.name for path in world.stored.blobs()].count(item["blob"]) == 1
    assert len(world.stored.blobs()) == blobs_before + 1


def test_creating_and_finishing_again_answer_the_same_and_store_once(world: World) -> None:
    member = world.member()
    data = world.sealed(5_000)
    upload_id = new_id()
    assert create(world, member, upload_id, len(data)).status_code == 201
    again = create(world, member, upload_id, len(data))
    assert again.status_code == 200
    assert again.json() == {"id": upload_id, "received": 0, "item": None}
    assert put(world, member, upload_id, 0, data).status_code == 200
    items_before = rows(world, schema.Item)

    first, second = finish(world, member, upload_id), finish(world, member, upload_id)
    assert first.status_code == 201 and second.status_code == 200
    done = {"id": upload_id, "received": len(data), "item": upload_id}
    assert first.json() == second.json() == done
    assert rows(world, schema.Item) == items_before + 1
    # The last piece again (its answer was lost): nothing more to take.
    assert put(world, member, upload_id, len(data), b"").json()["item"] == upload_id
    assert put(world, member, upload_id, len(data), b"x").status_code == 413
    # And a create again, even once the row is swept: the item answers.
    assert create(world, member, upload_id, len(data)).json()["item"] == upload_id
    with world.stored.session() as db:
        db.execute(update(schema.Upload).values(day=DAYS_AGO))
        db.commit()
    create(world, world.member(), new_id(), 10)  # a create sweeps
    with world.stored.session() as db:
        assert db.get(schema.Upload, upload_id) is None
    again = create(world, member, upload_id, len(data))
    assert again.status_code == 200
    assert again.json() == {"id": upload_id, "received": len(data), "item": upload_id}
    assert finish(world, member, upload_id).status_code == 200
    assert rows(world, schema.Item) == items_before + 1


def test_a_wrong_offset_is_409_and_says_where_to_resume(world: World) -> None:
    member = world.member()
    data = world.sealed(10_000)
    upload_id = new_id()
    create(world, member, upload_id, len(data))
    assert put(world, member, upload_id, 0, data[:4_000]).status_code == 200
    for offset in (0, 3_999, 4_001, 9_000):
        refused = put(world, member, upload_id, offset, data[offset:])
        assert refused.status_code == 409
        assert refused.json()["received"] == 4_000
        assert refused.json()["detail"] == "offset"
        assert set(refused.json()) == {"error", "detail", "received"}
    assert put(world, member, upload_id, 4_000, data[4_000:]).status_code == 200
    early = finish(world, world.member(), upload_id)
    assert early.status_code == 404  # another contact's
    assert finish(world, member, upload_id).status_code == 201
    assert world.blob(_item(world, upload_id)["blob"]).content == data


def test_finishing_early_is_409_with_the_resume_point(world: World) -> None:
    member = world.member()
    upload_id = new_id()
    create(world, member, upload_id, 1_000)
    put(world, member, upload_id, 0, b"\x00" * 10)
    early = finish(world, member, upload_id)
    assert early.status_code == 409
    assert early.json()["received"] == 10
    assert early.json()["detail"] == "size"


def test_a_piece_whose_blob_is_gone_starts_the_upload_again(world: World) -> None:
    """The database counts the bytes, the blob store holds them: a piece
    lost from the store (removed by hand) is never filed as a hole."""
    member = world.member()
    data = world.sealed(50_000)
    upload_id = new_id()
    create(world, member, upload_id, len(data))
    assert put(world, member, upload_id, 0, data[:20_000]).status_code == 200
    assert put(world, member, upload_id, 20_000, data[20_000:]).status_code == 200
    (_, _, first), _ = world.pieces(upload_id)
    (path,) = [p for p in world.stored.blobs() if p.name == first]
    path.unlink()
    lost = finish(world, member, upload_id)
    assert lost.status_code == 409
    assert lost.json()["received"] == 0
    assert world.pieces(upload_id) == []
    assert put(world, member, upload_id, 0, data).status_code == 200
    assert finish(world, member, upload_id).status_code == 201
    assert world.blob(_item(world, upload_id)["blob"]).content == data


def test_another_contacts_upload_is_409_to_create_and_404_otherwise(world: World) -> None:
    owner, other, elsewhere = world.member(), world.member(), world.member("south")
    upload_id = new_id()
    create(world, owner, upload_id, 100)
    put(world, owner, upload_id, 0, b"\x01" * 10)
    for stranger in (other, elsewhere):
        assert create(world, stranger, upload_id, 100).status_code == 409
        assert status(world, stranger, upload_id).status_code == 404
        assert put(world, stranger, upload_id, 10, b"\x02" * 10).status_code == 404
        assert finish(world, stranger, upload_id).status_code == 404
    # The same contact with another size or epoch is a conflict, not a retry.
    assert create(world, owner, upload_id, 101).status_code == 409
    assert status(world, owner, upload_id).json()["received"] == 10
    assert status(world, owner, new_id()).status_code == 404
    assert status(world, owner, "..%2F..%2Fetc").status_code == 404


def test_bytes_that_are_no_age_file_are_refused_and_nothing_is_stored(world: World) -> None:
    member = world.member()
    upload_id = new_id()
    junk = b"this is no age file\n" * 100
    create(world, member, upload_id, len(junk))
    items, blobs = rows(world, schema.Item), world.stored.blobs()
    put(world, member, upload_id, 0, junk)
    refused = finish(world, member, upload_id)
    assert refused.status_code == 400
    assert set(refused.json()) == {"error"}
    assert rows(world, schema.Item) == items
    assert world.stored.blobs() == blobs  # the piece went with its upload
    assert status(world, member, upload_id).status_code == 404
    assert world.pieces(upload_id) == []


def test_sizes_and_epochs_are_bounded(world: World) -> None:
    member = world.member()
    largest = Limits().max_body + UPLOAD_ROOM
    assert create(world, member, new_id(), largest + 1).status_code == 413
    assert create(world, member, new_id(), 100, epoch=2).status_code == 400  # no epoch 2 yet
    assert create(world, member, new_id(), 100, epoch=0).status_code == 400
    assert create(world, member, new_id(), 0).status_code == 400
    assert create(world, member, "NOT-HEX", 100).status_code == 400
    upload_id = new_id()
    create(world, member, upload_id, 100)
    assert put(world, member, upload_id, 0, b"\x00" * 101).status_code == 413
    assert status(world, member, upload_id).json()["received"] == 0
    assert world.pieces(upload_id) == []


def test_a_contact_holds_a_bounded_number_of_unfinished_uploads(world: World) -> None:
    member = world.member()
    data = world.sealed(100)
    ids = [new_id() for _ in range(Limits().max_uploads)]
    for upload_id in ids:
        assert create(world, member, upload_id, len(data)).status_code == 201
    over = create(world, member, new_id(), len(data))
    assert over.status_code == 429
    assert set(over.json()) == {"error"}
    # A retry of one it holds is no new upload; a finished one frees a place.
    assert create(world, member, ids[0], len(data)).status_code == 200
    put(world, member, ids[0], 0, data)
    assert finish(world, member, ids[0]).status_code == 201
    assert create(world, member, new_id(), len(data)).status_code == 201
    # Other contacts have their own.
    assert create(world, world.member(), new_id(), len(data)).status_code == 201


def test_abandoned_uploads_are_swept_rows_and_pieces(world: World) -> None:
    member = world.member()
    old, recent = new_id(), new_id()
    for upload_id in (old, recent):
        create(world, member, upload_id, 1_000)
        put(world, member, upload_id, 0, secrets.token_bytes(10))
    with world.stored.session() as db:
        db.execute(update(schema.Upload).where(schema.Upload.id == old).values(day=DAYS_AGO))
        db.commit()
    ((_, _, piece),) = world.pieces(old)
    assert world.has_blob(piece)
    create(world, world.member(), new_id(), 10)  # a create sweeps
    assert status(world, member, old).status_code == 404
    assert world.pieces(old) == []
    assert not world.has_blob(piece)
    assert status(world, member, recent).json()["received"] == 10


def test_a_client_that_goes_away_keeps_what_arrived(world: World) -> None:
    member = world.member()
    data = world.sealed(400_000)
    upload_id = new_id()
    create(world, member, upload_id, len(data))
    sent = 150_000
    with _raw_put(world.server, member, upload_id, 0, len(data)) as raw:
        raw.sendall(data[:sent])
    # Closed with nothing unread: every byte sent reaches the server.
    wait_for(lambda: status(world, member, upload_id).json()["received"] == sent, "the count")
    assert put(world, member, upload_id, sent, data[sent:]).status_code == 200
    assert finish(world, member, upload_id).status_code == 201
    assert world.blob(_item(world, upload_id)["blob"]).content == data


def test_of_two_requests_for_one_upload_the_first_to_end_counts(world: World) -> None:
    """A slow PUT and a quick one at the same offset: the quick one's bytes
    count; the slow one, when it ends, is told where the upload is, and
    its bytes are dropped (the item is exactly the winner's bytes)."""
    member = world.member()
    data = world.sealed(100_000)
    upload_id = new_id()
    create(world, member, upload_id, len(data))
    blobs_before = len(world.stored.blobs())
    with _raw_put(world.server, member, upload_id, 0, len(data)) as raw:
        raw.sendall(data[:1_000])
        assert put(world, member, upload_id, 0, data).status_code == 200
        raw.sendall(b"\xff" * (len(data) - 1_000))  # other bytes, same length
        answer = _read_answer(raw)
        assert answer.startswith(b"HTTP/1.1 409"), answer
        assert b'"received":%d' % len(data) in answer
    assert len(world.stored.blobs()) == blobs_before + 1  # the loser's piece went
    assert finish(world, member, upload_id).status_code == 201
    assert world.blob(_item(world, upload_id)["blob"]).content == data


def test_a_cut_contact_and_a_handler_cannot_upload(world: World) -> None:
    member = world.member()
    upload_id = new_id()
    create(world, member, upload_id, 100)
    assert world.client.post(
        f"{API}/handler/contacts/{member.contact_id}/cut", headers=world.handler()
    ).is_success
    assert status(world, member, upload_id).status_code == 401
    assert create(world, member, new_id(), 100).status_code == 401
    handler = world.client.get(f"{API}/doors/north/uploads/{upload_id}", headers=world.handler())
    assert handler.status_code == 401


def test_deleting_a_contact_deletes_its_unfinished_uploads(world: World) -> None:
    member = world.member()
    upload_id = new_id()
    create(world, member, upload_id, 100)
    put(world, member, upload_id, 0, secrets.token_bytes(10))
    ((_, _, piece),) = world.pieces(upload_id)
    deleted = world.client.delete(
        f"{API}/handler/contacts/{member.contact_id}", headers=world.handler()
    )
    assert deleted.status_code == 204
    with world.stored.session() as db:
        assert db.get(schema.Upload, upload_id) is None
    assert world.pieces(upload_id) == []
    assert not world.has_blob(piece)


def test_start_up_sweeps_expired_uploads_and_adopts_older_part_files(
    tmp_path: Path,
) -> None:
    """An older version kept unfinished uploads in ``DATA/uploads/<id>.part``:
    after an upgrade, the bytes its database counted become the upload's
    first piece (what was acknowledged is kept), a part file without a
    row goes, and so does the directory."""
    with served(tmp_path) as world:
        member = world.member()
        old, carried = new_id(), new_id()
        data = world.sealed(30_000)
        create(world, member, old, 100)
        put(world, member, old, 0, secrets.token_bytes(10))
        ((_, _, old_piece),) = world.pieces(old)
        create(world, member, carried, len(data))
        world.server.stop()
        with world.stored.session() as db:
            db.execute(update(schema.Upload).where(schema.Upload.id == old).values(day=DAYS_AGO))
            db.execute(
                update(schema.Upload).where(schema.Upload.id == carried).values(received=20_000)
            )
            db.commit()
        world.part_file(carried).parent.mkdir(mode=0o700)
        # Longer than counted, as a crash before the count left it.
        world.part_file(carried).write_bytes(data[:20_000] + b"uncounted")
        orphan = world.part_file(new_id())
        orphan.write_bytes(b"left by a crash")
        world.server = ServerProcess(world.data_dir, tmp_path / "again")
        world.client.close()
        world.client = world.server.client()
        assert not (world.data_dir / "uploads").exists()
        assert world.pieces(old) == [] and not world.has_blob(old_piece)
        assert status(world, member, old).status_code == 404
        assert [(o, n) for o, n, _ in world.pieces(carried)] == [(0, 20_000)]
        assert status(world, member, carried).json()["received"] == 20_000
        assert put(world, member, carried, 20_000, data[20_000:]).status_code == 200
        assert finish(world, member, carried).status_code == 201
        assert world.blob(_item(world, carried)["blob"]).content == data


def _item(world: World, item_id: str) -> dict[str, Any]:
    (item,) = [i for i in world.items() if i["id"] == item_id]
    return item


@contextmanager
def _raw_put(
    server: ServerProcess, member: Member, upload_id: str, offset: int, length: int
) -> Iterator[socket.socket]:
    """A PUT sent by hand, so that a test can stop midway (or not)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (
            f"PUT {member.url(f'uploads/{upload_id}')}?offset={offset} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            f"Authorization: Bearer {member.session}\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode())
        yield sock


def _read_answer(sock: socket.socket) -> bytes:
    """A whole HTTP answer (headers, then Content-Length bytes of body)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_a_closed_door_takes_no_upload(tmp_path: Path) -> None:
    """Uploads file items to the door's compartment: 503 once its epoch has
    expired, as for submissions, and nothing of it is filed."""
    with served(tmp_path) as world:
        member = world.member()
        data = world.sealed(1_000)
        upload_id = new_id()
        create(world, member, upload_id, len(data))
        put(world, member, upload_id, 0, data)
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        note = tmp_path / "epoch-north-2.note"
        note.write_text(world.kit.epoch_note("north", 2, expires=soon))
        import_notes(world.data_dir, [note], datetime.now(UTC))
        wait_for(lambda: datetime.now(UTC) > soon, "the epoch's expiry", timeout=5)
        assert finish(world, member, upload_id).status_code == 503
        assert status(world, member, upload_id).status_code == 503
        assert create(world, member, new_id(), 10).status_code == 503
        assert world.stored.rows(schema.Item) == 0
