"""Measuring a real server under abuse: what real contacts see, and what it costs.

:class:`RealContacts` are contacts logging in and writing, each request
timed, over a fresh connection each round (a flood of connections is one
of the abuses). :func:`under` runs an abuse in the background while they
work and gives back :class:`Figures`: their p99 latency beside the
server's memory peak and CPU time over the same span.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

MIB = 1 << 20
API = "/api/v1/doors/north"


def status_line(pid: int, name: str) -> int:
    """A ``/proc/<pid>/status`` figure in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {name}")


def reset_peak(pid: int) -> None:
    """Start ``VmHWM`` afresh from the current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> float:
    """User and system time the process has used (threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def bearer(session: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session}"}


def new_codename(client: httpx.Client) -> str:
    made = client.post(f"{API}/contacts")
    assert made.status_code == 201, made.text
    return str(made.json()["codename"])


@dataclass
class RealContacts:
    """Contacts who log in and send a message (or, ``writing=False``, read
    their replies), again and again; every answer must be the right one."""

    url: str
    codenames: list[str]
    writing: bool = True
    times: list[float] = field(default_factory=list)
    sent: int = 0

    def round(self, codename: str) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            start = time.perf_counter()
            login = client.post(f"{API}/sessions", json={"codename": codename})
            self.times.append(time.perf_counter() - start)
            assert login.status_code == 201, login.text
            session = bearer(login.json()["session"])
            start = time.perf_counter()
            if self.writing:
                answer = client.post(
                    f"{API}/submissions", headers=session, files={"message": (None, "real")}
                )
                expected = 201
            else:
                answer = client.get(f"{API}/replies", headers=session)
                expected = 200
            self.times.append(time.perf_counter() - start)
            assert answer.status_code == expected, answer.text
            self.sent += self.writing

    def run(self, rounds: int) -> None:
        """``rounds`` rounds from each codename, in one thread each."""
        failures: list[BaseException] = []

        def work(codename: str) -> None:
            try:
                for _ in range(rounds):
                    self.round(codename)
            except BaseException as exc:  # reported in the caller's thread
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(c,)) for c in self.codenames]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]


@dataclass(frozen=True)
class Figures:
    """One abuse, measured: real contacts' p99 (s) without and with it,
    the server's memory (MiB) before and at its peak, and the CPU seconds
    it used over the abuse's wall-clock seconds."""

    abuse: str
    p99_quiet: float
    p99_abused: float
    requests: int
    rss_before_mib: float
    rss_peak_mib: float
    cpu_seconds: float
    wall_seconds: float

    @property
    def slowdown(self) -> float:
        return self.p99_abused / self.p99_quiet

    def print(self) -> None:
        print(json.dumps({"abuse_figures": {**asdict(self), "slowdown": round(self.slowdown, 1)}}))


class Abuse:
    """An abuse that runs in background threads until told to stop."""

    def __init__(self, work: Callable[[threading.Event], None], threads: int = 1) -> None:
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, args=(work,)) for _ in range(threads)]

    def _run(self, work: Callable[[threading.Event], None]) -> None:
        try:
            work(self.stop)
        except BaseException as exc:  # reported by join
            self.failures.append(exc)

    def __enter__(self) -> Abuse:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        if self.failures:
            raise self.failures[0]


@contextmanager
def measured(pid: int) -> Iterator[dict[str, float]]:
    """The server's memory and CPU over the ``with`` block (filled in at its end)."""
    reset_peak(pid)
    figures = {"rss_before_mib": status_line(pid, "VmRSS") / MIB}
    cpu, start = cpu_seconds(pid), time.monotonic()
    yield figures
    figures["rss_peak_mib"] = status_line(pid, "VmHWM") / MIB
    figures["cpu_seconds"] = cpu_seconds(pid) - cpu
    figures["wall_seconds"] = time.monotonic() - start


def under(
    name: str,
    pid: int,
    contacts: Callable[[], RealContacts],
    quiet_p99: float,
    abuse: Abuse,
    rounds: int,
    *,
    hold: float = 0.0,
    settle: float = 0.3,
) -> Figures:
    """Real contacts' rounds while ``abuse`` runs (started ``settle``
    seconds before them, so that they meet it at full strength, and kept
    up for at least ``hold`` seconds)."""
    real = contacts()
    with measured(pid) as figures, abuse:
        started = time.monotonic()
        time.sleep(settle)
        real.run(rounds)
        time.sleep(max(0.0, hold - (time.monotonic() - started)))
    result = Figures(
        abuse=name,
        p99_quiet=round(quiet_p99, 4),
        p99_abused=round(p99(real.times), 4),
        requests=len(real.times),
        **{k: round(v, 2) for k, v in figures.items()},
    )
    result.print()
    return result


def raw_connection(port: int) -> socket.socket:
    """A plain TCP connection to the server, for what httpx will not send."""
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def raw_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)
