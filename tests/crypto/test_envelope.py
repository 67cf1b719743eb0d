"""Item envelopes: round trips, exact padding, signatures, hostile framing, flat memory.

The items here are built, parsed and re-framed with this file's own helpers,
following the layout in ``_envelope``'s docstring, so the reader is checked
against the format and not only against its own writer.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random
import struct
import tracemalloc
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto
from shoal.crypto._envelope import (
    MAGIC,
    MAX_HEADER,
    MAX_SEGMENT,
    Envelope,
    EnvelopeReader,
    EnvelopeWriter,
    open_item,
    seal_item,
)
from shoal.crypto._padding import padme
from shoal.crypto.errors import EnvelopeError, SignatureError

U32 = struct.Struct(">I")
REJECTED = (EnvelopeError, SignatureError)
HEADER = {"kind": "report", "name": "été-Ελλάδα-報告-🐟.pdf", "rtl": "\u202egpj.exe", "n": -1}
KIB = 1024
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass
class Parts:
    header: bytes
    segments: list[bytes]
    trailer: bytes
    unpadded: int
    padding: bytes


def parse(item: bytes) -> Parts:
    """Split a well-formed item into its fields (test-side parser)."""
    assert item.startswith(MAGIC)
    pos = len(MAGIC)

    def field() -> bytes:
        nonlocal pos
        (n,) = U32.unpack_from(item, pos)
        pos += 4 + n
        return item[pos - n : pos]

    header = field()
    segments = []
    while segment := field():
        segments.append(segment)
    trailer = field()
    return Parts(header, segments, trailer, pos, item[pos:])


def frame(header: bytes, segments: list[bytes], trailer: bytes) -> bytes:
    """Frame fields as the format says, padded to padme (test-side writer)."""
    fields = [header, *segments, b"", trailer]
    body = MAGIC + b"".join(U32.pack(len(f)) + f for f in fields)
    return body + bytes(padme(len(body)) - len(body))


def canonical_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def retrailer(item: bytes, **changes: Any) -> bytes:
    """The same item with trailer fields replaced (None removes one)."""
    parts = parse(item)
    trailer = json.loads(parts.trailer)
    trailer.update(changes)
    trailer = {k: v for k, v in trailer.items() if v is not None}
    return frame(parts.header, parts.segments, canonical_json(trailer))


def stream_write(header: dict[str, Any], content: bytes, cuts: list[int], signer: Any) -> bytes:
    writer, bounds = EnvelopeWriter(header), [0, *sorted(cuts), len(content)]
    out = [writer.update(content[a:b]) for a, b in itertools.pairwise(bounds)]
    return b"".join([*out, *writer.finalize(signer)])


def stream_read(item: bytes, cuts: list[int]) -> tuple[Envelope, bytes]:
    reader, bounds = EnvelopeReader(), [0, *sorted(cuts), len(item)]
    out = [b"".join(reader.update(item[a:b])) for a, b in itertools.pairwise(bounds)]
    return reader.finalize(), b"".join(out)


def cuts_for(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(min_value=0, max_value=n), max_size=8)


HEADERS = st.dictionaries(
    st.text(max_size=12),
    st.one_of(st.text(max_size=30), st.integers(-(2**63), 2**63), st.booleans(), st.none()),
    max_size=5,
)
EDGES = [0, 1, MAX_SEGMENT - 1, MAX_SEGMENT, MAX_SEGMENT + 1, 2 * MAX_SEGMENT, 3 * MAX_SEGMENT]
SIZES = st.one_of(
    st.sampled_from(EDGES),
    st.integers(min_value=0, max_value=3 * MAX_SEGMENT),
    st.integers(min_value=0, max_value=300),
)


@settings(max_examples=40, deadline=None)
@given(SIZES, st.integers(0, 2**32), HEADERS, st.booleans(), st.data())
def test_streaming_round_trip(
    size: int, seed: int, header: dict[str, Any], signed: bool, data: st.DataObject
) -> None:
    content = random.Random(seed).randbytes(size)
    key = crypto.SigningKey.generate() if signed else None
    item = stream_write(header, content, data.draw(cuts_for(size)), key)
    parts = parse(item)
    assert all(0 < len(s) <= MAX_SEGMENT for s in parts.segments)
    assert b"".join(parts.segments) == content
    assert len(item) == padme(parts.unpadded) and not any(parts.padding)

    envelope, out = stream_read(item, data.draw(cuts_for(len(item))))
    assert out == content
    assert envelope.header == header
    assert envelope.length == size
    assert envelope.sha256 == hashlib.sha256(content).digest()
    assert envelope.signed is signed
    if key is None:
        assert envelope.signer is None
    else:
        assert envelope.signer is not None
        assert envelope.signer.public_bytes == key.verify_key.public_bytes


@pytest.mark.parametrize(
    ("size", "segments"),
    [
        (0, []),
        (1, [1]),
        (MAX_SEGMENT - 1, [MAX_SEGMENT - 1]),
        (MAX_SEGMENT, [MAX_SEGMENT]),
        (MAX_SEGMENT + 1, [MAX_SEGMENT, 1]),
        (3 * MAX_SEGMENT, [MAX_SEGMENT] * 3),
    ],
)
@pytest.mark.parametrize("signed", [False, True])
def test_seal_and_open_at_segment_boundaries(size: int, segments: list[int], signed: bool) -> None:
    content = os.urandom(size)
    key = crypto.SigningKey.generate() if signed else None
    item = seal_item(HEADER, content, key)
    parts = parse(item)
    assert [len(s) for s in parts.segments] == segments
    assert len(item) == padme(parts.unpadded)
    envelope, out = open_item(item)
    assert out == content
    assert envelope.header == HEADER
    assert "été-Ελλάδα-報告-🐟".encode() in parts.header  # UTF-8, not \u escapes
    assert envelope.signed is signed


def test_header_size_limit() -> None:
    filler = "x" * (MAX_HEADER - len(canonical_json({"f": ""})))
    envelope, _ = open_item(seal_item({"f": filler}, b""))
    assert envelope.header == {"f": filler}
    with pytest.raises(ValueError, match="too large"):
        EnvelopeWriter({"f": filler + "x"})


def test_signature_verifies_over_header_and_content_digest() -> None:
    key = crypto.SigningKey.generate()
    item = seal_item(HEADER, b"the report", key)
    parts = parse(item)
    trailer = json.loads(parts.trailer)
    assert base64.b64decode(trailer["key"]) == key.verify_key.public_bytes
    digest = hashlib.sha256(b"the report").digest()
    message = b"shoal-item/v1 signature\n" + U32.pack(len(parts.header)) + parts.header + digest
    key.verify_key.verify(base64.b64decode(trailer["signature"]), message)
    envelope, _ = open_item(item)
    assert envelope.signer == key.verify_key


@pytest.mark.parametrize("donor", ["another key", "another content", "another header"])
def test_spliced_signature_is_rejected(donor: str) -> None:
    alice, mallory = crypto.SigningKey.generate(), crypto.SigningKey.generate()
    item = seal_item(HEADER, b"the report", alice)
    other = {
        "another key": seal_item(HEADER, b"the report", mallory),
        "another content": seal_item(HEADER, b"the other report", alice),
        "another header": seal_item({**HEADER, "kind": "reply"}, b"the report", alice),
    }[donor]
    signature = json.loads(parse(other).trailer)["signature"]
    with pytest.raises(SignatureError):
        open_item(retrailer(item, signature=signature))


@pytest.mark.parametrize(
    "changes",
    [{"key": None}, {"signature": None}, {"key": "AAAA"}, {"key": 7}, {"signature": "%%%"}],
)
def test_half_a_signature_is_malformed(changes: dict[str, Any]) -> None:
    item = seal_item(HEADER, b"x", crypto.SigningKey.generate())
    with pytest.raises(EnvelopeError):
        open_item(retrailer(item, **changes))


def test_stripping_the_signature_leaves_a_valid_unsigned_item() -> None:
    # Expected, and the reason callers must look at Envelope.signer: the
    # trailer is outside the signature, so whoever can encrypt to the desk
    # can drop it and the item reads as an unsigned one (as from a web
    # contact). The desk must require a signature wherever it expects one.
    item = seal_item(HEADER, b"the report", crypto.SigningKey.generate())
    envelope, content = open_item(retrailer(item, key=None, signature=None))
    assert content == b"the report"
    assert not envelope.signed and envelope.signer is None


def test_unsigned_header_is_not_authenticated() -> None:
    # Without a signature nothing in the envelope covers the header: only the
    # age AEAD around it does, and anyone with the recipient can re-encrypt.
    for key in (None, crypto.SigningKey.generate()):
        item = seal_item({"kind": "note"}, b"x", key)
        forged = item.replace(b'"note"', b'"noTe"')
        if key is None:
            assert open_item(forged)[0].header == {"kind": "noTe"}
        else:
            with pytest.raises(SignatureError):
                open_item(forged)


def two_segment_item(key: crypto.SigningKey | None) -> bytes:
    item = stream_write(HEADER, b"first segment|second", [14], key)
    assert len(parse(item).segments) == 2 and parse(item).padding
    return item


@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80, 0xFF])
@pytest.mark.parametrize("signed", [False, True])
def test_every_flipped_byte_is_detected(mask: int, signed: bool) -> None:
    # Magic, lengths, header, content, trailer and padding; an unsigned
    # item's header JSON is left out (see test_unsigned_header_...).
    item = two_segment_item(crypto.SigningKey.generate() if signed else None)
    header_json = range(len(MAGIC) + 4, len(MAGIC) + 4 + len(parse(item).header))
    for i in range(len(item)):
        if signed or i not in header_json:
            tampered = bytearray(item)
            tampered[i] ^= mask
            with pytest.raises(REJECTED):
                open_item(bytes(tampered))


@pytest.mark.parametrize("signed", [False, True])
def test_trailer_must_be_exactly_what_the_writer_writes(signed: bool) -> None:
    # One encoding per item: nothing can hide in upper-case hex, spare base64
    # bits, JSON spacing, key order or extra fields.
    key = crypto.SigningKey.generate() if signed else None
    item = seal_item(HEADER, b"the report", key)
    parts = parse(item)
    trailer = json.loads(parts.trailer)
    variants = [
        canonical_json({**trailer, "sha256": trailer["sha256"].upper()}),
        canonical_json({**trailer, "length": 10.0}),
        canonical_json({**trailer, "extra": 1}),
        json.dumps(trailer).encode(),
        parts.trailer + b" ",
        b'{"length":10,' + parts.trailer[1:],
    ]
    if signed:
        # 64 bytes take 86 characters and "==": the last one has 4 spare bits.
        last = B64_ALPHABET[B64_ALPHABET.index(trailer["signature"][-3]) ^ 1]
        sig = trailer["signature"][:-3] + last + "=="
        assert base64.b64decode(sig) == base64.b64decode(trailer["signature"])
        variants.append(canonical_json({**trailer, "signature": sig}))
    for variant in variants:
        assert variant != parts.trailer
        with pytest.raises(EnvelopeError):
            open_item(frame(parts.header, parts.segments, variant))


def test_content_that_does_not_match_the_trailer_is_rejected() -> None:
    item = seal_item({"kind": "note"}, b"abc")
    parts = parse(item)
    for segments in ([b"abd"], [b"ab", b"c", b"d"], []):
        with pytest.raises(EnvelopeError, match="does not match"):
            open_item(frame(parts.header, segments, parts.trailer))


@pytest.mark.parametrize("signed", [False, True])
def test_truncation_anywhere_is_caught_at_finalize(signed: bool) -> None:
    item = two_segment_item(crypto.SigningKey.generate() if signed else None)
    for n in range(len(item)):
        reader = EnvelopeReader()
        reader.update(item[:n])  # a prefix looks fine so far
        with pytest.raises(EnvelopeError):
            reader.finalize()


def test_truncation_of_a_large_item_at_segment_boundaries() -> None:
    item = seal_item(HEADER, os.urandom(2 * MAX_SEGMENT + 5))
    start = len(MAGIC) + 4 + len(parse(item).header)
    for boundary in (start, start + 4 + MAX_SEGMENT, start + 8 + 2 * MAX_SEGMENT):
        for n in (boundary - 1, boundary, boundary + 1, boundary + 4):
            with pytest.raises(EnvelopeError):
                open_item(item[:n])


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 100, b"\x01", b"junk"])
def test_appended_bytes_are_rejected(extra: bytes) -> None:
    item = seal_item(HEADER, b"x", crypto.SigningKey.generate())
    with pytest.raises(EnvelopeError):
        open_item(item + extra)
    with pytest.raises(EnvelopeError):
        open_item(item + seal_item(HEADER, b"x"))


def test_padding_must_be_zeros_of_the_exact_length() -> None:
    item = two_segment_item(None)
    parts = parse(item)
    for i in range(parts.unpadded, len(item)):
        reader = EnvelopeReader()
        reader.update(item[:i])
        with pytest.raises(EnvelopeError, match="non-zero"):  # on arrival
            reader.update(b"\x01" + item[i + 1 :])
    body = item[: parts.unpadded]
    for padding in range(2 * len(parts.padding) + 2):
        if padding != len(parts.padding):
            with pytest.raises(EnvelopeError, match="padding"):
                open_item(body + bytes(padding))


def test_garbage_magic_fails_as_soon_as_the_magic_is_in() -> None:
    for i in range(len(MAGIC)):
        bad = bytearray(MAGIC)
        bad[i] ^= 0x01
        with pytest.raises(EnvelopeError, match="not a Shoal item"):
            EnvelopeReader().update(bytes(bad))
    for garbage in (b"age-encryption.org/v1\n", b"shoal-item/v2\n", b"\x00" * 14):
        with pytest.raises(EnvelopeError):
            EnvelopeReader().update(garbage)


def refused_at_once(prefix: bytes, field: int) -> None:
    """Feeding ``prefix`` then a u32 ``field`` fails at its last byte, allocating nothing."""
    reader = EnvelopeReader()
    data = prefix + U32.pack(field)
    reader.update(data[:-1])
    tracemalloc.start()
    try:
        with pytest.raises(EnvelopeError):
            reader.update(data[-1:])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * KIB
    assert len(reader._buffer) <= 4


HEAD = MAGIC + U32.pack(2) + b"{}"


@pytest.mark.parametrize(
    ("prefix", "lengths"),
    [
        (MAGIC, [0, MAX_HEADER + 1]),
        (HEAD, [MAX_SEGMENT + 1]),
        (HEAD + U32.pack(1) + b"x", [MAX_SEGMENT + 1]),
        (HEAD + U32.pack(0), [0, MAX_HEADER + 1]),
    ],
    ids=["header", "first segment", "next segment", "trailer"],
)
def test_bad_length_fields_are_refused_at_once(prefix: bytes, lengths: list[int]) -> None:
    for length in [*lengths, 2**31, 2**32 - 1]:
        refused_at_once(prefix, length)


def test_64_mib_streams_through_with_a_small_reader_buffer() -> None:
    piece = os.urandom(64 * KIB)
    expected = hashlib.sha256()
    writer, reader = EnvelopeWriter(HEADER), EnvelopeReader()
    pending = bytearray()
    largest = received = 0

    def feed(data: memoryview) -> None:
        nonlocal largest, received
        received += sum(len(out) for out in reader.update(data))
        largest = max(largest, len(reader._buffer))

    tracemalloc.start()
    try:
        for _ in range(1024):
            expected.update(piece)
            pending += writer.update(piece)
            while len(pending) >= 64 * KIB:
                feed(memoryview(bytes(pending[: 64 * KIB])))
                del pending[: 64 * KIB]
        _, streaming_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        # The padding (2 MiB of zeros at this size) comes in pieces too.
        feed(memoryview(bytes(pending)))
        for piece in writer.finalize(crypto.SigningKey.generate()):
            feed(memoryview(piece))
        envelope = reader.finalize()
        _, padding_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert largest < 64 * KIB
    assert largest <= 4  # a partial frame length at most: content is never buffered
    assert streaming_peak < 1024 * KIB
    assert padding_peak < 1024 * KIB
    assert received == envelope.length == 64 * 1024 * KIB
    assert envelope.sha256 == expected.digest()
    assert envelope.signed


@pytest.mark.parametrize("where", ["header", "trailer"])
def test_a_lone_surrogate_escape_is_malformed_not_a_crash(where: str) -> None:
    # JSON may escape a surrogate that no UTF-8 text can hold; a hostile
    # server writing one must get EnvelopeError, never UnicodeEncodeError.
    parts = parse(seal_item({"kind": "message"}, b"text"))
    bad = b'{"kind":"\\ud800"}'
    item = (
        frame(bad, parts.segments, parts.trailer)
        if where == "header"
        else frame(parts.header, parts.segments, bad[:-1] + b',"x":1}')
    )
    with pytest.raises(EnvelopeError):
        open_item(item)
