"""``shoal command``: the shell around :mod:`._state` and :mod:`._notes`.

Every sub-command loads the state, applies one pure transition, and saves
the result only when the whole step succeeded; keys are generated and
keystores opened here, and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from .. import crypto, org, trusted
from . import _state
from ._notes import epoch_note_name, found, next_epoch, sign_epoch
from .errors import CommandError, StateError


class _Group(trusted.ErrorReportingGroup):
    expected = (trusted.TrustedError, CommandError)


dir_option = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Command's state directory.",
)
door_option = click.option("--door", required=True, help="The compartment's door.")


@click.group(cls=_Group)
def command() -> None:
    """Command's machine: organization keys, compartments, epochs."""


@command.command()
@dir_option
@click.option(
    "--classic",
    is_flag=True,
    help="Classic X25519 for the whole organization instead of post-quantum hybrid keys.",
)
@trusted.passphrase_file_option
@trusted.work_factor_option
def init(folder: Path, classic: bool, passphrase_file: Path | None, work_factor: int) -> None:
    """Create a new organization: root and command keys, first notes."""
    layout = _state.Layout(folder)
    for path in (layout.state, layout.root_keystore, layout.command_keystore):
        if path.exists():
            raise StateError(f"{path} exists: {folder} already holds an organization")
    passphrase = trusted.read_passphrase(passphrase_file, new=True)
    key_type = crypto.KeyType.X25519 if classic else crypto.DEFAULT_KEY_TYPE
    organization = org.Organization(org.new_id(), key_type, crypto.generate_salt())
    root = crypto.SigningKey.generate()
    command_key = crypto.SigningKey.generate()
    reading = crypto.generate_identity(key_type)
    founding = found(organization, root=root, command=command_key, reading=reading.recipient())

    trusted.make_private_dir(layout.notes)
    keystores = {
        layout.root_keystore: crypto.Keystore((), root),
        layout.command_keystore: crypto.Keystore((reading,), command_key),
    }
    for path, keystore in keystores.items():
        trusted.create_keystore(path, keystore, passphrase, work_factor=work_factor)
    for name, note in founding.notes.items():
        trusted.write_atomic(layout.notes / name, note.encode())
    root_key = str(founding.state.root_key)
    trusted.write_atomic(layout.root_vkey, f"{root_key}\n".encode())
    _state.save(layout, founding.state)  # last: its presence marks a finished init

    click.echo(f"Organization {organization.org_id} created ({key_type.value}).")
    click.echo("Root verifier key: publish it out of band; every desk and server trusts it:")
    click.echo(f"  {root_key}")
    click.echo(f"Signed notes (give them to the server operator): {layout.notes}")
    click.echo(
        f"Move {layout.root_keystore} to offline storage: "
        "it is needed only to rotate the command key."
    )


@command.group()
def compartment() -> None:
    """Compartments: a door and its handlers."""


@compartment.command("add")
@dir_option
@door_option
def compartment_add(folder: Path, door: str) -> None:
    """Create a compartment with its own door."""
    layout = _state.Layout(folder)
    state = _state.add_compartment(_state.load(layout), door, org.new_id())
    _state.save(layout, state)
    added = state.compartment(door)
    click.echo(f"Compartment {added.compartment_id} created with door {door!r}.")
    click.echo("Add its handlers, then sign its first epoch with `shoal command epoch`.")


@command.group()
def handler() -> None:
    """Handlers of a compartment."""


@handler.command("add")
@dir_option
@door_option
@click.option(
    "--bundle",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The handler's enrollment.txt (from `shoal desk keygen`).",
)
def handler_add(folder: Path, door: str, bundle: Path) -> None:
    """Add a handler to a compartment (from their enrollment bundle)."""
    layout = _state.Layout(folder)
    enrollment = trusted.Enrollment.parse(bundle.read_text(encoding="utf-8"))
    state = _state.add_handler(_state.load(layout), door, enrollment)
    _state.save(layout, state)
    click.echo(f"Handler {enrollment.handler_id} added to {door!r}.")
    click.echo(
        "Compare this id with the handler's over a trusted channel, "
        "then sign the next epoch with `shoal command epoch`."
    )
    click.echo(
        f"The handler's desk enrolls with: shoal desk enroll --dir DESK --server URL "
        f"--root-key {state.root_key} --door {door} "
        f"--compartment {state.compartment(door).compartment_id}"
    )


@handler.command("remove")
@dir_option
@door_option
@click.option("--handler", "handler_id", required=True, help="The handler's id.")
def handler_remove(folder: Path, door: str, handler_id: str) -> None:
    """Remove a handler from a compartment (takes effect with the next epoch)."""
    layout = _state.Layout(folder)
    state = _state.remove_handler(_state.load(layout), door, handler_id)
    _state.save(layout, state)
    current = state.compartment(door).epoch
    click.echo(f"Handler {handler_id} removed from {door!r}.")
    if current:
        click.echo(
            f"Epoch {current} still lists them, and what is sent is encrypted to them "
            f"until you sign the next one: run `shoal command epoch --door {door}` now.",
            err=True,
        )


@command.command()
@dir_option
@door_option
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=90,
    show_default=True,
    help="Days until the epoch expires.",
)
@trusted.passphrase_file_option
def epoch(folder: Path, door: str, days: int, passphrase_file: Path | None) -> None:
    """Sign the compartment's next epoch with the command key."""
    layout = _state.Layout(folder)
    state = _state.load(layout)
    # Built (and refused) before the passphrase is asked for.
    new = next_epoch(state, door, now=datetime.now(UTC), days=days)
    passphrase = trusted.read_passphrase(passphrase_file, new=False)
    keystore = trusted.unlock_keystore(layout.command_keystore, passphrase)
    note = sign_epoch(state, new, keystore.signing_key)
    # The state goes first: a crash between the two writes skips a number
    # (harmless), where the other order could sign two different epochs
    # under one number, which desks would rightly take for a split view.
    _state.save(layout, _state.record_epoch(state, new))
    path = layout.notes / epoch_note_name(new)
    trusted.write_atomic(path, note.encode())
    click.echo(
        f"Epoch {new.number} of {door!r}: {len(new.handlers)} handler(s), "
        f"expires {new.expires:%Y-%m-%d %H:%M} UTC."
    )
    click.echo(f"Signed note: {path} (give it to the server operator).")
