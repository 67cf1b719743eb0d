"""Canonical, unpadded base64 as age's header uses it.

The spec (\"Conventions\") requires encoders to write canonical base64 with no
``=`` padding and decoders to reject anything else: otherwise two different
headers could carry the same stanza, and the header MAC would not pin it.
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import HeaderError

_B64_CHARS = re.compile(rb"\A[A-Za-z0-9+/]*\Z")


def encode(data: bytes) -> bytes:
    """Unpadded standard base64."""
    return base64.b64encode(data).rstrip(b"=")


def decode(text: bytes, *, length: int | None = None) -> bytes:
    """Decode canonical unpadded base64; with ``length``, insist on that size.

    Raises :class:`HeaderError`: every caller is parsing a header.
    """
    if not _B64_CHARS.match(text) or len(text) % 4 == 1:
        raise HeaderError("invalid base64 in header")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise HeaderError("invalid base64 in header") from None
    # Non-canonical encodings set bits in the last character that decoding
    # drops; re-encoding shows them.
    if encode(data) != text:
        raise HeaderError("non-canonical base64 in header")
    if length is not None and len(data) != length:
        raise HeaderError("wrong length for a base64 value in header")
    return data
