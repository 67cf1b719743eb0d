"""The contact's JSON API (docs/api.md, "Contact, JSON"), over ContactService.

For the field client and other programs: the same service as the HTML
pages, answering JSON. A session travels as ``Authorization: Bearer`` or
the ``shoal_session`` cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from ._bodies import json_body_doc, read_json
from ._config import Limits
from ._contacts import ContactService
from ._credentials import session_token
from ._intake import SUBMISSION_BODY_DOC
from ._models import (
    ContactCreated,
    ErrorAnswer,
    Replies,
    ReplyOut,
    SessionCreated,
    SessionRequest,
    SubmissionCreated,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer} for status in (400, 401, 404, 413, 503, 507)
}

#: A submission's optional ``Idempotency-Key``: 16 random bytes the client
#: chose, URL-safe base64 without padding (the pages' ``once``, _spent).
IdempotencyKey = Annotated[
    str | None,
    Header(
        pattern=r"^[A-Za-z0-9_-]{22}$",
        description="16 random bytes, URL-safe base64 without padding: a retry with the "
        "same key after a lost answer stores nothing twice (409 if it was stored).",
    ),
]


def contact_api(service: ContactService, limits: Limits) -> APIRouter:
    router = APIRouter(prefix="/api/v1/doors/{door}", tags=["contact"], responses=ERRORS)

    @router.post("/contacts", status_code=201)
    def create_contact(door: str) -> ContactCreated:
        """First contact: a new codename (shown once) and a session."""
        first = service.first_contact(door)
        return ContactCreated(codename=first.codename, session=first.session)

    @router.post("/sessions", status_code=201, openapi_extra=json_body_doc(SessionRequest))
    async def create_session(door: str, request: Request) -> SessionCreated:
        """Log in with a codename; 401 for a wrong (or cut) one."""
        body = await read_json(request, SessionRequest, limits.max_small_body)
        return SessionCreated(session=await service.login(door, body.codename))

    @router.post(
        "/submissions",
        status_code=201,
        openapi_extra=SUBMISSION_BODY_DOC,
        responses={409: {"model": ErrorAnswer}},
    )
    async def submit(
        door: str, request: Request, idempotency_key: IdempotencyKey = None
    ) -> SubmissionCreated:
        """Multipart ``message`` and ``files``, each sealed to the compartment.

        A client that lost the answer retries with the same
        ``Idempotency-Key``: the key is spent in the transaction that
        stores the items, so the retry either stores them (the first never
        arrived) or is answered 409 and stores nothing.
        """
        token = session_token(request, allow_bearer=True)
        items = await service.submit(door, token, request, once=idempotency_key)
        return SubmissionCreated(items=items)

    @router.get("/replies")
    def replies(door: str, request: Request) -> Replies:
        """Replies signed by a handler of the door's current epoch."""
        shown = service.replies(door, session_token(request, allow_bearer=True))
        return Replies(
            replies=[ReplyOut(id=r.item_id, text=r.text, day=r.day.isoformat()) for r in shown]
        )

    @router.delete("/sessions/current", status_code=204)
    def logout(door: str, request: Request) -> Response:
        service.logout(door, session_token(request, allow_bearer=True))
        return Response(status_code=204)

    return router
