"""Fixtures for the server's tests: an organization, a data directory, an app.

In-process tests drive ``create_app`` through Starlette's TestClient with a
fake clock; end-to-end tests run ``shoal admin`` and ``shoal serve`` as real
processes (``_server_kit.ServerProcess``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _server_kit import FakeClock, OrgKit, Stored, TestClient, new_org

import _engines
from _server_config import update_server_config
from shoal.server import create_app
from shoal.server._admin import import_notes, init_data_dir


@pytest.fixture
def test_org() -> OrgKit:
    made = new_org()
    made.add_compartment("north", handlers=2)
    made.add_compartment("south")
    return made


def set_up_data_dir(directory: Path, test_org: OrgKit) -> Path:
    """The operator's two steps, in process (the CLI has its own tests)."""
    init_data_dir(directory, test_org.root_key, _engines.database_url())
    import_notes(directory, test_org.write_notes(directory.parent / "notes"), datetime.now(UTC))
    return directory


@pytest.fixture
def data_dir(tmp_path: Path, test_org: OrgKit) -> Path:
    return set_up_data_dir(tmp_path / "data", test_org)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def set_limits(data_dir: Path, **limits: int) -> None:
    update_server_config(data_dir, limits=limits)


@pytest.fixture
def make_client(data_dir: Path, clock: FakeClock) -> Iterator[Callable[..., TestClient]]:
    """A client of an app over ``data_dir``, with ``limits`` in its server.toml."""
    with contextlib.ExitStack() as stack:

        def make(**limits: int) -> TestClient:
            if limits:
                set_limits(data_dir, **limits)
            app = create_app(data_dir, clock=clock)
            return stack.enter_context(TestClient(app, base_url="http://127.0.0.1"))

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def stored(data_dir: Path) -> Iterator[Stored]:
    found = Stored(data_dir)
    yield found
    found.close()
