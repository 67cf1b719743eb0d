"""Interoperability with the reference implementation: Debian's ``age`` CLI.

Debian 12 ships age 1.1.1: classic X25519 and scrypt only, no post-quantum
hybrid (that is tested against the npm package in ``test_node_hybrid.py``).
Every case runs both ways: Shoal encrypts and age decrypts, and age
encrypts and Shoal decrypts.

age reads passphrases only from a terminal. The scrypt tests give it one: a
pseudo-terminal from the stdlib ``pty`` module as its standard input, in a
new session so that it has no controlling terminal and cannot open (and
hang on) the ``/dev/tty`` of whoever runs the tests.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from _tools import require_tool
from shoal import crypto

TIMEOUT = 30
BIG_TIMEOUT = 120
PASSPHRASE = "correct horse battery stäple"  # non-ASCII: both sides must send UTF-8
#: Low, to keep Shoal's side fast; age itself always encrypts with 18.
LOW_WORK_FACTOR = 10


@pytest.fixture
def age() -> str:
    return require_tool("age", "interoperability with the age reference implementation")


@pytest.fixture
def age_keygen() -> str:
    return require_tool("age-keygen", "interoperability with the age reference implementation")


def run(cmd: list[str], stdin: bytes = b"", timeout: float = TIMEOUT) -> bytes:
    """Run ``cmd`` to completion; return its stdout, or fail showing stderr."""
    result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        pytest.fail(
            f"{cmd[0]} exited {result.returncode}: {result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def read_identity_file(path: Path) -> list[crypto.AgeIdentity]:
    """age's identity file format: one key a line, ``#`` comments, blank lines."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [crypto.parse_identity(line) for line in lines if line and not line.startswith("#")]


def write_identity_file(path: Path, identities: list[crypto.AgeIdentity]) -> Path:
    lines = [f"# public key: {i.recipient()}\n{i.secret_string()}\n" for i in identities]
    path.write_text("# written by shoal's interop tests\n" + "".join(lines))
    return path


class AgeKeys:
    """Keys made by ``age-keygen``, each in its own identity file."""

    def __init__(self, age_keygen: str, directory: Path) -> None:
        self._age_keygen = age_keygen
        self._directory = directory
        self._count = 0

    def new(self) -> tuple[Path, str]:
        """A new identity file and its recipient, as ``age-keygen -y`` reports it."""
        self._count += 1
        path = self._directory / f"age-key-{self._count}.txt"
        run([self._age_keygen, "-o", str(path)])
        return path, run([self._age_keygen, "-y", str(path)]).decode().strip()


@pytest.fixture
def age_keys(age_keygen: str, tmp_path: Path) -> AgeKeys:
    return AgeKeys(age_keygen, tmp_path)


def x25519_identity() -> crypto.AgeIdentity:
    return crypto.generate_identity(crypto.KeyType.X25519)


# --- keys -------------------------------------------------------------------


def test_keys_agree_both_ways(age_keygen: str, age_keys: AgeKeys, tmp_path: Path) -> None:
    path, recipient = age_keys.new()
    [identity] = read_identity_file(path)
    assert str(identity.recipient()) == recipient

    ours = x25519_identity()
    ours_file = write_identity_file(tmp_path / "shoal-key.txt", [ours])
    assert run([age_keygen, "-y", str(ours_file)]).decode().strip() == str(ours.recipient())


# --- one recipient, sizes around the 64 KiB chunk boundaries -----------------


def test_shoal_encrypts_age_decrypts(age: str, age_keys: AgeKeys, plaintext: bytes) -> None:
    key_file, recipient = age_keys.new()
    ciphertext = crypto.encrypt(plaintext, [crypto.parse_recipient(recipient)])
    assert run([age, "-d", "-i", str(key_file)], ciphertext) == plaintext


def test_age_encrypts_shoal_decrypts(age: str, plaintext: bytes) -> None:
    identity = x25519_identity()
    ciphertext = run([age, "-r", str(identity.recipient())], plaintext)
    assert crypto.decrypt(ciphertext, [identity]) == plaintext


# --- ASCII armor ---------------------------------------------------------------


def test_shoal_armors_age_decrypts(age: str, age_keys: AgeKeys, plaintext: bytes) -> None:
    key_file, recipient = age_keys.new()
    armored = crypto.encrypt(plaintext, [crypto.parse_recipient(recipient)], armor=True)
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert run([age, "-d", "-i", str(key_file)], armored) == plaintext


def test_age_armors_shoal_decrypts(age: str, plaintext: bytes) -> None:
    identity = x25519_identity()
    armored = run([age, "-a", "-r", str(identity.recipient())], plaintext)
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert crypto.decrypt(armored, [identity]) == plaintext


# --- several recipients, several keys in one identity file --------------------


def test_shoal_encrypts_to_three_age_recipients(age: str, age_keys: AgeKeys) -> None:
    plaintext = os.urandom(3 * 64 * 1024 + 7)
    keys = [age_keys.new() for _ in range(3)]
    ciphertext = crypto.encrypt(plaintext, [crypto.parse_recipient(r) for _, r in keys])
    for key_file, _ in keys:
        assert run([age, "-d", "-i", str(key_file)], ciphertext) == plaintext


def test_age_encrypts_to_three_shoal_recipients(age: str, tmp_path: Path) -> None:
    plaintext = os.urandom(3 * 64 * 1024 + 7)
    identities = [x25519_identity() for _ in range(3)]
    args = [arg for i in identities for arg in ("-r", str(i.recipient()))]
    ciphertext_file = tmp_path / "three.age"
    ciphertext_file.write_bytes(run([age, *args], plaintext))
    for identity in identities:
        with ciphertext_file.open("rb") as f:
            assert crypto.decrypt_reader(f, [identity]).read() == plaintext


