"""Test plumbing for the desk: command's side, a desk to drive, item makers.

Command's side runs through :mod:`shoal.command`'s own core (what
``shoal command`` runs), in memory, so each test can sign what it needs.
The desk runs through its real command line, in-process, with the fake
server's transport passed in the click context object.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result
from fake_server import FakeServer

from shoal import crypto, org, trusted
from shoal.cli import main
from shoal.command import _notes, _state
from shoal.crypto import _envelope

DOOR = "news"
PASSPHRASE = "a long passphrase for tests"
SERVER_URL = "http://shoal.test"
NOW = datetime.now(UTC)


class OrgKit:
    """An organization as command holds it, signing with the real core."""

    def __init__(self, key_type: crypto.KeyType = crypto.KeyType.HYBRID) -> None:
        self.organization = org.Organization(org.new_id(), key_type, crypto.generate_salt())
        self.root_key = crypto.SigningKey.generate()
        self.command_key = crypto.SigningKey.generate()
        self.reading = crypto.generate_identity(key_type)
        founding = _notes.found(
            self.organization,
            root=self.root_key,
            command=self.command_key,
            reading=self.reading.recipient(),
        )
        self.state = founding.state
        self.notes = dict(founding.notes)

    @property
    def root_vkey(self) -> str:
        return str(self.state.root_key)

    def add_compartment(self, door: str) -> str:
        self.state = _state.add_compartment(self.state, door, org.new_id())
        return self.state.compartment(door).compartment_id

    def add_handler(self, door: str, enrollment: trusted.Enrollment) -> None:
        self.state = _state.add_handler(self.state, door, enrollment)

    def remove_handler(self, door: str, handler_id: str) -> None:
        self.state = _state.remove_handler(self.state, door, handler_id)

    def sign_epoch(self, door: str, *, days: int = 90, now: datetime = NOW) -> str:
        epoch = _notes.next_epoch(self.state, door, now=now, days=days)
        note = _notes.sign_epoch(self.state, epoch, self.command_key)
        self.state = _state.record_epoch(self.state, epoch)
        self.notes[_notes.epoch_note_name(epoch)] = note
        return note

    def sign_variant(self, door: str, **changes: object) -> str:
        """An epoch note command's tool would not make: the next epoch with
        ``changes`` (number, compartment_id, expires…), for hostile-server tests."""
        epoch = _notes.next_epoch(self.state, door, now=NOW, days=90)
        return _notes.sign_epoch(
            self.state, dataclasses.replace(epoch, **changes), self.command_key
        )

    def epoch(self, door: str, number: int) -> org.Epoch:
        note = self.notes[f"epoch-{door}-{number}.note"]
        return org.Epoch.from_record(crypto.open_note(note, [self.state.command.command_key]).text)

    def document(self, *, epochs: list[str] | None = None) -> dict[str, Any]:
        """What ``GET /api/v1/org`` serves: every note, or the epochs given."""
        if epochs is None:
            epochs = [n for name, n in sorted(self.notes.items()) if name.startswith("epoch-")]
        return {
            "organization": self.notes["organization.note"],
            "commands": [self.notes["command-1.note"]],
            "epochs": epochs,
        }


@dataclasses.dataclass
class Desk:
    """One handler's desk directory, driven through ``shoal desk``."""

    folder: Path
    transport: httpx.BaseTransport
    passphrase_file: Path

    def run(self, command: str, *args: str, passphrase: Path | None = None) -> Result:
        keyed = command in {"keygen", "sync", "list", "read", "reply", "export"}
        pass_args = ["--passphrase-file", str(passphrase or self.passphrase_file)] if keyed else []
        argv = ["desk", command, "--dir", str(self.folder), *pass_args, *args]
        return CliRunner().invoke(main, argv, obj=self.transport, catch_exceptions=False)

    def ok(self, command: str, *args: str) -> str:
        result = self.run(command, *args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def keystore(self) -> crypto.Keystore:
        return trusted.unlock_keystore(self.folder / "keystore.age", PASSPHRASE)

    def enrollment(self) -> trusted.Enrollment:
        return trusted.Enrollment.parse((self.folder / "enrollment.txt").read_text())

    def handler_id(self) -> str:
        return self.enrollment().handler_id


@dataclasses.dataclass
class Setup:
    """A desk enrolled in door ``news``, its organization, and the server."""

    kit: OrgKit
    server: FakeServer
    desk: Desk
    compartment_id: str

    def recipients(self) -> list[crypto.AgeRecipient]:
        """The current epoch's recipients: what the intake encrypts to."""
        number = self.kit.state.compartment(DOOR).epoch
        return self.kit.epoch(DOOR, number).recipients()


def message(recipients: list[crypto.AgeRecipient], text: bytes) -> bytes:
    """A web contact's message, sealed as the server's intake seals it."""
    header = {"kind": "message", "time": "2026-11-23T06:00:00Z"}
    return crypto.encrypt_item(recipients, header, text)


def file_item(recipients: list[crypto.AgeRecipient], name: str, content: bytes) -> bytes:
    header = {"kind": "file", "name": name, "type": "application/octet-stream", "time": "x"}
    return crypto.encrypt_item(recipients, header, content)


def reply_header(contact: str, compartment: str, handler: str) -> dict[str, str]:
    return {
        "kind": "reply",
        "time": "2026-11-23T07:00:00Z",
        "contact": contact,
        "compartment": compartment,
        "handler": handler,
    }


def badly_signed(
    recipients: list[crypto.AgeRecipient], header: dict[str, str], text: bytes
) -> bytes:
    """A reply whose signature does not verify (the trailer's signature swapped)."""
    signer = crypto.SigningKey.generate()
    plain = _envelope.seal_item(header, text, signer)
    good = base64.b64encode(signer.sign(b"something else")).decode()
    trailer_start = plain.index(b'"signature":"') + len(b'"signature":"')
    forged = plain[:trailer_start] + good.encode() + plain[trailer_start + len(good) :]
    return crypto.encrypt(forged, recipients)
