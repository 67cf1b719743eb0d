"""Keystore files: created once, opened with a passphrase.

Command's machine and every desk keep their keys in one age file sealed
with scrypt under a passphrase (:func:`shoal.crypto.seal_keystore`). This
is the file side of it: creating a keystore without ever replacing one,
and opening one with an error that says what went wrong.
"""

from __future__ import annotations

from pathlib import Path

from .. import crypto
from ..crypto.errors import NoIdentityMatchError
from ..durable import PendingFile
from .errors import StateFileError, WrongPassphraseError


def create_keystore(
    path: Path, keystore: crypto.Keystore, passphrase: str, *, work_factor: int
) -> None:
    """Seal ``keystore`` into a new file; an existing keystore is never
    replaced, not even by a second command racing this one (sealing takes
    a second or more: a check before it would leave a window)."""
    refusal = f"{path} already exists: refusing to replace a keystore"
    if path.exists():
        raise StateFileError(refusal)
    sealed = crypto.seal_keystore(keystore, passphrase, work_factor=work_factor)
    try:
        with PendingFile(path.parent) as pending:
            pending.file.write(sealed)
            pending.commit(path, replace=False)
    except FileExistsError:
        raise StateFileError(refusal) from None


def unlock_keystore(path: Path, passphrase: str) -> crypto.Keystore:
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        raise StateFileError(f"no keystore at {path}") from None
    try:
        return crypto.open_keystore(sealed, passphrase)
    except NoIdentityMatchError:
        # On the owner's own machine, telling a mistyped passphrase from a
        # damaged file is a diagnosis, not an oracle: there is no remote
        # party to learn from it.
        raise WrongPassphraseError(f"wrong passphrase for {path}") from None
    except (crypto.DecryptionError, crypto.KeyFormatError):
        raise StateFileError(f"the keystore {path} is damaged") from None
