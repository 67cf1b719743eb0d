"""Migrations on both engines, whatever engine this run uses.

A deployment upgrades from whatever revision its database is at, so every
revision is walked one step at a time from an empty database to the head,
down to the base and up again: a step that changes nothing, or a
downgrade that leaves something behind, fails. At the head the database
must be what the models describe, and rows written by an older Shoal must
survive the upgrades.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command, op
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, select, text

import _engines
from shoal.store import create_db_engine, current_revision, head_revision, migrate, schema
from shoal.store._database import _alembic_config

#: Steps that change nothing on an engine, on purpose: 0005 lengthens a
#: VARCHAR, whose length SQLite does not enforce (the migration says why it
#: leaves SQLite alone).
UNCHANGED = {("sqlite", "0005")}

#: Where a migrated database differs from the models, on purpose, as
#: (operation, table, column). 0005 leaves ``items.direction`` a VARCHAR(3)
#: on SQLite: retyping a column there rebuilds the table, which would forget
#: the items' seq high-water mark, and SQLite stores "forwarded" anyway.
KNOWN_DIFFERENCES = {
    "sqlite": {("modify_type", "items", "direction")},
    "postgresql": set(),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(_engines.empty_database(request.param, tmp_path, request))
    yield engine
    engine.dispose()


def revisions() -> list[str]:
    """Every revision, oldest first; the history must be one line."""
    walked = list(reversed(list(ScriptDirectory.from_config(_alembic_config()).walk_revisions())))
    ids = [script.revision for script in walked]
    assert [script.down_revision for script in walked] == [None, *ids[:-1]]
    return ids


def run(engine: Engine, step: Callable[[Config, str], None], target: str) -> None:
    """Migrate the way ``migrate()`` does: on a connection handed to env.py."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, target)


def objects(connection: Connection) -> set[tuple[Any, ...]]:
    """Every schema object by kind and name, sequences and the engine's own
    indexes included: what a table's definition does not list."""
    if connection.dialect.name == "sqlite":
        # AUTOINCREMENT (seq never reused) shows only in the table's SQL.
        # sqlite_sequence is SQLite's own: made with the first AUTOINCREMENT
        # table, it cannot be dropped.
        query = (
            "SELECT type, name, sql LIKE '%AUTOINCREMENT%' FROM sqlite_master "
            "WHERE name != 'sqlite_sequence'"
        )
    else:
        query = (
            "SELECT c.relkind::text, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
    return {tuple(row) for row in connection.execute(text(query))}


def shape(engine: Engine) -> dict[str, Any]:
    """What the migrations made: tables with their columns, keys, indexes
    and constraints, and every other object."""
    with engine.connect() as connection:
        inspector = inspect(connection)
        tables = {
            name: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c["default"])
                    for c in inspector.get_columns(name)
                ],
                "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
                "foreign keys": {
                    (
                        fk["name"],
                        tuple(fk["constrained_columns"]),
                        fk["referred_table"],
                        tuple(fk["referred_columns"]),
                    )
                    for fk in inspector.get_foreign_keys(name)
                },
                "indexes": {
                    (ix["name"], tuple(ix["column_names"]), ix["unique"])
                    for ix in inspector.get_indexes(name)
                },
                "unique": {
                    (uc["name"], tuple(uc["column_names"]))
                    for uc in inspector.get_unique_constraints(name)
                },
            }
            for name in inspector.get_table_names()
        }
        return {"tables": tables, "objects": objects(connection)}


def test_every_revision_up_down_and_up_again(engine: Engine) -> None:
    dialect = engine.dialect.name
    ids = revisions()
    # The base: alembic's version table and nothing else.
    run(engine, command.stamp, "base")
    seen: dict[str | None, dict[str, Any]] = {None: shape(engine)}
    assert set(seen[None]["tables"]) == {"alembic_version"}

    previous: str | None = None
    for rev in ids:
        run(engine, command.upgrade, rev)
        assert current_revision(engine) == rev
        seen[rev] = shape(engine)
        if (dialect, rev) in UNCHANGED:
            assert seen[rev] == seen[previous], rev
        else:
            assert seen[rev] != seen[previous], f"{rev} changed nothing"
        previous = rev
    assert set(seen[ids[-1]]["tables"]) == {"alembic_version", *schema.Base.metadata.tables}

    for rev, down in reversed(list(zip(ids, [None, *ids[:-1]], strict=True))):
        run(engine, command.downgrade, down or "base")
        assert current_revision(engine) == down, rev
        assert shape(engine) == seen[down], f"downgrading {rev} left it different"

    for rev in ids:
        run(engine, command.upgrade, rev)
        assert shape(engine) == seen[rev], f"{rev} made something else the second time"


def describe(difference: Any) -> tuple[str, ...]:
    """An autogenerate difference as (operation, table[, column])."""
    operation = difference[0]
    if operation.startswith("modify_"):
        return (operation, difference[2], difference[3])
    if operation in ("add_column", "remove_column"):
        return (operation, difference[2], difference[3].name)
    target = difference[1]  # a Table, Column, Index or constraint
    table = getattr(target, "table", target)
    return (operation, table.name, getattr(target, "name", None) or "")


def test_the_migrations_build_what_the_models_describe(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, schema.Base.metadata)
    # Changes to one column come grouped in a list.
    flat = [d for group in differences for d in (group if isinstance(group, list) else [group])]
    assert {describe(d) for d in flat} == KNOWN_DIFFERENCES[engine.dialect.name], flat


