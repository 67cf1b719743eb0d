"""The organization's signed records and the chain of trust between them.

    root key (offline, command's safe)
      ├─ signs the organization record: id, key type, contact salt
      └─ signs a command-key certificate: command's note key and its
         reading recipient, numbered (a new serial rotates the command key)
            └─ signs each compartment's epoch: its door, number, expiry,
               and the handlers' (and command's, escrow's) recipients

Everything here is pure: records are built from values, verified from note
text against keys the caller already trusts, with an explicit ``now``. Who
may read what (need-to-know) follows from the epochs alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import crypto
from . import _records
from .errors import EpochError, NoteContentError

ORG_KIND = "organization"
COMMAND_KIND = "command-key"
EPOCH_KIND = "epoch"
_ID = re.compile(r"\A[0-9a-f]{32}\Z")
_DOOR = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_id() -> str:
    """A random 128-bit id, hex: never sequential, never derived from content."""
    return secrets.token_hex(16)


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise NoteContentError(f"malformed {what} id")
    return value


def check_door(door: str) -> str:
    if not _DOOR.match(door):
        raise ValueError("a door is 1-63 lowercase letters, digits or dashes")
    return door


def root_key_name(org_id: str) -> str:
    return f"shoal/{org_id}/root"


def root_fingerprint(root: crypto.NoteVerifier) -> str:
    """The root key's fingerprint, for members to check by eye or by ear.

    Members are given it out of band (never through Shoal, which a seized
    server could alter) and the field client refuses a server whose root key
    does not match. 128 bits of SHA-256 over the whole verifier key (name,
    id and key), as eight groups of four hex digits: short enough to read
    out over a phone, far beyond what a forger could match.
    """
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:32]
    return "-".join(digest[i : i + 4] for i in range(0, 32, 4))


def command_key_name(org_id: str, serial: int) -> str:
    return f"shoal/{org_id}/command-{serial}"


def handler_id_for(verify_key: crypto.VerifyKey) -> str:
    """A handler's id is a fingerprint of their signing key."""
    return hashlib.sha256(b"shoal handler id\n" + verify_key.public_bytes).hexdigest()[:32]


def _parse_recipient(text: str) -> crypto.AgeRecipient:
    try:
        return crypto.parse_recipient(text)
    except crypto.KeyFormatError:
        raise NoteContentError("malformed recipient in record") from None


