"""The age header: stanza encoding, strict parsing, the MAC, and its bounds."""

from __future__ import annotations

import hmac
import io
from hashlib import sha256

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.crypto import _base64, _header, errors
from shoal.crypto._age import Decryption
from shoal.crypto._header import MAX_HEADER_SIZE, Stanza

FILE_KEY = bytes(range(16))
VERSION = b"age-encryption.org/v1\n"


def header_bytes(*stanza_lines: bytes, mac_line: bytes | None = None) -> bytes:
    """A header from raw lines, with the correct MAC unless one is given."""
    mac_input = VERSION + b"".join(line + b"\n" for line in stanza_lines) + b"---"
    if mac_line is None:
        mac = _header.compute_mac(FILE_KEY, mac_input)
        return mac_input + b" " + _base64.encode(mac) + b"\n"
    return mac_input[:-3] + mac_line + b"\n"


def b64(data: bytes) -> bytes:
    return _base64.encode(data)


# Stanza body wrapping.


@pytest.mark.parametrize(
    ("body_size", "expected_body_lines"),
    [
        (0, [0]),
        (1, [2]),
        (47, [63]),
        (48, [64, 0]),
        (49, [64, 2]),
        (95, [64, 63]),
        (96, [64, 64, 0]),
    ],
)
def test_stanza_body_wraps_at_64_columns_and_ends_with_a_short_line(
    body_size: int, expected_body_lines: list[int]
) -> None:
    encoded = _header.encode_stanza(Stanza(("t", "a"), bytes(body_size)))
    assert encoded.endswith(b"\n")
    lines = encoded[:-1].split(b"\n")
    assert lines[0] == b"-> t a"
    assert [len(line) for line in lines[1:]] == expected_body_lines


def test_a_body_of_exactly_one_full_line_gets_the_mandatory_empty_final_line() -> None:
    body = bytes(range(48))
    assert _header.encode_stanza(Stanza(("t",), body)) == b"-> t\n" + b64(body) + b"\n\n"


def test_stanza_body_is_unpadded_canonical_base64() -> None:
    encoded = _header.encode_stanza(Stanza(("t",), b"\xff"))
    assert encoded == b"-> t\n/w\n"


# Header encode / parse.


@pytest.mark.parametrize("body_size", [0, 1, 31, 32, 47, 48, 49, 96, 200])
def test_header_round_trips_through_parse(body_size: int) -> None:
    stanzas = [
        Stanza(("X25519", "arg"), bytes(i % 256 for i in range(body_size))),
        Stanza(("other", "a", "b", "c"), b"z" * body_size),
    ]
    encoded = _header.encode_header(stanzas, FILE_KEY)
    assert _header.find_end(encoded + b"payload") == len(encoded)
    parsed = _header.parse(encoded)
    assert list(parsed.stanzas) == stanzas
    _header.verify_mac(parsed, FILE_KEY)


_ARG = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_STANZA = st.builds(
    Stanza, st.lists(_ARG, min_size=1, max_size=4).map(tuple), st.binary(max_size=200)
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_STANZA, min_size=1, max_size=4), st.binary(min_size=16, max_size=16))
def test_any_stanzas_round_trip(stanzas: list[Stanza], file_key: bytes) -> None:
    encoded = _header.encode_header(stanzas, file_key)
    assert _header.find_end(encoded) == len(encoded)
    parsed = _header.parse(encoded)
    assert list(parsed.stanzas) == stanzas
    _header.verify_mac(parsed, file_key)


def test_mac_covers_the_header_up_to_and_including_the_three_dashes() -> None:
    encoded = _header.encode_header([Stanza(("t",), b"body")], FILE_KEY)
    parsed = _header.parse(encoded)
    assert parsed.mac_input == encoded[: encoded.index(b"\n---") + 4]
    hmac_key = HKDF(hashes.SHA256(), 32, salt=None, info=b"header").derive(FILE_KEY)
    assert parsed.mac == hmac.new(hmac_key, parsed.mac_input, sha256).digest()


def test_mac_with_the_wrong_file_key_raises_hmac_error() -> None:
    parsed = _header.parse(_header.encode_header([Stanza(("t",), b"body")], FILE_KEY))
    with pytest.raises(errors.HMACError):
        _header.verify_mac(parsed, bytes(16))


