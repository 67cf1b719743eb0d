"""``shoal command`` as real processes, its notes checked with shoal.org.

Every ``shoal`` process costs about a second of imports, so one
organization is founded per module and each test works on a copy of it;
enrollment bundles are made in-process, except in the full round, which
runs the real ``shoal desk keygen``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shoal import crypto, org, trusted

SHOAL = [sys.executable, "-m", "shoal"]
PASSPHRASE = "command's long passphrase"
DOOR = "news"
#: The compartment's escrow recipient: so that one handler is enough to sign
#: an epoch in tests about other things (the two-handler rule has its own).
ESCROW = crypto.generate_identity().recipient()


def shoal(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [*SHOAL, *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def ok(*args: str | Path) -> str:
    done = shoal(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Command:
    folder: Path
    passphrase_file: Path
    root: crypto.NoteVerifier

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """``shoal command <args> --dir <folder>``."""
        return shoal("command", *args, "--dir", self.folder)

    def epoch(self, *extra: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run("epoch", "--door", DOOR, "--passphrase-file", self.passphrase_file, *extra)

    def add_handler(self, bundle: Path) -> str:
        done = self.run("handler", "add", "--door", DOOR, "--bundle", bundle)
        assert done.returncode == 0, done.stderr
        match = re.search(r"Handler ([0-9a-f]{32}) added", done.stdout)
        assert match is not None
        return match.group(1)

    def note(self, name: str) -> str:
        return (self.folder / "notes" / name).read_text()

    def chain(self) -> tuple[org.Organization, org.CommandCertificate]:
        organization = org.verify_organization(self.note("organization.note"), self.root)
        return organization, org.verify_command(
            self.note("command-1.note"), self.root, organization
        )

    def verified_epoch(self, number: int) -> org.Epoch:
        organization, certificate = self.chain()
        note = self.note(f"epoch-{DOOR}-{number}.note")
        return org.verify_epoch(note, certificate, organization, now=datetime.now(UTC))

    def state(self) -> dict[str, Any]:
        return json.loads((self.folder / "organization.json").read_text())


def init(folder: Path, *extra: str) -> Command:
    secret = folder.parent / "command.passphrase"
    secret.write_text(PASSPHRASE + "\n")
    out = ok("command", "init", "--dir", folder, "--passphrase-file", secret,
             "--work-factor", "10", *extra)  # fmt: skip
    printed = re.search(r"shoal/[0-9a-f]{32}/root\+[0-9a-f]{8}\+\S+", out)
    assert printed is not None, out
    assert (folder / "root.vkey").read_text().strip() == printed.group(0)
    command = Command(folder, secret, crypto.NoteVerifier.parse(printed.group(0)))
    assert command.run("compartment", "add", "--door", DOOR).returncode == 0
    escrow = command.run("compartment", "policy", "--door", DOOR, "--escrow", str(ESCROW))
    assert escrow.returncode == 0, escrow.stderr
    return command


def bundle(tmp_path: Path, name: str, key_type: crypto.KeyType = crypto.KeyType.HYBRID) -> Path:
    """An enrollment bundle, as ``shoal desk keygen`` writes it."""
    key = crypto.SigningKey.generate()
    enrollment = trusted.Enrollment(crypto.generate_identity(key_type).recipient(), key.verify_key)
    path = tmp_path / f"{name}.txt"
    path.write_text(enrollment.text(key))
    return path


@pytest.fixture(scope="module")
def founded(tmp_path_factory: pytest.TempPathFactory) -> Command:
    return init(tmp_path_factory.mktemp("founded") / "command")


@pytest.fixture
def command(founded: Command, tmp_path: Path) -> Command:
    """A copy of one organization with compartment ``news``: no handler, an escrow."""
    shutil.copytree(founded.folder, tmp_path / "command")
    return Command(tmp_path / "command", founded.passphrase_file, founded.root)


def test_init_writes_notes_signed_by_the_printed_root_key(command: Command) -> None:
    organization, certificate = command.chain()
    opened = crypto.open_note(command.note("organization.note"), [command.root])
    assert opened.signed_by == (org.root_key_name(organization.org_id),)
    assert organization.key_type is crypto.KeyType.HYBRID
    assert certificate.serial == 1
    assert certificate.command_key.name == org.command_key_name(organization.org_id, 1)
    state = command.state()
    assert state["organization"]["id"] == organization.org_id
    assert state["organization"]["key_type"] == "mlkem768x25519"
    assert state["compartments"][DOOR]["epoch"] == 0
    for private in ("root.keystore.age", "command.keystore.age", "organization.json"):
        assert (command.folder / private).stat().st_mode & 0o077 == 0


def test_a_full_round_signs_verifiable_increasing_epochs(command: Command, tmp_path: Path) -> None:
    secret = tmp_path / "desk.passphrase"
    secret.write_text("a handler's passphrase\n")
    desk = tmp_path / "desk"
    ok("desk", "keygen", "--dir", desk, "--passphrase-file", secret, "--work-factor", "10")
    handler_id = command.add_handler(desk / "enrollment.txt")

    assert command.epoch().returncode == 0
    first = command.verified_epoch(1)
    [entry] = first.handlers
    assert entry.handler_id == handler_id
    assert trusted.Enrollment.parse((desk / "enrollment.txt").read_text()).recipient == (
        entry.recipient
    )
    _, certificate = command.chain()
    assert first.command == certificate.reading_recipient
    assert first.escrow == ESCROW
    assert first.expires - datetime.now(UTC) > timedelta(days=89)

    assert command.epoch("--days", "7").returncode == 0
    second = command.verified_epoch(2)
    assert second.number == 2
    assert second.expires - datetime.now(UTC) < timedelta(days=8)
    assert command.state()["compartments"][DOOR]["epoch"] == 2


def remove(command: Command, handler_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return command.run(
        "handler", "remove", "--door", DOOR, "--handler", handler_id,
        "--passphrase-file", command.passphrase_file, *extra,
    )  # fmt: skip


def test_removing_a_handler_signs_the_next_epoch_at_once(command: Command, tmp_path: Path) -> None:
    staying = command.add_handler(bundle(tmp_path, "a"))
    leaving = command.add_handler(bundle(tmp_path, "b"))
    command.epoch()
    assert {h.handler_id for h in command.verified_epoch(1).handlers} == {staying, leaving}

    done = remove(command, leaving, "--days", "30")
    assert done.returncode == 0, done.stderr
    assert "Epoch 2 of 'news': 1 handler(s) and command and escrow" in done.stdout

    second = command.verified_epoch(2)
    assert [h.handler_id for h in second.handlers] == [staying]
    assert len(second.recipients()) == 3  # the handler staying, command, escrow
    assert second.expires - datetime.now(UTC) < timedelta(days=31)
    assert command.state()["compartments"][DOOR]["epoch"] == 2


def test_an_epoch_that_would_strand_data_is_refused_and_says_why(
    command: Command, tmp_path: Path
) -> None:
    assert command.run("compartment", "policy", "--door", DOOR, "--no-escrow").returncode == 0
    first = command.add_handler(bundle(tmp_path, "a"))
    refused = command.epoch()
    assert refused.returncode == 1
    assert "would have 1 handler(s) and no escrow recipient" in refused.stderr
    assert "losing one handler's laptop would lose everything" in refused.stderr
    assert not list((command.folder / "notes").glob("epoch-*"))

    second = command.add_handler(bundle(tmp_path, "b"))
    assert command.epoch().returncode == 0  # two handlers: one laptop may be lost
    assert command.verified_epoch(1).escrow is None
    # Removing one would strand data again: refused whole, nothing changed.
    state_before = command.state()
    refused = remove(command, second)
    assert refused.returncode == 1 and "no escrow recipient" in refused.stderr
    assert command.state() == state_before
    assert {h.handler_id for h in command.verified_epoch(1).handlers} == {first, second}
    assert not (command.folder / "notes" / f"epoch-{DOOR}-2.note").exists()


def test_command_reads_only_where_the_policy_says(command: Command, tmp_path: Path) -> None:
    command.add_handler(bundle(tmp_path, "a"))
    done = command.run("compartment", "policy", "--door", DOOR, "--command-does-not-read")
    assert done.returncode == 0 and "command reads: no" in done.stdout
    assert command.epoch().returncode == 0
    epoch = command.verified_epoch(1)
    assert epoch.command is None and epoch.recipients()[-1] == ESCROW


def test_an_escrow_of_the_wrong_key_type_is_refused(command: Command) -> None:
    classic = crypto.generate_identity(crypto.KeyType.X25519).recipient()
    done = command.run("compartment", "policy", "--door", DOOR, "--escrow", str(classic))
    assert done.returncode == 1 and "not mlkem768x25519" in done.stderr
    bad = command.run("compartment", "policy", "--door", DOOR, "--escrow", "age1nope")
    assert bad.returncode == 2 and "not an age recipient" in bad.stderr


def test_a_wrong_passphrase_signs_nothing(command: Command, tmp_path: Path) -> None:
    command.add_handler(bundle(tmp_path, "a"))
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    state_before = command.state()

    done = command.run("epoch", "--door", DOOR, "--passphrase-file", wrong)

    assert done.returncode == 1
    assert "wrong passphrase" in done.stderr
    assert command.state() == state_before
    assert not list((command.folder / "notes").glob("epoch-*"))


def test_the_last_handler_can_be_revoked_where_an_escrow_keeps_the_data(
    command: Command, tmp_path: Path
) -> None:
    leaving = command.add_handler(bundle(tmp_path, "a"))
    assert command.epoch().returncode == 0

    done = remove(command, leaving)

    assert done.returncode == 0, done.stderr
    second = command.verified_epoch(2)  # shoal.org accepts it
    assert second.handlers == ()
    _, certificate = command.chain()
    assert second.recipients() == [certificate.reading_recipient, ESCROW]


def test_a_classic_organization_takes_classic_handlers_only(tmp_path: Path) -> None:
    secret = tmp_path / "command.passphrase"
    secret.write_text(PASSPHRASE + "\n")
    ok("command", "init", "--dir", tmp_path / "command", "--passphrase-file", secret,
       "--work-factor", "10", "--classic")  # fmt: skip
    root = crypto.NoteVerifier.parse((tmp_path / "command" / "root.vkey").read_text().strip())
    command = Command(tmp_path / "command", secret, root)
    assert command.run("compartment", "add", "--door", DOOR).returncode == 0
    refused = command.run("handler", "add", "--door", DOOR, "--bundle", bundle(tmp_path, "pq"))
    assert refused.returncode == 1
    assert "`shoal desk keygen --classic`" in refused.stderr

    command.add_handler(bundle(tmp_path, "classic", crypto.KeyType.X25519))
    command.add_handler(bundle(tmp_path, "classic-2", crypto.KeyType.X25519))
    assert command.epoch().returncode == 0
    recipients = command.verified_epoch(1).recipients()
    assert {crypto.key_type_of(r) for r in recipients} == {crypto.KeyType.X25519}


def test_init_never_overwrites_an_organization(command: Command) -> None:
    done = shoal("command", "init", "--dir", command.folder,
                 "--passphrase-file", command.passphrase_file, "--work-factor", "10")  # fmt: skip
    assert done.returncode == 1
    assert "already holds an organization" in done.stderr
    assert command.chain()  # the old notes still verify with the old root


def test_requests_that_cannot_be(command: Command, tmp_path: Path) -> None:
    added = bundle(tmp_path, "a")
    command.add_handler(added)
    junk = tmp_path / "junk.txt"
    junk.write_text("shoal enrollment v1\nrecipient age1nope\nverify-key AAAA\nsignature AAAA\n")
    refusals = {
        ("compartment", "add", "--door", DOOR): "a compartment already has the door 'news'",
        ("compartment", "add", "--door", "Bad Door"): "a door is 1-63 lowercase",
        (
            "handler",
            "remove",
            "--door",
            DOOR,
            "--handler",
            "0" * 32,
            "--passphrase-file",
            str(command.passphrase_file),
        ): "is not in 'news'",
        ("handler", "add", "--door", "nowhere", "--bundle", str(added)): "no compartment",
        ("handler", "add", "--door", DOOR, "--bundle", str(added)): "is already in 'news'",
        ("handler", "add", "--door", DOOR, "--bundle", str(junk)): "malformed key",
    }
    state_before = command.state()
    for args, message in refusals.items():
        done = command.run(*args)
        assert (done.returncode, message in done.stderr) == (1, True), (args, done.stderr)
    assert command.state() == state_before


def test_commands_on_a_directory_without_an_organization(tmp_path: Path) -> None:
    done = shoal("command", "compartment", "add", "--dir", tmp_path, "--door", DOOR)
    assert done.returncode == 1
    assert "run `shoal command init` first" in done.stderr


def start(*args: str | Path) -> subprocess.Popen[str]:
    """``shoal command <args>``, running in the background."""
    argv = [*SHOAL, "command", *map(str, args)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_locked(lock: Path, holder: subprocess.Popen[str]) -> None:
    """Return once another process holds ``lock``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert holder.poll() is None, holder.communicate()
        if lock.exists():
            with lock.open("rb") as file:
                try:
                    fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
        time.sleep(0.05)
    pytest.fail("the lock was never taken")


