"""The member's store on their own device: one small key slot, sealed records.

Safe calls: :meth:`DeviceStore.create`, :meth:`DeviceStore.open`, the
record methods of the store it returns, and :func:`wipe`. Layout of the
store's directory::

    keyslot             1 byte (scrypt's log2 N), then 2 slots of 512 bytes
    records/<hex>.age   age files: the store's records, sealed to the store
                        key, and files the field client sealed to others

**One small key slot.** Every record is sealed to one age identity, the
store key, which exists on disk only inside a key slot, encrypted under
the passphrase. Destroying the slot's 512 bytes makes every record
unreadable at once, however many GiB there are, so :func:`wipe` overwrites
the slot, fsyncs it, and only then unlinks the files: it takes as long as
a directory listing. It never overwrites the records themselves: that would
take minutes for large files and guarantee nothing, as follows.

**What flash can and cannot guarantee.** SSDs, eMMC and SD cards do not
overwrite in place: their controller writes new data to a fresh block and
remaps the address, and the old block keeps the old bytes until the
controller erases it — maybe much later, and readable meanwhile by anyone
who reads the chip directly. Journaling and copy-on-write file systems
(btrfs, F2FS, APFS, ext4 with ``data=journal``) keep copies of their own.
So overwriting the slot cannot promise that the old slot is gone from the
chip; it promises that the file system, and every tool that reads through
it, no longer has it, and that recovery needs chip-level forensics and
luck. Keeping the secret in one small slot keeps that residue to one block
instead of every record; the records' own ciphertext may linger on the chip
after unlinking too, and is worthless without a slot. What holds whatever
the hardware: a slot is as strong as scrypt and the passphrase, so a strong
passphrase is the real protection and destruction a second line; full-disk
encryption of the device (whose key the hardware can destroy) is the only
erasure flash can really honour.

**Two slots, indistinguishable.** Each slot is ``salt(16) || nonce(12) ||
ChaCha20-Poly1305(scrypt(passphrase, salt), padded JSON)`` with a plaintext
of fixed length; an unused slot is random bytes of the same length. The
real slot sits at a position drawn at creation, opening always derives both
scrypt keys, and rewriting one slot never changes the other: neither the
bytes, the time taken, nor which slot changed tells whether a second
passphrase exists.

**Duress, off by default.** Checkpoints copy devices before anyone types a
passphrase. On a copy, the duress passphrase destroys nothing the examiner
cannot restore, and shows them that the member tried — which can hurt the
member more than anything the store holds. A member who turns it on gets a
second slot (a second store key) whose records are a decoy they chose.
Opening with the duress passphrase first overwrites the real slot in place
and fsyncs it — from that moment every real record is unreadable — then
deletes the real records' files, rewrites its own slot as an ordinary one,
and returns a store on the decoy with :attr:`DeviceStore.duress_opened`
set, so the caller can send the silent alarm (prepare the alarm when duress
is turned on and keep it among the decoy's records: the real store is gone
by the time it is needed). What it cannot hide: a copy made earlier still
holds the real slot and records; someone who decrypts the decoy slot of
such a copy by hand reads its role ``"decoy"``; that copy's ``records/``
holds more files than the decoy's index names; file system timestamps show
when files were deleted.

**Names and sizes.** Logical names map to random file names through an
index record, itself a random name kept inside the slot, so the directory
says nothing but how many files there are and their PADMÉ-padded sizes.
Each record carries its own file name inside the ciphertext, so swapping
two files on disk is detected, not believed.

**All or nothing.** Every file is written through
:class:`shoal.store.PendingFile` (temporary name, fsync, rename, directory
fsync). A new value goes to a new file, then the index is replaced, then
the old file is unlinked: a crash leaves the old value or the new one, and
files no index names are collected at the next open. The key slot file is
replaced the same way, and then the old copy is overwritten through a
descriptor still open on it, so that a changed passphrase's old slot does
not linger in the file system's free blocks (within the limits above).

One process at a time: the store holds an exclusive ``flock`` on its
directory until :meth:`DeviceStore.close`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .. import crypto, trusted
from ..durable import PendingFile, fsync_dir
from .errors import DeviceStoreError, PassphraseError, WrongPassphraseError

KEYSLOT = "keyslot"
RECORDS = "records"
SLOTS = 2
SLOT_SIZE = 512
_SALT_SIZE, _NONCE_SIZE, _TAG_SIZE = 16, 12, 16
_CONTENT_SIZE = SLOT_SIZE - _SALT_SIZE - _NONCE_SIZE - _TAG_SIZE
_HEADER_SIZE = 1
KEYSLOT_SIZE = _HEADER_SIZE + SLOTS * SLOT_SIZE
#: scrypt's log2 N, as the desk keystore's: about a second per slot on a
#: laptop, and opening derives both slots' keys.
DEFAULT_WORK_FACTOR = 18
MIN_WORK_FACTOR, MAX_WORK_FACTOR = 10, 22
#: Domain separation: the scrypt salt prefix and the slot's associated data.
_LABEL = b"shoal field keyslot v1\n"
_FILE_ID = re.compile(r"\A[0-9a-f]{32}\Z")
_REAL, _DECOY = "real", "decoy"
#: A record's plaintext: its file id, the value's length, the value, zeros.
_RECORD_HEAD = 16 + 8


def _derive(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase.encode())


@dataclass(frozen=True, repr=False)
class _Slot:
    """What a slot holds: a store key, its index's file id, and its role."""

    identity: crypto.AgeIdentity
    index: str
    role: str

    def seal(self, key: bytes, salt: bytes, header: bytes) -> bytes:
        document = json.dumps(
            {"identity": self.identity.secret_string(), "index": self.index, "role": self.role}
        ).encode()
        # Spaces are JSON whitespace: the padded document still parses, and
        # every slot's plaintext has the same length whatever it holds.
        padded = document.ljust(_CONTENT_SIZE, b" ")
        nonce = os.urandom(_NONCE_SIZE)
        return salt + nonce + ChaCha20Poly1305(key).encrypt(nonce, padded, _LABEL + header)