# Strict parsing: every deviation is a HeaderError.


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("no stanza", header_bytes()),
        ("other version", header_bytes(b"-> t", b"").replace(b"/v1", b"/v2")),
        ("not age at all", b"hello world\n--- AAAA\n"),
        ("full last body line without empty line", header_bytes(b"-> t", b"A" * 64)),
        ("body line too long", header_bytes(b"-> t", b"A" * 65, b"")),
        ("short line before the last", header_bytes(b"-> t", b"AAAA", b"AAAA")),
        ("padded base64 body", header_bytes(b"-> t", b"AA==")),
        ("non-canonical base64 body", header_bytes(b"-> t", b"AB")),
        ("impossible base64 length", header_bytes(b"-> t", b"A")),
        ("empty argument", header_bytes(b"-> t  x", b"")),
        ("no arguments", header_bytes(b"-> ", b"")),
        ("arrow without space", header_bytes(b"->t", b"")),
        ("non-ascii argument", header_bytes(b"-> t \xc3\xa9", b"")),
        ("stray line", header_bytes(b"-> t", b"", b"stray")),
        ("MAC too short", header_bytes(b"-> t", b"", mac_line=b"--- " + b"A" * 42)),
        ("MAC padded", header_bytes(b"-> t", b"", mac_line=b"--- " + b"A" * 42 + b"=")),
        ("MAC non-canonical", header_bytes(b"-> t", b"", mac_line=b"--- " + b"A" * 42 + b"B")),
        ("MAC line without space", header_bytes(b"-> t", b"", mac_line=b"---" + b"A" * 43)),
        ("MAC trailing space", header_bytes(b"-> t", b"", mac_line=b"--- " + b"A" * 43 + b" ")),
        ("unterminated stanza", VERSION + b"-> t\n"),
    ],
)
def test_parse_rejects(name: str, data: bytes) -> None:
    with pytest.raises(errors.HeaderError):
        _header.parse(data)


def test_parse_rejects_crlf_line_endings() -> None:
    data = header_bytes(b"-> t", b"").replace(b"\n", b"\r\n")
    with pytest.raises(errors.HeaderError):
        _header.parse(data)


def test_parse_rejects_a_header_without_its_final_newline() -> None:
    with pytest.raises(errors.HeaderError):
        _header.parse(header_bytes(b"-> t", b"")[:-1])


def test_a_valid_hand_written_header_parses() -> None:
    parsed = _header.parse(header_bytes(b"-> t a b", b"AAAA"))
    assert parsed.stanzas == (Stanza(("t", "a", "b"), b"\x00\x00\x00"),)
    _header.verify_mac(parsed, FILE_KEY)


# Finding the end of a header, and its size bound.


def test_find_end_waits_for_the_mac_line_newline() -> None:
    encoded = _header.encode_header([Stanza(("t",), b"body")], FILE_KEY)
    for cut in range(len(encoded)):
        assert _header.find_end(encoded[:cut]) is None
    assert _header.find_end(encoded) == len(encoded)


@pytest.mark.parametrize("piece", [1, 2, 3, 47, 48, 63, 64, 65, 1000])
def test_find_end_resumed_where_it_stopped_finds_the_same_end(piece: int) -> None:
    stanzas = [Stanza(("X25519", "x" * 40), bytes(range(32))) for _ in range(5)]
    encoded = _header.encode_header(stanzas, FILE_KEY)
    data = encoded + bytes(100)
    buffer = bytearray()
    found = None
    for i in range(0, len(data), piece):
        searched = len(buffer)
        buffer += data[i : i + piece]
        found = _header.find_end(buffer, searched)
        if found is not None:
            break
    assert found == len(encoded)
    assert len(buffer) - piece < len(encoded) <= len(buffer)


