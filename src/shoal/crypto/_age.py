"""Encrypting and decrypting whole age files: pure cores and their shells.

:class:`Encryption` and :class:`Decryption` are incremental state machines
over bytes (no I/O). Every public way in — bytes, iterators, file objects,
async iterators, decrypt-to-file — is a thin shell that drives one of them,
so the format logic exists once.

Decryption steps and what each failure is (C2SP test kit ``expect``):

    DETECT  whitespace, then "-" means ASCII armor    (unless told)
    ARMOR   strict PEM, streamed beneath the rest     ArmorError
    HEADER  buffer to the MAC line, parse strictly    HeaderError
            identities unwrap the file key            NoIdentityMatchError
            verify the header MAC                     HMACError
    NONCE   16 bytes of payload nonce                 HeaderError
    PAYLOAD STREAM chunks                             PayloadError

Plaintext of a chunk is released as soon as that chunk verifies; a stream
cut short is only known at ``finalize``. Whoever consumes plaintext before
``finalize`` returns must be ready to throw it away.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from . import _header, _stream
from ._armor import ArmorDecoder, ArmorEncoder
from ._recipients import Identity, Recipient
from ._scrypt import STANZA_TYPE as SCRYPT_TYPE
from .errors import (
    DecryptionError,
    HeaderError,
    MixedRecipientsError,
    NoIdentityMatchError,
    RecipientError,
)

Buffer = bytes | bytearray | memoryview
_NOT_WHITESPACE = re.compile(rb"[^ \t\r\n]")
# Leading whitespace kept while detecting armor: one armor line and its newline.
_MAX_WHITESPACE_LINE = 2 * 64 + 1
_HEADER_STEP = 64 * 1024


def _check_recipients(recipients: Sequence[Recipient]) -> None:
    if not recipients:
        raise RecipientError("no recipients")
    types = {r.stanza_type for r in recipients}
    if SCRYPT_TYPE in types and len(recipients) != 1:
        raise MixedRecipientsError(
            "a passphrase (scrypt) recipient must be the file's only recipient"
        )
    if len(types) > 1:
        # The spec's SHOULD NOT, made a MUST here: a file encrypted to a
        # post-quantum and a classic recipient is only as strong as X25519.
        raise MixedRecipientsError(
            "post-quantum and classic X25519 recipients cannot share a file; "
            "re-key the classic recipients or encrypt twice: " + ", ".join(sorted(types))
        )


class Encryption:
    """One file being encrypted. ``update`` and ``finalize`` return output."""

    def __init__(self, recipients: Sequence[Recipient], *, armor: bool = False) -> None:
        _check_recipients(recipients)
        file_key = os.urandom(_header.FILE_KEY_SIZE)
        stanzas = [s for r in recipients for s in r.wrap(file_key)]
        nonce = os.urandom(_stream.NONCE_SIZE)
        self._prefix: bytes | None = _header.encode_header(stanzas, file_key) + nonce
        self._stream = _stream.StreamEncryptor(_stream.payload_key(file_key, nonce))
        self._armor = ArmorEncoder() if armor else None

    def _out(self, chunks: list[bytes]) -> list[bytes]:
        if self._prefix is not None:
            chunks.insert(0, self._prefix)
            self._prefix = None
        if self._armor is not None:
            return [self._armor.update(b"".join(chunks))]
        return chunks

    def update(self, data: Buffer) -> list[bytes]:
        return self._out(self._stream.update(data))

    def finalize(self) -> list[bytes]:
        out = self._out([self._stream.finalize()])
        if self._armor is not None:
            out.append(self._armor.finalize())
        return out


class Decryption:
    """One file being decrypted. ``update`` and ``finalize`` return plaintext."""

    _DETECT, _HEADER, _NONCE, _PAYLOAD = range(4)

    def __init__(self, identities: Sequence[Identity], *, armor: bool | None = None) -> None:
        """``armor``: None to detect ASCII armor, True or False to insist."""
        self._identities = tuple(identities)
        self._state = self._DETECT if armor is None else self._HEADER
        self._buffer = bytearray()
        self._armor: ArmorDecoder | None = ArmorDecoder() if armor else None
        self._file_key = b""
        self._stream: _stream.StreamDecryptor | None = None
        # Sticky, like age's Go reader: after one failure every later call
        # fails too, so a caller that keeps feeding cannot end up with a
        # "clean" finish that silently lost the chunks of the failed call.
        self._failed = False

    @property
    def header_done(self) -> bool:
        """True once the file key is known and the header MAC verified."""
        return self._state >= self._NONCE

    def update(self, data: Buffer) -> list[bytes]:
        if self._failed:
            raise DecryptionError("decryption already failed")
        try:
            return self._update(memoryview(data).cast("B"))
        except DecryptionError:
            self._failed = True
            raise

    def finalize(self) -> list[bytes]:
        if self._failed:
            raise DecryptionError("decryption already failed")
        try:
            return self._finalize()
        except DecryptionError:
            self._failed = True
            raise

    def _update(self, data: memoryview) -> list[bytes]:
        if self._state == self._DETECT:
            found = _NOT_WHITESPACE.search(data)
            if found is None:
                # Only whitespace so far: what matters is the unfinished last
                # line, so keep from the last newline on, and bound it.
                self._buffer += data
                del self._buffer[: max(0, self._buffer.rfind(b"\n"))]
                if len(self._buffer) > _MAX_WHITESPACE_LINE:
                    raise HeaderError("too much leading whitespace")
                return []
            self._state = self._HEADER
            if data[found.start()] != ord("-"):
                if self._buffer or found.start():
                    raise HeaderError("not an age file: leading whitespace")
            else:
                self._armor = ArmorDecoder()
                self._armor.update(self._buffer)  # whitespace only: no output
                self._buffer = bytearray()
        if self._armor is not None:
            return self._binary(memoryview(self._armor.update(data)))
        return self._binary(data)

    def _binary(self, data: memoryview) -> list[bytes]:
        out: list[bytes] = []
        # Header and nonce are small: move input into the buffer a bounded
        # step at a time, so a large first piece is never copied whole.
        while self._state != self._PAYLOAD and data:
            searched = len(self._buffer)
            self._buffer += data[:_HEADER_STEP]
            data = data[_HEADER_STEP:]
            if self._state == self._HEADER:
                end = _header.find_end(self._buffer, searched)
                if end is None:
                    continue
                self._unwrap(_header.parse(bytes(self._buffer[:end])))
                del self._buffer[:end]
                self._state = self._NONCE
            if len(self._buffer) >= _stream.NONCE_SIZE:
                nonce = bytes(self._buffer[: _stream.NONCE_SIZE])
                rest = bytes(self._buffer[_stream.NONCE_SIZE :])
                self._buffer = bytearray()
                self._stream = _stream.StreamDecryptor(_stream.payload_key(self._file_key, nonce))
                self._file_key = b""
                self._state = self._PAYLOAD
                out += self._stream.update(rest)
        if self._state == self._PAYLOAD and data:
            assert self._stream is not None
            out += self._stream.update(data)
        return out

    def _unwrap(self, header: _header.Header) -> None:
        types = [s.type for s in header.stanzas]
        if SCRYPT_TYPE in types and len(types) != 1:
            raise HeaderError("an scrypt stanza must be alone in the header")
        for identity in self._identities:
            file_key = identity.unwrap(header.stanzas)
            if file_key is not None:
                break
        else:
            raise NoIdentityMatchError("no identity matched any of the file's recipients")
        _header.verify_mac(header, file_key)
        self._file_key = file_key

    def _finalize(self) -> list[bytes]:
        out: list[bytes] = []
        if self._state == self._DETECT:
            # Nothing but whitespace (or nothing): not an age file.
            raise HeaderError("not an age file")
        if self._armor is not None:
            out = self._binary(memoryview(self._armor.finalize()))
        if self._state == self._HEADER:
            raise HeaderError("truncated header")
        if self._state == self._NONCE:
            raise HeaderError("truncated payload nonce")
        assert self._stream is not None
        out.append(self._stream.finalize())
        return out
