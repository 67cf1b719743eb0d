"""Errors raised by :mod:`shoal.field`, by origin.

::

    FieldError                  root of everything this package raises
    ├── DeviceStoreError        the store on this device is missing, already
    │                           there when it must not be, damaged, or in use
    │                           by another process
    ├── PassphraseError         a passphrase that cannot be used: empty, or the
    │   │                       same as the other key slot's
    │   └── WrongPassphraseError  no key slot opens with it (also what the real
    │                           passphrase gets after the duress passphrase
    │                           destroyed its slot)
    ├── NotEnrolledError        nothing enrolled on this device
    ├── OfflineError            no connection: the outbox keeps what it holds
    ├── ServerError             the server refused (its status kept)
    └── ScrubRefusedError       a file whose metadata cannot be removed

What the server shows that does not verify against the organization's key
is a :class:`shoal.trusted.TrustError`, as on the desk.

Messages name files and directories, never passphrases, logical record
names or key material.
"""


class FieldError(Exception):
    """Root of every error raised by shoal.field."""


class DeviceStoreError(FieldError):
    """The on-device store is missing, unexpected, damaged or busy."""


class PassphraseError(FieldError):
    """A passphrase that cannot be used for this."""


class WrongPassphraseError(PassphraseError):
    """No key slot of the store opens with the passphrase given."""


class NotEnrolledError(FieldError):
    """This device holds no enrolment (or only what a decoy shows)."""


class OfflineError(FieldError):
    """No connection to the server (or it failed): try again later."""


class ServerError(FieldError):
    """The server refused a request (``status``), or answered something
    malformed (``status`` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ScrubRefusedError(FieldError):
    """A file whose metadata cannot be removed: it is not added to the report."""
