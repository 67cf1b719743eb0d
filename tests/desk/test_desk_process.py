"""Command and desk as real processes, then sync against the fake server.

The command side runs as ``shoal command`` processes, the handler's keys
are made by a ``shoal desk keygen`` process, and the server (being built
in parallel) is the fake one, serving the notes command wrote.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from desk_kit import DOOR, NOW, PASSPHRASE, SERVER_URL, Desk, message
from fake_server import FakeServer

from shoal import crypto, org, trusted

SHOAL = [sys.executable, "-m", "shoal"]


def shoal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SHOAL, *args], capture_output=True, text=True, timeout=60, check=False)


def ok(*args: str) -> str:
    done = shoal(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_organization_made_by_command_is_trusted_by_a_desk(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    command, desk_dir = tmp_path / "command", tmp_path / "desk"
    keyed = ["--passphrase-file", str(secret)]
    ok("command", "init", "--dir", str(command), *keyed, "--work-factor", "10")
    root_key = (command / "root.vkey").read_text().strip()
    ok("command", "compartment", "add", "--dir", str(command), "--door", DOOR)
    # One handler here: an escrow recipient keeps the epoch from stranding data.
    escrow = str(crypto.generate_identity().recipient())
    ok("command", "compartment", "policy", "--dir", str(command), "--door", DOOR,
       "--escrow", escrow)  # fmt: skip
    enrollment = ok("desk", "keygen", "--dir", str(desk_dir), *keyed, "--work-factor", "10")
    assert enrollment == (desk_dir / "enrollment.txt").read_text()
    ok(
        "command",
        "handler",
        "add",
        "--dir",
        str(command),
        "--door",
        DOOR,
        "--bundle",
        str(desk_dir / "enrollment.txt"),
    )
    ok("command", "epoch", "--dir", str(command), "--door", DOOR, *keyed)
    ok(
        "desk",
        "enroll",
        "--dir",
        str(desk_dir),
        "--server",
        SERVER_URL,
        "--root-key",
        root_key,
        "--door",
        DOOR,
    )
    notes = {p.name: p.read_text() for p in (command / "notes").glob("*.note")}
    root = crypto.NoteVerifier.parse(root_key)
    organization = org.verify_organization(notes["organization.note"], root)
    certificate = org.verify_command(notes["command-1.note"], root, organization)
    epoch = org.verify_epoch(notes[f"epoch-{DOOR}-1.note"], certificate, organization, now=NOW)
    server = FakeServer(
        root=root,
        document={
            "organization": notes["organization.note"],
            "commands": [notes["command-1.note"]],
            "epochs": [notes[f"epoch-{DOOR}-1.note"]],
        },
    )
    item = server.add_item(epoch.compartment_id, message(epoch.recipients(), b"hi"), contact=None)
    desk = Desk(desk_dir, server.transport(), secret)

    assert "Epoch 1: 1 new item(s)" in desk.ok("sync")
    assert "vouched for by the server only" in desk.ok("list")
    assert shoal("desk", "read", "--dir", str(desk_dir), *keyed, item).stdout.endswith("hi\n")


def test_a_wrong_passphrase_is_refused_by_the_desk_process(tmp_path: Path) -> None:
    secret, wrong = tmp_path / "passphrase", tmp_path / "wrong"
    secret.write_text(PASSPHRASE + "\n")
    wrong.write_text("guess\n")
    desk_dir = tmp_path / "desk"
    ok(
        "desk",
        "keygen",
        "--dir",
        str(desk_dir),
        "--passphrase-file",
        str(secret),
        "--work-factor",
        "10",
    )

    done = shoal("desk", "list", "--dir", str(desk_dir), "--passphrase-file", str(wrong))

    assert done.returncode == 1
    assert "wrong passphrase" in done.stderr
    again = shoal("desk", "keygen", "--dir", str(desk_dir), "--passphrase-file", str(secret))
    assert again.returncode == 1
    assert "already has its keys" in again.stderr


def test_command_adds_only_a_bundle_the_handlers_key_signed(tmp_path: Path) -> None:
    """The handler id command compares by phone covers the verify key only;
    whoever carries the bundle must not get their recipient in with it."""
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    command, desk_dir = tmp_path / "command", tmp_path / "desk"
    ok("command", "init", "--dir", str(command), "--passphrase-file", str(secret),
       "--work-factor", "10")  # fmt: skip
    ok("command", "compartment", "add", "--dir", str(command), "--door", DOOR)
    # One handler here: an escrow recipient keeps the epoch from stranding data.
    escrow = str(crypto.generate_identity().recipient())
    ok("command", "compartment", "policy", "--dir", str(command), "--door", DOOR,
       "--escrow", escrow)  # fmt: skip
    ok("desk", "keygen", "--dir", str(desk_dir), "--passphrase-file", str(secret),
       "--work-factor", "10")  # fmt: skip
    genuine = (desk_dir / "enrollment.txt").read_text()
    magic, _, verify_key, signature = genuine.splitlines()
    attacker = crypto.SigningKey.generate()
    attackers = trusted.Enrollment(crypto.generate_identity().recipient(), attacker.verify_key)
    _, their_recipient, _, their_signature = attackers.text(attacker).splitlines()
    tampered = {
        "swapped recipient": [magic, their_recipient, verify_key, signature],
        "signed by another key": [magic, their_recipient, verify_key, their_signature],
        "no signature": [magic, their_recipient, verify_key],
    }

    def handler_add(text: str) -> subprocess.CompletedProcess[str]:
        bundle = tmp_path / "bundle.txt"
        bundle.write_text(text)
        return shoal("command", "handler", "add", "--dir", str(command), "--door", DOOR,
                     "--bundle", str(bundle))  # fmt: skip

    def snapshot() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(command.rglob("*")) if p.is_file()}

    before = snapshot()
    for name, lines in tampered.items():
        done = handler_add("\n".join(lines) + "\n")
        assert done.returncode == 1, name
        expected = "not signed" if name == "no signature" else "signature does not verify"
        assert expected in done.stderr, (name, done.stderr)
        assert snapshot() == before, name

    added = handler_add(genuine)
    assert added.returncode == 0, added.stderr
    handler_id = org.handler_id_for(trusted.Enrollment.parse(genuine).verify_key)
    assert f"Handler {handler_id} added" in added.stdout
    ok("command", "epoch", "--dir", str(command), "--door", DOOR, "--passphrase-file", str(secret))
    epoch = (command / "notes" / f"epoch-{DOOR}-1.note").read_text()
    assert str(trusted.Enrollment.parse(genuine).recipient) in epoch
    assert their_recipient.split()[1] not in epoch
