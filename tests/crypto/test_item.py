"""Items: envelope inside age, sealed and opened in one streaming pass."""

from __future__ import annotations

import os

import pytest

from shoal import crypto
from shoal.crypto import _envelope
from shoal.crypto._envelope import MAGIC


@pytest.mark.parametrize("key_type", list(crypto.KeyType))
@pytest.mark.parametrize("size", [0, 1, 65536, 3 * 65536 + 7])
def test_streamed_round_trip_is_padded_and_standard_age(
    key_type: crypto.KeyType, size: int
) -> None:
    handler = crypto.generate_identity(key_type)
    content = os.urandom(size)
    sealer = crypto.ItemSealer([handler.recipient()], {"kind": "file", "name": "a.jpg"})
    pieces = [content[i : i + 1000] for i in range(0, size, 1000)]
    ciphertext = b"".join(
        [out for piece in pieces for out in sealer.update(piece)] + list(sealer.finalize())
    )
    # Standard age underneath: any age tool gets the padded envelope.
    plain = crypto.decrypt(ciphertext, [handler])
    assert plain.startswith(MAGIC) and len(plain) == crypto.padme(len(plain))
    opener = crypto.ItemOpener([handler])
    got = [
        out
        for i in range(0, len(ciphertext), 4097)
        for out in opener.update(ciphertext[i : i + 4097])
    ]
    rest, envelope = opener.finalize()
    assert b"".join(got + rest) == content
    assert envelope.header == {"kind": "file", "name": "a.jpg"}
    assert not envelope.signed


def test_signed_item_names_its_signer() -> None:
    handler, key = crypto.generate_identity(), crypto.SigningKey.generate()
    sealed = crypto.encrypt_item([handler.recipient()], {"kind": "reply"}, b"hi", key)
    envelope, content = crypto.decrypt_item(sealed, [handler])
    assert content == b"hi"
    assert envelope.signer == key.verify_key


def test_a_cut_item_does_not_open() -> None:
    handler = crypto.generate_identity()
    sealed = crypto.encrypt_item([handler.recipient()], {"kind": "message"}, b"x" * 100_000)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_item(sealed[:-1], [handler])


def test_plain_age_content_is_not_an_item() -> None:
    handler = crypto.generate_identity()
    with pytest.raises(crypto.EnvelopeError):
        crypto.decrypt_item(crypto.encrypt(b"not framed", [handler.recipient()]), [handler])


def test_padding_hides_the_exact_size() -> None:
    handler = crypto.generate_identity()
    sizes = {
        len(crypto.encrypt_item([handler.recipient()], {"kind": "message"}, b"x" * n))
        for n in range(40_000, 41_000)
    }
    assert len(sizes) <= 2


@pytest.mark.parametrize(
    "header",
    [b'{"kind":"file","kind":"report"}', b'{"kind": "report"}', b'{"b":1,"a":2}'],
)
def test_a_header_in_another_spelling_is_refused(header: bytes) -> None:
    # One meaning, one encoding: the signature covers the header's bytes,
    # so a reader must not accept other bytes that read the same.
    writer = _envelope.EnvelopeWriter({"kind": "report"})
    writer._header = header
    writer._prefix = _envelope.MAGIC + _envelope._U32.pack(len(header)) + header
    data = writer.update(b"x") + b"".join(writer.finalize())
    with pytest.raises(crypto.EnvelopeError, match="canonical"):
        _envelope.open_item(data)