def _unseal(key: bytes, sealed: bytes, header: bytes) -> _Slot | None:
    """The slot, or None when ``key`` is not its key (or it is random bytes)."""
    nonce, body = sealed[_SALT_SIZE : _SALT_SIZE + _NONCE_SIZE], sealed[_SALT_SIZE + _NONCE_SIZE :]
    try:
        padded = ChaCha20Poly1305(key).decrypt(nonce, body, _LABEL + header)
    except InvalidTag:
        return None
    try:
        document = json.loads(padded)
        identity = crypto.parse_identity(document["identity"])
        slot = _Slot(identity, document["index"], document["role"])
        valid = bool(_FILE_ID.match(slot.index)) and slot.role in (_REAL, _DECOY)
    except (ValueError, KeyError, TypeError, crypto.KeyFormatError):
        valid = False
    if not valid:
        raise DeviceStoreError("the store's key slot opened but is malformed")
    return slot


@dataclass(frozen=True)
class _Index:
    """Logical names to file ids; with duress on, also the decoy's files,
    which the real store must keep (it cannot read the decoy's index)."""

    records: Mapping[str, str]
    decoy: tuple[str, ...] | None = None

    def encode(self) -> bytes:
        document: dict[str, Any] = {"records": dict(self.records)}
        if self.decoy is not None:
            document["decoy"] = list(self.decoy)
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> _Index:
        try:
            document = json.loads(data)
            records = document["records"]
            decoy = document.get("decoy")
            ids = [*records.values(), *(decoy or [])]
            if not all(isinstance(n, str) for n in records) or not all(
                isinstance(i, str) and _FILE_ID.match(i) for i in ids
            ):
                raise ValueError("not an index")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DeviceStoreError("the store's index is malformed") from None
        return cls(records, None if decoy is None else tuple(decoy))

    def files(self) -> set[str]:
        return {*self.records.values(), *(self.decoy or ())}


def _check_work_factor(work_factor: int) -> None:
    if not MIN_WORK_FACTOR <= work_factor <= MAX_WORK_FACTOR:
        raise ValueError(f"scrypt work factor must be in {MIN_WORK_FACTOR}..{MAX_WORK_FACTOR}")


