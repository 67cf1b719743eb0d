"""The public surface of shoal.crypto: exactly what it exports, and nothing else.

A change to the export list must change this file too (httpx's
``test_exported_members.py`` habit): the surface should read like age's,
and growing it is a decision, not an accident.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shoal import crypto
from shoal.crypto import _header, _hybrid, _scrypt, _stream, _x25519

EXPECTED_EXPORTS = [
    "AgeIdentity",
    "AgeRecipient",
    "ContactKeys",
    "CryptoError",
    "DEFAULT_KEY_TYPE",
    "DecryptReader",
    "DecryptionError",
    "EncryptWriter",
    "Envelope",
    "EnvelopeError",
    "HybridIdentity",
    "HybridRecipient",
    "Identity",
    "ItemOpener",
    "ItemSealer",
    "KeyFormatError",
    "KeyType",
    "Keystore",
    "MixedRecipientsError",
    "Note",
    "NoteFormatError",
    "NoteSigner",
    "NoteVerifier",
    "Recipient",
    "RecipientError",
    "ScryptIdentity",
    "ScryptRecipient",
    "SignatureError",
    "SigningKey",
    "VerifyKey",
    "X25519Identity",
    "X25519Recipient",
    "decrypt",
    "decrypt_async",
    "decrypt_item",
    "decrypt_iter",
    "decrypt_reader",
    "decrypt_to_file",
    "derive_contact_keys",
    "encrypt",
    "encrypt_async",
    "encrypt_item",
    "encrypt_iter",
    "encrypt_writer",
    "generate_codename",
    "generate_identity",
    "generate_salt",
    "is_codename_shaped",
    "key_type_of",
    "normalize_codename",
    "open_keystore",
    "open_note",
    "padme",
    "parse_identity",
    "parse_recipient",
    "seal_keystore",
    "sign_note",
    "stanza_count",
    "wordlist",
]

FORBIDDEN_IMPORTS = ["starlette", "fastapi", "sqlalchemy", "jinja2", "httpx", "uvicorn"]


def test_the_expected_list_is_itself_sorted() -> None:
    assert sorted(EXPECTED_EXPORTS) == EXPECTED_EXPORTS


def test_all_is_exactly_the_expected_exports() -> None:
    assert sorted(crypto.__all__) == EXPECTED_EXPORTS


def test_all_has_no_duplicates() -> None:
    assert len(set(crypto.__all__)) == len(crypto.__all__)


@pytest.mark.parametrize("name", EXPECTED_EXPORTS)
def test_every_exported_name_exists(name: str) -> None:
    assert getattr(crypto, name) is not None


def test_no_private_name_is_exported() -> None:
    assert [n for n in crypto.__all__ if n.startswith("_")] == []


def test_no_public_attribute_escapes_all() -> None:
    # ``errors`` is the one public submodule: its classes are for tests and
    # diagnostics. Anything else public on the package must be in __all__.
    public = {n for n in dir(crypto) if not n.startswith("_")}
    assert public - set(crypto.__all__) == {"errors"}


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from shoal.crypto import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == EXPECTED_EXPORTS


def test_importing_crypto_pulls_in_no_web_stack_db_layer_or_other_shoal_package() -> None:
    code = "import sys, json\nimport shoal.crypto\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules = json.loads(result.stdout)
    roots = {m.split(".")[0] for m in modules}
    assert [f for f in FORBIDDEN_IMPORTS if f in roots] == []
    shoal_modules = [m for m in modules if m == "shoal" or m.startswith("shoal.")]
    assert [m for m in shoal_modules if m != "shoal" and not m.startswith("shoal.crypto")] == []


# Labels, spelled exactly as in the age v1 spec (C2SP age.md).


def test_version_line() -> None:
    assert _header.VERSION_LINE == b"age-encryption.org/v1\n"


def test_header_mac_label() -> None:
    assert _header.HEADER_MAC_INFO == b"header"


def test_payload_label() -> None:
    assert _stream.PAYLOAD_INFO == b"payload"


def test_x25519_labels() -> None:
    assert _x25519.X25519_INFO == b"age-encryption.org/v1/X25519"
    assert _x25519.STANZA_TYPE == "X25519"
    assert _x25519.RECIPIENT_HRP == "age"
    assert _x25519.IDENTITY_HRP == "AGE-SECRET-KEY-"


def test_scrypt_labels() -> None:
    assert _scrypt.SCRYPT_SALT_LABEL == b"age-encryption.org/v1/scrypt"
    assert _scrypt.STANZA_TYPE == "scrypt"


def test_hybrid_labels() -> None:
    assert _hybrid.HYBRID_INFO == b"age-encryption.org/mlkem768x25519"
    assert _hybrid.STANZA_TYPE == "mlkem768x25519"
    assert _hybrid.RECIPIENT_HRP == "age1pq"
    assert _hybrid.IDENTITY_HRP == "AGE-SECRET-KEY-PQ-"


def test_format_sizes_from_the_spec() -> None:
    assert _header.FILE_KEY_SIZE == 16
    assert _header.COLUMNS == 64
    assert _stream.CHUNK_SIZE == 64 * 1024
    assert _stream.TAG_SIZE == 16
    assert _stream.NONCE_SIZE == 16
