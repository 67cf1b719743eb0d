"""Hypothesis on the parsers that had only example or round-trip tests:
any input is parsed or refused with the parser's own error, and what is
accepted has one spelling (printing it back gives the input).

* ASCII armor: any text near the format decodes or raises ``ArmorError``;
  accepted armor is exactly what the encoder writes (CRLF aside).
* Header base64: canonical, unpadded, or ``HeaderError``.
* Multipart: any parts written as a browser writes them come back the same
  however the body is cut; any body is events or ``BadRequestError``.
* Checkpoints: a body is parsed or ``CheckpointError``; accepted bodies
  print back exactly.
* Note verifier keys and notes as text: ``KeyFormatError`` /
  ``NoteFormatError`` for anything malformed, including text that is not
  ASCII or holds lone surrogates (both once escaped as ``ValueError`` and
  ``UnicodeEncodeError``: found by fuzz/signed_note.py; these tests fail on
  the code before the fix).
* Organization, command and epoch records: a damaged record is refused
  with ``NoteContentError``, or is the record it prints back as.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from _multipart_events import joined
from shoal import crypto, org
from shoal.crypto import _base64
from shoal.crypto._armor import BEGIN_LINE, END_LINE, ArmorDecoder, ArmorEncoder
from shoal.crypto.errors import (
    ArmorError,
    HeaderError,
    KeyFormatError,
    NoteFormatError,
)
from shoal.org import _tlog
from shoal.org.errors import NoteContentError
from shoal.server._multipart import PART_END, MultipartEvents, PartStart
from shoal.server.errors import BadRequestError

# -- armor ---------------------------------------------------------------


def decode_armor(pieces: list[bytes]) -> bytes | None:
    decoder = ArmorDecoder()
    try:
        return b"".join(decoder.update(p) for p in pieces) + decoder.finalize()
    except ArmorError:
        return None


def armor(data: bytes) -> bytes:
    encoder = ArmorEncoder()
    return encoder.update(data) + encoder.finalize()


# Lines an armored file is made of, and the ways they go wrong.
armor_lines = st.one_of(
    st.sampled_from([BEGIN_LINE, END_LINE, b"", b" ", b"\r", b"====", b"QQ==", b"QUI=", b"QUJD"]),
    st.binary(max_size=80).map(lambda b: base64.b64encode(b)[:64]),
    st.text("ABCxyz019+/= \t", max_size=70).map(str.encode),
)
armor_texts = st.lists(armor_lines, max_size=8).flatmap(
    lambda lines: st.sampled_from([b"\n", b"\r\n"]).map(lambda nl: nl.join(lines))
)


@given(st.one_of(armor_texts, st.binary(max_size=200)), st.integers(0, 300))
def test_armor_is_decoded_only_in_its_one_spelling(text: bytes, cut: int) -> None:
    decoded = decode_armor([text])
    assert decode_armor([text[:cut], text[cut:]]) == decoded
    if decoded is not None:
        begin = text.index(BEGIN_LINE)
        block = text[begin : text.index(END_LINE, begin) + len(END_LINE)]
        assert armor(decoded) == block.replace(b"\r\n", b"\n") + b"\n"


@given(st.binary(max_size=200), st.lists(st.integers(0, 400), max_size=3))
def test_armored_bytes_with_whitespace_around_decode_however_cut(
    data: bytes, cuts: list[int]
) -> None:
    text = b" \n\t\r\n" + armor(data).replace(b"\n", b"\r\n") + b"\n \n"
    points = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    assert decode_armor([text[a:b] for a, b in itertools.pairwise(points)]) == data


# -- header base64 -------------------------------------------------------------


@given(st.one_of(st.binary(max_size=60), st.text("AQgw+/=-", max_size=12).map(str.encode)))
def test_header_base64_is_canonical_or_refused(text: bytes) -> None:
    try:
        data = _base64.decode(text)
    except HeaderError:
        return
    assert _base64.encode(data) == text


# -- multipart ----------------------------------------------------------------

BOUNDARY = b"----shoal-boundary-7MA4YWxkTrZu0gW"
plain_names = st.text("abcxyz_019", min_size=1, max_size=12)
plain_text = st.text("abc XYZ._-019", max_size=12)
parts = st.lists(
    st.tuples(
        plain_names,
        st.one_of(st.none(), plain_text),
        st.one_of(st.none(), st.sampled_from(["text/plain", "image/jpeg", "a/b"])),
        st.one_of(st.binary(max_size=300), st.just(b"\r\n--" + BOUNDARY[:-1])),
    ),
    max_size=4,
)


def multipart_events(body: bytes, size: int) -> list[object] | None:
    events = MultipartEvents(BOUNDARY, max_header=4096, max_headers=8)
    try:
        found = [e for i in range(0, len(body), size) for e in events.feed(body[i : i + size])]
        events.finish()
    except BadRequestError:
        return None
    return found


@given(parts, st.integers(1, 100))
def test_written_parts_come_back_however_the_body_is_cut(
    written: list[tuple[str, str | None, str | None, bytes]], size: int
) -> None:
    body = b""
    expected: list[object] = []
    for name, filename, content_type, content in written:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n"
        if content_type is not None:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + content + b"\r\n"
        expected += [PartStart(name, filename, content_type), *([content] if content else [])]
        expected.append(PART_END)
    body += b"--" + BOUNDARY + b"--\r\n"
    events = multipart_events(body, size)
    assert events is not None
    assert joined(events) == expected


@given(st.binary(max_size=400), st.integers(1, 50))
def test_any_body_is_events_or_a_400_whatever_the_cutting(body: bytes, size: int) -> None:
    body = b"--" + BOUNDARY + body
    whole = multipart_events(body, len(body))
    cut = multipart_events(body, size)
    assert (whole is None) == (cut is None)
    if whole is not None and cut is not None:
        assert joined(whole) == joined(cut)


# -- checkpoints ---------------------------------------------------------------

ORIGIN = "example.org/log"


@st.composite
def checkpoint_bodies(draw: st.DrawFn) -> str:
    size = draw(st.integers(0, 2**64))
    root = _tlog.EMPTY_ROOT if size == 0 else draw(st.binary(min_size=32, max_size=32))
    lines = [
        draw(st.sampled_from([ORIGIN, "", "a b", "a+b", "x\x7f"])),
        draw(st.sampled_from([str(size), f"0{size}", f"+{size}", f"{size} "])),
        draw(
            st.sampled_from([base64.b64encode(root).decode(), base64.b64encode(root)[:-1].decode()])
        ),
        *draw(st.lists(st.text(max_size=10), max_size=2)),
    ]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@given(st.one_of(checkpoint_bodies(), st.text(max_size=120)))
def test_a_checkpoint_body_is_parsed_in_its_one_spelling_or_refused(body: str) -> None:
    try:
        checkpoint = _tlog.Checkpoint.parse(body)
    except _tlog.CheckpointError:
        return
    assert checkpoint.body() == body


# -- note keys and notes as text --------------------------------------------------

SIGNER = crypto.NoteSigner("example.org/key", crypto.SigningKey(hashlib.sha256(b"k").digest()))
KEY = str(SIGNER.verifier)


@example(len(KEY), "=", 0)  # stray padding: found by fuzz/signed_note.py, once accepted
@given(st.integers(0, len(KEY)), st.text(max_size=4), st.integers(0, 4))
def test_a_damaged_verifier_key_is_refused_as_a_key_error(at: int, insert: str, cut: int) -> None:
    text = KEY[:at] + insert + KEY[at + cut :]
    try:
        verifier = crypto.NoteVerifier.parse(text)
    except KeyFormatError:
        return
    assert str(verifier) == text.strip()


@given(st.text(max_size=40), st.sampled_from(["\ud800", "\udc84"]))
def test_a_note_with_a_lone_surrogate_is_a_note_format_error(text: str, surrogate: str) -> None:
    note = crypto.sign_note("text\n", [SIGNER])
    for damaged in (text + surrogate + note, note + surrogate, note.replace("t", surrogate, 1)):
        with pytest.raises(NoteFormatError):
            crypto.open_note(damaged, [SIGNER.verifier])


# -- records --------------------------------------------------------------------

ORG_ID = org.new_id()
SALT = bytes(range(16))


def records() -> list[tuple[type, str]]:
    keys = crypto.generate_identity(crypto.KeyType.X25519)
    command = crypto.NoteSigner(org.command_key_name(ORG_ID, 1), crypto.SigningKey(bytes(32)))
    handler = crypto.SigningKey(bytes(range(32))).verify_key
    epoch = org.Epoch(
        org_id=ORG_ID,
        compartment_id=org.new_id(),
        door="north",
        number=1,
        expires=datetime(2030, 1, 1, tzinfo=UTC),
        handlers=(org.HandlerEntry(org.handler_id_for(handler), keys.recipient(), handler),),
        command=keys.recipient(),
    )
    return [
        (org.Epoch, epoch.record()),
        (org.Organization, org.Organization(ORG_ID, crypto.KeyType.X25519, SALT).record()),
        (
            org.CommandCertificate,
            org.CommandCertificate(ORG_ID, 1, command.verifier, keys.recipient()).record(),
        ),
    ]


RECORDS = records()


@given(st.sampled_from(RECORDS), st.data())
def test_a_damaged_record_is_refused_or_is_itself(
    kind_and_text: tuple[type, str], data: st.DataObject
) -> None:
    kind, text = kind_and_text
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 6))
    insert = data.draw(st.one_of(st.text(max_size=4), st.sampled_from(["\n", " ", "\ud800", "+"])))
    damaged = text[:at] + insert + text[at + cut :]
    try:
        parsed = kind.from_record(damaged)
    except NoteContentError:
        return
    assert parsed.record() == damaged


def test_base64_in_records_has_one_spelling() -> None:
    # Found by the property above: the decoder took stray padding (and low
    # bits), so two texts read as one record.
    for kind, text in RECORDS[:2]:
        for value in (text.split(" ")[-1].strip() for text in text.splitlines()[1:]):
            if value.endswith("="):
                assert kind.from_record(text)
                # Padding after a whole quantum; low bits the value lacks.
                low_bit = value[:-3] + chr(ord(value[-3]) + 1) + value[-2:]
                for odd in ("0000" + value[2:], low_bit):
                    with pytest.raises(NoteContentError):
                        kind.from_record(text.replace(value, odd))
