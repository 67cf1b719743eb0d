"""The doors lists command signs with the root key (``shoal command doors``).

Pure: the addresses the operator typed, the state and the names of the
notes already signed come in; the lists, and then the signed notes, come
out. The shell asks for the root keystore's passphrase and writes files.

One run signs one general list (the organization's contact addresses,
if any are given) and one list per door named, all under one number: one
more than the highest of any doors list already signed (one counter for
every scope, as the file names show). Each door's list names only that
door's addresses, so a contact of one compartment learns of no other
(``shoal.org._doors``). An address is checked (its checksum) before it is
signed: a mistyped address, signed, would send contacts to nobody, or to
whoever holds the key of the address it happens to spell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .. import crypto, org
from ._state import CommandState
from .errors import RequestError, StateError

_NAME = re.compile(r"doors-(?:[a-z0-9-]+-)?([0-9]+)\.note")


def newest_doors_note(names: Iterable[str]) -> int:
    """The highest number among doors notes' file names; 0 if none.

    ``doors-<n>.note`` (general) and ``doors-<door>-<n>.note``: the number
    is always the digits between the last dash and ``.note``.
    """
    numbers = (int(m.group(1)) for name in names if (m := _NAME.fullmatch(name)))
    return max(numbers, default=0)


def _addresses(given: Sequence[str], scope: str) -> tuple[str, ...]:
    checked = []
    for address in given:
        try:
            checked.append(org.check_onion_address(address.strip().lower()))
        except ValueError as exc:
            raise RequestError(f"{address!r} ({scope}): {exc}") from None
    if len(set(checked)) != len(checked):
        raise RequestError(f"an address is given twice for {scope}")
    return tuple(checked)


def split_door_address(text: str) -> tuple[str, str]:
    """``DOOR=ADDRESS`` as given to ``--door``."""
    door, sep, address = text.partition("=")
    if not sep or not door or not address:
        raise RequestError(f"{text!r}: give a door's address as DOOR=ADDRESS")
    return door.strip(), address.strip()


def doors_lists(
    state: CommandState,
    *,
    general: Sequence[str],
    doors: Sequence[tuple[str, str]],
    newest_note: int = 0,
) -> list[org.DoorsList]:
    """The lists one run signs: the general one (if ``general`` names any
    address), then one per door, in the order the doors were first named.

    Every door must be a compartment of the organization (refused
    otherwise, before any passphrase is asked for). ``newest_note`` is the
    highest number among the doors notes already on disk.
    """
    if not general and not doors:
        raise RequestError("name at least one address: --general ADDRESS or --door DOOR=ADDRESS")
    number = newest_note + 1

    def signed_list(door: str | None, addresses: tuple[str, ...]) -> org.DoorsList:
        return org.DoorsList(state.organization.org_id, state.root_key, number, door, addresses)

    lists = []
    if general:
        lists.append(signed_list(None, _addresses(general, "the general list")))
    per_door: dict[str, list[str]] = {}
    for door, address in doors:
        state.compartment(door)  # RequestError for a door that is no compartment
        per_door.setdefault(door, []).append(address)
    for door, given in per_door.items():
        lists.append(signed_list(door, _addresses(given, f"door {door!r}")))
    return lists


def doors_note_name(doors: org.DoorsList) -> str:
    scope = "" if doors.door is None else f"{doors.door}-"
    return f"doors-{scope}{doors.number}.note"


def sign_doors(
    state: CommandState, lists: Sequence[org.DoorsList], root: crypto.SigningKey
) -> dict[str, str]:
    """File name in DIR/notes → the list signed by the root key."""
    signer = crypto.NoteSigner(org.root_key_name(state.organization.org_id), root)
    if signer.verifier != state.root_key:
        raise StateError("the root keystore does not hold this organization's root key")
    return {doors_note_name(d): crypto.sign_note(d.record(), [signer]) for d in lists}
