"""Request bodies, read with a bound and never spooled.

Every body is counted as it streams and refused (413) the moment it passes
its limit, so one request costs bounded memory however it is framed
(Content-Length or chunked). FastAPI's own body parameters read the whole
body first and, for forms, may spool to disk; nothing here does either.

A client that disconnects mid-body raises :class:`ClientGoneError`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import pydantic
from fastapi import Request
from starlette.requests import ClientDisconnect

from . import _messages as msg
from .errors import BadRequestError, ClientGoneError, TooLargeError

_Model = TypeVar("_Model", bound=pydantic.BaseModel)
MAX_FORM_FIELDS = 16


async def body_chunks(request: Request, limit: int, too_large: str) -> AsyncIterator[bytes]:
    """The body's chunks; :class:`TooLargeError` with ``too_large`` past ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLargeError(too_large)
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise TooLargeError(too_large)
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise ClientGoneError("the client disconnected") from None


async def read_small(request: Request, limit: int) -> bytes:
    return b"".join([c async for c in body_chunks(request, limit, msg.REQUEST_TOO_LARGE)])


def describe_invalid(errors: Sequence[Any]) -> str:
    """A validation failure as a message that names fields, never values.

    Pydantic's errors carry the submitted ``input``; only each error's
    location (our own field names: unknown keys are ignored, never
    reported) goes into the answer.
    """
    places = sorted(
        {".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in errors} - {""}
    )
    return f"{msg.MALFORMED_REQUEST} ({', '.join(places)})" if places else msg.MALFORMED_REQUEST


async def read_json(request: Request, model: type[_Model], limit: int) -> _Model:
    raw = await read_small(request, limit)
    try:
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        raise BadRequestError(describe_invalid(exc.errors(include_input=False))) from None


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the HTML login form)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
        "application/x-www-form-urlencoded"
    ):
        raise BadRequestError(msg.MALFORMED_REQUEST)
    raw = await read_small(request, limit)
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError(msg.MALFORMED_REQUEST) from None
    return dict(pairs)


def json_body_doc(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads ``model`` with :func:`read_json`."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
