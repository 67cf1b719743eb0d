"""The notes command signs: founding the organization, and epochs.

Pure: keys, ids and ``now`` come in as arguments, notes come out as text;
the shell generates the keys, asks for the passphrase and writes files.

Which key signs what (DESIGN.md, "Keys of the organization"): the root key
signs the organization record and the command-key certificate, and then
goes offline; the command key signs every epoch. Removing a handler signs
the next epoch in the same step (cutting ties at once).

An epoch must not strand data: it needs two handlers, or an escrow
recipient, so that losing one handler's laptop loses nothing
(:data:`MIN_HANDLERS_WITHOUT_ESCROW`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import crypto, org
from ._state import CommandState, foreign_recipients
from .errors import EpochRefusedError, StateError

#: The first command key's serial; a rotation (by the root key) makes the next.
FIRST_SERIAL = 1
#: Handlers an epoch needs when no escrow recipient backs them up.
MIN_HANDLERS_WITHOUT_ESCROW = 2


@dataclass(frozen=True)
class Founding:
    state: CommandState
    notes: dict[str, str]  # file name in DIR/notes → signed note


def found(
    organization: org.Organization,
    *,
    root: crypto.SigningKey,
    command: crypto.SigningKey,
    reading: crypto.AgeRecipient,
) -> Founding:
    """The state and the two root-signed notes of a new organization."""
    root_signer = crypto.NoteSigner(org.root_key_name(organization.org_id), root)
    certificate = org.CommandCertificate(
        org_id=organization.org_id,
        serial=FIRST_SERIAL,
        command_key=crypto.NoteVerifier(
            org.command_key_name(organization.org_id, FIRST_SERIAL), command.verify_key
        ),
        reading_recipient=reading,
    )
    state = CommandState(organization, root_signer.verifier, certificate)
    notes = {
        "organization.note": crypto.sign_note(organization.record(), [root_signer]),
        f"command-{FIRST_SERIAL}.note": crypto.sign_note(certificate.record(), [root_signer]),
    }
    return Founding(state, notes)


def rotate(
    state: CommandState, *, root: crypto.SigningKey, command: crypto.SigningKey
) -> tuple[CommandState, str, str]:
    """Certify a new command key (the next serial) with the root key:
    the new state, the note's file name and the note. Command's reading
    identity stays (what it could read, it still can)."""
    root_signer = crypto.NoteSigner(org.root_key_name(state.organization.org_id), root)
    if root_signer.verifier != state.root_key:
        raise StateError("the root keystore does not hold this organization's root key")
    serial = state.command.serial + 1
    certificate = org.CommandCertificate(
        org_id=state.organization.org_id,
        serial=serial,
        command_key=crypto.NoteVerifier(
            org.command_key_name(state.organization.org_id, serial), command.verify_key
        ),
        reading_recipient=state.command.reading_recipient,
    )
    note = crypto.sign_note(certificate.record(), [root_signer])
    return dataclasses.replace(state, command=certificate), f"command-{serial}.note", note


def next_epoch(
    state: CommandState, door: str, *, now: datetime, days: int, newest_note: int = 0
) -> org.Epoch:
    """The compartment's next epoch: its handlers, command (if the
    compartment's policy says so) and escrow, until now + days.

    ``newest_note`` is the highest number among the epoch notes already on
    disk: a state file restored from a backup does not know the epochs
    signed since, and their numbers must not be given out a second time.

    Refused if it would strand data: fewer than two handlers and no escrow
    recipient means one lost laptop loses everything sent to the
    compartment (command's own reading identity does not count: it reads,
    it does not keep the compartment's desk).
    """
    compartment = state.compartment(door)
    epoch = org.Epoch(
        org_id=state.organization.org_id,
        compartment_id=compartment.compartment_id,
        door=door,
        number=max(compartment.epoch, newest_note) + 1,
        expires=now + timedelta(days=days),
        handlers=compartment.handlers,
        command=state.command.reading_recipient if compartment.command_reads else None,
        escrow=compartment.escrow,
    )
    if len(epoch.handlers) < MIN_HANDLERS_WITHOUT_ESCROW and epoch.escrow is None:
        raise EpochRefusedError(
            f"compartment {door!r} would have {len(epoch.handlers)} handler(s) and no escrow "
            "recipient: losing one handler's laptop would lose everything sent to it. Add a "
            "handler (`shoal command handler add`) or an escrow recipient (`shoal command "
            "compartment policy --escrow RECIPIENT`) first"
        )
    foreign = foreign_recipients(state.organization, epoch.recipients())
    if foreign:
        raise EpochRefusedError(
            f"the epoch's recipients would mix key types: {', '.join(map(str, foreign))} "
            f"is not {state.organization.key_type.value}, the organization's type"
        )
    return epoch


def sign_epoch(state: CommandState, epoch: org.Epoch, command_key: crypto.SigningKey) -> str:
    """The epoch note, signed by the certified command key."""
    signer = crypto.NoteSigner(state.command.command_key.name, command_key)
    if signer.verifier != state.command.command_key:
        raise StateError("the command keystore does not hold the certified command key")
    return crypto.sign_note(epoch.record(), [signer])


def epoch_note_name(epoch: org.Epoch) -> str:
    return f"epoch-{epoch.door}-{epoch.number}.note"


def newest_epoch_note(door: str, names: Iterable[str]) -> int:
    """The highest epoch number of ``door`` among note file names; 0 if none.

    Unambiguous although doors may hold dashes and digits: the number is
    the digits after the door's own name and a dash, up to ``.note``.
    """
    pattern = re.compile(rf"epoch-{re.escape(door)}-([0-9]+)\.note")
    numbers = (int(m.group(1)) for name in names if (m := pattern.fullmatch(name)))
    return max(numbers, default=0)