def _parse_base64(text: str, what: str) -> bytes:
    """Canonical padded base64, or NoteContentError. Python's decoder also
    takes stray padding and low bits; refusing them keeps one spelling per
    record, as the signed-note and checkpoint parsers do."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise NoteContentError(f"malformed {what}") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteContentError(f"malformed {what}")
    return raw


def _parse_int(text: str, what: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,17}", text):
        raise NoteContentError(f"malformed {what}")
    return int(text)


@dataclass(frozen=True)
class Organization:
    org_id: str
    key_type: crypto.KeyType
    salt: bytes

    def record(self) -> str:
        return _records.encode(
            ORG_KIND,
            [
                ("id", self.org_id),
                ("key-type", self.key_type.value),
                ("salt", base64.b64encode(self.salt).decode()),
            ],
        )

    @classmethod
    def from_record(cls, text: str) -> Organization:
        f = _records.decode(ORG_KIND, text, required={"id", "key-type", "salt"})
        try:
            key_type = crypto.KeyType(f["key-type"][0])
        except ValueError:
            raise NoteContentError("malformed organization record") from None
        salt = _parse_base64(f["salt"][0], "organization salt")
        if len(salt) < 16:
            raise NoteContentError("organization salt too short")
        return cls(_check_id(f["id"][0], "organization"), key_type, salt)


@dataclass(frozen=True)
class CommandCertificate:
    org_id: str
    serial: int
    command_key: crypto.NoteVerifier
    reading_recipient: crypto.AgeRecipient

    def record(self) -> str:
        return _records.encode(
            COMMAND_KIND,
            [
                ("organization", self.org_id),
                ("serial", str(self.serial)),
                ("command-key", str(self.command_key)),
                ("reading-recipient", str(self.reading_recipient)),
            ],
        )

    @classmethod
    def from_record(cls, text: str) -> CommandCertificate:
        f = _records.decode(
            COMMAND_KIND,
            text,
            required={"organization", "serial", "command-key", "reading-recipient"},
        )
        org_id = _check_id(f["organization"][0], "organization")
        serial = _parse_int(f["serial"][0], "serial")
        try:
            key = crypto.NoteVerifier.parse(f["command-key"][0])
        except crypto.KeyFormatError:
            raise NoteContentError("malformed command key") from None
        if key.name != command_key_name(org_id, serial):
            raise NoteContentError("command key name does not match the certificate")
        return cls(org_id, serial, key, _parse_recipient(f["reading-recipient"][0]))


@dataclass(frozen=True)
class HandlerEntry:
    handler_id: str
    recipient: crypto.AgeRecipient
    verify_key: crypto.VerifyKey


@dataclass(frozen=True)
class Epoch:
    """One compartment's membership, valid until ``expires``."""

    org_id: str
    compartment_id: str
    door: str
    number: int
    expires: datetime
    handlers: tuple[HandlerEntry, ...]
    command: crypto.AgeRecipient | None = None
    escrow: crypto.AgeRecipient | None = None

    def recipients(self) -> list[crypto.AgeRecipient]:
        """Everyone a new item of this compartment is encrypted to."""
        found = [h.recipient for h in self.handlers]
        found += [r for r in (self.command, self.escrow) if r is not None]
        return found

    def handler(self, verify_key: crypto.VerifyKey) -> HandlerEntry | None:
        return next((h for h in self.handlers if h.verify_key == verify_key), None)

    def record(self) -> str:
        fields = [
            ("organization", self.org_id),
            ("compartment", self.compartment_id),
            ("door", self.door),
            ("number", str(self.number)),
            ("expires", self.expires.astimezone(UTC).strftime(_TIME_FORMAT)),
        ]
        for h in self.handlers:
            key = base64.b64encode(h.verify_key.public_bytes).decode()
            fields.append(("handler", f"{h.handler_id} {h.recipient} {key}"))
        if self.command is not None:
            fields.append(("command", str(self.command)))
        if self.escrow is not None:
            fields.append(("escrow", str(self.escrow)))
        return _records.encode(EPOCH_KIND, fields)

    @classmethod
    def from_record(cls, text: str) -> Epoch:
        f = _records.decode(
            EPOCH_KIND,
            text,
            required={"organization", "compartment", "door", "number", "expires"},
            optional={"command", "escrow"},
            repeated={"handler"},
        )
        try:
            expires = datetime.strptime(f["expires"][0], _TIME_FORMAT).replace(tzinfo=UTC)
            door = check_door(f["door"][0])
        except ValueError:
            raise NoteContentError("malformed epoch record") from None
        handlers = []
        for line in f.get("handler", []):
            parts = line.split(" ")
            if len(parts) != 3:
                raise NoteContentError("malformed handler line")
            try:
                verify_key = crypto.VerifyKey(_parse_base64(parts[2], "handler key"))
            except crypto.KeyFormatError:
                raise NoteContentError("malformed handler key") from None
            if parts[0] != handler_id_for(verify_key):
                raise NoteContentError("handler id does not match its key")
            handlers.append(HandlerEntry(parts[0], _parse_recipient(parts[1]), verify_key))
        epoch = cls(
            org_id=_check_id(f["organization"][0], "organization"),
            compartment_id=_check_id(f["compartment"][0], "compartment"),
            door=door,
            number=_parse_int(f["number"][0], "epoch number"),
            expires=expires,
            handlers=tuple(handlers),
            command=_parse_recipient(f["command"][0]) if "command" in f else None,
            escrow=_parse_recipient(f["escrow"][0]) if "escrow" in f else None,
        )
        kinds = {crypto.key_type_of(r) for r in epoch.recipients()}
        if not epoch.recipients() or len(kinds) != 1:
            raise NoteContentError("an epoch needs recipients, all of one key type")
        return epoch


def verify_organization(note: str, root: crypto.NoteVerifier) -> Organization:
    org = Organization.from_record(crypto.open_note(note, [root]).text)
    if root.name != root_key_name(org.org_id):
        raise NoteContentError("organization record signed by another organization's root")
    return org


def verify_command(note: str, root: crypto.NoteVerifier, org: Organization) -> CommandCertificate:
    cert = CommandCertificate.from_record(crypto.open_note(note, [root]).text)
    if cert.org_id != org.org_id:
        raise NoteContentError("command certificate is for another organization")
    return cert


def open_epoch(note: str, command: CommandCertificate, org: Organization) -> Epoch:
    """Verify an epoch note's signature and content, but not its time.

    Pure in the note's bytes and the keys above it, so callers may memoize
    it; :func:`check_epoch` then decides whether it may be used now.
    """
    epoch = Epoch.from_record(crypto.open_note(note, [command.command_key]).text)
    if epoch.org_id != org.org_id:
        raise NoteContentError("epoch is for another organization")
    if {crypto.key_type_of(r) for r in epoch.recipients()} != {org.key_type}:
        raise NoteContentError("epoch recipients are not of the organization's key type")
    return epoch


def check_epoch(epoch: Epoch, *, now: datetime, newest_seen: int = 0) -> Epoch:
    """Refuse an expired epoch, or one older than ``newest_seen`` (the
    highest number the caller accepted for this compartment: a rollback)."""
    if epoch.expires <= now:
        raise EpochError(f"epoch {epoch.number} of compartment {epoch.door} has expired")
    if epoch.number < newest_seen:
        raise EpochError(f"epoch {epoch.number} is older than epoch {newest_seen} already seen")
    return epoch


def verify_epoch(
    note: str,
    command: CommandCertificate,
    org: Organization,
    *,
    now: datetime,
    newest_seen: int = 0,
) -> Epoch:
    """Verify an epoch note and check it may be used at ``now``."""
    return check_epoch(open_epoch(note, command, org), now=now, newest_seen=newest_seen)
