"""The database blob store's own cases: partial writes dated by day, a
write cleaned up under its feet, a blob deleted while read, and a database
disk that fills up for real (SQLite on a tiny tmpfs, PostgreSQL with a
tablespace on one). The contract is in test_blob_contract.py."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from _blob_backends import leftovers, pattern, pieces, tmpfs
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

import _engines
from shoal.store import (
    BlobNotFoundError,
    DatabaseBlobStore,
    StorageFullError,
    StoreError,
    create_db_engine,
    migrate,
    schema,
)

MiB = 1 << 20


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, new_store: Callable[[str], list[str]]
) -> Iterator[DatabaseBlobStore]:
    _, url = new_store(request.param)
    store = DatabaseBlobStore(create_db_engine(url))
    yield store
    store.engine.dispose()


def crashed_write(store: DatabaseBlobStore, storage_id: str, days_ago: int) -> None:
    """What a writer killed after its first batch leaves: a registered
    write and its chunks."""
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    with store.engine.begin() as connection:
        connection.execute(insert(schema.BlobWrite).values(storage_id=storage_id, day=day))
        connection.execute(
            insert(schema.BlobChunk),
            [{"storage_id": storage_id, "idx": idx, "data": b"c" * 100} for idx in range(3)],
        )


def test_partials_are_dated_by_day(store: DatabaseBlobStore) -> None:
    kept = store.put(pieces(9 * MiB, MiB))  # registered, then finished
    for days_ago, storage_id in enumerate(["a" * 32, "b" * 32, "c" * 32]):
        crashed_write(store, storage_id, days_ago)
    # An hour rounds up to a day: only writes from before yesterday go.
    assert store.clean_partials(older_than=3600) == 1
    assert leftovers(store) == 2 * 4
    assert store.clean_partials(older_than=0) == 2
    assert leftovers(store) == 0
    assert list(store.ids()) == [kept.blob_id]
    with store.open(kept.blob_id) as f:
        assert f.read() == b"".join(pieces(9 * MiB, MiB))


def test_a_write_cleaned_up_under_its_feet_fails_instead_of_storing_a_hollow_blob(
    store: DatabaseBlobStore,
) -> None:
    def producer() -> Iterator[bytes]:
        yield from pieces(9 * MiB, MiB)  # one batch registered and stored
        # Another process, told that no one writes, cleans up.
        assert store.clean_partials() == 1
        yield b"the end"

    with pytest.raises(StoreError, match="removed as a partial"):
        store.put(producer())
    assert list(store.ids()) == []
    assert leftovers(store) == 0


def test_a_blob_deleted_while_read_is_not_read_short(store: DatabaseBlobStore) -> None:
    ref = store.put([pattern(3 * MiB)])
    with store.open(ref.blob_id) as f:
        assert f.read(10) == pattern(3 * MiB)[:10]
        store.delete(ref.blob_id)
        with pytest.raises(BlobNotFoundError, match="deleted while"):
            f.read()
    assert leftovers(store) == 0


def test_chunks_are_one_mebibyte_rows(store: DatabaseBlobStore) -> None:
    ref = store.put(pieces(2 * MiB + 1, 300_000))
    with store.engine.connect() as connection:
        storage_id = connection.scalar(
            select(schema.BlobObject.storage_id).where(schema.BlobObject.blob_id == ref.blob_id)
        )
        sizes = [
            len(data)
            for data in connection.scalars(
                select(schema.BlobChunk.data)
                .where(schema.BlobChunk.storage_id == storage_id)
                .order_by(schema.BlobChunk.idx)
            )
        ]
    assert sizes == [MiB, MiB, 1]


def fill_until_full(store: DatabaseBlobStore) -> tuple[set[str], StorageFullError]:
    """Put 20 MiB blobs until the disk is full: what is stored, and the error."""
    kept = store.put([b"kept" * 1000])
    with pytest.raises(StorageFullError) as refused:
        for seed in range(100):
            store.put(pieces(20 * MiB, MiB, seed))
    stored = set(store.ids())
    assert kept.blob_id in stored and len(stored) < 100
    for blob_id in stored:
        with store.open(blob_id) as f:
            assert hashlib.sha256(f.read()).hexdigest() == blob_id
    return stored, refused.value


def empty_and_reuse(store: DatabaseBlobStore, stored: set[str]) -> None:
    for blob_id in stored:
        store.delete(blob_id)
    store.clean_partials()
    assert leftovers(store) == 0
    assert list(store.ids()) == []
    assert store.put([b"after"]).size == 5


def test_a_full_sqlite_disk_refuses_the_blob_and_keeps_the_others(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "24m") as disk:
        engine = create_db_engine(f"sqlite:///{disk / 'shoal.db'}")
        try:
            migrate(engine)
            store = DatabaseBlobStore(engine)
            stored, refused = fill_until_full(store)
            # SQLite's DELETE needs room in its journal too: the clean-up
            # was refused, and the caller still saw the full disk.
            assert "stays until clean_partials" in str(refused.__notes__)
            assert leftovers(store) > 0
            # The operator frees space; then the partial goes.
            remount = ["mount", "-o", "remount,size=96m", str(disk)]
            subprocess.run(remount, check=True)
            empty_and_reuse(store, stored)
        finally:
            engine.dispose()


@pytest.fixture
def postgresql_on_a_tiny_disk(postgresql_cluster: None) -> Iterator[str]:
    """A database whose tablespace is a 48 MiB tmpfs (its WAL is not)."""
    url = make_url(_engines.new_postgresql_database())
    admin = {"host": url.host, "port": url.port, "user": url.username, "dbname": "postgres"}
    # Under /tmp, not under pytest's 0700 directories: the server runs as
    # the postgres user and must reach the tablespace.
    with (
        tempfile.TemporaryDirectory(dir="/tmp") as parent,
        tmpfs(Path(parent) / "disk", "48m", owner="postgres") as disk,
    ):
        Path(parent).chmod(0o711)
        name = url.database
        with psycopg.connect(**admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}"')
            connection.execute(f"CREATE TABLESPACE tiny_{name} LOCATION '{disk}'")
            connection.execute(f'CREATE DATABASE "{name}" TABLESPACE tiny_{name}')
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with psycopg.connect(**admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                connection.execute(f"DROP TABLESPACE tiny_{name}")


def test_a_full_postgresql_disk_refuses_the_blob_and_removes_its_partial(
    postgresql_on_a_tiny_disk: str,
) -> None:
    engine = create_db_engine(postgresql_on_a_tiny_disk)
    try:
        migrate(engine)
        store = DatabaseBlobStore(engine)
        stored, _ = fill_until_full(store)
        assert leftovers(store) == 0  # its WAL is elsewhere: DELETE works
        empty_and_reuse(store, stored)
    finally:
        engine.dispose()
