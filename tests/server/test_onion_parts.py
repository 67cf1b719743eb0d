"""The parts of ``shoal serve --onion`` that need no tor: onion addresses,
the encrypted key file, the torrc Shoal writes, the ``[onion]``
configuration, and the commands that let a desk reach the handlers'
address (``test_onion.py`` runs them all with a real tor)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

import _engines
from _server_config import update_server_config
from shoal import crypto, org
from shoal.server._admin import init_data_dir
from shoal.server._config import ConfigError, OnionSettings, load_config, torrc_lines
from shoal.server._onion import add_client, clients, remove_client
from shoal.server._onion_keys import OnionKey, keys_path, load_or_create
from shoal.server._tor import Service, torrc
from shoal.server.cli import _bound_socket

SHOAL = [sys.executable, "-m", "shoal"]
#: The lowest scrypt work factor: these tests are about the file, not its cost.
FAST = 1


# -- addresses ----------------------------------------------------------------


@given(st.binary(min_size=32, max_size=32))
def test_an_address_derived_from_a_key_checks(public_key: bytes) -> None:
    address = org.onion_address(public_key)
    assert org.check_onion_address(address) == address
    assert len(address) == 62


@given(st.binary(min_size=32, max_size=32), st.integers(0, 55), st.sampled_from("a2z7"))
def test_one_mistyped_letter_is_caught(public_key: bytes, where: int, letter: str) -> None:
    address = org.onion_address(public_key)
    if address[where] == letter:
        return
    mistyped = address[:where] + letter + address[where + 1 :]
    with pytest.raises(ValueError, match="checksum"):
        org.check_onion_address(mistyped)


@pytest.mark.parametrize(
    "text",
    ["", "example.onion", "A" * 56 + ".onion", "a" * 56, "a" * 56 + ".onion.", "1" * 56 + ".onion"],
)
def test_malformed_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        org.check_onion_address(text)


# -- the key file ---------------------------------------------------------------


def test_keys_are_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path, ["contact", "door:a"], "pass", work_factor=FAST)
    again = load_or_create(tmp_path, ["contact"], "pass", work_factor=FAST)
    assert again == first
    # A new door gets a key; the others keep theirs.
    more = load_or_create(tmp_path, ["contact", "door:b"], "pass", work_factor=FAST)
    assert set(more) == {"contact", "door:a", "door:b"}
    assert {k: more[k] for k in first} == first
    assert keys_path(tmp_path).stat().st_mode & 0o077 == 0
    assert list(keys_path(tmp_path).parent.iterdir()) == [keys_path(tmp_path)]


def test_the_key_file_is_a_standard_age_file(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path, ["contact"], "a passphrase", work_factor=FAST)
    # pyrage is an independent age implementation (Rust's rage).
    plain = pyrage.passphrase.decrypt(keys_path(tmp_path).read_bytes(), "a passphrase")
    seed = keys["contact"].seed
    assert base64.b64encode(seed) in plain
    assert seed not in keys_path(tmp_path).read_bytes()


def test_a_wrong_passphrase_or_a_damaged_file_is_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path, ["contact"], "right", work_factor=FAST)
    sealed = keys_path(tmp_path).read_bytes()
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_or_create(tmp_path, ["contact"], "wrong", work_factor=FAST)
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    keys_path(tmp_path).write_bytes(damaged)
    with pytest.raises(ConfigError, match=r"wrong passphrase .*damaged"):
        load_or_create(tmp_path, ["contact"], "right", work_factor=FAST)
    # Refused before anything is written: the damaged file is left for the operator.
    assert keys_path(tmp_path).read_bytes() == damaged


def test_torrs_key_file_is_the_expanded_clamped_key() -> None:
    key = OnionKey(bytes(range(32)))
    blob = key.tor_secret_key_file()
    assert blob.startswith(b"== ed25519v1-secret: type0 ==\x00\x00\x00")
    expanded = blob[32:]
    assert len(expanded) == 64
    assert expanded[0] & 7 == 0 and expanded[31] & 0xC0 == 0x40


# -- the torrc ------------------------------------------------------------------


def test_every_service_gets_the_defences(tmp_path: Path) -> None:
    settings = OnionSettings(pow_queue_rate=7, intro_rate=3, torrc="UseBridges 1")
    services = [
        Service("contact", OnionKey(os.urandom(32)), 4001),
        Service("handlers", OnionKey(os.urandom(32)), 4002, clients=("descriptor:x25519:x",)),
    ]
    lines = torrc(settings, tmp_path / "tor", tmp_path / "run", services).splitlines()
    assert "SocksPort 0" in lines and "UseBridges 1" in lines
    assert lines.count("HiddenServicePoWDefensesEnabled 1") == 2
    assert lines.count("HiddenServicePoWQueueRate 7") == 2
    assert lines.count("HiddenServiceEnableIntroDoSDefense 1") == 2
    assert lines.count("HiddenServiceEnableIntroDoSRatePerSec 3") == 2
    assert lines.count("HiddenServiceMaxStreamsCloseCircuit 1") == 2
    assert "HiddenServicePort 80 127.0.0.1:4002" in lines
    # Each service's options follow its own HiddenServiceDir line.
    dirs = [i for i, line in enumerate(lines) if line.startswith("HiddenServiceDir")]
    assert lines[dirs[1] + 1] == "HiddenServicePort 80 127.0.0.1:4002"
    # The operator's lines come before the services, so none can be read
    # as an option of the last service.
    assert lines.index("UseBridges 1") < dirs[0]


@pytest.mark.parametrize(
    "line",
    [
        "DataDirectory /tmp/x",
        "SocksPort 0.0.0.0:9050",
        "socksport 9050",
        "ControlPort 9051",
        "HiddenServiceDir /tmp/evil",
        "HiddenServicePoWDefensesEnabled 0",
        "__OwningControllerProcess 1",
        "NoValue",
        "Bad-Option 1",
    ],
)
def test_extra_torrc_lines_cannot_change_what_shoal_sets(line: str) -> None:
    with pytest.raises(ValueError):
        torrc_lines(line)


def test_extra_torrc_lines_skip_comments_and_blanks() -> None:
    text = "# bridges\nUseBridges 1\n\n  Bridge obfs4 192.0.2.1:443 ABCD cert=x iat-mode=0\n"
    assert torrc_lines(text) == [
        "UseBridges 1",
        "Bridge obfs4 192.0.2.1:443 ABCD cert=x iat-mode=0",
    ]


# -- [onion] in server.toml -----------------------------------------------------


def _data_dir(tmp_path: Path) -> Path:
    root = crypto.NoteSigner(org.root_key_name(org.new_id()), crypto.SigningKey.generate())
    init_data_dir(tmp_path / "data", str(root.verifier), _engines.database_url())
    return tmp_path / "data"


def test_onion_settings_load_from_the_file_and_the_environment(tmp_path: Path) -> None:
    data_dir = _data_dir(tmp_path)
    assert load_config(data_dir).onion == OnionSettings()
    update_server_config(data_dir, onion={"doors": "a b-2", "max_streams": 8})
    config = load_config(data_dir, environ={"SHOAL_ONION_TORRC": "DisableNetwork 1"})
    assert config.onion.doors == ("a", "b-2")
    assert config.onion.max_streams == 8
    assert config.onion.torrc == "DisableNetwork 1"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"doors": "Bad_Door"}, "onion.doors: must be door names"),
        ({"runtime_dir": "relative"}, "onion.runtime_dir: must be an absolute directory"),
        ({"torrc": "SocksPort 9050"}, "onion.torrc: must be torrc lines"),
        ({"pow_queue_rate": 0}, "onion.pow_queue_rate: must be a positive integer"),
        ({"passphrase": "x"}, "unknown key 'onion.passphrase'"),
    ],
)
def test_bad_onion_settings_are_refused(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    data_dir = _data_dir(tmp_path)
    update_server_config(data_dir, onion=settings)
    with pytest.raises(ConfigError, match=message):
        load_config(data_dir)


# -- who may reach the handlers' address ----------------------------------------


def test_a_desks_key_reaches_the_handlers_service(tmp_path: Path) -> None:
    address = org.onion_address(os.urandom(32))
    made = subprocess.run(
        [*SHOAL, "desk", "onion-auth", "--address", address, "--out", str(tmp_path / "auth")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    public_line = made.stdout.strip()
    private_file = tmp_path / "auth" / f"{address.removesuffix('.onion')}.auth_private"
    assert private_file.stat().st_mode & 0o077 == 0
    host, kind, algorithm, private = private_file.read_text().strip().split(":")
    assert (host, kind, algorithm) == (address.removesuffix(".onion"), "descriptor", "x25519")
    # The public line is the private key's.
    key = X25519PrivateKey.from_private_bytes(base64.b32decode(private + "===="))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public_line == "descriptor:x25519:" + base64.b32encode(public).decode().rstrip("=")
    assert private not in made.stdout + made.stderr

    again = subprocess.run(
        [*SHOAL, "desk", "onion-auth", "--address", address, "--out", str(tmp_path / "auth")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert again.returncode == 1 and "exists" in again.stderr
    bad = subprocess.run(
        [*SHOAL, "desk", "onion-auth", "--address", "x.onion", "--out", str(tmp_path / "b")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "onion address" in bad.stderr

    data_dir = _data_dir(tmp_path)
    added = subprocess.run(
        [*SHOAL, "admin", "onion-client", "--data", str(data_dir), "anna", public_line],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "client anna added" in added.stdout
    assert clients(data_dir) == (public_line,)


def test_clients_are_checked_named_once_and_removable(tmp_path: Path) -> None:
    key = "descriptor:x25519:" + "A" * 52
    add_client(tmp_path, "anna", key)
    with pytest.raises(ConfigError, match="exists"):
        add_client(tmp_path, "anna", key)
    for name, bad in [("Anna", key), ("../x", key), ("bob", "descriptor:x25519:abc"),
                      ("bob", "AGE-SECRET-KEY-1" + "Q" * 58)]:  # fmt: skip
        with pytest.raises(ConfigError):
            add_client(tmp_path, name, bad)
    assert clients(tmp_path) == (key,)
    remove_client(tmp_path, "anna")
    assert clients(tmp_path) == ()
    with pytest.raises(ConfigError, match="no client"):
        remove_client(tmp_path, "anna")


# -- the sockets serve gives uvicorn ------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_listening_sockets_are_tcp_so_asyncio_turns_nagle_off(host: str) -> None:
    """A socket not marked IPPROTO_TCP kept Nagle's algorithm on: every
    answer then waited ~40 ms for the client's delayed ACK (caught by
    test_codename_timing.py, whose logins went from 3 to 48 ms)."""
    with _bound_socket(host, 0) as listening:
        assert listening.proto == socket.IPPROTO_TCP
        # Bound only: nothing connects until the server serves.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(listening.getsockname()[:2], timeout=10).close()
        listening.listen()
        address = listening.getsockname()[:2]
        with socket.create_connection(address, timeout=10):
            accepted, _ = listening.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
