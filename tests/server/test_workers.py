"""``shoal serve --workers``: processes sharing the sockets, supervised.

Every worker serves (the kernel spreads connections over their sockets),
SQLite's writers from several processes queue instead of failing, a stop
stops them all, and no worker outlives its supervisor, however it ended.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest
from _server_kit import ServerProcess, Stored, shoal, wait_for

from shoal.store import schema

DOOR = "north"


def _workers(server: ServerProcess) -> list[psutil.Process]:
    return psutil.Process(server.process.pid).children()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _send(url: str, count: int) -> list[int]:
    """A new contact sending ``count`` messages, each on a new connection
    (so that the kernel picks a worker for each)."""
    with httpx.Client(base_url=url, timeout=60) as http:
        session = http.post(f"/api/v1/doors/{DOOR}/contacts").json()["session"]
    statuses = []
    for n in range(count):
        with httpx.Client(base_url=url, timeout=60) as http:
            answer = http.post(
                f"/api/v1/doors/{DOOR}/submissions",
                headers={"Authorization": f"Bearer {session}"},
                files={"message": (None, f"message {n}")},
            )
        statuses.append(answer.status_code)
    return statuses


def test_workers_all_serve_and_every_write_lands(data_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(data_dir, tmp_path, "--workers", "2")
    try:
        workers = _workers(server)
        assert len(workers) == 2
        before = [_cpu(w) for w in workers]
        with ThreadPoolExecutor(8) as pool:
            statuses = [
                s for run in pool.map(lambda _: _send(server.url, 15), range(8)) for s in run
            ]
        assert statuses == [201] * 120
        # Both workers took connections (each has its own listening socket):
        # an idle one spends next to nothing while the others serve.
        spent = [_cpu(w) - b for w, b in zip(workers, before, strict=True)]
        assert min(spent) > 0.05, spent
        stored = Stored(data_dir)
        try:
            assert stored.rows(schema.Item) == 120
        finally:
            stored.close()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        server.stop()


def test_a_killed_supervisor_takes_its_workers_along(data_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(data_dir, tmp_path, "--workers", "2")
    workers = _workers(server)
    server.process.kill()
    server.process.wait()

    def gone() -> bool:
        return not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)

    wait_for(gone, "the workers to end with their parent")
    # And the port is free for the next start.
    again = ServerProcess(data_dir, tmp_path / "again")
    again.stop()


def test_a_dead_worker_stops_the_whole_server(data_dir: Path, tmp_path: Path) -> None:
    """Half the sockets silently unserved would be worse than a restart."""
    server = ServerProcess(data_dir, tmp_path, "--workers", "2")
    workers = _workers(server)
    os.kill(workers[0].pid, signal.SIGKILL)
    assert server.process.wait(timeout=30) != 0
    assert b"a worker exited" in server.output()
    assert not workers[1].is_running() or workers[1].status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("count", ["0", "65"])
def test_the_number_of_workers_is_bounded(data_dir: Path, count: str) -> None:
    done = shoal("serve", "--data", str(data_dir), "--workers", count, check=False)
    assert done.returncode == 2 and "--workers" in done.stderr


def test_a_bad_data_directory_fails_before_any_worker(tmp_path: Path) -> None:
    done = shoal("serve", "--data", str(tmp_path / "none"), "--workers", "2", check=False)
    assert done.returncode == 1
    assert "run 'shoal admin init' first" in done.stderr
    assert "Traceback" not in done.stderr
