"""``shoal demo``: a throwaway organization, everything on this machine.

It plays every role through the real command line, as people would on
their own machines: command creates the organization and two compartments,
two handlers make keystores and enrol, the server operator initializes a
data directory and imports the signed notes, and the server starts on
127.0.0.1. Passphrases are printed because this is a demo; never do that
with a real organization.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import click

from . import crypto, org

DOORS = ("news", "field")
#: The door whose contacts can offer their services (the example questionnaire).
SERVICES_DOOR = "field"
EXAMPLE_QUESTIONNAIRE = "questionnaire_example.toml"
DEMO_WORK_FACTOR = "14"  # keystores open in ~50 ms: fine for a demo only


def _shoal(*args: str) -> str:
    # Our own interpreter and arguments we built: no untrusted input.
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "shoal", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise click.ClickException(f"shoal {args[0]} {args[1]} failed:\n{done.stderr.strip()}")
    return done.stdout


def _passphrase(folder: Path, name: str) -> tuple[str, Path]:
    words = "-".join(secrets.token_hex(3) for _ in range(4))
    path = folder / f"{name}.passphrase"
    # Created 0600 from the start: never readable by others, not even
    # between creating and chmod-ing it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(words + "\n")
    return words, path


def build(
    root: Path, url: str, *, classic: bool = False, database: str | None = None
) -> dict[str, str]:
    """Create the organization under ``root``; returns what to print.

    ``classic`` makes an organization of X25519 keys (for older age tools);
    ``database`` is the server's SQLAlchemy URL (default: SQLite in its data
    directory).
    """
    key_flag = ["--classic"] if classic else []
    secrets_dir = root / "passphrases"
    secrets_dir.mkdir(mode=0o700)
    command_dir = root / "command"
    command_pass, command_file = _passphrase(secrets_dir, "command")
    _shoal(
        "command", "init", "--dir", str(command_dir), *key_flag,
        "--passphrase-file", str(command_file), "--work-factor", DEMO_WORK_FACTOR,
    )  # fmt: skip
    root_key = (command_dir / "root.vkey").read_text().strip()
    # One handler per door, so each door's epochs need an escrow recipient
    # (an epoch must not strand data): its identity would be kept offline;
    # here it is a file beside the rest.
    escrow_file = secrets_dir / "escrow.key"
    escrow = crypto.generate_identity(crypto.KeyType.X25519 if classic else crypto.KeyType.HYBRID)
    escrow_file.write_text(escrow.secret_string() + "\n")
    escrow_file.chmod(0o600)
    shown = {
        "command passphrase": command_pass,
        "root key": root_key,
        "organization fingerprint (members enrol with it)": org.root_fingerprint(
            crypto.NoteVerifier.parse(root_key)
        ),
        "escrow identity (keep it offline)": str(escrow_file),
    }
    for door in DOORS:
        desk_dir = root / f"desk-{door}"
        desk_pass, desk_file = _passphrase(secrets_dir, f"desk-{door}")
        _shoal(
            "desk", "keygen", "--dir", str(desk_dir), *key_flag,
            "--passphrase-file", str(desk_file), "--work-factor", DEMO_WORK_FACTOR,
        )  # fmt: skip
        _shoal("command", "compartment", "add", "--dir", str(command_dir), "--door", door)
        _shoal(
            "command", "compartment", "policy", "--dir", str(command_dir), "--door", door,
            "--escrow", str(escrow.recipient()),
        )  # fmt: skip
        _shoal(
            "command", "handler", "add", "--dir", str(command_dir), "--door", door,
            "--bundle", str(desk_dir / "enrollment.txt"),
        )  # fmt: skip
        _shoal(
            "command", "epoch", "--dir", str(command_dir), "--door", door,
            "--passphrase-file", str(command_file),
        )  # fmt: skip
        # The server shows a compartment's notes only to its handlers, so the
        # desk learns the compartment's id from command, like its door.
        state = json.loads((command_dir / "organization.json").read_text())
        _shoal(
            "desk", "enroll", "--dir", str(desk_dir), "--server", url,
            "--root-key", root_key, "--door", door,
            "--compartment", state["compartments"][door]["id"],
        )  # fmt: skip
        shown[f"handler of {door!r}: desk"] = str(desk_dir)
        shown[f"handler of {door!r}: passphrase"] = desk_pass
    server_dir = root / "server"
    database_args = ["--database", database] if database else []
    _shoal("admin", "init", "--data", str(server_dir), "--root-key", root_key, *database_args)
    notes = sorted(str(p) for p in (command_dir / "notes").glob("*.note"))
    _shoal("admin", "import", "--data", str(server_dir), *notes)
    # The operator's file that lets one door take offers of services.
    questionnaires = server_dir / "questionnaires"
    questionnaires.mkdir()
    example = resources.files("shoal.server").joinpath(EXAMPLE_QUESTIONNAIRE).read_text("utf-8")
    (questionnaires / f"{SERVICES_DOOR}.toml").write_text(example, "utf-8")
    return shown


@click.command()
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the organization (default: a new temporary folder).",
)
def demo(port: int, folder: Path | None) -> None:
    """Create a throwaway organization and serve it on 127.0.0.1."""
    root = folder or Path(tempfile.mkdtemp(prefix="shoal-demo-"))
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    click.echo(f"Creating a demo organization in {root} …")
    shown = build(root, url)
    click.echo("")
    for label, value in shown.items():
        click.echo(f"  {label}: {value}")
    click.echo("")
    for door in DOORS:
        click.echo(f"  contact's page for {door!r}: {url}/d/{door}/")
    desk = root / f"desk-{DOORS[0]}"
    pass_file = root / "passphrases" / f"desk-{DOORS[0]}.passphrase"
    click.echo("")
    click.echo("Then, as the handler of 'news', in another terminal, the desk in a browser")
    click.echo(f"(open the link it prints; the passphrase is in {pass_file}):")
    click.echo(f"  shoal desk ui --dir {desk}")
    click.echo("or on the command line:")
    for step in ("sync", "list"):
        click.echo(f"  shoal desk {step} --dir {desk} --passphrase-file {pass_file}")
    click.echo(f"  shoal desk read --dir {desk} --passphrase-file {pass_file} ITEM_ID")
    click.echo(
        f"  shoal desk reply --dir {desk} --passphrase-file {pass_file} CONTACT_ID --message '…'"
    )
    click.echo("")
    click.echo("Serving; press Ctrl-C to stop.")
    sys.stdout.flush()
    # Become the server, so that Ctrl-C or a signal reaches it directly.
    os.execv(  # noqa: S606 - our own interpreter, arguments we built
        sys.executable,
        [sys.executable, "-m", "shoal", "serve", "--data", str(root / "server"),
         "--port", str(port)],
    )  # fmt: skip