def _read_keyslot(directory: Path) -> tuple[int, list[bytes]]:
    try:
        data = (directory / KEYSLOT).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise DeviceStoreError(f"no field store in {directory}") from None
    if len(data) != KEYSLOT_SIZE:
        raise DeviceStoreError(f"the key slot of {directory} is damaged")
    work_factor = data[0]
    if not MIN_WORK_FACTOR <= work_factor <= MAX_WORK_FACTOR:
        raise DeviceStoreError(f"the key slot of {directory} is damaged")
    body = data[_HEADER_SIZE:]
    return work_factor, [body[i * SLOT_SIZE : (i + 1) * SLOT_SIZE] for i in range(SLOTS)]


def _overwrite(fd: int, offset: int, length: int) -> None:
    """Random bytes over ``length`` bytes at ``offset``, durably."""
    os.pwrite(fd, os.urandom(length), offset)
    os.fsync(fd)


def _replace_keyslot(directory: Path, work_factor: int, slots: list[bytes]) -> None:
    """Replace the key slot file atomically, then overwrite its old copy."""
    path = directory / KEYSLOT
    old = os.open(path, os.O_WRONLY)
    try:
        with PendingFile(directory) as pending:
            pending.file.write(bytes([work_factor]) + b"".join(slots))
            pending.commit(path)
        _overwrite(old, 0, KEYSLOT_SIZE)
    finally:
        os.close(old)


def _lock(directory: Path) -> int:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        raise DeviceStoreError(f"no field store in {directory}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DeviceStoreError(
            f"the field store in {directory} is in use by another process"
        ) from None
    return fd


def _seal_record(folder: Path, file_id: str, value: bytes, recipient: crypto.Recipient) -> None:
    plaintext = bytes.fromhex(file_id) + len(value).to_bytes(8, "big") + value
    plaintext += bytes(crypto.padme(len(plaintext)) - len(plaintext))
    sealed = crypto.encrypt(plaintext, [recipient])
    with PendingFile(folder) as pending:
        pending.file.write(sealed)
        # Replacing, not linking: ids are 128 random bits, and FAT-formatted
        # cards have no hard links.
        pending.commit(folder / f"{file_id}.age")


def _open_record(folder: Path, file_id: str, identity: crypto.Identity) -> bytes:
    damaged = DeviceStoreError(f"a record in {folder} is missing or damaged")
    try:
        plaintext = crypto.decrypt((folder / f"{file_id}.age").read_bytes(), [identity])
    except (OSError, crypto.CryptoError):
        raise damaged from None
    length = int.from_bytes(plaintext[16:_RECORD_HEAD], "big")
    end = _RECORD_HEAD + length
    if plaintext[:16] != bytes.fromhex(file_id) or end > len(plaintext) or any(plaintext[end:]):
        raise damaged
    return plaintext[_RECORD_HEAD:end]


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError("a record name is a non-empty string")


