"""What a handler signs to log in: the server's challenge, the compartment,
and the name of the server the desk meant to reach.

The desk and the server build the same bytes here, so the two cannot drift.

The name closes a relay: a phishing server at another address could pass
the real server's challenge to a desk and the desk's signature back,
winning a token for the compartment's ciphertext and metadata. With the
name the desk dialled inside the signature, the real server refuses a
signature made for any name but its own (``server/_handlers.py``: it
checks where it knows its name, i.e. on its onion addresses). Version 1,
without the name, is what desks older than the name sent; a server checks
names only where it knows its own, and there it requires version 2.
"""

from __future__ import annotations

_V1 = b"shoal handler login v1\n"
_V2 = b"shoal handler login v2\n"


def handler_login_message(nonce: bytes, compartment_id: str, host: str | None) -> bytes:
    """The bytes a handler's key signs; ``host`` ``None`` is version 1."""
    if host is None:
        return _V1 + nonce + compartment_id.encode()
    return _V2 + nonce + compartment_id.encode() + b"\n" + host.encode()
