"""The database schema: only what a seized server's disk may show.

DESIGN.md ("What the server's disk may show"): random ids, compartment ids,
days, counts, padded ciphertext sizes, whether a codename is accepted, and
ciphertext. Each column below says which of those it is. Public keys and
signed notes are public material the server needs to encrypt and to check
logins. The integer ``seq`` of items is an arrival order for sync cursors,
no more than what the blob files' own times already show.

Changes go through Alembic migrations (``migrations/``), never create_all.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(32)


class Base(DeclarativeBase):
    pass


class Note(Base):
    """A signed note as imported: organization, command key, or epoch."""

    __tablename__ = "notes"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id
    kind: Mapped[str] = mapped_column(String(16))  # record kind (public)
    compartment_id: Mapped[str | None] = mapped_column(ID)  # compartment id
    number: Mapped[int] = mapped_column(Integer)  # serial or epoch number (count)
    body: Mapped[str] = mapped_column(Text)  # signed public material


class Compartment(Base):
    __tablename__ = "compartments"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # compartment id
    door: Mapped[str] = mapped_column(String(63), unique=True)  # public URL path
    epoch: Mapped[int] = mapped_column(Integer)  # newest epoch number (count)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # HKDF output
    compartment_id: Mapped[str] = mapped_column(ForeignKey("compartments.id"))
    accepted: Mapped[bool]  # whether the codename is accepted (flag)
    recipient: Mapped[str] = mapped_column(Text)  # the contact's public age recipient
    state: Mapped[bytes | None] = mapped_column(LargeBinary)  # ciphertext for the compartment
    day: Mapped[date] = mapped_column(Date)  # day of first contact


class Item(Base):
    __tablename__ = "items"
    # Never reuse a seq after the newest item is deleted: desks page by it.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)  # random id
    compartment_id: Mapped[str] = mapped_column(ForeignKey("compartments.id"), index=True)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    #: "in" (from a contact), "out" (a reply) or "forwarded" (from another
    #: compartment's desk).
    direction: Mapped[str] = mapped_column(String(16))  # flag
    #: Indexed: a desk fetches each item by it (without the index, a scan
    #: per fetch made a 100,000-item sync quadratic, bench/sync.py).
    blob_id: Mapped[str] = mapped_column(String(64), index=True)  # SHA-256 of the ciphertext
    size: Mapped[int] = mapped_column(BigInteger)  # padded ciphertext size
    #: The epoch the item was sealed to: desks check its stanza count.
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # count
    day: Mapped[date] = mapped_column(Date)


class Session(Base):
    """A contact's session: ciphertext under a key that only the cookie holds."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id
    record: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext
    day: Mapped[date] = mapped_column(Date, index=True)


class HandlerChallenge(Base):
    __tablename__ = "handler_challenges"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32))  # random bytes
    day: Mapped[date] = mapped_column(Date, index=True)


class HandlerToken(Base):
    __tablename__ = "handler_tokens"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)  # SHA-256
    handler_id: Mapped[str] = mapped_column(ID)  # key fingerprint (public)
    compartment_id: Mapped[str] = mapped_column(ForeignKey("compartments.id"))
    day: Mapped[date] = mapped_column(Date, index=True)


class SpentForm(Base):
    """A contact's form that was acted on, so that sending it twice (a
    double click, a reload) acts once. The id is a hash of a random value
    the page held: it names no one."""

    __tablename__ = "spent_forms"
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)  # SHA-256
    day: Mapped[date] = mapped_column(Date, index=True)


class HandlerSync(Base):
    """How far a handler's desk has synced its compartment: retention
    deletes only what every current handler's desk holds."""

    __tablename__ = "handler_sync"
    handler_id: Mapped[str] = mapped_column(ID, primary_key=True)  # key fingerprint (public)
    compartment_id: Mapped[str] = mapped_column(
        ForeignKey("compartments.id"), primary_key=True
    )  # compartment id
    seq: Mapped[int] = mapped_column(BigInteger)  # count (arrival order)
    day: Mapped[date] = mapped_column(Date)


