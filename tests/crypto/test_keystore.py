"""Keystores: a person's keys in one standard age scrypt file."""

from __future__ import annotations

import json

import pyrage  # type: ignore[import-untyped]
import pytest

from shoal import crypto
from shoal.crypto import _header, errors
from shoal.crypto._keystore import FORMAT_VERSION
from shoal.crypto._scrypt import DEFAULT_WORK_FACTOR

PASSPHRASE = "correct horse battery stäple"
WORK_FACTOR = 10  # fast; the default (18) takes about a second


def make_keystore() -> crypto.Keystore:
    return crypto.Keystore(
        identities=(
            crypto.generate_identity(crypto.KeyType.HYBRID),
            crypto.generate_identity(crypto.KeyType.X25519),
        ),
        signing_key=crypto.SigningKey.generate(),
    )


def seal(keystore: crypto.Keystore, passphrase: str = PASSPHRASE) -> bytes:
    return crypto.seal_keystore(keystore, passphrase, work_factor=WORK_FACTOR)


def seal_document(document: object) -> bytes:
    """A keystore file around any JSON value, as a buggy or hostile writer would."""
    plaintext = json.dumps(document).encode()
    return crypto.encrypt(plaintext, [crypto.ScryptRecipient(PASSPHRASE, WORK_FACTOR)])


def test_seal_then_open_round_trips_every_key() -> None:
    keystore = make_keystore()
    opened = crypto.open_keystore(seal(keystore), PASSPHRASE)
    assert [i.secret_string() for i in opened.identities] == [
        i.secret_string() for i in keystore.identities
    ]
    assert [type(i) for i in opened.identities] == [type(i) for i in keystore.identities]
    assert opened.signing_key.seed_bytes() == keystore.signing_key.seed_bytes()


def test_opened_keys_work() -> None:
    keystore = make_keystore()
    opened = crypto.open_keystore(seal(keystore), PASSPHRASE)
    for before, after in zip(keystore.identities, opened.identities, strict=True):
        ciphertext = crypto.encrypt(b"for me", [before.recipient()])
        assert crypto.decrypt(ciphertext, [after]) == b"for me"
    opened.signing_key.verify_key.verify(keystore.signing_key.sign(b"m"), b"m")


def test_a_keystore_without_identities_round_trips() -> None:
    keystore = crypto.Keystore(identities=(), signing_key=crypto.SigningKey.generate())
    assert crypto.open_keystore(seal(keystore), PASSPHRASE).identities == ()


def test_sealing_twice_gives_different_files() -> None:
    keystore = make_keystore()
    assert seal(keystore) != seal(keystore)


def test_the_wrong_passphrase_raises_decryption_error() -> None:
    sealed = seal(make_keystore())
    with pytest.raises(crypto.DecryptionError):
        crypto.open_keystore(sealed, PASSPHRASE + "!")


def test_a_differently_normalized_passphrase_is_a_different_passphrase() -> None:
    # Passphrases are bytes to scrypt: "ä" composed and decomposed differ.
    sealed = seal(make_keystore(), "stäple")
    with pytest.raises(crypto.DecryptionError):
        crypto.open_keystore(sealed, "sta\u0308ple")


@pytest.mark.parametrize("where", ["header", "payload", "last byte"])
def test_a_tampered_keystore_raises_decryption_error(where: str) -> None:
    sealed = bytearray(seal(make_keystore()))
    header_end = _header.find_end(sealed)
    assert header_end is not None
    index = {"header": 30, "payload": header_end + 40, "last byte": len(sealed) - 1}[where]
    sealed[index] ^= 0x04
    with pytest.raises(crypto.DecryptionError):
        crypto.open_keystore(bytes(sealed), PASSPHRASE)


@pytest.mark.parametrize("keep", [0, 10, 100, -17, -1])
def test_a_truncated_keystore_raises_decryption_error(keep: int) -> None:
    sealed = seal(make_keystore())
    with pytest.raises(crypto.DecryptionError):
        crypto.open_keystore(sealed[:keep], PASSPHRASE)


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="passphrase"):
        crypto.seal_keystore(make_keystore(), "", work_factor=WORK_FACTOR)


# A standard age file.


def test_the_keystore_header_has_exactly_one_scrypt_stanza() -> None:
    sealed = seal(make_keystore())
    end = _header.find_end(sealed)
    assert end is not None
    header = _header.parse(sealed[:end])
    assert [s.type for s in header.stanzas] == ["scrypt"]
    assert header.stanzas[0].args[2] == str(WORK_FACTOR)


def test_the_default_work_factor_is_ages() -> None:
    assert DEFAULT_WORK_FACTOR == 18


def test_the_plaintext_is_the_documented_json() -> None:
    keystore = make_keystore()
    plaintext = crypto.decrypt(seal(keystore), [crypto.ScryptIdentity(PASSPHRASE)])
    document = json.loads(plaintext)
    assert document == {
        "shoal-keystore": FORMAT_VERSION,
        "identities": [i.secret_string() for i in keystore.identities],
        "signing-key": keystore.signing_key.seed_bytes().hex(),
    }


def test_another_age_implementation_opens_the_keystore() -> None:
    # rage (through pyrage): the way out if Shoal is ever gone.
    keystore = make_keystore()
    plaintext = pyrage.passphrase.decrypt(seal(keystore), PASSPHRASE)
    assert json.loads(plaintext)["signing-key"] == keystore.signing_key.seed_bytes().hex()


# Malformed contents: a KeyFormatError, whatever is wrong.

_SEED = "00" * 32
_ID = "AGE-SECRET-KEY-1" + "Q" * 58  # shape only; never parsed successfully below


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("not an object", ["shoal-keystore", 1]),
        ("null", None),
        ("a string", "keystore"),
        ("other version", {"shoal-keystore": 2, "identities": [], "signing-key": _SEED}),
        ("no version", {"identities": [], "signing-key": _SEED}),
        ("no identities", {"shoal-keystore": 1, "signing-key": _SEED}),
        ("no signing key", {"shoal-keystore": 1, "identities": []}),
        ("signing key not hex", {"shoal-keystore": 1, "identities": [], "signing-key": "zz"}),
        ("signing key short", {"shoal-keystore": 1, "identities": [], "signing-key": "00"}),
        ("signing key a number", {"shoal-keystore": 1, "identities": [], "signing-key": 5}),
        ("identity garbage", {"shoal-keystore": 1, "identities": [_ID], "signing-key": _SEED}),
        ("identity a number", {"shoal-keystore": 1, "identities": [1], "signing-key": _SEED}),
        ("identity an object", {"shoal-keystore": 1, "identities": [{}], "signing-key": _SEED}),
        ("identity null", {"shoal-keystore": 1, "identities": [None], "signing-key": _SEED}),
    ],
)
def test_malformed_contents_raise_key_format_error(name: str, document: object) -> None:
    with pytest.raises(errors.KeyFormatError):
        crypto.open_keystore(seal_document(document), PASSPHRASE)


def test_a_non_json_plaintext_raises_key_format_error() -> None:
    sealed = crypto.encrypt(b"\xffnot json", [crypto.ScryptRecipient(PASSPHRASE, WORK_FACTOR)])
    with pytest.raises(errors.KeyFormatError):
        crypto.open_keystore(sealed, PASSPHRASE)


def test_an_age_file_to_a_key_is_not_a_keystore() -> None:
    identity = crypto.generate_identity()
    sealed = crypto.encrypt(b"{}", [identity.recipient()])
    with pytest.raises(crypto.DecryptionError):
        crypto.open_keystore(sealed, PASSPHRASE)


# Reprs.


def test_keystore_repr_and_str_hide_every_secret() -> None:
    keystore = make_keystore()
    secrets = [i.secret_string() for i in keystore.identities]
    secrets.append(keystore.signing_key.seed_bytes().hex())
    for text in (repr(keystore), str(keystore), f"{[keystore]}"):
        for secret in secrets:
            assert secret not in text
            assert secret.lower() not in text
            assert secret[-20:] not in text
    assert "2 identities" in repr(keystore)
