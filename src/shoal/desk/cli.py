"""``shoal desk``: the shell around the desk's pure cores and its HTTP adapter.

Each command that needs keys asks for the passphrase first, before it
touches the network or any file, so a wrong one changes nothing. The HTTP
transport can be injected through the click context object (an
``httpx.BaseTransport``); tests pass an ``httpx.MockTransport`` there.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .. import crypto, org, trusted
from ..trusted import Trust
from . import _audit as audit
from . import _lifecycle as lifecycle
from . import _members as members
from . import _vetting as vetting
from ._api import HandlerAPI
from ._application import INITIAL_STATE, parse_application
from ._application import KIND as APPLICATION
from ._export_cli import verify_manifest_command
from ._items import TEXT_KINDS, Opened, export_name, open_item, place_of, report_of
from ._onion_auth import new_onion_auth
from ._reply import seal_reply
from ._state import (
    Config,
    ContactMeta,
    ItemMeta,
    Layout,
    check_id,
    load_config,
    load_index,
    save_config,
)
from ._sync import connect, sync
from ._verdict import ALARM, MEMBER_KEY, REPORT, REPORT_FILE
from .errors import DeskError, ItemError, NotReadyError

#: Tor is slow: generous timeouts, but never none, so a dead server ends a sync.
TIMEOUT = httpx.Timeout(60.0, connect=30.0)


class _Group(trusted.ErrorReportingGroup):
    expected = (trusted.TrustedError, DeskError)


dir_option = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The desk's directory.",
)


def _unlock(layout: Layout, passphrase_file: Path | None) -> crypto.Keystore:
    passphrase = trusted.read_passphrase(passphrase_file, new=False)
    return trusted.unlock_keystore(layout.keystore, passphrase)


@contextmanager
def _session(config: Config) -> Iterator[HandlerAPI]:
    transport = click.get_current_context().find_object(httpx.BaseTransport)
    with httpx.Client(
        base_url=config.server, transport=transport, timeout=TIMEOUT, follow_redirects=False
    ) as client:
        yield HandlerAPI(client)


#: Replaced in what is shown: control characters (escape sequences) and
#: surrogates, and format characters (Cf: bidirectional overrides and
#: isolates, zero-width characters), which can reorder or hide part of a
#: terminal line so that a contact's text reads as something else.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs"})


def _printable(text: str) -> str:
    """``text`` safe for a terminal: no escape sequences, whatever a contact sent."""
    return "".join(
        c if c in "\n\t" or unicodedata.category(c) not in _UNSHOWN else "\ufffd" for c in text
    )


@click.group(cls=_Group)
def desk() -> None:
    """A handler's desk: keystore, sync, read, reply, export."""


