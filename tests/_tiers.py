"""The two test tiers: ``make test`` (under 20 minutes, CI) and
``make test-long`` (``SHOAL_LONG=1``: hundreds of crash kills, long fuzzing,
soaks). Importable from any test module as ``_tiers``.

A test that only makes sense at length is marked ``@pytest.mark.long`` and
is deselected (not skipped: a skip would read as a missing tool) from the
short tier. A test that runs in both tiers at different sizes asks
:func:`sized` for its count.
"""

from __future__ import annotations

import os

LONG = os.environ.get("SHOAL_LONG") == "1"


def sized(short: int, long: int) -> int:
    """``short`` in ``make test``, ``long`` in ``make test-long``."""
    return long if LONG else short
