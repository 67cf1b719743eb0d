"""Group commit: the writes of many concurrent requests in one transaction.

A submission's rows are small, but their commit is not: a transaction, an
fsync (SQLite's WAL, PostgreSQL's) and, in a threadpool of dozens of
threads, a wait for the GIL while holding the database's one write lock.
One transaction per request held intake to ~200 messages/s; a single writer
thread that takes every request waiting and commits them together pays
those costs once per batch (``bench/intake.py``, docs/benchmarks.md).

Nothing is acknowledged before its batch's commit has returned, so "a
success answer means durable" holds exactly as before. A request whose work
fails must not sink the others: when anything in a batch raises, the batch
is rolled back and each of its works runs again alone, in a transaction of
its own, so that the failure reaches only its own request. Works must
therefore only write through the session they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

#: A batch's upper bound: a commit's latency stays bounded under a flood.
MAX_BATCH = 256


@dataclass
class _Pending:
    work: Callable[[Session], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupCommit:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._pending: list[_Pending] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        """``work(db)`` committed, perhaps with other requests' works; its
        result once the commit has returned, or its own exception."""
        loop = asyncio.get_running_loop()
        pending = _Pending(work, loop, loop.create_future())
        with self._wake:
            self._pending.append(pending)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._writer, name="shoal-group-commit", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        # Like a thread's call under anyio: a cancelled request still waits
        # for its work's outcome and gets it, so a caller never discards the
        # blobs of rows that were committed.
        while not pending.future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(pending.future)
        result: T = pending.future.result()
        return result

    def _writer(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    # An idle writer leaves; the next request starts another.
                    if not self._wake.wait(timeout=30) and not self._pending:
                        self._thread = None
                        return
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        if len(batch) > 1:
            try:
                with self._sessions() as db:
                    results = [p.work(db) for p in batch]
                    db.commit()
            except BaseException:  # noqa: S110 (each runs again alone below)
                pass
            else:
                for p, result in zip(batch, results, strict=True):
                    _settle(p, result, None)
                return
        for p in batch:
            try:
                with self._sessions() as db:
                    result = p.work(db)
                    db.commit()
            except BaseException as exc:  # handed to its request
                _settle(p, None, exc)
            else:
                _settle(p, result, None)


def _settle(pending: _Pending, result: Any, exc: BaseException | None) -> None:
    def settle() -> None:
        if pending.future.done():  # its request went away
            return
        if exc is not None:
            pending.future.set_exception(exc)
        else:
            pending.future.set_result(result)

    # A closed loop (RuntimeError): nobody waits for the answer.
    with contextlib.suppress(RuntimeError):
        pending.loop.call_soon_threadsafe(settle)
