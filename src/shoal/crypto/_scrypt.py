"""The scrypt passphrase recipient type (spec: "The scrypt recipient type").

Shoal uses it for keystores only: a person's identities and signing key in
one file that their passphrase opens. An scrypt stanza must be the only
stanza of its file; ``_age.py`` enforces that for every identity, because
the rule protects the passphrase holder's expectation that nobody else can
read or have written the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from . import _base64
from ._header import FILE_KEY_SIZE, Stanza
from .errors import HeaderError

STANZA_TYPE = "scrypt"
SCRYPT_SALT_LABEL = b"age-encryption.org/v1/scrypt"
#: age's default: about a second on a laptop.
DEFAULT_WORK_FACTOR = 18
#: Files asking for more are refused before any work (spec SHOULD; the
#: C2SP test kit expects 23 to fail). 2**22 x 1 KiB is 4 GiB of memory.
MAX_WORK_FACTOR = 22
_ZERO_NONCE = bytes(12)
_WORK_FACTOR = re.compile(r"\A[1-9][0-9]*\Z")


def _wrap_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=SCRYPT_SALT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase


class ScryptRecipient:
    """Encrypt to a passphrase. ``work_factor`` is log2 of scrypt's N."""

    stanza_type = STANZA_TYPE

    def __init__(self, passphrase: str | bytes, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        if not 1 <= work_factor <= MAX_WORK_FACTOR:
            raise ValueError(f"scrypt work factor must be in 1..{MAX_WORK_FACTOR}")
        self._passphrase = _passphrase_bytes(passphrase)
        self._work_factor = work_factor

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self._work_factor})"

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = os.urandom(16)  # fresh per stanza and per file (spec MUST)
        key = _wrap_key(self._passphrase, salt, self._work_factor)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        args = (STANZA_TYPE, _base64.encode(salt).decode(), str(self._work_factor))
        return [Stanza(args, body)]


class ScryptIdentity:
    """Decrypt with a passphrase, refusing work factors above the limit."""

    def __init__(self, passphrase: str | bytes, max_work_factor: int = MAX_WORK_FACTOR) -> None:
        self._passphrase = _passphrase_bytes(passphrase)
        self._max_work_factor = max_work_factor

    def __repr__(self) -> str:
        return "ScryptIdentity(<passphrase>)"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != STANZA_TYPE:
                continue
            if len(stanza.args) != 3:
                raise HeaderError("scrypt stanza needs exactly three arguments")
            salt = _base64.decode(stanza.args[1].encode(), length=16)
            if not _WORK_FACTOR.match(stanza.args[2]):
                raise HeaderError("scrypt work factor is not a plain decimal")
            work_factor = int(stanza.args[2])
            if work_factor > self._max_work_factor:
                raise HeaderError("scrypt work factor is above the limit")
            if len(stanza.body) != FILE_KEY_SIZE + 16:
                raise HeaderError("scrypt stanza body has the wrong size")
            key = _wrap_key(self._passphrase, salt, work_factor)
            try:
                return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
            except InvalidTag:
                continue
        return None
