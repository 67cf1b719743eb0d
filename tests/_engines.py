"""Which database engine this run of the suite uses, and fresh databases on it.

``SHOAL_TEST_ENGINE=postgresql`` (``make test-postgresql``; CI runs it) runs
the suite against a real PostgreSQL cluster that the root conftest starts
from the installed binaries; unset, or ``sqlite``, keeps the embedded
default. Every data directory a test creates asks :func:`database_url` for
its database: ``None`` (SQLite in the data directory) or a new, empty
PostgreSQL database of its own, so tests never see one another's rows.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

ENGINE = os.environ.get("SHOAL_TEST_ENGINE", "sqlite")
if ENGINE not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"SHOAL_TEST_ENGINE={ENGINE!r}: use 'sqlite' or 'postgresql'")
POSTGRESQL = ENGINE == "postgresql"

#: Set by the root conftest when the cluster is up: host, port, user.
_cluster: dict[str, str] = {}


def set_cluster(host: str, port: int, user: str) -> None:
    _cluster.update(host=host, port=str(port), user=user)


def new_postgresql_database() -> str:
    """A new empty database on the test cluster; its SQLAlchemy URL."""
    import psycopg  # noqa: PLC0415 (only PostgreSQL runs need it)

    if not _cluster:
        raise RuntimeError("no PostgreSQL cluster: request the 'postgresql_cluster' fixture")
    name = f"shoal_{secrets.token_hex(6)}"
    with psycopg.connect(
        host=_cluster["host"], port=_cluster["port"], user=_cluster["user"], dbname="postgres",
        autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{_cluster['user']}@{_cluster['host']}:{_cluster['port']}/{name}"


def empty_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database on ``kind`` ("sqlite" or
    "postgresql"), whatever engine this run uses: for the tests that check
    both engines in every run (migrations, the schema)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'shoal.db'}"
    request.getfixturevalue("postgresql_cluster")
    return new_postgresql_database()


def database_url() -> str | None:
    """The database for a new data directory under this run's engine."""
    return new_postgresql_database() if POSTGRESQL else None


def database_args() -> list[str]:
    """``shoal admin init`` arguments for :func:`database_url`."""
    url = database_url()
    return ["--database", url] if url else []