def test_age_file_decrypts_with_shoal_from_multi_key_identity_file(
    age: str, age_keygen: str, tmp_path: Path
) -> None:
    # One identity file holding three age-keygen keys; the file is for the
    # middle one only, so Shoal must skip a key that matches nothing.
    keys_file = tmp_path / "keys.txt"
    for n in range(3):
        run([age_keygen, "-o", str(tmp_path / f"k{n}.txt")])
    keys_file.write_text("".join((tmp_path / f"k{n}.txt").read_text() + "\n" for n in range(3)))
    recipient = run([age_keygen, "-y", str(tmp_path / "k1.txt")]).decode().strip()
    plaintext = os.urandom(100_000)
    ciphertext = run([age, "-r", recipient], plaintext)
    identities = read_identity_file(keys_file)
    assert len(identities) == 3
    assert crypto.decrypt(ciphertext, identities) == plaintext


def test_shoal_file_decrypts_with_age_from_multi_key_identity_file(
    age: str, tmp_path: Path
) -> None:
    identities = [x25519_identity() for _ in range(3)]
    keys_file = write_identity_file(tmp_path / "keys.txt", identities)
    plaintext = os.urandom(100_000)
    ciphertext = crypto.encrypt(plaintext, [identities[2].recipient()])
    assert run([age, "-d", "-i", str(keys_file)], ciphertext) == plaintext


# --- scrypt passphrases, typed into a pseudo-terminal ---------------------------


def run_with_passphrase(cmd: list[str], passphrase: str, prompts: int) -> None:
    """Run ``cmd`` with a pty as its terminal; answer each passphrase prompt."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=terminal,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # no controlling terminal: no /dev/tty
        )
    finally:
        os.close(terminal)
    screen = b""
    answered = 0
    deadline = time.monotonic() + TIMEOUT
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"{cmd[0]} did not finish; its terminal shows {screen!r}")
            ready, _, _ = select.select([controller], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):  # EIO: the child closed it
                    screen += os.read(controller, 4096)
            # Prompts: "Enter passphrase (...):", "Confirm passphrase:".
            while answered < min(prompts, screen.count(b"passphrase")):
                os.write(controller, passphrase.encode() + b"\n")
                answered += 1
        stderr = proc.stderr.read() if proc.stderr else b""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        if proc.stderr:
            proc.stderr.close()
        os.close(controller)
    if proc.returncode != 0:
        pytest.fail(f"{cmd[0]} exited {proc.returncode}: {stderr.decode(errors='replace')}")
    assert answered == prompts, screen


def test_shoal_passphrase_age_decrypts(age: str, tmp_path: Path) -> None:
    plaintext = os.urandom(64 * 1024 + 1)
    recipient = crypto.ScryptRecipient(PASSPHRASE, work_factor=LOW_WORK_FACTOR)
    (tmp_path / "p.age").write_bytes(crypto.encrypt(plaintext, [recipient]))
    out = tmp_path / "p.out"
    run_with_passphrase([age, "-d", "-o", str(out), str(tmp_path / "p.age")], PASSPHRASE, 1)
    assert out.read_bytes() == plaintext


def test_age_passphrase_shoal_decrypts(age: str, tmp_path: Path) -> None:
    plaintext = os.urandom(64 * 1024 + 1)
    (tmp_path / "p.bin").write_bytes(plaintext)
    out = tmp_path / "p.age"
    run_with_passphrase([age, "-p", "-o", str(out), str(tmp_path / "p.bin")], PASSPHRASE, 2)
    ciphertext = out.read_bytes()
    assert b"\n-> scrypt " in ciphertext.split(b"\n---", 1)[0]
    assert crypto.decrypt(ciphertext, [crypto.ScryptIdentity(PASSPHRASE)]) == plaintext
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(ciphertext, [crypto.ScryptIdentity(PASSPHRASE + "!")])


# --- 100 MiB, streamed through files --------------------------------------------


@pytest.mark.slow
def test_big_file_shoal_encrypts_age_decrypts(
    age: str, age_keys: AgeKeys, big_plaintext, big_tmp_path: Path
) -> None:
    key_file, recipient = age_keys.new()
    ciphertext = big_tmp_path / "big.age"
    recipients = [crypto.parse_recipient(recipient)]
    with ciphertext.open("wb") as dst, crypto.encrypt_writer(dst, recipients) as writer:
        for block in big_plaintext.blocks():
            writer.write(block)
    out = big_tmp_path / "big.out"
    cmd = [age, "-d", "-i", str(key_file), "-o", str(out), str(ciphertext)]
    run(cmd, timeout=BIG_TIMEOUT)
    big_plaintext.assert_same(out)


@pytest.mark.slow
def test_big_file_age_encrypts_shoal_decrypts(age: str, big_plaintext, big_tmp_path: Path) -> None:
    identity = x25519_identity()
    ciphertext = big_tmp_path / "big.age"
    cmd = [age, "-r", str(identity.recipient()), "-o", str(ciphertext), str(big_plaintext.path)]
    run(cmd, timeout=BIG_TIMEOUT)
    out = big_tmp_path / "big.out"
    with ciphertext.open("rb") as src:
        crypto.decrypt_to_file(src, out, [identity])
    big_plaintext.assert_same(out)
