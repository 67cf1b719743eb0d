"""What the trusted machines share: command's machine and handlers' desks
(and, later, members' field clients).

Files written all or nothing, keystores behind a passphrase, and the
enrollment bundle a desk hands to command. The server never imports this
package: it holds no keystore and writes through :mod:`shoal.store`.
"""

from ..store import PendingFile
from ._cli import ErrorReportingGroup, passphrase_file_option, read_passphrase, work_factor_option
from ._enrollment import Enrollment
from ._files import make_private_dir, read_json, write_atomic, write_json
from ._keystore_file import create_keystore, unlock_keystore
from .errors import (
    EnrollmentError,
    PassphraseError,
    StateFileError,
    TrustedError,
    WrongPassphraseError,
)

__all__ = [
    "Enrollment",
    "EnrollmentError",
    "ErrorReportingGroup",
    "PassphraseError",
    "PendingFile",
    "StateFileError",
    "TrustedError",
    "WrongPassphraseError",
    "create_keystore",
    "make_private_dir",
    "passphrase_file_option",
    "read_json",
    "read_passphrase",
    "unlock_keystore",
    "work_factor_option",
    "write_atomic",
    "write_json",
]
