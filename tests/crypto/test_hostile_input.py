"""Input shaped to make the parser do too much work or hold too much memory."""

from __future__ import annotations

import pytest

from shoal import crypto
from shoal.crypto import errors
from shoal.crypto._age import Decryption
from shoal.crypto._header import MAX_HEADER_SIZE

STANZA_START = b"age-encryption.org/v1\n-> X25519 abc\n"
BODY_LINE = b"A" * 64 + b"\n"


@pytest.mark.timeout(30)
def test_a_near_maximal_header_fed_in_tiny_pieces_is_parsed_in_linear_time() -> None:
    # Rescanning the whole buffer on every piece would make this ~10^11
    # byte comparisons (minutes); the incremental search makes it instant.
    data = STANZA_START + BODY_LINE * ((MAX_HEADER_SIZE - 200) // len(BODY_LINE))
    dec = Decryption([crypto.generate_identity()])
    for i in range(0, len(data), 3):
        assert dec.update(data[i : i + 3]) == []
    with pytest.raises(errors.HeaderError):
        dec.finalize()


def test_a_header_that_never_ends_is_refused_at_the_bound() -> None:
    dec = Decryption([crypto.generate_identity()])
    with pytest.raises(errors.HeaderError, match="too large"):
        for _ in range(MAX_HEADER_SIZE // len(BODY_LINE) + 2):
            dec.update(BODY_LINE if _ else STANZA_START)


def test_binary_garbage_fails_at_the_first_byte() -> None:
    dec = Decryption([crypto.generate_identity()])
    with pytest.raises(errors.HeaderError, match="not an age file"):
        dec.update(b"\x00")


def test_endless_whitespace_after_armor_is_not_buffered() -> None:
    identity = crypto.generate_identity()
    armored = crypto.encrypt(b"hi", [identity.recipient()], armor=True)
    dec = Decryption([identity], armor=True)
    out = dec.update(armored)
    for _ in range(1000):
        out += dec.update(b" " * 4096)
    assert b"".join([*out, *dec.finalize()]) == b"hi"
    assert dec._armor is not None and len(dec._armor._buffer) == 0
