"""PADMÉ padding (Nikitin et al., PETS 2019, Algorithm 1): values and properties.

The paper's definition, for L >= 2::

    E = floor(log2 L)           exponent
    S = floor(log2 E) + 1       bits needed to write E
    lastBits = E - S            low bits that padding clears
    mask = 2**lastBits - 1
    padme(L) = (L + mask) & ~mask

Its abstract promises "an overhead of at most 12%". The bound the definition
gives per length is ``padme(L) - L <= mask`` (under ``2**-S`` of L); the exact
maximum over all L is 15/129 ~ 11.63 %, reached at L = 129 (E = 7, S = 3), a
little above the 11.11 % (L = 9) that some implementations quote.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.crypto._padding import padme

# Worked by hand from the definition above, not from the code under test.
TABLE = [
    (0, 0),  # log2 0 is undefined: lengths below 2 are left alone
    (1, 1),
    (2, 2),  # E=1, S=1, lastBits=0
    (3, 3),
    (4, 4),  # E=2, S=2, lastBits=0
    (5, 5),
    (6, 6),
    (7, 7),
    (8, 8),  # E=3, S=2, lastBits=1, mask=1
    (9, 10),  # 11.11 % overhead
    (10, 10),
    (15, 16),
    (100, 104),  # E=6, S=3, lastBits=3, mask=7
    (127, 128),
    (129, 144),  # E=7, S=3, lastBits=4, mask=15: the worst case, 15/129
    (1000, 1024),  # E=9, S=4, lastBits=5, mask=31
    (65535, 65536),  # E=15, S=4, lastBits=11
    (65536, 65536),  # E=16, S=5, lastBits=11: already a multiple of 2048
    (65537, 67584),  # 65536 + 2048
    (10**6, 1015808),  # E=19, S=5, lastBits=14: 62 * 16384
    (2**30 + 1, 2**30 + 2**25),  # E=30, S=5, lastBits=25
]

WORST_OVERHEAD = Fraction(15, 129)
PAPER_BOUND = Fraction(12, 100)

LENGTHS = st.one_of(
    st.integers(min_value=2, max_value=2**16),
    st.integers(min_value=2, max_value=2**64),
    st.integers(min_value=1, max_value=62).map(lambda k: 2**k + 1),
    st.integers(min_value=2, max_value=62).map(lambda k: 2**k - 1),
)


def reference(length: int) -> int:
    """The paper's definition with float logarithms, kept apart from the code under test."""
    if length < 2:
        return length
    e = math.floor(math.log2(length))
    s = math.floor(math.log2(e)) + 1
    mask = int(2 ** (e - s)) - 1
    return (length + mask) & ~mask


def test_reference_agrees_with_the_hand_worked_table() -> None:
    assert [reference(n) for n, _ in TABLE] == [padded for _, padded in TABLE]


@pytest.mark.parametrize(("length", "padded"), TABLE)
def test_table(length: int, padded: int) -> None:
    assert padme(length) == padded


def test_agrees_with_the_definition_exhaustively_below_2_to_the_16() -> None:
    # math.log2 is exact enough here (far from float rounding near powers of two).
    assert all(padme(n) == reference(n) for n in range(2**16))


def test_negative_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        padme(-1)


@settings(max_examples=100, deadline=None)
@given(LENGTHS)
def test_pads_up_within_the_papers_bounds(length: int) -> None:
    padded = padme(length)
    assert padded >= length
    e = length.bit_length() - 1
    s = e.bit_length()
    # Per length: at most lastBits low bits are filled in, so < 2**-S of L.
    assert padded - length <= 2 ** (e - s) - 1
    assert padded % 2 ** (e - s) == 0
    overhead = Fraction(padded - length, length)
    assert overhead < Fraction(1, 2**s)
    assert overhead <= WORST_OVERHEAD < PAPER_BOUND
    if length >= 256:
        # "at most 6 %" (draft-ford-cfrg-purb) is 1/16 = 6.25 % exactly.
        assert overhead < Fraction(1, 16)


def test_worst_overhead_is_reached_at_129() -> None:
    worst = max(Fraction(padme(n) - n, n) for n in range(2, 2**16))
    assert worst == WORST_OVERHEAD == Fraction(padme(129) - 129, 129)
    assert float(worst) == pytest.approx(0.1163, abs=1e-4)
    # From 2**16 on, S >= 5: the overhead is under 2**-5 (see the property).


@settings(max_examples=100, deadline=None)
@given(LENGTHS, LENGTHS)
def test_monotonic(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert padme(low) <= padme(high)


def test_monotonic_exhaustively_below_2_to_the_16() -> None:
    padded = [padme(n) for n in range(2**16)]
    assert padded == sorted(padded)


@settings(max_examples=100, deadline=None)
@given(st.one_of(LENGTHS, st.integers(min_value=0, max_value=1)))
def test_idempotent(length: int) -> None:
    assert padme(padme(length)) == padme(length)


@pytest.mark.parametrize("k", range(1, 19))
def test_few_distinct_sizes_per_octave(k: int) -> None:
    # Every length in [2**k, 2**(k+1)) lands on one of 2**S sizes in that range
    # (or on 2**(k+1)), so the size leaks S = floor(log2 k) + 1 = O(log k)
    # bits: O(log log L), against k bits unpadded.
    s = math.floor(math.log2(k)) + 1
    sizes = {padme(n) for n in range(2**k, 2 ** (k + 1))}
    inside = {size for size in sizes if size < 2 ** (k + 1)}
    assert len(inside) == 2**s
    assert sizes - inside <= {2 ** (k + 1)}
    assert math.log2(len(inside)) <= math.log2(k) + 1


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=200), st.data())
def test_few_distinct_sizes_per_octave_for_large_lengths(k: int, data: st.DataObject) -> None:
    # Too many lengths to enumerate: check that each lands on the grid of
    # 2**S + 1 sizes that the octave allows.
    length = data.draw(st.integers(min_value=2**k, max_value=2 ** (k + 1) - 1))
    s = k.bit_length()
    step = 2 ** (k - s)
    grid = {2**k + i * step for i in range(2**s + 1)}
    assert len(grid) <= 2 * k + 1
    assert padme(length) in grid
