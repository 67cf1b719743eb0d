"""docs/deploy.md stays true: what it tells an operator to write or type is
checked here against Shoal itself and against the real tools.

The page's fenced blocks say what they are in their info string: the
language, then the file they go into (```toml server.toml, ```ini
/etc/systemd/system/shoal-serve@.service, ```torrc /etc/tor/torrc, …).
Each kind is checked the way its consumer reads it:

- every ``server.toml`` example loads through ``load_config`` (fragments,
  without ``root_key``, replace their tables in the full example), with
  ``/etc/shoal/env``'s variables where they belong;
- every ``/opt/shoal/bin/shoal`` command, in the shell blocks and in the
  units' ``ExecStart``, names a sub-command and options that exist (its
  real ``--help``);
- the units pass ``systemd-analyze verify``, and the server's keeps
  ``LimitCORE=0``;
- the torrc passes ``tor --verify-config`` with no warning; the haproxy
  file passes ``haproxy -c`` and logs nothing; the backup script passes
  ``bash -n``; the fstab ``sed`` comments out swap lines and nothing else.

Missing tools (``tor``, ``haproxy``, ``systemd-analyze``) skip loudly, and
fail under ``SHOAL_REQUIRE_TOOLS=1`` (``_tools.py``). That includes
``systemd-analyze``: ``verify`` loads the units into a test manager of its
own and needs no running systemd (checked on a machine whose PID 1 is not
systemd), so a machine without it lacks a tool, nothing more. With
``--root`` it resolves the units' programs inside a scratch tree, so the
check needs no ``/opt/shoal`` on the test machine.
"""

from __future__ import annotations

import configparser
import functools
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w

from _tools import require_tool
from shoal import crypto, org
from shoal.server._config import (
    CONFIG_NAME,
    Limits,
    OnionSettings,
    ServerConfig,
    load_config,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
SHOAL_PATH = "/opt/shoal/bin/shoal"
SERVER_UNIT = "/etc/systemd/system/shoal-serve@.service"
FENCE = re.compile(
    r"^```(?P<lang>[\w-]+)(?:[ ]+(?P<name>\S+))?\n(?P<body>.*?)^```[ ]*$", re.M | re.S
)


@dataclass(frozen=True)
class Block:
    lang: str
    name: str | None
    body: str


@functools.cache
def blocks() -> tuple[Block, ...]:
    return tuple(
        Block(m["lang"], m["name"], m["body"]) for m in FENCE.finditer(DOC.read_text("utf-8"))
    )


def named(name: str) -> list[Block]:
    """The blocks that go into file ``name`` (a full path, or a base name)."""
    return [b for b in blocks() if b.name is not None and b.name in (name, Path(name).name)]


def one(name: str) -> str:
    found = named(name)
    assert len(found) == 1, f"docs/deploy.md should have one ``` block for {name}"
    return found[0].body


def root_key() -> str:
    signer = crypto.NoteSigner(org.root_key_name(org.new_id()), crypto.SigningKey.generate())
    return str(signer.verifier)


def environment_file() -> dict[str, str]:
    """``/etc/shoal/env`` as systemd reads it: KEY=value lines, # comments."""
    variables = {}
    for line in one("/etc/shoal/env").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


# -- server.toml -------------------------------------------------------------


def server_tomls() -> tuple[dict[str, object], list[dict[str, object]]]:
    """The full example, and the fragments (each without ``root_key``)."""
    documents = [tomllib.loads(b.body) for b in named(CONFIG_NAME)]
    full = [d for d in documents if "root_key" in d]
    assert len(full) == 1, "one complete server.toml example (with root_key)"
    return full[0], [d for d in documents if "root_key" not in d]


def load_example(
    tmp_path: Path, document: dict[str, object], environ: dict[str, str]
) -> ServerConfig:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / CONFIG_NAME).write_text(tomli_w.dumps({**document, "root_key": root_key()}))
    return load_config(data_dir, environ=environ)


def test_the_full_server_toml_loads_and_shows_the_defaults(tmp_path: Path) -> None:
    full, _ = server_tomls()
    config = load_example(tmp_path, full, environ={})
    # The page says each value shown is the default: a changed default
    # must change the page.
    shown = full["limits"]
    assert isinstance(shown, dict) and len(shown) >= 3
    assert {k: getattr(config.limits, k) for k in shown} == {k: getattr(Limits(), k) for k in shown}
    assert config.retention_days == 30 == full["retention_days"]
    assert config.blobs.backend == "filesystem"
    assert config.blobs_dir == tmp_path / "data" / "blobs"
    assert config.database == "postgresql+psycopg://shoal@/shoal?host=/var/run/postgresql"


