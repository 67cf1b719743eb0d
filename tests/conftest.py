"""Shared test plumbing. The missing-tool rule lives in ``_tools.py``.

``SHOAL_LONG=1`` (``make test-long``) loads Hypothesis's "long" profile:
ten times the examples for every property that does not set its own count,
with fresh random examples each run. CI (``CI=true``) runs the "ci" profile:
the same examples every run, so a landing is never decided by which random
examples a run happened to draw; the long run is where new ones are sought.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from pytest_postgresql import factories

import _engines
import _tiers

settings.register_profile("long", max_examples=1000, deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None)
if _tiers.LONG:
    settings.load_profile("long")
elif os.environ.get("CI") == "true":
    settings.load_profile("ci")


def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest already exits 5 on an empty collection; make it impossible to
    # miss in any wrapper that only looks at output.
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected: refusing to pass")


#: The shim runs the real pg_ctl as the postgres user when we are root.
postgresql_cluster_proc = factories.postgresql_proc(
    executable=str(Path(__file__).parent / "_pg" / "pg_ctl"),
    # Two server processes and their pools per test, the desk's sync and
    # the tests' own engines, across tests whose servers are still closing.
    postgres_options="-c max_connections=400",
)


@pytest.fixture(scope="session")
def postgresql_cluster(request: pytest.FixtureRequest) -> Iterator[None]:
    """A throwaway PostgreSQL cluster for this session (real server binaries)."""
    proc = request.getfixturevalue("postgresql_cluster_proc")
    _engines.set_cluster(proc.host, proc.port, proc.user)
    yield


@pytest.fixture(scope="session", autouse=True)
def _engine_for_this_run(request: pytest.FixtureRequest) -> None:
    # Session-wide and autouse, so it is up before any module's served
    # organization asks _engines.database_url() for a database.
    if _engines.POSTGRESQL:
        request.getfixturevalue("postgresql_cluster")
