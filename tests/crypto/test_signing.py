"""Ed25519 signing keys: RFC 8032 vectors, verification failures, reprs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.crypto import errors

# RFC 8032, section 7.1, tests 1 and 2.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(seed: str, public: str, message: str, signature: str) -> None:
    key = crypto.SigningKey(bytes.fromhex(seed))
    assert key.verify_key.public_bytes.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    crypto.VerifyKey(bytes.fromhex(public)).verify(bytes.fromhex(signature), bytes.fromhex(message))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000))
def test_sign_then_verify(message: bytes) -> None:
    key = crypto.SigningKey.generate()
    signature = key.sign(message)
    assert len(signature) == 64
    key.verify_key.verify(signature, message)


def test_signatures_are_deterministic() -> None:
    key = crypto.SigningKey.generate()
    assert key.sign(b"audit entry") == key.sign(b"audit entry")


def test_a_different_message_raises_signature_error() -> None:
    key = crypto.SigningKey.generate()
    signature = key.sign(b"pay 10")
    with pytest.raises(errors.SignatureError):
        key.verify_key.verify(signature, b"pay 1000")


def test_another_key_raises_signature_error() -> None:
    signature = crypto.SigningKey.generate().sign(b"message")
    with pytest.raises(errors.SignatureError):
        crypto.SigningKey.generate().verify_key.verify(signature, b"message")


@pytest.mark.parametrize("bit", [0, 7, 255, 256, 511])
def test_a_flipped_signature_bit_raises_signature_error(bit: int) -> None:
    key = crypto.SigningKey.generate()
    signature = bytearray(key.sign(b"message"))
    signature[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(errors.SignatureError):
        key.verify_key.verify(bytes(signature), b"message")


@pytest.mark.parametrize("length", [0, 63, 65])
def test_a_signature_of_the_wrong_length_raises_signature_error(length: int) -> None:
    key = crypto.SigningKey.generate()
    signature = (key.sign(b"message") + b"\x00")[:length]
    with pytest.raises(errors.SignatureError):
        key.verify_key.verify(signature, b"message")


def test_signature_error_is_a_crypto_error_not_a_decryption_error() -> None:
    assert issubclass(errors.SignatureError, errors.CryptoError)
    assert not issubclass(errors.SignatureError, errors.DecryptionError)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_seeds_and_public_keys_must_be_32_bytes(size: int) -> None:
    with pytest.raises(errors.KeyFormatError):
        crypto.SigningKey(bytes(size))
    with pytest.raises(errors.KeyFormatError):
        crypto.VerifyKey(bytes(size))


def test_a_key_round_trips_through_its_seed() -> None:
    key = crypto.SigningKey.generate()
    again = crypto.SigningKey(key.seed_bytes())
    assert again.verify_key == key.verify_key
    assert hash(again.verify_key) == hash(key.verify_key)
    again.verify_key.verify(key.sign(b"m"), b"m")


def test_generated_keys_are_fresh() -> None:
    assert len({crypto.SigningKey.generate().seed_bytes() for _ in range(20)}) == 20
    assert crypto.SigningKey.generate().verify_key != crypto.SigningKey.generate().verify_key


def test_a_verify_key_rebuilt_from_bytes_verifies() -> None:
    key = crypto.SigningKey.generate()
    public = crypto.VerifyKey(key.verify_key.public_bytes)
    public.verify(key.sign(b"m"), b"m")


def test_signing_key_repr_and_str_hide_the_seed() -> None:
    key = crypto.SigningKey.generate()
    seed = key.seed_bytes()
    for text in (repr(key), str(key), f"{[key]}"):
        assert seed.hex() not in text
        assert seed.hex()[:16] not in text
        assert repr(seed) not in text
    assert key.verify_key.public_bytes.hex()[:16] in repr(key)
