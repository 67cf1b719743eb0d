"""``shoal field``: the member's commands, and an interactive text interface.

Every command opens the encrypted store with the member's passphrase and
closes it when done; nothing readable stays on the device between
commands. ``shoal field`` alone (or ``shoal field menu``) asks what to do
step by step, for members who do not live at a command line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import click

from .. import crypto, org, trusted
from ._device import DeviceStore, wipe
from ._field import DEFAULT_DELAY, Field, FileChoice, Message
from ._place import place as coarse_place
from .errors import FieldError

dir_option = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The field client's directory (its encrypted store).",
)


def _now() -> datetime:
    return datetime.now(UTC)


class _Group(trusted.ErrorReportingGroup):
    expected: ClassVar[tuple[type[Exception], ...]] = (FieldError, trusted.TrustedError)


def _open(folder: Path, passphrase_file: Path | None) -> Field:
    passphrase = trusted.read_passphrase(passphrase_file, new=False)
    return Field.open(folder, passphrase, now=_now)


def _delay(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
    if match is None:
        raise click.BadParameter("minutes, or a range such as 1-20")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if high < low:
        raise click.BadParameter("the range's end is before its start")
    return low * 60, high * 60


@click.group(cls=_Group, invoke_without_command=True)
@click.pass_context
def field(ctx: click.Context) -> None:
    """The member's field client: signed reports, sealed at once, sent safely."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@field.command()
@dir_option
@click.option("--server", required=True, help="The server's address (an onion address over Tor).")
@click.option("--door", required=True, help="Your compartment's door, as your handler gave it.")
@click.option(
    "--fingerprint",
    required=True,
    help="The organization key's fingerprint, given to you in person (never through Shoal).",
)
@click.option("--proxy", help="A SOCKS5 proxy, e.g. socks5h://127.0.0.1:9050 (Tor).")
@click.option(
    "--delay",
    default=f"{DEFAULT_DELAY[0] // 60}-{DEFAULT_DELAY[1] // 60}",
    show_default=True,
    help="Minutes a finished report waits before it goes (a random time in the range).",
)
@click.option(
    "--codename-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the codename from this file instead of asking.",
)
@trusted.passphrase_file_option
@trusted.work_factor_option
def enroll(
    *,
    folder: Path,
    server: str,
    door: str,
    fingerprint: str,
    proxy: str | None,
    delay: str,
    codename_file: Path | None,
    passphrase_file: Path | None,
    work_factor: int,
) -> None:
    """Set this device up with your codename, checked against the fingerprint."""
    if codename_file is not None:
        codename = codename_file.read_text(encoding="utf-8").strip()
    else:
        codename = click.prompt("Codename", hide_input=True, err=True)
    passphrase = trusted.read_passphrase(passphrase_file, new=True)
    _, enrolled = Field.enroll(
        folder,
        passphrase,
        server=server,
        door=door,
        fingerprint=fingerprint,
        codename=codename,
        proxy=proxy,
        delay=_delay(delay),
        work_factor=work_factor,
        now=_now,
    )
    click.echo(f"Enrolled: the server's organization key matches {enrolled.fingerprint}.")
    click.echo("Your signing key (tell it to your handler in person, to record at vetting):")
    click.echo(f"  {enrolled.key}")
    click.echo("It is also queued to your handler: run `shoal field send`.")