@desk.command("onion-auth")
@click.option("--address", required=True, help="The handlers' onion address (xxx.onion).")
@click.option(
    "--out",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="This machine's tor ClientOnionAuthDir (created if missing).",
)
def onion_auth(address: str, folder: Path) -> None:
    """Make a key that lets this desk reach the handlers' onion address.

    Writes the private half for this machine's tor and prints the public
    line to give the server operator (`shoal admin onion-client`). Then
    run the desk through tor: ALL_PROXY=socks5h://127.0.0.1:9050.
    """
    try:
        made = new_onion_auth(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--address") from None
    trusted.make_private_dir(folder)
    path = folder / made.file_name
    if path.exists():
        raise NotReadyError(f"{path} exists: this desk already has a key for {address}")
    trusted.write_atomic(path, f"{made.private_line}\n".encode())
    click.echo(made.public_line)
    click.echo(
        f"Private key written to {path} (ClientOnionAuthDir {folder} in this machine's torrc). "
        "Give the line above to the server operator: shoal admin onion-client NAME LINE",
        err=True,
    )


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.option(
    "--classic",
    is_flag=True,
    help="Classic X25519 identity, for an organization created with --classic.",
)
@trusted.work_factor_option
def keygen(folder: Path, passphrase_file: Path | None, classic: bool, work_factor: int) -> None:
    """Make this desk's keystore and its enrollment bundle for command."""
    layout = Layout(folder)
    if layout.keystore.exists():
        raise NotReadyError(f"{layout.keystore} exists: this desk already has its keys")
    passphrase = trusted.read_passphrase(passphrase_file, new=True)
    key_type = crypto.KeyType.X25519 if classic else crypto.DEFAULT_KEY_TYPE
    identity = crypto.generate_identity(key_type)
    keystore = crypto.Keystore((identity,), crypto.SigningKey.generate())
    trusted.make_private_dir(layout.root)
    trusted.create_keystore(layout.keystore, keystore, passphrase, work_factor=work_factor)
    enrollment = trusted.Enrollment(identity.recipient(), keystore.signing_key.verify_key)
    bundle = enrollment.text(keystore.signing_key)
    trusted.write_atomic(layout.enrollment, bundle.encode())
    click.echo(bundle, nl=False)
    click.echo(f"Handler id: {enrollment.handler_id}", err=True)
    click.echo(f"Give {layout.enrollment} to command; compare the handler id by phone.", err=True)


@desk.command()
@dir_option
@click.option("--server", required=True, help="The server's URL (http:// for an onion).")
@click.option("--root-key", required=True, help="The organization's root verifier key.")
@click.option("--door", required=True, help="The door of this desk's compartment.")
@click.option(
    "--compartment",
    help="The compartment's id, from command: needed by servers that show the "
    "organization's notes only after login.",
)
def enroll(folder: Path, server: str, root_key: str, door: str, compartment: str | None) -> None:
    """Record the server, the trusted root key and this desk's door."""
    layout = Layout(folder)
    try:
        url = httpx.URL(server)
        root = crypto.NoteVerifier.parse(root_key)
        org.check_door(door)
        if compartment is not None:
            check_id(compartment, "compartment")
    except (httpx.InvalidURL, crypto.KeyFormatError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise click.BadParameter("the server URL must be http:// or https:// with a host")
    config = Config(server=str(url), root_key=root, door=door, compartment_id=compartment)
    if layout.config.exists():
        old = load_config(layout)
        if (old.root_key, old.door) != (root, door):
            raise NotReadyError(
                f"{folder} is enrolled with another root key or door; use a new desk directory"
            )
        # Only the address (and a missing compartment id) may change: the
        # accepted epochs stay, and with them the refusal of rollbacks.
        config = dataclasses.replace(
            old, server=str(url), compartment_id=compartment or old.compartment_id
        )
    trusted.make_private_dir(layout.root)
    save_config(layout, config)
    click.echo(f"Enrolled for door {door!r} at {url}; run `shoal desk sync`.")


class _RichProgress:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("downloading", total=0)
        self._total = 0

    def expect(self, count: int) -> None:
        self._total += count
        self._progress.update(self._task, total=self._total)

    def advance(self) -> None:
        self._progress.advance(self._task)


@desk.command("sync")
@dir_option
@trusted.passphrase_file_option
def sync_command(folder: Path, passphrase_file: Path | None) -> None:
    """Verify the organization's notes and download new items (ciphertext)."""
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    console = Console(stderr=True)
    # A bar is for a person watching; in a pipe or a log it is only noise.
    with (
        _session(load_config(layout)) as api,
        Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar,
    ):
        report = sync(api, layout, keystore, now=datetime.now(UTC), progress=_RichProgress(bar))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"Epoch {report.epoch}: {report.new_items} new item(s), "
        f"{report.contacts} contact(s) refreshed."
    )
    if report.resealed:
        click.echo(f"{report.resealed} late item(s) re-sealed to epoch {report.epoch}.")


def _describe(meta: ItemMeta, opened: Opened) -> str:
    contact = opened.contact or "-"
    # Every part is checked already (ids, day, kind); made printable all the
    # same, as the one line both `list` and `read` show.
    return _printable(
        f"{meta.item_id}  {meta.day}  {opened.kind:<7}  contact {contact}  {opened.verdict.text}"
    )


@desk.command("list")
@dir_option
@trusted.passphrase_file_option
def list_command(folder: Path, passphrase_file: Path | None) -> None:
    """One line per item: id, day, kind, contact, and who vouches for it."""
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    trust = load_config(layout).trust()
    known = members.load(layout, keystore.identities)
    for meta in sorted(load_index(layout).items, key=lambda i: i.seq):
        try:
            path = layout.item_path(meta.item_id)
            opened = open_item(path, keystore.identities, trust, meta, members=known)
        except ItemError as exc:
            click.echo(f"{meta.item_id}  {meta.day}  ERROR: {exc}")
            continue
        click.echo(_describe(meta, opened))


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("item_id")
def read(folder: Path, passphrase_file: Path | None, item_id: str) -> None:
    """Show a message, reply, report or offer of services; for a file, its name and size."""
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    trust = load_config(layout).trust()
    known = members.load(layout, keystore.identities)
    meta = load_index(layout).item(item_id)
    path = layout.item_path(meta.item_id)
    opened = open_item(path, keystore.identities, trust, meta, members=known)
    if not opened.verdict.acceptable:
        raise ItemError(f"item {item_id}: {opened.verdict.text}; not shown")
    click.echo(_describe(meta, opened))
    if opened.kind in {REPORT, REPORT_FILE}:
        _report_lines(layout, keystore, trust, meta, opened, known=known)
    if opened.kind in TEXT_KINDS or opened.kind == APPLICATION:
        # Opened a second time, into memory: only text items, which are small.
        content = io.BytesIO()
        open_item(path, keystore.identities, trust, meta, content, members=known)
        click.echo(f"time: {_printable(str(opened.header.get('time', '?')))}")
        if opened.kind == APPLICATION:
            click.echo(f"contact state: {INITIAL_STATE} (no decision recorded yet)\n")
            for line in parse_application(content.getvalue()).lines():
                click.echo(_printable(line))
        else:
            click.echo("")
            click.echo(_printable(content.getvalue().decode("utf-8", errors="replace")))
    elif opened.kind not in {MEMBER_KEY, ALARM}:  # their line says everything
        name = _printable(str(opened.header.get("name", "?")))
        click.echo(f"file {name!r}, {opened.length} bytes: `shoal desk export` writes it out")


def _report_lines(
    layout: Layout,
    keystore: crypto.Keystore,
    trust: Trust,
    meta: ItemMeta,
    opened: Opened,
    *,
    known: dict[str, crypto.VerifyKey],
) -> None:
    """A member's report: its place, and the files sent with it (items of
    the same contact naming the same report id), each with its verdict."""
    report = report_of(opened.header)
    place = place_of(opened.header)
    if place is not None:
        click.echo(f"place: {place.text}")
    if opened.kind == REPORT_FILE:
        click.echo(f"part of report {report or '?'}")
        return
    if report is None:
        return
    files = []
    for other in sorted(load_index(layout).items, key=lambda i: i.seq):
        if other.contact != meta.contact or other.item_id == meta.item_id:
            continue
        try:
            found = open_item(
                layout.item_path(other.item_id), keystore.identities, trust, other, members=known
            )
        except ItemError:
            continue
        if found.kind == REPORT_FILE and report_of(found.header) == report:
            files.append((other, found))
    parts = opened.header.get("parts")
    expected = f"{parts - 1}" if isinstance(parts, int) and not isinstance(parts, bool) else "?"
    click.echo(f"report {report}: {len(files)} of {expected} file(s) arrived")
    for other, found in files:
        name = str(found.header.get("name", "?"))
        click.echo(
            _printable(
                f"  file {other.item_id}  {name!r}, {found.length} bytes  {found.verdict.text}"
            )
        )


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("contact_id")
@click.option("--message", help="The reply's text.")
@click.option(
    "--message-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the reply's text (UTF-8) from this file.",
)
def reply(
    folder: Path,
    passphrase_file: Path | None,
    contact_id: str,
    message: str | None,
    message_file: Path | None,
) -> None:
    """Send a signed reply to a contact (and to the whole compartment)."""
    _checked_id(contact_id, "contact")
    text = _reply_text(message, message_file)
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    now = datetime.now(UTC)
    with _session(load_config(layout)) as api:
        # A fresh look at the epoch and a fresh token for every reply: the
        # recipients must be the compartment's current ones.
        trust = connect(api, layout, keystore, now=now)
        contact = _contact(api, layout, contact_id)
        sealed = seal_reply(text, contact=contact, trust=trust, key=keystore.signing_key, now=now)
        reply_id = api.post_reply(contact.contact_id, sealed)
    click.echo(
        f"Reply {reply_id} sent to contact {contact.contact_id} (epoch {trust.current.number})."
    )


def _checked_id(value: str, what: str) -> str:
    try:
        return check_id(value, what)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _on_server(
    folder: Path,
    passphrase_file: Path | None,
    act: Callable[[HandlerAPI], None],
    action: audit.Action,
    done: str,
) -> None:
    """Log in (checking the epoch, as every online command does), ``act``,
    say it is ``done``, and record ``action`` in the audit log."""
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    now = datetime.now(UTC)
    with _session(load_config(layout)) as api:
        trust = connect(api, layout, keystore, now=now)
        act(api)
        click.echo(done)
        _record(api, layout, trust, keystore, action, now=now)


def _record(
    api: HandlerAPI,
    layout: Layout,
    trust: Trust,
    keystore: crypto.Keystore,
    action: audit.Action,
    *,
    now: datetime,
) -> None:
    """Append ``action`` to the audit log, once it is done; alarms as warnings.

    A server that refuses the entry ends the command with its error: the
    action itself was done (and said so) already.
    """
    index, alarms = audit.record(api, layout, trust, keystore, action, now=now)
    for alarm in alarms:
        click.echo(f"warning: {alarm}", err=True)
    click.echo(f"Audit entry {index} recorded.")


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("contact_id")
@click.option("--reason", required=True, help="Why (kept, encrypted, with the step).")
def cut(folder: Path, passphrase_file: Path | None, contact_id: str, reason: str) -> None:
    """Cut ties with a contact: ``move CONTACT cut``; their codename is refused from now on.

    What they sent stays (here and on the server, until retention); replies
    they have not read are deleted from the server.
    """
    _move(folder, passphrase_file, contact_id, lifecycle.State.CUT, reason)
    click.echo("Their codename no longer opens anything.")


deletion_reason_option = click.option(
    "--reason", default="", help="Why (kept, encrypted, in the audit log)."
)


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("item_id")
@deletion_reason_option
def delete(folder: Path, passphrase_file: Path | None, item_id: str, reason: str) -> None:
    """Delete an item from the server (this desk keeps its copy)."""
    item_id = _checked_id(item_id, "item")
    action = _audited(lambda: audit.Action.delete_item(item_id, reason.strip()))
    _on_server(
        folder,
        passphrase_file,
        lambda api: api.delete_item(item_id),
        action,
        f"Item {item_id} deleted from the server.",
    )


@desk.command("delete-contact")
@dir_option
@trusted.passphrase_file_option
@click.argument("contact_id")
@deletion_reason_option
def delete_contact(
    folder: Path, passphrase_file: Path | None, contact_id: str, reason: str
) -> None:
    """Delete a contact and all their items from the server (this desk keeps its copies)."""
    contact_id = _checked_id(contact_id, "contact")
    action = _audited(lambda: audit.Action.delete_contact(contact_id, reason.strip()))
    _on_server(
        folder,
        passphrase_file,
        lambda api: api.delete_contact(contact_id),
        action,
        f"Contact {contact_id} and their items deleted from the server.",
    )


def _audited(make: Callable[[], audit.Action]) -> audit.Action:
    """The action for the audit log, checked before anything is done."""
    try:
        return make()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("contact_id")
@click.argument("to", metavar="STATE", type=click.Choice([s.value for s in lifecycle.State]))
@click.option("--reason", required=True, help="Why (kept, encrypted, with the step).")
@click.option(
    "--member-key",
    help="The member's public signing key (base64, as their field client shows it and its "
    "offer on this desk says), compared with them out of band: at vetting or membership.",
)
def move(
    folder: Path,
    passphrase_file: Path | None,
    contact_id: str,
    to: str,
    reason: str,
    *,
    member_key: str | None,
) -> None:
    """Move a contact to another state of its lifecycle, signed.

    new → in-contact → vetting → member; suspended; cut (final). The record
    is sealed to the compartment only; moving to "cut" also cuts ties. A
    member key recorded here is what their reports are checked against.
    """
    _move(folder, passphrase_file, contact_id, lifecycle.State(to), reason, key=member_key)


def _move(
    folder: Path,
    passphrase_file: Path | None,
    contact_id: str,
    to: lifecycle.State,
    reason: str,
    *,
    key: str | None = None,
) -> None:
    contact_id = _checked_id(contact_id, "contact")
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    now = datetime.now(UTC)
    with _session(load_config(layout)) as api:
        trust = connect(api, layout, keystore, now=now)
        try:
            moved = vetting.move_contact(
                api, layout, keystore, trust, contact_id, to=to, reason=reason, now=now, key=key
            )
        except lifecycle.TransitionError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"Contact {contact_id}: {moved.before.state.value} → {moved.after.state.value}.")
        if key is not None:
            recorded = moved.after.member_key
            click.echo(f"Member key {recorded} recorded: their reports are checked against it.")
        _record(api, layout, trust, keystore, moved.action(), now=now)


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("contact_id")
def state(folder: Path, passphrase_file: Path | None, contact_id: str) -> None:
    """A contact's state and how it got there."""
    contact_id = _checked_id(contact_id, "contact")
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    with _session(load_config(layout)) as api:
        trust = connect(api, layout, keystore, now=datetime.now(UTC))
        record = vetting.current(api, layout, keystore, trust, contact_id)
    click.echo(f"contact {contact_id}: {record.state.value}")
    for step in record.steps:
        click.echo(
            _printable(f"  {step.time}  {step.state.value:<10}  by {step.handler}: {step.reason}")
        )


