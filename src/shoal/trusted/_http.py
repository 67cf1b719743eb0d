"""One request to the untrusted server, as the desk and the field client make it.

The server is an untrusted peer: a refusal's message is cut to printable
ASCII before it can reach a terminal, and every failure becomes an error
of the calling package's own (its classes are passed in), by origin:

- the server answered 4xx or 5xx: ``refused(message, status)``;
- no connection, or it broke or stalled: ``unreachable(message)`` (the
  caller may try again later);
- an answer that is not HTTP as it should be: ``refused(message, None)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

#: How much of a server's error message is shown.
MAX_SHOWN = 200
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def shown(text: str) -> str:
    """Text from the server, safe to print: bounded, printable ASCII only."""
    return _UNPRINTABLE.sub("?", text[:MAX_SHOWN])


def refusal(response: httpx.Response, what: str) -> str:
    """What to tell the user of a 4xx or 5xx answer (read already)."""
    try:
        message = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        message = None
    detail = f": {shown(message)}" if isinstance(message, str) else ""
    return f"the server refused {what} ({response.status_code}){detail}"


@contextmanager
def exchange(
    client: httpx.Client,
    method: str,
    path: str,
    what: str,
    *,
    bearer: str | None,
    refused: Callable[[str, int | None], Exception],
    unreachable: Callable[[str], Exception],
    **kwargs: Any,
) -> Iterator[httpx.Response]:
    """The response to one request, streamed; errors mapped as the module says."""
    headers = dict(kwargs.pop("headers", {}))
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        with client.stream(method, path, headers=headers, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                raise refused(refusal(response, what), response.status_code)
            yield response
    except httpx.TransportError as exc:
        reason = type(exc).__name__
        raise unreachable(f"cannot reach the server ({what}): {reason}") from None
    except httpx.HTTPError as exc:
        raise refused(f"malformed answer to {what}: {type(exc).__name__}", None) from None


def json_object(
    response: httpx.Response, what: str, *, refused: Callable[[str, int | None], Exception]
) -> dict[str, Any]:
    """The answer (read already) as a JSON object, or ``refused(…, None)``."""
    try:
        value = response.json()
    except ValueError:
        raise refused(f"the answer to {what} is not JSON", None) from None
    if not isinstance(value, dict):
        raise refused(f"the answer to {what} is not a JSON object", None)
    return value
