"""Deleting ciphertext that no row refers to any more.

Blobs are named by their bytes, so one blob can be an item's and a
piece's at once (a one-piece upload's item is its piece), and the same
bytes sent twice are stored once. A blob therefore goes only once the
transaction that dropped a reference has committed, and only if no item
and no upload piece still names it: a row another request committed is
visible here. A crash between the commit and the deletion leaves an
orphaned blob (ciphertext only), never a row without its blob.
"""

from __future__ import annotations

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
