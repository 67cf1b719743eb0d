"""Fixtures for the store's tests: empty blob stores of every backend, and
moto's S3 server for the S3 one (see ``_blob_backends``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _blob_backends import MotoServer, open_store

import _engines
from shoal.store import S3BlobStore, create_db_engine, migrate


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], list[str]]:
    """Makes a new, empty store of a backend ("file", "sqlite",
    "postgresql", "s3") and names it for ``open_store``."""

    def make(kind: str) -> list[str]:
        if kind == "file":
            return ["file", str(tmp_path / f"blobs-{secrets.token_hex(4)}")]
        if kind == "s3":
            moto = request.getfixturevalue("moto_s3")
            where = ["s3", moto.url, f"shoal-{secrets.token_hex(6)}", "node/"]
            store = open_store(where)
            assert isinstance(store, S3BlobStore)
            store.client.create_bucket(Bucket=store.bucket)
            return where
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'blobs-{secrets.token_hex(4)}.db'}"
        elif kind == "postgresql":
            request.getfixturevalue("postgresql_cluster")
            url = _engines.new_postgresql_database()
        else:
            raise ValueError(kind)
        engine = create_db_engine(url)
        migrate(engine)
        engine.dispose()
        return ["database", url]

    return make