def test_what_autogenerate_cannot_compare(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            declared = {
                table.name
                for table in schema.Base.metadata.sorted_tables
                if table.dialect_options["sqlite"]["autoincrement"]
            }
            assert declared == {"items"}
            made = {name for kind, name, auto in objects(connection) if kind == "table" and auto}
            assert made == declared
        else:
            # Ciphertext does not compress: 0007 stores chunks uncompressed.
            storage = connection.execute(
                text(
                    "SELECT attstorage::text FROM pg_attribute "
                    "WHERE attrelid = 'blob_chunks'::regclass AND attname = 'data'"
                )
            ).scalar_one()
            assert storage == "e"


def rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (the version table aside), in key order."""
    with engine.connect() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        return {
            name: [
                dict(row._mapping)
                for row in connection.execute(select(table).order_by(*table.primary_key))
            ]
            for name, table in metadata.tables.items()
            if name != "alembic_version"
        }


DAY = date(2026, 11, 23)
ITEM = {"compartment_id": "c" * 32, "blob_id": "b" * 64, "size": 4096, "day": DAY}
UPLOAD = {"contact_id": "k" * 32, "compartment_id": "c" * 32, "epoch": 3, "day": DAY}
NEWEST = "4" * 32

#: Rows an older Shoal wrote, by the revision it was at: items have an
#: epoch from 0003, "forwarded" fits from 0005, uploads came with 0006.
WRITTEN: dict[str, dict[str, list[dict[str, Any]]]] = {
    "0001": {
        "compartments": [{"id": "c" * 32, "door": "news", "epoch": 3}],
        "contacts": [
            {
                "id": "k" * 32,
                "lookup_id": bytes(range(32)),
                "compartment_id": "c" * 32,
                "accepted": True,
                "recipient": "age1recipient",
                "state": b"\x00ciphertext\xff",
                "day": DAY,
            }
        ],
        "items": [
            {**ITEM, "id": "1" * 32, "contact_id": "k" * 32, "direction": "in"},
            {**ITEM, "id": "2" * 32, "contact_id": "k" * 32, "direction": "out"},
            {**ITEM, "id": NEWEST, "contact_id": None, "direction": "in"},
        ],
    },
    "0005": {
        "items": [
            {**ITEM, "id": "3" * 32, "contact_id": None, "direction": "forwarded", "epoch": 3}
        ]
    },
    "0006": {
        "uploads": [
            {**UPLOAD, "id": "u" * 32, "size": 1000, "received": 512, "item_id": None},
            {**UPLOAD, "id": "v" * 32, "size": 2345, "received": 0, "item_id": None},
            {**UPLOAD, "id": "w" * 32, "size": 7000, "received": 7000, "item_id": "3" * 32},
        ]
    },
}


def write(engine: Engine, written: dict[str, list[dict[str, Any]]]) -> None:
    """Insert through the tables as they are now (reflected: the models
    describe the head, not this revision)."""
    with engine.begin() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        for name, new in written.items():
            connection.execute(metadata.tables[name].insert(), new)


def item_seq(engine: Engine, item_id: str) -> int:
    with engine.connect() as connection:
        query = text("SELECT seq FROM items WHERE id = :id").bindparams(id=item_id)
        return int(connection.execute(query).scalar_one())


def test_rows_survive_every_upgrade_and_unfinished_uploads_fill_the_quota(engine: Engine) -> None:
    before: dict[str, list[dict[str, Any]]] = {}
    for rev in revisions():
        run(engine, command.upgrade, rev)
        after = rows(engine)
        for name, found in before.items():
            # Columns a revision adds aside, every row is as it was.
            columns = found[0].keys() if found else ()
            assert [{c: row[c] for c in columns} for row in after[name]] == found, (rev, name)
        write(engine, WRITTEN.get(rev, {}))
        if rev == "0001":
            # The newest item goes: its seq must never be given again.
            newest = item_seq(engine, NEWEST)
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM items WHERE seq = :seq"), {"seq": newest})
        before = rows(engine)

    assert {name: len(found) for name, found in before.items() if found} == {
        "compartments": 1,
        "contacts": 1,
        "items": 3,
        "uploads": 3,
        "quotas": 1,
    }
    # Items from before 0003 were sealed to no recorded epoch: 0.
    assert [(i["id"][0], i["epoch"]) for i in before["items"]] == [("1", 0), ("2", 0), ("3", 3)]
    assert before["quotas"] == [{"name": "upload_bytes", "used": 1000 + 2345}]
    write(engine, {"items": [{**ITEM, "id": "5" * 32, "direction": "in"}]})
    assert item_seq(engine, "5" * 32) > newest


def test_the_upload_quota_starts_at_zero_without_uploads(engine: Engine) -> None:
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name, used FROM quotas")).all() == [
            ("upload_bytes", 0)
        ]


def test_a_migration_that_fails_halfway_leaves_the_schema_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite too (whose driver commits each DDL statement by itself):
    ``migrate`` runs the whole upgrade in one transaction, so the third
    table of 0007 failing leaves none of 0007 behind, still at 0006, and
    a later ``migrate`` completes."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'half.db'}")
    try:
        migrate(engine, "0006")
        before = set(inspect(engine).get_table_names())
        real = op.create_table
        made: list[str] = []

        def failing(name: str, *columns: Any, **kw: Any) -> Any:
            made.append(name)
            if len(made) == 3:
                raise RuntimeError("the disk went away")
            return real(name, *columns, **kw)

        monkeypatch.setattr(op, "create_table", failing)
        with pytest.raises(RuntimeError, match="disk went away"):
            migrate(engine)
        monkeypatch.undo()
        assert made[:2] == ["upload_pieces", "quotas"]
        engine.dispose()
        assert set(inspect(engine).get_table_names()) == before
        assert current_revision(engine) == "0006"
        migrate(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
