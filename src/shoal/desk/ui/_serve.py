"""Starting the desk UI: a loopback socket, the launch link, uvicorn.

The socket is bound here, before uvicorn runs, so that the port is known
(port 0 picks a free one) and the link can name it; uvicorn's access log
is off, as on the server: the desk logs nothing a contact wrote.

One UI per desk: the process holds an exclusive lock on ``DIR/ui.lock``
while it runs. Two would each append to the vault and compact it from
their own index, and a compaction deletes every older file: the other's
grades, notes and read marks would be lost without a word.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from .._state import Layout
from ..errors import NotReadyError
from ._app import Desk, create_app
from ._guard import Guard, Tokens

LOOPBACK = "127.0.0.1"
_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def _idle_watch(desk: Desk, every: float) -> None:
    """Lock an idle desk even when no request comes to notice it."""
    while True:
        time.sleep(every)
        if desk.workbench is not None and desk.idle_expired():
            desk.lock()
            desk.say("Locked after inactivity.", "warn")


def _hold(path: Path) -> None:
    """Lock ``path`` for as long as this process lives (the kernel lets go
    when it exits, however it exits)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise NotReadyError(
            f"another `shoal desk ui` is serving {path.parent}: use its link, or stop it first"
        ) from None


def serve(
    layout: Layout,
    *,
    port: int,
    idle_minutes: float,
    export_dir: Path,
    announce: Callable[[str], None],
) -> None:
    if not layout.keystore.exists():
        raise NotReadyError(f"{layout.root} has no keystore: run `shoal desk keygen` first")
    _hold(layout.root / "ui.lock")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it every answer waited ~40 ms
    # (Nagle's algorithm meeting the browser's delayed ACK between the
    # response head and body, which uvicorn writes separately).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    port = sock.getsockname()[1]
    tokens = Tokens()
    desk = Desk(layout, idle_seconds=idle_minutes * 60, export_dir=export_dir)
    hosts = {f"{LOOPBACK}:{port}", f"localhost:{port}"}
    app = Guard(create_app(desk, tokens), tokens=tokens, hosts=hosts)
    watch = threading.Thread(
        target=_idle_watch, args=(desk, min(5.0, idle_minutes * 15)), daemon=True
    )
    watch.start()
    announce(f"http://{LOOPBACK}:{port}/launch?token={tokens.launch}")
    config = uvicorn.Config(
        app, log_config=_LOGGING, access_log=False, lifespan="off", server_header=False
    )
    uvicorn.Server(config).run(sockets=[sock])
