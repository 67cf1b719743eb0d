"""Re-lock every dependency with hashes (issue #12: supply chain).

    .venv/bin/python tools/update_locks.py        (or: make lock)

Writes, with pip-tools' ``pip-compile --generate-hashes`` run from a
virtualenv of its own (``.venv-lock``, so the lock never depends on what the
test environment happens to hold):

- ``requirements/shoal.lock``: what a deployment installs (Shoal and its
  PostgreSQL, S3 and onion extras), ``pip install --require-hashes``;
- ``requirements/test.lock``: everything ``make test`` installs;
- ``requirements/build.lock``: pip and setuptools, which build Shoal itself.

The test extra names ``shoal[...]`` (itself), which pip-compile writes as an
unhashable ``shoal @ file://...`` line; that line and its comments are
dropped, since the Makefile installs Shoal itself with ``--no-deps``.
Index and find-links settings stay in the machine's pip configuration.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "requirements"
VENV = ROOT / ".venv-lock"

#: lock file → (source, extras)
TARGETS = {
    "shoal.lock": ("pyproject.toml", ("postgresql", "s3", "onion")),
    "test.lock": ("pyproject.toml", ("test",)),
    "build.lock": ("requirements/build.in", ()),
}

SELF_REFERENCE = re.compile(
    r"^# WARNING: pip install will require.*\n^# Consider using a hashable URL.*\n"
    r"^shoal @ file:.*\n(?:^    # via shoal.*\n)?",
    re.M,
)


def main() -> None:
    if not (VENV / "bin" / "pip-compile").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)  # noqa: S603
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "pip-tools>=7.4"], check=True)  # noqa: S603
    for name, (source, extras) in TARGETS.items():
        output = LOCKS / name
        subprocess.run(  # noqa: S603 (fixed argument lists, no shell)
            [str(VENV / "bin" / "pip-compile"), "--quiet", "--generate-hashes", "--allow-unsafe",
             "--strip-extras", "--no-emit-index-url", "--no-emit-find-links", "--upgrade",
             *(f"--extra={extra}" for extra in extras), f"--output-file={output}", source],
            cwd=ROOT, check=True,
        )  # fmt: skip
        text = SELF_REFERENCE.sub("", output.read_text())
        output.write_text(text.replace(str(ROOT), "."))


if __name__ == "__main__":
    main()
