"""Tor v3 onion addresses: derived from a service's public key, and checked.

An address is the base32 of the service's Ed25519 public key, two bytes of
a SHA3-256 checksum and the version byte 3 (Tor's rend-spec-v3, "Encoding
onion addresses"). Deriving it here, rather than asking tor, lets the
server print and sign-check its addresses without a running tor, and lets
the tests compare the two. Checking the checksum catches an address
mistyped by hand before it is signed into the organization's doors list.
"""

from __future__ import annotations

import base64
import hashlib
import re

_VERSION = b"\x03"
_CHECKSUM_PREFIX = b".onion checksum"
_ADDRESS = re.compile(r"\A([a-z2-7]{56})\.onion\Z")
PUBLIC_KEY_BYTES = 32


def _checksum(public_key: bytes) -> bytes:
    return hashlib.sha3_256(_CHECKSUM_PREFIX + public_key + _VERSION).digest()[:2]


def onion_address(public_key: bytes) -> str:
    """``<56 base32 letters>.onion`` for an Ed25519 public key."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError("an onion service key is 32 bytes")
    raw = public_key + _checksum(public_key) + _VERSION
    return base64.b32encode(raw).decode("ascii").lower() + ".onion"


def check_onion_address(text: str) -> str:
    """``text`` if it is a well-formed v3 onion address (lowercase, with
    ``.onion``, correct checksum and version); ValueError otherwise."""
    found = _ADDRESS.match(text)
    if found is None:
        raise ValueError("an onion address is 56 letters a-z and digits 2-7, then .onion")
    raw = base64.b32decode(found.group(1).upper())
    public_key, checksum, version = raw[:32], raw[32:34], raw[34:]
    if version != _VERSION or checksum != _checksum(public_key):
        raise ValueError("not a valid v3 onion address (its checksum does not match)")
    return text
