"""The ``shoal`` command as a real process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from _tools import require_tool
from shoal import crypto

SHOAL = [sys.executable, "-m", "shoal"]


def run(*args: str) -> str:
    done = subprocess.run([*SHOAL, *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_keygen_defaults_to_post_quantum() -> None:
    comment, secret = run("keygen").splitlines()
    identity = crypto.parse_identity(secret)
    assert isinstance(identity, crypto.HybridIdentity)
    assert comment == f"# public key: {identity.recipient()}"


def test_classic_keygen_output_is_an_age_identity_file(tmp_path: Path) -> None:
    age = require_tool("age", "interoperability with Debian's age")
    key_file = tmp_path / "key.txt"
    key_file.write_text(run("keygen", "--classic"))
    recipient = key_file.read_text().splitlines()[0].removeprefix("# public key: ")
    sealed = subprocess.run(
        [age, "-r", recipient], input=b"from age", capture_output=True, check=True, timeout=30
    ).stdout
    opened = subprocess.run(
        [age, "-d", "-i", str(key_file)], input=sealed, capture_output=True, check=True, timeout=30
    ).stdout
    assert opened == b"from age"
    identity = crypto.parse_identity(key_file.read_text().splitlines()[1])
    assert crypto.decrypt(sealed, [identity]) == b"from age"


def test_demo_builds_an_organization_and_serves_its_doors(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = subprocess.Popen(
        [*SHOAL, "demo", "--dir", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/d/news/", timeout=2)
                break
            except httpx.TransportError:
                assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
                time.sleep(0.2)
        else:
            raise AssertionError("the demo server did not come up")
        assert page.status_code == 200
        assert "<script" not in page.text
    finally:
        demo.terminate()
        out, _ = demo.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/d/news/" in out
    assert "shoal desk sync" in out
