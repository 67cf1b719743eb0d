"""Ed25519 signing keys: authorship inside the encryption.

age proves nothing about who wrote a file, and a seized server knows every
public recipient, so replies, reports and audit entries carry an Ed25519
signature inside their plaintext (DESIGN.md, "Cryptography").
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import KeyFormatError, SignatureError


class VerifyKey:
    """An Ed25519 public key."""

    def __init__(self, public_bytes: bytes) -> None:
        if len(public_bytes) != 32:
            raise KeyFormatError("an Ed25519 public key is 32 bytes")
        try:
            self._key = ed25519.Ed25519PublicKey.from_public_bytes(public_bytes)
        except ValueError:
            raise KeyFormatError("invalid Ed25519 public key") from None
        self.public_bytes = public_bytes

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise :class:`SignatureError` unless ``signature`` is valid."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise SignatureError("invalid signature") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other.public_bytes == self.public_bytes

    def __hash__(self) -> int:
        return hash(self.public_bytes)

    def __repr__(self) -> str:
        return f"VerifyKey({self.public_bytes.hex()[:16]}…)"


class SigningKey:
    """An Ed25519 private key, kept as its 32-byte seed. Repr shows no secret."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise KeyFormatError("an Ed25519 seed is 32 bytes")
        self._key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        self._seed = seed
        self.verify_key = VerifyKey(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(os.urandom(32))

    def seed_bytes(self) -> bytes:
        """The secret seed. Handle it as the secret it is."""
        return self._seed

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(verify_key={self.verify_key!r})"
