"""Shared test plumbing. The missing-tool rule lives in ``_tools.py``.

``SHOAL_LONG=1`` (``make test-long``) loads Hypothesis's "long" profile:
ten times the examples for every property that does not set its own count,
with fresh random examples each run. CI (``CI=true``) runs the "ci" profile:
the same examples every run, so a landing is never decided by which random
examples a run happened to draw; the long run is where new ones are sought.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("long", max_examples=1000, deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("SHOAL_LONG") == "1":
    settings.load_profile("long")
elif os.environ.get("CI") == "true":
    settings.load_profile("ci")


def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest already exits 5 on an empty collection; make it impossible to
    # miss in any wrapper that only looks at output.
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected: refusing to pass")
