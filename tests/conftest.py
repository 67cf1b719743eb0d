"""Shared test plumbing: system tools that may be missing.

A test that needs a system tool (``age``, ``node``) calls
:func:`require_tool`. On a user's machine a missing tool skips the test with
a loud reason; with ``SHOAL_REQUIRE_TOOLS=1`` (set by ``.ci/run``) it fails,
so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"SYSTEM TOOL MISSING: {name!r} is not on PATH ({why})"
        if os.environ.get("SHOAL_REQUIRE_TOOLS") == "1":
            pytest.fail(message + "; SHOAL_REQUIRE_TOOLS=1 forbids skipping")
        pytest.skip(message)
    return path


def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest already exits 5 on an empty collection; make it impossible to
    # miss in any wrapper that only looks at output.
    if not session.items and not session.config.option.collectonly:
        raise pytest.UsageError("no tests were collected: refusing to pass")
