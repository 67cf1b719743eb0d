"""OpenDocument files: the parts that say who wrote them, when, and where.

In an OpenDocument package (ODF 1.2/1.3, part 3):

- ``meta.xml`` (of the document and of each embedded object): initial
  creator, creator, dates, editing time and cycles, generator (application
  and version), template, statistics, user-defined fields. It becomes an
  ``office:document-meta`` with an empty ``office:meta``.
- ``Thumbnails/``: a picture of the first page. Dropped.
- ``settings.xml``: the printer's name and its driver's setup blob, which
  name the office or the machine. Those two items are dropped.
- ``content.xml`` and ``styles.xml``: annotations (comments) and tracked
  changes carry ``dc:creator``, ``dc:date`` and ``meta:creator-initials``.
  Names become "Author 1", "Author 2"... (one per person, consistent across
  the document); dates become 1980-01-01, initials go.
- ``META-INF/*signatures.xml``: the signer's certificate. Dropped.
- ``META-INF/manifest.xml`` loses the entries of dropped files. It is also
  how a password-protected document is told (``manifest:encryption-data``),
  which is refused, since its parts cannot be read; the manifest is read
  first for that.

The ``mimetype`` entry is written first and stored, as ODF requires;
everything else is copied, entries that are files of their own being
cleaned as such (:class:`._office.Nested`).
"""

from __future__ import annotations

import posixpath
import zipfile

import defusedxml.ElementTree as SafeTree  # type: ignore[import-untyped]

from ._package import Nested, copy_entries
from ._sniff import Format
from ._xml import DROP, PLAIN_DECLARATION, Decision, Element, Keep, Policy, Pseudonyms, Replace
from ._zip import ZipOut, read_entry
from .errors import MalformedFileError, UnsupportedFormatError

_KIND = "OpenDocument file"

_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
_CONFIG = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"
_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_DC = "http://purl.org/dc/elements/1.1/"

_FORMATS = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.graphics": "odg",
}
_LONGEST_MIMETYPE = max(map(len, _FORMATS))
_MAX_MANIFEST = 4 * 1024 * 1024
_DROPPED_FILES = {
    "META-INF/documentsignatures.xml": "digital signatures",
    "META-INF/macrosignatures.xml": "digital signatures",
}
_PRINTER_ITEMS = frozenset({"PrinterName", "PrinterSetup"})
_FIXED_DATE = "1980-01-01T00:00:00"
_PERSON = "comment and change-tracking authors and dates"


def scrub(archive: zipfile.ZipFile, out: ZipOut, nested: Nested) -> tuple[Format, list[str]]:
    """Copy the package in ``archive`` to ``out`` without its metadata."""
    entries = archive.infolist()
    with archive.open(entries[0]) as stream:
        mimetype = stream.read(_LONGEST_MIMETYPE + 1).decode("ascii", "replace")
    kind = _FORMATS.get(mimetype)
    if kind is None:
        raise UnsupportedFormatError("OpenDocument files other than odt, ods, odp and odg")
    _refuse_encrypted(archive)
    out.write("mimetype", mimetype.encode("ascii"), stored=True)
    removed: list[str] = []
    plan = _Plan({entry.filename for entry in entries}, removed)
    copy_entries(
        archive,
        entries[1:],
        out,
        plan=plan,
        nested=nested,
        removed=removed,
        kind=_KIND,
        declaration=PLAIN_DECLARATION,
    )
    return Format(kind, mimetype), removed


class _Plan:
    """What becomes of each file of one package (see :data:`._package.Plan`)."""

    def __init__(self, names: set[str], removed: list[str]) -> None:
        self._dropped = {
            name: _DROPPED_FILES.get(name, "thumbnail")
            for name in names
            if name in _DROPPED_FILES or name.startswith("Thumbnails/")
        }
        self._removed = removed
        self._people = _People(Pseudonyms(), removed)

    def __call__(self, name: str) -> Policy | str | None:
        base = posixpath.basename(name)
        if name in self._dropped:
            return self._dropped[name]
        if name == "META-INF/manifest.xml":
            return _Manifest(set(self._dropped) | {"Thumbnails/"})
        if base == "meta.xml":
            self._removed.append("document metadata (author, dates, editing time, software)")
            return _emptied_meta
        if base == "settings.xml":
            return _Settings(self._removed)
        if base in ("content.xml", "styles.xml"):
            return self._people
        return None


def _refuse_encrypted(archive: zipfile.ZipFile) -> None:
    """Refuse a password-protected document, told by its manifest, before its
    parts (ciphertext) are read as XML."""
    try:
        entry = archive.getinfo("META-INF/manifest.xml")
    except KeyError:
        raise MalformedFileError(_KIND, "has no manifest") from None
    try:
        manifest = SafeTree.fromstring(
            read_entry(archive, entry, _MAX_MANIFEST, _KIND), forbid_dtd=True
        )
    # ParseError is a SyntaxError; defusedxml's, ValueErrors; an unknown encoding, LookupError.
    except (SyntaxError, ValueError, LookupError):
        raise MalformedFileError(_KIND, "has a damaged manifest") from None
    for tag in ("encryption-data", "keyinfo"):
        if manifest.find(f".//{{{_MANIFEST}}}{tag}") is not None:
            raise UnsupportedFormatError("password-protected OpenDocument files")


def _emptied_meta(element: Element) -> Decision:
    """meta.xml as its root (namespaces and version kept) around an empty office:meta."""
    if element.depth == 0:
        if (element.uri, element.local) != (_OFFICE, "document-meta"):
            raise MalformedFileError(_KIND, "has a metadata part of the wrong kind")
        kept = tuple(
            (a.qname, a.value)
            for a in element.attributes
            if a.qname.startswith("xmlns") or (a.uri, a.local) == (_OFFICE, "version")
        )
        return Keep(kept)
    if (element.uri, element.local) == (_OFFICE, "meta"):
        return Replace((), lambda _text: "")
    return DROP


class _Manifest:
    """The manifest without entries for dropped files."""

    def __init__(self, dropped: set[str]) -> None:
        self._dropped = dropped

    def __call__(self, element: Element) -> Decision:
        if element.uri == _MANIFEST and element.local == "file-entry":
            path = element.value(_MANIFEST, "full-path") or ""
            if path in self._dropped:
                return DROP
        return element.keep()


class _Settings:
    """settings.xml without the printer's name and setup."""

    def __init__(self, removed: list[str]) -> None:
        self._removed = removed

    def __call__(self, element: Element) -> Decision:
        if (element.uri, element.local) == (_CONFIG, "config-item") and (
            element.value(_CONFIG, "name") in _PRINTER_ITEMS
        ):
            if "printer settings" not in self._removed:
                self._removed.append("printer settings")
            return DROP
        return element.keep()


class _People:
    """Authors, initials and dates of annotations and tracked changes."""

    def __init__(self, pseudonyms: Pseudonyms, removed: list[str]) -> None:
        self._pseudonyms = pseudonyms
        self._removed = removed

    def __call__(self, element: Element) -> Decision:
        here = (element.uri, element.local)
        if here in ((_DC, "creator"), (_DC, "date"), (_META, "creator-initials")):
            if _PERSON not in self._removed:
                self._removed.append(_PERSON)
            if here == (_DC, "creator"):
                return Replace(element.keep().attributes, self._pseudonyms)
            if here == (_DC, "date"):
                return Replace(element.keep().attributes, lambda _text: _FIXED_DATE)
            return DROP
        if here == (_META, "date-string"):
            return DROP
        return element.keep()
