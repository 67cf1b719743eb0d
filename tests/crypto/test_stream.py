"""The STREAM payload core: chunk boundaries, the last-chunk flag, misuse.

The reference below is the spec's "Payload" section written out plainly
(64 KiB chunks, an 11-byte big-endian counter and a last-chunk flag byte as
the ChaCha20-Poly1305 nonce); the incremental core must agree with it byte
for byte, however its input is split.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shoal import crypto
from shoal.crypto import _header, _stream, errors
from shoal.crypto._age import Encryption
from shoal.crypto._stream import CHUNK_SIZE, StreamDecryptor, StreamEncryptor

KEY = bytes(range(32))
SIZES = [0, 1, 65535, 65536, 65537, 131072, 131073]
EXPECTED_CHUNKS = {0: 1, 1: 1, 65535: 1, 65536: 1, 65537: 2, 131072: 2, 131073: 3}


def spec_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def spec_seal(key: bytes, counter: int, chunk: bytes, last: bool) -> bytes:
    return ChaCha20Poly1305(key).encrypt(spec_nonce(counter, last), chunk, None)


def spec_payload(key: bytes, plaintext: bytes) -> bytes:
    chunks = [plaintext[i : i + CHUNK_SIZE] for i in range(0, len(plaintext), CHUNK_SIZE)]
    chunks = chunks or [b""]
    return b"".join(
        spec_seal(key, i, chunk, i == len(chunks) - 1) for i, chunk in enumerate(chunks)
    )


def plaintext_of(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))


def encrypt_stream(plaintext: bytes, piece: int | None = None) -> bytes:
    enc = StreamEncryptor(KEY)
    out: list[bytes] = []
    piece = piece or max(1, len(plaintext))
    for i in range(0, len(plaintext), piece):
        out += enc.update(plaintext[i : i + piece])
    out.append(enc.finalize())
    return b"".join(out)


def decrypt_stream(ciphertext: bytes, piece: int | None = None) -> bytes:
    dec = StreamDecryptor(KEY)
    out: list[bytes] = []
    piece = piece or max(1, len(ciphertext))
    for i in range(0, len(ciphertext), piece):
        out += dec.update(ciphertext[i : i + piece])
    out.append(dec.finalize())
    return b"".join(out)


# Chunk boundaries and exact sizes.


@pytest.mark.parametrize("size", SIZES)
def test_ciphertext_is_plaintext_plus_one_tag_per_chunk(size: int) -> None:
    ciphertext = encrypt_stream(plaintext_of(size))
    assert len(ciphertext) == size + 16 * EXPECTED_CHUNKS[size]


@pytest.mark.parametrize("size", SIZES)
def test_core_matches_the_spec_reference_byte_for_byte(size: int) -> None:
    plaintext = plaintext_of(size)
    assert encrypt_stream(plaintext) == spec_payload(KEY, plaintext)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("piece", [1000, 65535, 65536, 65537])
def test_output_does_not_depend_on_how_input_is_split(size: int, piece: int) -> None:
    plaintext = plaintext_of(size)
    ciphertext = encrypt_stream(plaintext, piece)
    assert ciphertext == spec_payload(KEY, plaintext)
    assert decrypt_stream(ciphertext, piece + 3) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_whole_file_payload_size_excluding_header(size: int) -> None:
    identity = crypto.generate_identity(crypto.KeyType.X25519)
    ciphertext = crypto.encrypt(plaintext_of(size), [identity.recipient()])
    header_length = _header.find_end(ciphertext)
    assert header_length is not None
    payload = len(ciphertext) - header_length
    assert payload == 16 + size + 16 * EXPECTED_CHUNKS[size]
    assert crypto.decrypt(ciphertext, [identity]) == plaintext_of(size)


def test_a_full_chunk_is_held_back_until_more_data_shows_it_is_not_the_last() -> None:
    enc = StreamEncryptor(KEY)
    assert enc.update(bytes(CHUNK_SIZE)) == []
    first = enc.update(b"x")
    assert len(first) == 1
    assert first[0] == spec_seal(KEY, 0, bytes(CHUNK_SIZE), last=False)
    assert enc.finalize() == spec_seal(KEY, 1, b"x", last=True)


def test_a_full_chunk_with_nothing_after_it_is_sealed_as_the_last() -> None:
    enc = StreamEncryptor(KEY)
    assert enc.update(bytes(CHUNK_SIZE)) == []
    assert enc.finalize() == spec_seal(KEY, 0, bytes(CHUNK_SIZE), last=True)


def test_decryptor_holds_a_full_chunk_until_it_knows_whether_it_is_the_last() -> None:
    ciphertext = spec_payload(KEY, bytes(CHUNK_SIZE))
    dec = StreamDecryptor(KEY)
    assert dec.update(ciphertext) == []
    assert dec.finalize() == bytes(CHUNK_SIZE)


def test_decryptor_releases_non_final_chunks_as_they_verify() -> None:
    plaintext = plaintext_of(2 * CHUNK_SIZE + 5)
    ciphertext = spec_payload(KEY, plaintext)
    dec = StreamDecryptor(KEY)
    released = dec.update(ciphertext)
    assert b"".join(released) == plaintext[: 2 * CHUNK_SIZE]
    assert dec.finalize() == plaintext[2 * CHUNK_SIZE :]


def test_buffer_types_are_all_accepted() -> None:
    plaintext = plaintext_of(70000)
    for wrap in (bytes, bytearray, memoryview):
        enc = StreamEncryptor(KEY)
        out = [*enc.update(wrap(plaintext)), enc.finalize()]
        dec = StreamDecryptor(KEY)
        joined = b"".join(out)
        assert b"".join([*dec.update(wrap(joined)), dec.finalize()]) == plaintext


# The last-chunk flag.


def test_an_empty_payload_is_one_empty_final_chunk() -> None:
    ciphertext = encrypt_stream(b"")
    assert ciphertext == spec_seal(KEY, 0, b"", last=True)
    assert decrypt_stream(ciphertext) == b""


def test_a_last_chunk_without_the_flag_is_rejected() -> None:
    ciphertext = spec_seal(KEY, 0, b"hello", last=False)
    dec = StreamDecryptor(KEY)
    assert dec.update(ciphertext) == []
    with pytest.raises(errors.PayloadError):
        dec.finalize()


def test_a_stream_cut_after_a_full_non_final_chunk_is_rejected() -> None:
    ciphertext = spec_payload(KEY, plaintext_of(CHUNK_SIZE + 10))
    with pytest.raises(errors.PayloadError):
        decrypt_stream(ciphertext[: CHUNK_SIZE + 16])


def test_a_first_chunk_flagged_last_followed_by_more_is_rejected() -> None:
    ciphertext = spec_seal(KEY, 0, bytes(CHUNK_SIZE), last=True) + spec_seal(
        KEY, 1, b"more", last=True
    )
    with pytest.raises(errors.PayloadError):
        decrypt_stream(ciphertext)


def test_an_empty_final_chunk_after_a_full_chunk_is_rejected() -> None:
    # The spec: the final chunk may be empty only if it is the whole payload.
    ciphertext = spec_seal(KEY, 0, bytes(CHUNK_SIZE), last=False) + spec_seal(
        KEY, 1, b"", last=True
    )
    with pytest.raises(errors.PayloadError, match="empty"):
        decrypt_stream(ciphertext)


def test_swapped_chunks_are_rejected() -> None:
    ciphertext = spec_payload(KEY, plaintext_of(3 * CHUNK_SIZE))
    size = _stream.ENCRYPTED_CHUNK_SIZE
    a, b, c = ciphertext[:size], ciphertext[size : 2 * size], ciphertext[2 * size :]
    with pytest.raises(errors.PayloadError):
        decrypt_stream(b + a + c)


def test_a_dropped_middle_chunk_is_rejected() -> None:
    ciphertext = spec_payload(KEY, plaintext_of(3 * CHUNK_SIZE))
    size = _stream.ENCRYPTED_CHUNK_SIZE
    with pytest.raises(errors.PayloadError):
        decrypt_stream(ciphertext[:size] + ciphertext[2 * size :])


def test_a_repeated_chunk_is_rejected() -> None:
    ciphertext = spec_payload(KEY, plaintext_of(2 * CHUNK_SIZE))
    size = _stream.ENCRYPTED_CHUNK_SIZE
    with pytest.raises(errors.PayloadError):
        decrypt_stream(ciphertext[:size] + ciphertext)


@pytest.mark.parametrize("final_size", [5, CHUNK_SIZE])
def test_data_after_the_final_chunk_is_rejected(final_size: int) -> None:
    ciphertext = spec_payload(KEY, plaintext_of(final_size))
    with pytest.raises(errors.PayloadError):
        decrypt_stream(ciphertext + b"\x00")


def test_no_bytes_at_all_is_a_truncated_payload() -> None:
    with pytest.raises(errors.PayloadError, match="truncated"):
        StreamDecryptor(KEY).finalize()


def test_fewer_bytes_than_a_tag_is_a_truncated_payload() -> None:
    dec = StreamDecryptor(KEY)
    dec.update(bytes(15))
    with pytest.raises(errors.PayloadError, match="truncated"):
        dec.finalize()


def test_the_wrong_key_fails_on_the_first_chunk() -> None:
    ciphertext = spec_payload(KEY, plaintext_of(2 * CHUNK_SIZE + 1))
    dec = StreamDecryptor(bytes(32))
    with pytest.raises(errors.PayloadError):
        dec.update(ciphertext)


def test_the_counter_refuses_to_wrap() -> None:
    assert _stream._nonce((1 << 88) - 1, last=True) == b"\xff" * 11 + b"\x01"
    with pytest.raises(errors.PayloadError, match="overflow"):
        _stream._nonce(1 << 88, last=False)


def test_payload_key_is_hkdf_of_the_file_key_salted_with_the_nonce() -> None:
    file_key, nonce = bytes(range(16)), bytes(range(16, 32))
    expected = HKDF(hashes.SHA256(), 32, salt=nonce, info=b"payload").derive(file_key)
    assert _stream.payload_key(file_key, nonce) == expected


# Misuse of the incremental interface.


def test_encryptor_update_after_finalize_raises() -> None:
    enc = StreamEncryptor(KEY)
    enc.finalize()
    with pytest.raises(ValueError, match="finalized"):
        enc.update(b"more")


def test_encryptor_finalize_twice_raises() -> None:
    enc = StreamEncryptor(KEY)
    enc.finalize()
    with pytest.raises(ValueError, match="finalized"):
        enc.finalize()


def test_decryptor_update_after_finalize_raises() -> None:
    dec = StreamDecryptor(KEY)
    dec.update(encrypt_stream(b"x"))
    dec.finalize()
    with pytest.raises(ValueError, match="finalized"):
        dec.update(b"more")


def test_decryptor_finalize_twice_raises() -> None:
    dec = StreamDecryptor(KEY)
    dec.update(encrypt_stream(b"x"))
    dec.finalize()
    with pytest.raises(ValueError, match="finalized"):
        dec.finalize()


def test_whole_file_encryption_update_after_finalize_raises() -> None:
    enc = Encryption([crypto.generate_identity().recipient()])
    enc.update(b"data")
    enc.finalize()
    with pytest.raises(ValueError):
        enc.update(b"more")
    with pytest.raises(ValueError):
        enc.finalize()
