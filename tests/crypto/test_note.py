"""C2SP signed notes: the spec's example, and every rejection rule."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.crypto import SigningKey, errors
from shoal.crypto._note import (
    MAX_SIGNATURES,
    NoteSigner,
    NoteVerifier,
    open_note,
    sign_note,
)

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZ"
    "XsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def signer(name: str = "shoal.example/command") -> NoteSigner:
    return NoteSigner(name, SigningKey.generate())


def test_spec_example_verifies() -> None:
    verifier = NoteVerifier.parse(SPEC_VKEY)
    note = open_note(SPEC_NOTE, [verifier])
    assert note.text == "This is an example message.\n"
    assert note.signed_by == ("example.com/foo",)
    assert str(verifier) == SPEC_VKEY


def test_spec_example_with_one_changed_letter_is_rejected() -> None:
    verifier = NoteVerifier.parse(SPEC_VKEY)
    with pytest.raises(errors.SignatureError):
        open_note(SPEC_NOTE.replace("example message", "example massage"), [verifier])


def test_round_trip_with_two_signers_and_blank_lines_in_text() -> None:
    a, b = signer("a.example/k"), signer("b.example/k")
    text = "epoch 3\n\nrecipient age1pq1xyz\n"
    note = sign_note(text, [a, b])
    opened = open_note(note, [a.verifier, b.verifier])
    assert opened.text == text
    assert opened.signed_by == ("a.example/k", "b.example/k")


def test_unknown_signatures_are_ignored_but_one_known_is_needed() -> None:
    known, stranger = signer("k.example/a"), signer("k.example/b")
    note = sign_note("hello\n", [stranger, known])
    assert open_note(note, [known.verifier]).signed_by == ("k.example/a",)
    with pytest.raises(errors.SignatureError, match="not signed by any trusted key"):
        open_note(sign_note("hello\n", [stranger]), [known.verifier])


def test_same_name_other_key_is_not_trusted() -> None:
    real, impostor = signer("org.example/command"), signer("org.example/command")
    with pytest.raises(errors.SignatureError):
        open_note(sign_note("hi\n", [impostor]), [real.verifier])


def test_known_key_with_bad_signature_rejects_the_whole_note() -> None:
    a, b = signer("a.example/k"), signer("b.example/k")
    good = sign_note("text\n", [b])
    # a's key id spliced onto a signature of other text: a known key whose
    # signature fails rejects the note, even though b's signature is good.
    raw = base64.b64decode(a.signature_line("other text\n").split(" ")[2])
    note = good + f"\u2014 a.example/k {base64.b64encode(raw).decode()}\n"
    with pytest.raises(errors.SignatureError):
        open_note(note, [a.verifier, b.verifier])


def test_one_signature_one_spelling() -> None:
    s = signer("a.example/k")
    note = sign_note("text\n", [s])
    line = note.split("\n")[2]
    encoded = line.split(" ")[2]
    # Flip a spare low bit of the last base64 character (before "=").
    last = encoded[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tweaked = encoded[:-2] + alphabet[alphabet.index(last) ^ 1] + encoded[-1]
    assert base64.b64decode(tweaked) == base64.b64decode(encoded)
    with pytest.raises(errors.NoteFormatError):
        open_note(note.replace(encoded, tweaked), [s.verifier])
    with pytest.raises(errors.NoteFormatError, match="twice"):
        open_note(note + line + "\n", [s.verifier])


@pytest.mark.parametrize(
    "note",
    [
        "no signatures\n",
        "text\n\n",
        "text\n\n\u2014 name\n",
        "text\n\n\u2014 name not-base64!\n",
        "text\n\n\u2014 name QUJD\n",  # shorter than a key id and one byte
        "text\n\n- name QUJDREVG\n",
        "text\n\n\u2014 name QUJDREVG",  # no final newline
        "te\x07xt\n\n\u2014 name QUJDREVG\n",
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(errors.NoteFormatError):
        open_note(note, [signer().verifier])


def test_invalid_utf8_and_oversized_notes_are_refused() -> None:
    with pytest.raises(errors.NoteFormatError):
        open_note(b"\xff\xfe\n\n", [signer().verifier])
    with pytest.raises(errors.NoteFormatError):
        open_note(b"a" * (2 << 20), [signer().verifier])


def test_too_many_signatures_are_refused() -> None:
    s = signer()
    line = s.signature_line("x\n")
    with pytest.raises(errors.NoteFormatError):
        open_note("x\n\n" + line * (MAX_SIGNATURES + 1), [s.verifier])


def test_text_must_end_with_newline_and_have_no_controls() -> None:
    with pytest.raises(errors.NoteFormatError):
        sign_note("no newline", [signer()])
    with pytest.raises(errors.NoteFormatError):
        sign_note("tab\there\n", [signer()])


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "name+530d903a",
        "name+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+00000000+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AmkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+!!!",
        "bad name+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(errors.KeyFormatError):
        NoteVerifier.parse(vkey)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
            max_size=40,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_text_round_trips(lines: list[str]) -> None:
    s = signer()
    text = "\n".join(lines) + "\n"
    assert open_note(sign_note(text, [s]), [s.verifier]).text == text


def test_verifier_keys_whose_base64_contains_plus_round_trip() -> None:
    # "+" separates the three parts, but base64 uses it too: about one key
    # in three has one, so this finds one quickly.
    while "+" not in str(verifier := signer().verifier).split("+", 2)[2]:
        pass
    assert NoteVerifier.parse(str(verifier)) == verifier
