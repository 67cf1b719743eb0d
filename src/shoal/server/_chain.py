"""The chain of trust as the server walks it: root → organization → command
key → a compartment's epoch (``shoal.org`` does each step).

The server refuses to encrypt to a recipient set that does not chain to the
root key it was given out of band, so it verifies the stored notes on every
request that encrypts or checks a signature; a seized-and-returned server
whose database was edited cannot slip a recipient in.

Only the newest command certificate counts: rotating the command key (a new
serial, signed by root) is how command retires a key it no longer trusts,
so epochs signed by an older command key are refused until re-signed.

:class:`NoteCache` memoizes verifications. Notes are immutable and the
verification of one is a pure function of its bytes and the keys above it,
so the cache holds nothing another server process would need. Time is never
cached: whether an epoch has expired is decided on every request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .. import crypto, org

_T = TypeVar("_T")

# Note kinds as stored in ``schema.Note.kind``: each record's own kind, the
# ``<kind>`` of its first line ``shoal <kind> v1``.
ORGANIZATION = org.ORG_KIND
COMMAND = org.COMMAND_KIND
EPOCH = org.EPOCH_KIND
#: Doors lists: signed by the root key itself, outside this chain
#: (``_doors_pages.py``).
DOORS = org.DOORS_KIND


@dataclass(frozen=True)
class Chain:
    """A verified organization and its current command key."""

    organization: org.Organization
    command: org.CommandCertificate


def newest_command(certificates: Sequence[org.CommandCertificate]) -> org.CommandCertificate:
    if not certificates:
        raise org.NoteContentError("no command certificate has been imported")
    return max(certificates, key=lambda c: c.serial)


def verify_chain(
    root: crypto.NoteVerifier, organization_note: str, command_notes: Sequence[str]
) -> Chain:
    """Raises ``crypto.CryptoError`` or ``org.OrgError`` if any link fails."""
    organization = org.verify_organization(organization_note, root)
    certificates = [org.verify_command(note, root, organization) for note in command_notes]
    return Chain(organization, newest_command(certificates))


class NoteCache:
    """A bounded, thread-safe memo of note verifications (see module doc)."""

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, object] = OrderedDict()

    def _get(self, key: Hashable, kind: type[_T]) -> _T | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
        return value if isinstance(value, kind) else None

    def _put(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def chain(
        self, root: crypto.NoteVerifier, organization_note: str, command_notes: Sequence[str]
    ) -> Chain:
        key = ("chain", str(root), organization_note, tuple(sorted(command_notes)))
        found = self._get(key, Chain)
        if found is None:
            found = verify_chain(root, organization_note, command_notes)
            self._put(key, found)
        return found

    def signed_epoch(self, chain: Chain, note: str) -> org.Epoch:
        """The epoch a note signs, its signature and content verified (not
        its time: :func:`org.check_epoch` does that on every request)."""
        key = ("epoch", chain.organization.record(), str(chain.command.command_key), note)
        found = self._get(key, org.Epoch)
        if found is None:
            found = org.open_epoch(note, chain.command, chain.organization)
            self._put(key, found)
        return found