def test_find_end_refuses_to_look_past_the_size_bound() -> None:
    endless = VERSION + b"-> t\n" + b"A" * 64 + b"\n"
    endless += (b"A" * 64 + b"\n") * (MAX_HEADER_SIZE // 65)
    assert _header.find_end(endless[: MAX_HEADER_SIZE - 1]) is None
    with pytest.raises(errors.HeaderError, match="too large"):
        _header.find_end(endless[:MAX_HEADER_SIZE])


def test_a_mac_line_straddling_the_bound_is_refused() -> None:
    filler = (b"A" * 64 + b"\n") * ((MAX_HEADER_SIZE - 100) // 65)
    data = VERSION + b"-> t\n" + filler + b"\n"
    data += b"A" * (MAX_HEADER_SIZE - 10 - len(data)) + b"\n--- " + b"A" * 43 + b"\n"
    assert len(data) > MAX_HEADER_SIZE
    with pytest.raises(errors.HeaderError, match="too large"):
        _header.find_end(data)


@pytest.mark.parametrize("piece", [4096, 65536, 1 << 20])
def test_an_endless_header_is_refused_soon_after_the_bound(piece: int) -> None:
    # The decryptor must give up once it holds MAX_HEADER_SIZE bytes, not
    # keep buffering what a hostile sender keeps sending.
    start = VERSION + b"-> X25519 abc\n"
    line = b"A" * 64 + b"\n"
    block = line * (piece // len(line) + 1)
    dec = Decryption([crypto.generate_identity()])
    fed = 0
    with pytest.raises(errors.HeaderError, match="too large"):
        dec.update(start)
        fed += len(start)
        while fed <= 4 * MAX_HEADER_SIZE:
            dec.update(block)
            fed += len(block)
    assert fed <= MAX_HEADER_SIZE + len(block)


def test_an_oversized_header_in_one_piece_is_refused() -> None:
    data = VERSION + b"-> X25519 abc\n" + (b"A" * 64 + b"\n") * (2 * MAX_HEADER_SIZE // 65)
    with pytest.raises(errors.HeaderError, match="too large"):
        crypto.decrypt(data, [crypto.generate_identity()])


# Non-age input fails at the first wrong byte.


@pytest.mark.parametrize("prefix", [b"", b"a", b"age", b"age-encryption.org/", VERSION])
def test_check_prefix_accepts_what_could_still_be_age(prefix: bytes) -> None:
    _header.check_prefix(prefix)


@pytest.mark.parametrize(
    "data", [b"\x00", b"A", b"PK\x03\x04", b"agf", b"age-encryption.org\\", b"%PDF-1.7"]
)
def test_check_prefix_rejects_what_cannot_be_age(data: bytes) -> None:
    with pytest.raises(errors.HeaderError, match="not an age file"):
        _header.check_prefix(data)


@pytest.mark.parametrize("first", [b"\x00", b"{", b"P", b"\xff"])
def test_decryption_rejects_non_age_input_at_its_first_byte(first: bytes) -> None:
    dec = Decryption([crypto.generate_identity()])
    with pytest.raises(errors.HeaderError, match="not an age file"):
        dec.update(first)


def test_decryption_rejects_a_wrong_byte_as_soon_as_it_arrives() -> None:
    dec = Decryption([crypto.generate_identity()])
    for byte in b"age-encr":
        assert dec.update(bytes([byte])) == []
    with pytest.raises(errors.HeaderError, match="not an age file"):
        dec.update(b"X")


def test_a_large_non_age_blob_is_rejected_without_reading_it_all() -> None:
    dec = Decryption([crypto.generate_identity()], armor=False)
    with pytest.raises(errors.HeaderError, match="not an age file"):
        dec.update(b"Z" * 100)


# Reprs never show what a stanza wraps.


def test_stanza_repr_hides_body_and_arguments() -> None:
    body = bytes(range(100, 132))
    share = b64(bytes(range(32))).decode()
    stanza = Stanza(("X25519", share), body)
    for text in (repr(stanza), str(stanza)):
        assert "X25519" in text
        assert share not in text
        assert body.hex() not in text
        assert b64(body).decode() not in text
        assert repr(body) not in text
        assert "32 bytes" in text


@pytest.mark.parametrize("recipients", [1, 2, 5])
def test_stanza_count_reads_only_the_header(recipients: int) -> None:
    identities = [crypto.generate_identity() for _ in range(recipients)]
    sealed = crypto.encrypt(b"x" * 200_000, [i.recipient() for i in identities])
    source = io.BytesIO(sealed)
    assert crypto.stanza_count(source) == recipients
    assert source.tell() <= 64 * 1024  # one read: the payload was not walked


@pytest.mark.parametrize(
    "data", [b"", b"age-encryption.org/v1\n-> X25519 abc\n", b"not an age file at all"]
)
def test_stanza_count_refuses_what_is_no_whole_header(data: bytes) -> None:
    with pytest.raises(errors.HeaderError):
        crypto.stanza_count(io.BytesIO(data))
