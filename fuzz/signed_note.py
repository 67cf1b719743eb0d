"""Fuzz signed-note parsing (``shoal.crypto._note``): notes and verifier keys.

Contract checked on every input:

* ``open_note`` with a trusted key, given the input as bytes or as text,
  returns the verified note or raises ``NoteFormatError`` or
  ``SignatureError``, the same either way (and never returns a note that
  key did not sign: the text it returns, signed again by the same key,
  gives the same signature line as the one in the input);
* ``NoteVerifier.parse`` of the input as text returns a key or raises
  ``KeyFormatError``; a key it accepts prints back as the input, stripped.

Seeds: notes signed by the harness's fixed key (a fuzzer cannot forge
Ed25519, so mutations of them exercise the refusal of a known key's bad
signature), the C2SP spec's example, and verifier keys.
"""

from __future__ import annotations

import hashlib

import atheris

from _harness import main

with atheris.instrument_imports(include=["shoal.crypto"]):
    from shoal import crypto
    from shoal.crypto.errors import KeyFormatError, NoteFormatError, SignatureError

#: A fixed key, so the committed seeds verify (it signs nothing real).
SIGNER = crypto.NoteSigner(
    "fuzz.example/note", crypto.SigningKey(hashlib.sha256(b"shoal fuzz note key").digest())
)


def opened(note: str | bytes) -> crypto.Note | None:
    try:
        return crypto.open_note(note, [SIGNER.verifier])
    except (NoteFormatError, SignatureError):
        return None


def check_note(data: bytes) -> None:
    note = opened(data)
    # As text (undecodable bytes kept as lone surrogates, as Python reads a
    # command line or a file with "surrogateescape"), the same verdict.
    assert opened(data.decode("utf-8", "surrogateescape")) == note
    if note is None:
        return
    assert note.signed_by == (SIGNER.name,)
    # Ed25519 signatures are deterministic: the trusted line is in the input.
    assert SIGNER.signature_line(note.text).encode() in data
    assert data.startswith(note.text.encode() + b"\n")


def check_verifier_key(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    try:
        verifier = crypto.NoteVerifier.parse(text)
    except KeyFormatError:
        return
    assert str(verifier) == text.strip()


def test_one_input(data: bytes) -> None:
    check_note(data)
    check_verifier_key(data)


if __name__ == "__main__":
    main("signed_note", test_one_input)
