"""Command's view of the organization: compartments and their handlers.

The state is public material only (ids, doors, recipients, verify keys,
epoch numbers), kept in ``DIR/organization.json`` beside the two sealed
keystores and the signed notes::

    DIR/organization.json      this state
    DIR/root.keystore.age      the root key (move it offline after init)
    DIR/command.keystore.age   the command key and command's reading identity
    DIR/root.vkey              the root verifier key, to publish out of band
    DIR/notes/*.note           every note signed so far, for the server
    DIR/.lock                  held by the command changing the state

Values are frozen; the transitions below return a new state and do no I/O,
so the shell saves only what a whole, successful command produced.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import crypto, org, trusted
from .errors import RequestError, StateError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Layout:
    """Where command's files live under its directory."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "organization.json"

    @property
    def root_keystore(self) -> Path:
        return self.root / "root.keystore.age"

    @property
    def command_keystore(self) -> Path:
        return self.root / "command.keystore.age"

    @property
    def root_vkey(self) -> Path:
        return self.root / "root.vkey"

    @property
    def notes(self) -> Path:
        return self.root / "notes"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"


@dataclass(frozen=True)
class Compartment:
    compartment_id: str
    door: str
    handlers: tuple[org.HandlerEntry, ...] = ()
    epoch: int = 0  # the number of the newest epoch signed; 0 before the first
    #: A recipient whose identity is kept offline, so that losing handlers'
    #: laptops loses no data (DESIGN.md, "Compartments"); shown in the
    #: exposure report.
    escrow: crypto.AgeRecipient | None = None
    #: Whether command's reading identity is among the epoch's recipients
    #: (command then reads everything; otherwise only what is forwarded).
    command_reads: bool = True


@dataclass(frozen=True)
class CommandState:
    organization: org.Organization
    root_key: crypto.NoteVerifier
    command: org.CommandCertificate
    compartments: tuple[Compartment, ...] = ()

    def compartment(self, door: str) -> Compartment:
        found = next((c for c in self.compartments if c.door == door), None)
        if found is None:
            raise RequestError(f"no compartment has the door {door!r}")
        return found

    def _replace(self, new: Compartment) -> CommandState:
        rest = tuple(new if c.door == new.door else c for c in self.compartments)
        return dataclasses.replace(self, compartments=rest)


def add_compartment(state: CommandState, door: str, compartment_id: str) -> CommandState:
    try:
        org.check_door(door)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if any(c.door == door for c in state.compartments):
        raise RequestError(f"a compartment already has the door {door!r}")
    added = Compartment(compartment_id, door)
    return dataclasses.replace(state, compartments=(*state.compartments, added))


def add_handler(state: CommandState, door: str, enrollment: trusted.Enrollment) -> CommandState:
    compartment = state.compartment(door)
    if foreign_recipients(state.organization, [enrollment.recipient]):
        wanted = state.organization.key_type
        flag = " --classic" if wanted is crypto.KeyType.X25519 else ""
        raise RequestError(
            f"the bundle's recipient is not {wanted.value}, the organization's key type: "
            f"the handler must make a new keystore with `shoal desk keygen{flag}`"
        )
    if any(h.handler_id == enrollment.handler_id for h in compartment.handlers):
        raise RequestError(f"handler {enrollment.handler_id} is already in {door!r}")
    entry = org.HandlerEntry(enrollment.handler_id, enrollment.recipient, enrollment.verify_key)
    handlers = (*compartment.handlers, entry)
    return state._replace(dataclasses.replace(compartment, handlers=handlers))


def remove_handler(state: CommandState, door: str, handler_id: str) -> CommandState:
    compartment = state.compartment(door)
    handlers = tuple(h for h in compartment.handlers if h.handler_id != handler_id)
    if len(handlers) == len(compartment.handlers):
        raise RequestError(f"handler {handler_id} is not in {door!r}")
    return state._replace(dataclasses.replace(compartment, handlers=handlers))


def set_escrow(state: CommandState, door: str, escrow: crypto.AgeRecipient | None) -> CommandState:
    """The escrow recipient of ``door``'s next epochs (``None``: none)."""
    if escrow is not None and foreign_recipients(state.organization, [escrow]):
        raise RequestError(
            f"the escrow recipient is not {state.organization.key_type.value}, "
            "the organization's key type"
        )
    compartment = state.compartment(door)
    return state._replace(dataclasses.replace(compartment, escrow=escrow))