def test_each_blob_store_example_loads_in_the_full_example(tmp_path: Path) -> None:
    full, fragments = server_tomls()
    backends = set()
    for n, fragment in enumerate(f for f in fragments if "blobs" in f):
        directory = tmp_path / str(n)
        directory.mkdir()
        blobs = fragment["blobs"]
        assert isinstance(blobs, dict)
        backend = blobs["backend"]
        # The S3 keys live in /etc/shoal/env, which the page shows next to
        # it; every variable there must be a key (a misspelt one stops the
        # server), and the loader is the judge.
        environ = environment_file() if backend == "s3" else {}
        config = load_example(directory, {**full, **fragment}, environ)
        assert config.blobs.backend == backend
        backends.add(backend)
        if backend == "s3":
            assert config.blobs.s3 is not None
            assert config.blobs.s3.secret_access_key == environ["SHOAL_BLOBS_S3_SECRET_ACCESS_KEY"]
            assert config.database == environ["SHOAL_DATABASE"]
            assert all(name.startswith("SHOAL_") for name in environ)
    assert backends == {"database", "s3"}


def test_the_onion_example_loads_and_shows_the_defences_defaults(tmp_path: Path) -> None:
    full, fragments = server_tomls()
    (fragment,) = [f for f in fragments if "onion" in f]
    assert set(fragment) == {"onion"}
    config = load_example(tmp_path, {**full, **fragment}, environ={})
    shown = fragment["onion"]
    assert isinstance(shown, dict)
    assert config.onion.doors == ("journalists",)
    assert config.onion.runtime_dir == Path("/run/shoal-onion")
    # The page says the defences' values are the defaults.
    defences = {k: v for k, v in shown.items() if k not in ("doors", "runtime_dir")}
    assert len(defences) == 5
    assert {k: getattr(OnionSettings(), k) for k in defences} == defences


# -- shoal commands -------------------------------------------------------------


