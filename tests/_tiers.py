"""The two test tiers: ``make test`` (under 20 minutes, CI) and
``make test-long`` (``SHOAL_LONG=1``: hundreds of crash kills, long fuzzing,
soaks). Importable from any test module as ``_tiers``. Tests run in both
tiers, at the sizes :func:`sized` gives them.
"""

from __future__ import annotations

import os

LONG = os.environ.get("SHOAL_LONG") == "1"


def sized(short: int, long: int) -> int:
    """``short`` in ``make test``, ``long`` in ``make test-long``."""
    return long if LONG else short