def set_command_reads(state: CommandState, door: str, reads: bool) -> CommandState:
    """Whether command's reading identity is a recipient of ``door``'s next epochs."""
    compartment = state.compartment(door)
    return state._replace(dataclasses.replace(compartment, command_reads=reads))


def record_epoch(state: CommandState, epoch: org.Epoch) -> CommandState:
    compartment = state.compartment(epoch.door)
    return state._replace(dataclasses.replace(compartment, epoch=epoch.number))


def foreign_recipients(
    organization: org.Organization, recipients: list[crypto.AgeRecipient]
) -> list[crypto.AgeRecipient]:
    """The recipients not of the organization's key type.

    One file never mixes classic and post-quantum recipients (the classic
    one would be the weak link against a future quantum computer), so a
    compartment's recipients cannot either.
    """
    return [r for r in recipients if crypto.key_type_of(r) is not organization.key_type]


# JSON form. Keys and records are stored as the strings their own parsers
# read, so there is one spelling of each.


def _handler_json(entry: org.HandlerEntry) -> dict[str, str]:
    return {
        "id": entry.handler_id,
        "recipient": str(entry.recipient),
        "verify_key": base64.b64encode(entry.verify_key.public_bytes).decode(),
    }


def _handler_from_json(value: dict[str, str]) -> org.HandlerEntry:
    verify_key = crypto.VerifyKey(base64.b64decode(value["verify_key"], validate=True))
    if org.handler_id_for(verify_key) != value["id"]:
        raise ValueError("handler id does not match its key")
    return org.HandlerEntry(value["id"], crypto.parse_recipient(value["recipient"]), verify_key)


def to_json(state: CommandState) -> dict[str, Any]:
    organization = state.organization
    return {
        "shoal-command": FORMAT_VERSION,
        "organization": {
            "id": organization.org_id,
            "key_type": organization.key_type.value,
            "salt": base64.b64encode(organization.salt).decode(),
        },
        "root_key": str(state.root_key),
        "command": {
            "serial": state.command.serial,
            "key": str(state.command.command_key),
            "reading_recipient": str(state.command.reading_recipient),
        },
        "compartments": {
            c.door: {
                "id": c.compartment_id,
                "handlers": [_handler_json(h) for h in c.handlers],
                "epoch": c.epoch,
                "escrow": str(c.escrow) if c.escrow is not None else None,
                "command_reads": c.command_reads,
            }
            for c in state.compartments
        },
    }


def from_json(value: dict[str, Any]) -> CommandState:
    try:
        if value["shoal-command"] != FORMAT_VERSION:
            raise StateError("unsupported state file version")
        o, c = value["organization"], value["command"]
        organization = org.Organization(
            o["id"], crypto.KeyType(o["key_type"]), base64.b64decode(o["salt"], validate=True)
        )
        command = org.CommandCertificate(
            organization.org_id,
            int(c["serial"]),
            crypto.NoteVerifier.parse(c["key"]),
            crypto.parse_recipient(c["reading_recipient"]),
        )
        compartments = tuple(
            Compartment(
                compartment_id=entry["id"],
                door=org.check_door(door),
                handlers=tuple(_handler_from_json(h) for h in entry["handlers"]),
                epoch=int(entry["epoch"]),
                escrow=crypto.parse_recipient(entry["escrow"]) if entry["escrow"] else None,
                command_reads=bool(entry["command_reads"]),
            )
            for door, entry in value["compartments"].items()
        )
        root_key = crypto.NoteVerifier.parse(value["root_key"])
    except (KeyError, TypeError, ValueError, AttributeError, crypto.CryptoError):
        raise StateError("the state file organization.json is malformed") from None
    return CommandState(organization, root_key, command, compartments)


def require(layout: Layout) -> None:
    """Refuse a directory that holds no organization (before locking it)."""
    if not layout.state.exists():
        raise StateError(f"{layout.root} holds no organization: run `shoal command init` first")


def load(layout: Layout) -> CommandState:
    require(layout)
    return from_json(trusted.read_json(layout.state))


def save(layout: Layout, state: CommandState) -> None:
    trusted.write_json(layout.state, to_json(state))