def feed(fifo: Path, reader: subprocess.Popen[str], text: str) -> None:
    """Write ``text`` into ``fifo`` once ``reader`` has opened it."""
    deadline = time.monotonic() + 30
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: nobody reads it yet
            assert reader.poll() is None and time.monotonic() < deadline, reader.communicate()
            time.sleep(0.05)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def test_commands_wait_for_an_epoch_that_waits_for_its_passphrase(
    command: Command, tmp_path: Path
) -> None:
    handler_id = command.add_handler(bundle(tmp_path, "a"))
    fifo = tmp_path / "passphrase.fifo"
    os.mkfifo(fifo)
    remove = ["handler", "remove", "--door", DOOR, "--handler", handler_id,
              "--passphrase-file", command.passphrase_file]  # fmt: skip
    blocked = start("epoch", "--door", DOOR, "--passphrase-file", fifo, "--dir", command.folder)
    waiting: subprocess.Popen[str] | None = None
    try:
        wait_until_locked(command.folder / ".lock", blocked)

        refused = command.run(*remove)  # waits about five seconds, then gives up
        assert refused.returncode == 1
        assert "another shoal command is running on this directory" in refused.stderr

        waiting = start(*remove, "--dir", command.folder)
        time.sleep(1)
        feed(fifo, blocked, PASSPHRASE + "\n")
        _, err = blocked.communicate(timeout=60)
        assert blocked.returncode == 0, err
        _, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err  # it waited its turn
    finally:
        for process in (blocked, waiting):
            if process is not None:
                if process.poll() is None:
                    process.kill()
                process.communicate()  # closes its pipes

    # The epoch signed what it read, and the removal (with its own epoch)
    # came after it, whole.
    assert [h.handler_id for h in command.verified_epoch(1).handlers] == [handler_id]
    assert command.verified_epoch(2).handlers == ()
    notes = sorted(p.name for p in (command.folder / "notes").glob("epoch-*"))
    assert notes == ["epoch-news-1.note", "epoch-news-2.note"]
    assert command.state()["compartments"][DOOR] == {
        "id": command.verified_epoch(2).compartment_id,
        "handlers": [],
        "epoch": 2,
        "escrow": str(ESCROW),
        "command_reads": True,
    }


