"""ZIP archives read within limits and written without traces.

Reading: a ZIP's central directory declares each entry's sizes, and a zip
bomb declares (or hides) gigabytes behind kilobytes. Before anything is
inflated, :func:`open_checked` refuses more than MAX_ENTRIES entries, more
than a :class:`Budget` of declared bytes in all, and any large entry that
inflates more than MAX_RATIO times. Python's zipfile then never inflates
past an entry's declared size (and checks its CRC at the end), so the
declared sizes bound what is read. Entries are read one at a time, in
chunks, or whole only up to a limit (:func:`read_entry`).

Writing: a ZIP entry carries a modification time, the creating system, an
"extra" field (Info-ZIP stores exact times and Unix owner ids there) and a
comment; the archive has a comment too. :class:`ZipOut` writes every
entry dated 1980-01-01 00:00 (the earliest a ZIP can say), with the same
made-up origin and permissions (Unix, 0644; zipfile insists on some), no
extra field, no comments: the same output whatever device cleaned it.
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import zipfile
import zlib
from typing import IO

from .errors import BombError, MalformedFileError, UnsupportedFormatError

#: Declared uncompressed bytes allowed in one file, nested documents included.
MAX_TOTAL = 512 * 1024 * 1024
MAX_ENTRIES = 10_000
#: Deflate reaches about 1000 to 1 on a run of one byte; Office XML, 5 to 50.
MAX_RATIO = 200
#: Entries smaller than this are never refused for their ratio: a small
#: run of spaces compresses absurdly well and costs nothing to inflate.
RATIO_FLOOR = 1024 * 1024

_EPOCH = (1980, 1, 1, 0, 0, 0)
_UNIX = 3
_FILE_MODE = 0o100644 << 16
_DIRECTORY_MODE = (0o40755 << 16) | 0x10  # and the MS-DOS directory flag
_COPY_CHUNK = 1024 * 1024

#: What zipfile raises on a damaged archive or entry.
READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    KeyError,
    NotImplementedError,
    struct.error,
)


class Budget:
    """Uncompressed bytes still allowed, shared by a document and those nested in it."""

    def __init__(self, kind: str, total: int = MAX_TOTAL) -> None:
        self.kind = kind
        self.left = total

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise BombError(self.kind, f"inflates to more than {MAX_TOTAL // 2**20} MiB")


def open_checked(source: IO[bytes], budget: Budget) -> zipfile.ZipFile:
    """``source`` as a ZIP, once its declared sizes are within limits.

    Reserves the declared total from ``budget``; refuses encrypted entries,
    compression other than stored and deflated (all Office writes), and
    duplicate names (two readers may pick different ones).
    """
    kind = budget.kind
    try:
        archive = zipfile.ZipFile(source)
    except (*READ_ERRORS, OSError):  # OSError: a seek the damaged directory asked for
        raise MalformedFileError(kind, "is not a readable ZIP archive") from None
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise BombError(kind, f"has more than {MAX_ENTRIES} parts")
    if len({entry.filename for entry in entries}) != len(entries):
        raise MalformedFileError(kind, "has two parts of the same name")
    budget.spend(sum(entry.file_size for entry in entries))
    for entry in entries:
        if entry.header_offset < 0:
            raise MalformedFileError(kind, "is not a readable ZIP archive")
        if entry.flag_bits & 0x1:
            raise UnsupportedFormatError("password-protected files")
        if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise MalformedFileError(kind, "uses a compression Office files never use")
        if entry.file_size > RATIO_FLOOR and entry.file_size > MAX_RATIO * max(
            entry.compress_size, 1
        ):
            raise BombError(kind, f"has a part that inflates more than {MAX_RATIO} times")
    return archive


def read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limit: int, kind: str) -> bytes:
    """The whole of ``entry``, which must declare at most ``limit`` bytes."""
    if entry.file_size > limit:
        raise BombError(kind, f"has a part larger than {limit // 2**20} MiB")
    with archive.open(entry) as stream:
        return stream.read(limit)


class ZipOut:
    """A ZIP archive written to ``target``, with every entry's traces fixed.

    Used as a context manager, it is finished on the way out even after an
    error (its target is then thrown away), so that zipfile never tries
    later, when the target is closed.
    """

    def __init__(self, target: IO[bytes]) -> None:
        self._archive = zipfile.ZipFile(target, "w")

    def __enter__(self) -> ZipOut:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._archive.close()
            return
        with contextlib.suppress(Exception):  # the error on its way out matters, not this
            self._archive.close()

    def open(self, name: str, *, stored: bool = False) -> IO[bytes]:
        """A writable stream for entry ``name``, deflated unless ``stored``."""
        return self._archive.open(_entry(name, stored=stored), "w")

    def write(self, name: str, data: bytes, *, stored: bool = False) -> None:
        with self.open(name, stored=stored) as stream:
            stream.write(data)

    def copy(self, source: IO[bytes], name: str) -> None:
        """Entry ``name`` with the bytes of ``source``, copied in chunks."""
        with self.open(name) as stream:
            shutil.copyfileobj(source, stream, _COPY_CHUNK)

    def directory(self, name: str) -> None:
        entry = _entry(name, stored=True)
        entry.external_attr = _DIRECTORY_MODE
        self._archive.writestr(entry, b"")


def _entry(name: str, *, stored: bool) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=_EPOCH)
    entry.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    entry.create_system = _UNIX
    entry.external_attr = _FILE_MODE
    return entry
