"""A whole demo organization built through the real command line
(``shoal.demo.build``: doors "news" and "field"), a real ``shoal serve``
in front of it, and its desks' command lines. Shared by the end-to-end and
the browser tests; importable from any test module, like ``_tools``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import _engines
from _server_config import update_server_config
from shoal import demo


def shoal(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class DeskLine:
    """One line of ``shoal desk list``."""

    item_id: str
    day: str
    kind: str
    contact: str
    verdict: str


_DESK_LINE = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+contact (\S+)\s+(.*)$")


@dataclass
class Org:
    root: Path
    url: str
    #: What ``shoal demo`` prints: keys, passphrases, desk folders.
    shown: dict[str, str]
    server_tmp: Path
    server_log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the server, as a seizure would find it."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def desk(self, door: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``shoal desk <args…>`` as the handler of ``door``."""
        command, rest = args[0], args[1:]
        done = shoal(
            "desk",
            command,
            "--dir",
            str(self.root / f"desk-{door}"),
            "--passphrase-file",
            str(self.root / "passphrases" / f"desk-{door}.passphrase"),
            *rest,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"shoal desk {command} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def desk_items(self, door: str) -> list[DeskLine]:
        """``desk list``, parsed (an unparsable line fails the test)."""
        lines = []
        for line in self.desk(door, "list").stdout.splitlines():
            found = _DESK_LINE.match(line)
            assert found, f"desk list line not understood: {line!r}"
            lines.append(DeskLine(*found.groups()))
        return lines

    def new_desk_items(self, door: str, before: list[DeskLine]) -> list[DeskLine]:
        """Sync, then the items that were not listed in ``before``."""
        self.desk(door, "sync")
        known = {line.item_id for line in before}
        return [line for line in self.desk_items(door) if line.item_id not in known]


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shoal serve exited: {log.read_text()}")
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("shoal serve did not start")


def serve_demo(
    tmp: Path,
    *,
    classic: bool = False,
    limits: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Org:
    """Build the demo organization under ``tmp`` and serve it on a free
    port, with its own temporary directory (for seizure searches) and log.
    ``limits`` and other ``settings`` go into the server's server.toml."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root = tmp / "org"
    root.mkdir()
    shown = demo.build(root, url, classic=classic, database=_engines.database_url())
    extra = {**(settings or {}), **({"limits": limits} if limits else {})}
    if extra:
        update_server_config(root / "server", **extra)
    server_tmp = tmp / "server-tmp"
    server_tmp.mkdir()
    log = tmp / "server.log"
    env = {**os.environ, "TMPDIR": str(server_tmp)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "serve", "--data", str(root / "server"),
             "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    org = Org(root, url, shown, server_tmp, log, process)
    try:
        wait_until_up(url, process, log)
    except BaseException:
        org.stop()
        raise
    return org
