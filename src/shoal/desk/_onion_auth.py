"""Tor v3 client authorization for the handlers' onion address.

The server publishes the handler API at an address of its own that only
authorized clients can reach (``shoal admin onion-client``). The key pair
is made here, on the desk, so its private half never passes through the
server operator: the desk's tor gets the private half (a file in its
``ClientOnionAuthDir``), the operator gets only the public line.

Formats are tor's (rend-spec-v3, "Client authorization"; tor's manual,
``ClientOnionAuthDir``): an X25519 key in unpadded base32,
``descriptor:x25519:<public>`` for the service and
``<address without .onion>:descriptor:x25519:<private>`` for the client.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from .. import org


def _base32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class OnionAuth:
    #: What the server operator adds (public).
    public_line: str
    #: What the desk's tor reads from ``ClientOnionAuthDir`` (secret).
    private_line: str
    #: The file name tor expects in that directory.
    file_name: str


def new_onion_auth(address: str) -> OnionAuth:
    """A fresh key pair for reaching ``address`` (a v3 onion address)."""
    org.check_onion_address(address)
    key = X25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    host = address.removesuffix(".onion")
    return OnionAuth(
        public_line=f"descriptor:x25519:{_base32(public)}",
        private_line=f"{host}:descriptor:x25519:{_base32(private)}",
        file_name=f"{host}.auth_private",
    )
