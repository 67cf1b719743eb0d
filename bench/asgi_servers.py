"""Which ASGI server: the framework's ceiling (``_peers.py ceiling``, the
same 1 KiB multipart POST as bench/intake.py) under each candidate, one
process each, same load, interleaved rounds.

* ``uvicorn``: as ``shoal serve`` runs it (uvloop and httptools);
* ``uvicorn_plain``: uvicorn on asyncio's loop and h11 (what Shoal ran on
  before uvloop and httptools were dependencies);
* ``granian``: granian's Rust HTTP server, one worker, uvloop.

    .venv/bin/python bench/asgi_servers.py [--clients 16] [--seconds 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import _harness as h

_UVICORN = """
import sys, uvicorn
import _peers
uvicorn.run(_peers.ceiling(), host="127.0.0.1", port=int(sys.argv[1]), access_log=False,
            log_level="warning", server_header=False, loop=sys.argv[2], http=sys.argv[3])
"""


def _command(server: str, port: int) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-c", _UVICORN, str(port), "uvloop", "httptools"]
    if server == "uvicorn_plain":
        return [sys.executable, "-c", _UVICORN, str(port), "asyncio", "h11"]
    granian = shutil.which("granian", path=str(h.BENCH.parent / ".venv" / "bin"))
    if granian is None:
        raise SystemExit("granian is not installed: .venv/bin/pip install granian")
    return [granian, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--loop", "uvloop", "--log-level", "warning",
            "--no-access-log", "--factory", "_peers:ceiling"]  # fmt: skip


def measure(server: str, clients: int, seconds: float) -> float:
    port = h.free_port()
    process = subprocess.Popen(
        _command(server, port), cwd=h.BENCH, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        h.wait_up(f"http://127.0.0.1:{port}", process, "/docs")
        body, content_type = h.multipart([("message", b"m" * 1024)])
        request = h.http_request("POST", "/", body, {"Content-Type": content_type}, port)
        result = h.load(port, [request] * clients, seconds=seconds)
    finally:
        h.stop(process)
    return result["done"] / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    servers = ("uvicorn", "uvicorn_plain", "granian")
    best = dict.fromkeys(servers, 0.0)
    for _ in range(args.rounds):
        for server in servers:
            best[server] = max(best[server], measure(server, args.clients, args.seconds))
    h.emit(
        {"bench": "asgi_servers", "clients": args.clients}
        | {f"{s}_requests_per_s": round(v) for s, v in best.items()}
        | {f"ratio_{s}_to_uvicorn": round(v / best["uvicorn"], 2) for s, v in best.items()}
    )


if __name__ == "__main__":
    main()