def test_a_state_restored_from_a_backup_never_reuses_an_epoch_number(
    command: Command, tmp_path: Path
) -> None:
    command.add_handler(bundle(tmp_path, "a"))
    assert command.epoch().returncode == 0
    backup = (command.folder / "organization.json").read_bytes()  # knows epoch 1
    assert command.epoch().returncode == 0
    second = command.note(f"epoch-{DOOR}-2.note")
    (command.folder / "organization.json").write_bytes(backup)

    done = command.epoch()

    assert done.returncode == 0, done.stderr
    assert "Epoch 3 of 'news'" in done.stdout
    assert command.note(f"epoch-{DOOR}-2.note") == second
    assert command.verified_epoch(3).number == 3
    assert command.state()["compartments"][DOOR]["epoch"] == 3


def init_argv(folder: Path, secret: Path) -> list[str | Path]:
    return ["command", "init", "--dir", folder, "--passphrase-file", secret, "--work-factor", "10"]


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_init_refuses_a_directory_with_a_root_key_and_writes_nothing(tmp_path: Path) -> None:
    folder, secret = tmp_path / "command", tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    (folder / "root.vkey").mkdir(parents=True)

    done = shoal(*init_argv(folder, secret))

    assert done.returncode == 1
    assert "already holds an organization" in done.stderr
    assert tree(folder) == {"root.vkey", ".lock"}
    (folder / "root.vkey").rmdir()
    ok(*init_argv(folder, secret))


