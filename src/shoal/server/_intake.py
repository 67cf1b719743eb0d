"""A contact's submission: multipart in, one sealed item per part, stored.

    request.stream() ─▶ MultipartEvents ─▶ ItemSealer ─▶ BlobStore.put_async
                        (part by part)     (per part)    (temp, fsync, rename)

Plaintext exists only in the chunks passing through this pipeline; the
first place any of it lands is the age encryptor. Each ``message`` field
becomes one item of kind "message" and each ``files`` part one item of
kind "file" whose name and type travel inside the envelope, under the
encryption. Empty parts (an empty message box, a file input left empty)
are skipped.

All or nothing: if anything fails — a limit, malformed multipart, a full
disk, a client that goes away — every blob this submission stored is
deleted before the error propagates, and the caller writes no rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import Request

from .. import crypto
from ..store import BlobRef, BlobStore
from . import _messages as msg
from ._bodies import body_chunks
from ._clock import Clock
from ._config import Limits
from ._multipart import PART_END, Event, MultipartEvents, PartStart, boundary_of
from .errors import BadRequestError, TooLargeError

MESSAGE_FIELD = "message"
FILES_FIELD = "files"
DEFAULT_FILE_TYPE = "application/octet-stream"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: How much of a refused message is given back to the contact's page.
KEPT_MESSAGE = 256 * 1024


#: OpenAPI ``requestBody`` of a submission (FastAPI cannot infer it: the
#: body is parsed by hand, see the module doc).
SUBMISSION_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        MESSAGE_FIELD: {"type": "string"},
                        FILES_FIELD: {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                }
            }
        },
    }
}


class Intake:
    def __init__(self, blobs: BlobStore, limits: Limits, clock: Clock) -> None:
        self._blobs = blobs
        self._limits = limits
        self._clock = clock

    def timestamp(self) -> str:
        """The exact time items carry inside their envelope."""
        return self._clock().strftime(_TIME_FORMAT)

    async def seal(
        self,
        request: Request,
        recipients: Sequence[crypto.Recipient],
        message: bytearray | None = None,
    ) -> list[BlobRef]:
        """Seal every non-empty part of the request's body; returns the
        stored blobs in body order. Raises :class:`BadRequestError` if there
        was nothing to send.

        ``message``, if given, receives the message text's first
        :data:`KEPT_MESSAGE` bytes as they stream past, so that a page can
        give the contact back what they typed if the submission is refused
        (a file too many, too large). It lives in this request's memory only.
        """
        parser = MultipartEvents(
            boundary_of(request.headers.get("content-type")),
            max_header=self._limits.max_part_header,
            max_headers=self._limits.max_part_headers,
        )
        stored: list[BlobRef] = []
        try:
            async with contextlib.aclosing(self._events(request, parser)) as events:
                files = messages = 0
                async for event in events:
                    if not isinstance(event, PartStart):
                        raise BadRequestError(msg.MALFORMED_UPLOAD)
                    header = self._header(event)
                    # Every part costs a sealing, two fsyncs and a row: all
                    # of them are bounded, not just the files (a body of
                    # thousands of tiny message parts would be a flood).
                    if header["kind"] == "file":
                        files += 1
                        if files > self._limits.max_files:
                            raise TooLargeError(msg.TOO_MANY_FILES)
                    else:
                        messages += 1
                        if messages > 1:
                            raise BadRequestError(msg.MALFORMED_UPLOAD)
                    first = await anext(events, PART_END)
                    if first is PART_END:
                        continue
                    sealer = crypto.ItemSealer(recipients, header)
                    kept = message if header["kind"] == "message" else None
                    sealing = _sealed(sealer, first, events, kept)
                    stored.append(await self._blobs.put_async(sealing))
            if not stored:
                raise BadRequestError(msg.NOTHING_TO_SEND)
        except BaseException:
            for ref in stored:
                self._blobs.discard(ref)
            raise
        return stored

    async def first_message(self, request: Request) -> bytes:
        """The start of the message in a body refused before it was read
        (its declared length is over the limit), for the page to give back.

        The form puts the message box first, so at most
        :data:`KEPT_MESSAGE` bytes and a part's headers are read, never the
        files behind it; the caller drains or drops the rest.
        """
        parser = MultipartEvents(
            boundary_of(request.headers.get("content-type")),
            max_header=self._limits.max_part_header,
            max_headers=self._limits.max_part_headers,
        )
        kept = bytearray()
        in_message = False
        budget = KEPT_MESSAGE + 4 * self._limits.max_part_header
        # No limit of body_chunks': the budget below stops reading, whatever
        # size the chunks come in.
        body = body_chunks(request, 1 << 62, msg.BODY_TOO_LARGE, declared=False)
        try:
            async with contextlib.aclosing(body) as chunks:
                async for chunk in chunks:
                    if budget <= 0:
                        break
                    piece, budget = chunk[:budget], budget - len(chunk)
                    for event in parser.feed(piece):
                        if isinstance(event, PartStart):
                            in_message = event.name == MESSAGE_FIELD
                        elif isinstance(event, bytes) and in_message:
                            kept += event[: KEPT_MESSAGE - len(kept)]
                        elif event is PART_END and in_message:
                            return bytes(kept)
        except BadRequestError:
            pass  # not a message first, or malformed: nothing to give back
        return bytes(kept)

    async def _events(
        self, request: Request, parser: MultipartEvents
    ) -> AsyncGenerator[Event, None]:
        async for chunk in body_chunks(request, self._limits.max_body, msg.BODY_TOO_LARGE):
            for event in parser.feed(chunk):
                yield event
        parser.finish()

    def _header(self, part: PartStart) -> Mapping[str, Any]:
        time = self.timestamp()
        if part.name == MESSAGE_FIELD:
            return {"kind": "message", "time": time}
        if part.name == FILES_FIELD:
            return {
                "kind": "file",
                "name": part.filename or "",
                "type": part.content_type or DEFAULT_FILE_TYPE,
                "time": time,
            }
        raise BadRequestError(msg.UNEXPECTED_FIELD)


async def _sealed(
    sealer: crypto.ItemSealer,
    first: Event,
    events: AsyncIterator[Event],
    kept: bytearray | None,
) -> AsyncIterator[bytes]:
    """One part's ciphertext, pulling its content from the shared event
    stream up to the part's end (the caller's loop resumes after it)."""
    event: Event | None = first
    while event is not PART_END:
        if not isinstance(event, bytes):
            raise BadRequestError(msg.MALFORMED_UPLOAD)
        if kept is not None and len(kept) < KEPT_MESSAGE:
            kept += event[: KEPT_MESSAGE - len(kept)]
        for chunk in sealer.update(event):
            yield chunk
        # The stream ends only after the closing boundary, which follows
        # every part's end; running out here means a malformed body.
        event = await anext(events, None)
        if event is None:
            raise BadRequestError(msg.MALFORMED_UPLOAD)
    for chunk in sealer.finalize():
        yield chunk