class Upload(Base):
    """A resumable upload of an item a member's field client sealed itself.

    Progress only: the bytes so far are in ``DATA/uploads/<id>.part`` on
    the server (ciphertext), and ``received`` counts those that are durable;
    the finished item is an ordinary row of ``items`` with the same id. A
    row goes two days after its last progress, finished or not.
    """

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id (the client's)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)  # random id
    compartment_id: Mapped[str] = mapped_column(ForeignKey("compartments.id"))  # compartment id
    size: Mapped[int] = mapped_column(BigInteger)  # padded ciphertext size (declared)
    received: Mapped[int] = mapped_column(BigInteger)  # count of durable bytes
    epoch: Mapped[int] = mapped_column(Integer)  # count (the epoch sealed to)
    item_id: Mapped[str | None] = mapped_column(ID)  # random id, once finished
    day: Mapped[date] = mapped_column(Date, index=True)  # day of the last progress


class UploadPiece(Base):
    """A durable piece of an unfinished upload: ``size`` bytes at ``offset``,
    stored as a blob (ciphertext). Pieces live in the blob store, not on a
    server's own disk, so any server process continues any upload; they
    are recorded in the transaction that counts them as received."""

    __tablename__ = "upload_pieces"
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), primary_key=True)  # random id
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # count
    blob_id: Mapped[str] = mapped_column(String(64), index=True)  # SHA-256 of the ciphertext
    size: Mapped[int] = mapped_column(BigInteger)  # count


class Quota(Base):
    """A global quota's use, raised and lowered in the transactions that
    reserve and release it (``UPDATE … WHERE used + n <= limit``), so that
    server processes sharing the database cannot together pass it."""

    __tablename__ = "quotas"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # which quota (public)
    used: Mapped[int] = mapped_column(BigInteger)  # count


class BlobObject(Base):
    """A blob of the PostgreSQL blob store: its id, size, and the key of
    its chunks. A blob exists once this row is committed (whole or not at
    all); its chunks were written before, under ``storage_id``."""

    __tablename__ = "blob_objects"
    blob_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the ciphertext
    storage_id: Mapped[str] = mapped_column(ID, unique=True)  # random id
    size: Mapped[int] = mapped_column(BigInteger)  # ciphertext size
    day: Mapped[date] = mapped_column(Date)


class BlobChunk(Base):
    """One chunk of a blob in the PostgreSQL blob store (ciphertext)."""

    __tablename__ = "blob_chunks"
    storage_id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # count
    data: Mapped[bytes] = mapped_column(LargeBinary)  # ciphertext


class BlobWrite(Base):
    """A write into the PostgreSQL blob store in progress: what a crash
    left here (chunks without a blob) is removed a day later."""

    __tablename__ = "blob_writes"
    storage_id: Mapped[str] = mapped_column(ID, primary_key=True)  # random id
    day: Mapped[date] = mapped_column(Date, index=True)


class Alarm(Base):
    """A member's silent alarm, stored ahead and released by its token.

    No contact id: which contacts are members is itself a secret. The
    token's hash is all that ties the row to the device holding the token.
    """

    __tablename__ = "alarms"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)  # SHA-256
    compartment_id: Mapped[str] = mapped_column(ForeignKey("compartments.id"))  # compartment id
    blob_id: Mapped[str] = mapped_column(String(64))  # SHA-256 of the ciphertext
    size: Mapped[int] = mapped_column(BigInteger)  # padded ciphertext size
    epoch: Mapped[int] = mapped_column(Integer)  # count (the epoch sealed to)
    day: Mapped[date] = mapped_column(Date)


class AuditEntry(Base):
    """One entry of the audit log: its leaf hash and its ciphertext's blob.

    Entries are sealed and signed on desks (actions and reasons, never
    message contents); the server only orders them in a Merkle tree."""

    __tablename__ = "audit_entries"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # count
    compartment_id: Mapped[str] = mapped_column(ForeignKey("compartments.id"))  # compartment id
    blob_id: Mapped[str] = mapped_column(String(64))  # hash of ciphertext
    size: Mapped[int] = mapped_column(BigInteger)  # padded ciphertext size
    leaf: Mapped[bytes] = mapped_column(LargeBinary(32))  # hash of ciphertext
    day: Mapped[date] = mapped_column(Date)


class AuditNode(Base):
    """A finished perfect subtree of the audit log (proofs in O(log n) reads)."""

    __tablename__ = "audit_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # count
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # count
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))  # hash of hashes


class AuditHead(Base):
    """The log's size and right edge: one row, updated with each append."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    size: Mapped[int] = mapped_column(BigInteger)  # count
    edge: Mapped[bytes] = mapped_column(LargeBinary)  # hashes of hashes
