"""The audit log's HTTP routes, for handlers' desks (``_audit.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from ._audit import AuditLog, proof_strings
from ._credentials import bearer_token
from ._handler_api import ERRORS, REPLY_BODY_DOC, streamed
from ._models import (
    MAX_INT64,
    AuditAppended,
    AuditEntries,
    AuditEntryOut,
    AuditHeadOut,
    AuditProofOut,
)

Index = Annotated[int, Path(ge=0, le=MAX_INT64)]


def audit_api(audit: AuditLog) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["handler"], responses=ERRORS)

    @router.post("/handler/audit", status_code=201, openapi_extra=REPLY_BODY_DOC)
    async def append_audit(request: Request) -> AuditAppended:
        """Append an audit entry the desk sealed and signed; the signed head after it."""
        index, checkpoint = await audit.append(bearer_token(request), request)
        return AuditAppended(index=index, checkpoint=checkpoint)

    @router.get("/handler/audit/checkpoint")
    def audit_head(
        request: Request,
        start: Annotated[int, Query(alias="from", ge=0, le=MAX_INT64)] = 0,
        end: Annotated[int | None, Query(alias="to", ge=0, le=MAX_INT64)] = None,
    ) -> AuditHeadOut:
        """The signed head at size ``to`` (default: now), with the consistency
        proof from size ``from``."""
        head = audit.head(bearer_token(request), start, end)
        return AuditHeadOut(
            key=head.key,
            origin=head.origin,
            checkpoint=head.checkpoint,
            proof=proof_strings(head.proof),
        )

    @router.get("/handler/audit/entries")
    def audit_entries(
        request: Request, after: Annotated[int, Query(ge=-1, le=MAX_INT64)] = -1
    ) -> AuditEntries:
        """The token's compartment's entries after index ``after``."""
        rows = audit.entries(bearer_token(request), after)
        return AuditEntries(
            entries=[AuditEntryOut(index=r.idx, blob=r.blob_id, size=r.size) for r in rows]
        )

    @router.get("/handler/audit/entries/{index}/proof")
    def audit_inclusion(
        index: Index, request: Request, size: Annotated[int, Query(ge=1, le=MAX_INT64)]
    ) -> AuditProofOut:
        """The inclusion proof of the entry at ``index`` in the tree of ``size`` entries."""
        proof = audit.inclusion(bearer_token(request), index, size)
        return AuditProofOut(proof=proof_strings(proof))

    @router.get(
        "/handler/audit/entries/{index}",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def audit_entry(index: Index, request: Request) -> StreamingResponse:
        """An entry's ciphertext (of the token's compartment only)."""
        return streamed(audit.open_entry(bearer_token(request), index))

    return router