class DeviceStore:
    """An open store: records by logical name, sealed to the store key.

    Build one with :meth:`create` or :meth:`open`, and :meth:`close` it
    (or use it in a ``with`` block). A store opened with the duress
    passphrase is an ordinary store on the decoy, with the same methods.
    """

    _lock: int | None = None

    def __init__(
        self,
        directory: Path,
        slot: _Slot,
        position: int,
        index: _Index,
        lock: int,
        *,
        duress_opened: bool,
    ) -> None:
        self._directory = directory
        self._records = directory / RECORDS
        self._slot = slot
        self._position = position
        self._index = index
        self._lock = lock
        #: True when this opening used the duress passphrase and destroyed
        #: the real store: the caller sends the silent alarm.
        self.duress_opened = duress_opened

    def __repr__(self) -> str:
        return f"DeviceStore({str(self._directory)!r})"

    # -- opening and closing ------------------------------------------------

    @classmethod
    def create(
        cls, directory: Path, passphrase: str, *, work_factor: int = DEFAULT_WORK_FACTOR
    ) -> DeviceStore:
        """A new, empty store in ``directory`` (created 0700 if missing).

        An existing store is never replaced; the directory's lock keeps a
        concurrent create from racing the check.
        """
        if not passphrase:
            raise PassphraseError("the passphrase is empty")
        _check_work_factor(work_factor)
        trusted.make_private_dir(directory / RECORDS)
        lock = _lock(directory)
        try:
            if (directory / KEYSLOT).exists():
                raise DeviceStoreError(f"{directory} already holds a field store")
            slot = _Slot(crypto.generate_identity(), secrets.token_hex(16), _REAL)
            position = secrets.randbelow(SLOTS)
            store = cls(directory, slot, position, _Index({}), lock, duress_opened=False)
            store._save_index(store._index)
            salt = os.urandom(_SALT_SIZE)
            header = bytes([work_factor])
            slots = [os.urandom(SLOT_SIZE) for _ in range(SLOTS)]
            slots[position] = slot.seal(_derive(passphrase, salt, work_factor), salt, header)
            with PendingFile(directory) as pending:
                pending.file.write(header + b"".join(slots))
                pending.commit(directory / KEYSLOT)
        except BaseException:
            os.close(lock)
            raise
        return store

    @classmethod
    def open(cls, directory: Path, passphrase: str) -> DeviceStore:
        """Open the store with the passphrase of either slot.

        The duress passphrase destroys the real store before this returns
        (see the module docstring); afterwards the real passphrase raises
        :class:`WrongPassphraseError` like any wrong one.
        """
        lock = _lock(directory)
        try:
            work_factor, slots = _read_keyslot(directory)
            header = bytes([work_factor])
            # Both keys, always: the time taken must not tell which slot
            # matched, nor whether the other one is in use.
            keys = [_derive(passphrase, s[:_SALT_SIZE], work_factor) for s in slots]
            opened = [_unseal(k, s, header) for k, s in zip(keys, slots, strict=True)]
            found = [(i, s) for i, s in enumerate(opened) if s is not None]
            if not found:
                raise WrongPassphraseError(f"wrong passphrase for the field store in {directory}")
            # Two slots cannot share a passphrase (enable_duress and
            # change_passphrase refuse it); if they ever did, the real one wins.
            position, slot = min(found, key=lambda f: f[1].role != _REAL)
            duress = slot.role == _DECOY
            if duress:
                slot = replace(slot, role=_REAL)
                salt = slots[position][:_SALT_SIZE]
                _destroy_real(
                    directory, work_factor, position, slot=slot, key=keys[position], salt=salt
                )
            records = directory / RECORDS
            index = _Index.decode(_open_record(records, slot.index, slot.identity))
            store = cls(directory, slot, position, index, lock, duress_opened=duress)
            # After a duress opening this is what deletes the real records.
            store._collect()
        except BaseException:
            os.close(lock)
            raise
        return store

    def close(self) -> None:
        """Release the store's lock; the object must not be used afterwards."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __del__(self) -> None:
        # A store dropped without close() must not keep its directory
        # locked for the rest of the process.
        self.close()

    def __enter__(self) -> DeviceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what callers read ----------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def recipient(self) -> crypto.AgeRecipient:
        """The store key's recipient: seal a draft's big file to it by
        streaming into :meth:`new_file_path`, then :meth:`commit_file`."""
        return self._slot.identity.recipient()

    @property
    def duress_enabled(self) -> bool:
        return self._index.decoy is not None

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self._index.records if n.startswith(prefix))

    def get(self, name: str) -> bytes | None:
        """A record's value, or None. For small records: it is read whole;
        stream big files with :meth:`open_file`."""
        file_id = self._index.records.get(name)
        if file_id is None:
            return None
        return _open_record(self._records, file_id, self._slot.identity)

    def get_json(self, name: str) -> Any:
        """A record written by :meth:`put_json`, or None if there is none."""
        value = self.get(name)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise DeviceStoreError(f"a record in {self._records} is not JSON") from None

    def file_path(self, name: str) -> Path | None:
        """Where the file under ``name`` lies (a record or a committed file)."""
        file_id = self._index.records.get(name)
        return None if file_id is None else self._records / f"{file_id}.age"

    @contextlib.contextmanager
    def open_file(self, name: str) -> Iterator[crypto.DecryptReader]:
        """The plaintext of a committed file sealed to :attr:`recipient`,
        streamed. A read may raise :class:`shoal.crypto.DecryptionError` when
        the file was cut short. A missing name is a :class:`KeyError`."""
        path = self.file_path(name)
        if path is None:
            raise KeyError("no record of that name")
        with path.open("rb") as raw:
            try:
                reader = crypto.decrypt_reader(raw, [self._slot.identity])
            except crypto.CryptoError:
                raise DeviceStoreError(
                    f"a file in {self._records} is damaged or not sealed to this store"
                ) from None
            with reader:
                yield reader

    # -- what callers write ---------------------------------------------------

    def put(self, name: str, value: bytes) -> None:
        """Store ``value`` under ``name``, durably; replaces any old value."""
        _check_name(name)
        file_id = secrets.token_hex(16)
        _seal_record(self._records, file_id, value, self.recipient)
        self._bind(name, file_id)

    def put_json(self, name: str, value: Any) -> None:
        self.put(name, json.dumps(value, separators=(",", ":")).encode())

    def delete(self, name: str) -> None:
        """Forget ``name`` and unlink its file (nothing if there is none)."""
        file_id = self._index.records.get(name)
        if file_id is None:
            return
        records = {n: f for n, f in self._index.records.items() if n != name}
        self._save_index(replace(self._index, records=records))
        (self._records / f"{file_id}.age").unlink(missing_ok=True)

    def new_file_path(self) -> Path:
        """A fresh path in ``records/`` for a file the caller writes whole
        (e.g. through ``PendingFile(path.parent)``), then registers with
        :meth:`commit_file`. Until then it is garbage: the next open
        deletes it."""
        return self._records / f"{secrets.token_hex(16)}.age"

    def commit_file(self, name: str, path: Path) -> None:
        """Make the file at ``path`` (from :meth:`new_file_path`) durable and
        register it under ``name``, atomically; replaces any old file."""
        _check_name(name)
        file_id = path.name.removesuffix(".age")
        if (
            path.parent.resolve() != self._records.resolve()
            or path.name != f"{file_id}.age"
            or not _FILE_ID.match(file_id)
        ):
            raise ValueError("commit_file takes a path made by new_file_path")
        if file_id in self._index.files() or file_id == self._slot.index:
            raise ValueError("that file is already registered")
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self._records)
        self._bind(name, file_id)

    def change_passphrase(self, old: str, new: str) -> None:
        """Reseal this store's slot under ``new``; ``old`` must open it."""
        if not new:
            raise PassphraseError("the new passphrase is empty")
        work_factor, slots = _read_keyslot(self._directory)
        header = bytes([work_factor])
        mine, other = slots[self._position], slots[1 - self._position]
        if _unseal(_derive(old, mine[:_SALT_SIZE], work_factor), mine, header) is None:
            raise WrongPassphraseError(f"wrong passphrase for the field store in {self._directory}")
        self._refuse_other_slots(new, other, work_factor)
        salt = os.urandom(_SALT_SIZE)
        slots[self._position] = self._slot.seal(_derive(new, salt, work_factor), salt, header)
        _replace_keyslot(self._directory, work_factor, slots)

    def enable_duress(self, duress_passphrase: str, decoy: Mapping[str, bytes]) -> None:
        """Turn duress on, or replace the decoy: ``duress_passphrase`` will
        open a store holding exactly ``decoy`` and destroy this one."""
        if not duress_passphrase:
            raise PassphraseError("the duress passphrase is empty")
        work_factor, slots = _read_keyslot(self._directory)
        self._refuse_other_slots(duress_passphrase, slots[self._position], work_factor)
        slot = _Slot(crypto.generate_identity(), secrets.token_hex(16), _DECOY)
        recipient = slot.identity.recipient()
        files: dict[str, str] = {}
        for name, value in decoy.items():
            _check_name(name)
            files[name] = secrets.token_hex(16)
            _seal_record(self._records, files[name], value, recipient)
        _seal_record(self._records, slot.index, _Index(files).encode(), recipient)
        new = (slot.index, *files.values())
        old = self._index.decoy or ()
        # Keep the old decoy's files and the new one's until the slot points
        # at the new decoy: a crash in between must leave a decoy that opens.
        self._save_index(replace(self._index, decoy=old + new))
        salt = os.urandom(_SALT_SIZE)
        key = _derive(duress_passphrase, salt, work_factor)
        slots[1 - self._position] = slot.seal(key, salt, bytes([work_factor]))
        _replace_keyslot(self._directory, work_factor, slots)
        self._save_index(replace(self._index, decoy=new))
        self._unlink_quietly(old)

    def disable_duress(self) -> None:
        """Turn duress off: the decoy slot becomes random bytes again and the
        decoy's records are deleted (nothing if duress is off)."""
        if self._index.decoy is None:
            return
        work_factor, slots = _read_keyslot(self._directory)
        slots[1 - self._position] = os.urandom(SLOT_SIZE)
        _replace_keyslot(self._directory, work_factor, slots)
        old = self._index.decoy
        self._save_index(replace(self._index, decoy=None))
        self._unlink_quietly(old)

    # -- inside ---------------------------------------------------------------

    def _refuse_other_slots(self, passphrase: str, slot: bytes, work_factor: int) -> None:
        """Refuse a passphrase that would open ``slot`` (the other one, or
        this store's own): one passphrase must open one slot."""
        key = _derive(passphrase, slot[:_SALT_SIZE], work_factor)
        if _unseal(key, slot, bytes([work_factor])) is not None:
            raise PassphraseError("the two passphrases of a field store must differ")

    def _bind(self, name: str, file_id: str) -> None:
        old = self._index.records.get(name)
        self._save_index(replace(self._index, records={**self._index.records, name: file_id}))
        if old is not None:
            (self._records / f"{old}.age").unlink(missing_ok=True)

    def _save_index(self, index: _Index) -> None:
        _seal_record(self._records, self._slot.index, index.encode(), self.recipient)
        self._index = index

    def _collect(self) -> None:
        """Delete what no index names: files of writes a crash interrupted,
        and, after a duress opening, every real record."""
        keep = {f"{i}.age" for i in (self._slot.index, *self._index.files())}
        _unlink_all(self._records, lambda name: name not in keep)
        _unlink_all(self._directory, _is_partial)

    def _unlink_quietly(self, file_ids: tuple[str, ...]) -> None:
        for file_id in file_ids:
            with contextlib.suppress(OSError):
                (self._records / f"{file_id}.age").unlink()


