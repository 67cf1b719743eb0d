"""Bounded time for a request's headers and body (slowloris).

uvicorn times out only an idle keep-alive connection between requests:
a connection that sends its headers a byte a minute, or a body a byte a
minute, is kept open and waited on forever, so a few thousand of them
hold every file descriptor and the server stops answering anyone. This
protocol (uvicorn's httptools one, with a watch) bounds both:

- **headers**: from a connection's opening, or a later request's first
  byte, to the end of its headers: at most ``header_seconds``; and at most
  :data:`MAX_HEADER_BYTES` (an endless header line is a memory flood,
  which httptools would buffer whole). Answered 408 or 431 and closed.
- **body**: from the end of the headers to the body's last byte, no gap
  longer than ``body_seconds``, and once ``body_seconds`` have passed, at
  least :data:`MIN_BODY_RATE` bytes a second on average (a byte every
  ``body_seconds - 1`` would pass a gap rule alone). The connection is
  closed: the request's handler sees the client leave and drops whatever
  it had begun to store.

Only the client's own slowness counts: while the server is not reading
(uvicorn stops reading when the application has 64 KiB unread, say while
a part is sealed and fsynced), the clocks stand still.

Tor users are slow, but not that slow: a browser sends its headers in one
piece, which crosses a circuit in seconds, and even a poor circuit
carries tens of kilobytes a second. The defaults (30 s, 500 bytes a
second) are those of Apache's mod_reqtimeout and nginx, loosened.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: A request's line and headers together; a browser's are 1-2 KiB.
MAX_HEADER_BYTES = 64 << 10
#: A body's slowest average rate once ``body_seconds`` have passed.
MIN_BODY_RATE = 500
HEADER_SECONDS = 30
BODY_SECONDS = 30
#: How long an idle kept-alive connection stays open (uvicorn's default is
#: 5 s). Longer than httpx's 5 s (the desk, the field client): a client
#: that closes an idle connection first never sends a request on one the
#: server is closing at that instant, which fails with no answer (the soak
#: test met it under load). Browsers keep theirs longer and retry.
KEEP_ALIVE_SECONDS = 20

_ANSWERS = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


@dataclass(frozen=True)
class Deadlines:
    header_seconds: float = HEADER_SECONDS
    body_seconds: float = BODY_SECONDS

    @property
    def tick(self) -> float:
        """How often a waiting connection is looked at: fine enough that
        a deadline is overrun by at most an eighth of itself."""
        return min(1.0, self.header_seconds / 8, self.body_seconds / 8)

    def protocol(self) -> type[asyncio.Protocol]:
        """The protocol class to give ``uvicorn.Config(http=...)``."""
        return type("DeadlineProtocol", (DeadlineProtocol,), {"deadlines": self})


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, watched (see the module doc).

    One timer per connection, armed only while a request's headers or
    body are awaited; every ``tick`` it adds the time that passed to the
    current phase's count, unless the server itself had stopped reading.
    """

    deadlines: ClassVar[Deadlines] = Deadlines()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase: Literal["headers", "body"] | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._waited = 0.0  # seconds of the current phase
        self._quiet = 0.0  # seconds since the body's last byte
        self._header_bytes = 0
        self._body_bytes = 0
        self._fresh = False  # body bytes since the last tick

    # --- uvicorn's events -------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._start(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self._phase == "headers"
        if counting:
            self._header_bytes += len(data)
        super().data_received(data)
        if counting and self._phase == "headers" and self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "headers":  # a new connection's first request is already timed
            self._start("headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # Every request enters "body"; one without a body leaves it at
        # once (on_message_complete follows in the same parse).
        self._start("body")

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_bytes += len(body)
        self._fresh = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._start(None)

    # --- the watch --------------------------------------------------------

    def _start(self, phase: Literal["headers", "body"] | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._phase = phase
        self._waited = self._quiet = 0.0
        self._header_bytes = self._body_bytes = 0
        self._fresh = False
        if phase is not None:
            self._watch = self.loop.call_later(self.deadlines.tick, self._look)

    def _look(self) -> None:
        tick = self.deadlines.tick
        self._watch = self.loop.call_later(tick, self._look)
        if self.transport.is_closing():
            self._start(None)
            return
        if self.flow.read_paused:
            return  # the server is not reading: not the client's slowness
        self._waited += tick
        if self._phase == "headers":
            if self._waited >= self.deadlines.header_seconds:
                self._refuse(408)
            return
        self._quiet = 0.0 if self._fresh else self._quiet + tick
        self._fresh = False
        limit = self.deadlines.body_seconds
        if self._quiet >= limit or (
            self._waited >= limit and self._body_bytes < MIN_BODY_RATE * self._waited
        ):
            # The application may be midway through an answer of its own:
            # nothing more is written, the connection just ends.
            self._start(None)
            self.transport.close()

    def _refuse(self, status: int) -> None:
        """Answer ``status`` and close, unless an answer is being written."""
        self._start(None)
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(
                _ANSWERS[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.transport.close()
