"""Post-quantum interoperability: ``mlkem768x25519`` with the npm package
``age-encryption`` (typage, by age's author), through ``node/age_tool.mjs``.

Debian's age 1.1.1 and pyrage predate the hybrid recipient type, so typage
is the independent implementation Shoal's default keys are checked against.
The tests need ``node`` and the package installed in ``node/node_modules``
(``make pytest`` runs npm); either missing is a loud skip, or a failure
under ``SHOAL_REQUIRE_TOOLS=1``, as ``tests/_tools.py`` rules for tools.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from _tools import missing, require_tool
from shoal import crypto

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "age_tool.mjs"
PACKAGE = NODE_DIR / "node_modules" / "age-encryption" / "package.json"
TIMEOUT = 60
STANZA = b"\n-> mlkem768x25519 "


def require_node_package() -> None:
    """The npm package is a tool like ``node``: same skip-or-fail policy."""
    if not PACKAGE.is_file():
        missing(
            f"npm package 'age-encryption' is not installed in {NODE_DIR / 'node_modules'}",
            "post-quantum interoperability; `make pytest` installs it",
        )


class NodeAge:
    """``node age_tool.mjs …``: typage's keygen, encrypt and decrypt."""

    def __init__(self, node: str) -> None:
        self._node = node

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self._node, str(SCRIPT), *args],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT,
            cwd=NODE_DIR,
            check=False,
        )

    def __call__(self, *args: str, stdin: bytes = b"") -> bytes:
        result = self.run(*args, stdin=stdin)
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace")
            pytest.fail(f"age_tool.mjs {args[0]} exited {result.returncode}: {stderr}")
        return result.stdout

    def keygen(self, directory: Path, name: str) -> tuple[Path, str]:
        """A new hybrid identity in an identity file, and its recipient."""
        identity, recipient = self("keygen").decode().split()
        path = directory / f"{name}.txt"
        path.write_text(f"# public key: {recipient}\n{identity}\n")
        return path, recipient

    def encrypt(self, data: bytes, recipients: list[str], *, armor: bool = False) -> bytes:
        return self("encrypt", *(["--armor"] if armor else []), *recipients, stdin=data)

    def decrypt(self, data: bytes, identity_file: Path) -> bytes:
        return self("decrypt", str(identity_file), stdin=data)


@pytest.fixture(scope="session")
def node_age() -> NodeAge:
    node = require_tool("node", "post-quantum interoperability with npm age-encryption")
    require_node_package()
    return NodeAge(node)


