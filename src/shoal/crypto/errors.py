"""Errors raised by :mod:`shoal.crypto`, by origin.

::

    CryptoError                 root of everything this package raises
    ├── KeyFormatError          a key string, codename or keystore is malformed
    ├── SignatureError          an Ed25519 signature does not verify, or a
    │                           note has no signature from a trusted key
    ├── NoteFormatError         a signed note is malformed
    ├── EnvelopeError           a decrypted item's framing, padding or
    │                           digest is wrong
    ├── RecipientError          a recipient set that must not be used
    │   └── MixedRecipientsError  classic and post-quantum (or scrypt and
    │                             anything) in one file
    └── DecryptionError         the one error a caller of decrypt sees
        ├── HeaderError         malformed header or stanza, unsupported
        │                       version, missing payload nonce
        ├── HMACError           the header MAC does not verify
        ├── NoIdentityMatchError  no identity could unwrap the file key
        ├── PayloadError        a STREAM chunk failed, the stream was cut
        │                       short, or data follows the final chunk
        └── ArmorError          the ASCII armor is not strict PEM

Callers catch :class:`DecryptionError`. The subclasses exist so that the
C2SP test kit can check each failure separately; code that talks to an
untrusted peer must not tell it which one happened (a padding- or
partitioning-oracle lesson), so the server's answers never name them.

Messages never contain key material, plaintext or passphrases.
"""


class CryptoError(Exception):
    """Root of every error raised by shoal.crypto."""


class KeyFormatError(CryptoError):
    """A key, codename or keystore could not be parsed."""


class SignatureError(CryptoError):
    """A signature does not verify for the message and key given."""


class NoteFormatError(CryptoError):
    """A signed note is not in the C2SP signed-note format."""


class EnvelopeError(CryptoError):
    """A decrypted item is not a well-formed Shoal item envelope."""


class RecipientError(CryptoError):
    """The recipients given to encrypt cannot be used together."""


class MixedRecipientsError(RecipientError):
    """Post-quantum and classic recipients, or scrypt with others, in one file."""


class DecryptionError(CryptoError):
    """The file could not be decrypted. The one error callers need to catch."""


class HeaderError(DecryptionError):
    """The age header or one of its stanzas is malformed."""


class HMACError(DecryptionError):
    """The header MAC does not match: the header was modified."""


class NoIdentityMatchError(DecryptionError):
    """None of the identities could unwrap the file key."""


class PayloadError(DecryptionError):
    """The payload failed authentication, was truncated or has trailing data."""


class ArmorError(DecryptionError):
    """The ASCII armor is malformed."""
