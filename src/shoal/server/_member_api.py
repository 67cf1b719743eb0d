"""The member's JSON API (docs/api.md, "Member (field client), JSON"), over
UploadService, MemberService and AlarmService.

A contact session's calls, like the contact API's (the server cannot tell
a member from a contact), under the same ``/api/v1/doors/{door}``, with
the session as ``Authorization: Bearer`` (or the cookie). One route needs
no session at all: releasing an alarm, whose token is its own credential.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ._alarms import AlarmService
from ._bodies import json_body_doc, read_json
from ._config import Limits
from ._credentials import session_token
from ._handler_api import age_body_doc, streamed
from ._members import MemberService
from ._models import (
    MAX_INT64,
    AlarmCreated,
    DoorOrgOut,
    ErrorAnswer,
    ResumeAnswer,
    SealedReplies,
    SealedReplyOut,
    UploadOut,
    UploadRequest,
)
from ._uploads import Progress, UploadService

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer} for status in (400, 401, 404, 413, 503, 507)
}
RESUME: dict[int | str, dict[str, Any]] = {
    409: {"model": ResumeAnswer, "description": "resume at ``received``"}
}
QUOTA: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorAnswer, "description": "the id is another's, or was declared otherwise"},
    429: {"model": ErrorAnswer, "description": "too many unfinished uploads"},
}
CHUNK_BODY_DOC = age_body_doc(
    "the next bytes of the age file, from ``offset``: any length up to what is left"
)
ALARM_BODY_DOC = age_body_doc(
    "the alarm item (an age file of at most 64 KiB) sealed to the compartment and signed"
)


def _upload(progress: Progress) -> UploadOut:
    return UploadOut(id=progress.upload_id, received=progress.received, item=progress.item)


def member_api(
    uploads: UploadService, members: MemberService, alarms: AlarmService, limits: Limits
) -> APIRouter:
    # Errors are listed per route: releasing an alarm has none to list.
    router = APIRouter(tags=["member"])
    door_prefix = "/api/v1/doors/{door}"

    @router.get(door_prefix + "/org", responses=ERRORS)
    def organization(door: str, request: Request) -> DoorOrgOut:
        """The root key this server holds and the signed notes of this door,
        for the field client to verify against the key it was given."""
        found = members.org(door, session_token(request, allow_bearer=True))
        return DoorOrgOut(
            root=found.root,
            organization=found.notes.organization,
            commands=found.notes.commands,
            epochs=found.notes.epochs,
        )

    @router.post(
        door_prefix + "/uploads",
        status_code=201,
        openapi_extra=json_body_doc(UploadRequest),
        responses={200: {"model": UploadOut, "description": "made before"}, **ERRORS, **QUOTA},
    )
    async def create_upload(door: str, request: Request) -> Response:
        """Start a resumable upload of an item sealed on the device (201),
        or answer the one this id already names (200)."""
        token = session_token(request, allow_bearer=True)
        body = await read_json(request, UploadRequest, limits.max_small_body)
        progress, created = await run_in_threadpool(
            uploads.create, door, token, body.id, body.size, body.epoch
        )
        return JSONResponse(_upload(progress).model_dump(), status_code=201 if created else 200)

    @router.put(
        door_prefix + "/uploads/{upload_id}",
        openapi_extra=CHUNK_BODY_DOC,
        responses={**ERRORS, **RESUME},
    )
    async def append(
        door: str,
        upload_id: str,
        offset: Annotated[int, Query(ge=0, le=MAX_INT64)],
        request: Request,
    ) -> UploadOut:
        """Append bytes at ``offset``, which must be where the upload is;
        durable when answered."""
        token = session_token(request, allow_bearer=True)
        return _upload(await uploads.append(door, token, upload_id, offset, request))

    @router.get(door_prefix + "/uploads/{upload_id}", responses=ERRORS)
    def upload(door: str, upload_id: str, request: Request) -> UploadOut:
        """Where the upload is: the next PUT's offset, or its item."""
        token = session_token(request, allow_bearer=True)
        return _upload(uploads.status(door, token, upload_id))

    @router.post(
        door_prefix + "/uploads/{upload_id}/finish",
        status_code=201,
        responses={200: {"model": UploadOut, "description": "finished before"}, **ERRORS, **RESUME},
    )
    def finish(door: str, upload_id: str, request: Request) -> Response:
        """File the complete upload as an item (201), or answer the item it
        already is (200)."""
        token = session_token(request, allow_bearer=True)
        progress, filed = uploads.finish(door, token, upload_id)
        return JSONResponse(_upload(progress).model_dump(), status_code=201 if filed else 200)

    @router.get(door_prefix + "/sealed-replies", responses=ERRORS)
    def sealed_replies(door: str, request: Request) -> SealedReplies:
        """The replies to this contact, oldest first, as ciphertext the
        field client opens and checks itself."""
        rows = members.sealed_replies(door, session_token(request, allow_bearer=True))
        return SealedReplies(
            replies=[SealedReplyOut(id=r.id, size=r.size, day=r.day.isoformat()) for r in rows]
        )

    @router.get(
        door_prefix + "/sealed-replies/{item_id}",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS},
    )
    def sealed_reply(door: str, item_id: str, request: Request) -> StreamingResponse:
        """The reply's age file, streamed."""
        return streamed(
            members.open_reply(door, session_token(request, allow_bearer=True), item_id)
        )

    @router.delete(door_prefix + "/sealed-replies/{item_id}", status_code=204, responses=ERRORS)
    def delete_sealed_reply(door: str, item_id: str, request: Request) -> Response:
        """Delete a fetched reply from the server: row and ciphertext."""
        members.delete_reply(door, session_token(request, allow_bearer=True), item_id)
        return Response(status_code=204)

    @router.post(
        door_prefix + "/alarms", status_code=201, openapi_extra=ALARM_BODY_DOC, responses=ERRORS
    )
    async def store_alarm(door: str, request: Request) -> AlarmCreated:
        """Keep a sealed alarm, pending, with no contact id; the token
        releases it."""
        token = session_token(request, allow_bearer=True)
        return AlarmCreated(token=await alarms.store(door, token, request))

    @router.post("/api/v1/alarms/{token}", status_code=204)
    def release_alarm(token: str) -> Response:
        """Release the alarm ``token`` names. No session; 204 whatever the
        token, so that a probe learns nothing."""
        alarms.release(token)
        return Response(status_code=204)

    return router
