"""Items: an envelope (``_envelope.py``) inside an age file, streamed.

:class:`ItemSealer` frames, pads and encrypts in one pass; :class:`ItemOpener`
decrypts, unframes and checks in one pass. The server seals what contacts
send, the desk seals replies (signed) and opens everything; neither ever
holds a whole file in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ._age import Buffer, Decryption, Encryption
from ._envelope import Envelope, EnvelopeReader, EnvelopeWriter
from ._recipients import Identity, Recipient
from ._signing import SigningKey


class ItemSealer:
    """Plaintext in, age ciphertext of the framed and padded item out."""

    def __init__(self, recipients: Sequence[Recipient], header: Mapping[str, Any]) -> None:
        self._envelope = EnvelopeWriter(header)
        self._age = Encryption(recipients)

    def update(self, data: Buffer) -> list[bytes]:
        return self._age.update(self._envelope.update(data))

    def finalize(self, signer: SigningKey | None = None) -> Iterator[bytes]:
        """The rest of the ciphertext, yielded piece by piece (padding can be
        megabytes: it is never held whole)."""
        for piece in self._envelope.finalize(signer):
            yield from self._age.update(piece)
        yield from self._age.finalize()


class ItemOpener:
    """Age ciphertext in, content out; :meth:`finalize` returns the envelope.

    Content is unconfirmed until :meth:`finalize` returned: only then are
    the last chunk, the digest, the padding and any signature checked.
    """

    def __init__(self, identities: Sequence[Identity]) -> None:
        self._age = Decryption(identities)
        self._envelope = EnvelopeReader()

    def update(self, data: Buffer) -> list[bytes]:
        out: list[bytes] = []
        for plain in self._age.update(data):
            out += self._envelope.update(plain)
        return out

    def finalize(self) -> tuple[list[bytes], Envelope]:
        out: list[bytes] = []
        for plain in self._age.finalize():
            out += self._envelope.update(plain)
        return out, self._envelope.finalize()


def encrypt_item(
    recipients: Sequence[Recipient],
    header: Mapping[str, Any],
    content: Buffer,
    signer: SigningKey | None = None,
) -> bytes:
    """A whole item from content held in memory (messages, replies)."""
    sealer = ItemSealer(recipients, header)
    return b"".join([*sealer.update(content), *sealer.finalize(signer)])


def decrypt_item(ciphertext: Buffer, identities: Sequence[Identity]) -> tuple[Envelope, bytes]:
    """Open a whole item held in memory; returns (envelope, content)."""
    opener = ItemOpener(identities)
    content = opener.update(ciphertext)
    rest, envelope = opener.finalize()
    return envelope, b"".join(content + rest)
