"""``shoal command doors``: the organization's onion addresses, signed by
the root key, as real processes (the command kit of test_command_cli)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_command_cli import DOOR, Command, init, shoal

from shoal import crypto, org
from shoal.command._doors import doors_note_name, newest_doors_note

OTHER_DOOR = "field"


def address() -> str:
    return org.onion_address(os.urandom(32))


@pytest.fixture(scope="module")
def founded(tmp_path_factory: pytest.TempPathFactory) -> Command:
    made = init(tmp_path_factory.mktemp("doors") / "command")
    assert made.run("compartment", "add", "--door", OTHER_DOOR).returncode == 0
    return made


@pytest.fixture
def command(founded: Command, tmp_path: Path) -> Command:
    """A copy of one organization with compartments ``news`` and ``field``."""
    shutil.copytree(founded.folder, tmp_path / "command")
    return Command(tmp_path / "command", founded.passphrase_file, founded.root)


def sign(
    command: Command, *args: str | Path, passphrase: bool = True
) -> subprocess.CompletedProcess[str]:
    given = ("--passphrase-file", command.passphrase_file) if passphrase else ()
    return command.run("doors", *args, *given)


def fingerprint(command: Command) -> str:
    return org.root_fingerprint(command.root)


def opened(command: Command, name: str) -> org.DoorsList:
    return org.open_doors_list(command.note(name), fingerprint(command))


def doors_notes(command: Command) -> list[str]:
    return sorted(p.name for p in (command.folder / "notes").glob("doors-*"))


def test_one_run_signs_the_general_list_and_one_list_per_door(command: Command) -> None:
    general, news, news_too, field = address(), address(), address(), address()
    done = sign(
        command,
        "--general", general,
        "--door", f"{DOOR}={news}",
        "--door", f"{OTHER_DOOR}={field}",
        "--door", f"{DOOR}={news_too}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert doors_notes(command) == ["doors-1.note", "doors-field-1.note", "doors-news-1.note"]
    organization, _ = command.chain()
    assert opened(command, "doors-1.note") == org.DoorsList(
        organization.org_id, command.root, 1, None, (general,)
    )
    assert opened(command, "doors-news-1.note").addresses == (news, news_too)
    assert opened(command, "doors-news-1.note").door == DOOR
    assert opened(command, "doors-field-1.note").addresses == (field,)
    # A door's list names only its own addresses (need-to-know).
    assert general not in command.note("doors-news-1.note")
    assert field not in command.note("doors-news-1.note")
    # Verifiable by the server, which holds the root key itself.
    assert org.verify_doors_list(command.note("doors-1.note"), command.root).number == 1
    assert fingerprint(command) in done.stdout
    assert "give the notes to the server operator (shoal admin import)" in done.stdout.lower()
    assert f"door {DOOR!r}" in done.stdout and news in done.stdout


def test_lists_are_numbered_on_one_counter_and_never_replaced(command: Command) -> None:
    assert sign(command, "--general", address()).returncode == 0
    assert sign(command, "--door", f"{DOOR}={address()}").returncode == 0
    assert sign(command, "--general", address(), "--general", address()).returncode == 0
    assert doors_notes(command) == ["doors-1.note", "doors-3.note", "doors-news-2.note"]
    assert opened(command, "doors-news-2.note").number == 2
    assert len(opened(command, "doors-3.note").addresses) == 2
    # A note found on disk (say, signed before a backup was restored) moves the counter.
    stray = command.folder / "notes" / "doors-field-9.note"
    stray.write_text("signed elsewhere\n")
    assert sign(command, "--door", f"{OTHER_DOOR}={address()}").returncode == 0
    assert "doors-field-10.note" in doors_notes(command)
    assert stray.read_text() == "signed elsewhere\n"


def test_a_door_that_is_no_compartment_is_refused_before_any_passphrase(
    command: Command,
) -> None:
    done = sign(command, "--general", address(), "--door", f"nowhere={address()}", passphrase=False)
    assert done.returncode == 1
    assert "no compartment has the door 'nowhere'" in done.stderr
    assert "Passphrase" not in done.stderr  # refused before asking
    assert doors_notes(command) == []


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((), "name at least one address"),
        (("--general", "notanaddress.onion"), "56 letters"),
        (("--door", f"{DOOR}{address()}"), "DOOR=ADDRESS"),
        (("--general", "GOOD", "--general", "GOOD"), "given twice"),
    ],
)
def test_what_must_not_be_signed_is_refused(
    command: Command, args: tuple[str, ...], problem: str
) -> None:
    same = address()
    done = sign(command, *(same if a == "GOOD" else a for a in args), passphrase=False)
    assert done.returncode == 1
    assert problem in done.stderr
    assert doors_notes(command) == []


def test_a_mistyped_address_is_caught_by_its_checksum(command: Command) -> None:
    good = address()
    typo = good[:10] + ("a" if good[10] != "a" else "b") + good[11:]
    done = sign(command, "--general", typo, passphrase=False)
    assert done.returncode == 1 and "checksum" in done.stderr
    # Pasted in capitals: the same address, signed as Tor spells it.
    assert sign(command, "--general", good.upper()).returncode == 0
    assert opened(command, "doors-1.note").addresses == (good,)


def test_the_root_keystore_may_have_its_own_passphrase_file(
    command: Command, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    refused = sign(command, "--general", address(), "--root-passphrase-file", wrong)
    assert refused.returncode == 1 and "wrong passphrase" in refused.stderr
    assert doors_notes(command) == []
    # Only the root's passphrase file: the command keystore is not needed.
    done = sign(
        command, "--general", address(), "--root-passphrase-file", command.passphrase_file,
        passphrase=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert doors_notes(command) == ["doors-1.note"]


def test_without_the_root_keystore_nothing_is_signed(command: Command) -> None:
    """After init, the root keystore belongs offline: bring it back to sign."""
    (command.folder / "root.keystore.age").rename(command.folder / "elsewhere.age")
    done = sign(command, "--general", address())
    assert done.returncode == 1
    assert re.search(r"no keystore at \S*root\.keystore\.age", done.stderr)
    assert doors_notes(command) == []


def test_note_names_give_their_number_back() -> None:
    root = crypto.NoteVerifier(org.root_key_name("a" * 32), crypto.SigningKey.generate().verify_key)
    lists = [
        org.DoorsList("a" * 32, root, 3, None, ()),
        org.DoorsList("a" * 32, root, 12, "x-5", ()),
        org.DoorsList("a" * 32, root, 4, "7", ()),
    ]
    names = [doors_note_name(d) for d in lists]
    assert names == ["doors-3.note", "doors-x-5-12.note", "doors-7-4.note"]
    assert newest_doors_note(names) == 12
    assert newest_doors_note([*names[::2], "epoch-news-40.note", "doors-.note"]) == 4
    assert newest_doors_note([]) == 0


# -- what a contact runs: shoal field check-doors ----------------------------------


def check_doors(note: Path, fingerprint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return shoal("field", "check-doors", "--fingerprint", fingerprint, *extra, note)


@pytest.fixture
def signed(command: Command) -> tuple[Path, str, str]:
    """``news``'s list as command signs it: its path, its address, the fingerprint."""
    listed = address()
    assert sign(command, "--door", f"{DOOR}={listed}").returncode == 0
    return command.folder / "notes" / f"doors-{DOOR}-1.note", listed, fingerprint(command)


