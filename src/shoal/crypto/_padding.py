"""PADMÉ padding: ciphertext sizes that say little about what was sent.

Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
Communication with PURBs", PETS 2019) rounds a length L up so that only the
top ~log2(log2 L) + 1 bits may be non-zero. The overhead is at most 12 % and
falls as files grow, and a length leaks O(log log L) bits instead of log L.
Everything Shoal stores is padded this way before encryption.
"""

from __future__ import annotations


def padme(length: int) -> int:
    """The padded size for ``length`` bytes (identity below 2 bytes)."""
    if length < 0:
        raise ValueError("length must be non-negative")
    if length < 2:
        return length
    e = length.bit_length() - 1  # floor(log2 L)
    s = e.bit_length()  # floor(log2 e) + 1
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask
