"""The server's onion service keys, encrypted at rest under a passphrase.

An onion address *is* its key: whoever holds the key can publish the
address. A seized disk must not give that away, or the seizer could run a
copy of a door at the organization's own address and collect the contacts
who keep coming. So the keys live in one age file, ``DIR/onion/keys.age``,
encrypted with an scrypt passphrase that never touches the data directory
(given at start from a prompt, or a file on a RAM disk such as systemd's
credentials). Any age tool opens it (``age -d``), as with every other
ciphertext of Shoal.

The file holds, as JSON, a 32-byte Ed25519 seed per service name
(``contact``, ``door:<door>``, ``handlers``); a name asked for that the
file lacks gets a new key, and the file is rewritten atomically before
tor is told of it, so an address announced is never lost. Tor wants the
*expanded* key (SHA-512 of the seed, clamped), in its key file format;
:meth:`OnionKey.tor_secret_key_file` makes it, for the RAM-backed
directory only (``_tor.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .. import crypto, org
from ..durable import PendingFile
from .errors import ConfigError

ONION_NAME = "onion"
KEYS_NAME = "keys.age"
SEED_BYTES = 32
#: scrypt work factor of a new key file: age's default, about a second here,
#: paid once per start.
WORK_FACTOR = 18
_FORMAT = "shoal onion keys v1"
#: Tor's ``hs_ed25519_secret_key`` file: this 32-byte header, then the
#: 64-byte expanded secret key.
_TOR_KEY_HEADER = b"== ed25519v1-secret: type0 ==\x00\x00\x00"


@dataclass(frozen=True)
class OnionKey:
    seed: bytes = field(repr=False)

    @property
    def public_key(self) -> bytes:
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def address(self) -> str:
        return org.onion_address(self.public_key)

    def tor_secret_key_file(self) -> bytes:
        expanded = bytearray(hashlib.sha512(self.seed).digest())
        expanded[0] &= 248
        expanded[31] &= 63
        expanded[31] |= 64
        return _TOR_KEY_HEADER + bytes(expanded)


def keys_path(data_dir: Path) -> Path:
    return data_dir / ONION_NAME / KEYS_NAME


def _decode(plaintext: bytes, path: Path) -> dict[str, OnionKey]:
    damaged = ConfigError(f"{path} is damaged (not Shoal's onion keys)")
    try:
        document = json.loads(plaintext)
        if document.get("format") != _FORMAT or not isinstance(document.get("keys"), dict):
            raise damaged
        keys = {
            str(name): OnionKey(base64.b64decode(seed, validate=True))
            for name, seed in document["keys"].items()
        }
    except (ValueError, AttributeError, TypeError, binascii.Error):
        raise damaged from None
    if any(len(k.seed) != SEED_BYTES for k in keys.values()):
        raise damaged
    return keys


def _encode(keys: Mapping[str, OnionKey]) -> bytes:
    seeds = {name: base64.b64encode(k.seed).decode() for name, k in sorted(keys.items())}
    return json.dumps({"format": _FORMAT, "keys": seeds}, indent=1).encode()


def load_or_create(
    data_dir: Path,
    names: Iterable[str],
    passphrase: str,
    *,
    work_factor: int = WORK_FACTOR,
) -> dict[str, OnionKey]:
    """The keys of ``names`` (and any others the file holds), creating the
    file, or the keys it lacks, under ``passphrase``."""
    path = keys_path(data_dir)
    keys: dict[str, OnionKey] = {}
    if path.exists():
        try:
            plaintext = crypto.decrypt(path.read_bytes(), [crypto.ScryptIdentity(passphrase)])
        except crypto.CryptoError:
            raise ConfigError(f"wrong passphrase for {path} (or the file is damaged)") from None
        keys = _decode(plaintext, path)
    missing = [name for name in names if name not in keys]
    if missing:
        keys |= {name: OnionKey(os.urandom(SEED_BYTES)) for name in missing}
        path.parent.mkdir(mode=0o700, exist_ok=True)
        sealed = crypto.encrypt(
            _encode(keys), [crypto.ScryptRecipient(passphrase, work_factor=work_factor)]
        )
        with PendingFile(path.parent) as pending:
            pending.file.write(sealed)
            pending.commit(path)
    return keys
