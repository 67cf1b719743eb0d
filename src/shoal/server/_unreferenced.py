"""Deleting ciphertext that no row refers to any more.

Blobs are named by their bytes, so one blob can be an item's and a
piece's at once (a one-piece upload's item is its piece), and the same
bytes sent twice are stored once. A blob therefore goes only once the
transaction that dropped a reference has committed, and only if no item
and no upload piece still names it: a row another request committed is
visible here. A crash between the commit and the deletion leaves an
orphaned blob (ciphertext only), never a row without its blob; so does a
crash between a blob's write and the commit of the row that would have
named it (a submission never answered). :func:`collect_orphans` deletes
those at start-up, once they are old enough that no request still in
flight on another server process can be about to name them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..store import BlobStore, schema


def release_blobs(db: sessionmaker[Session], blobs: BlobStore, blob_ids: Iterable[str]) -> None:
    """Delete each of ``blob_ids`` that no item and no piece names, after
    the transaction that dropped their references committed."""
    candidates = set(blob_ids)
    if not candidates:
        return
    with db() as session:
        used = set(
            session.scalars(
                select(schema.Item.blob_id).where(schema.Item.blob_id.in_(candidates))
            ).all()
        ) | set(
            session.scalars(
                select(schema.UploadPiece.blob_id).where(schema.UploadPiece.blob_id.in_(candidates))
            ).all()
        )
    for blob_id in sorted(candidates - used):
        blobs.delete(blob_id)


#: Every column that names a blob: a blob none of them names is an orphan.
_NAMING = (
    schema.Item.blob_id,
    schema.UploadPiece.blob_id,
    schema.Alarm.blob_id,
    schema.AuditEntry.blob_id,
)
#: Blob ids looked up per query: memory stays flat however many are stored.
_BATCH = 500


def collect_orphans(db: sessionmaker[Session], blobs: BlobStore, written_before: float) -> int:
    """Delete every blob written before ``written_before`` (a Unix time)
    that no row names; returns how many."""
    deleted = 0
    listed = blobs.ids(written_before=written_before)
    while batch := set(itertools.islice(listed, _BATCH)):
        with db() as session:
            named = {
                blob_id
                for column in _NAMING
                for blob_id in session.scalars(select(column).where(column.in_(batch)))
            }
        for blob_id in sorted(batch - named):
            blobs.delete(blob_id)
            deleted += 1
    return deleted
