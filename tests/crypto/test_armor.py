"""ASCII armor: the encoder's exact shape and the decoder's strictness."""

from __future__ import annotations

import base64

import pytest

from shoal import crypto
from shoal.crypto import errors
from shoal.crypto._age import Decryption
from shoal.crypto._armor import (
    BEGIN_LINE,
    END_LINE,
    ArmorDecoder,
    ArmorEncoder,
)

SIZES = [0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 1000]


def encode(data: bytes, piece: int | None = None) -> bytes:
    enc = ArmorEncoder()
    piece = piece or max(1, len(data))
    out = [enc.update(data[i : i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + enc.finalize()


def decode(text: bytes, piece: int | None = None) -> bytes:
    dec = ArmorDecoder()
    piece = piece or max(1, len(text))
    out = [dec.update(text[i : i + piece]) for i in range(0, len(text), piece)]
    return b"".join(out) + dec.finalize()


def armored(*body_lines: bytes) -> bytes:
    return b"\n".join([BEGIN_LINE, *body_lines, END_LINE]) + b"\n"


def data_of(size: int) -> bytes:
    return bytes(i * 13 % 256 for i in range(size))


# The encoder.


@pytest.mark.parametrize("size", SIZES)
def test_encoder_writes_begin_64_column_lines_and_end(size: int) -> None:
    text = encode(data_of(size))
    assert text.endswith(b"\n")
    lines = text[:-1].split(b"\n")
    assert lines[0] == BEGIN_LINE
    assert lines[-1] == END_LINE
    body = lines[1:-1]
    assert all(len(line) == 64 for line in body[:-1])
    if size:
        assert 0 < len(body[-1]) <= 64
    else:
        assert body == []
    assert base64.b64decode(b"".join(body)) == data_of(size)


@pytest.mark.parametrize("size", SIZES)
def test_encoder_output_does_not_depend_on_how_input_is_split(size: int) -> None:
    whole = encode(data_of(size))
    for piece in (1, 5, 48, 49):
        assert encode(data_of(size), piece) == whole


def test_a_multiple_of_48_bytes_ends_with_a_full_line_and_no_empty_line() -> None:
    text = encode(data_of(96))
    assert text == armored(*[base64.b64encode(data_of(96))[i : i + 64] for i in (0, 64)])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("piece", [1, 7, 64, 65, None])
def test_decoder_inverts_the_encoder_however_split(size: int, piece: int | None) -> None:
    assert decode(encode(data_of(size)), piece) == data_of(size)


# What the strict decoder accepts.


def test_decoder_accepts_crlf_line_endings() -> None:
    text = encode(data_of(100)).replace(b"\n", b"\r\n")
    assert decode(text) == data_of(100)


def test_decoder_accepts_whitespace_around_the_block() -> None:
    text = b"\n \t\n\r\n" + encode(data_of(100)) + b"\n  \n\t"
    assert decode(text, 3) == data_of(100)


def test_decoder_accepts_an_end_line_without_its_newline() -> None:
    assert decode(encode(data_of(10))[:-1]) == data_of(10)


# What it rejects, each as an ArmorError.


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("garbage before", b"hello\n" + armored(b"AAAA")),
        ("garbage after", armored(b"AAAA") + b"hello\n"),
        ("garbage after without newline", armored(b"AAAA") + b"x"),
        ("short line before the last", armored(b"AAAA", b"AAAA")),
        ("line too long", armored(b"A" * 68)),
        ("empty last line", armored(b"A" * 64, b"")),
        ("empty line in the middle", armored(b"A" * 64, b"", b"AAAA")),
        ("padding in a middle line", armored(b"A" * 60 + b"AA==", b"AAAA")),
        ("non-canonical padding bits", armored(b"AB==")),
        ("missing padding", armored(b"AAA")),
        ("invalid character", armored(b"AA*A")),
        ("whitespace inside a line", armored(b"AA AAA==")),
        ("a PEM header", armored(b"Comment: hi", b"", b"AAAA")),
        ("lowercase begin", armored(b"AAAA").replace(b"BEGIN", b"begin")),
        ("wrong label", armored(b"AAAA").replace(b"AGE ENCRYPTED FILE", b"PGP MESSAGE")),
        ("no end line", BEGIN_LINE + b"\nAAAA\n"),
        ("no begin line", b"AAAA\n" + END_LINE + b"\n"),
        ("nothing", b""),
        ("only whitespace", b" \n\n"),
        ("two blocks", armored(b"AAAA") + armored(b"AAAA")),
    ],
)
def test_decoder_rejects(name: str, text: bytes) -> None:
    with pytest.raises(errors.ArmorError):
        decode(text)


def test_a_line_that_never_ends_is_refused_before_it_is_buffered_far() -> None:
    dec = ArmorDecoder()
    dec.update(BEGIN_LINE + b"\n")
    with pytest.raises(errors.ArmorError, match="too long"):
        for _ in range(100):
            dec.update(b"A" * 64)
    assert len(dec._buffer) <= 4 * 64


# Detecting armor.


@pytest.mark.parametrize(
    ("prefix", "armored"),
    [
        (b"-", True),
        (b"\n\n-----BEGIN", True),
        (b" \t\r\n-", True),
        (b"a", False),
    ],
)
def test_decryption_detects_armor_at_the_first_non_whitespace_byte(
    prefix: bytes, armored: bool
) -> None:
    dec = Decryption([crypto.generate_identity()])
    assert dec.update(prefix) == []
    assert (dec._armor is not None) is armored


@pytest.mark.parametrize("prefix", [b"", b" \t\r\n"])
def test_whitespace_alone_decides_nothing_and_is_not_an_age_file(prefix: bytes) -> None:
    dec = Decryption([crypto.generate_identity()])
    assert dec.update(prefix) == []
    assert dec._armor is None
    with pytest.raises(errors.HeaderError):
        dec.finalize()


@pytest.mark.parametrize("prefix", [b" a", b"\x00", b"\n\nage-encryption.org/v1\n"])
def test_binary_after_whitespace_or_garbage_is_refused_at_once(prefix: bytes) -> None:
    with pytest.raises(errors.HeaderError):
        Decryption([crypto.generate_identity()]).update(prefix)


# Whole files.


@pytest.mark.parametrize("key_type", list(crypto.KeyType))
@pytest.mark.parametrize("size", [0, 1, 65536, 65537])
def test_armored_file_round_trips_with_detection(key_type: crypto.KeyType, size: int) -> None:
    identity = crypto.generate_identity(key_type)
    text = crypto.encrypt(data_of(size), [identity.recipient()], armor=True)
    assert text.startswith(BEGIN_LINE + b"\n")
    assert text.endswith(END_LINE + b"\n")
    assert text.isascii()
    assert crypto.decrypt(text, [identity]) == data_of(size)
    assert crypto.decrypt(text, [identity], armor=True) == data_of(size)


def test_an_armored_file_read_as_binary_is_a_header_error() -> None:
    identity = crypto.generate_identity()
    text = crypto.encrypt(b"x", [identity.recipient()], armor=True)
    with pytest.raises(errors.HeaderError):
        crypto.decrypt(text, [identity], armor=False)


def test_a_binary_file_read_as_armor_is_an_armor_error() -> None:
    identity = crypto.generate_identity()
    binary = crypto.encrypt(b"x", [identity.recipient()])
    with pytest.raises(errors.ArmorError):
        crypto.decrypt(binary, [identity], armor=True)


def test_an_armored_file_with_crlf_decrypts() -> None:
    identity = crypto.generate_identity()
    text = crypto.encrypt(b"windows", [identity.recipient()], armor=True)
    assert crypto.decrypt(text.replace(b"\n", b"\r\n"), [identity]) == b"windows"


def test_an_armored_file_with_leading_and_trailing_whitespace_decrypts() -> None:
    identity = crypto.generate_identity()
    text = crypto.encrypt(b"pasted", [identity.recipient()], armor=True)
    assert crypto.decrypt(b"\n\n  \n" + text + b"\n \n", [identity]) == b"pasted"


def test_one_changed_armor_character_fails_to_decrypt() -> None:
    identity = crypto.generate_identity(crypto.KeyType.X25519)
    text = bytearray(crypto.encrypt(b"payload", [identity.recipient()], armor=True))
    position = len(BEGIN_LINE) + 1 + 10
    text[position] = ord("B") if text[position] != ord("B") else ord("C")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(bytes(text), [identity])


def test_armored_output_of_the_iterator_shell_is_the_same_format() -> None:
    identity = crypto.generate_identity()
    pieces = list(crypto.encrypt_iter([b"a" * 70000, b"b" * 3], [identity.recipient()], armor=True))
    text = b"".join(pieces)
    assert decode(text) != b""
    assert crypto.decrypt(text, [identity]) == b"a" * 70000 + b"b" * 3
