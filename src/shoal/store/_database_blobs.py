"""The blob store in the database: ciphertext in chunked rows, so that a
deployment of many nodes needs nothing but PostgreSQL (SQLite works too,
for tests and single machines).

A blob is a ``blob_objects`` row (id, size, a random ``storage_id``) and
its ``blob_chunks`` rows keyed by that storage id. A put first writes its
chunks under a fresh storage id, committing every few chunks — bounded
memory, never one transaction holding a whole upload — with a
``blob_writes`` row registered by the first batch; then ONE final
transaction inserts the ``blob_objects`` row and deletes the
``blob_writes`` row. The blob therefore appears whole or not at all; a
crash leaves chunks under a registered write, which nothing lists and
:meth:`DatabaseBlobStore.clean_partials` removes. A blob small enough to
fit in one batch skips the registration: its chunks and its object row
share the final transaction. Every chunk row belongs to a registered
write or to a blob, always: that is what lets clean-up find everything.

Chunks are 1 MiB, committed 8 at a time. The size decides memory, not
speed: on PostgreSQL 15 here (64 MiB put and read back, best of three),
256 KiB, 1 MiB and 4 MiB chunks all put at 150-160 MiB/s and read at
150-200 MiB/s, 256 KiB at the low end. 1 MiB keeps a reader at about one
chunk in memory, a writer's batch at 8 MiB, and the rows few.

Identical bytes put concurrently: the blob id is the primary key, so
exactly one final transaction inserts it; the other gets an
IntegrityError (PostgreSQL makes it wait for the first to commit), removes
its own chunks and reports ``created=False``.

A full disk (PostgreSQL's ``disk_full``, SQLite's ``SQLITE_FULL``) raises
:class:`StorageFullError` and the partial write is removed — or, where
even that is refused (SQLite's DELETE needs room in its journal), left to
``clean_partials`` once there is room again.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from ._blobs import BlobStore, PendingBlob, Rechunker, chunk_stream
from ._schema import BlobChunk, BlobObject, BlobWrite
from .errors import BlobNotFoundError, StorageFullError, StoreError

CHUNK_SIZE = 1 << 20
#: Chunks per transaction while a put streams in.
BATCH = 8
#: Ids per query when listing, so a listing holds no connection for long.
_PAGE = 1000

_POSTGRESQL_DISK_FULL = "53100"  # SQLSTATE disk_full
_SQLITE_FULL = 13  # SQLITE_FULL


def _today() -> date:
    return datetime.now(UTC).date()


@contextlib.contextmanager
def _full_is_normal() -> Iterator[None]:
    """A full database disk as the normal condition it is."""
    try:
        yield
    except OperationalError as exc:
        driver_error = exc.orig
        if (
            getattr(driver_error, "sqlstate", None) == _POSTGRESQL_DISK_FULL
            or getattr(driver_error, "sqlite_errorcode", None) == _SQLITE_FULL
        ):
            raise StorageFullError("the database disk is full: the object was not stored") from None
        raise


class _DatabasePending(PendingBlob):
    """One blob being written as chunk rows under a fresh storage id."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine
        self._storage_id = secrets.token_hex(16)
        self._day = _today()
        self._chunks = Rechunker(CHUNK_SIZE)
        self._next_idx = 0
        self._registered = False  # a blob_writes row was (or may have been) committed
        self._touched = False  # some transaction of this write may have committed

    def _write(self, view: memoryview) -> None:
        self._chunks.add(view)

    @property
    def ready(self) -> bool:
        return len(self._chunks.full) >= BATCH

    def _rows(self, chunks: list[bytes]) -> list[dict[str, Any]]:
        first, self._next_idx = self._next_idx, self._next_idx + len(chunks)
        return [
            {"storage_id": self._storage_id, "idx": idx, "data": data}
            for idx, data in enumerate(chunks, first)
        ]

    def flush(self) -> None:
        rows = self._rows(self._chunks.take_full())
        self._touched = True
        with _full_is_normal(), self._engine.begin() as connection:
            if not self._registered:
                self._registered = True
                connection.execute(
                    insert(BlobWrite).values(storage_id=self._storage_id, day=self._day)
                )
            connection.execute(insert(BlobChunk), rows)

    def _commit(self, blob_id: str, size: int) -> bool:
        rest = self._chunks.take_rest()
        rows = self._rows(self._chunks.take_full() + ([rest] if rest else []))
        self._touched = True
        try:
            with _full_is_normal(), self._engine.begin() as connection:
                # First, so that a put of bytes already stored fails before
                # sending its last chunks.
                connection.execute(
                    insert(BlobObject).values(
                        blob_id=blob_id, storage_id=self._storage_id, size=size, day=self._day
                    )
                )
                if rows:
                    connection.execute(insert(BlobChunk), rows)
                if self._registered:
                    finished = connection.execute(
                        delete(BlobWrite).where(BlobWrite.storage_id == self._storage_id)
                    )
                    if finished.rowcount != 1:
                        # clean_partials took this write for a crashed one
                        # and removed its chunks: the blob would be hollow.
                        raise StoreError("this write was removed as a partial before it finished")
        except IntegrityError:
            self.abort()
            return False
        return True

    def abort(self) -> None:
        if not self._touched:
            return  # nothing of this write reached the database
        self._touched = False
        with self._engine.begin() as connection:
            connection.execute(delete(BlobWrite).where(BlobWrite.storage_id == self._storage_id))
            # If the final transaction's commit failed only on the way
            # back, its blob exists: its chunks are not ours to remove.
            claimed = connection.scalar(
                select(BlobObject.blob_id).where(BlobObject.storage_id == self._storage_id)
            )
            if claimed is None:
                connection.execute(
                    delete(BlobChunk).where(BlobChunk.storage_id == self._storage_id)
                )


