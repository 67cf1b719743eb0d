"""The database: migrations, SQLite's safety settings, and what columns may hold."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, inspect, text

import _engines
from shoal.store import create_db_engine, head_revision, migrate, schema, session_factory

# Every column, with what DESIGN.md's "What the server's disk may show" calls
# it. A new column fails this test until someone decides what it reveals.
ALLOWED = {
    "notes": {
        "id": "random id",
        "kind": "public record kind",
        "compartment_id": "compartment id",
        "number": "count",
        "body": "signed public note",
    },
    "compartments": {"id": "compartment id", "door": "public door", "epoch": "count"},
    "contacts": {
        "id": "random id",
        "lookup_id": "HKDF output (random-looking id)",
        "compartment_id": "compartment id",
        "accepted": "flag",
        "recipient": "public key",
        "state": "ciphertext",
        "day": "day",
    },
    "items": {
        "seq": "count (arrival order)",
        "id": "random id",
        "compartment_id": "compartment id",
        "contact_id": "random id",
        "direction": "flag",
        "blob_id": "hash of ciphertext",
        "size": "padded ciphertext size",
        "epoch": "count (the epoch sealed to)",
        "day": "day",
    },
    "sessions": {"id": "random id", "record": "ciphertext", "day": "day"},
    "handler_challenges": {"id": "random id", "nonce": "random bytes", "day": "day"},
    "handler_tokens": {
        "token_hash": "hash of a random token",
        "handler_id": "public key fingerprint",
        "compartment_id": "compartment id",
        "day": "day",
    },
    "spent_forms": {"id_hash": "hash of a random form id", "day": "day"},
    "audit_entries": {
        "idx": "count (position in the log)",
        "compartment_id": "compartment id",
        "blob_id": "hash of ciphertext",
        "size": "padded ciphertext size",
        "leaf": "hash of ciphertext",
        "day": "day",
    },
    "audit_nodes": {"level": "count", "idx": "count", "hash": "hash of hashes"},
    "audit_head": {"id": "constant", "size": "count", "edge": "hashes of hashes"},
    "uploads": {
        "id": "random id (chosen by the member's client)",
        "contact_id": "random id",
        "compartment_id": "compartment id",
        "size": "padded ciphertext size",
        "received": "count (bytes received)",
        "epoch": "count (the epoch sealed to)",
        "item_id": "random id",
        "day": "day",
    },
    "alarms": {
        "token_hash": "hash of a random token",
        "compartment_id": "compartment id",
        "blob_id": "hash of ciphertext",
        "size": "padded ciphertext size",
        "epoch": "count (the epoch sealed to)",
        "day": "day",
    },
    "handler_sync": {
        "handler_id": "public key fingerprint",
        "compartment_id": "compartment id",
        "seq": "count (arrival order)",
        "day": "day",
    },
    "upload_pieces": {
        "upload_id": "random id",
        "offset": "count (position in the upload)",
        "blob_id": "hash of ciphertext",
        "size": "count (ciphertext bytes)",
    },
    "quotas": {"name": "public quota name", "used": "count"},
    "blob_objects": {
        "blob_id": "hash of ciphertext",
        "storage_id": "random id",
        "size": "ciphertext size",
        "day": "day",
    },
    "blob_chunks": {"storage_id": "random id", "idx": "count", "data": "ciphertext"},
    "blob_writes": {"storage_id": "random id", "day": "day"},
}


def new_engine(tmp_path: Path) -> Engine:
    """A database on this run's engine (SQLite unless SHOAL_TEST_ENGINE says)."""
    return create_db_engine(_engines.database_url() or f"sqlite:///{tmp_path / 'shoal.db'}")


def test_migrations_create_exactly_the_allowed_columns(tmp_path: Path) -> None:
    engine = new_engine(tmp_path)
    migrate(engine)
    inspector = inspect(engine)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(ALLOWED)
    for table in tables:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert columns == set(ALLOWED[table]), table
    engine.dispose()


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    engine = new_engine(tmp_path)
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (head_revision(),)
        ]
    engine.dispose()


def test_sqlite_runs_in_wal_with_secure_delete_and_full_sync(tmp_path: Path) -> None:
    # SQLite only, whatever this run's engine: PostgreSQL needs none of it.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'shoal.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_item_seq_is_never_reused_after_the_newest_item_is_deleted(tmp_path: Path) -> None:
    # Desks page through items by seq; a reused seq would hide an item.
    engine = new_engine(tmp_path)
    migrate(engine)
    factory = session_factory(engine)

    def add(item_id: str) -> int:
        with factory() as db, db.begin():
            item = schema.Item(
                id=item_id,
                compartment_id="c" * 32,
                contact_id=None,
                direction="in",
                blob_id="0" * 64,
                size=1,
                day=date(2026, 11, 23),
            )
            db.add(item)
            db.flush()
            return item.seq

    with factory() as db, db.begin():
        db.add(schema.Compartment(id="c" * 32, door="news", epoch=1))
    first = add("a" * 32)
    with factory() as db, db.begin():
        db.delete(db.get(schema.Item, first))
    assert add("b" * 32) > first
    engine.dispose()