@desk.command("audit-export")
@dir_option
@trusted.passphrase_file_option
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def audit_export(folder: Path, passphrase_file: Path | None, target: Path) -> None:
    """Write the compartment's audit entries (ciphertext) into TARGET, for
    command (`shoal command audit-heads`)."""
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    trusted.make_private_dir(target)
    written = 0
    with _session(load_config(layout)) as api:
        connect(api, layout, keystore, now=datetime.now(UTC))
        after = -1
        while page := api.audit_entries(after):
            for index, _blob, size in page:
                with trusted.PendingFile(target) as pending:
                    pending.file.write(api.audit_entry(index, size))
                    pending.commit(target / f"audit-{index}.age")
                written += 1
                after = index
    click.echo(f"{written} audit entries written to {target}.")


@desk.command("forwards-export")
@dir_option
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def forwards_export(folder: Path, target: Path) -> None:
    """Write the forwarded items this desk holds (ciphertext, as synced)
    into TARGET, one file per item named by its id, for command
    (`shoal command events`).

    Forwards are sealed to command's reading identity too: nothing is
    decrypted here, so no passphrase is asked for."""
    layout = Layout(folder)
    load_config(layout)  # refuses a folder that is not an enrolled desk
    trusted.make_private_dir(target)
    written = failed = 0
    for meta in sorted(load_index(layout).items, key=lambda i: i.seq):
        if meta.direction != "forwarded":
            continue
        try:
            with (
                layout.item_path(meta.item_id).open("rb") as src,
                trusted.PendingFile(target) as pending,
            ):
                shutil.copyfileobj(src, pending.file)
                pending.commit(target / f"{meta.item_id}.age")
        except OSError as exc:
            failed += 1
            click.echo(f"skipped: item {meta.item_id}: {exc.strerror or 'unreadable'}", err=True)
            continue
        written += 1
    click.echo(f"{written} forwarded item(s) written to {target}.")
    if failed:
        raise DeskError(f"{failed} forwarded item(s) not exported")


