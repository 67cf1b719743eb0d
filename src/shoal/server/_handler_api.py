"""The desk's JSON API (docs/api.md, "Handler (desk), JSON"), over HandlerService.

Every call but the login pair carries ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..store import OpenBlob
from ._bodies import json_body_doc, read_json
from ._config import Limits
from ._credentials import bearer_token
from ._handlers import HandlerService
from ._listeners import listener_of
from ._models import (
    MAX_INT64,
    ChallengeCreated,
    ContactOut,
    ErrorAnswer,
    ForwardCreated,
    ForwardEpochOut,
    ItemOut,
    ItemPage,
    OrgOut,
    ReplyCreated,
    ResealedOut,
    SyncedOut,
    SyncedRequest,
    TokenCreated,
    TokenRequest,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer} for status in (400, 401, 404, 409, 413, 503, 507)
}
BLOB_CHUNK = 64 * 1024
MAX_PAGE = 1000


def age_body_doc(description: str) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads an age file (``age_file_body``)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": binary},
            "description": description,
        }
    }


REPLY_BODY_DOC = age_body_doc("the reply item: a binary age file")
FORWARD_BODY_DOC = age_body_doc(
    "the forwarded item: a binary age file sealed on the desk to the target "
    "compartment's current epoch (its handlers and command) and signed"
)


RESEAL_BODY_DOC = age_body_doc(
    "the item re-sealed on the desk: an age file with a stanza for each recipient of "
    "the compartment's current epoch"
)


def chunks(blob: BinaryIO) -> Iterator[bytes]:
    # A sync iterator: Starlette reads it in a worker thread, chunk by chunk.
    with blob:
        while chunk := blob.read(BLOB_CHUNK):
            yield chunk


def streamed(blob: OpenBlob) -> StreamingResponse:
    """A stored blob as the answer, with its length announced (the size
    its row records: the blob store need not be a file to ``fstat``)."""
    reader, size = blob
    return StreamingResponse(
        chunks(reader),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )


def handler_api(service: HandlerService, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["handler"], responses=ERRORS)

    @router.get("/org")
    def organization(request: Request) -> OrgOut:
        """The signed notes a desk verifies against its root key."""
        notes = service.org_notes(bearer_token(request))
        return OrgOut(organization=notes.organization, commands=notes.commands, epochs=notes.epochs)

    @router.post("/handler/challenges", status_code=201)
    def challenge() -> ChallengeCreated:
        challenge_id, nonce = service.challenge()
        return ChallengeCreated(id=challenge_id, nonce=base64.b64encode(nonce).decode())

    @router.post("/handler/tokens", status_code=201, openapi_extra=json_body_doc(TokenRequest))
    async def token(request: Request) -> TokenCreated:
        """Ed25519 over ``org.handler_login_message`` (nonce, compartment, host)."""
        body = await read_json(request, TokenRequest, limits.max_small_body)
        listener = listener_of(request.scope)
        # On an onion address the server knows its name; elsewhere (the
        # loopback socket behind a proxy) it does not, and cannot check it.
        own_name = listener.address if listener.kind in ("handlers", "onion") else None
        issued = await run_in_threadpool(
            functools.partial(
                service.login,
                body.challenge,
                body.compartment,
                body.key,
                body.signature,
                host=body.host,
                own_name=own_name,
            )
        )
        return TokenCreated(token=issued)

    @router.get("/handler/items")
    def items(
        request: Request,
        after: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> ItemPage:
        rows = service.items(bearer_token(request), after, limit)
        return ItemPage(
            items=[
                ItemOut(
                    id=row.id,
                    seq=row.seq,
                    contact=row.contact_id,
                    direction=row.direction,
                    blob=row.blob_id,
                    size=row.size,
                    epoch=row.epoch,
                    day=row.day.isoformat(),
                )
                for row in rows
            ],
            next=rows[-1].seq if rows else after,
        )

    @router.get(
        "/handler/blobs/{blob_id}",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def blob(blob_id: str, request: Request) -> StreamingResponse:
        """The ciphertext, streamed."""
        return streamed(service.open_blob(bearer_token(request), blob_id))

    @router.get("/handler/contacts/{contact_id}")
    def contact(contact_id: str, request: Request) -> ContactOut:
        found = service.contact(bearer_token(request), contact_id)
        state = base64.b64encode(found.state).decode() if found.state else None
        return ContactOut(
            id=found.id, recipient=found.recipient, accepted=found.accepted, state=state
        )

    @router.put(
        "/handler/contacts/{contact_id}/state", status_code=204, openapi_extra=REPLY_BODY_DOC
    )
    async def state(contact_id: str, request: Request) -> Response:
        """Store the contact's lifecycle record (an age file the desk sealed and signed)."""
        await service.store_state(bearer_token(request), contact_id, request)
        return Response(status_code=204)

    @router.post("/handler/contacts/{contact_id}/cut", status_code=204)
    def cut(contact_id: str, request: Request) -> Response:
        """Cut ties: the codename is refused like a wrong one from now on,
        unread replies go; what the contact sent stays."""
        service.cut_contact(bearer_token(request), contact_id)
        return Response(status_code=204)

    @router.delete("/handler/contacts/{contact_id}", status_code=204)
    def delete_contact(contact_id: str, request: Request) -> Response:
        """The contact and all their items, rows and ciphertext."""
        service.delete_contact(bearer_token(request), contact_id)
        return Response(status_code=204)

    @router.delete("/handler/items/{item_id}", status_code=204)
    def delete_item(item_id: str, request: Request) -> Response:
        service.delete_item(bearer_token(request), item_id)
        return Response(status_code=204)

    @router.put("/handler/items/{item_id}/sealed", openapi_extra=RESEAL_BODY_DOC)
    async def reseal(item_id: str, request: Request) -> ResealedOut:
        """Replace a received item's ciphertext with the same item re-sealed
        on the desk to the current epoch; it gets a new seq, and its old
        ciphertext goes."""
        item = await service.reseal(bearer_token(request), item_id, request)
        return ResealedOut(id=item.id, seq=item.seq, epoch=item.epoch)

    @router.post("/handler/synced", openapi_extra=json_body_doc(SyncedRequest))
    async def synced(request: Request) -> SyncedOut:
        """The desk holds its compartment's items up to ``seq``; items every
        current handler holds go after the retention period."""
        body = await read_json(request, SyncedRequest, limits.max_small_body)
        expired = await run_in_threadpool(service.synced, bearer_token(request), body.seq)
        return SyncedOut(expired=expired)

    @router.post(
        "/handler/contacts/{contact_id}/replies", status_code=201, openapi_extra=REPLY_BODY_DOC
    )
    async def reply(contact_id: str, request: Request) -> ReplyCreated:
        """Store a reply item; the contact sees it only if a handler signed it."""
        item_id = await service.store_reply(bearer_token(request), contact_id, request)
        return ReplyCreated(id=item_id)

    @router.get("/handler/forwards/{door}")
    def forward_epoch(door: str, request: Request) -> ForwardEpochOut:
        """The current signed epoch of the compartment behind ``door`` (another
        one): what a desk seals a forward to, and checks a forward's signer
        against, after verifying it against its root key. Only a door the
        handler names is answered: the list of doors is not shown."""
        note = service.forward_epoch(bearer_token(request), door)
        return ForwardEpochOut(epoch=note)

    @router.post("/handler/forwards/{door}", status_code=201, openapi_extra=FORWARD_BODY_DOC)
    async def forward(door: str, request: Request) -> ForwardCreated:
        """File a report forwarded from the token's compartment as an item of
        the compartment behind ``door`` (another one), for its desks to sync;
        the sender's compartment does not see it among its items."""
        item_id = await service.store_forward(bearer_token(request), door, request)
        return ForwardCreated(id=item_id)

    return router
