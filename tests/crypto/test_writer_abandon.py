"""An abandoned writer must never seal its stream.

io's finalizer closes file objects; for EncryptWriter that would write the
final chunk of a stream its caller gave up on, so a cut-short file would
decrypt "successfully" as a shorter plaintext.
"""

from __future__ import annotations

import gc
import io

import pytest

from shoal import crypto


def test_a_writer_dropped_without_close_leaves_an_undecryptable_stream() -> None:
    identity = crypto.generate_identity()
    sink = io.BytesIO()
    writer = crypto.encrypt_writer(sink, [identity.recipient()])
    writer.write(b"x" * 100_000)
    del writer
    gc.collect()
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sink.getvalue(), [identity])


def test_an_explicit_close_seals_it() -> None:
    identity = crypto.generate_identity()
    sink = io.BytesIO()
    writer = crypto.encrypt_writer(sink, [identity.recipient()])
    writer.write(b"x" * 100_000)
    writer.close()
    assert crypto.decrypt(sink.getvalue(), [identity]) == b"x" * 100_000
