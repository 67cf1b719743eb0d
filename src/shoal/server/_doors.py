"""A compartment's door, with its verified epoch: the stored notes, checked.

Every request that encrypts to a compartment or checks a handler's key goes
through here, so the recipient set it uses is always one that chains to the
root key (``_chain.py``) at the request's ``now``. A door whose epoch no
longer verifies (expired, or its notes were tampered with) is closed: its
contacts get a clear "closed for now" and nothing is encrypted to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from .. import crypto, org
from ..store import schema
from . import _messages as msg
from ._chain import COMMAND, EPOCH, ORGANIZATION, NoteCache
from ._clock import Clock
from .errors import NotFoundError, UnavailableError


@dataclass(frozen=True)
class OrgNotes:
    """The signed notes a compartment's desks and members verify."""

    organization: str
    commands: list[str]
    epochs: list[str]


def org_notes(db: Session, compartment_id: str) -> OrgNotes:
    """The chain to verify against the root key: organization, command
    keys, and the epochs of ``compartment_id`` only (need-to-know)."""
    notes = db.scalars(
        select(schema.Note)
        .where(
            schema.Note.kind.in_((ORGANIZATION, COMMAND))
            | (schema.Note.compartment_id == compartment_id)
        )
        .order_by(schema.Note.kind, schema.Note.number)
    ).all()
    organization = [n.body for n in notes if n.kind == ORGANIZATION]
    if len(organization) != 1:
        raise UnavailableError(msg.DOOR_CLOSED)
    return OrgNotes(
        organization=organization[0],
        commands=[n.body for n in notes if n.kind == COMMAND],
        epochs=[n.body for n in notes if n.kind == EPOCH],
    )


@dataclass(frozen=True)
class Door:
    """A compartment as a request sees it: verified, at one moment."""

    name: str
    compartment_id: str
    organization: org.Organization
    epoch: org.Epoch


_COMPARTMENT = select(schema.Compartment.id, schema.Compartment.door, schema.Compartment.epoch)


class Doors:
    def __init__(self, root: crypto.NoteVerifier, cache: NoteCache, clock: Clock) -> None:
        self._root = root
        self._cache = cache
        self._clock = clock

    def open(self, db: Session, door: str) -> Door:
        """The door named ``door``; :class:`NotFoundError` if there is none."""
        try:
            org.check_door(door)
        except ValueError:
            raise NotFoundError(msg.NO_SUCH_DOOR) from None
        return self._verify(db, _COMPARTMENT.where(schema.Compartment.door == door))

    def of_compartment(self, db: Session, compartment_id: str) -> Door:
        return self._verify(db, _COMPARTMENT.where(schema.Compartment.id == compartment_id))

    def _verify(self, db: Session, which: Select[str, str, int]) -> Door:
        # Plain rows, not ORM objects: every contact request opens its door,
        # and loading the notes as entities was most of that (0.47 ms).
        compartment = db.execute(which).one_or_none()
        if compartment is None:
            raise NotFoundError(msg.NO_SUCH_DOOR)
        notes = db.execute(
            select(schema.Note.kind, schema.Note.body).where(
                (schema.Note.kind.in_((ORGANIZATION, COMMAND)))
                | ((schema.Note.kind == EPOCH) & (schema.Note.compartment_id == compartment.id))
            )
        ).all()
        organization = [n.body for n in notes if n.kind == ORGANIZATION]
        if len(organization) != 1:
            raise UnavailableError(msg.DOOR_CLOSED)
        try:
            chain = self._cache.chain(
                self._root, organization[0], [n.body for n in notes if n.kind == COMMAND]
            )
        except (crypto.CryptoError, org.OrgError):
            raise UnavailableError(msg.DOOR_CLOSED) from None
        # The newest epoch is the highest-numbered note that verifies: never
        # the row's ``epoch`` counter alone, which a seized-and-returned
        # server's database could set back to an epoch whose recipients
        # include a handler command has since removed.
        signed = []
        for note in (n for n in notes if n.kind == EPOCH):
            try:
                signed.append(self._cache.signed_epoch(chain, note.body))
            except (crypto.CryptoError, org.OrgError):
                continue  # a tampered note is no note
        if not signed:
            raise UnavailableError(msg.DOOR_CLOSED)
        epoch = max(signed, key=lambda e: e.number)
        try:
            org.check_epoch(epoch, now=self._clock(), newest_seen=compartment.epoch)
        except org.OrgError:
            raise UnavailableError(msg.DOOR_CLOSED) from None
        # The row's door and id must be what command signed, or a database
        # edit could point one compartment's door at another's recipients.
        if epoch.compartment_id != compartment.id or epoch.door != compartment.door:
            raise UnavailableError(msg.DOOR_CLOSED)
        return Door(compartment.door, compartment.id, chain.organization, epoch)
