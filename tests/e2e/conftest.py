"""A whole organization built through the real command line, and a real
``shoal serve`` process in front of it (``_served_org``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _served_org import Org, serve_demo


def _build(tmp_path: Path, *, classic: bool) -> Iterator[Org]:
    org = serve_demo(tmp_path, classic=classic)
    try:
        yield org
    finally:
        org.stop()


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    """A post-quantum organization (the default), served."""
    yield from _build(tmp_path, classic=False)


@pytest.fixture
def classic_org(tmp_path: Path) -> Iterator[Org]:
    """An organization of classic X25519 keys, served."""
    yield from _build(tmp_path, classic=True)
