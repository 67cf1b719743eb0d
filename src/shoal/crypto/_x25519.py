"""The classic X25519 recipient type (spec: "The X25519 recipient type").

Kept for organizations that must use older age tools; Shoal's default is the
post-quantum hybrid type in ``_hybrid.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _base64, _bech32
from ._header import FILE_KEY_SIZE, Stanza
from ._recipients import PublicKeyRecipient
from .errors import HeaderError, KeyFormatError

STANZA_TYPE = "X25519"
X25519_INFO = b"age-encryption.org/v1/X25519"
RECIPIENT_HRP = "age"
IDENTITY_HRP = "AGE-SECRET-KEY-"
_ZERO_NONCE = bytes(12)
_WRAPPED_SIZE = FILE_KEY_SIZE + 16


def _wrap_key(shared: bytes, share: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=share + recipient, info=X25519_INFO).derive(shared)


class X25519Recipient(PublicKeyRecipient):
    """A classic ``age1…`` recipient."""

    stanza_type = STANZA_TYPE
    HRP = RECIPIENT_HRP

    def __init__(self, public_bytes: bytes) -> None:
        if len(public_bytes) != 32:
            raise KeyFormatError("an X25519 recipient is 32 bytes")
        self._key = x25519.X25519PublicKey.from_public_bytes(public_bytes)
        self._bytes = public_bytes

    def wrap(self, file_key: bytes) -> list[Stanza]:
        # A fresh ephemeral key per stanza and per file (spec MUST).
        ephemeral = x25519.X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(self._key)
        body = ChaCha20Poly1305(_wrap_key(shared, share, self._bytes)).encrypt(
            _ZERO_NONCE, file_key, None
        )
        return [Stanza((STANZA_TYPE, _base64.encode(share).decode()), body)]


class X25519Identity:
    """A classic ``AGE-SECRET-KEY-1…`` identity. Its repr shows no secret."""

    def __init__(self, private_bytes: bytes) -> None:
        if len(private_bytes) != 32:
            raise KeyFormatError("an X25519 identity is 32 bytes")
        self._key = x25519.X25519PrivateKey.from_private_bytes(private_bytes)
        self._recipient = X25519Recipient(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        hrp, data = _bech32.decode(text)
        if hrp != IDENTITY_HRP.lower() or text != text.upper():
            raise KeyFormatError("not an AGE-SECRET-KEY-1… identity")
        return cls(data)

    def secret_string(self) -> str:
        """The ``AGE-SECRET-KEY-1…`` encoding. Handle it as the secret it is."""
        raw = self._key.private_bytes_raw()
        return _bech32.encode(IDENTITY_HRP, raw).upper()

    def recipient(self) -> X25519Recipient:
        return self._recipient

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={str(self._recipient)!r})"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != STANZA_TYPE:
                continue
            if len(stanza.args) != 2:
                raise HeaderError("X25519 stanza needs exactly two arguments")
            share = _base64.decode(stanza.args[1].encode(), length=32)
            # Checked before decrypting, against partitioning oracles (spec MUST).
            if len(stanza.body) != _WRAPPED_SIZE:
                raise HeaderError("X25519 stanza body has the wrong size")
            try:
                shared = self._key.exchange(x25519.X25519PublicKey.from_public_bytes(share))
            except ValueError:
                # pyca refuses an all-zero shared secret (low-order share).
                raise HeaderError("X25519 share is a low-order point") from None
            key = _wrap_key(shared, share, self._recipient.public_bytes)
            try:
                return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
            except InvalidTag:
                continue
        return None
