"""What a recipient and an identity are to the age format, and parsing them.

A recipient wraps a file key into stanzas; an identity unwraps one from the
header's stanzas. Identities return ``None`` when no stanza is addressed to
them, and raise :class:`HeaderError` when a stanza of their own type is
malformed (the spec's MUSTs), so a malformed file never reads as "not mine".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, Self

from . import _bech32
from ._header import Stanza
from .errors import KeyFormatError


class Recipient(Protocol):
    """Something a file can be encrypted to."""

    #: The recipient type (the stanza's first argument). Files never mix
    #: "mlkem768x25519" with "X25519", and "scrypt" stands alone.
    stanza_type: str

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


class Identity(Protocol):
    """Something that may decrypt a file."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


class PublicKeyRecipient:
    """What the public-key recipient types share: their Bech32 text form
    (lowercase, under ``HRP``) and equality by key bytes. Subclasses check
    and load the key in ``__init__`` and set ``_bytes``."""

    HRP: ClassVar[str]
    _bytes: bytes

    def __init__(self, public_bytes: bytes) -> None:
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    @classmethod
    def parse(cls, text: str) -> Self:
        hrp, data = _bech32.decode(text)
        if hrp != cls.HRP or text != text.lower():
            raise KeyFormatError(f"not an {cls.HRP}1… recipient")
        return cls(data)

    @property
    def public_bytes(self) -> bytes:
        return self._bytes

    def __str__(self) -> str:
        return _bech32.encode(self.HRP, self._bytes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)[:24]!r}…)"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._bytes == self._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)
