"""Several server processes on the same sockets (``shoal serve --workers``).

One Python process runs one thread at a time: under load ``shoal serve``
kept one of this machine's two cores busy and left the other idle. Two
processes took intake from ~180 to ~320 messages/s (``bench/intake.py``,
docs/benchmarks.md). Nothing is held in a process's memory between
requests (sessions, uploads and the group commit's rows are all in the
database), so any worker may serve any request.

The parent binds the sockets (and runs tor, with ``--onion``), then forks
the workers; each builds its own application, because database connections
and threads must not cross a fork. The parent only supervises: SIGTERM or
SIGINT is passed to every worker, and a worker that dies for any other
reason takes the others down with it, so that ``shoal serve`` exits non-zero
and the service manager restarts the whole (a half-served set of sockets
would fail quietly). A parent killed outright takes its workers along
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType

#: <linux/prctl.h>: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """A worker must not outlive a supervisor killed with SIGKILL: it would
    keep serving a port that a restarted ``shoal serve`` also binds."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _worker(parent: int, work: Callable[[], None]) -> None:
    code = 0
    try:
        _die_with(parent)
        work()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_workers(count: int, work: Callable[[], None]) -> int:
    """Run ``work`` in ``count`` forked processes until they end; returns
    0 after a requested stop, else the first failed worker's exit status."""
    children: set[int] = set()
    parent = os.getpid()
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            _worker(parent, work)
        children.add(pid)
    stopping = False

    def stop_all(_signal: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            # One already gone is collected by os.wait() below.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop_all) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        while children:
            pid, wait_status = os.wait()
            children.discard(pid)
            if not stopping:
                status = os.waitstatus_to_exitcode(wait_status) or 1
                stop_all()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return status