@pytest.fixture(scope="session")
def node_key(node_age: NodeAge, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One typage-generated identity file and recipient for the session."""
    return node_age.keygen(tmp_path_factory.mktemp("node-keys"), "node-key")


def hybrid_identity() -> crypto.AgeIdentity:
    identity = crypto.generate_identity()
    assert crypto.key_type_of(identity) is crypto.KeyType.HYBRID  # the default
    return identity


# --- keys -------------------------------------------------------------------


def test_keys_agree_both_ways(node_age: NodeAge, node_key: tuple[Path, str]) -> None:
    key_file, recipient = node_key
    [secret] = [line for line in key_file.read_text().splitlines() if not line.startswith("#")]
    assert secret.startswith("AGE-SECRET-KEY-PQ-1")
    assert recipient.startswith("age1pq1")
    assert str(crypto.parse_identity(secret).recipient()) == recipient

    ours = hybrid_identity()
    theirs = node_age("recipient", stdin=ours.secret_string().encode()).decode().strip()
    assert theirs == str(ours.recipient())


# --- one recipient, sizes around the 64 KiB chunk boundaries -----------------


def test_node_encrypts_shoal_decrypts(node_age: NodeAge, plaintext: bytes) -> None:
    identity = hybrid_identity()
    ciphertext = node_age.encrypt(plaintext, [str(identity.recipient())])
    assert STANZA in ciphertext.split(b"\n---", 1)[0]
    assert crypto.decrypt(ciphertext, [identity]) == plaintext


def test_shoal_encrypts_node_decrypts(
    node_age: NodeAge, node_key: tuple[Path, str], plaintext: bytes
) -> None:
    key_file, recipient = node_key
    ciphertext = crypto.encrypt(plaintext, [crypto.parse_recipient(recipient)])
    assert STANZA in ciphertext.split(b"\n---", 1)[0]
    assert node_age.decrypt(ciphertext, key_file) == plaintext


# --- several recipients, armor, a few MiB --------------------------------------


def test_node_encrypts_to_three_shoal_recipients(node_age: NodeAge) -> None:
    plaintext = os.urandom(3 * 64 * 1024 + 7)
    identities = [hybrid_identity() for _ in range(3)]
    ciphertext = node_age.encrypt(plaintext, [str(i.recipient()) for i in identities])
    assert ciphertext.split(b"\n---", 1)[0].count(STANZA) == 3
    for identity in identities:
        assert crypto.decrypt(ciphertext, [identity]) == plaintext


def test_shoal_encrypts_to_three_node_recipients(node_age: NodeAge, tmp_path: Path) -> None:
    plaintext = os.urandom(3 * 64 * 1024 + 7)
    keys = [node_age.keygen(tmp_path, f"key-{n}") for n in range(3)]
    ciphertext = crypto.encrypt(plaintext, [crypto.parse_recipient(r) for _, r in keys])
    for key_file, _ in keys:
        assert node_age.decrypt(ciphertext, key_file) == plaintext


def test_armor_both_ways(node_age: NodeAge, node_key: tuple[Path, str]) -> None:
    plaintext = os.urandom(2 * 64 * 1024 + 1)
    ours = hybrid_identity()
    armored = node_age.encrypt(plaintext, [str(ours.recipient())], armor=True)
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert crypto.decrypt(armored, [ours]) == plaintext

    key_file, recipient = node_key
    armored = crypto.encrypt(plaintext, [crypto.parse_recipient(recipient)], armor=True)
    assert node_age.decrypt(armored, key_file) == plaintext


def test_few_mib_both_ways(node_age: NodeAge, node_key: tuple[Path, str], tmp_path: Path) -> None:
    plaintext = os.urandom(4 * 1024 * 1024 + 7)
    ours = hybrid_identity()
    ciphertext_file = tmp_path / "from-node.age"
    ciphertext_file.write_bytes(node_age.encrypt(plaintext, [str(ours.recipient())]))
    with ciphertext_file.open("rb") as f:
        assert b"".join(crypto.decrypt_reader(f, [ours]).chunks()) == plaintext

    key_file, recipient = node_key
    ciphertext_file = tmp_path / "from-shoal.age"
    recipients = [crypto.parse_recipient(recipient)]
    with ciphertext_file.open("wb") as f, crypto.encrypt_writer(f, recipients) as writer:
        writer.write(plaintext)
    assert node_age.decrypt(ciphertext_file.read_bytes(), key_file) == plaintext


def test_wrong_key_fails_both_ways(node_age: NodeAge, node_key: tuple[Path, str]) -> None:
    plaintext = os.urandom(1000)
    key_file, _ = node_key
    to_someone_else = crypto.encrypt(plaintext, [hybrid_identity().recipient()])
    result = node_age.run("decrypt", str(key_file), stdin=to_someone_else)
    assert result.returncode != 0
    assert result.stdout == b""

    from_node = node_age.encrypt(plaintext, [str(hybrid_identity().recipient())])
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(from_node, [hybrid_identity()])


# --- no hybrid file that X25519 alone can open ----------------------------------


def test_shoal_refuses_hybrid_and_x25519_recipients_together() -> None:
    hybrid = hybrid_identity().recipient()
    classic = crypto.generate_identity(crypto.KeyType.X25519).recipient()
    for recipients in ([hybrid, classic], [classic, hybrid]):
        with pytest.raises(crypto.MixedRecipientsError):
            crypto.encrypt(b"secret", recipients)
