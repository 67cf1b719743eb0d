"""The credentials a request carries: a bearer token, or a session cookie."""

from __future__ import annotations

from fastapi import Request

from ._sessions import COOKIE_NAME


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def session_token(request: Request, *, allow_bearer: bool) -> str | None:
    """A contact's session: the cookie, or (JSON API only) a bearer token.

    HTML pages take only the cookie, which is SameSite=Strict: a form on
    another site cannot make a contact's browser act with it.
    """
    bearer = bearer_token(request) if allow_bearer else None
    return bearer or request.cookies.get(COOKIE_NAME)
