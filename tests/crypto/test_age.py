"""The pure Encryption / Decryption cores: their states, and what they hold."""

from __future__ import annotations

import contextlib
import tracemalloc

import pytest

from shoal import crypto
from shoal.crypto import _base64, _header, _stream, errors
from shoal.crypto._age import Decryption, Encryption
from shoal.crypto._header import MAX_HEADER_SIZE


@pytest.fixture(scope="module")
def identity() -> crypto.AgeIdentity:
    return crypto.generate_identity()


# Encryption.


def test_the_first_output_is_the_header_and_nonce_even_for_an_empty_update(
    identity: crypto.AgeIdentity,
) -> None:
    enc = Encryption([identity.recipient()])
    first = b"".join(enc.update(b""))
    end = _header.find_end(first)
    assert end is not None
    assert first.startswith(_header.VERSION_LINE)
    assert len(first) == end + _stream.NONCE_SIZE
    rest = b"".join(enc.finalize())
    assert crypto.decrypt(first + rest, [identity]) == b""


def test_one_stanza_per_recipient_in_order() -> None:
    identities = [crypto.generate_identity(crypto.KeyType.X25519) for _ in range(3)]
    ciphertext = crypto.encrypt(b"x", [i.recipient() for i in identities])
    end = _header.find_end(ciphertext)
    assert end is not None
    stanzas = _header.parse(ciphertext[:end]).stanzas
    assert [s.type for s in stanzas] == ["X25519"] * 3
    # Fresh ephemeral shares: no two stanzas alike.
    assert len({s.args[1] for s in stanzas}) == 3


def test_hybrid_stanzas_have_the_spec_shape(identity: crypto.AgeIdentity) -> None:
    ciphertext = crypto.encrypt(b"x", [identity.recipient()])
    end = _header.find_end(ciphertext)
    assert end is not None
    (stanza,) = _header.parse(ciphertext[:end]).stanzas
    assert stanza.type == "mlkem768x25519"
    assert len(stanza.args) == 2
    assert len(_base64.decode(stanza.args[1].encode())) == 1088 + 32
    assert len(stanza.body) == 32


def test_every_file_gets_a_fresh_file_key_and_nonce(identity: crypto.AgeIdentity) -> None:
    a = crypto.encrypt(b"same", [identity.recipient()])
    b = crypto.encrypt(b"same", [identity.recipient()])
    end_a, end_b = _header.find_end(a), _header.find_end(b)
    assert end_a is not None and end_b is not None
    assert a[end_a : end_a + 16] != b[end_b : end_b + 16]
    assert _header.parse(a[:end_a]).mac != _header.parse(b[:end_b]).mac


# Decryption states.


def test_header_done_once_the_mac_verified(identity: crypto.AgeIdentity) -> None:
    ciphertext = crypto.encrypt(b"hello", [identity.recipient()])
    end = _header.find_end(ciphertext)
    assert end is not None
    dec = Decryption([identity])
    seen = [dec.header_done]
    assert dec.update(ciphertext[: end - 1]) == []
    seen.append(dec.header_done)
    assert dec.update(ciphertext[end - 1 : end]) == []
    seen.append(dec.header_done)
    assert seen == [False, False, True]
    out = dec.update(ciphertext[end:])
    assert b"".join(out + dec.finalize()) == b"hello"


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (lambda end: 0, "not an age file"),
        (lambda end: 10, "truncated header"),
        (lambda end: end, "nonce"),
        (lambda end: end + 15, "nonce"),
        (lambda end: end + 16, "truncated"),
    ],
)
def test_finalize_says_where_the_file_stopped(
    identity: crypto.AgeIdentity, keep: object, message: str
) -> None:
    ciphertext = crypto.encrypt(b"hello", [identity.recipient()])
    end = _header.find_end(ciphertext)
    dec = Decryption([identity])
    dec.update(ciphertext[: keep(end)])  # type: ignore[operator]
    with pytest.raises(crypto.DecryptionError, match=message):
        dec.finalize()


def test_no_identities_match_nothing(identity: crypto.AgeIdentity) -> None:
    ciphertext = crypto.encrypt(b"hello", [identity.recipient()])
    with pytest.raises(errors.NoIdentityMatchError):
        crypto.decrypt(ciphertext, [])


def test_an_scrypt_stanza_beside_another_is_refused_even_with_the_passphrase() -> None:
    # Hand-built, since Encryption refuses to write it: the spec's rule that
    # scrypt stands alone must hold on the reading side too.
    file_key = bytes(range(16))
    classic = crypto.generate_identity(crypto.KeyType.X25519)
    stanzas = crypto.ScryptRecipient("pw", work_factor=1).wrap(file_key)
    stanzas += classic.recipient().wrap(file_key)
    nonce = bytes(16)
    enc = _stream.StreamEncryptor(_stream.payload_key(file_key, nonce))
    data = _header.encode_header(stanzas, file_key) + nonce + enc.finalize()
    choices: list[list[crypto.Identity]] = [[crypto.ScryptIdentity("pw")], [classic]]
    for identities in choices:
        with pytest.raises(errors.HeaderError, match="scrypt"):
            crypto.decrypt(data, identities)


