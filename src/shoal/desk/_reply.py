"""A handler's reply to a contact, sealed on the desk.

Encrypted to the contact's recipient and to the current epoch's
recipients, so the whole conversation survives on every desk of the
compartment and only the contact and the compartment can read it; signed
inside the encryption by the handler, so that a seized server cannot
write "a handler's reply" (DESIGN.md, "Contacts' sessions, replies").
Pure: keys, contact, trust and ``now`` in, the age file out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .. import crypto, org
from ..trusted import Trust
from ._state import ContactMeta
from .errors import ReplyRefusedError


def seal_reply(
    text: str, *, contact: ContactMeta, trust: Trust, key: crypto.SigningKey, now: datetime
) -> bytes:
    if contact.recipient is None or not contact.accepted:
        raise ReplyRefusedError(
            f"ties with contact {contact.contact_id} are cut: they can receive no reply"
        )
    wanted = trust.organization.key_type
    found = crypto.key_type_of(contact.recipient)
    if found is not wanted:
        # One file never mixes classic and post-quantum recipients: the
        # classic stanza would be the weak link against a quantum adversary.
        raise ReplyRefusedError(
            f"contact {contact.contact_id} has a {found.value} recipient, but the "
            f"organization's items are {wanted.value}: no reply can be sealed to both"
        )
    header = {
        "kind": "reply",
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contact": contact.contact_id,
        "compartment": trust.compartment_id,
        "handler": org.handler_id_for(key.verify_key),
    }
    recipients = [contact.recipient, *trust.current.recipients()]
    return crypto.encrypt_item(recipients, header, text.encode("utf-8"), signer=key)
