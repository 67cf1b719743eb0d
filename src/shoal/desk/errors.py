"""Errors raised by :mod:`shoal.desk`, by origin.

::

    DeskError                 root of everything this package raises
    ├── NotReadyError         the desk is not set up for this step: not
    │                         enrolled, never synced, an unknown item or
    │                         contact; or its own state files disagree
    ├── ServerError           the server answered, but with an error or
    │                         with data that is malformed (an untrusted peer)
    ├── UnreachableError      the transport failed: no connection, timeout
    ├── ItemError             a local item does not open: damaged, or not
    │                         encrypted to this desk
    │   └── ImageRefused      (in ._imaging) an image the sanitizer would not
    │                         or could not re-encode: shown as a download only
    ├── ReplyRefusedError     a reply that must not be sent: the contact's
    │                         recipient is of another key type
    ├── ForwardRefusedError   a forward that must not be sent: a rejected or
    │   │                     damaged item, a file whose metadata cannot be
    │   │                     removed, a name that is no door
    │   └── ScrubRefused      (in ._scrubbing) a file the confined scrub worker
    │                         would not or could not clean
    ├── ExportError           reports could not be exported: the target folder
    │                         is in use, or a field is malformed
    └── ManifestError         an export folder does not match its signed
                              manifest (the first problem found)

Problems with files, passphrases and keystores, and signed notes that do
not establish trust (:class:`shoal.trusted.TrustError`: not signed by the
enrolled root key, a retired command key, an epoch rolled back, expired or
shown in two versions, or this desk not in the epoch), come from
:mod:`shoal.trusted`. Messages carry no plaintext and no key material;
text that came from the server is cut to printable ASCII first.
"""


class DeskError(Exception):
    """Root of every error raised by shoal.desk."""


class NotReadyError(DeskError):
    """The desk lacks what this step needs, or its state is inconsistent."""


class ServerError(DeskError):
    """The server refused a request or sent something malformed.

    ``status`` is the HTTP status of a refusal, ``None`` for a malformed answer.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UnreachableError(DeskError):
    """The server could not be reached, or stopped answering."""


class ItemError(DeskError):
    """A local item could not be decrypted or unframed."""


class ReplyRefusedError(DeskError):
    """A reply was refused before it was encrypted."""


class ForwardRefusedError(DeskError):
    """A forward that must not be sent (nothing was sent)."""


class ExportError(DeskError):
    """Reports could not be exported: a target folder in use, or a bad field."""


class ManifestError(DeskError):
    """An export folder does not match its signed manifest; the message names
    the first problem found."""
