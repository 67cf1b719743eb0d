"""The enrollment bundle a handler's desk hands to command (docs/api.md)::

    shoal enrollment v1
    recipient <age recipient>
    verify-key <base64 Ed25519 public key>
    signature <base64 Ed25519 signature>

It carries only public keys, so it may travel by any channel; what command
must check out of band is that it came from the handler (by comparing the
handler id, a fingerprint of the verify key, over a trusted channel). The
handler id covers the verify key only, so the signature, made with the
handler's signing key over the recipient and verify-key lines, is what binds
the recipient to it: whoever swaps the recipient on the way cannot sign anew.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .. import crypto, org
from .errors import EnrollmentError

MAGIC = "shoal enrollment v1"
SIGNATURE_CONTEXT = b"shoal enrollment v1 signature\n"
_FIELDS = ("recipient", "verify-key", "signature")


def _signed_message(recipient_line: str, verify_key_line: str) -> bytes:
    """What the signature covers: a context string, then the two lines."""
    return SIGNATURE_CONTEXT + f"{recipient_line}\n{verify_key_line}\n".encode()


@dataclass(frozen=True)
class Enrollment:
    """A handler's recipient and verify key. Only :meth:`parse`, which checks
    the signature, may build one from text that crossed a channel."""

    recipient: crypto.AgeRecipient
    verify_key: crypto.VerifyKey

    @property
    def handler_id(self) -> str:
        return org.handler_id_for(self.verify_key)

    def text(self, signing_key: crypto.SigningKey) -> str:
        """The bundle, signed with ``signing_key`` (the one for :attr:`verify_key`)."""
        if signing_key.verify_key != self.verify_key:
            raise ValueError("an enrollment bundle is signed with its own verify key's signing key")
        recipient_line = f"recipient {self.recipient}"
        key = base64.b64encode(self.verify_key.public_bytes).decode()
        verify_key_line = f"verify-key {key}"
        signature = signing_key.sign(_signed_message(recipient_line, verify_key_line))
        signature_line = f"signature {base64.b64encode(signature).decode()}"
        return f"{MAGIC}\n{recipient_line}\n{verify_key_line}\n{signature_line}\n"

    @classmethod
    def parse(cls, text: str) -> Enrollment:
        # Bundles travel through mail and chat, which add blank lines,
        # carriage returns and indentation; nothing else is tolerated.
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines or lines[0] != MAGIC:
            raise EnrollmentError("not a shoal enrollment v1 bundle")
        keys = tuple(line.partition(" ")[0] for line in lines[1:])
        if keys == _FIELDS[:2]:
            raise EnrollmentError(
                "the enrollment bundle is not signed: ask the handler for the bundle"
                " `shoal desk keygen` writes now"
            )
        if keys != _FIELDS:
            raise EnrollmentError(
                "an enrollment bundle has a recipient, a verify-key and a signature line,"
                " in that order, and nothing else"
            )
        recipient_line, verify_key_line, signature_line = lines[1:]
        try:
            recipient = crypto.parse_recipient(recipient_line.partition(" ")[2])
            verify_key = crypto.VerifyKey(_b64(verify_key_line))
        except (binascii.Error, crypto.KeyFormatError):
            raise EnrollmentError("malformed key in the enrollment bundle") from None
        try:
            signature = _b64(signature_line)
        except binascii.Error:
            raise EnrollmentError("malformed signature in the enrollment bundle") from None
        try:
            verify_key.verify(signature, _signed_message(recipient_line, verify_key_line))
        except crypto.SignatureError:
            raise EnrollmentError(
                "the enrollment bundle's signature does not verify:"
                " it was altered or made by someone else"
            ) from None
        return cls(recipient, verify_key)


def _b64(line: str) -> bytes:
    return base64.b64decode(line.partition(" ")[2], validate=True)