def test_the_field_client_checks_a_list_against_the_fingerprint(
    signed: tuple[Path, str, str],
) -> None:
    note, listed, given = signed
    done = check_doors(note, given.replace("-", "").upper())
    assert done.returncode == 0, done.stderr
    assert f"Verified: signed by the organization key {given}" in done.stdout
    assert f"Doors list 1, the addresses of door {DOOR!r}:" in done.stdout
    assert f"  {listed}\n" in done.stdout
    pasted = f"http://{listed.upper()}/d/{DOOR}/check"
    found = check_doors(note, given, "--address", pasted)
    assert found.returncode == 0 and f"{listed} is in the signed list." in found.stdout


def test_the_field_client_says_when_an_address_is_not_listed(
    signed: tuple[Path, str, str],
) -> None:
    note, _, given = signed
    other = address()
    done = check_doors(note, given, "--address", other)
    assert done.returncode == 1
    assert f"{other} is NOT in this signed list" in done.stderr


def test_the_field_client_refuses_what_does_not_verify(
    signed: tuple[Path, str, str], tmp_path: Path
) -> None:
    note, listed, given = signed
    another_root = crypto.NoteVerifier(
        org.root_key_name(org.new_id()), crypto.SigningKey.generate().verify_key
    )
    wrong = check_doors(note, org.root_fingerprint(another_root))
    assert wrong.returncode == 1
    assert "does NOT verify against fingerprint" in wrong.stderr
    assert "Do not trust the addresses it names" in wrong.stderr
    tampered = tmp_path / "tampered.note"
    tampered.write_text(note.read_text().replace(listed, address()))
    refused = check_doors(tampered, given)
    assert refused.returncode == 1 and "does NOT verify" in refused.stderr
    assert listed not in refused.stdout
    malformed = check_doors(note, "not-a-fingerprint")
    assert malformed.returncode == 1 and "32 hex digits" in malformed.stderr
    binary = tmp_path / "binary.note"
    binary.write_bytes(b"\xff\xfe")
    assert "not a doors list" in check_doors(binary, given).stderr
