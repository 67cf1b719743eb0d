"""Fuzz C2SP checkpoint parsing (``shoal.org._tlog``).

Contract checked on every input:

* ``Checkpoint.parse`` of the input as text returns a checkpoint or raises
  ``CheckpointError``; one it accepts prints back as exactly the input
  (one spelling per checkpoint, so two bodies never carry one head);
* ``open_checkpoint`` of the input as a signed note, with the log's fixed
  key, returns a checkpoint of the expected origin or raises one of the
  documented errors (``NoteFormatError``, ``SignatureError``,
  ``CheckpointError``); one it accepts is what the key signed.

Seeds: checkpoints of a few log sizes, as bodies and as signed notes.
"""

from __future__ import annotations

import hashlib

import atheris

from _harness import main

with atheris.instrument_imports(include=["shoal.org._tlog", "shoal.crypto"]):
    from shoal import crypto
    from shoal.crypto.errors import NoteFormatError, SignatureError
    from shoal.org._tlog import Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint

ORIGIN = "fuzz.example/log"
#: A fixed key, so the committed seeds verify (it signs nothing real).
SIGNER = crypto.NoteSigner(ORIGIN, crypto.SigningKey(hashlib.sha256(b"shoal fuzz log").digest()))


def check_body(text: str) -> None:
    try:
        checkpoint = Checkpoint.parse(text)
    except CheckpointError:
        return
    assert checkpoint.body() == text


def check_note(data: bytes) -> None:
    try:
        checkpoint = open_checkpoint(data, SIGNER.verifier, ORIGIN)
    except (NoteFormatError, SignatureError, CheckpointError):
        return
    assert checkpoint.origin == ORIGIN
    assert data.startswith(checkpoint.body().encode() + b"\n")
    signed = sign_checkpoint(checkpoint, SIGNER).encode()
    assert signed[len(checkpoint.body()) + 1 :] in data


def test_one_input(data: bytes) -> None:
    check_body(data.decode("utf-8", "surrogateescape"))
    check_note(data)


if __name__ == "__main__":
    main("checkpoint", test_one_input)
