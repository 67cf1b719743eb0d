"""The database: migrations and SQLite's safety settings (what columns may
hold: test_schema_columns.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

import _engines
from shoal.store import create_db_engine, head_revision, migrate, schema, session_factory


def new_engine(tmp_path: Path) -> Engine:
    """A database on this run's engine (SQLite unless SHOAL_TEST_ENGINE says)."""
    return create_db_engine(_engines.database_url() or f"sqlite:///{tmp_path / 'shoal.db'}")


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
