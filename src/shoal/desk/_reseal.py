"""Late items, re-sealed to the current epoch; items that come back re-sealed.

DESIGN.md ("Contacts: lifecycle and cutting ties"): a member's outbox may
upload an item sealed to an epoch that has been replaced since — after a
handler was cut, say — and that ciphertext opens for the cut handler's key.
A desk that can open it (it was a handler of that epoch) checks it, seals
the *same* plaintext to the current epoch's recipients and gives it to the
server (``PUT /api/v1/handler/items/{id}/sealed``), which replaces the blob,
deletes the old one and gives the item a new seq, so that every desk of the
compartment fetches it again (:func:`take_back`).

The same plaintext means the whole age payload, the signed envelope, byte
for byte: the member's signature inside stays valid, and the header's epoch
keeps the number the member sealed to (true: that is what they saw). It is
streamed, a read block at a time (``decrypt_iter`` into ``encrypt_iter``);
the new ciphertext is written beside the item (ciphertext only ever reaches
the disk), opened again and compared with the original before it is
uploaded from that file.

A seized server could use "the same item, re-sealed" to rewrite what a desk
already holds; so an item that comes back is kept only if it opens to the
very envelope this desk held (header, content digest, signer), or if this
desk could not open the one it held.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from .. import crypto, trusted
from ..durable import fsync_dir
from ..trusted import Trust
from ._api import HandlerAPI
from ._items import READ_SIZE
from ._state import ItemMeta, Layout
from .errors import ServerError

#: The re-sealed ciphertext, beside the item, until it has been uploaded.
STAGED = ".resealed"
#: An item the server sent again, until it is checked.
RETURNED = ".returned"


class Outcome(enum.Enum):
    RESEALED = "re-sealed"
    TAKEN = "re-sealed by another desk first"
    NOT_OURS = "sealed to an epoch this desk was not a handler of"
    REFUSED = "does not open to a sound envelope: left as it is"
    FAILED = "refused by the server"


def is_late(item: ItemMeta, watermark: int) -> bool:
    """Sent to this compartment (``in``: a contact's, a member's, an alarm)
    and sealed, the server says, to an epoch older than ``watermark``, one
    known to be current already when it was stored. (Replies also go to the
    contact, forwards to command: never re-sealed.)

    Not every item of an old epoch is late: what was sent while that epoch
    was current was readable by its handlers from the start, and a handler
    removed since may have read it; re-sealing it would cost every desk a
    download and hide nothing. Which epoch was current when an item was
    stored the desk learns from the server's order: an epoch it accepted
    before its last sync ended, and every epoch an earlier item was sealed
    to (none is sealed to an epoch the server does not hold yet)."""
    return item.direction == "in" and 0 < item.epoch < watermark


def envelope_of(path: Path, identities: Sequence[crypto.Identity]) -> crypto.Envelope:
    """The envelope ``path`` opens to, checked to the end (digest,
    padding, signature); :class:`crypto.CryptoError` if it does not."""
    opener = crypto.ItemOpener(identities)
    with path.open("rb") as src:
        while chunk := src.read(READ_SIZE):
            opener.update(chunk)
    _, envelope = opener.finalize()
    return envelope


def reseal(
    api: HandlerAPI, layout: Layout, keystore: crypto.Keystore, trust: Trust, item: ItemMeta
) -> Outcome:
    """Re-seal ``item`` (late) to ``trust``'s current epoch on the server.
    Transport errors, a lapsed token and a server's own failures (5xx) are
    raised: the item stays late and the next sync tries again."""
    identities = list(keystore.identities)
    path = layout.item_path(item.item_id)
    try:
        before = envelope_of(path, identities)
    except crypto.SignatureError:
        return Outcome.REFUSED  # a forgery gets no help; the desk shows it rejected
    except (crypto.CryptoError, UnicodeError):
        return Outcome.NOT_OURS  # or damaged: either way not this desk's to re-seal
    staged = path.with_suffix(STAGED)
    try:
        with trusted.PendingFile(layout.items) as pending:
            with path.open("rb") as src:
                payload = crypto.decrypt_iter(_blocks(src), identities)
                for piece in crypto.encrypt_iter(payload, trust.current.recipients()):
                    pending.file.write(piece)
            pending.commit(staged)
        if envelope_of(staged, identities) != before:
            return Outcome.REFUSED  # cannot happen unless the disk lies: never upload it
        with staged.open("rb") as sealed:
            try:
                api.put_sealed(item.item_id, sealed)
            except ServerError as exc:
                if exc.status == HTTPStatus.CONFLICT:
                    return Outcome.TAKEN
                if exc.status is not None and 400 <= exc.status < 500 and exc.status != 401:
                    return Outcome.FAILED  # it would answer the same next time
                raise  # (401: the token lapsed during a long sync; the next one retries)
    finally:
        staged.unlink(missing_ok=True)
    return Outcome.RESEALED


class Back(enum.Enum):
    """What became of an item the server sent again under a new seq."""

    SAME = "the same item as held, re-sealed: taken in its place"
    OPENED = "taken: the copy held never opened on this desk"
    REFUSED = "other content than the copy held: refused, the copy kept"


def take_back(
    api: HandlerAPI,
    layout: Layout,
    identities: Sequence[crypto.Identity],
    held: ItemMeta,
    item: ItemMeta,
) -> Back:
    """Download ``item``, which this desk holds as ``held`` under an older
    seq (re-sealed since), in place of the ciphertext held, if it is the
    same item."""
    path = layout.item_path(held.item_id)
    returned = path.with_suffix(RETURNED)
    try:
        with trusted.PendingFile(layout.items) as pending:
            api.download(item, pending.file)
            pending.commit(returned)
        try:
            before = envelope_of(path, identities)
        except (OSError, crypto.CryptoError, UnicodeError):
            before = None  # never opened here: nothing to hold it to
        if before is not None:
            try:
                if envelope_of(returned, identities) != before:
                    return Back.REFUSED
            except (crypto.CryptoError, UnicodeError):
                return Back.REFUSED
        os.replace(returned, path)
        fsync_dir(layout.items)
    finally:
        returned.unlink(missing_ok=True)
    return Back.OPENED if before is None else Back.SAME


def _blocks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(READ_SIZE):
        yield chunk
