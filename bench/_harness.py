"""What the HTTP benchmarks share: a demo organization served by real
``shoal serve`` processes (SQLite, or a throwaway PostgreSQL cluster), the
peers beside it, and the load generator (``_loadgen.py``) in its own process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shoal import demo

BENCH = Path(__file__).resolve().parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], path: str = "/openapi.json") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def postgresql() -> Iterator[str]:
    """A throwaway cluster (the installed PostgreSQL 15) on a Unix socket;
    yields the SQLAlchemy URL template (``{name}``: the database). Its
    directory is made in /tmp itself: the postgres user cannot enter a
    temporary directory of root's."""
    if not (PG_BIN / "initdb").exists():
        raise SystemExit(f"PostgreSQL not found at {PG_BIN}")
    tmp = Path(tempfile.mkdtemp(prefix="shoal-bench-pg-"))
    data, sockets = tmp / "pgdata", tmp / "pgsock"
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(tmp, "postgres")
        shutil.chown(sockets, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    options = f"-k {sockets} -c listen_addresses='' -c max_connections=300"
    subprocess.run(
        [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w",
         "-l", str(tmp / "pg.log"), "start"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@/{{name}}?host={sockets}"
    finally:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(url_template: str, name: str) -> str:
    import psycopg  # noqa: PLC0415

    host = url_template.split("host=", 1)[1]
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return url_template.format(name=name)


@dataclass
class Served:
    """The demo organization and its ``shoal serve`` processes (one per
    node, all on one data directory and database)."""

    root: Path
    shown: dict[str, str]
    ports: list[int]
    workers: int = 1
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "server"

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def start(self) -> None:
        self.processes = []
        for port in self.ports:
            process = subprocess.Popen(
                [sys.executable, "-m", "shoal", "serve", "--data", str(self.data),
                 "--port", str(port),
                 *(["--workers", str(self.workers)] if self.workers > 1 else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self.processes.append(process)
        for url, process in zip(self.urls, self.processes, strict=True):
            wait_up(url, process)

    def kill(self) -> None:
        """SIGKILL every process, workers and all at once: what a power cut
        leaves is what counts."""
        import psutil  # noqa: PLC0415

        for process in self.processes:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            stop(process, signal.SIGKILL)

    def stop(self) -> None:
        for process in self.processes:
            stop(process)

    def database(self) -> str:
        from shoal.server._config import load_config  # noqa: PLC0415

        return load_config(self.data).database


def serve_demo(
    root: Path, *, database: str | None = None, nodes: int = 1, workers: int = 1
) -> Served:
    root.mkdir(parents=True)
    ports = [free_port() for _ in range(nodes)]
    shown = demo.build(root, f"http://127.0.0.1:{ports[0]}", database=database)
    served = Served(root, shown, ports, workers)
    served.start()
    return served


def http_request(method: str, path: str, body: bytes, headers: dict[str, str], port: int) -> bytes:
    """One whole HTTP/1.1 request, as the load generator sends it."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(
    fields: Sequence[tuple[str, bytes]], boundary: str = "shoalbench"
) -> tuple[bytes, str]:
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def load(
    port: int,
    requests: Sequence[bytes],
    *,
    seconds: float,
    warmup: float = 1.0,
    expect: int = 201,
    bodies: Path | None = None,
    max_requests: int | None = None,
) -> dict[str, float]:
    """Run ``_loadgen.py`` (one client per request given) against 127.0.0.1."""
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "requests": [base64.b64encode(r).decode() for r in requests],
        "seconds": seconds,
        "warmup": warmup,
        "expect": expect,
        "bodies": str(bodies) if bodies else None,
        "max_requests": max_requests,
    }
    done = subprocess.run(
        [sys.executable, str(BENCH / "_loadgen.py")],
        input=json.dumps(spec).encode(), capture_output=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout)
    return result


def load_many(
    targets: Sequence[tuple[int, Sequence[bytes]]], **options: object
) -> dict[str, float]:
    """Several load generators at once (one per node), results summed."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    def one(n: int) -> dict[str, float]:
        port, requests = targets[n]
        mine = dict(options)
        if mine.get("bodies") is not None:  # a file per generator
            mine["bodies"] = Path(f"{mine['bodies']}-{n}")
        return load(port, requests, **mine)  # type: ignore[arg-type]

    with ThreadPoolExecutor(len(targets)) as pool:
        runs = list(pool.map(one, range(len(targets))))
    if len(runs) == 1:
        return runs[0]
    return {
        "done": sum(r["done"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "seconds": max(r["seconds"] for r in runs),
        "p50_ms": max(r["p50_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "client_cpu_s": sum(r["client_cpu_s"] for r in runs),
    }


def _onionshare_cli() -> Path:
    """``onionshare-cli`` in a virtualenv of its own (its pins are not
    ours), made on first use."""
    venv = BENCH.parent / ".venv-peers" / "onionshare"
    cli = venv / "bin" / "onionshare-cli"
    if not cli.exists():
        note("installing onionshare-cli into .venv-peers/onionshare")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "onionshare-cli"], check=True
        )
    return cli


@contextlib.contextmanager
def onionshare(data: Path) -> Iterator[int]:
    """OnionShare's receive mode on loopback; yields its port. It refuses to
    start without a ``tor`` on PATH even with ``--local-only``: a stand-in
    that is never run is put first on PATH."""
    cli = _onionshare_cli()
    fake = data / "bin"
    fake.mkdir()
    (fake / "tor").write_text("#!/bin/sh\nexit 0\n")
    (fake / "tor").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    log = data / "onionshare.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(cli), "--receive", "--local-only", "--public", "--data-dir",
             str(data / "received")],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(rb"http://127\.0\.0\.1:(\d+)", log.read_bytes())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"onionshare did not start: {log.read_text()}")
            time.sleep(0.1)
        port = int(found.group(1))
        wait_up(f"http://127.0.0.1:{port}", process, "/")
        yield port
    finally:
        stop(process)


def code_version() -> str:
    """The commit of the shoal package being measured (``PYTHONPATH`` may
    point at another checkout, to measure an older version beside)."""
    import shoal  # noqa: PLC0415

    done = subprocess.run(
        ["git", "-C", str(Path(shoal.__file__).parent), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or "unknown"


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
