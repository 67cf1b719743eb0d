"""What a desk keeps on disk, and where::

    DIR/keystore.age     the handler's identity and signing key (passphrase)
    DIR/enrollment.txt   the public bundle handed to command
    DIR/desk.json        server, enrolled root key and door, accepted notes,
                         the newest command-key serial seen
    DIR/index.json       synced items' metadata, the cursor, contacts
    DIR/items/<id>.age   synced items: ciphertext, exactly as the server sent
    DIR/members.age      member keys recorded at vetting (sealed to this desk)

Nothing under DIR is plaintext: items stay encrypted at rest and are
decrypted in memory (or into an export folder the handler chose). Ids that
came from the server become file names only after :func:`check_id`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import crypto, trusted
from ..trusted import Acceptance, AcceptedEpoch, Trust, rebuild
from .errors import NotReadyError

FORMAT_VERSION = 1
_ID = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")
_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DIRECTION = re.compile(r"\A[a-z]{1,16}\Z")


def check_id(value: object, what: str) -> str:
    """A server-made id, safe as a file name and a URL path segment."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(f"malformed {what} id")
    return value


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def keystore(self) -> Path:
        return self.root / "keystore.age"

    @property
    def enrollment(self) -> Path:
        return self.root / "enrollment.txt"

    @property
    def config(self) -> Path:
        return self.root / "desk.json"

    @property
    def index(self) -> Path:
        return self.root / "index.json"

    @property
    def items(self) -> Path:
        return self.root / "items"

    def item_path(self, item_id: str) -> Path:
        return self.items / f"{check_id(item_id, 'item')}.age"

    @property
    def members(self) -> Path:
        """The member keys recorded at vetting, sealed to this desk (:mod:`._members`)."""
        return self.root / "members.age"

    @property
    def lifecycle(self) -> Path:
        """The newest lifecycle step seen per contact (rollback refusal)."""
        return self.root / "lifecycle.json"


@dataclass(frozen=True)
class Config:
    """desk.json: where the server is, what to trust, and what was accepted."""

    server: str
    root_key: crypto.NoteVerifier
    door: str
    compartment_id: str | None = None  # as command gave it, if it did
    organization_note: str | None = None
    epochs: tuple[AcceptedEpoch, ...] = ()
    #: The highest command-key serial ever accepted: a server showing only
    #: an older (retired) command key is refused from then on.
    command_serial: int = 0

    def trust(self) -> Trust:
        """What the accepted notes establish, verified again."""
        if self.organization_note is None or not self.epochs:
            raise NotReadyError("no epoch accepted yet: run `shoal desk sync` first")
        return rebuild(self.root_key, self.organization_note, self.epochs)

    def with_acceptance(self, organization_note: str, acceptance: Acceptance) -> Config:
        """This config once ``acceptance`` is kept; itself if there is nothing new."""
        serial = max(self.command_serial, acceptance.command_serial)
        if acceptance.epoch is None:
            return dataclasses.replace(self, command_serial=serial)
        return dataclasses.replace(
            self,
            organization_note=organization_note,
            epochs=(*self.epochs, acceptance.epoch),
            command_serial=serial,
        )


def _int(value: object, what: str) -> int:
    # bool is an int to Python, not to a server that means a count.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"malformed {what}")
    return value


def _matching(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"malformed {what}")
    return value


