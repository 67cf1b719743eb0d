"""Which replies a contact may see: the server's check of authorship.

age proves nothing about who wrote a file, and the server knows every
recipient, so anyone who could write to the database (a seized-and-returned
server) could encrypt a "reply" to a contact. A reply is therefore shown
only if, inside the encryption, it is signed by a handler of the
compartment's current verified epoch, and its signed header says it is a
reply to this contact, in this compartment, from that handler.

Anything else is silently left out: the contact sees nothing, and nothing
about it is logged (a log line would tie a contact to a forgery attempt).
"""

from __future__ import annotations

from .. import crypto, org

REPLY_KIND = "reply"


def open_reply(
    ciphertext: bytes,
    identity: crypto.AgeIdentity,
    epoch: org.Epoch,
    contact_id: str,
) -> str | None:
    """The reply's text if it passes every check above, else ``None``."""
    try:
        envelope, content = crypto.decrypt_item(ciphertext, [identity])
    except crypto.CryptoError:
        return None
    # decrypt_item has verified the signature against envelope.signer; what
    # remains is whether that key may sign replies here.
    handler = epoch.handler(envelope.signer) if envelope.signer is not None else None
    if handler is None:
        return None
    header = envelope.header
    expected = {
        "kind": REPLY_KIND,
        "contact": contact_id,
        "compartment": epoch.compartment_id,
        "handler": handler.handler_id,
    }
    if any(header.get(key) != value for key, value in expected.items()):
        return None
    # Signed by a handler, so not hostile; a stray invalid byte stays visible.
    return content.decode("utf-8", "replace")
