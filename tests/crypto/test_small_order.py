"""The small-order list in ``_hybrid`` agrees with X25519 itself."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.crypto._hybrid import _SMALL_ORDER_POINTS, is_small_order


def exchange_is_zero(share: bytes) -> bool:
    key = x25519.X25519PrivateKey.from_private_bytes(os.urandom(32))
    try:
        key.exchange(x25519.X25519PublicKey.from_public_bytes(share))
    except ValueError:  # pyca refuses an all-zero shared secret
        return True
    return False


@pytest.mark.parametrize("point", sorted(_SMALL_ORDER_POINTS), ids=lambda p: p.hex()[:8])
@pytest.mark.parametrize("top_bit", [0, 0x80])
def test_every_listed_point_gives_zero_with_either_top_bit(point: bytes, top_bit: int) -> None:
    share = point[:31] + bytes([point[31] | top_bit])
    assert is_small_order(share)
    assert exchange_is_zero(share)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_any_other_share_gives_a_nonzero_secret(share: bytes) -> None:
    assert is_small_order(share) == exchange_is_zero(share)
