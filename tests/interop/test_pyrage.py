"""Interoperability with rage (the Rust age implementation) through pyrage.

pyrage has classic X25519 and scrypt, no post-quantum hybrid. Every case
runs both ways; keys are made on the side that decrypts, so each side also
parses the other's key strings.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
import pytest

from shoal import crypto

PASSPHRASE = "correct horse battery stäple"  # non-ASCII: both sides must send UTF-8
#: Low, to keep Shoal's side fast; rage picks its own (about a second's worth).
LOW_WORK_FACTOR = 10


def x25519_identity() -> crypto.AgeIdentity:
    return crypto.generate_identity(crypto.KeyType.X25519)


def test_keys_agree_both_ways() -> None:
    theirs = pyrage.x25519.Identity.generate()
    assert str(crypto.parse_identity(str(theirs)).recipient()) == str(theirs.to_public())

    ours = x25519_identity()
    parsed = pyrage.x25519.Identity.from_str(ours.secret_string())
    assert str(parsed.to_public()) == str(ours.recipient())
    assert str(pyrage.x25519.Recipient.from_str(str(ours.recipient()))) == str(ours.recipient())


# --- one recipient, sizes around the 64 KiB chunk boundaries -----------------


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_shoal_encrypts_pyrage_decrypts(plaintext: bytes, armor: bool) -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = crypto.parse_recipient(str(identity.to_public()))
    ciphertext = crypto.encrypt(plaintext, [recipient], armor=armor)
    assert ciphertext.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n") == armor
    assert pyrage.decrypt(ciphertext, [identity]) == plaintext


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armored"])
def test_pyrage_encrypts_shoal_decrypts(plaintext: bytes, armor: bool) -> None:
    identity = x25519_identity()
    recipient = pyrage.x25519.Recipient.from_str(str(identity.recipient()))
    ciphertext = pyrage.encrypt(plaintext, [recipient], armored=armor)
    assert ciphertext.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n") == armor
    assert crypto.decrypt(ciphertext, [identity]) == plaintext


# --- several recipients, several identities -----------------------------------


def test_shoal_encrypts_to_three_pyrage_recipients() -> None:
    plaintext = os.urandom(3 * 64 * 1024 + 7)
    identities = [pyrage.x25519.Identity.generate() for _ in range(3)]
    recipients = [crypto.parse_recipient(str(i.to_public())) for i in identities]
    ciphertext = crypto.encrypt(plaintext, recipients)
    for identity in identities:
        assert pyrage.decrypt(ciphertext, [identity]) == plaintext


def test_pyrage_encrypts_to_three_shoal_recipients() -> None:
    plaintext = os.urandom(3 * 64 * 1024 + 7)
    identities = [x25519_identity() for _ in range(3)]
    recipients = [pyrage.x25519.Recipient.from_str(str(i.recipient())) for i in identities]
    ciphertext = pyrage.encrypt(plaintext, recipients)
    for identity in identities:
        assert crypto.decrypt(ciphertext, [identity]) == plaintext


def test_shoal_file_pyrage_decrypts_with_several_identities() -> None:
    plaintext = os.urandom(100_000)
    identities = [pyrage.x25519.Identity.generate() for _ in range(3)]
    recipient = crypto.parse_recipient(str(identities[1].to_public()))
    assert pyrage.decrypt(crypto.encrypt(plaintext, [recipient]), identities) == plaintext


def test_pyrage_file_shoal_decrypts_with_several_identities() -> None:
    plaintext = os.urandom(100_000)
    identities = [x25519_identity() for _ in range(3)]
    recipient = pyrage.x25519.Recipient.from_str(str(identities[1].recipient()))
    assert crypto.decrypt(pyrage.encrypt(plaintext, [recipient]), identities) == plaintext


def test_wrong_key_fails_both_ways() -> None:
    plaintext = os.urandom(1000)
    ours, theirs = x25519_identity(), pyrage.x25519.Identity.generate()
    to_someone_else = crypto.encrypt(plaintext, [x25519_identity().recipient()])
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(to_someone_else, [theirs])
    other = pyrage.x25519.Identity.generate().to_public()
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(pyrage.encrypt(plaintext, [other]), [ours])


# --- scrypt passphrases ----------------------------------------------------------


def test_shoal_passphrase_pyrage_decrypts() -> None:
    plaintext = os.urandom(64 * 1024 + 1)
    recipient = crypto.ScryptRecipient(PASSPHRASE, work_factor=LOW_WORK_FACTOR)
    ciphertext = crypto.encrypt(plaintext, [recipient])
    assert pyrage.passphrase.decrypt(ciphertext, PASSPHRASE) == plaintext


def test_pyrage_passphrase_shoal_decrypts() -> None:
    plaintext = os.urandom(64 * 1024 + 1)
    ciphertext = pyrage.passphrase.encrypt(plaintext, PASSPHRASE)
    assert b"\n-> scrypt " in ciphertext.split(b"\n---", 1)[0]
    assert crypto.decrypt(ciphertext, [crypto.ScryptIdentity(PASSPHRASE)]) == plaintext


# --- 100 MiB, streamed through files ---------------------------------------------


@pytest.mark.slow
def test_big_file_shoal_encrypts_pyrage_decrypts(big_plaintext, big_tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    recipient = crypto.parse_recipient(str(identity.to_public()))
    ciphertext, out = big_tmp_path / "big.age", big_tmp_path / "big.out"
    with ciphertext.open("wb") as dst, crypto.encrypt_writer(dst, [recipient]) as writer:
        for block in big_plaintext.blocks():
            writer.write(block)
    with ciphertext.open("rb") as src, out.open("wb") as dst:
        pyrage.decrypt_io(src, dst, [identity])
    big_plaintext.assert_same(out)


@pytest.mark.slow
def test_big_file_pyrage_encrypts_shoal_decrypts(big_plaintext, big_tmp_path: Path) -> None:
    identity = x25519_identity()
    recipient = pyrage.x25519.Recipient.from_str(str(identity.recipient()))
    ciphertext, out = big_tmp_path / "big.age", big_tmp_path / "big.out"
    with big_plaintext.path.open("rb") as src, ciphertext.open("wb") as dst:
        pyrage.encrypt_io(src, dst, [recipient])
    with ciphertext.open("rb") as src:
        crypto.decrypt_to_file(src, out, [identity])
    big_plaintext.assert_same(out)