@desk.command("audit-compare")
@dir_option
@trusted.passphrase_file_option
@click.argument("heads", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def audit_compare(folder: Path, passphrase_file: Path | None, heads: Path) -> None:
    """Check the log heads other desks saw (from `shoal command audit-heads
    --out`) against this desk's history, with the server's proofs."""
    notes = trusted.read_json(heads).get("heads")
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise click.BadParameter("not a file of heads from `shoal command audit-heads`")
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    with _session(load_config(layout)) as api:
        trust = connect(api, layout, keystore, now=datetime.now(UTC))
        alarms = audit.compare_heads(api, layout, trust, notes)
    for alarm in alarms:
        click.echo(alarm, err=True)
    if alarms:
        raise SystemExit(1)
    click.echo(f"{len(notes)} head(s) share this desk's history.")


@desk.command("ui")
@dir_option
@click.option("--port", default=0, show_default=True, help="Loopback port; 0 picks a free one.")
@click.option(
    "--idle-minutes",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.05, max=24 * 60),
    help="Lock after this long without a request.",
)
@click.option(
    "--export-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where exports are written (plaintext). Default: DIR/../exports.",
)
def ui_command(folder: Path, port: int, idle_minutes: float, export_dir: Path | None) -> None:
    """Serve the desk as a local web application on 127.0.0.1; open the link it prints."""
    from .ui import serve  # noqa: PLC0415 (the web stack only for this command)

    layout = Layout(folder)
    target = export_dir if export_dir is not None else folder.resolve().parent / "exports"

    def announce(url: str) -> None:
        click.echo("Desk UI ready. Open this link in your browser (it is valid until you stop")
        click.echo("this command; keep it to yourself):")
        click.echo(url)
        sys.stdout.flush()

    serve(layout, port=port, idle_minutes=idle_minutes, export_dir=target, announce=announce)