def _destroy_real(
    directory: Path, work_factor: int, position: int, *, slot: _Slot, key: bytes, salt: bytes
) -> None:
    """The duress passphrase opened the decoy at ``position``: destroy the
    real slot first, in place, so that every real record is unreadable even
    if the device dies now; then rewrite the decoy's slot as an ordinary one
    (same key, fresh nonce), so that the store it leaves is a normal store."""
    real = 1 - position
    fd = os.open(directory / KEYSLOT, os.O_WRONLY)
    try:
        _overwrite(fd, _HEADER_SIZE + real * SLOT_SIZE, SLOT_SIZE)
    finally:
        os.close(fd)
    rewritten = [os.urandom(SLOT_SIZE) for _ in range(SLOTS)]
    rewritten[position] = slot.seal(key, salt, bytes([work_factor]))
    _replace_keyslot(directory, work_factor, rewritten)


def _is_partial(name: str) -> bool:
    """A :class:`PendingFile` that a crash left behind."""
    return name.startswith(".") and name.endswith(".partial")


def _unlink_all(folder: Path, chosen: Callable[[str], bool]) -> None:
    """Unlink the files of ``folder`` whose names are ``chosen``, quietly:
    what cannot be unlinked now is collected at the next open or wipe."""
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if chosen(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def wipe(directory: Path) -> None:
    """Destroy the store in ``directory``: the key slot first (overwritten
    in place and fsynced: from then on nothing in it can be decrypted),
    then unlink every file. Seconds, whatever the records weigh: big files
    are unlinked, never overwritten (see the module docstring for why that
    would add nothing on flash). Files the store did not make are left,
    and so is the directory if they are there. Nothing to wipe is no error.
    """
    keyslot = directory / KEYSLOT
    try:
        fd = os.open(keyslot, os.O_WRONLY)
    except FileNotFoundError:
        pass
    else:
        try:
            _overwrite(fd, 0, os.fstat(fd).st_size)
        finally:
            os.close(fd)
    records = directory / RECORDS
    _unlink_all(records, lambda name: True)
    with contextlib.suppress(OSError):
        records.rmdir()
    keyslot.unlink(missing_ok=True)
    _unlink_all(directory, _is_partial)
    with contextlib.suppress(OSError):
        directory.rmdir()
    with contextlib.suppress(OSError):
        fsync_dir(directory if directory.exists() else directory.parent)
