"""Dependencies are locked with hashes and the locks match pyproject.toml
(issue #12, supply chain).

``make`` installs the test environment only from ``requirements/*.lock``
with ``--require-hashes``, so a package whose bytes changed on the index is
refused. These checks keep the locks honest: every pin is exact and hashed,
every dependency pyproject.toml names is in the lock its use installs, at a
version its specifier allows, and the environment the tests run in is the
locked one. ``tools/update_locks.py`` (``make lock``) rewrites the locks.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "requirements"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>\S+) \\$")
HASH = re.compile(r"^    --hash=sha256:[0-9a-f]{64}(?: \\)?$")

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str, directory: Path = LOCKS) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of every package in ``lock``."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in (directory / lock).read_text().splitlines():
        if not line or line.lstrip().startswith("#"):
            continue
        pin = PIN.match(line)
        if pin:
            current = canonicalize_name(pin["name"])
            found[current] = (pin["version"], 0)
            continue
        assert HASH.match(line) and current is not None, f"{lock}: not a hashed pin: {line!r}"
        version, hashes = found[current]
        found[current] = (version, hashes + 1)
    return found


def requirements(*extras: str) -> list[Requirement]:
    """What pyproject.toml asks for with ``extras``, through its self-references."""
    wanted, seen, queue = [], set(), list(extras)
    for text in PROJECT["dependencies"]:
        wanted.append(Requirement(text))
    while queue:
        extra = queue.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "shoal":
                queue.extend(requirement.extras)
            else:
                wanted.append(requirement)
    return wanted


@pytest.mark.parametrize("lock", ["shoal.lock", "test.lock", "build.lock"])
def test_every_package_is_pinned_exactly_with_a_hash(lock: str) -> None:
    locked = pins(lock)
    assert locked, f"{lock} pins nothing"
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []
    assert "shoal" not in locked  # installed from the checkout, --no-deps


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("shoal.lock", ("postgresql", "s3", "onion")), ("test.lock", ("test",))],
)
def test_the_lock_holds_what_pyproject_asks_for(lock: str, extras: tuple[str, ...]) -> None:
    locked = pins(lock)
    wrong = [
        f"{requirement} (locked: {locked.get(canonicalize_name(requirement.name), ('none',))[0]})"
        for requirement in requirements(*extras)
        if canonicalize_name(requirement.name) not in locked
        or locked[canonicalize_name(requirement.name)][0] not in requirement.specifier
    ]
    assert wrong == [], "run `make lock`"


def test_the_build_lock_satisfies_the_build_system() -> None:
    locked = pins("build.lock")
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for text in build:
        requirement = Requirement(text)
        assert locked[canonicalize_name(requirement.name)][0] in requirement.specifier


def test_the_tests_run_in_the_locked_environment() -> None:
    # The Makefile's stamp depends on the locks, so a changed lock reinstalls.
    drifted = [
        f"{name} {metadata.version(name)} != {version}"
        for name, (version, _) in pins("test.lock").items()
        if metadata.version(name) != version
    ]
    assert drifted == []


def test_the_parser_refuses_an_unhashed_pin(tmp_path: Path) -> None:
    (tmp_path / "bad.lock").write_text("alembic==1.0 \\\n    --hash=sha256:abc\n")
    with pytest.raises(AssertionError, match="not a hashed pin"):
        pins("bad.lock", tmp_path)
