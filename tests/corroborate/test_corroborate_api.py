"""The public surface of shoal.corroborate: exactly what it exports, and no more.

A change to the export list must change this file too (as for
shoal.crypto): the desk and command both build on this surface, and
growing it is a decision. The package is a pure core: importing it pulls
in no I/O layer and no other Shoal package.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shoal import corroborate

EXPECTED_EXPORTS = [
    "Event",
    "Grouping",
    "Independence",
    "MAX_DECLARED",
    "Reliability",
    "Report",
    "Settings",
    "Spot",
    "Suggestion",
    "close_in_place",
    "close_in_time",
    "contested",
    "copies",
    "fold",
    "independence",
    "instant",
    "jaccard",
    "linked",
    "parts",
    "pieces",
    "same_picture",
    "suggest",
]

FORBIDDEN_IMPORTS = ["starlette", "fastapi", "sqlalchemy", "jinja2", "httpx", "uvicorn", "PIL"]


def test_the_expected_list_is_itself_sorted() -> None:
    assert sorted(EXPECTED_EXPORTS) == EXPECTED_EXPORTS


def test_all_is_exactly_the_expected_exports() -> None:
    assert sorted(corroborate.__all__) == EXPECTED_EXPORTS


def test_all_has_no_duplicates() -> None:
    assert len(set(corroborate.__all__)) == len(corroborate.__all__)


@pytest.mark.parametrize("name", EXPECTED_EXPORTS)
def test_every_exported_name_exists(name: str) -> None:
    assert getattr(corroborate, name) is not None


def test_no_public_attribute_escapes_all() -> None:
    assert {n for n in dir(corroborate) if not n.startswith("_")} - set(
        corroborate.__all__
    ) == set()


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from shoal.corroborate import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == EXPECTED_EXPORTS


def test_importing_corroborate_pulls_in_no_io_layer_or_other_shoal_package() -> None:
    code = "import sys, json\nimport shoal.corroborate\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules = json.loads(result.stdout)
    roots = {m.split(".")[0] for m in modules}
    assert [f for f in FORBIDDEN_IMPORTS if f in roots] == []
    shoal_modules = [m for m in modules if m == "shoal" or m.startswith("shoal.")]
    assert [
        m for m in shoal_modules if m != "shoal" and not m.startswith("shoal.corroborate")
    ] == []
