"""Exporting reports for chain of custody: JSON, CSV, GeoJSON, their files, a signed manifest.

A handler hands reports on (to an analyst, a lawyer, a court) as a folder::

    reports.json      every field, exact: the record of what was exported
    reports.csv       one row per report, for a spreadsheet (lossy, guarded)
    reports.geojson   the reports that name a place, as RFC 7946 points
    files/<id>-<name> each report's files, decrypted
    manifest.txt      a C2SP signed note: each file's SHA-256 and size

The manifest is what makes the folder evidence: whoever receives it can
show that no byte changed, and no file came or went, since the handler's
key signed it. It names the key it was signed with, so it verifies on its
own; that proves integrity, not authorship, until the reader pins the
handler's key (``--handler-key``) or compares the handler id out of band.

Plaintext leaves the desk here, so the folder is created private and each
file is written all or nothing (:class:`shoal.trusted.PendingFile`), hashed
as it streams through, never held whole in memory. If any file fails,
those already written are removed: a half export must not pass for a
whole one. Everything a contact chose is untrusted: file names become
:func:`._items.safe_file_name`, and CSV cells that a spreadsheet would run
as a formula are disarmed with a leading apostrophe.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from .. import crypto, org, trusted
from ._grading import CREDIBILITY, RELIABILITY
from ._items import READ_SIZE, safe_file_name
from ._state import check_id
from .errors import ExportError, ManifestError

MAGIC = "shoal export manifest v1"
MANIFEST = "manifest.txt"
JSON_NAME, CSV_NAME, GEOJSON_NAME = "reports.json", "reports.csv", "reports.geojson"
FILES = "files"
CSV_COLUMNS = (
    "id", "compartment", "day", "time", "kind", "contact", "reliability", "credibility",
    "tags", "lat", "lon", "standing", "text", "files",
)  # fmt: skip
#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"),
#: and the apostrophe itself, so that removing one leading apostrophe always
#: gives the value back.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
#: crypto.open_note refuses notes over 1 MiB; the exporter checks first, so
#: it never signs a manifest no verifier will read.
MAX_MANIFEST = 1 << 20
#: A file name's bytes: most filesystems allow 255; eCryptfs and some
#: archive formats less. A contact's 120 Cyrillic characters are 240.
MAX_NAME_BYTES = 200
_DAY = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_LISTED = re.compile(r"\A([0-9a-f]{64}) (0|[1-9][0-9]{0,17}) (.+)\Z")


@dataclass(frozen=True)
class ExportFile:
    item_id: str
    #: The contact's file name, untrusted.
    name: str
    #: The plaintext's size; a writer that gives another is an error.
    size: int
    #: Writes the plaintext into the file it is given (decrypting, streaming).
    write: Callable[[BinaryIO], None]


@dataclass(frozen=True)
class ExportReport:
    item_id: str
    compartment: str
    day: str
    kind: str
    time: str | None
    text: str
    standing: str
    contact: str | None
    reliability: str | None
    credibility: str | None
    tags: tuple[str, ...]
    place: tuple[float, float] | None
    files: tuple[ExportFile, ...]


@dataclass(frozen=True)
class Verified:
    handler_id: str
    verify_key: str
    files: int
    time: str


@dataclass(frozen=True)
class _Entry:
    path: str
    size: int
    sha256: str

    def line(self) -> str:
        return f"{self.sha256} {self.size} {self.path}"


class _Hashing(io.RawIOBase):
    """Passes bytes on to ``out``, hashing and counting them; keeps none.

    Closing it leaves ``out`` open: the pending file still has to commit.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = memoryview(b).cast("B")
        self._out.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def export_reports(
    reports: Sequence[ExportReport],
    target: Path,
    *,
    key: crypto.SigningKey,
    now: datetime,
    event: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``reports`` and their files into ``target`` with a manifest signed
    by ``key``; return the manifest's path. ``event``: what corroboration
    found of them (an event's reports), recorded in reports.json.

    ``target`` must be absent or an empty folder. Every field is checked
    before the first byte is written; a failure while writing removes what
    was written, and the error propagates.
    """
    if now.tzinfo is None:
        raise ValueError("the export time must carry its time zone")
    paths = _plan(reports)
    handler = org.handler_id_for(key.verify_key)
    _check_target(target)
    trusted.make_private_dir(target)
    written: list[Path] = []
    try:
        entries = _write_all(
            reports, paths, target, handler=handler, now=now, written=written, event=event
        )
        signer = crypto.NoteSigner(f"shoal-export-{handler}", key)
        manifest = crypto.sign_note(_manifest_text(signer, now, entries), [signer])
        _write(target, MANIFEST, lambda out: out.write(manifest.encode()), written)
    except BaseException:
        for path in reversed(written):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            (target / FILES).rmdir()
        raise
    return target / MANIFEST


def _check_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ExportError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()):
        raise ExportError(f"{target} is not empty: export into a new or empty folder")


def _plan(reports: Sequence[ExportReport]) -> list[list[str]]:
    """Each report's files' paths under ``files/``, after checking every field.

    Names are unique even on a filesystem that ignores case, so that the
    folder can be copied to any stick; ``;`` is replaced, since it separates
    paths in the CSV.
    """
    taken: set[str] = set()
    paths: list[list[str]] = []
    # The header, the signature line and the three report files' lines
    # take well under 1 KiB.
    budget = MAX_MANIFEST - 1024
    for report in reports:
        _check_report(report)
        paths.append([])
        for file in report.files:
            _check_id(file.item_id, "file")
            if file.size < 0:
                raise ExportError(f"report {report.item_id}: a file's size is negative")
            safe = _safe_name(file.name)
            path = f"{FILES}/{_fit(f'{file.item_id}-{safe}')}"
            count = 2
            while path.casefold() in taken:
                path = f"{FILES}/{_fit(f'{file.item_id}-{count}-{safe}')}"
                count += 1
            taken.add(path.casefold())
            paths[-1].append(path)
            budget -= len(f"{'0' * 64} {file.size} {path}\n".encode())
    if budget < 0:
        raise ExportError("too many files for one signed manifest: export fewer reports at once")
    return paths


def _check_report(report: ExportReport) -> None:
    _check_id(report.item_id, "report")
    where = f"report {report.item_id}"
    if not _DAY.match(report.day):
        raise ExportError(f"{where}: the day is not YYYY-MM-DD")
    if report.reliability is not None and report.reliability not in RELIABILITY:
        raise ExportError(f"{where}: reliability is one of A to F")
    if report.credibility is not None and report.credibility not in CREDIBILITY:
        raise ExportError(f"{where}: credibility is one of 1 to 6")
    if report.place is not None:
        lat, lon = report.place
        # JSON has no NaN, and a point off the globe is a bug upstream.
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90):
            raise ExportError(f"{where}: the place is not a latitude and longitude")
        if not -180 <= lon <= 180:
            raise ExportError(f"{where}: the place is not a latitude and longitude")


def _check_id(value: str, what: str) -> None:
    # Ids become file names: only the server's id alphabet passes.
    try:
        check_id(value, what)
    except ValueError:
        raise ExportError(f"malformed {what} id") from None


def _safe_name(name: str) -> str:
    return unicodedata.normalize("NFC", safe_file_name(name)).replace(";", "_")


def _fit(name: str) -> str:
    """``name`` cut to :data:`MAX_NAME_BYTES` of UTF-8, keeping a short suffix."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, dot, suffix = name, "", ""
    room = MAX_NAME_BYTES - len((dot + suffix).encode())
    return stem.encode()[:room].decode("utf-8", "ignore") + dot + suffix


def _write_all(
    reports: Sequence[ExportReport],
    paths: list[list[str]],
    target: Path,
    *,
    handler: str,
    now: datetime,
    written: list[Path],
    event: Mapping[str, Any] | None,
) -> list[_Entry]:
    entries: dict[str, _Entry] = {}
    listed: list[list[dict[str, Any]]] = []
    for report, report_paths in zip(reports, paths, strict=True):
        listed.append([])
        for file, path in zip(report.files, report_paths, strict=True):
            if not (target / FILES).is_dir():
                trusted.make_private_dir(target / FILES)
            entry = _write(target, path, file.write, written)
            if entry.size != file.size:
                raise ExportError(
                    f"item {file.item_id}: {entry.size} bytes written, {file.size} expected"
                )
            entries[path] = entry
            listed[-1].append(
                {"name": _safe_name(file.name), "path": path}
                | {"size": entry.size, "sha256": entry.sha256}
            )
    document = {
        "shoal-export": 1,
        "exported": now.isoformat(),
        "handler": handler,
        "reports": [_as_json(r, f) for r, f in zip(reports, listed, strict=True)],
    }
    if event is not None:
        document["event"] = dict(event)
    for name, fill in (
        (JSON_NAME, _text(lambda out: _dump(document, out))),
        (CSV_NAME, _text(lambda out: _csv(reports, listed, out), errors="replace")),
        (GEOJSON_NAME, _text(lambda out: _dump(_geojson(reports), out))),
    ):
        entries[name] = _write(target, name, fill, written)
    return [entries[path] for path in sorted(entries)]


def _write(
    target: Path, path: str, fill: Callable[[BinaryIO], object], written: list[Path]
) -> _Entry:
    final = target.joinpath(*path.split("/"))
    with trusted.PendingFile(final.parent) as pending:
        hashing = _Hashing(pending.file)
        with io.BufferedWriter(hashing, READ_SIZE) as buffered:
            fill(buffered)
        pending.commit(final, replace=False)
    written.append(final)
    return _Entry(path, hashing.size, hashing.sha256.hexdigest())


def _text(
    write: Callable[[IO[str]], None], errors: str = "backslashreplace"
) -> Callable[[BinaryIO], None]:
    """A writer of UTF-8 text.

    A lone surrogate (which JSON from a contact can carry) cannot be UTF-8;
    inside a JSON string ``backslashreplace`` makes it its own escape, so
    the value reads back exactly. In CSV, which has no escapes, it is lost.
    """

    def fill(out: BinaryIO) -> None:
        with io.TextIOWrapper(out, encoding="utf-8", errors=errors, newline="") as text:
            write(text)

    return fill


def _dump(value: dict[str, Any], out: IO[str]) -> None:
    json.dump(value, out, ensure_ascii=False, allow_nan=False, indent=2)
    out.write("\n")


def _as_json(report: ExportReport, files: list[dict[str, Any]]) -> dict[str, Any]:
    place = None if report.place is None else {"lat": report.place[0], "lon": report.place[1]}
    return {
        "item_id": report.item_id,
        "compartment": report.compartment,
        "day": report.day,
        "kind": report.kind,
        "time": report.time,
        "text": report.text,
        "standing": report.standing,
        "contact": report.contact,
        "reliability": report.reliability,
        "credibility": report.credibility,
        "tags": list(report.tags),
        "place": place,
        "files": files,
    }


def _guard(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs (see :data:`_FORMULA_START`)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv(reports: Sequence[ExportReport], files: list[list[dict[str, Any]]], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for report, listed in zip(reports, files, strict=True):
        text_cells = (
            report.item_id, report.compartment, report.day, report.time or "", report.kind,
            report.contact or "", report.reliability or "", report.credibility or "",
            ";".join(report.tags),
        )  # fmt: skip
        # Coordinates are numbers this code formats; a negative one is not
        # a formula, and an apostrophe would make it text in every sheet.
        lat, lon = ("", "") if report.place is None else (repr(p) for p in report.place)
        rest = (report.standing, report.text, ";".join(f["path"] for f in listed))
        writer.writerow([*map(_guard, text_cells), lat, lon, *map(_guard, rest)])


def _geojson(reports: Sequence[ExportReport]) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            # RFC 7946 section 3.1.1: longitude first.
            "geometry": {"type": "Point", "coordinates": [r.place[1], r.place[0]]},
            "properties": {
                "id": r.item_id,
                "day": r.day,
                "time": r.time,
                "kind": r.kind,
                "reliability": r.reliability,
                "credibility": r.credibility,
                "tags": list(r.tags),
                "text": r.text,
            },
        }
        for r in reports
        if r.place is not None
    ]
    return {"type": "FeatureCollection", "features": features}


def _manifest_text(signer: crypto.NoteSigner, now: datetime, entries: list[_Entry]) -> str:
    handler = org.handler_id_for(signer.verifier.key)
    header = [MAGIC, f"handler {handler}", f"key {signer.verifier}", f"time {now.isoformat()}"]
    lines = [*header, f"files {len(entries)}", *(e.line() for e in entries)]
    return "\n".join(lines) + "\n"


def verify_manifest(target: Path, *, handler_key: crypto.VerifyKey | None = None) -> Verified:
    """Check ``target`` against its signed manifest; :class:`ManifestError` names
    the first problem.

    Without ``handler_key`` the manifest is checked against the key it
    names: that shows nothing changed since that key signed, and
    :attr:`Verified.handler_id` says whose key it was. Pin the handler's
    key to refuse a folder re-signed by anyone else.
    """
    raw = _read_manifest(target / MANIFEST)
    verifier = _claimed_key(raw)
    handler = org.handler_id_for(verifier.key)
    if handler_key is not None and verifier.key != handler_key:
        raise ManifestError(
            f"the manifest is signed by handler {handler},"
            f" not by the pinned handler {org.handler_id_for(handler_key)}"
        )
    try:
        text = crypto.open_note(raw, [verifier]).text
    except crypto.CryptoError:
        raise ManifestError(
            "bad signature: the manifest was altered, or not signed by the key it names"
        ) from None
    time, listed = _parse_manifest(text, handler, verifier)
    regular, other = _walk(target)
    for entry in listed:
        _check_entry(target, entry, regular, other)
    wanted = {entry.path for entry in listed} | {MANIFEST}
    folders = {parent for path in wanted for parent in _parents(path)}
    for path in sorted((regular - wanted) | (other - folders)):
        raise ManifestError(f"{_shown(path)}: not listed in the manifest")
    return Verified(handler, str(verifier), len(listed), time)


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def _read_manifest(path: Path) -> bytes:
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            raise ManifestError(f"{MANIFEST} is not a regular file")
        with path.open("rb") as src:
            raw = src.read(MAX_MANIFEST + 1)
    except FileNotFoundError:
        raise ManifestError(f"no {MANIFEST} in {path.parent}") from None
    if len(raw) > MAX_MANIFEST:
        raise ManifestError(f"{MANIFEST} is too large to be a manifest")
    return raw


def _claimed_key(raw: bytes) -> crypto.NoteVerifier:
    """The key the (not yet verified) manifest says signed it.

    Only this line is read before the signature is checked, and it checks
    itself: a note key's id covers its name and key, and the name must be
    the one this code gives the handler id of that key.
    """
    lines = raw.decode("utf-8", "replace").split("\n", 4)
    if len(lines) < 4 or lines[0] != MAGIC or not lines[2].startswith("key "):
        raise ManifestError(f"{MANIFEST} is not a shoal export manifest v1")
    try:
        verifier = crypto.NoteVerifier.parse(lines[2].removeprefix("key "))
    except crypto.KeyFormatError:
        raise ManifestError(f"{MANIFEST} names a malformed key") from None
    if verifier.name != f"shoal-export-{org.handler_id_for(verifier.key)}":
        raise ManifestError(f"{MANIFEST} names a key that is not a handler's export key")
    return verifier


def _parse_manifest(
    text: str, handler: str, verifier: crypto.NoteVerifier
) -> tuple[str, list[_Entry]]:
    """The time and the entries of a verified manifest, strictly: one spelling only."""
    lines = text[:-1].split("\n")
    bad = ManifestError(f"{MANIFEST} is signed but malformed")
    if len(lines) < 5 or lines[:3] != [MAGIC, f"handler {handler}", f"key {verifier}"]:
        raise bad
    time, count = lines[3].removeprefix("time "), lines[4].removeprefix("files ")
    if not lines[3].startswith("time ") or not re.fullmatch(r"0|[1-9][0-9]{0,8}", count):
        raise bad
    try:
        datetime.fromisoformat(time)
    except ValueError:
        raise bad from None
    if int(count) != len(lines) - 5 or not time.isascii():
        raise bad
    entries = []
    for line in lines[5:]:
        match = _LISTED.match(line)
        if match is None or not _listable(match.group(3)):
            raise bad
        entries.append(_Entry(match.group(3), int(match.group(2)), match.group(1)))
    paths = [entry.path for entry in entries]
    if paths != sorted(set(paths)):
        raise bad
    return time, entries


def _listable(path: str) -> bool:
    """Whether ``path`` is one this code could have written: relative, "/"
    separated, nothing that climbs out, nothing a terminal would act on."""
    parts = path.split("/")
    return (
        "\\" not in path
        and not path.startswith("/")
        and all(part not in {"", ".", ".."} for part in parts)
        and path != MANIFEST
        and all(unicodedata.category(c) not in {"Cc", "Cf", "Cs"} for c in path)
    )


def _walk(target: Path) -> tuple[set[str], set[str]]:
    """Relative paths of the regular files under ``target``, and of everything
    else (folders, links, devices); links are never followed."""
    regular: set[str] = set()
    other: set[str] = set()
    for root, folders, names in os.walk(target, onerror=_unreadable):
        base = Path(root).relative_to(target)
        for name in [*folders, *names]:
            relative = (base / name).as_posix()
            mode = (Path(root) / name).lstat().st_mode
            (regular if stat.S_ISREG(mode) else other).add(relative)
    return regular, other


def _unreadable(error: OSError) -> None:
    # os.walk skips a folder it cannot list; what it holds must not go unseen.
    raise ManifestError(f"{_shown(str(error.filename))}: cannot be read") from None


def _check_entry(target: Path, entry: _Entry, regular: set[str], other: set[str]) -> None:
    if entry.path in other:
        raise ManifestError(f"{entry.path}: not a regular file")
    if entry.path not in regular:
        raise ManifestError(f"{entry.path}: missing")
    sha256, size = hashlib.sha256(), 0
    with target.joinpath(*entry.path.split("/")).open("rb") as src:
        for chunk in _chunks(src):
            sha256.update(chunk)
            size += len(chunk)
    if size != entry.size:
        raise ManifestError(f"{entry.path}: changed ({size} bytes, {entry.size} listed)")
    if sha256.hexdigest() != entry.sha256:
        raise ManifestError(f"{entry.path}: changed (its SHA-256 is not the one listed)")


def _chunks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(READ_SIZE):
        yield chunk


def _shown(path: str) -> str:
    """A name found on disk, safe to print: anyone could have put it there."""
    return "".join("\ufffd" if unicodedata.category(c) in {"Cc", "Cf", "Cs"} else c for c in path)
