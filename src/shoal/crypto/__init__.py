"""Shoal's cryptographic core: the age v1 format, keys, codenames, signatures.

Shared by every trust zone; imports nothing from the web stack. The surface
reads like age's: encrypt to recipients, decrypt with identities, generate
and parse keys. Everything else is private (``_*.py``).

Why our own age implementation rather than a binding: pyrage, the Rust
one, has no post-quantum hybrid type, holds the GIL for whole files, and
through its streaming API moved 1 GiB at 1,190 MiB/s encrypting and
820 MiB/s decrypting here, against 2,610 and 2,590 MiB/s for this package
(0.79 and 0.78 of raw ChaCha20-Poly1305; ``bench/age_throughput.py``,
``docs/benchmarks.md``). Conformance is the whole C2SP test kit.

Safe calls first: :func:`encrypt_writer` / :func:`decrypt_reader` for files,
:func:`encrypt_iter` / :func:`decrypt_iter` and the ``*_async`` variants for
streams, :func:`decrypt_to_file` when plaintext must land on disk all or
nothing. Catch :class:`DecryptionError`; its subclasses in
:mod:`shoal.crypto.errors` are for tests and diagnostics, never for telling
an untrusted peer which check failed.
"""

from ._codename import (
    ContactKeys,
    derive_contact_keys,
    generate_codename,
    generate_salt,
    is_codename_shaped,
    normalize_codename,
    wordlist,
)
from ._envelope import Envelope
from ._header import stanza_count
from ._hybrid import HybridIdentity, HybridRecipient
from ._io import (
    DecryptReader,
    EncryptWriter,
    decrypt,
    decrypt_async,
    decrypt_iter,
    decrypt_reader,
    decrypt_to_file,
    encrypt,
    encrypt_async,
    encrypt_iter,
    encrypt_writer,
)
from ._item import ItemOpener, ItemSealer, decrypt_item, encrypt_item
from ._keys import (
    DEFAULT_KEY_TYPE,
    AgeIdentity,
    AgeRecipient,
    KeyType,
    generate_identity,
    key_type_of,
    parse_identity,
    parse_recipient,
)
from ._keystore import Keystore, open_keystore, seal_keystore
from ._note import Note, NoteSigner, NoteVerifier, open_note, sign_note
from ._padding import padme
from ._recipients import Identity, Recipient
from ._scrypt import ScryptIdentity, ScryptRecipient
from ._signing import SigningKey, VerifyKey
from ._x25519 import X25519Identity, X25519Recipient
from .errors import (
    CryptoError,
    DecryptionError,
    EnvelopeError,
    KeyFormatError,
    MixedRecipientsError,
    NoteFormatError,
    RecipientError,
    SignatureError,
)

__all__ = [
    "DEFAULT_KEY_TYPE",
    "AgeIdentity",
    "AgeRecipient",
    "ContactKeys",
    "CryptoError",
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
