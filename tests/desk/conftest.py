"""A desk enrolled in a compartment of a fresh organization, on a fake server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_kit import DOOR, PASSPHRASE, SERVER_URL, Desk, OrgKit, Setup
from fake_server import FakeServer

from _served_org import Org, serve_demo


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


@pytest.fixture
def setup(tmp_path: Path, passphrase_file: Path) -> Setup:
    kit = OrgKit()
    compartment_id = kit.add_compartment(DOOR)
    server = FakeServer(root=kit.state.root_key, document={}, max_page=2)
    desk = Desk(tmp_path / "desk", server.transport(), passphrase_file)
    desk.ok("keygen", "--work-factor", "10")
    kit.add_handler(DOOR, desk.enrollment())
    kit.sign_epoch(DOOR)
    server.document = kit.document()
    desk.ok("enroll", "--server", SERVER_URL, "--root-key", kit.root_vkey, "--door", DOOR)
    return Setup(kit, server, desk, compartment_id)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """The demo organization behind a real ``shoal serve``, built once (it
    takes seconds): members' tests use door "news", re-sealing door "field"."""
    found = serve_demo(tmp_path_factory.mktemp("served"))
    try:
        yield found
    finally:
        found.stop()
