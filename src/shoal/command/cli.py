"""``shoal command``: the shell around :mod:`._state` and :mod:`._notes`.

Every sub-command that changes the state locks the directory, loads the
state, applies one pure transition, and saves the result only when the
whole step succeeded; keys are generated and keystores opened here, and
nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click

from .. import corroborate, crypto, org, trusted
from . import _events, _files, _state
from ._audit import gather
from ._doors import doors_lists, newest_doors_note, sign_doors, split_door_address
from ._notes import (
    Founding,
    epoch_note_name,
    found,
    newest_epoch_note,
    next_epoch,
    rotate,
    sign_epoch,
)
from .errors import CommandError, StateError


class _Group(trusted.ErrorReportingGroup):
    expected = (trusted.TrustedError, CommandError)

    # ``exposure`` reads a server's database: SQLAlchemy and Alembic take
    # ~0.5 s to import, which every other command of command's would pay.
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "exposure"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "exposure":
            from ._exposure_cli import exposure  # noqa: PLC0415

            return exposure
        return super().get_command(ctx, cmd_name)


dir_option = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Command's state directory.",
)
door_option = click.option("--door", required=True, help="The compartment's door.")
root_passphrase_option = click.option(
    "--root-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The root keystore's passphrase (default: the same as the command keystore's).",
)
days_option = click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=90,
    show_default=True,
    help="Days until the epoch expires (a server serving it later is caught).",
)


@contextlib.contextmanager
def _locked_state(layout: _state.Layout) -> Iterator[_state.CommandState]:
    """The state, read under the directory's lock, which is held until the
    ``with`` block has saved what it changed."""
    _state.require(layout)  # no lock file left in a directory that is not command's
    with _files.locked(layout):
        yield _state.load(layout)


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
    trusted.make_private_dir(folder)
    # Locked so that two inits, or an init and another command, cannot
    # interleave their keys, notes and state.
    with _files.locked(layout):
        for path in (layout.state, layout.root_keystore, layout.command_keystore, layout.root_vkey):
            if path.exists():
                raise StateError(f"{path} exists: {folder} already holds an organization")
        passphrase = trusted.read_passphrase(passphrase_file, new=True)
        key_type = crypto.KeyType.X25519 if classic else crypto.DEFAULT_KEY_TYPE
        organization = org.Organization(org.new_id(), key_type, crypto.generate_salt())
        root = crypto.SigningKey.generate()
        command_key = crypto.SigningKey.generate()
        reading = crypto.generate_identity(key_type)
        founding = found(organization, root=root, command=command_key, reading=reading.recipient())
        keystores = {
            layout.root_keystore: crypto.Keystore((), root),
            layout.command_keystore: crypto.Keystore((reading,), command_key),
        }
        # A half-done init would leave keys behind that make a re-run refuse
        # ("already holds an organization"): whatever stops it, even ^C,
        # what this run made goes. The lock file stays (see _files.locked).
        created = _files.Created()
        try:
            _create_organization(
                layout,
                founding,
                keystores,
                passphrase=passphrase,
                work_factor=work_factor,
                created=created,
            )
        except BaseException:
            created.undo()
            raise

    click.echo(f"Organization {organization.org_id} created ({key_type.value}).")
    click.echo("Root verifier key: publish it out of band; every desk and server trusts it:")
    click.echo(f"  {founding.state.root_key}")
    click.echo("Its fingerprint: give it to members out of band, for `shoal field enroll`:")
    click.echo(f"  {org.root_fingerprint(founding.state.root_key)}")
    click.echo(f"Signed notes (give them to the server operator): {layout.notes}")
    click.echo(
        f"Move {layout.root_keystore} to offline storage: "
        "it is needed only to rotate the command key."
    )


def _create_organization(
    layout: _state.Layout,
    founding: Founding,
    keystores: dict[Path, crypto.Keystore],
    *,
    passphrase: str,
    work_factor: int,
    created: _files.Created,
) -> None:
    """Write a new organization's files, none over an existing one, each
    recorded in ``created`` as soon as it exists."""
    if not layout.notes.exists():
        trusted.make_private_dir(layout.notes)
        created.add(layout.notes)
    for path, keystore in keystores.items():
        trusted.create_keystore(path, keystore, passphrase, work_factor=work_factor)
        created.add(path)
    for name, note in founding.notes.items():
        _files.write_new(layout.notes / name, note.encode())
        created.add(layout.notes / name)
    _files.write_new(layout.root_vkey, f"{founding.state.root_key}\n".encode())
    created.add(layout.root_vkey)
    _state.save(layout, founding.state)  # last: its presence marks a finished init


@command.command("rotate-key")
@dir_option
@trusted.passphrase_file_option
@root_passphrase_option
@trusted.work_factor_option
def rotate_key(
    folder: Path, passphrase_file: Path | None, root_passphrase_file: Path | None, work_factor: int
) -> None:
    """Replace the command key: the root key certifies a new one.

    Do it when the command key may be known to someone else. Desks and the
    server follow the newest certificate and from then on refuse epochs
    the old key signs; sign each compartment's next epoch afterwards.
    """
    layout = _state.Layout(folder)
    with _locked_state(layout) as state:
        passphrase = trusted.read_passphrase(passphrase_file, new=False)
        root_passphrase = (
            trusted.read_passphrase(root_passphrase_file, new=False)
            if root_passphrase_file is not None
            else passphrase
        )
        root = trusted.unlock_keystore(layout.root_keystore, root_passphrase).signing_key
        current = trusted.unlock_keystore(layout.command_keystore, passphrase)
        new_key = crypto.SigningKey.generate()
        rotated, name, note = rotate(state, root=root, command=new_key)
        # The note first (it never replaces one: a second rotation racing
        # this one fails here), then the keystore, then the state that
        # marks the rotation done.
        _files.write_new(layout.notes / name, note.encode())
        replacement = layout.command_keystore.with_name(layout.command_keystore.name + ".new")
        replacement.unlink(missing_ok=True)
        trusted.create_keystore(
            replacement,
            crypto.Keystore(current.identities, new_key),
            passphrase,
            work_factor=work_factor,
        )
        replacement.replace(layout.command_keystore)
        _state.save(layout, rotated)
    click.echo(f"Command key {rotated.command.serial} certified by the root key: {name}.")
    click.echo("Give the note to the server operator, then sign each compartment's next epoch.")


@command.command("doors")
@dir_option
@click.option(
    "--general",
    "general",
    multiple=True,
    metavar="ADDRESS",
    help="An onion address of the organization's general contact (repeat for several).",
)
@click.option(
    "--door",
    "door_addresses",
    multiple=True,
    metavar="DOOR=ADDRESS",
    help="An onion address of one compartment's door (repeat; a door may have several).",
)
@trusted.passphrase_file_option
@root_passphrase_option
def doors(
    folder: Path,
    general: tuple[str, ...],
    door_addresses: tuple[str, ...],
    passphrase_file: Path | None,
    root_passphrase_file: Path | None,
) -> None:
    """Sign the organization's onion addresses with the root key.

    One run signs a general list (with --general) and one list per door
    named: each door's list names only that door's addresses, so a contact
    of one compartment learns of no other. Every door serves its list, and
    contacts check it against the root key's fingerprint.
    """
    layout = _state.Layout(folder)
    pairs = [split_door_address(text) for text in door_addresses]
    with _locked_state(layout) as state:
        # Checked, and numbered after every doors note on disk, before the
        # passphrase is asked for; written under the lock, never over a note.
        lists = doors_lists(
            state,
            general=general,
            doors=pairs,
            newest_note=newest_doors_note(_files.note_names(layout)),
        )
        root_passphrase = trusted.read_passphrase(
            root_passphrase_file if root_passphrase_file is not None else passphrase_file,
            new=False,
        )
        root = trusted.unlock_keystore(layout.root_keystore, root_passphrase).signing_key
        notes = sign_doors(state, lists, root)
        if not layout.notes.exists():
            trusted.make_private_dir(layout.notes)
        for name, note in notes.items():
            _files.write_new(layout.notes / name, note.encode())
    for signed, name in zip(lists, notes, strict=True):
        scope = "general contact" if signed.door is None else f"door {signed.door!r}"
        click.echo(f"Doors list {signed.number} ({scope}): {layout.notes / name}")
        for address in signed.addresses:
            click.echo(f"  {address}")
    click.echo(f"Signed by the root key, fingerprint {org.root_fingerprint(state.root_key)}.")
    click.echo("Give the notes to the server operator (shoal admin import).")


@command.command("audit-heads")
@dir_option
@trusted.passphrase_file_option
@click.argument(
    "entries", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the heads found (JSON) for `shoal desk audit-compare` on any desk.",
)
def audit_heads(
    folder: Path, passphrase_file: Path | None, entries: tuple[Path, ...], out: Path | None
) -> None:
    """Gather the audit-log heads desks saw, from exported audit entries.

    Two heads of one size with different roots are a split view: said here,
    exit status 1. Heads of different sizes are checked by a desk against
    the server's proofs: pass --out's file to `shoal desk audit-compare`.
    """
    layout = _state.Layout(folder)
    _state.require(layout)
    passphrase = trusted.read_passphrase(passphrase_file, new=False)
    reading = trusted.unlock_keystore(layout.command_keystore, passphrase).identities
    handlers = {
        h.verify_key: (h.handler_id, epoch.door)
        for epoch in _files.signed_epochs(layout)
        for h in epoch.handlers
    }
    gathered = gather(((str(p), p.read_bytes()) for p in entries), reading[0], handlers)
    for head in gathered.heads:
        click.echo(f"{head.door!r} handler {head.handler}: size {head.size}")
    for problem in gathered.refused:
        click.echo(f"warning: {problem}", err=True)
    if out is not None:
        trusted.write_json(out, {"heads": sorted({h.note for h in gathered.heads})})
        click.echo(f"Heads written to {out}: check them on a desk with `shoal desk audit-compare`.")
    for fork in gathered.forks:
        click.echo(f"ALARM: {fork}", err=True)
    if gathered.forks:
        raise SystemExit(1)


@command.command("events")
@dir_option
@trusted.passphrase_file_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--window-hours",
    type=click.FloatRange(1 / 60, 30 * 24),
    default=corroborate.Settings().window_s / 3600,
    show_default=True,
    help="Reports this close in time can tell of one event.",
)
@click.option(
    "--distance-km",
    type=click.FloatRange(0.01, 500),
    default=corroborate.Settings().distance_m / 1000,
    show_default=True,
    help="Reports this close in place (beyond their grid cells) can tell of one event.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the events (JSON) to this file.",
)
def events(  # click passes every option by name
    *,
    folder: Path,
    passphrase_file: Path | None,
    files: tuple[Path, ...],
    window_hours: float,
    distance_km: float,
    json_out: Path | None,
) -> None:
    """Group forwarded reports into events, across compartments.

    FILES are forwards a desk exported (`shoal desk forwards-export`). Each
    is believed only if a handler of the compartment it names signed it;
    the others are listed as refused and never grouped.
    """
    layout = _state.Layout(folder)
    _state.require(layout)
    passphrase = trusted.read_passphrase(passphrase_file, new=False)
    reading = trusted.unlock_keystore(layout.command_keystore, passphrase).identities
    epochs = _files.signed_epochs(layout)
    opened = _events.open_forwards(
        ((p.name.removesuffix(".age"), p.read_bytes()) for p in files),
        reading[0],
        _events.signers_of(epochs),
    )
    settings = corroborate.Settings(window_s=window_hours * 3600, distance_m=distance_km * 1000)
    found = _events.events(opened.forwards, settings)
    click.echo(_events.TWO_DOORS)
    for event in found:
        click.echo("")
        for line in _events.lines(event):
            click.echo(line)
    if opened.refused:
        click.echo("")
        click.echo(f"Refused, never grouped ({len(opened.refused)}):")
        for why in opened.refused:
            click.echo(f"  {why}")
    if json_out is not None:
        trusted.write_json(
            json_out,
            {
                "statement": _events.TWO_DOORS,
                "events": [_events.as_json(e) for e in found],
                "refused": list(opened.refused),
            },
        )
        click.echo(f"Events written to {json_out}.")


@command.group()
def compartment() -> None:
    """Compartments: a door and its handlers."""


@compartment.command("add")
@dir_option
@door_option
def compartment_add(folder: Path, door: str) -> None:
    """Create a compartment with its own door."""
    layout = _state.Layout(folder)
    with _locked_state(layout) as loaded:
        state = _state.add_compartment(loaded, door, org.new_id())
        _state.save(layout, state)
    added = state.compartment(door)
    click.echo(f"Compartment {added.compartment_id} created with door {door!r}.")
    click.echo("Add its handlers, then sign its first epoch with `shoal command epoch`.")


@compartment.command("policy")
@dir_option
@door_option
@click.option(
    "--escrow",
    "escrow",
    default=None,
    help="An age recipient whose identity is kept offline, so that lost laptops lose no data.",
)
@click.option("--no-escrow", is_flag=True, help="Remove the escrow recipient.")
@click.option(
    "--command-reads/--command-does-not-read",
    default=None,
    help="Whether command's reading identity is a recipient of everything sent to the door.",
)
def compartment_policy(
    folder: Path, door: str, escrow: str | None, no_escrow: bool, command_reads: bool | None
) -> None:
    """Set who besides the handlers the next epochs are encrypted to."""
    if escrow is not None and no_escrow:
        raise click.UsageError("--escrow and --no-escrow exclude each other")
    layout = _state.Layout(folder)
    with _locked_state(layout) as loaded:
        state = loaded
        if escrow is not None:
            try:
                recipient = crypto.parse_recipient(escrow)
            except crypto.KeyFormatError:
                raise click.BadParameter("not an age recipient", param_hint="--escrow") from None
            state = _state.set_escrow(state, door, recipient)
        elif no_escrow:
            state = _state.set_escrow(state, door, None)
        if command_reads is not None:
            state = _state.set_command_reads(state, door, command_reads)
        _state.save(layout, state)
    changed = state.compartment(door)
    click.echo(
        f"{door!r}: escrow {changed.escrow or 'none'}; command reads: "
        f"{'yes' if changed.command_reads else 'no'}. Sign the next epoch for it to apply."
    )


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
    with _locked_state(layout) as loaded:
        state = _state.add_handler(loaded, door, enrollment)
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
@days_option
@trusted.passphrase_file_option
def handler_remove(
    folder: Path, door: str, handler_id: str, days: int, passphrase_file: Path | None
) -> None:
    """Remove a handler and sign the compartment's next epoch at once."""
    layout = _state.Layout(folder)
    with _locked_state(layout) as loaded:
        state = _state.remove_handler(loaded, door, handler_id)
        # Refused (and nothing saved) if the epoch without them would strand data.
        new, path = _sign_next_epoch(layout, state, door, days, passphrase_file)
    click.echo(f"Handler {handler_id} removed from {door!r}.")
    _say_signed(new, path)


