"""What the trusted machines share: command's machine, handlers' desks and
members' field clients.

Files written all or nothing, keystores behind a passphrase, the
enrollment bundle a desk hands to command, and which epochs to believe of
what the server shows (``_trust``). The server never imports this
package: it holds no keystore and writes through :mod:`shoal.store`.
"""

from ..durable import PendingFile
from ._cli import ErrorReportingGroup, passphrase_file_option, read_passphrase, work_factor_option
from ._enrollment import Enrollment
from ._files import make_private_dir, read_json, write_atomic, write_json
from ._http import exchange, json_object
from ._keystore_file import create_keystore, unlock_keystore
from ._trust import (
    Acceptance,
    AcceptedEpoch,
    OrgDocument,
    Trust,
    accept,
    partner_epoch,
    rebuild,
)
from .errors import (
    EnrollmentError,
    PassphraseError,
    StateFileError,
    TrustedError,
    TrustError,
    WrongPassphraseError,
)

__all__ = [
    "Acceptance",
    "AcceptedEpoch",
    "Enrollment",
    "EnrollmentError",
    "ErrorReportingGroup",
    "OrgDocument",
    "PassphraseError",
    "PendingFile",
    "StateFileError",
    "Trust",
    "TrustError",
    "TrustedError",
    "WrongPassphraseError",
    "accept",
    "create_keystore",
    "exchange",
    "json_object",
    "make_private_dir",
    "partner_epoch",
    "passphrase_file_option",
    "read_json",
    "read_passphrase",
    "rebuild",
    "unlock_keystore",
    "work_factor_option",
    "write_atomic",
    "write_json",
]
