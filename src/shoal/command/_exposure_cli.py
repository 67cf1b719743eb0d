"""``shoal command exposure``: the shell around :mod:`._exposure`.

Reads command's directory (the state and the signed notes) and, with
``--server-data``, counts from a server data directory's database, opened
read-only; prints the report as a table, or as JSON (``--json``, the
schema in :mod:`._exposure`). Nothing is written anywhere, and no keystore
is opened: the report needs public material only.

Command's directory is read without its lock: the state and the notes are
written whole (rename into place), so a concurrent command can make the
report one epoch old, never torn.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import (
    ColumnElement,
    Engine,
    create_engine,
    func,
    inspect,
    literal_column,
    make_url,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import crypto, org, trusted
from ..store import create_db_engine, schema
from . import _exposure, _files, _state
from .errors import CommandError, StateError

_EPOCH_NOTE = re.compile(r"\Aepoch-[a-z0-9][a-z0-9-]*-[0-9]+\.note\Z")
_COMMAND_NOTE = re.compile(r"\Acommand-[0-9]+\.note\Z")
#: Columns when the output is not a terminal (a file, a pipe): wide enough
#: that sentences are not broken into one word a line.
_PIPE_WIDTH = 120


def read_epochs(
    layout: _state.Layout, state: _state.CommandState
) -> tuple[list[org.Epoch], list[str]]:
    """The epochs in command's notes, each verified against a command key
    the root key certified; and a warning for each note left out."""
    names = sorted(_files.note_names(layout))
    certificates = [state.command]
    warnings: list[str] = []
    for name in filter(_COMMAND_NOTE.match, names):
        try:
            text = (layout.notes / name).read_text("utf-8")
            cert = org.verify_command(text, state.root_key, state.organization)
        except (OSError, UnicodeDecodeError, crypto.CryptoError, org.OrgError):
            warnings.append(f"notes/{name} does not verify against the root key: left out")
            continue
        if cert != state.command:
            certificates.append(cert)
    epochs = []
    for name in filter(_EPOCH_NOTE.match, names):
        try:
            text = (layout.notes / name).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            warnings.append(f"notes/{name} is unreadable: left out")
            continue
        epoch = _open_epoch(text, certificates, state.organization)
        if epoch is None:
            warnings.append(f"notes/{name} does not verify against a command key: left out")
        else:
            epochs.append(epoch)
    return epochs, warnings


def _open_epoch(
    text: str, certificates: list[org.CommandCertificate], organization: org.Organization
) -> org.Epoch | None:
    for cert in certificates:
        try:
            # Not checked against now: an expired epoch's items stay readable.
            return org.open_epoch(text, cert, organization)
        except (crypto.CryptoError, org.OrgError):
            continue
    return None


def _read_only_engine(data_dir: Path) -> Engine:
    """The server's database, for reading only: SQLite is opened with
    ``mode=ro`` (no write, no journal, no file created); another engine
    only ever sees SELECTs from here."""
    # Imported here: the server package loads the web stack, which command
    # needs only for this option.
    from ..server import load_config  # noqa: PLC0415
    from ..server._config import DATABASE_NAME  # noqa: PLC0415
    from ..server.errors import ServerError  # noqa: PLC0415

    try:
        config = load_config(data_dir)
    except ServerError as exc:
        raise StateError(str(exc)) from None
    url = make_url(config.database)
    if url.get_backend_name() != "sqlite":
        return create_db_engine(config.database)
    path = Path(url.database) if url.database else None
    if path is None or not path.is_file():
        # A copy of the data directory (a backup, a seized image) keeps the
        # absolute path of the original machine in server.toml.
        path = data_dir / DATABASE_NAME
    if not path.is_file():
        raise StateError(f"no database found for the server data directory {data_dir}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


def read_counts(data_dir: Path) -> _exposure.ServerCounts:
    """Per compartment: epochs imported, contacts, and items by epoch."""
    engine = _read_only_engine(data_dir)
    try:
        # A database from before the server recorded items' epochs has no
        # such column: all its items count as sealed under an unknown epoch.
        recorded = any(c["name"] == "epoch" for c in inspect(engine).get_columns("items"))
        epoch: ColumnElement[Any] | None = literal_column("items.epoch") if recorded else None
        with Session(engine) as db:
            ids = list(db.scalars(select(schema.Compartment.id)))
            epochs = db.execute(
                select(schema.Note.compartment_id, schema.Note.number).where(
                    schema.Note.kind == org.EPOCH_KIND
                )
            )
            imported = [(c, n) for c, n in epochs if c is not None]
            # A Result has keys() (column names): dict() would take it for a mapping.
            contacts = {
                compartment_id: n
                for compartment_id, n in db.execute(
                    select(schema.Contact.compartment_id, func.count()).group_by(
                        schema.Contact.compartment_id
                    )
                )
            }
            columns = [schema.Item.compartment_id, schema.Item.direction, schema.Item.contact_id]
            grouped = [*columns, epoch] if epoch is not None else columns
            rows = [
                (row[0], row[1], row[2], int(row[3]) if epoch is not None else 0, int(row[-1]))
                for row in db.execute(select(*grouped, func.count()).group_by(*grouped))
            ]
    except SQLAlchemyError as exc:
        raise StateError(f"cannot read the database of {data_dir}: {type(exc).__name__}") from None
    finally:
        engine.dispose()
    return _exposure.ServerCounts(
        {cid: _tally(cid, imported, contacts.get(cid, 0), rows) for cid in ids}
    )


def _tally(
    compartment_id: str,
    imported: list[tuple[str, int]],
    contacts: int,
    rows: list[tuple[str, str, str | None, int, int]],
) -> _exposure.CompartmentCounts:
    items: Counter[int] = Counter()
    whose: dict[int, set[str]] = {}
    replies: Counter[str] = Counter()
    for cid, direction, contact_id, epoch, n in rows:
        if cid != compartment_id:
            continue
        items[epoch] += n
        if contact_id is not None:
            whose.setdefault(epoch, set()).add(contact_id)
            if direction == "out":
                replies[contact_id] += n
    return _exposure.CompartmentCounts(
        epochs=frozenset(n for c, n in imported if c == compartment_id),
        contacts=contacts,
        items_by_epoch={
            e: _exposure.EpochTally(n, frozenset(whose.get(e, ()))) for e, n in items.items()
        },
        replies=sum(n for cid, d, _, _, n in rows if cid == compartment_id and d == "out"),
        replies_per_contact=dict(replies),
    )


def _section(cell: Text, title: str, lines: Sequence[str]) -> None:
    if not lines:
        return
    if cell:
        cell.append("\n")
    cell.append(f"{title}:", style="bold")
    for line in lines:
        cell.append(f"\n• {line}")


def _details(p: _exposure.Principal, base: _exposure.Principal | None) -> Text:
    """The holds/can/cannot/learns cell; for a desk laptop or a member, only
    what it adds to the row it extends (``base``: its handler, a contact)."""
    cell = Text()
    if base is not None:
        cell.append(f"all of {base.label} (row above), and:", style="italic")

    def new(lines: tuple[str, ...], old: tuple[str, ...]) -> list[str]:
        return [line for line in lines if line not in old]

    empty: tuple[str, ...] = ()
    _section(cell, "holds", new(p.holds, base.holds if base else empty))
    _section(cell, "can", new(p.can, base.can if base else empty))
    _section(cell, "cannot", new(p.cannot, base.cannot if base else empty))
    _section(cell, "learns", new(p.learns, base.learns if base else empty))
    return cell


def _base_of(
    p: _exposure.Principal, earlier: Sequence[_exposure.Principal]
) -> _exposure.Principal | None:
    """The row a desk laptop (its handler's) or a member (a contact's) extends."""
    kind = {
        _exposure.Kind.DESK: _exposure.Kind.HANDLER,
        _exposure.Kind.MEMBER: _exposure.Kind.CONTACT,
    }
    wanted = kind.get(p.kind)
    if wanted is None:
        return None
    return next(
        (
            e
            for e in reversed(earlier)
            if e.kind is wanted and e.door == p.door and e.handler_id == p.handler_id
        ),
        None,
    )


def render(report: _exposure.Report, console: Console) -> None:
    counted = (
        "counts from the server's database"
        if report.counted
        else "no counts (give --server-data DIR for numbers)"
    )
    console.print(
        Text(f"Exposure report: organization {report.org_id} ({report.key_type.value}), {counted}")
    )
    table = Table(show_lines=True, expand=True)
    table.add_column("if captured", ratio=2)
    table.add_column("decrypts (stored on the server)", ratio=3)
    table.add_column("holds, can, cannot, learns", ratio=6)
    for n, p in enumerate(report.principals):
        who = p.label if p.status is None else f"{p.label}\n({p.status.value})"
        reads = "\n".join(f"• {_exposure.describe(a)}" for a in p.decrypts) or "nothing"
        # Text, not markup: nothing here is meant as Rich's [tags].
        base = _base_of(p, report.principals[:n])
        table.add_row(Text(who), Text(reads), _details(p, base))
    console.print(table)


@click.command("exposure")
@click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Command's state directory.",
)
@click.option(
    "--server-data",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A server data directory (or a copy of one): read its database for counts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def exposure(folder: Path, server_data: Path | None, as_json: bool) -> None:
    """What each principal exposes if captured: keys, compartments, items."""
    try:
        layout = _state.Layout(folder)
        state = _state.load(layout)
        epochs, warnings = read_epochs(layout, state)
        counts = read_counts(server_data) if server_data is not None else None
    except (CommandError, trusted.TrustedError) as exc:
        raise click.ClickException(str(exc)) from None
    report = _exposure.build_report(
        state,
        epochs,
        counts=counts,
        root_key_on_machine=layout.root_keystore.exists(),
        warnings=warnings,
    )
    if as_json:
        click.echo(json.dumps(_exposure.to_json(report), indent=2))
        return
    terminal = sys.stdout.isatty()
    render(report, Console(width=None if terminal else _PIPE_WIDTH, highlight=False))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
