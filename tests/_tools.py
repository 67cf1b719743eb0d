"""System tools the tests need, and the one rule for when one is missing.

On a user's machine a missing tool skips the test with a loud reason; with
``SHOAL_REQUIRE_TOOLS=1`` (set by ``.ci/run``) it fails, so CI can never
pass by skipping. Importable from any test module as ``_tools`` (pytest puts
``tests/`` on ``sys.path`` for the root conftest).
"""

from __future__ import annotations

import os
import shutil

import pytest


def missing(what: str, why: str) -> None:
    """Skip, or fail under SHOAL_REQUIRE_TOOLS=1, because ``what`` is absent."""
    message = f"SYSTEM TOOL MISSING: {what} ({why})"
    if os.environ.get("SHOAL_REQUIRE_TOOLS") == "1":
        pytest.fail(message + "; SHOAL_REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


def require_tool(name: str, why: str) -> str:
    """The path of command ``name``, or skip/fail as :func:`missing` says."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name!r} is not on PATH", why)
        raise AssertionError("unreachable")  # pytest.skip/fail raise
    return path
