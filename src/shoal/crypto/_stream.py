"""The age payload: STREAM over ChaCha20-Poly1305 in 64 KiB chunks.

Spec: "Payload". These are pure incremental cores: they take bytes and return
bytes, do no I/O, and are driven by the file, iterator and async shells in
``_age.py``.

Dangerous details, all enforced here:

* The chunk nonce is an 11-byte big-endian counter and a last-chunk flag.
  The encryptor holds the last (possibly full) chunk back until it knows more
  data follows, because the flag must be set on exactly one chunk.
* The decryptor returns plaintext of non-final chunks as soon as they verify.
  A stream cut short is detected only at :meth:`StreamDecryptor.finalize`:
  callers must treat everything returned so far as unconfirmed until then
  (``decrypt_to_file`` renames only after it).
* A final chunk may be empty only when it is the whole payload.

Speed: whole chunks are taken straight from the caller's buffer through a
memoryview, so only the pieces that straddle two calls are copied; the
per-chunk overhead beyond the AEAD is a nonce build and a slice.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import PayloadError

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
PAYLOAD_INFO = b"payload"
# Chunk counters are 11 bytes: far beyond any file, but checked all the same.
_MAX_COUNTER = (1 << 88) - 1


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=nonce, info=PAYLOAD_INFO).derive(file_key)


def _nonce(counter: int, last: bool) -> bytes:
    if counter > _MAX_COUNTER:
        raise PayloadError("STREAM counter overflow")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class StreamEncryptor:
    """Feed plaintext with :meth:`update`, end with :meth:`finalize`."""

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._pending = bytearray()
        self._done = False

    def _seal(self, data: bytes | bytearray | memoryview, last: bool) -> bytes:
        out = self._aead.encrypt(_nonce(self._counter, last), data, None)
        self._counter += 1
        return out

    def update(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Encrypt what can be; return the finished ciphertext chunks."""
        if self._done:
            raise ValueError("encryptor already finalized")
        out: list[bytes] = []
        view = memoryview(data).cast("B")
        pos, end = 0, len(view)
        while pos < end:
            if len(self._pending) == CHUNK_SIZE:
                # More data follows, so the held-back chunk is not the last.
                out.append(self._seal(self._pending, last=False))
                self._pending.clear()
            if not self._pending and end - pos > CHUNK_SIZE:
                out.append(self._seal(view[pos : pos + CHUNK_SIZE], last=False))
                pos += CHUNK_SIZE
                continue
            take = min(CHUNK_SIZE - len(self._pending), end - pos)
            self._pending += view[pos : pos + take]
            pos += take
        return out

    def finalize(self) -> bytes:
        """The final chunk (empty plaintext only if nothing was written)."""
        if self._done:
            raise ValueError("encryptor already finalized")
        self._done = True
        out = self._seal(self._pending, last=True)
        self._pending.clear()
        return out


class StreamDecryptor:
    """Feed ciphertext with :meth:`update`, end with :meth:`finalize`."""

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._pending = bytearray()
        self._done = False

    def _open(self, data: bytes | bytearray | memoryview, last: bool) -> bytes:
        try:
            out = self._aead.decrypt(_nonce(self._counter, last), data, None)
        except InvalidTag:
            raise PayloadError("payload chunk failed authentication") from None
        self._counter += 1
        return out

    def update(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Decrypt every chunk known not to be the last; return plaintexts.

        A full chunk followed by more data must be a non-final chunk; a
        final chunk followed by data (trailing garbage) fails here too,
        because it does not verify under the non-final nonce.
        """
        if self._done:
            raise ValueError("decryptor already finalized")
        out: list[bytes] = []
        view = memoryview(data).cast("B")
        pos, end = 0, len(view)
        while pos < end:
            if len(self._pending) == ENCRYPTED_CHUNK_SIZE:
                out.append(self._open(self._pending, last=False))
                self._pending.clear()
            if not self._pending and end - pos > ENCRYPTED_CHUNK_SIZE:
                out.append(self._open(view[pos : pos + ENCRYPTED_CHUNK_SIZE], last=False))
                pos += ENCRYPTED_CHUNK_SIZE
                continue
            take = min(ENCRYPTED_CHUNK_SIZE - len(self._pending), end - pos)
            self._pending += view[pos : pos + take]
            pos += take
        return out

    def finalize(self) -> bytes:
        """Verify the final chunk and return its plaintext."""
        if self._done:
            raise ValueError("decryptor already finalized")
        self._done = True
        if len(self._pending) < TAG_SIZE:
            raise PayloadError("payload is truncated: no final chunk")
        out = self._open(self._pending, last=True)
        if not out and self._counter > 1:
            raise PayloadError("final chunk is empty")
        self._pending.clear()
        return out
