"""C2SP signed notes with Ed25519 signatures (reference/signed-note.md).

Command signs each compartment's membership (a numbered, expiring epoch) as
a signed note; servers, desks and field clients accept a recipient set only
from a note that a key they already trust signed. The note text MUST be
ignored unless that verification succeeds, so :func:`open_note` returns the
text only after it.

Verification follows the spec's rules: signatures from unknown keys (name
and id not both matching) are ignored; a known key whose signature fails
rejects the whole note; a note with no verified known signature is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._signing import SigningKey, VerifyKey
from .errors import KeyFormatError, NoteFormatError, SignatureError

ED25519_TYPE = 0x01
EM_DASH = "\u2014"
#: The spec asks verifiers to accept at least 16 signatures; the size bound
#: keeps a hostile server from making a client parse megabytes.
MAX_SIGNATURES = 64
MAX_NOTE_SIZE = 1 << 20
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
# A lone surrogate (what Python makes of undecodable bytes in a command
# line or a file read with "surrogateescape") cannot be UTF-8 encoded, so
# it could be neither hashed into a key id nor signed: refuse it as input.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NAME = re.compile(r"\A[^\s+\ud800-\udfff]+\Z")
_SIG_LINE = re.compile(r"\A\u2014 ([^\s+]+) ([A-Za-z0-9+/=]+)\Z")


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_TYPE]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise KeyFormatError("a note key name must be non-empty, without spaces or '+'")


class NoteVerifier:
    """A trusted Ed25519 note key: ``<name>+<hex id>+<base64(0x01 || key)>``."""

    def __init__(self, name: str, key: VerifyKey) -> None:
        _check_name(name)
        self.name = name
        self.key = key
        self.key_id = _key_id(name, key.public_bytes)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        # The base64 key may itself contain "+": split at the first two only.
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise KeyFormatError("malformed note verifier key")
        try:
            material = base64.b64decode(parts[2], validate=True)
        except ValueError:  # binascii.Error, or a character that is not ASCII
            raise KeyFormatError("malformed note verifier key") from None
        # One spelling per key: Python's decoder also takes stray padding.
        if base64.b64encode(material).decode() != parts[2]:
            raise KeyFormatError("malformed note verifier key")
        if len(material) != 33 or material[0] != ED25519_TYPE:
            raise KeyFormatError("not an Ed25519 note verifier key")
        verifier = cls(parts[0], VerifyKey(material[1:]))
        if verifier.key_id.hex() != parts[1]:
            raise KeyFormatError("note verifier key id does not match its key")
        return verifier

    def __str__(self) -> str:
        material = base64.b64encode(bytes([ED25519_TYPE]) + self.key.public_bytes).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def __repr__(self) -> str:
        return f"NoteVerifier({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoteVerifier) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))


class NoteSigner:
    """An Ed25519 key that signs notes under a name."""

    def __init__(self, name: str, key: SigningKey) -> None:
        self.verifier = NoteVerifier(name, key.verify_key)
        self._key = key

    @property
    def name(self) -> str:
        return self.verifier.name

    def signature_line(self, text: str) -> str:
        signature = self.verifier.key_id + self._key.sign(text.encode())
        return f"{EM_DASH} {self.name} {base64.b64encode(signature).decode()}\n"

    def __repr__(self) -> str:
        return f"NoteSigner({self.name!r})"


@dataclass(frozen=True)
class Note:
    """A verified note: its text and the names of the trusted keys that signed it."""

    text: str
    signed_by: tuple[str, ...]


def _check_text(text: str) -> None:
    if _CONTROL.search(text):
        raise NoteFormatError("a note may contain no control characters but newline")
    if _SURROGATE.search(text):
        raise NoteFormatError("a note must be valid UTF-8")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: ``text`` (ending in a newline), a blank line, signatures."""
    if not text.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    if not signers:
        raise ValueError("a note needs at least one signer")
    _check_text(text)
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def _signature(line: str) -> tuple[str, bytes, bytes]:
    """A signature line's key name, key id and signature bytes.

    One signature, one spelling: base64 with stray low bits in its last
    character is refused, so no two lines read the same.
    """
    match = _SIG_LINE.match(line)
    if match is None:
        raise NoteFormatError("malformed note signature line")
    try:
        raw = base64.b64decode(match.group(2), validate=True)
    except binascii.Error:
        raise NoteFormatError("malformed note signature") from None
    if len(raw) < 5 or base64.b64encode(raw).decode() != match.group(2):
        raise NoteFormatError("malformed note signature")
    return match.group(1), raw[:4], raw[4:]


def _as_text(note: str | bytes) -> str:
    if len(note) > MAX_NOTE_SIZE:
        raise NoteFormatError("note too large")
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteFormatError("note is not valid UTF-8") from None
    _check_text(note)
    return note


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Verify ``note`` and return its text; raise unless a trusted key signed it."""
    note = _as_text(note)
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteFormatError("malformed note: no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block[:-1].split("\n")
    if not block or len(lines) > MAX_SIGNATURES:
        raise NoteFormatError("malformed note: bad signature count")
    known = {(v.name, v.key_id): v for v in verifiers}
    signed_by: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for name, key_id, signature in map(_signature, lines):
        if (name, key_id) in seen:
            raise NoteFormatError("the same key signs the note twice")
        seen.add((name, key_id))
        verifier = known.get((name, key_id))
        if verifier is None:
            continue  # unknown key: ignored, as the spec requires
        verifier.key.verify(signature, text.encode())  # a failure rejects the note
        signed_by.append(verifier.name)
    if not signed_by:
        raise SignatureError("the note is not signed by any trusted key")
    return Note(text, tuple(signed_by))
