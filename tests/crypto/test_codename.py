"""Codenames and the keys they derive: a contact's only credential."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.crypto import _bech32
from shoal.crypto._codename import CODENAME_WORDS, wordlist

CODENAME = "abacus abdomen abdominal abide abiding ability ablaze"
SALT = bytes(range(32))


def eff_words() -> list[str]:
    """The list read straight from xkcdpass, independently of the module."""
    text = (resources.files("xkcdpass") / "static" / "eff-long").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def recipient_of(keys: crypto.ContactKeys) -> str:
    return str(keys.identity.recipient())


# Generating codenames.


def test_the_wordlist_is_the_7776_distinct_eff_long_words() -> None:
    words = eff_words()
    assert len(words) == 7776
    assert len(set(words)) == 7776
    assert list(wordlist()) == words


def test_a_codename_is_seven_words_of_the_list() -> None:
    known = set(eff_words())
    for _ in range(50):
        words = crypto.generate_codename().split(" ")
        assert len(words) == CODENAME_WORDS == 7
        assert all(word in known for word in words)


def test_codenames_are_fresh_each_time() -> None:
    assert len({crypto.generate_codename() for _ in range(100)}) == 100


def test_a_codename_is_already_in_normal_form() -> None:
    codename = crypto.generate_codename()
    assert crypto.normalize_codename(codename) == codename


def test_a_codename_can_be_asked_for_with_another_length() -> None:
    assert len(crypto.generate_codename(words=9).split(" ")) == 9


# Normalization: every retyped variant derives the same keys.

VARIANTS = [
    CODENAME.upper(),
    CODENAME.title(),
    "  " + CODENAME + "  ",
    "\t" + CODENAME.replace(" ", "   ") + "\n",
    CODENAME.replace(" ", " \u3000 "),  # ideographic space, as phone keyboards insert
    full_width(CODENAME),
    full_width(CODENAME.upper()),
    "Abacus ABDOMEN abdominal\nabide\tabiding  ability ablaze",
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_normalize_to_the_same_text(variant: str) -> None:
    assert crypto.normalize_codename(variant) == CODENAME


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_derive_the_same_lookup_id_and_identity(variant: str) -> None:
    expected = crypto.derive_contact_keys(CODENAME, SALT)
    derived = crypto.derive_contact_keys(variant, SALT)
    assert derived.lookup_id == expected.lookup_id
    assert recipient_of(derived) == recipient_of(expected)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from(wordlist()), min_size=7, max_size=7),
    st.lists(st.sampled_from([" ", "  ", "\t", "\n", "\u3000"]), min_size=6, max_size=6),
    st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_any_spacing_and_case_normalizes_the_same(
    words: list[str], separators: list[str], upper: list[bool]
) -> None:
    cased = [w.upper() if u else w for w, u in zip(words, upper, strict=True)]
    typed = cased[0] + "".join(s + w for s, w in zip(separators, cased[1:], strict=True))
    assert crypto.normalize_codename(" " + typed + " ") == " ".join(words)


def test_a_different_word_derives_different_keys() -> None:
    other = CODENAME.replace("ablaze", "able")
    a, b = crypto.derive_contact_keys(CODENAME, SALT), crypto.derive_contact_keys(other, SALT)
    assert a.lookup_id != b.lookup_id
    assert recipient_of(a) != recipient_of(b)


# Derivation.


def test_derivation_is_deterministic() -> None:
    a = crypto.derive_contact_keys(CODENAME, SALT)
    b = crypto.derive_contact_keys(CODENAME, SALT)
    assert a.lookup_id == b.lookup_id
    assert a.identity.secret_string() == b.identity.secret_string()


def test_a_different_salt_derives_a_different_lookup_id_and_identity() -> None:
    a = crypto.derive_contact_keys(CODENAME, SALT)
    b = crypto.derive_contact_keys(CODENAME, bytes(32))
    assert a.lookup_id != b.lookup_id
    assert recipient_of(a) != recipient_of(b)


def test_lookup_id_is_hkdf_of_the_normalized_codename_under_the_salt() -> None:
    expected = HKDF(hashes.SHA256(), 32, salt=SALT, info=b"shoal/v1/contact lookup id").derive(
        CODENAME.encode()
    )
    assert crypto.derive_contact_keys(CODENAME.upper(), SALT).lookup_id == expected


def test_derivation_is_pinned() -> None:
    # Changing the derivation locks every existing contact out: these values
    # were recorded from the implementation and must never change.
    keys = crypto.derive_contact_keys(CODENAME, SALT)
    assert keys.lookup_id.hex() == (
        "8ca680ed5f2128924f9c8630b42a3912f9d4e894d460091ac038a111911f9172"
    )
    assert hashlib.sha256(recipient_of(keys).encode()).hexdigest() == (
        "e9c73ac4abf1aaf489faa030e02646fa66438245275ea2ff32c32b671f935c46"
    )
    classic = crypto.derive_contact_keys(CODENAME, SALT, crypto.KeyType.X25519)
    assert recipient_of(classic) == "age1h9ynccf7cqrptqhfy4736c4nf2fq5ck6pczsjk9rkppf23dmmdtsgap43q"


def test_the_derived_identity_is_hybrid_by_default() -> None:
    keys = crypto.derive_contact_keys(CODENAME, SALT)
    assert isinstance(keys.identity, crypto.HybridIdentity)
    assert crypto.key_type_of(keys.identity) is crypto.KeyType.HYBRID


def test_the_derived_identity_is_x25519_when_asked() -> None:
    keys = crypto.derive_contact_keys(CODENAME, SALT, crypto.KeyType.X25519)
    assert isinstance(keys.identity, crypto.X25519Identity)
    assert crypto.key_type_of(keys.identity) is crypto.KeyType.X25519


def test_the_two_key_types_share_the_lookup_id_but_not_the_seed() -> None:
    hybrid = crypto.derive_contact_keys(CODENAME, SALT)
    classic = crypto.derive_contact_keys(CODENAME, SALT, crypto.KeyType.X25519)
    assert hybrid.lookup_id == classic.lookup_id
    _, hybrid_seed = _bech32.decode(hybrid.identity.secret_string())
    _, classic_seed = _bech32.decode(classic.identity.secret_string())
    assert hybrid_seed != classic_seed
    assert hybrid.lookup_id not in (hybrid_seed, classic_seed)


@pytest.mark.parametrize("key_type", list(crypto.KeyType))
def test_the_derived_identity_decrypts_what_was_sent_to_its_recipient(
    key_type: crypto.KeyType,
) -> None:
    codename = crypto.generate_codename()
    at_send = crypto.derive_contact_keys(codename, SALT, key_type)
    ciphertext = crypto.encrypt(b"a reply", [at_send.identity.recipient()])
    # The contact logs in later, typing the codename differently.
    at_login = crypto.derive_contact_keys(codename.upper() + "  ", SALT, key_type)
    assert crypto.decrypt(ciphertext, [at_login.identity]) == b"a reply"


def test_the_lookup_id_is_not_the_identity_seed() -> None:
    keys = crypto.derive_contact_keys(CODENAME, SALT, crypto.KeyType.X25519)
    other = crypto.X25519Identity(keys.lookup_id)
    assert str(other.recipient()) != recipient_of(keys)


# The salt.


@pytest.mark.parametrize("size", [0, 1, 8, 15])
def test_a_salt_shorter_than_16_bytes_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="salt"):
        crypto.derive_contact_keys(CODENAME, bytes(size))


def test_a_16_byte_salt_is_enough() -> None:
    assert len(crypto.derive_contact_keys(CODENAME, bytes(16)).lookup_id) == 32


def test_generated_salts_are_32_random_bytes() -> None:
    salts = {crypto.generate_salt() for _ in range(20)}
    assert len(salts) == 20
    assert all(len(salt) == 32 for salt in salts)


# Shape check for the "type it back" step.


@pytest.mark.parametrize("text", [CODENAME, *VARIANTS])
def test_codename_shaped(text: str) -> None:
    assert crypto.is_codename_shaped(text)


def test_a_fresh_codename_is_codename_shaped() -> None:
    assert crypto.is_codename_shaped(crypto.generate_codename())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        " ".join(CODENAME.split()[:6]),
        CODENAME + " able",
        CODENAME.replace("ablaze", "ablazee"),
        CODENAME.replace("ablaze", "xyzzy"),
        CODENAME.replace(" ", ""),
        CODENAME.replace(" ", "-"),
    ],
)
def test_not_codename_shaped(text: str) -> None:
    assert not crypto.is_codename_shaped(text)


# What a log line could show.


def test_contact_keys_repr_shows_neither_the_secret_nor_the_whole_lookup_id() -> None:
    for key_type in crypto.KeyType:
        keys = crypto.derive_contact_keys(CODENAME, SALT, key_type)
        for text in (repr(keys), str(keys)):
            assert keys.identity.secret_string() not in text
            assert keys.identity.secret_string().lower() not in text
            assert keys.lookup_id.hex() not in text
            assert CODENAME not in text
