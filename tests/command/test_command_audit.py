"""Command gathers the log heads desks saw, from their audit entries."""

from __future__ import annotations

import json

from shoal import crypto
from shoal.command._audit import gather
from shoal.org import _tlog as tlog

READING = crypto.generate_identity()
LOG = crypto.NoteSigner("shoal/org/audit", crypto.SigningKey.generate())
ALICE, BOB = crypto.SigningKey.generate(), crypto.SigningKey.generate()
HANDLERS = {ALICE.verify_key: ("alice", "north"), BOB.verify_key: ("bob", "south")}


def head(size: int, seed: bytes) -> str:
    leaves = [tlog.leaf_hash(seed + bytes([i])) for i in range(size)]
    return tlog.sign_checkpoint(tlog.Checkpoint("shoal/org/audit", size, tlog.root(leaves)), LOG)


def entry(signer: crypto.SigningKey | None, checkpoint: str | None) -> bytes:
    content = json.dumps({"action": "move", "reason": "r", "checkpoint": checkpoint}).encode()
    header = {"kind": "audit", "compartment": "c", "handler": "h"}
    return crypto.encrypt_item([READING.recipient()], header, content, signer)


def test_heads_of_one_history_gather_without_alarm() -> None:
    found = gather(
        [("a", entry(ALICE, head(3, b"x"))), ("b", entry(BOB, head(5, b"x"))),
         ("c", entry(ALICE, None))],
        READING, HANDLERS,
    )  # fmt: skip
    assert [(h.handler, h.door, h.size) for h in found.heads] == [
        ("alice", "north", 3),
        ("bob", "south", 5),
    ]
    assert found.forks == () and found.refused == ()


def test_one_size_with_two_roots_is_a_split_view() -> None:
    found = gather(
        [("a", entry(ALICE, head(4, b"x"))), ("b", entry(BOB, head(4, b"y")))], READING, HANDLERS
    )
    assert len(found.forks) == 1
    assert "split view" in found.forks[0] and "alice" in found.forks[0] and "bob" in found.forks[0]


def test_entries_command_cannot_trust_are_refused_not_believed() -> None:
    stranger = crypto.SigningKey.generate()
    other = crypto.encrypt_item(
        [crypto.generate_identity().recipient()], {"kind": "audit"}, b"{}", ALICE
    )
    found = gather(
        [("unsigned", entry(None, head(2, b"x"))), ("stranger", entry(stranger, head(2, b"y"))),
         ("not for command", other), ("junk", b"age-encryption.org/v1\n")],
        READING, HANDLERS,
    )  # fmt: skip
    assert found.heads == () and found.forks == ()
    assert [r.split(":")[0] for r in found.refused] == [
        "unsigned",
        "stranger",
        "not for command",
        "junk",
    ]
