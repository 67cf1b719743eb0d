"""A person's keystore: their identities and signing key in one age file.

The file is an ordinary age file with a single scrypt stanza, so the
``age`` command can open it with the passphrase (a way out if Shoal is ever
gone). Its plaintext is a small JSON document::

    {"shoal-keystore": 1,
     "identities": ["AGE-SECRET-KEY-PQ-1…", …],
     "signing-key": "<64 hex digits: the Ed25519 seed>"}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ._io import decrypt, encrypt
from ._keys import AgeIdentity, parse_identity
from ._scrypt import DEFAULT_WORK_FACTOR, ScryptIdentity, ScryptRecipient
from ._signing import SigningKey
from .errors import KeyFormatError

FORMAT_VERSION = 1


@dataclass(frozen=True, repr=False)
class Keystore:
    identities: tuple[AgeIdentity, ...]
    signing_key: SigningKey

    def __repr__(self) -> str:
        return f"Keystore({len(self.identities)} identities, {self.signing_key!r})"


def seal_keystore(
    keystore: Keystore, passphrase: str, *, work_factor: int = DEFAULT_WORK_FACTOR
) -> bytes:
    """The keystore as an age file that only ``passphrase`` opens."""
    if not passphrase:
        raise ValueError("a keystore needs a passphrase")
    document = {
        "shoal-keystore": FORMAT_VERSION,
        "identities": [i.secret_string() for i in keystore.identities],
        "signing-key": keystore.signing_key.seed_bytes().hex(),
    }
    plaintext = json.dumps(document).encode()
    return encrypt(plaintext, [ScryptRecipient(passphrase, work_factor)])


def open_keystore(data: bytes, passphrase: str) -> Keystore:
    """Open a keystore; a wrong passphrase raises :class:`DecryptionError`."""
    plaintext = decrypt(data, [ScryptIdentity(passphrase)])
    try:
        document = json.loads(plaintext)
        if document["shoal-keystore"] != FORMAT_VERSION:
            raise KeyFormatError("unsupported keystore version")
        identities: Sequence[str] = document["identities"]
        if not all(isinstance(i, str) for i in identities):
            raise KeyFormatError("malformed keystore")
        return Keystore(
            identities=tuple(parse_identity(i) for i in identities),
            signing_key=SigningKey(bytes.fromhex(document["signing-key"])),
        )
    except (KeyError, TypeError, ValueError):
        raise KeyFormatError("malformed keystore") from None