@field.command()
@dir_option
@trusted.passphrase_file_option
def key(folder: Path, passphrase_file: Path | None) -> None:
    """Show your public signing key (what your handler records at vetting)."""
    click.echo(_open(folder, passphrase_file).public_key())


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "a time such as 2026-11-23T14:05 (UTC unless it says otherwise)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@field.command()
@dir_option
@click.option("--text", help="The report's text.")
@click.option(
    "--text-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the report's text from this file.",
)
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file to add; its metadata (GPS, device, author, times) is removed first.",
)
@click.option(
    "--file-as-is",
    "files_as_is",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file to add WITHOUT removing metadata (it may identify you).",
)
@click.option("--time", "when", help="When it happened (default: now), e.g. 2026-11-23T14:05.")
@click.option("--lat", type=float, help="Latitude of the place.")
@click.option("--lon", type=float, help="Longitude of the place.")
@click.option(
    "--cell",
    type=int,
    default=0,
    help="Store only the centre of a grid cell of this many metres (e.g. 1000), not the place.",
)
@click.option(
    "--draft", is_flag=True, help="Keep it as a draft (sealed to you) instead of queuing it."
)
@trusted.passphrase_file_option
def report(
    *,
    folder: Path,
    text: str | None,
    text_file: Path | None,
    files: tuple[Path, ...],
    files_as_is: tuple[Path, ...],
    when: str | None,
    lat: float | None,
    lon: float | None,
    cell: int,
    draft: bool,
    passphrase_file: Path | None,
) -> None:
    """Write a report: sealed the moment it is saved; queued for sending."""
    body = text_file.read_text(encoding="utf-8") if text_file is not None else (text or "")
    if (lat is None) != (lon is None):
        raise click.UsageError("give both --lat and --lon, or neither")
    try:
        where = None if lat is None or lon is None else coarse_place(lat, lon, cell)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    choices = [FileChoice(p) for p in files] + [FileChoice(p, as_is=True) for p in files_as_is]
    if not body and not choices:
        raise click.UsageError("a report needs a text or a file")
    client = _open(folder, passphrase_file)
    moment = _parse_time(when)
    if draft:
        draft_id = client.save_draft(body, choices, moment=moment, place=where)
        click.echo(f"Draft {draft_id} saved (sealed to your own key).")
        return
    report_id = client.report(body, choices, moment=moment, place=where)
    click.echo(f"Report {report_id} sealed to your compartment and queued.")
    if where is not None and where.cell_m:
        click.echo(
            f"Place stored as the centre of a {where.cell_m} m cell: {where.lat}, {where.lon}."
        )


@field.command()
@dir_option
@trusted.passphrase_file_option
def drafts(folder: Path, passphrase_file: Path | None) -> None:
    """List your drafts."""
    for draft in _open(folder, passphrase_file).drafts():
        click.echo(f"{draft.draft_id}  {draft.time}  {draft.files} file(s)  {draft.preview}")


@field.command()
@dir_option
@click.argument("draft_id")
@trusted.passphrase_file_option
def finish(folder: Path, draft_id: str, passphrase_file: Path | None) -> None:
    """Seal a draft to your compartment and queue it."""
    report_id = _open(folder, passphrase_file).finish_draft(draft_id)
    click.echo(f"Report {report_id} sealed to your compartment and queued.")


@field.command()
@dir_option
@click.argument("draft_id")
@trusted.passphrase_file_option
def discard(folder: Path, draft_id: str, passphrase_file: Path | None) -> None:
    """Delete a draft."""
    _open(folder, passphrase_file).discard_draft(draft_id)
    click.echo(f"Draft {draft_id} deleted.")


@field.command()
@dir_option
@trusted.passphrase_file_option
def outbox(folder: Path, passphrase_file: Path | None) -> None:
    """What waits to be sent (sealed: only your handlers can read it)."""
    entries = _open(folder, passphrase_file).outbox()
    if not entries:
        click.echo("The outbox is empty.")
    for entry in entries:
        done = sum(p.item is not None for p in entry.parts)
        state = (
            f"held: {entry.refused}"
            if entry.refused
            else f"goes after {entry.not_before:%Y-%m-%d %H:%M} UTC"
        )
        click.echo(f"{entry.report}  {done}/{len(entry.parts)} part(s) sent  {state}")


@field.command()
@dir_option
@click.option("--now", "ignore_delay", is_flag=True, help="Send now, without the random delay.")
@click.option("--retry", "retry_id", help="Release a report the server refused, and send it.")
@trusted.passphrase_file_option
def send(
    folder: Path, ignore_delay: bool, retry_id: str | None, passphrase_file: Path | None
) -> None:
    """Send what is due; what cannot go now stays for later."""
    client = _open(folder, passphrase_file)
    if retry_id is not None:
        client.retry(retry_id)
    result = client.send(ignore_delay=ignore_delay)
    for offset in result.resumed:
        click.echo(f"An interrupted upload resumed at {offset} bytes.")
    click.echo(f"Sent {result.sent} report(s); {result.waiting} waiting.")
    for held in result.held:
        click.echo(f"Held (the server refused it): {held}", err=True)
    if result.offline is not None:
        click.echo(f"Not sent now: {result.offline}. It will be tried again.", err=True)