@dataclass(frozen=True)
class ItemMeta:
    """What the server says about an item: untrusted, and only metadata.

    The JSON form is the server's (docs/api.md), kept as is in index.json,
    so one strict parser reads both.
    """

    item_id: str
    seq: int
    contact: str | None
    direction: str
    blob: str
    size: int
    day: str
    #: The epoch the server says it sealed the item to (0: not recorded,
    #: as in an index written before servers said).
    epoch: int = 0

    @classmethod
    def from_json(cls, value: Any) -> ItemMeta:
        contact = value["contact"]
        return cls(
            item_id=check_id(value["id"], "item"),
            seq=_int(value["seq"], "item seq"),
            contact=None if contact is None else check_id(contact, "contact"),
            direction=_matching(value["direction"], _DIRECTION, "item direction"),
            blob=check_id(value["blob"], "blob"),
            size=_int(value["size"], "item size"),
            day=_matching(value["day"], _DAY, "item day"),
            epoch=_int(value.get("epoch", 0), "item epoch"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "seq": self.seq,
            "contact": self.contact,
            "direction": self.direction,
            "blob": self.blob,
            "size": self.size,
            "day": self.day,
            "epoch": self.epoch,
        }


@dataclass(frozen=True)
class ContactMeta:
    """A contact as the server shows it; the recipient is pinned on first
    sight. ``None``: erased, as the server does when ties are cut."""

    contact_id: str
    recipient: crypto.AgeRecipient | None
    accepted: bool

    @classmethod
    def from_json(cls, value: Any) -> ContactMeta:
        if not isinstance(value["accepted"], bool) or not isinstance(value["recipient"], str):
            raise ValueError("malformed contact")
        if not value["accepted"] and value["recipient"] == "":
            return cls(check_id(value["id"], "contact"), None, False)
        try:
            recipient = crypto.parse_recipient(value["recipient"])
        except crypto.KeyFormatError:
            raise ValueError("malformed contact recipient") from None
        return cls(check_id(value["id"], "contact"), recipient, value["accepted"])

    def to_json(self) -> dict[str, Any]:
        recipient = "" if self.recipient is None else str(self.recipient)
        return {"id": self.contact_id, "recipient": recipient, "accepted": self.accepted}


@dataclass(frozen=True)
class Index:
    cursor: int = 0
    items: tuple[ItemMeta, ...] = ()
    contacts: Mapping[str, ContactMeta] = field(default_factory=dict)
    #: Items that arrived sealed to an epoch already replaced when they
    #: were stored, still to be re-sealed (:mod:`._reseal`).
    late: tuple[str, ...] = ()
    #: The newest epoch known to have been current at the server when the
    #: item at the cursor was stored: an item after it sealed to an older
    #: one is late (:func:`._reseal.is_late`).
    watermark: int = 0

    def item(self, item_id: str) -> ItemMeta:
        found = next((i for i in self.items if i.item_id == item_id), None)
        if found is None:
            raise NotReadyError(f"no item {item_id} on this desk: run `shoal desk sync`")
        return found


def load_config(layout: Layout) -> Config:
    if not layout.config.exists():
        raise NotReadyError(f"{layout.root} is not enrolled: run `shoal desk enroll` first")
    value = trusted.read_json(layout.config)
    try:
        if value["shoal-desk"] != FORMAT_VERSION:
            raise NotReadyError("unsupported desk.json version")
        epochs = tuple(
            AcceptedEpoch(e["epoch"], e["command"], datetime.fromisoformat(e["accepted"]))
            for e in value["epochs"]
        )
        compartment = value["compartment"]
        # Absent from a desk.json written before the serial was kept: the
        # certificates of its accepted epochs then set the floor (Trust).
        command_serial = _int(value.get("command_serial", 0), "command serial")
        return Config(
            server=value["server"],
            root_key=crypto.NoteVerifier.parse(value["root_key"]),
            door=value["door"],
            compartment_id=None if compartment is None else check_id(compartment, "compartment"),
            organization_note=value["organization"],
            epochs=epochs,
            command_serial=command_serial,
        )
    except (KeyError, TypeError, ValueError, crypto.CryptoError):
        raise NotReadyError(f"{layout.config} is malformed") from None


def save_config(layout: Layout, config: Config) -> None:
    value: dict[str, Any] = {
        "shoal-desk": FORMAT_VERSION,
        "server": config.server,
        "root_key": str(config.root_key),
        "door": config.door,
        "compartment": config.compartment_id,
        "organization": config.organization_note,
        "epochs": [
            {"epoch": e.epoch_note, "command": e.command_note, "accepted": e.accepted.isoformat()}
            for e in config.epochs
        ],
        "command_serial": config.command_serial,
    }
    trusted.write_json(layout.config, value)


def load_index(layout: Layout) -> Index:
    if not layout.index.exists():
        return Index()
    value = trusted.read_json(layout.index)
    try:
        if value["shoal-desk-index"] != FORMAT_VERSION:
            raise NotReadyError("unsupported index.json version")
        items = tuple(ItemMeta.from_json(i) for i in value["items"])
        contacts = (ContactMeta.from_json(c) for c in value["contacts"])
        # Absent from an index written before late items were re-sealed.
        late = tuple(check_id(i, "item") for i in value.get("late", []))
        return Index(
            _int(value["cursor"], "cursor"),
            items,
            {c.contact_id: c for c in contacts},
            late,
            _int(value.get("watermark", 0), "watermark"),
        )
    except (KeyError, TypeError, ValueError):
        raise NotReadyError(f"{layout.index} is malformed") from None


def save_index(layout: Layout, index: Index) -> None:
    value: dict[str, Any] = {
        "shoal-desk-index": FORMAT_VERSION,
        "cursor": index.cursor,
        "items": [i.to_json() for i in index.items],
        "contacts": [c.to_json() for c in index.contacts.values()],
        "late": list(index.late),
        "watermark": index.watermark,
    }
    trusted.write_json(layout.index, value)