desk.add_command(verify_manifest_command, "verify-manifest")


def _reply_text(message: str | None, message_file: Path | None) -> str:
    if message is not None and message_file is not None:
        raise click.UsageError("give --message or --message-file, not both")
    if message_file is not None:
        try:
            message = message_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise click.BadParameter("the message file is not UTF-8") from None
    if not message:
        raise click.UsageError("a reply needs a text: --message or --message-file")
    return message


def _contact(api: HandlerAPI, layout: Layout, contact_id: str) -> ContactMeta:
    """The contact with the recipient pinned at sync, or as the server shows it."""
    pinned = load_index(layout).contacts.get(contact_id)
    return pinned if pinned is not None else api.contact(contact_id)


@desk.command()
@dir_option
@trusted.passphrase_file_option
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def export(folder: Path, passphrase_file: Path | None, target: Path) -> None:
    """Decrypt every acceptable item into TARGET (plaintext: mind where it goes)."""
    layout = Layout(folder)
    keystore = _unlock(layout, passphrase_file)
    trust = load_config(layout).trust()
    known = members.load(layout, keystore.identities)
    trusted.make_private_dir(target)
    failed = 0
    for meta in sorted(load_index(layout).items, key=lambda i: i.seq):
        try:
            with trusted.PendingFile(target) as pending:
                path = layout.item_path(meta.item_id)
                opened = open_item(
                    path, keystore.identities, trust, meta, pending.file, members=known
                )
                if not opened.verdict.acceptable:
                    raise ItemError(f"item {meta.item_id}: {opened.verdict.text}; not exported")
                written = target / export_name(meta.item_id, opened)
                pending.commit(written)
        except ItemError as exc:
            failed += 1
            click.echo(f"skipped: {exc}", err=True)
            continue
        click.echo(f"{written}  {opened.verdict.text}")
    if failed:
        raise DeskError(f"{failed} item(s) not exported")
