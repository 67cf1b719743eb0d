"""The server's own key: it signs the audit log's checkpoints, nothing else.

Not a handler's or command's key (the server never holds those): signing
checkpoints proves nothing about who acted — entries are signed inside
their encryption by the handlers themselves — but it commits the server to
one history. A seized server can sign what it likes with it; what it cannot
do is show two desks two histories, or take one back, without a desk
noticing (``shoal.org._tlog``: consistency proofs; desks pin this key on
first use).

``DIR/audit.key`` holds the 32-byte Ed25519 seed, mode 0600, created once
(exclusively: two server processes starting together agree on one key).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .. import crypto, org
from ..durable import PendingFile

KEY_NAME = "audit.key"
_SEED_SIZE = 32


def origin_of(org_id: str) -> str:
    """The log's origin, which is also its key's note name."""
    return f"shoal/{org_id}/audit"


class LogKey:
    """The audit log's signing key, usable only to sign checkpoints."""

    def __init__(self, key: crypto.SigningKey) -> None:
        self._key = key

    def signer(self, organization: org.Organization) -> crypto.NoteSigner:
        return crypto.NoteSigner(origin_of(organization.org_id), self._key)

    def __repr__(self) -> str:
        return "LogKey(…)"


def load_or_create(data_dir: Path) -> LogKey:
    path = data_dir / KEY_NAME
    if not path.exists():
        # Written whole under a temporary name, then linked: a second
        # process racing this one finds either no key or the whole key.
        with contextlib.suppress(FileExistsError), PendingFile(data_dir) as pending:
            pending.file.write(crypto.SigningKey.generate().seed_bytes())
            pending.commit(path, replace=False)
    seed = path.read_bytes()
    if len(seed) != _SEED_SIZE:
        raise ValueError(f"{path} is damaged: it should hold a 32-byte key")
    return LogKey(crypto.SigningKey(seed))
