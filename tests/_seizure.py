"""Searching a seized machine's bytes for secrets, in every encoding that
could hide them. Shared by the server's and the end-to-end seizure tests;
``tests/server/test_seizure.py`` checks the search itself.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from shoal.server import load_config

#: The shortest base64 run worth searching for (see ``encodings``).
MIN_BASE64_NEEDLE = 8


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
