"""The audit log on the server: entries in a Merkle tree, signed heads.

DESIGN.md ("The audit log"). Desks append entries they sealed and signed
(actions and reasons, never message contents); the server cannot read them
and does not try. It orders them in one RFC 9162 tree for the whole
organization (``shoal.org._tlog``) and signs its head with its own key
(``_audit_key``). Desks remember the last head they saw and ask, on each
sync, for a consistency proof from it: a server that drops, reorders or
rewrites an entry, or shows two desks two histories, cannot produce one.

Storage: each entry's leaf hash and blob (``audit_entries``), every finished
perfect subtree (``audit_nodes``: any proof is O(log n) reads), and the
head's size and right edge (``audit_head``: an append reads one row and
writes O(log n) hashes). Appends race on the entry's index, the primary
key: the loser of two concurrent appends (two server processes) retries on
the new head, so the tree never forks on disk.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from .. import org
from ..org import _tlog as tlog
from ..store import BlobNotFoundError, BlobRef, BlobStore, OpenBlob, StorageFullError, schema
from . import _audit_key
from . import _messages as msg
from ._clock import Clock, day_of
from ._config import Limits
from ._handlers import Handler, HandlerService, age_file_body
from .errors import BadRequestError, DiskFullError, NotFoundError

_HEAD_ID = 1
_APPEND_TRIES = 8
ENTRIES_PAGE = 1000


@dataclass(frozen=True)
class SignedHead:
    key: str
    origin: str
    checkpoint: str
    proof: list[bytes]


class _StoredHashes:
    """The log's stored hashes, as :class:`tlog.HashSource` reads them."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def leaf(self, index: int) -> bytes:
        row = self._db.get(schema.AuditEntry, index)
        if row is None:
            raise tlog.TlogError(f"the audit log has no entry {index}")
        return row.leaf

    def subtree(self, level: int, index: int) -> bytes | None:
        row = self._db.get(schema.AuditNode, (level, index))
        return row.hash if row is not None else None


def _head(db: Session, *, for_append: bool = False) -> tlog.LogState:
    # An append locks the head row (FOR UPDATE; SQLite ignores it and
    # serializes writers anyway): concurrent appends on PostgreSQL then
    # queue instead of racing to the same index, which could also end in a
    # deadlock over the node and head rows (seen once in CI as a 500).
    row = db.get(schema.AuditHead, _HEAD_ID, with_for_update=for_append)
    if row is None:
        return tlog.LogState()
    edge = tuple(row.edge[i : i + tlog.HASH_SIZE] for i in range(0, len(row.edge), tlog.HASH_SIZE))
    return tlog.LogState(row.size, edge)


