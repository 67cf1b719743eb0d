"""Choosing, generating and parsing age keys.

Post-quantum hybrid keys are the default for every key Shoal generates;
classic X25519 is an explicit choice (``KeyType.X25519``) for organizations
whose readers must use age tools without the hybrid type.
"""

from __future__ import annotations

import enum

from ._hybrid import HybridIdentity, HybridRecipient
from ._x25519 import X25519Identity, X25519Recipient
from .errors import KeyFormatError

AgeIdentity = HybridIdentity | X25519Identity
AgeRecipient = HybridRecipient | X25519Recipient


class KeyType(enum.Enum):
    HYBRID = "mlkem768x25519"
    X25519 = "x25519"


DEFAULT_KEY_TYPE = KeyType.HYBRID


def identity_from_seed(seed: bytes, key_type: KeyType = DEFAULT_KEY_TYPE) -> AgeIdentity:
    """An identity from 32 secret bytes (for keys derived, not drawn)."""
    if key_type is KeyType.HYBRID:
        return HybridIdentity(seed)
    return X25519Identity(seed)


def generate_identity(key_type: KeyType = DEFAULT_KEY_TYPE) -> AgeIdentity:
    if key_type is KeyType.HYBRID:
        return HybridIdentity.generate()
    return X25519Identity.generate()


def key_type_of(key: AgeIdentity | AgeRecipient) -> KeyType:
    if isinstance(key, HybridIdentity | HybridRecipient):
        return KeyType.HYBRID
    return KeyType.X25519


def parse_identity(text: str) -> AgeIdentity:
    """Parse ``AGE-SECRET-KEY-PQ-1…`` or ``AGE-SECRET-KEY-1…``."""
    text = text.strip()
    if text.upper().startswith("AGE-SECRET-KEY-PQ-1"):
        return HybridIdentity.parse(text)
    if text.upper().startswith("AGE-SECRET-KEY-1"):
        return X25519Identity.parse(text)
    raise KeyFormatError("unknown identity type")


def parse_recipient(text: str) -> AgeRecipient:
    """Parse ``age1pq1…`` or ``age1…``."""
    text = text.strip()
    if text.lower().startswith("age1pq1"):
        return HybridRecipient.parse(text)
    if text.lower().startswith("age1"):
        return X25519Recipient.parse(text)
    raise KeyFormatError("unknown recipient type")