@field.command()
@dir_option
@click.option("--keep", is_flag=True, help="Keep the messages on this device (encrypted).")
@click.option("--kept", "show_kept", is_flag=True, help="Show the messages kept before.")
@trusted.passphrase_file_option
def messages(folder: Path, keep: bool, show_kept: bool, passphrase_file: Path | None) -> None:
    """Fetch your handler's messages: verified, shown, then deleted (server and device)."""
    client = _open(folder, passphrase_file)
    if show_kept:
        _show(client.messages("kept/"))
        return
    client.fetch_messages()
    _show(client.messages())
    client.done_reading(keep=keep)


def _show(shown: list[Message]) -> None:
    if not shown:
        click.echo("No messages.")
    for message in shown:
        click.echo(f"— {message.time} ({message.verdict})")
        click.echo(message.text)


@field.group()
def duress() -> None:
    """A duress passphrase (off by default): opens a decoy, destroys the real store."""


@duress.command("enable")
@dir_option
@click.option(
    "--duress-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the duress passphrase from this file instead of asking.",
)
@click.option(
    "--decoy-note", "decoy_notes", multiple=True, help="An innocent draft the decoy shows."
)
@trusted.passphrase_file_option
def duress_enable(
    folder: Path,
    duress_passphrase_file: Path | None,
    decoy_notes: tuple[str, ...],
    passphrase_file: Path | None,
) -> None:
    """Turn the duress passphrase on (needs a connection, to arm the signal)."""
    client = _open(folder, passphrase_file)
    click.echo(
        "Think first: checkpoints often copy a device before opening it; a copy keeps the "
        "real store, and signs of destruction can put you at risk.",
        err=True,
    )
    duress_passphrase = trusted.read_passphrase(duress_passphrase_file, new=True)
    client.enable_duress(duress_passphrase, decoy_notes)
    click.echo(
        "Duress passphrase on. Opening with it shows a decoy, destroys this store, and "
        "silently warns your handler when next online."
    )


@duress.command("disable")
@dir_option
@trusted.passphrase_file_option
def duress_disable(folder: Path, passphrase_file: Path | None) -> None:
    """Turn the duress passphrase off."""
    _open(folder, passphrase_file).disable_duress()
    click.echo("Duress passphrase off.")


@field.command()
@dir_option
@click.option(
    "--new-passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the new passphrase from this file instead of asking.",
)
@trusted.passphrase_file_option
def passphrase(
    folder: Path, new_passphrase_file: Path | None, passphrase_file: Path | None
) -> None:
    """Change the passphrase."""
    old = trusted.read_passphrase(passphrase_file, new=False)
    new = trusted.read_passphrase(new_passphrase_file, new=True)
    DeviceStore.open(folder, old).change_passphrase(old, new)
    click.echo("Passphrase changed.")


#: A doors list is a few lines; crypto.open_note refuses over 1 MiB anyway.
_MAX_DOORS_NOTE = 1 << 20


def _typed_address(text: str) -> str:
    """An address as typed or pasted from an address bar: without the
    scheme, path or port, in lowercase."""
    rest = text.strip().lower().split("://", 1)[-1]
    return rest.split("/", 1)[0].split(":", 1)[0].rstrip(".")