class AuditLog:
    def __init__(
        self,
        *,
        db: sessionmaker[Session],
        handlers: HandlerService,
        blobs: BlobStore,
        key: _audit_key.LogKey,
        limits: Limits,
        clock: Clock,
    ) -> None:
        self._db = db
        self._handlers = handlers
        self._blobs = blobs
        self._key = key
        self._limits = limits
        self._clock = clock

    async def append(self, token: str | None, request: Request) -> tuple[int, str]:
        """Append the request's body (an age file the desk sealed) as an
        entry of the token's compartment; its index and the signed head."""
        handler = await run_in_threadpool(self._handlers.authenticate, token)
        sealed = b"".join([c async for c in age_file_body(request, self._limits.max_small_body)])
        try:
            ref = await run_in_threadpool(self._blobs.put, [sealed])
        except StorageFullError:
            raise DiskFullError(msg.DISK_FULL) from None
        try:
            return await run_in_threadpool(self._record, handler, ref, tlog.leaf_hash(sealed))
        except BaseException:
            self._blobs.discard(ref)
            raise

    def _record(self, handler: Handler, ref: BlobRef, leaf: bytes) -> tuple[int, str]:
        for _ in range(_APPEND_TRIES):
            with self._db() as db:
                try:
                    state, new = self._append(db, handler, ref, leaf)
                except IntegrityError:
                    # Another append took this index (on this process or
                    # another): again, on the new head.
                    db.rollback()
                    continue
                return state.size, self._sign(handler.door.organization, new.size, new.root)
        raise RuntimeError("the audit log is too busy: every append lost its race")

    def _append(
        self, db: Session, handler: Handler, ref: BlobRef, leaf: bytes
    ) -> tuple[tlog.LogState, tlog.LogState]:
        state = _head(db, for_append=True)
        new, finished = state.append(leaf)
        db.add(
            schema.AuditEntry(
                idx=state.size,
                compartment_id=handler.door.compartment_id,
                blob_id=ref.blob_id,
                size=ref.size,
                leaf=leaf,
                day=day_of(self._clock()),
            )
        )
        for node in finished:
            db.merge(schema.AuditNode(level=node.level, idx=node.index, hash=node.hash))
        db.merge(schema.AuditHead(id=_HEAD_ID, size=new.size, edge=b"".join(new.edge)))
        db.commit()
        return state, new

    def head(self, token: str | None, start: int, end: int | None) -> SignedHead:
        """The signed head at size ``end`` (default: now) and the consistency
        proof from size ``start`` to it."""
        handler = self._handlers.authenticate(token)
        with self._db() as db:
            state = _head(db)
            end = state.size if end is None else end
            if not (start >= 0 and 0 <= end <= state.size):
                raise BadRequestError(msg.MALFORMED_REQUEST, "from, to")
            # A "from" past the head gets the head and no proof: a desk that
            # saw a larger log then knows it was rolled back.
            prover = tlog.Prover(_StoredHashes(db))
            root = state.root if end == state.size else prover.root(end)
            proof = prover.consistency_proof(start, end) if 0 < start < end else []
        organization = handler.door.organization
        return SignedHead(
            key=str(self._key.signer(organization).verifier),
            origin=_audit_key.origin_of(organization.org_id),
            checkpoint=self._sign(organization, end, root),
            proof=proof,
        )

    def inclusion(self, token: str | None, index: int, size: int) -> list[bytes]:
        """The proof that entry ``index`` (of the token's compartment) is the
        leaf at that index of the tree of ``size`` entries."""
        handler = self._handlers.authenticate(token)
        with self._db() as db:
            row = db.get(schema.AuditEntry, index)
            if row is None or row.compartment_id != handler.door.compartment_id:
                raise NotFoundError(msg.NO_SUCH_ITEM)
            if not index < size <= _head(db).size:
                raise BadRequestError(msg.MALFORMED_REQUEST, "size")
            return tlog.Prover(_StoredHashes(db)).inclusion_proof(index, size)

    def entries(self, token: str | None, after: int) -> Sequence[schema.AuditEntry]:
        """The token's compartment's entries after index ``after``."""
        with self._db() as db:
            handler = self._handlers.authenticate(token)
            return db.scalars(
                select(schema.AuditEntry)
                .where(
                    schema.AuditEntry.compartment_id == handler.door.compartment_id,
                    schema.AuditEntry.idx > after,
                )
                .order_by(schema.AuditEntry.idx)
                .limit(ENTRIES_PAGE)
            ).all()

    def open_entry(self, token: str | None, index: int) -> OpenBlob:
        with self._db() as db:
            handler = self._handlers.authenticate(token)
            row = db.get(schema.AuditEntry, index)
            if row is None or row.compartment_id != handler.door.compartment_id:
                raise NotFoundError(msg.NO_SUCH_ITEM)
            blob_id, size = row.blob_id, row.size
        try:
            return OpenBlob(self._blobs.open(blob_id), size)
        except BlobNotFoundError:
            raise NotFoundError(msg.NO_SUCH_ITEM) from None

    def _sign(self, organization: org.Organization, size: int, root: bytes) -> str:
        checkpoint = tlog.Checkpoint(_audit_key.origin_of(organization.org_id), size, root)
        return tlog.sign_checkpoint(checkpoint, self._key.signer(organization))


def proof_strings(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in proof]
