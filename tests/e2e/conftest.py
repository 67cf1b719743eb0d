"""A whole organization built through the real command line, and a real
``shoal serve`` process in front of it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_kit import Org

from shoal import demo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shoal serve exited: {log.read_text()}")
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("shoal serve did not start")


def _build(tmp_path: Path, *, classic: bool) -> Iterator[Org]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root = tmp_path / "org"
    root.mkdir()
    shown = demo.build(root, url, classic=classic)
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    log = tmp_path / "server.log"
    env = {**os.environ, "TMPDIR": str(server_tmp)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "serve", "--data", str(root / "server"),
             "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    org = Org(root, url, shown, server_tmp, log, process)
    try:
        _wait_until_up(url, process, log)
        yield org
    finally:
        org.stop()


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    """A post-quantum organization (the default), served."""
    yield from _build(tmp_path, classic=False)


@pytest.fixture
def classic_org(tmp_path: Path) -> Iterator[Org]:
    """An organization of classic X25519 keys, served."""
    yield from _build(tmp_path, classic=True)
