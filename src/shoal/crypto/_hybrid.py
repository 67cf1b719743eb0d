"""The post-quantum hybrid recipient type ``mlkem768x25519`` (X-Wing).

Spec: "The MLKEM768-X25519 (i.e. X-Wing) hybrid post-quantum recipient type".
Shoal's default for every key it generates: a seized server's ciphertext
must stay sealed against a future quantum computer.

The stanza is HPKE base mode (RFC 9180) with KEM MLKEM768-X25519, HKDF-SHA256
and ChaCha20-Poly1305, all from pyca/cryptography's ``hpke`` module. The
32-byte identity is a seed: SHAKE256(seed) gives 96 bytes, the first 64 the
ML-KEM-768 seed (d || z), the last 32 the X25519 private key, as
filippo.io/hpke-pq's DeriveKeyPair for this KEM defines (checked against the
spec's example key and the C2SP vectors). A recipient is the ML-KEM
encapsulation key (1,184 bytes) followed by the X25519 public key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from . import _base64, _bech32
from ._header import FILE_KEY_SIZE, Stanza
from ._recipients import PublicKeyRecipient
from .errors import HeaderError, KeyFormatError

STANZA_TYPE = "mlkem768x25519"
HYBRID_INFO = b"age-encryption.org/mlkem768x25519"
RECIPIENT_HRP = "age1pq"
IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
MLKEM_PUBLIC_SIZE = 1184
MLKEM_CIPHERTEXT_SIZE = 1088
RECIPIENT_SIZE = MLKEM_PUBLIC_SIZE + 32
ENC_SIZE = MLKEM_CIPHERTEXT_SIZE + 32
# Encodings of the X25519 points of small order (on the curve and its twist),
# as libsodium lists them; X25519 ignores the top bit, so it is cleared
# before comparing. With a clamped scalar (a multiple of the cofactor) the
# shared secret is all zeros exactly for these points. Checking the list
# costs nanoseconds; pyca's HPKE reports such a share as an ordinary
# InvalidTag, and a second X25519 exchange just to tell would cost ~30 µs
# per stanza.
_SMALL_ORDER_POINTS = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def is_small_order(share: bytes) -> bool:
    """True if X25519 with any clamped scalar gives all zeros for ``share``."""
    return share[:31] + bytes([share[31] & 0x7F]) in _SMALL_ORDER_POINTS


_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_WRAPPED_SIZE = FILE_KEY_SIZE + 16


class HybridRecipient(PublicKeyRecipient):
    """A post-quantum ``age1pq1…`` recipient."""

    stanza_type = STANZA_TYPE
    HRP = RECIPIENT_HRP

    def __init__(self, public_bytes: bytes) -> None:
        if len(public_bytes) != RECIPIENT_SIZE:
            raise KeyFormatError("an mlkem768x25519 recipient is 1216 bytes")
        try:
            self._key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(public_bytes[:MLKEM_PUBLIC_SIZE]),
                x25519.X25519PublicKey.from_public_bytes(public_bytes[MLKEM_PUBLIC_SIZE:]),
            )
        except ValueError:
            raise KeyFormatError("invalid mlkem768x25519 public key") from None
        self._bytes = public_bytes

    def wrap(self, file_key: bytes) -> list[Stanza]:
        sealed = _SUITE.encrypt(file_key, self._key, info=HYBRID_INFO)
        enc, body = sealed[:ENC_SIZE], sealed[ENC_SIZE:]
        return [Stanza((STANZA_TYPE, _base64.encode(enc).decode()), body)]


class HybridIdentity:
    """A post-quantum ``AGE-SECRET-KEY-PQ-1…`` identity (a 32-byte seed)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise KeyFormatError("an mlkem768x25519 identity is a 32-byte seed")
        expanded = hashlib.shake_256(seed).digest(96)
        mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        x25519_key = x25519.X25519PrivateKey.from_private_bytes(expanded[64:])
        self._key = hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key)
        self._seed = seed
        self._recipient = HybridRecipient(
            mlkem_key.public_key().public_bytes_raw() + x25519_key.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> HybridIdentity:
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> HybridIdentity:
        hrp, data = _bech32.decode(text)
        if hrp != IDENTITY_HRP.lower() or text != text.upper():
            raise KeyFormatError("not an AGE-SECRET-KEY-PQ-1… identity")
        return cls(data)

    def secret_string(self) -> str:
        """The ``AGE-SECRET-KEY-PQ-1…`` encoding. Handle it as the secret it is."""
        return _bech32.encode(IDENTITY_HRP, self._seed).upper()

    def recipient(self) -> HybridRecipient:
        return self._recipient

    def __repr__(self) -> str:
        return f"HybridIdentity(recipient={str(self._recipient)[:24]!r}…)"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != STANZA_TYPE:
                continue
            if len(stanza.args) != 2:
                raise HeaderError("mlkem768x25519 stanza needs exactly two arguments")
            enc = _base64.decode(stanza.args[1].encode(), length=ENC_SIZE)
            # Checked before decrypting, against partitioning oracles (spec MUST).
            if len(stanza.body) != _WRAPPED_SIZE:
                raise HeaderError("mlkem768x25519 stanza body has the wrong size")
            # An all-zero X25519 shared secret (identity or low-order point in
            # enc) is a malformed stanza, not a stanza for someone else.
            if is_small_order(enc[-32:]):
                raise HeaderError("mlkem768x25519 enc has a low-order X25519 share")
            try:
                return _SUITE.decrypt(enc + stanza.body, self._key, info=HYBRID_INFO)
            except InvalidTag:
                continue
        return None
