"""Errors raised by :mod:`shoal.server`.

::

    ServerError                  root
    ├── ConfigError              the data directory, server.toml or a SHOAL_*
    │                            variable is missing or wrong (the operator's
    │                            mistake), or the database needs a migration
    ├── ImportRefusedError       ``shoal admin import``: a note does not verify
    │                            against the chain, is expired, or would roll
    │                            a compartment back; nothing was stored
    ├── RequestError             a request we answer with an error; carries
    │   │                        the HTTP status and a message for the peer
    │   ├── BadRequestError      400: malformed multipart, JSON, form or field
    │   ├── UnauthorizedError    401: no, expired or foreign session; a wrong
    │   │                        (or cut) codename; a failed handler login
    │   ├── ForbiddenError       403: a contact page's form posted cross-site
    │   │                        or without its form token
    │   ├── NotFoundError        404: unknown door, contact or blob
    │   ├── ConflictError        409: the request contradicts stored state
    │   │   └── ResumeElsewhereError  409: a resumable upload is not at the
    │   │                        offset the request assumed; says where it is
    │   ├── TooLargeError        413: body, file count or field over a limit
    │   ├── QuotaError           429: the peer holds as many unfinished
    │   │                        uploads as it may
    │   └── UnavailableError     503: not the peer's fault: the door's epoch
    │       │                    no longer verifies (expired)
    │       └── DiskFullError    507: the disk is full; nothing was stored
    └── ClientGoneError          the transport failed: the client went away
                                 mid-request; there is nobody to answer

Messages are English msgids from :mod:`shoal.server._messages` (a later
issue translates them); they never contain anything the peer sent.
"""

from __future__ import annotations


class ServerError(Exception):
    """Root of every error raised by shoal.server."""


class ConfigError(ServerError):
    """The data directory, its server.toml or a ``SHOAL_*`` variable is
    missing or malformed; the message names the file or variable and the
    key, never the value."""


class ImportRefusedError(ServerError):
    """A signed note was refused by ``shoal admin import``; nothing was stored."""


class RequestError(ServerError):
    """A request we refuse; ``message`` (a msgid, translated where it is
    shown) is safe to show to the requester, and so is ``detail`` (our own
    field names, never translated)."""

    status = 400

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.detail = detail

    def fields(self) -> dict[str, str | int]:
        """What a JSON answer carries besides ``error``: values of our own,
        never anything the peer sent."""
        return {}


class BadRequestError(RequestError):
    status = 400


class UnauthorizedError(RequestError):
    status = 401


class ForbiddenError(RequestError):
    status = 403


class NotFoundError(RequestError):
    status = 404


class ConflictError(RequestError):
    status = 409


class ResumeElsewhereError(ConflictError):
    """A resumable upload holds ``received`` bytes, not what the request
    assumed: the client resumes there (the answer's ``received``)."""

    def __init__(self, message: str, detail: str, received: int) -> None:
        super().__init__(message, detail)
        self.received = received

    def fields(self) -> dict[str, str | int]:
        return {"detail": self.detail, "received": self.received}


class TooLargeError(RequestError):
    status = 413


class QuotaError(RequestError):
    status = 429


class UnavailableError(RequestError):
    """Not the peer's fault, but still an answer the peer must get."""

    status = 503


class DiskFullError(UnavailableError):
    status = 507


class ClientGoneError(ServerError):
    """The client disconnected before its request was complete."""