@field.command("check-doors")
@click.option(
    "--fingerprint",
    required=True,
    help="The organization key's fingerprint, given to you out of band (never by a web page).",
)
@click.option("--address", help="An onion address to look for in the list.")
@click.argument("note_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def check_doors(fingerprint: str, address: str | None, note_file: Path) -> None:
    """Check a doors list (doors.note) against the organization's fingerprint.

    Every door serves its list at /doors.note. A list that verifies was
    signed by the organization's root key; its addresses are the
    organization's. Exit status 1 if it does not verify, or if --address
    is not in it.
    """
    with note_file.open("rb") as f:
        data = f.read(_MAX_DOORS_NOTE + 1)
    try:
        if len(data) > _MAX_DOORS_NOTE:
            raise crypto.NoteFormatError("too large for a doors list")
        doors = org.open_doors_list(data.decode("utf-8"), fingerprint)
    except UnicodeDecodeError:
        raise click.ClickException(f"{note_file} is not a doors list (not text)") from None
    except ValueError as exc:  # the fingerprint is not one
        raise click.ClickException(f"--fingerprint: {exc}") from None
    except (crypto.CryptoError, org.OrgError) as exc:
        raise click.ClickException(
            f"{note_file} does NOT verify against fingerprint {fingerprint.strip()}: {exc}. "
            "Do not trust the addresses it names."
        ) from None
    scope = (
        "the organization's general contact addresses"
        if doors.door is None
        else f"the addresses of door {doors.door!r}"
    )
    click.echo(f"Verified: signed by the organization key {org.root_fingerprint(doors.root_key)}.")
    click.echo(f"Doors list {doors.number}, {scope}:")
    for listed in doors.addresses:
        click.echo(f"  {listed}")
    if address is not None:
        wanted = _typed_address(address)
        if wanted not in doors.addresses:
            raise click.ClickException(
                f"{wanted} is NOT in this signed list: do not trust it as the organization's."
            )
        click.echo(f"{wanted} is in the signed list.")


@field.command("wipe")
@dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def wipe_command(folder: Path, yes: bool) -> None:
    """Destroy everything on this device at once (no passphrase needed)."""
    if not yes:
        click.confirm(f"Destroy the field client in {folder} for good?", abort=True, err=True)
    wipe(folder)
    click.echo("Wiped: the key slot is destroyed; nothing in the store can be read again.")


@field.command()
@dir_option
@trusted.passphrase_file_option
def menu(folder: Path, passphrase_file: Path | None) -> None:
    """Step by step: write, send, read, wipe."""
    client = _open(folder, passphrase_file)
    actions: dict[str, tuple[str, Callable[[], None]]] = {
        "1": ("write a report", lambda: _menu_report(client)),
        "2": ("send what is due", lambda: _menu_send(client)),
        "3": ("read messages", lambda: _menu_messages(client)),
        "4": ("show the outbox", lambda: _menu_outbox(client)),
    }
    while True:
        for number, (label, _) in actions.items():
            click.echo(f"  {number}. {label}")
        click.echo("  q. quit")
        choice = click.prompt("Choice", default="q", show_default=False).strip().lower()
        if choice == "q":
            return
        if choice in actions:
            try:
                actions[choice][1]()
            except FieldError as exc:
                click.echo(f"Error: {exc}", err=True)


def _menu_report(client: Field) -> None:
    click.echo("The report's text; an empty line ends it:")
    lines = []
    while line := click.prompt("", default="", show_default=False, prompt_suffix="> "):
        lines.append(line)
    text = "\n".join(lines)
    files = []
    while path := click.prompt("File to add (empty: none)", default="", show_default=False).strip():
        files.append(FileChoice(Path(path)))
    where = None
    if click.confirm("Add a place?", default=False):
        lat = click.prompt("Latitude", type=float)
        lon = click.prompt("Longitude", type=float)
        cell = click.prompt("Grid cell in metres (0: exact)", type=int, default=1000)
        where = coarse_place(lat, lon, cell)
    click.echo(f"Report {client.report(text, files, place=where)} sealed and queued.")


def _menu_send(client: Field) -> None:
    result = client.send(ignore_delay=click.confirm("Ignore the random delay?", default=False))
    click.echo(f"Sent {result.sent}; {result.waiting} waiting.")
    if result.offline:
        click.echo(f"Not sent now: {result.offline}")


def _menu_messages(client: Field) -> None:
    client.fetch_messages()
    _show(client.messages())
    client.done_reading(keep=click.confirm("Keep them on this device?", default=False))


def _menu_outbox(client: Field) -> None:
    for entry in client.outbox():
        click.echo(f"{entry.report}  {len(entry.parts)} part(s)  refused: {entry.refused or 'no'}")
