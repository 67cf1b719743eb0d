"""The enrollment bundle a handler's desk hands to command (docs/api.md)::

    shoal enrollment v1
    recipient <age recipient>
    verify-key <base64 Ed25519 public key>

It carries only public keys, so it may travel by any channel; what command
must check out of band is that it came from the handler (by comparing the
handler id, a fingerprint of the verify key, over a trusted channel).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .. import crypto, org
from .errors import EnrollmentError

MAGIC = "shoal enrollment v1"


@dataclass(frozen=True)
class Enrollment:
    recipient: crypto.AgeRecipient
    verify_key: crypto.VerifyKey

    @property
    def handler_id(self) -> str:
        return org.handler_id_for(self.verify_key)

    def text(self) -> str:
        key = base64.b64encode(self.verify_key.public_bytes).decode()
        return f"{MAGIC}\nrecipient {self.recipient}\nverify-key {key}\n"

    @classmethod
    def parse(cls, text: str) -> Enrollment:
        # Bundles travel through mail and chat, which add blank lines,
        # carriage returns and indentation; nothing else is tolerated.
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) != 3 or lines[0] != MAGIC:
            raise EnrollmentError("not a shoal enrollment v1 bundle")
        fields = {}
        for line in lines[1:]:
            key, _, value = line.partition(" ")
            fields[key] = value.strip()
        if fields.keys() != {"recipient", "verify-key"}:
            raise EnrollmentError("an enrollment bundle has one recipient and one verify-key")
        try:
            recipient = crypto.parse_recipient(fields["recipient"])
            verify_key = crypto.VerifyKey(base64.b64decode(fields["verify-key"], validate=True))
        except (binascii.Error, crypto.KeyFormatError):
            raise EnrollmentError("malformed key in the enrollment bundle") from None
        return cls(recipient, verify_key)
