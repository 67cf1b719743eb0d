"""Errors raised by :mod:`shoal.trusted`, by origin.

::

    TrustedError                root of everything this package raises
    ├── StateFileError          a state file or keystore is missing, already
    │                           there when it must not be, or malformed
    ├── PassphraseError         no usable passphrase (empty, unreadable file)
    │   └── WrongPassphraseError  the keystore does not open with it
    ├── EnrollmentError         an enrollment bundle is malformed
    └── TrustError              the organization's signed notes, as the server
                                shows them, do not establish what to trust

Messages name files, never passphrases or key material.
"""


class TrustedError(Exception):
    """Root of every error raised by shoal.trusted."""


class StateFileError(TrustedError):
    """A state file is missing, unexpected, or not what it should be."""


class PassphraseError(TrustedError):
    """No usable passphrase was given."""


class WrongPassphraseError(PassphraseError):
    """The keystore does not open with the passphrase given."""


class EnrollmentError(TrustedError):
    """An enrollment bundle could not be parsed."""


class TrustError(TrustedError):
    """The organization's signed notes, as the server shows them, are not trusted."""