def test_a_header_mac_made_with_another_key_is_an_hmac_error(
    identity: crypto.AgeIdentity,
) -> None:
    file_key = bytes(range(16))
    stanzas = identity.recipient().wrap(file_key)
    nonce = bytes(16)
    enc = _stream.StreamEncryptor(_stream.payload_key(file_key, nonce))
    data = _header.encode_header(stanzas, bytes(16)) + nonce + enc.finalize()
    with pytest.raises(errors.HMACError):
        crypto.decrypt(data, [identity])


def test_a_hand_built_file_from_the_spec_steps_decrypts(identity: crypto.AgeIdentity) -> None:
    file_key = bytes(range(16))
    nonce = bytes(range(16, 32))
    enc = _stream.StreamEncryptor(_stream.payload_key(file_key, nonce))
    body = [*enc.update(b"spec"), enc.finalize()]
    data = _header.encode_header(identity.recipient().wrap(file_key), file_key) + nonce
    assert crypto.decrypt(data + b"".join(body), [identity]) == b"spec"


# Armor detection and what it may hold.


def test_armor_is_detected_after_leading_whitespace(identity: crypto.AgeIdentity) -> None:
    text = crypto.encrypt(b"pasted", [identity.recipient()], armor=True)
    dec = Decryption([identity])
    assert dec.update(b" \n\t\r\n") == []
    assert b"".join(dec.update(text) + dec.finalize()) == b"pasted"


def test_whitespace_alone_is_not_an_age_file(identity: crypto.AgeIdentity) -> None:
    dec = Decryption([identity])
    dec.update(b"  \n\n")
    with pytest.raises(errors.HeaderError, match="not an age file"):
        dec.finalize()


def test_a_binary_file_after_whitespace_is_refused(identity: crypto.AgeIdentity) -> None:
    binary = crypto.encrypt(b"x", [identity.recipient()])
    with pytest.raises(errors.HeaderError):
        crypto.decrypt(b"\n" + binary, [identity])


def test_endless_whitespace_without_a_newline_is_refused_early(
    identity: crypto.AgeIdentity,
) -> None:
    # Neither a binary file nor an armored one can start with a megabyte of
    # spaces on one line (armor lines are at most 64 columns), so the
    # decryptor must give up instead of buffering what a hostile sender
    # keeps sending.
    dec = Decryption([identity])
    piece = b" " * 65536
    fed = 0
    with pytest.raises(crypto.DecryptionError):
        while fed < 4 * MAX_HEADER_SIZE:
            dec.update(piece)
            fed += len(piece)
    assert fed <= MAX_HEADER_SIZE


def test_endless_blank_lines_before_armor_are_not_buffered(
    identity: crypto.AgeIdentity,
) -> None:
    # Leading blank lines may be accepted or refused, but never held: memory
    # must stay flat whatever a hostile sender puts before the armor.
    dec = Decryption([identity])
    tracemalloc.start()
    try:
        with contextlib.suppress(crypto.DecryptionError):
            for _ in range(64):  # 4 MiB of newlines
                dec.update(b"\n" * 65536)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < MAX_HEADER_SIZE


# A failure is final.


def _four_chunks(identity: crypto.AgeIdentity) -> tuple[bytes, bytes, int]:
    plaintext = bytes(range(256)) * 256 * 4
    ciphertext = crypto.encrypt(plaintext, [identity.recipient()])
    end = _header.find_end(ciphertext)
    assert end is not None
    return plaintext, ciphertext, end + _stream.NONCE_SIZE


def test_after_a_failed_chunk_no_later_input_is_accepted(identity: crypto.AgeIdentity) -> None:
    # A chunk of junk inserted mid-stream fails; a caller that carries on
    # feeding the rest must not get the remaining chunks, nor a clean end.
    _, ciphertext, start = _four_chunks(identity)
    size = _stream.ENCRYPTED_CHUNK_SIZE
    dec = Decryption([identity])
    dec.update(ciphertext[:start])
    with pytest.raises(errors.PayloadError):
        dec.update(ciphertext[start : start + 2 * size] + bytes(size) + b"X")
    with pytest.raises(crypto.DecryptionError):
        dec.update(ciphertext[start + 2 * size :])
    with pytest.raises(crypto.DecryptionError):
        dec.finalize()


def test_finalize_after_a_failed_finalize_is_still_a_decryption_error(
    identity: crypto.AgeIdentity,
) -> None:
    _, ciphertext, _ = _four_chunks(identity)
    dec = Decryption([identity])
    dec.update(ciphertext[:-1])
    with pytest.raises(errors.PayloadError):
        dec.finalize()
    with pytest.raises(crypto.DecryptionError):
        dec.finalize()