@command.command()
@dir_option
@door_option
@days_option
@trusted.passphrase_file_option
def epoch(folder: Path, door: str, days: int, passphrase_file: Path | None) -> None:
    """Sign the compartment's next epoch with the command key."""
    layout = _state.Layout(folder)
    with _locked_state(layout) as state:
        new, path = _sign_next_epoch(layout, state, door, days, passphrase_file)
    _say_signed(new, path)


def _sign_next_epoch(
    layout: _state.Layout,
    state: _state.CommandState,
    door: str,
    days: int,
    passphrase_file: Path | None,
) -> tuple[org.Epoch, Path]:
    """Sign, write and record the next epoch of ``door`` from ``state``.

    The caller holds the lock from reading the state, through the
    passphrase prompt, to writing the note: an epoch signed from a state
    that another command changed meanwhile could re-add a removed handler,
    or give its number to a second, different epoch.
    """
    # Numbered after both the state and the notes on disk (a state file
    # restored from a backup lags behind them); built, and refused, before
    # the passphrase is asked for.
    newest_note = newest_epoch_note(door, _files.note_names(layout))
    new = next_epoch(state, door, now=datetime.now(UTC), days=days, newest_note=newest_note)
    passphrase = trusted.read_passphrase(passphrase_file, new=False)
    keystore = trusted.unlock_keystore(layout.command_keystore, passphrase)
    note = sign_epoch(state, new, keystore.signing_key)
    # The state goes first: a crash between the two writes skips a number
    # (harmless). The note never replaces one already signed, which desks
    # would rightly take for a split view.
    _state.save(layout, _state.record_epoch(state, new))
    path = layout.notes / epoch_note_name(new)
    _files.write_new(path, note.encode())
    return new, path


def _say_signed(new: org.Epoch, path: Path) -> None:
    others = [name for name, r in (("command", new.command), ("escrow", new.escrow)) if r]
    besides = f" and {' and '.join(others)}" if others else ""
    click.echo(
        f"Epoch {new.number} of {new.door!r}: {len(new.handlers)} handler(s){besides}, "
        f"expires {new.expires:%Y-%m-%d %H:%M} UTC."
    )
    click.echo(f"Signed note: {path} (give it to the server operator now).")
