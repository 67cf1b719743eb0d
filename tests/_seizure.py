"""Searching a seized machine's bytes for secrets, in every encoding that
could hide them. Shared by the server's and the end-to-end seizure tests;
``tests/server/test_seizure.py`` checks the search itself.
"""

from __future__ import annotations

import base64
from pathlib import Path


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
            found[f"{name}+{shift}"] = encode(bytes(shift) + secret)[4 * first : 4 * end]
    return found


def hits(corpus: dict[str, bytes], secret: bytes) -> list[str]:
    return [
        f"{encoding} in {where}"
        for encoding, needle in encodings(secret).items()
        for where, data in corpus.items()
        if needle in data
    ]


def corpus_of(*roots: Path) -> dict[str, bytes]:
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            found[f"name of {path}"] = str(path).encode()
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found
