"""docs/threat-model.md makes no claim without a test (issue #12).

Every row of its claim tables names, in its last cell, at least one test:
a file or directory under ``tests/`` (or ``docs/authorization.md``, which
``tests/server/test_authorization.py`` executes), optionally with
``::test_name``; ``…::test_name`` continues the file named before it in the
same cell. Each named file exists and each named test is defined in it, so
a renamed or deleted test breaks this check instead of leaving the claim
unbacked. Each adversary the issue lists has its own section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "threat-model.md"

ADVERSARIES = [
    "server seized",
    "server compromised while running",
    "network observer",
    "traffic analysis",
    "captured contact device",
    "captured member",
    "captured handler laptop",
    "infiltrator among handlers",
    "planted report",
    "malicious file",
    "flood",
]

CODE = re.compile(r"`([^`]+)`")
NAMED_TEST = re.compile(r"^(?P<path>(?:tests|docs)/[^`:]*?)(?:::(?P<test>[\w\[\]\-.]+))?$")


def claim_rows(text: str) -> list[tuple[int, str, str]]:
    """(line number, claim, evidence cell) of every claim table row."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= {"-", ":"}:
            continue
        if cells[0] in {"claim", "adversary"}:
            continue
        rows.append((number, cells[0], cells[-1]))
    return rows


def named_tests(cell: str) -> list[tuple[str, str | None]]:
    """(path, test or None) for every test the cell names."""
    named, previous = [], None
    for code in CODE.findall(cell):
        if code.startswith("…::") and previous is not None:
            named.append((previous, code.removeprefix("…::")))
            continue
        match = NAMED_TEST.match(code)
        if match:
            previous = match["path"]
            named.append((previous, match["test"]))
    return named


def defines(path: Path, test: str) -> bool:
    name = test.split("[", 1)[0]
    return re.search(rf"^\s*(?:async )?def {re.escape(name)}\(", path.read_text(), re.M) is not None


ROWS = claim_rows(DOC.read_text())


def test_the_document_has_claims() -> None:
    # Guards the parser: a format change must not make every row vanish.
    assert len(ROWS) > 100


@pytest.mark.parametrize(("line", "claim", "evidence"), ROWS, ids=[str(r[0]) for r in ROWS])
def test_every_claim_names_tests_that_exist(line: int, claim: str, evidence: str) -> None:
    named = named_tests(evidence)
    assert named, f"line {line}: no test named for {claim!r}"
    for path, test in named:
        where = ROOT / path
        assert where.exists(), f"line {line}: {path} does not exist"
        if test is not None:
            assert where.is_file() and defines(where, test), f"line {line}: no {test} in {path}"


def test_every_adversary_has_its_section() -> None:
    headings = [h.lower() for h in re.findall(r"^### (.+)$", DOC.read_text(), re.M)]
    missing = [a for a in ADVERSARIES if not any(h.startswith(a) for h in headings)]
    assert missing == []


def test_the_checks_catch_a_missing_test_and_an_unbacked_claim() -> None:
    row = "| a claim | `tests/crypto/test_age.py::no_such_test`, `…::neither` |"
    [(_, _, evidence)] = claim_rows("| claim | test |\n|---|---|\n" + row)
    named = named_tests(evidence)
    age = "tests/crypto/test_age.py"
    assert named == [(age, "no_such_test"), (age, "neither")]
    assert not defines(ROOT / named[0][0], "no_such_test")
    assert named_tests("prose only, `shoal serve`") == []
