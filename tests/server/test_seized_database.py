"""A seized-and-returned server whose database was edited must not encrypt
to, or let in, a handler that command removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from _server_kit import Compartment, FakeClock, TestClient, handler_token, new_org
from sqlalchemy import text

import _engines
from shoal import crypto
from shoal.server import create_app, load_config
from shoal.server._admin import import_notes, init_data_dir
from shoal.store import create_db_engine

MESSAGE = (
    b'--B0\r\nContent-Disposition: form-data; name="message"\r\n\r\nsecret words\r\n--B0--\r\n'
)


@pytest.fixture
def removed_handler(tmp_path: Path) -> tuple[Path, Compartment]:
    """An organization whose epoch 2 removed handler 1 of door "north"."""
    kit = new_org()
    north = kit.add_compartment("north", handlers=2)
    data = tmp_path / "data"
    init_data_dir(data, kit.root_key, _engines.database_url())
    import_notes(data, kit.write_notes(tmp_path / "notes"), datetime.now(UTC))
    second = tmp_path / "epoch-2.note"
    second.write_text(kit.epoch_note("north", 2, handlers=[north.handlers[0]]))
    import_notes(data, [second], datetime.now(UTC))
    return data, north


def sql(data: Path, statement: str) -> None:
    """What a seizer does to the database, behind the server's back."""
    engine = create_db_engine(load_config(data).database)
    try:
        with engine.begin() as db:
            db.execute(text(statement))
    finally:
        engine.dispose()


def test_setting_the_epoch_counter_back_changes_nothing(
    removed_handler: tuple[Path, Compartment],
) -> None:
    data, north = removed_handler
    sql(data, "UPDATE compartments SET epoch = 1")
    with TestClient(create_app(data, clock=FakeClock()), base_url="http://127.0.0.1") as client:
        session = client.post("/api/v1/doors/north/contacts").json()["session"]
        sent = client.post(
            "/api/v1/doors/north/submissions",
            content=MESSAGE,
            headers={
                "Authorization": f"Bearer {session}",
                "Content-Type": "multipart/form-data; boundary=B0",
            },
        )
        assert sent.status_code == 201
        # The removed handler cannot log in ...
        with pytest.raises(AssertionError):
            handler_token(client, north.handlers[1], north.compartment_id)
        # ... and what arrived is sealed to epoch 2's recipients only.
        token = handler_token(client, north.handlers[0], north.compartment_id)
        auth = {"Authorization": f"Bearer {token}"}
        item = client.get("/api/v1/handler/items", headers=auth).json()["items"][0]
        blob = client.get(f"/api/v1/handler/blobs/{item['blob']}", headers=auth).content
        assert crypto.decrypt_item(blob, [north.handlers[0].identity])[1] == b"secret words"
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_item(blob, [north.handlers[1].identity])


def test_deleting_the_newest_epoch_closes_the_door(
    removed_handler: tuple[Path, Compartment],
) -> None:
    data, _north = removed_handler
    sql(data, "DELETE FROM notes WHERE kind = 'epoch' AND number = 2")
    with TestClient(create_app(data, clock=FakeClock()), base_url="http://127.0.0.1") as client:
        answer = client.post("/api/v1/doors/north/contacts")
        assert answer.status_code == 503
