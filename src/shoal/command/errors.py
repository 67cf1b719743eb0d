"""Errors raised by :mod:`shoal.command`, by origin.

::

    CommandError              root of everything this package raises
    ├── StateError            the state directory is not initialized, is
    │                         already initialized, or its state file or
    │                         keystore does not match the organization
    ├── RequestError          the operator asked for what cannot be: an
    │                         unknown or duplicate door or handler, a
    │                         bundle of the wrong key type
    ├── EpochRefusedError     an epoch that must not be signed: no
    │                         recipient at all, or recipients of more than
    │                         one key type
    └── BusyError             another command holds the state directory

Problems with files, passphrases and bundles come from :mod:`shoal.trusted`.
"""


class CommandError(Exception):
    """Root of every error raised by shoal.command."""


class StateError(CommandError):
    """Command's state directory is missing, taken, or inconsistent."""


class RequestError(CommandError):
    """The operator's request contradicts the organization as it stands."""


class EpochRefusedError(CommandError):
    """An epoch was refused before signing: it would strand or mix recipients."""


class BusyError(CommandError):
    """Another shoal command holds the state directory's lock."""
