"""Grouping reports into events runs in a background thread after unlock
(seconds at 100,000 reports): it must let the desk's other threads take
the interpreter often, or every search waits for it (bench/sync.py).

CPython would hand the GIL over every 5 ms anyway; the test sets that to a
second, so that only the grouping's own sharing lets the other thread run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator

import pytest

from shoal.desk import _events

WORK_S = 0.2


@pytest.fixture
def slow_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(100))


def _turns_of_another_thread(keys: Iterable[str]) -> tuple[list[str], int]:
    """Work 1 ms on each key while another thread counts how often it ran."""
    turns = 0
    done = threading.Event()
    started = threading.Event()

    def other() -> None:
        nonlocal turns
        started.set()
        while not done.is_set():
            turns += 1
            time.sleep(0)

    thread = threading.Thread(target=other)
    thread.start()
    started.wait()
    seen: list[str] = []
    before = turns
    for key in keys:
        seen.append(key)
        _busy(0.001)
    during = turns - before
    done.set()
    thread.join()
    return seen, during


def test_grouping_lets_other_threads_run_while_it_works(slow_switching: None) -> None:
    keys = [f"report-{i:03d}" for i in range(int(WORK_S / 0.001))]
    seen, turns = _turns_of_another_thread(_events._sharing(keys))
    assert seen == keys
    # A turn after each key's 1 ms of work (more than _SHARE_EVERY_S)
    # would be 200; a loaded machine delays some, never most.
    assert turns >= 20, turns


def test_without_sharing_the_other_thread_waits(slow_switching: None) -> None:
    # The control: the same work over a plain list starves the other thread,
    # so the test above measures the sharing, not the machine.
    keys = [f"report-{i:03d}" for i in range(int(WORK_S / 0.001))]
    _, turns = _turns_of_another_thread(keys)
    assert turns < 5, turns
