"""Errors raised by :mod:`shoal.org`.

::

    OrgError                 root
    ├── NoteContentError     a verified note's text is not what it claims
    │                        (wrong kind, organization or compartment,
    │                        malformed lines)
    └── EpochError           an epoch must not be used: expired, older than
                             one already seen, or it would strand data

Signature failures come from :mod:`shoal.crypto` (``SignatureError``,
``NoteFormatError``): a note that does not verify is never parsed here.
"""


class OrgError(Exception):
    """Root of every error raised by shoal.org."""


class NoteContentError(OrgError):
    """A signed note verified, but its text is not a valid record."""


class EpochError(OrgError):
    """An epoch is expired, rolled back, or otherwise unusable."""
