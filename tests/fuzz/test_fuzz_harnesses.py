"""Every atheris harness in ``fuzz/`` runs, bounded, and finds nothing.

Each harness is a real libFuzzer run in its own process (coverage-guided,
instrumented parsers), started from its committed seed corpus; new inputs
go to a scratch directory, so the repository is left as it was. A harness
fails the test on any exception outside the parser's documented errors, on
a broken round trip (its assertions), and on an input that runs past
``-timeout`` seconds (a hang). The reproducer is kept under the test's
temporary directory and its path shown.

``make test``: 4,000 runs or 3 s each, whichever comes first (start-up,
importing the server for two harnesses, is most of the cost). ``make
test-long``: three minutes each (figures in
docs/fuzzing.md). Shown able to fail by making ``ArmorDecoder`` raise a
``ValueError`` for a malformed last line: the armor harness reports the
uncaught exception at once and this test fails with it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from _tiers import LONG

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
HARNESSES = ["age_header", "armor", "checkpoint", "multipart", "questionnaire", "signed_note"]
#: The long tier's time per harness, seconds.
LONG_SECONDS = 180


def test_every_harness_is_run_here() -> None:
    found = {p.stem for p in FUZZ.glob("*.py") if not p.stem.startswith("_")}
    assert found - {"seed_corpus"} == set(HARNESSES)
    for name in HARNESSES:
        assert any((FUZZ / "corpus" / name).iterdir()), f"{name} has no seeds"


@pytest.mark.parametrize("name", HARNESSES)
def test_the_harness_finds_nothing(name: str, tmp_path: Path) -> None:
    found = tmp_path / "found"
    found.mkdir()
    budget = (
        [f"-max_total_time={LONG_SECONDS}"] if LONG else ["-atheris_runs=4000", "-max_total_time=3"]
    )
    done = subprocess.run(
        [
            sys.executable,
            str(FUZZ / f"{name}.py"),
            *budget,
            "-timeout=10",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            str(found),
            str(FUZZ / "corpus" / name),
        ],
        capture_output=True,
        text=True,
        timeout=LONG_SECONDS * 2 if LONG else 120,
        check=False,
    )
    lines = done.stderr.splitlines()
    report = "\n".join(line for line in lines if not line.startswith("INFO: Instrumenting"))[-6000:]
    assert done.returncode == 0, report
    runs = re.search(r"^Done (\d+) (?:runs )?in (\d+) second", done.stderr, re.MULTILINE)
    assert runs, report
    # What a long run reaches, for docs/fuzzing.md.
    final = re.findall(
        r"^#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/", done.stderr, re.MULTILINE
    )
    print(f"{name}: {runs.group(1)} runs in {runs.group(2)} s; cov, ft, corpus: {final[-1:]}")
