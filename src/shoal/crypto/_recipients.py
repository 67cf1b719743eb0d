"""What a recipient and an identity are to the age format, and parsing them.

A recipient wraps a file key into stanzas; an identity unwraps one from the
header's stanzas. Identities return ``None`` when no stanza is addressed to
them, and raise :class:`HeaderError` when a stanza of their own type is
malformed (the spec's MUSTs), so a malformed file never reads as "not mine".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._header import Stanza


class Recipient(Protocol):
    """Something a file can be encrypted to."""

    #: The recipient type (the stanza's first argument). Files never mix
    #: "mlkem768x25519" with "X25519", and "scrypt" stands alone.
    stanza_type: str

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


class Identity(Protocol):
    """Something that may decrypt a file."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...
