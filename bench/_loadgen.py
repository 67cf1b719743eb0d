"""A cheap HTTP/1.1 load generator: one asyncio connection per client.

Run as its own process by the benchmarks (so its CPU is its own, and
measured): a JSON spec on stdin, a JSON result on stdout. Each client sends
its own prepared request (its own session, its own body) again and again
over one keep-alive connection, reconnecting when the server closes it
(OnionShare's development server answers HTTP/1.0 and closes each time).

Why not httpx: at 64 clients httpx's own parsing took about as much CPU as
the server it measured (both share these 2 cores); this loop writes bytes
it prepared once and reads a status line, headers and a Content-Length
body, nothing more. Its CPU time is reported (``client_cpu_s``) so that a
run can show the generator stayed cheap.

Spec: ``{"host", "port", "requests": [base64 of one whole request per
client], "seconds", "warmup", "expect": status, "bodies": path or null,
"max_requests": per client or null}``. Result: ``{"done", "errors",
"seconds", "p50_ms", "p99_ms", "client_cpu_s"}``; with ``bodies``, every
answer body of an acknowledged request is written there, one per line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time


class _Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.bodies: list[bytes] = []
        self.measuring = False


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    parts = status_line.split(b" ", 2)
    status = int(parts[1])
    length = 0
    close = parts[0] == b"HTTP/1.0"
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    body = await reader.readexactly(length) if length else b""
    return status, body, close


async def _client(spec: dict[str, object], request: bytes, stats: _Stats, stop_at: float) -> None:
    host, port = str(spec["host"]), int(spec["port"])  # type: ignore[call-overload]
    expect = int(spec["expect"])  # type: ignore[call-overload]
    keep = spec.get("bodies") is not None
    budget = spec.get("max_requests")
    sent = 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at and (budget is None or sent < budget):  # type: ignore[operator]
            started = time.perf_counter()
            writer.write(request)
            sent += 1
            try:
                status, body, close = await _read_answer(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                stats.errors += stats.measuring
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if status == expect:
                if keep:  # every acknowledged request, warm-up included
                    stats.bodies.append(body)
                if stats.measuring:
                    stats.latencies.append(time.perf_counter() - started)
            elif stats.measuring:
                stats.errors += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _run(spec: dict[str, object]) -> dict[str, object]:
    requests = [base64.b64decode(r) for r in spec["requests"]]  # type: ignore[attr-defined]
    stats = _Stats()
    warmup = float(spec.get("warmup", 1.0))  # type: ignore[arg-type]
    seconds = float(spec["seconds"])  # type: ignore[arg-type]
    begin = time.perf_counter()
    stop_at = begin + warmup + seconds
    tasks = [asyncio.create_task(_client(spec, r, stats, stop_at)) for r in requests]
    await asyncio.sleep(warmup)
    stats.measuring = True
    cpu0 = time.process_time()
    measured_from = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - measured_from
    cpu = time.process_time() - cpu0
    latencies = sorted(stats.latencies)
    if spec.get("bodies"):
        with open(str(spec["bodies"]), "wb") as out:
            for body in stats.bodies:
                out.write(body.replace(b"\n", b" ") + b"\n")

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {
        "done": len(latencies),
        "errors": stats.errors,
        "seconds": round(elapsed, 3),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "client_cpu_s": round(cpu, 3),
    }


def main() -> None:
    spec = json.load(sys.stdin)
    try:
        import uvloop  # noqa: PLC0415

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(_run(spec))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
