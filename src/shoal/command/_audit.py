"""Command's part in the audit log: the desks' views, gathered.

Each audit entry a desk appends carries, inside its encryption, the last
log head that desk accepted (DESIGN.md, "The audit log": desks send their
latest checkpoint with their uploads). Entries are sealed to the
compartment and to command's reading identity, so command — who never
talks to the server — reads them from files a desk exported
(``shoal desk audit-export``), checks who signed each, and gathers the
heads every desk saw, across compartments.

Two heads of one size with different roots are a split view on the spot.
Heads of different sizes need a consistency proof only the server can
give, so the gathered heads go to any desk (``shoal desk audit-compare``),
which asks the server for the proofs and checks them against its own
history: a server that showed two desks two histories cannot prove both.

Pure: the entries' bytes, command's identity and the handlers' keys come in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .. import crypto
from ..org import _tlog as tlog


@dataclass(frozen=True)
class SeenHead:
    """A log head one handler's desk had accepted when it wrote an entry."""

    handler: str
    door: str
    note: str
    size: int
    root: bytes


@dataclass(frozen=True)
class Gathered:
    heads: tuple[SeenHead, ...]
    #: Entries that could not be opened or were not signed by a handler.
    refused: tuple[str, ...]
    #: Split views visible without a proof: one size, two roots.
    forks: tuple[str, ...]


def gather(
    entries: Iterable[tuple[str, bytes]],
    identity: crypto.Identity,
    handlers: Mapping[crypto.VerifyKey, tuple[str, str]],
) -> Gathered:
    """``entries``: (name, ciphertext) pairs; ``handlers``: every handler
    key command ever listed, to (handler id, door)."""
    heads: list[SeenHead] = []
    refused: list[str] = []
    for name, sealed in entries:
        try:
            envelope, content = crypto.decrypt_item(sealed, [identity])
        except crypto.CryptoError:
            refused.append(f"{name}: not an entry command can open")
            continue
        signer = handlers.get(envelope.signer) if envelope.signer is not None else None
        if signer is None or envelope.header.get("kind") != "audit":
            refused.append(f"{name}: not an audit entry signed by a handler")
            continue
        try:
            note = json.loads(content).get("checkpoint")
            if note is None:
                continue  # the desk had seen no head yet
            # Parsed, not verified: command does not hold the log's key; the
            # desk that compares them does. The handler's signature vouches
            # that this is the head their desk saw.
            text = note.split("\n\n", 1)[0] + "\n"
            checkpoint = tlog.Checkpoint.parse(text)
        except (ValueError, TypeError, AttributeError, tlog.TlogError):
            refused.append(f"{name}: its checkpoint is malformed")
            continue
        heads.append(SeenHead(signer[0], signer[1], note, checkpoint.size, checkpoint.root))
    forks = []
    by_size: dict[int, SeenHead] = {}
    for head in heads:
        other = by_size.setdefault(head.size, head)
        if other.root != head.root:
            forks.append(
                f"split view: the server showed handler {other.handler} ({other.door!r}) and "
                f"handler {head.handler} ({head.door!r}) two different logs of size {head.size}"
            )
    return Gathered(tuple(heads), tuple(refused), tuple(forks))