@functools.cache
def options_of(words: tuple[str, ...]) -> frozenset[str] | None:
    """The options ``shoal WORDS`` takes, per its --help; None if no such command."""
    done = subprocess.run(
        [sys.executable, "-m", "shoal", *words, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        return None
    return frozenset(re.findall(r"^\s+(--[\w-]+)", done.stdout, re.M))


def check_shoal_command(words: list[str]) -> str:
    """Check ``shoal WORDS...``: sub-commands and options exist. Returns
    the command's name (``shoal admin migrate``)."""
    path = []
    while words and not words[0].startswith("-"):
        path.append(words.pop(0))
        if path != ["admin"]:
            break
    command = " ".join(["shoal", *path])
    options = options_of(tuple(path))
    assert options is not None, f"docs/deploy.md: '{command}' is no command"
    for word in words:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            assert name in options, f"docs/deploy.md: '{command}' has no {name}"
    return command


def shell_commands(text: str) -> list[list[str]]:
    """Each simple command of a shell block, as words (continuations joined;
    operators such as ;, |, (, ) end a command)."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for word in lexer:
            if word and set(word) <= set(";&|()"):
                commands.append(words)
                words = []
            else:
                words.append(word)
        commands.append(words)
    return [c for c in commands if c]


def shoal_invocations(words: list[str]) -> list[str]:
    return words[words.index(SHOAL_PATH) + 1 :] if SHOAL_PATH in words else []


def exec_starts() -> list[tuple[str, list[str]]]:
    found = []
    for block in blocks():
        if block.lang == "ini" and block.name and block.name.endswith((".service", ".timer")):
            for line in block.body.splitlines():
                if line.startswith("ExecStart="):
                    found.append((block.name, shlex.split(line.removeprefix("ExecStart="))))
    return found


def test_every_shoal_command_on_the_page_exists_with_its_options() -> None:
    seen = set()
    for block in blocks():
        if block.lang in ("sh", "bash") and block.name is None:
            for words in shell_commands(block.body):
                if rest := shoal_invocations(words):
                    seen.add(check_shoal_command(rest))
    for _, argv in exec_starts():
        if argv[0] == SHOAL_PATH:
            seen.add(check_shoal_command(argv[1:]))
    assert seen == {
        "shoal",  # --version
        "shoal serve",
        "shoal admin init",
        "shoal admin import",
        "shoal admin migrate",
        "shoal admin onion-client",
    }


def test_a_misspelt_command_or_option_would_be_caught() -> None:
    with pytest.raises(AssertionError, match="no command"):
        check_shoal_command(["admin", "migrat", "--data", "x"])
    with pytest.raises(AssertionError, match="has no --prot"):
        check_shoal_command(["serve", "--data", "x", "--prot", "8001"])


def test_every_unit_runs_a_program_the_page_installs() -> None:
    programs = {argv[0] for _, argv in exec_starts()}
    assert programs == {SHOAL_PATH, "/usr/local/sbin/shoal-backup"}
    assert named("/usr/local/sbin/shoal-backup")


def test_the_server_unit_keeps_core_dumps_off_and_listens_on_loopback() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(one(SERVER_UNIT))
    service = unit["Service"]
    assert service["LimitCORE"] == "0"
    assert service["User"] == "shoal" and service["UMask"] == "0077"
    assert service["EnvironmentFile"] == "/etc/shoal/env"
    assert service["MemoryDenyWriteExecute"] == "yes"
    argv = shlex.split(service["ExecStart"])
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and "--public" not in argv


# -- the real tools -------------------------------------------------------------


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "checks the systemd units in docs/deploy.md")
    root = tmp_path / "root"
    units = [b for b in blocks() if b.name and b.name.startswith("/etc/systemd/system/")]
    assert {Path(b.name).name for b in units if b.name} == {
        "shoal-serve@.service",
        "shoal-onion.service",
        "shoal-backup.service",
        "shoal-backup.timer",
    }
    for block in units:
        assert block.name is not None
        (root / block.name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / block.name.lstrip("/")).write_text(block.body)
    # The programs the units run: their own checks are above.
    for program, text in [(SHOAL_PATH, "#!/bin/sh\n"), ("/usr/local/sbin/shoal-backup", None)]:
        path = root / program.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text is not None else one(program))
        path.chmod(0o755)
    (root / "etc/shoal").mkdir(parents=True)
    (root / "etc/shoal/env").write_text(one("/etc/shoal/env"))
    done = subprocess.run(
        [
            analyze,
            f"--root={root}",
            # Units the page does not write (postgresql.service) are the
            # distribution's: not this check's business.
            "--recursive-errors=no",
            "verify",
            "shoal-serve@8001.service",
            "shoal-onion.service",
            "shoal-backup.service",
            "shoal-backup.timer",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_torrc_passes_tor_verify_config(tmp_path: Path) -> None:
    tor = require_tool("tor", "checks the onion service configuration in docs/deploy.md")
    torrc = one("/etc/tor/torrc")
    for line in ("HiddenServiceEnableIntroDoSDefense 1", "HiddenServicePoWDefensesEnabled 1"):
        assert line in torrc.splitlines()
    # The one change: the service's directory. tor checks it when it
    # exists (owner, mode), and this machine's /var/lib/tor is not ours.
    service_dir = "HiddenServiceDir /var/lib/tor/shoal/"
    assert service_dir in torrc.splitlines()
    (tmp_path / "service").mkdir(mode=0o700)
    (tmp_path / "torrc").write_text(
        torrc.replace(service_dir, f"HiddenServiceDir {tmp_path / 'service'}/")
    )
    (tmp_path / "defaults").write_text("")
    (tmp_path / "data").mkdir(mode=0o700)
    done = subprocess.run(
        [
            tor,
            "--verify-config",
            "--defaults-torrc",
            str(tmp_path / "defaults"),
            "-f",
            str(tmp_path / "torrc"),
            "--DataDirectory",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Configuration was valid" in done.stdout
    # tor accepts a misspelt abbreviation with only a warning: none allowed,
    # except the one about running as root (CI does).
    warnings = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "[warn]" in line and "running Tor as root" not in line
    ]
    assert warnings == []


def test_the_haproxy_file_passes_haproxy_check_and_logs_nothing(tmp_path: Path) -> None:
    haproxy = require_tool("haproxy", "checks the load balancer configuration in docs/deploy.md")
    text = one("/etc/haproxy/haproxy.cfg")
    directives = [line.split()[0] for line in text.splitlines() if line.strip()]
    assert "log" not in directives and "option httplog" not in text
    (tmp_path / "haproxy.cfg").write_text(text)
    done = subprocess.run(
        [haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr


def test_the_backup_script_is_valid_bash_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    script = one("/usr/local/sbin/shoal-backup")
    assert "set -euo pipefail" in script.splitlines()  # a failed pg_dump fails the backup
    (tmp_path / "shoal-backup").write_text(script)
    done = subprocess.run(
        ["bash", "-n", str(tmp_path / "shoal-backup")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_the_fstab_edit_comments_out_swap_lines_and_nothing_else(tmp_path: Path) -> None:
    edits = [
        words
        for block in blocks()
        if block.lang == "sh" and block.name is None
        for words in shell_commands(block.body)
        if words[:1] == ["sed"] and words[-1] == "/etc/fstab"
    ]
    assert len(edits) == 1
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "UUID=a / ext4 errors=remount-ro 0 1\n"
        "UUID=b none            swap    sw              0       0\n"
        "/swapfile none swap sw 0 0\n"
        "# UUID=c none swap sw 0 0\n"
        "UUID=d /srv/swap ext4 defaults 0 2\n"
    )
    subprocess.run([*edits[0][:-1], str(fstab)], check=True, timeout=60)
    assert fstab.read_text().splitlines() == [
        "UUID=a / ext4 errors=remount-ro 0 1",
        "#UUID=b none            swap    sw              0       0",
        "#/swapfile none swap sw 0 0",
        "# UUID=c none swap sw 0 0",
        "UUID=d /srv/swap ext4 defaults 0 2",
    ]


def test_core_dumps_and_the_journal_stay_off_the_disk() -> None:
    def ini(name: str) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read_string(one(name))
        return parser

    coredump = ini("/etc/systemd/coredump.conf.d/shoal.conf")["Coredump"]
    assert (coredump["Storage"], coredump["ProcessSizeMax"]) == ("none", "0")
    assert ini("/etc/systemd/journald.conf.d/shoal.conf")["Journal"]["Storage"] == "volatile"
    sysctl = dict(
        line.split("=", 1) for line in one("/etc/sysctl.d/90-shoal-no-core-dumps.conf").split()
    )
    assert sysctl == {"kernel.core_pattern": "|/bin/false", "fs.suid_dumpable": "0"}
