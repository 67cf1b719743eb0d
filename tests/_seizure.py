"""Searching a seized machine's bytes for secrets, in every encoding that
could hide them. Shared by the server's and the end-to-end seizure tests;
``tests/server/test_seizure.py`` checks the search itself.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import struct
import subprocess
import threading
from collections import Counter
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from shoal.server import load_config

#: The shortest base64 run worth searching for (see ``encodings``).
MIN_BASE64_NEEDLE = 8


def canary(kind: str) -> str:
    """A secret no real traffic holds by chance, named for where it went."""
    return f"CANARY-{kind}-{secrets.token_hex(8)}"


def encodings(secret: bytes) -> dict[str, bytes]:
    found = {
        "raw": secret,
        "utf-16-le": secret.decode().encode("utf-16-le"),
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
    }
    for shift in range(3):
        # Only the base64 characters that depend on the secret alone.
        first, end = -(-shift // 3), (shift + len(secret)) // 3
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            needle = encode(bytes(shift) + secret)[4 * first : 4 * end]
            # Fewer than 8 characters cannot be told from chance: an age
            # header is kilobytes of base64, and a 4-character needle (a
            # 7-byte canary at shift 1) was found in one by chance (CI,
            # 2026-11-24). Such a canary is still searched raw, as hex,
            # UTF-16 and at the other shifts.
            if len(needle) >= MIN_BASE64_NEEDLE:
                found[f"{name}+{shift}"] = needle
    return found


def hits(corpus: dict[str, bytes], secret: bytes) -> list[str]:
    return [
        f"{encoding} in {where}"
        for encoding, needle in encodings(secret).items()
        for where, data in corpus.items()
        if needle in data
    ]


def database_dump(data_dir: Path) -> dict[str, bytes]:
    """The server's database as a seizer reads it when it is not a file in
    the data directory: a plain ``pg_dump`` (PostgreSQL compresses values in
    its own files, so the files alone would prove little). Empty for
    SQLite, whose files the data directory's corpus already holds."""
    url = make_url(load_config(data_dir).database)
    if url.get_backend_name() != "postgresql":
        return {}
    pg_dump = Path(os.environ.get("SHOAL_PG_BIN", "/usr/lib/postgresql/15/bin")) / "pg_dump"
    dumped = subprocess.run(
        [str(pg_dump), "--no-owner", "--host", str(url.host), "--port", str(url.port),
         "--username", str(url.username), str(url.database)],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return {f"pg_dump of {url.database}": dumped.stdout}


def corpus_of(*roots: Path) -> dict[str, bytes]:
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            found[f"name of {path}"] = str(path).encode()
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found


def _address(hex_address: str) -> tuple[str, int]:
    """``0100007F:1F90`` of ``/proc/net/tcp``: the IPv4 address as the
    kernel's 32-bit word (host order), the port in network order."""
    address, port = hex_address.split(":")
    return socket.inet_ntoa(struct.pack("=I", int(address, 16))), int(port, 16)


def loopback_peers(port: int) -> set[tuple[str, int]]:
    """The far ends of every TCP connection to ``port`` that the kernel
    lists now: established, closing, or in TIME_WAIT (kept 60 s after the
    close by whichever side closed first, so a connection is still listed
    after both processes let it go)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        here, there = _address(local), _address(remote)
        if state == "0A":  # LISTEN
            continue
        if here[1] == port:
            found.add(there)
        elif there[1] == port:
            found.add(here)
    return found


class PeerWitness:
    """Samples, in a thread, which addresses connect to a server's port.

    The server keeps no record of its clients' addresses (that is what the
    seizure test checks), so the kernel's table is where a test learns that
    its clients really reached the server from the address it searches
    for. Connections open before the witness started are left out."""

    def __init__(self, port: int, every: float = 0.02) -> None:
        self.port = port
        self.every = every
        self._before = loopback_peers(port)
        self._seen: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while True:
            self._seen |= loopback_peers(self.port) - self._before
            if self._stop.wait(self.every):
                self._seen |= loopback_peers(self.port) - self._before
                return

    def __enter__(self) -> PeerWitness:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def addresses(self) -> Counter[str]:
        """How many connections came from each address."""
        return Counter(address for address, _ in self._seen)