def test_an_init_that_fails_midway_removes_what_it_wrote(tmp_path: Path) -> None:
    folder, secret = tmp_path / "command", tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    obstacle = folder / "notes" / "command-1.note"
    obstacle.mkdir(parents=True)  # found only after both keystores are sealed

    done = shoal(*init_argv(folder, secret))

    assert done.returncode == 1
    assert "command-1.note exists already" in done.stderr
    # Only what was there before, and the lock file, which is never removed.
    assert tree(folder) == {"notes", "notes/command-1.note", ".lock"}
    obstacle.rmdir()
    out = ok(*init_argv(folder, secret))
    assert "Organization" in out
    root = crypto.NoteVerifier.parse((folder / "root.vkey").read_text().strip())
    assert Command(folder, secret, root).chain()


def test_the_root_key_rotates_the_command_key(command: Command, tmp_path: Path) -> None:
    command.add_handler(bundle(tmp_path, "a"))
    assert command.epoch().returncode == 0
    old_keystore = (command.folder / "command.keystore.age").read_bytes()

    done = command.run(
        "rotate-key", "--passphrase-file", command.passphrase_file, "--work-factor", "10"
    )

    assert done.returncode == 0, done.stderr
    assert "Command key 2 certified by the root key: command-2.note" in done.stdout
    organization = org.verify_organization(command.note("organization.note"), command.root)
    second = org.verify_command(command.note("command-2.note"), command.root, organization)
    first = org.verify_command(command.note("command-1.note"), command.root, organization)
    assert second.serial == 2 and second.command_key != first.command_key
    assert second.reading_recipient == first.reading_recipient  # command still reads
    assert (command.folder / "command.keystore.age").read_bytes() != old_keystore
    assert not (command.folder / "command.keystore.age.new").exists()
    # The next epoch is signed by the new key, and verifies only under it.
    assert command.epoch().returncode == 0
    note = command.note(f"epoch-{DOOR}-2.note")
    assert org.verify_epoch(note, second, organization, now=datetime.now(UTC)).number == 2
    with pytest.raises((crypto.CryptoError, org.OrgError)):
        org.verify_epoch(note, first, organization, now=datetime.now(UTC))
    assert command.state()["command"]["serial"] == 2


def test_a_wrong_root_passphrase_rotates_nothing(command: Command, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    before = command.state()
    done = command.run(
        "rotate-key", "--passphrase-file", command.passphrase_file,
        "--root-passphrase-file", wrong, "--work-factor", "10",
    )  # fmt: skip
    assert done.returncode == 1 and "wrong passphrase" in done.stderr
    assert command.state() == before
    assert not (command.folder / "notes" / "command-2.note").exists()
