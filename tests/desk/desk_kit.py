"""Test plumbing for the desk: command's side, a desk to drive, item makers.

Command's side runs through :mod:`shoal.command`'s own core (what
``shoal command`` runs), in memory, so each test can sign what it needs.
The desk runs through its real command line, in-process, with the fake
server's transport passed in the click context object.
"""

from __future__ import annotations

import base64
import dataclasses
import json
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
        #: Every compartment's escrow: its epochs may then list one handler.
        self.escrow = crypto.generate_identity(key_type)
        founding = _notes.found(
            self.organization,
            root=self.root_key,
            command=self.command_key,
            reading=self.reading.recipient(),
        )
        self.state = founding.state
        self.notes = dict(founding.notes)
        #: Every command key by serial, the retired ones too (a thief may hold them).
        self.command_keys = {self.state.command.serial: self.command_key}
        self.certificates = [self.state.command]

    @property
    def root_vkey(self) -> str:
        return str(self.state.root_key)

    def add_compartment(self, door: str) -> str:
        self.state = _state.add_compartment(self.state, door, org.new_id())
        self.state = _state.set_escrow(self.state, door, self.escrow.recipient())
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

    def rotate_command(self) -> int:
        """Certify a new command key with the root key, as a rotation does; its serial."""
        serial = self.state.command.serial + 1
        self.command_key = crypto.SigningKey.generate()
        org_id = self.organization.org_id
        certificate = dataclasses.replace(
            self.state.command,
            serial=serial,
            command_key=crypto.NoteVerifier(
                org.command_key_name(org_id, serial), self.command_key.verify_key
            ),
        )
        root_signer = crypto.NoteSigner(org.root_key_name(org_id), self.root_key)
        self.notes[f"command-{serial}.note"] = crypto.sign_note(certificate.record(), [root_signer])
        self.state = dataclasses.replace(self.state, command=certificate)
        self.command_keys[serial] = self.command_key
        self.certificates.append(certificate)
        return serial

    def sign_with_retired(self, door: str, serial: int, *extra: trusted.Enrollment) -> str:
        """The next epoch of ``door`` with ``extra`` handlers, signed by the command
        key of ``serial``: what a hostile server holding a retired key would make."""
        epoch = _notes.next_epoch(self.state, door, now=NOW, days=90)
        handlers = (
            *epoch.handlers,
            *(org.HandlerEntry(e.handler_id, e.recipient, e.verify_key) for e in extra),
        )
        signer = crypto.NoteSigner(
            org.command_key_name(self.organization.org_id, serial), self.command_keys[serial]
        )
        return crypto.sign_note(dataclasses.replace(epoch, handlers=handlers).record(), [signer])

    def sign_variant(self, door: str, **changes: object) -> str:
        """An epoch note command's tool would not make: the next epoch with
        ``changes`` (number, compartment_id, expires…), for hostile-server tests."""
        epoch = _notes.next_epoch(self.state, door, now=NOW, days=90)
        return _notes.sign_epoch(
            self.state, dataclasses.replace(epoch, **changes), self.command_key
        )

    def epoch(self, door: str, number: int) -> org.Epoch:
        note = self.notes[f"epoch-{door}-{number}.note"]
        verifiers = [c.command_key for c in self.certificates]
        return org.Epoch.from_record(crypto.open_note(note, verifiers).text)

    def document(
        self, *, epochs: list[str] | None = None, commands: list[int] | None = None
    ) -> dict[str, Any]:
        """What ``GET /api/v1/org`` serves: every note, or the epochs and the
        command certificates (by serial) given."""
        if epochs is None:
            epochs = [n for name, n in sorted(self.notes.items()) if name.startswith("epoch-")]
        if commands is None:
            commands = sorted(self.command_keys)
        return {
            "organization": self.notes["organization.note"],
            "commands": [self.notes[f"command-{serial}.note"] for serial in commands],
            "epochs": epochs,
        }


@dataclasses.dataclass
class Desk:
    """One handler's desk directory, driven through ``shoal desk``."""

    folder: Path
    transport: httpx.BaseTransport
    passphrase_file: Path

    def run(self, command: str, *args: str, passphrase: Path | None = None) -> Result:
        keyed = command in {
            "keygen", "sync", "list", "read", "reply", "export",
            "cut", "delete", "delete-contact", "move", "state",
        }  # fmt: skip
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

    def add_desk(self, folder: Path) -> Desk:
        """A second handler's desk in the compartment: its own keystore,
        listed in a new epoch that command signs, enrolled."""
        desk = Desk(folder, self.server.transport(), self.desk.passphrase_file)
        desk.ok("keygen", "--work-factor", "10")
        self.kit.add_handler(DOOR, desk.enrollment())
        self.kit.sign_epoch(DOOR)
        self.server.document = self.kit.document()
        desk.ok("enroll", "--server", SERVER_URL, "--root-key", self.kit.root_vkey, "--door", DOOR)
        return desk

    def audit_entries(self, keystore: crypto.Keystore) -> list[tuple[crypto.Envelope, Any]]:
        """The compartment's audit entries in the server's main history,
        opened with ``keystore``: (envelope, content as JSON)."""
        opened = []
        for entry in self.server.audit.entries:
            if entry.compartment_id == self.compartment_id:
                envelope, content = crypto.decrypt_item(entry.blob, keystore.identities)
                opened.append((envelope, json.loads(content)))
        return opened


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
