"""Shared test plumbing. The missing-tool rule lives in ``_tools.py``."""

from __future__ import annotations

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest already exits 5 on an empty collection; make it impossible to
    # miss in any wrapper that only looks at output.
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected: refusing to pass")
