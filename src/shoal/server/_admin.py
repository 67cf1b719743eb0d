"""The server operator's work: set up a data directory, migrate its
database after an upgrade, import signed notes.

The operator handles only public material: the root verifier key (given
out of band) and signed notes from command. Nothing here accepts a private
key, and a file that looks like one is refused with a warning.

An import is all or nothing: every file is verified against the chain
(root → organization → newest command key → epoch) at ``now`` and checked
against what is stored, in one transaction; one refusal stores nothing.
Doors lists (the organization's onion addresses, ``shoal command doors``)
are verified with the root key itself, after the epochs: a door's list
needs its compartment imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic.util import CommandError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import crypto, org
from ..store import (
    FileBlobStore,
    create_db_engine,
    current_revision,
    head_revision,
    migrate,
    schema,
    session_factory,
)
from . import _audit_key
from ._chain import COMMAND, DOORS, EPOCH, ORGANIZATION, newest_command
from ._config import (
    CONFIG_NAME,
    LEGACY_CONFIG_NAME,
    ROOT_KEY_NAME,
    Backend,
    BlobSettings,
    ServerConfig,
    default_database,
    load_config,
    parse_root_key,
    with_environment,
    write_config,
)
from .errors import ConfigError, ImportRefusedError

_KIND_LINE = re.compile(r"\Ashoal (organization|command-key|epoch|doors) v1\n")
# Unverified, for ordering only: each file is verified before it is used.
_NUMBER_LINE = re.compile(r"^(?:serial|number) ([0-9]{1,18})$", re.MULTILINE)
_KIND_ORDER = {ORGANIZATION: 0, COMMAND: 1, EPOCH: 2, DOORS: 3}
_PRIVATE_MARKERS = ("SECRET-KEY", "PRIVATE KEY", "PRIVATE+KEY")
#: An organization record has no number; the column needs one.
ORGANIZATION_NUMBER = 0
#: Signed notes are small; crypto.open_note refuses over 1 MiB anyway.
MAX_NOTE_FILE = 1 << 20


def init_data_dir(
    data_dir: Path,
    root_key: str,
    database: str | None,
    *,
    blobs: Backend = "filesystem",
    environ: Mapping[str, str] = os.environ,
) -> Path:
    """Create the data directory (0700), its database and blob store, and
    finally server.toml, so a failed init can simply be run again.

    What is set up is what ``shoal serve`` will use: the settings with the
    ``SHOAL_*`` variables on top (a ``SHOAL_DATABASE`` is the database
    migrated here); server.toml holds only the settings.
    """
    verifier = parse_root_key(root_key)
    if not ROOT_KEY_NAME.fullmatch(verifier.name):
        raise ConfigError("the root key must be an organization's root key (shoal/<id>/root)")
    for name in (CONFIG_NAME, LEGACY_CONFIG_NAME):
        if (data_dir / name).exists():
            raise ConfigError(f"{data_dir / name} exists: this data directory is already set up")
    settings = ServerConfig(
        data_dir=data_dir,
        root_key=verifier,
        database=database or default_database(data_dir),
        blobs=BlobSettings(backend=blobs),
    )
    config = with_environment(settings, environ)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    engine = create_db_engine(config.database)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    if config.blobs.backend == "filesystem":
        FileBlobStore(config.blobs_dir).root.chmod(0o700)
    _audit_key.load_or_create(data_dir)  # the server's own key: it signs audit heads
    return write_config(settings)


def migrate_database(data_dir: Path) -> tuple[str | None, str]:
    """Bring the data directory's database to the newest schema (after an
    upgrade of Shoal); the migrations it was at before (``None``: an empty
    database) and is at now."""
    config = load_config(data_dir)
    engine = create_db_engine(config.database)
    try:
        before = current_revision(engine)
        try:
            migrate(engine)
        except CommandError:
            # Alembic knows no such revision: a newer Shoal migrated it.
            raise ConfigError(
                f"the database is at migration {before}, which this version of Shoal "
                f"does not know (it knows up to {head_revision()}): run the newer version"
            ) from None
        return before, head_revision()
    finally:
        engine.dispose()


@dataclass(frozen=True)
class _Incoming:
    path: Path
    text: str
    kind: str
    number: int


def _read(path: Path) -> _Incoming:
    def refuse(reason: str) -> ImportRefusedError:
        return ImportRefusedError(f"{path}: {reason}; nothing was imported")

    try:
        with path.open("rb") as f:
            data = f.read(MAX_NOTE_FILE + 1)
    except OSError as exc:
        raise refuse(f"unreadable ({exc.strerror})") from None
    if len(data) > MAX_NOTE_FILE:
        raise refuse("too large for a signed note")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("not a signed note (not UTF-8 text)") from None
    if any(marker in text.upper() for marker in _PRIVATE_MARKERS):
        raise refuse("this looks like a PRIVATE key; the server takes only signed notes")
    kind = _KIND_LINE.match(text)
    if kind is None:
        raise refuse("not a Shoal signed note")
    number = _NUMBER_LINE.search(text)
    return _Incoming(path, text, kind.group(1), int(number.group(1)) if number else 0)


class _Importer:
    """One import's transaction: stored state, then each incoming note."""

    def __init__(self, db: Session, root: crypto.NoteVerifier, now: datetime) -> None:
        self._db = db
        self._root = root
        self._now = now
        stored = db.scalars(select(schema.Note).where(schema.Note.kind != EPOCH)).all()
        self._organization_row = next((n for n in stored if n.kind == ORGANIZATION), None)
        self._organization = (
            org.verify_organization(self._organization_row.body, root)
            if self._organization_row
            else None
        )
        self._commands = {n.number: n for n in stored if n.kind == COMMAND}
        self._newest: org.CommandCertificate | None = None
        if self._organization is not None and self._commands:
            self._newest = newest_command(
                [
                    org.verify_command(n.body, root, self._organization)
                    for n in self._commands.values()
                ]
            )

    def add(self, note: _Incoming) -> str:
        if note.kind == ORGANIZATION:
            return self._add_organization(note.text)
        if note.kind == COMMAND:
            return self._add_command(note.text)
        if note.kind == DOORS:
            return self._add_doors(note.text)
        return self._add_epoch(note.text)

    def _store(
        self, kind: str, text: str, number: int, compartment: str | None = None
    ) -> schema.Note:
        row = schema.Note(
            id=org.new_id(), kind=kind, compartment_id=compartment, number=number, body=text
        )
        self._db.add(row)
        return row

    def _add_organization(self, text: str) -> str:
        organization = org.verify_organization(text, self._root)
        what = f"organization {organization.org_id}"
        if self._organization_row is not None:
            if self._organization_row.body != text:
                raise org.NoteContentError("a different organization record is already imported")
            return f"{what}: unchanged"
        self._organization_row = self._store(ORGANIZATION, text, ORGANIZATION_NUMBER)
        self._organization = organization
        return f"{what}: imported"

    def _add_command(self, text: str) -> str:
        if self._organization is None:
            raise org.NoteContentError("import the organization note first (or with this one)")
        cert = org.verify_command(text, self._root, self._organization)
        what = f"command key {cert.serial}"
        stored = self._commands.get(cert.serial)
        if stored is not None:
            if stored.body != text:
                raise org.NoteContentError(f"a different {what} is already imported")
            return f"{what}: unchanged"
        if self._newest is not None and cert.serial < self._newest.serial:
            raise org.EpochError(f"{what} is older than command key {self._newest.serial}")
        self._commands[cert.serial] = self._store(COMMAND, text, cert.serial)
        self._newest = cert
        return f"{what}: imported"

    def _add_epoch(self, text: str) -> str:
        if self._organization is None or self._newest is None:
            raise org.NoteContentError("import the organization and command notes first")
        # The compartment is named inside the signed text; parse it only to
        # find what is stored, then verify before trusting anything.
        claimed = org.Epoch.from_record(crypto.open_note(text, [self._newest.command_key]).text)
        compartment = self._db.get(schema.Compartment, claimed.compartment_id)
        epoch = org.verify_epoch(
            text,
            self._newest,
            self._organization,
            now=self._now,
            newest_seen=compartment.epoch if compartment else 0,
        )
        what = f"epoch {epoch.number} of door {epoch.door!r}"
        same = self._db.scalars(
            select(schema.Note).where(
                schema.Note.kind == EPOCH,
                schema.Note.compartment_id == epoch.compartment_id,
                schema.Note.number == epoch.number,
            )
        ).one_or_none()
        if same is not None:
            if same.body != text:
                raise org.EpochError(f"a different {what} is already imported")
            return f"{what}: unchanged"
        holder = self._db.scalars(
            select(schema.Compartment).where(schema.Compartment.door == epoch.door)
        ).one_or_none()
        if holder is not None and holder.id != epoch.compartment_id:
            raise org.NoteContentError(f"door {epoch.door!r} belongs to another compartment")
        if compartment is None:
            compartment = schema.Compartment(id=epoch.compartment_id)
            self._db.add(compartment)
        compartment.door = epoch.door
        compartment.epoch = epoch.number
        self._store(EPOCH, text, epoch.number, epoch.compartment_id)
        self._db.flush()
        return f"{what}: imported"

    def _add_doors(self, text: str) -> str:
        if self._organization is None:
            raise org.NoteContentError("import the organization note first (or with this one)")
        # The root line must be the configured root key, and the key name
        # this organization's (verify_doors_list and DoorsList check both).
        doors = org.verify_doors_list(text, self._root)
        if doors.org_id != self._organization.org_id:
            raise org.NoteContentError("the doors list is for another organization")
        compartment_id = None
        scope = "the general contact"
        if doors.door is not None:
            scope = f"door {doors.door!r}"
            compartment = self._db.scalars(
                select(schema.Compartment).where(schema.Compartment.door == doors.door)
            ).one_or_none()
            if compartment is None:
                raise org.NoteContentError(
                    f"{scope} has no compartment here: import its epoch first (or with this list)"
                )
            compartment_id = compartment.id
        what = f"doors list {doors.number} of {scope}"
        stored = self._db.scalars(
            select(schema.Note).where(
                schema.Note.kind == DOORS,
                schema.Note.compartment_id.is_(None)
                if compartment_id is None
                else schema.Note.compartment_id == compartment_id,
            )
        ).all()
        if any(row.body == text for row in stored):
            return f"{what}: unchanged"
        newest = max((row.number for row in stored), default=0)
        if doors.number <= newest:
            # A server must not go back to addresses command has replaced
            # (one may since have fallen into other hands).
            raise org.EpochError(f"{what} is not newer than list {newest}, already imported")
        self._store(DOORS, text, doors.number, compartment_id)
        self._db.flush()
        return f"{what}: imported"


def import_notes(data_dir: Path, paths: Sequence[Path], now: datetime) -> list[str]:
    """Verify and store signed notes; returns one line per file, in the
    order they were applied (organization, command keys, epochs)."""
    config = load_config(data_dir)
    notes = sorted((_read(p) for p in paths), key=lambda n: (_KIND_ORDER[n.kind], n.number))
    engine = create_db_engine(config.database)
    try:
        with session_factory(engine)() as db:
            try:
                importer = _Importer(db, config.root_key, now)
            except (crypto.CryptoError, org.OrgError) as exc:
                raise ImportRefusedError(f"the stored notes no longer verify: {exc}") from None
            lines = []
            for note in notes:
                try:
                    lines.append(f"{note.path}: {importer.add(note)}")
                except (crypto.CryptoError, org.OrgError) as exc:
                    raise ImportRefusedError(f"{note.path}: {exc}; nothing was imported") from None
            db.commit()
    finally:
        engine.dispose()
    return lines
