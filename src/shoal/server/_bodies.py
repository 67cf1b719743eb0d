"""Request bodies, read with a bound and never spooled.

Every body is counted as it streams and refused (413) the moment it passes
its limit, so one request costs bounded memory however it is framed
(Content-Length or chunked). FastAPI's own body parameters read the whole
body first and, for forms, may spool to disk; nothing here does either.

A client that disconnects mid-body raises :class:`ClientGoneError`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncGenerator, Sequence
from typing import Any, TypeVar

import pydantic
from fastapi import Request

from . import _messages as msg
from .errors import BadRequestError, ClientGoneError, TooLargeError

_Model = TypeVar("_Model", bound=pydantic.BaseModel)
MAX_FORM_FIELDS = 16


async def body_chunks(
    request: Request, limit: int, too_large: str, *, declared: bool = True
) -> AsyncGenerator[bytes, None]:
    """The body's chunks; :class:`TooLargeError` with ``too_large`` past
    ``limit``, or at once if ``declared`` and Content-Length says it will be."""
    length = request.headers.get("content-length", "")
    if declared and length.isdigit() and int(length) > limit:
        raise TooLargeError(too_large)
    # ASGI messages, not Request.stream(): the last one is known when it
    # arrives (see drain), and a disconnect is an exception of our own.
    total = 0
    while True:
        message = await request.receive()
        request.state.body_started = True
        if message["type"] != "http.request":
            raise ClientGoneError("the client disconnected")
        last = not message.get("more_body", False)
        if last:
            request.state.body_read = True
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise TooLargeError(too_large)
        if chunk:
            yield chunk
        if last:
            return


async def read_small(request: Request, limit: int) -> bytes:
    return b"".join([c async for c in body_chunks(request, limit, msg.REQUEST_TOO_LARGE)])


def describe_invalid(errors: Sequence[Any]) -> str:
    """The fields a validation failure names, never their values.

    Pydantic's errors carry the submitted ``input``; only each error's
    location (our own field names: unknown keys are ignored, never
    reported) goes into the answer, beside :data:`msg.MALFORMED_REQUEST`.
    """
    places = {".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in errors}
    return ", ".join(sorted(places - {""}))


async def read_json(request: Request, model: type[_Model], limit: int) -> _Model:
    raw = await read_small(request, limit)
    try:
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        detail = describe_invalid(exc.errors(include_input=False))
        raise BadRequestError(msg.MALFORMED_REQUEST, detail) from None


async def read_form(
    request: Request, limit: int, max_fields: int = MAX_FORM_FIELDS
) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body: each name's values."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
        "application/x-www-form-urlencoded"
    ):
        raise BadRequestError(msg.MALFORMED_REQUEST)
    raw = await read_small(request, limit)
    try:
        pairs = urllib.parse.parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields
        )
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError(msg.MALFORMED_REQUEST) from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


async def drain(request: Request, limit: int) -> None:
    """Read and drop what is left of a refused body, up to ``limit``.

    A browser still sending an upload when the server answers and closes
    the connection shows "connection reset" instead of the answer, so a
    page refusing an upload midway reads the rest first (bounded: past
    ``limit`` the connection is closed after all).
    """
    if getattr(request.state, "body_read", False):
        return  # another receive() would wait for the client to hang up
    # ASGI messages directly: Starlette's stream() refuses a second reader
    # even when the first stopped midway.
    total = 0
    while total <= limit:
        message = await request.receive()
        if message["type"] != "http.request":
            return  # the client went away
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def json_body_doc(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads ``model`` with :func:`read_json`."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
