"""The JSON shapes of the API (docs/api.md), for validation and OpenAPI.

Request models ignore unknown keys, so a validation error can only ever
name our own fields (``_bodies.describe_invalid``), never a peer's key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: The largest integer a database column holds (a 64-bit signed integer in
#: SQLite and PostgreSQL alike). Numbers in queries and paths are bounded by
#: it, so an overlong one is refused (422) before it reaches a query, where
#: binding it failed with a 500 (found by tests/fuzz/test_api_schemathesis.py).
MAX_INT64 = (1 << 63) - 1
_MAX_ID = 64
_MAX_KEY = 128


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class SessionRequest(_Request):
    codename: str = Field(max_length=1024)


class TokenRequest(_Request):
    challenge: str = Field(max_length=_MAX_ID)
    compartment: str = Field(max_length=_MAX_ID)
    key: str = Field(max_length=_MAX_KEY, description="base64 Ed25519 public key")
    signature: str = Field(
        max_length=_MAX_KEY,
        description='base64 Ed25519 signature of b"shoal handler login v2\\n" + nonce'
        ' + compartment id + b"\\n" + host (v1, without host: b"shoal handler login v1\\n"'
        " + nonce + compartment id)",
    )
    host: str | None = Field(
        default=None,
        max_length=255,
        description="The server's name as the desk dialled it (its onion address); "
        "required where the server knows its own name",
    )


class ErrorAnswer(BaseModel):
    error: str


class ContactCreated(BaseModel):
    codename: str = Field(description="shown once; the contact's only credential")
    session: str


class SessionCreated(BaseModel):
    session: str


class SubmissionCreated(BaseModel):
    items: list[str]


class ReplyOut(BaseModel):
    id: str
    text: str
    day: str


class Replies(BaseModel):
    replies: list[ReplyOut]


class OrgOut(BaseModel):
    organization: str
    commands: list[str]
    epochs: list[str] = Field(description="the epochs of the token's compartment")


class ChallengeCreated(BaseModel):
    id: str
    nonce: str = Field(description="base64, 32 bytes")


class TokenCreated(BaseModel):
    token: str


class ItemOut(BaseModel):
    id: str
    seq: int
    contact: str | None
    direction: str
    blob: str
    size: int
    epoch: int = Field(description="the epoch the item was sealed to (0: not recorded)")
    day: str


class ItemPage(BaseModel):
    items: list[ItemOut]
    next: int = Field(description="pass as ?after= for the next page; unchanged if none came")


class ContactOut(BaseModel):
    id: str
    recipient: str
    accepted: bool
    state: str | None = Field(
        default=None, description="base64 of the lifecycle record (ciphertext), if any"
    )


class ReplyCreated(BaseModel):
    id: str


class ForwardEpochOut(BaseModel):
    epoch: str = Field(description="the target compartment's current epoch, a signed note")


class ForwardCreated(BaseModel):
    id: str = Field(description="the item, now the target compartment's")


class SyncedRequest(_Request):
    seq: int = Field(ge=0, description="the desk holds every item up to this seq")


class SyncedOut(BaseModel):
    expired: int = Field(description="items retention deleted now")


class AuditAppended(BaseModel):
    index: int
    checkpoint: str = Field(description="the log's signed head after the append")


class AuditHeadOut(BaseModel):
    key: str = Field(description="the log's note verifier key (pinned by desks on first use)")
    origin: str
    checkpoint: str = Field(description="C2SP checkpoint, a signed note")
    proof: list[str] = Field(description="base64 hashes: consistency from `from` to `to`")


class AuditEntryOut(BaseModel):
    index: int
    blob: str
    size: int


class AuditEntries(BaseModel):
    entries: list[AuditEntryOut]


class AuditProofOut(BaseModel):
    proof: list[str] = Field(description="base64 hashes: the entry's inclusion proof")


class ResealedOut(BaseModel):
    id: str
    seq: int = Field(description="the item's new seq: every desk fetches it again")
    epoch: int = Field(description="the current epoch, which it is now sealed to")


class DoorOrgOut(BaseModel):
    root: str = Field(
        description="the root verifier key this server holds: compare its fingerprint "
        "with the one given out of band"
    )
    organization: str
    commands: list[str]
    epochs: list[str] = Field(description="the epochs of this door's compartment")


class UploadRequest(_Request):
    id: str = Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex, the client's choice")
    size: int = Field(ge=1, description="the whole age file's size in bytes")
    epoch: int = Field(ge=1, description="the epoch the item is sealed to")


class UploadOut(BaseModel):
    id: str
    received: int = Field(description="bytes stored so far: where the next PUT starts")
    item: str | None = Field(description="the item's id once finished (the upload's id)")


class ResumeAnswer(BaseModel):
    error: str
    detail: str = Field(description='"offset" (a PUT) or "size" (a finish)')
    received: int = Field(description="where the upload is: resume there")


class SealedReplyOut(BaseModel):
    id: str
    size: int
    day: str


class SealedReplies(BaseModel):
    replies: list[SealedReplyOut]


class AlarmCreated(BaseModel):
    token: str = Field(description="43 characters, base64url: send it to release the alarm")
