"""The ``shoal`` command as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_demo_runs_the_crypto_round_trip() -> None:
    out = run("demo")
    assert "reads: 'I saw the convoy at dawn.'" in out
