"""Codenames: a contact's only credential, and the keys derived from it.

A codename is 7 words drawn with :mod:`secrets` from the EFF long wordlist
(7,776 words, shipped by the ``xkcdpass`` package): 7 * log2(7776) = 90.5
bits. From its normalized text and an organization-wide salt, HKDF-SHA-256
derives the contact's lookup id (what the server stores to find them) and
the seed of the contact's own age identity (replies are encrypted to it).

Why HKDF and not a slow KDF (scrypt, Argon2): the codename's entropy is the
protection, not the cost of one guess. With 100,000 stored lookup ids an
offline attacker holding the database still needs about 2^(90.5 - 16.6) =
2^73.9 guesses on average; at a billion guesses a second per machine that
is 500,000 machine-years. A slow KDF would multiply that by a constant but
would make every login cost tens of milliseconds of server CPU, handing
flooders a lever. A login costs microseconds instead.

The salt is per organization, so lookup ids of two organizations (or of a
test and a real deployment) cannot be linked or precomputed together.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from dataclasses import dataclass
from importlib import resources

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._keys import DEFAULT_KEY_TYPE, AgeIdentity, KeyType, identity_from_seed

CODENAME_WORDS = 7
WORDLIST_SIZE = 7776
LOOKUP_ID_INFO = b"shoal/v1/contact lookup id"
IDENTITY_INFO = b"shoal/v1/contact identity/"
SALT_SIZE = 32


@functools.cache
def wordlist() -> tuple[str, ...]:
    """The EFF long wordlist, checked to be the 7,776 distinct words."""
    text = (resources.files("xkcdpass") / "static" / "eff-long").read_text("utf-8")
    words = tuple(w.strip() for w in text.splitlines() if w.strip())
    if len(words) != WORDLIST_SIZE or len(set(words)) != WORDLIST_SIZE:
        raise RuntimeError("the EFF long wordlist is not the expected 7,776 words")
    return words


def generate_codename(words: int = CODENAME_WORDS) -> str:
    """A fresh codename; shown to the contact once, never stored."""
    choices = wordlist()
    return " ".join(secrets.choice(choices) for _ in range(words))


def normalize_codename(text: str) -> str:
    """The one canonical form: NFKC, case-folded, single spaces.

    People retype codenames on phones (autocapitalization, double spaces,
    full-width characters), so every such variant must derive the same keys.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def is_codename_shaped(text: str) -> bool:
    """True if ``text`` is 7 words of the list, for the "type it back" step.

    Not used on login: a wrong codename of any shape takes the same path.
    """
    words = normalize_codename(text).split(" ")
    known = set(wordlist())
    return len(words) == CODENAME_WORDS and all(w in known for w in words)


def generate_salt() -> bytes:
    return secrets.token_bytes(SALT_SIZE)


@dataclass(frozen=True, repr=False)
class ContactKeys:
    """What a codename derives: the lookup id and the contact's identity.

    The identity is made from its seed when first asked for: a post-quantum
    identity costs ~0.2 ms (ML-KEM-768 key generation), which a login with
    a wrong codename, found by its lookup id alone, never needs to pay
    (bench/login.py: most of a wrong login's cost).
    """

    lookup_id: bytes
    seed: bytes
    key_type: KeyType

    @functools.cached_property
    def identity(self) -> AgeIdentity:
        return identity_from_seed(self.seed, self.key_type)

    def __repr__(self) -> str:
        return f"ContactKeys(lookup_id={self.lookup_id.hex()[:8]}…)"


def _hkdf(codename: str, salt: bytes, info: bytes) -> bytes:
    ikm = normalize_codename(codename).encode("utf-8")
    return HKDF(hashes.SHA256(), 32, salt=salt, info=info).derive(ikm)


def derive_contact_keys(
    codename: str, salt: bytes, key_type: KeyType = DEFAULT_KEY_TYPE
) -> ContactKeys:
    """Derive the lookup id and the reply identity from a codename."""
    if len(salt) < 16:
        raise ValueError("the organization salt must be at least 16 bytes")
    return ContactKeys(
        lookup_id=_hkdf(codename, salt, LOOKUP_ID_INFO),
        seed=_hkdf(codename, salt, IDENTITY_INFO + key_type.value.encode()),
        key_type=key_type,
    )