class DatabaseBlobStore(BlobStore):
    """Blobs in the ``blob_objects``/``blob_chunks`` tables of ``engine``'s
    database (migrated to the newest schema by the caller)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _begin(self) -> PendingBlob:
        return _DatabasePending(self.engine)

    def _open(self, blob_id: str) -> BinaryIO:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(BlobObject.storage_id, BlobObject.size).where(BlobObject.blob_id == blob_id)
            ).one_or_none()
        if row is None:
            raise BlobNotFoundError("no such blob")
        chunks = self._chunks(row.storage_id, row.size)
        return chunk_stream(chunks, chunks.close)

    def _chunks(self, storage_id: str, size: int) -> Generator[bytes, None, None]:
        """The chunks, one query (and one short-held connection) each."""
        done = idx = 0
        while done < size:
            with self.engine.connect() as connection:
                data = connection.scalar(
                    select(BlobChunk.data).where(
                        BlobChunk.storage_id == storage_id, BlobChunk.idx == idx
                    )
                )
            if data is None:
                raise BlobNotFoundError("the blob was deleted while it was being read")
            done += len(data)
            idx += 1
            yield data
        if done != size:
            raise StoreError("the blob's chunks do not add up to its size")

    def _size(self, blob_id: str) -> int | None:
        with self.engine.connect() as connection:
            size: int | None = connection.scalar(
                select(BlobObject.size).where(BlobObject.blob_id == blob_id)
            )
        return size

    def _delete(self, blob_id: str) -> None:
        with self.engine.begin() as connection:
            storage_id = connection.scalar(
                delete(BlobObject)
                .where(BlobObject.blob_id == blob_id)
                .returning(BlobObject.storage_id)
            )
            if storage_id is not None:
                connection.execute(delete(BlobChunk).where(BlobChunk.storage_id == storage_id))

    def ids(self, written_before: float | None = None) -> Iterator[str]:
        after = ""
        listed = select(BlobObject.blob_id).order_by(BlobObject.blob_id).limit(_PAGE)
        if written_before is not None:
            # Blobs are dated by day: those of the days before written_before's.
            day = datetime.fromtimestamp(written_before, UTC).date()
            listed = listed.where(BlobObject.day < day)
        while True:
            with self.engine.connect() as connection:
                page = connection.scalars(listed.where(BlobObject.blob_id > after)).all()
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1]

    def clean_partials(self, older_than: float = 0.0) -> int:
        """Remove unfinished writes; returns how many.

        Writes are dated by day: with ``older_than`` > 0 a write is a
        partial once its day is before today minus ``ceil(older_than /
        86400)`` days (so it is at least ``older_than`` old); ``0`` removes
        every unfinished write — only when no other writer runs. A write
        that finishes meanwhile keeps its chunks (its registration is gone);
        one removed here fails at its end instead of making a hollow blob.
        """
        query = select(BlobWrite.storage_id)
        if older_than > 0:
            days = math.ceil(older_than / 86400)
            query = query.where(BlobWrite.day < _today() - timedelta(days=days))
        with self.engine.connect() as connection:
            stale = connection.scalars(query).all()
        removed = 0
        for storage_id in stale:
            with self.engine.begin() as connection:
                still = connection.execute(
                    delete(BlobWrite).where(BlobWrite.storage_id == storage_id)
                ).rowcount
                if still:
                    connection.execute(delete(BlobChunk).where(BlobChunk.storage_id == storage_id))
                    removed += 1
        return removed
