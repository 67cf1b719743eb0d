"""What a member's field client reads at its door: the organization's
signed notes, and its handler's replies as ciphertext.

The server cannot tell a member from any other contact (membership is
ciphertext on the server), so these are a contact session's calls, at the
contact's own door, like the pages'. Unlike the pages, nothing here
decrypts: the field client verifies the notes against the root key it was
given out of band, and opens and checks each reply itself, so a reply
never needs the session's identity on the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from .. import crypto
from ..store import BlobNotFoundError, BlobStore, OpenBlob, schema
from . import _messages as msg
from ._contacts import ContactService
from ._doors import OrgNotes, org_notes
from ._unreferenced import release_blobs
from .errors import NotFoundError

#: Replies listed at once, oldest first: a client deletes what it fetched,
#: and the next listing shows the rest.
MAX_LISTED = 1000


@dataclass(frozen=True)
class DoorOrg:
    """The trust anchor as this server has it, and the notes that chain to it.

    The root key is given only to be compared with the fingerprint the
    member got out of band: a seized server could show any key here.
    """

    root: str
    notes: OrgNotes


class MemberService:
    def __init__(
        self,
        *,
        db: sessionmaker[Session],
        contacts: ContactService,
        blobs: BlobStore,
        root: crypto.NoteVerifier,
    ) -> None:
        self._db = db
        self._contacts = contacts
        self._blobs = blobs
        self._root = root

    def org(self, door: str, token: str | None) -> DoorOrg:
        """The notes of the session's door: its compartment's epochs only."""
        with self._db() as db:
            opened, _ = self._contacts.authenticate(db, door, token)
            return DoorOrg(str(self._root), org_notes(db, opened.compartment_id))

    def sealed_replies(self, door: str, token: str | None) -> Sequence[schema.Item]:
        with self._db() as db:
            return db.scalars(
                self._replies(db, door, token).order_by(schema.Item.seq).limit(MAX_LISTED)
            ).all()

    def open_reply(self, door: str, token: str | None, item_id: str) -> OpenBlob:
        with self._db() as db:
            item = self._reply(db, door, token, item_id)
        try:
            return OpenBlob(self._blobs.open(item.blob_id), item.size)
        except BlobNotFoundError:
            raise NotFoundError(msg.NO_SUCH_REPLY) from None

    def delete_reply(self, door: str, token: str | None, item_id: str) -> None:
        """Row first, then the ciphertext (``_unreferenced``). Fetched, then
        deleted: the server keeps no copy."""
        with self._db() as db:
            item = self._reply(db, door, token, item_id)
            db.delete(item)
            db.commit()
        release_blobs(self._db, self._blobs, [item.blob_id])

    def _replies(self, db: Session, door: str, token: str | None) -> Select[schema.Item]:
        opened, session = self._contacts.authenticate(db, door, token)
        return select(schema.Item).where(
            schema.Item.contact_id == session.contact_id,
            schema.Item.compartment_id == opened.compartment_id,
            schema.Item.direction == "out",
        )

    def _reply(self, db: Session, door: str, token: str | None, item_id: str) -> schema.Item:
        """A reply to this session's contact; any other id is 404 alike."""
        item = db.scalars(
            self._replies(db, door, token).where(schema.Item.id == item_id)
        ).one_or_none()
        if item is None:
            raise NotFoundError(msg.NO_SUCH_REPLY)
        return item
