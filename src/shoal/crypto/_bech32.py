"""Bech32 (BIP 173) without the 90-character limit, as the age spec requires.

Written here rather than taken from the PyPI ``bech32`` package because that
reference implementation enforces BIP 173's 90-character limit, and age's
post-quantum recipients (``age1pq1…``) are about 1,960 characters long.
Only the checksum (not Bech32m) is used by age.
"""

from __future__ import annotations

from .errors import KeyFormatError

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATORS):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or (acc << (to_bits - bits)) & maxv:
        # Leftover bits must be fewer than a whole input group and all zero:
        # otherwise two strings would decode to the same key.
        raise KeyFormatError("invalid padding in Bech32 data")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under the lowercase human-readable part ``hrp``."""
    hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, pad=True)
    checksum_in = _hrp_expand(hrp) + values + [0] * 6
    polymod = _polymod(checksum_in) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """Return ``(hrp, data)``; the hrp comes back lowercase.

    Raises :class:`KeyFormatError` on mixed case, a bad character or a bad
    checksum. The caller compares the hrp with the one it expects.
    """
    if text.lower() != text and text.upper() != text:
        raise KeyFormatError("Bech32 string mixes upper and lower case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise KeyFormatError("malformed Bech32 string")
    hrp, rest = text[:pos], text[pos + 1 :]
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise KeyFormatError("invalid character in Bech32 prefix")
    try:
        values = [_CHARSET_REV[c] for c in rest]
    except KeyError:
        raise KeyFormatError("invalid character in Bech32 data") from None
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise KeyFormatError("bad Bech32 checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))
