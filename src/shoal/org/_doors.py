"""The organization's doors: lists of its onion addresses, signed by the root key.

A phishing site can copy every page of a door; it cannot sign. So command
signs, with the offline root key, which onion addresses are the
organization's, and every door serves that list (``GET /doors.note``).
Anyone holding the root key's fingerprint, given out of band (printed, in
person), can check an address against it with ``shoal field check-doors``.

One list per scope, each its own note::

    shoal doors v1
    organization <org id>
    root <the root verifier key>
    number <n>
    door <door>              (absent: the organization's general addresses)
    address <xxx.onion>      (one or more)

A door's own list names only that door's addresses: a contact of one
compartment who checks the door they were given learns of no other
compartment (DESIGN.md, "Compartments"), not even that it has an address.
The general list names the organization's public contact addresses. Lists
are numbered on one counter (``number``), so a server can refuse to go
back to an older list, as it does for epochs.

The ``root`` line is there for the holder of a fingerprint alone: it names
the key to verify with, and :func:`open_doors_list` accepts that key only
if its fingerprint is the one given, then verifies the signature with it.
The record is parsed before verification only to find that key; every
value returned comes from the text again, parsed after the signature
verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import crypto
from . import _records
from ._onion import check_onion_address
from ._organization import _check_id, _parse_int, check_door, root_fingerprint, root_key_name
from .errors import NoteContentError

DOORS_KIND = "doors"
_FINGERPRINT = re.compile(r"\A[0-9a-f]{32}\Z")


@dataclass(frozen=True)
class DoorsList:
    """One scope's onion addresses: the general list (``door`` None) or a door's."""

    org_id: str
    root_key: crypto.NoteVerifier
    number: int
    door: str | None
    addresses: tuple[str, ...]

    def record(self) -> str:
        """The record's text; ValueError for a list that must not be signed
        (no address, a malformed or repeated address, a malformed door)."""
        if not self.addresses:
            raise ValueError("a doors list names at least one address")
        if len(set(self.addresses)) != len(self.addresses):
            raise ValueError("a doors list names each address once")
        for address in self.addresses:
            check_onion_address(address)
        fields = [
            ("organization", self.org_id),
            ("root", str(self.root_key)),
            ("number", str(self.number)),
        ]
        if self.door is not None:
            fields.append(("door", check_door(self.door)))
        fields += [("address", address) for address in self.addresses]
        return _records.encode(DOORS_KIND, fields)

    @classmethod
    def from_record(cls, text: str) -> DoorsList:
        f = _records.decode(
            DOORS_KIND,
            text,
            required={"organization", "root", "number", "address"},
            optional={"door"},
            repeated={"address"},
        )
        org_id = _check_id(f["organization"][0], "organization")
        try:
            root = crypto.NoteVerifier.parse(f["root"][0])
        except crypto.KeyFormatError:
            raise NoteContentError("malformed root key in doors list") from None
        if root.name != root_key_name(org_id):
            raise NoteContentError("the doors list's root key is not its organization's")
        door = None
        if "door" in f:
            try:
                door = check_door(f["door"][0])
            except ValueError:
                raise NoteContentError("malformed door in doors list") from None
        addresses = tuple(f.get("address", []))
        try:
            for address in addresses:
                check_onion_address(address)
        except ValueError:
            raise NoteContentError("malformed onion address in doors list") from None
        if not addresses:
            raise NoteContentError("a doors list names at least one address")
        if len(set(addresses)) != len(addresses):
            raise NoteContentError("an address is repeated in the doors list")
        return cls(org_id, root, _parse_int(f["number"][0], "doors list number"), door, addresses)


def verify_doors_list(note: str, root: crypto.NoteVerifier) -> DoorsList:
    """The list a note signs, verified with ``root`` (which the caller
    trusts: the server's configured root key); the list's ``root`` line
    must be that same key."""
    doors = DoorsList.from_record(crypto.open_note(note, [root]).text)
    if doors.root_key != root:
        raise NoteContentError("the doors list names another root key than the one that signed it")
    return doors


def _normal_fingerprint(fingerprint: str) -> str:
    """A root fingerprint as 32 lowercase hex digits: given with or without
    its dashes, in any case, with surrounding spaces; ValueError otherwise."""
    digits = fingerprint.strip().lower().replace("-", "")
    if not _FINGERPRINT.match(digits):
        raise ValueError("a fingerprint is 32 hex digits (in groups of four, with dashes)")
    return digits


def open_doors_list(note: str, fingerprint: str) -> DoorsList:
    """The list a note signs, for someone who holds only the root key's
    ``fingerprint`` (given out of band).

    The root key the unverified text names is used only if its fingerprint
    is ``fingerprint`` (else ``crypto.SignatureError``: the note is not
    signed by the key the fingerprint names), and only to verify the
    signature; the list returned is parsed from the verified text.
    ValueError if ``fingerprint`` is not a fingerprint at all.
    """
    wanted = _normal_fingerprint(fingerprint)
    # The text before the signature block, as crypto.open_note splits it.
    split = note.rfind("\n\n")
    claimed = DoorsList.from_record(note[: split + 1] if split >= 0 else "").root_key
    if _normal_fingerprint(root_fingerprint(claimed)) != wanted:
        raise crypto.SignatureError(
            "the doors list is not signed by the root key with the fingerprint given"
        )
    return verify_doors_list(note, claimed)
