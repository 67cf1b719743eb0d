"""What every harness in ``fuzz/`` shares: its command line and its corpus.

``python fuzz/<name>.py [libFuzzer flags] [corpus dirs]``. Without a corpus
directory, a harness reads the seeds in ``fuzz/corpus/<name>/`` and writes
what it finds to ``$TMPDIR/shoal-fuzz/<name>/``: libFuzzer writes new inputs
into the first directory it is given, and the committed seeds stay as they
are. Crash reproducers go where ``-artifact_prefix=`` says (libFuzzer's
default: the current directory). ``docs/fuzzing.md`` has the commands and
the figures of the long runs.

The contract each harness checks: any input either parses or raises the
parser's documented error; any other exception is a finding (atheris
reports it with the input that caused it), and so is a run past
``-timeout`` seconds (a hang).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

FUZZ = Path(__file__).resolve().parent


def seeds(name: str) -> Path:
    return FUZZ / "corpus" / name


def main(name: str, test_one_input: Callable[[bytes], None]) -> None:
    argv = list(sys.argv)
    if all(arg.startswith("-") for arg in argv[1:]):
        found = Path(tempfile.gettempdir()) / "shoal-fuzz" / name
        found.mkdir(parents=True, exist_ok=True)
        argv += [str(found), str(seeds(name))]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
