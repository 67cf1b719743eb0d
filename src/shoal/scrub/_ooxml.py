"""Word, Excel and PowerPoint files: the parts that say who wrote them, when.

In an Office Open XML package (ISO/IEC 29500; OPC is part 2):

- ``docProps/core.xml``: creator, last modified by, dates, title, keywords;
  ``docProps/app.xml``: company, manager, template, total editing time,
  application and version; ``docProps/custom.xml``: whatever an
  organisation's templates add. All three are kept as empty roots (every
  child is optional), found through the package relationships.
- ``docProps/thumbnail.*``: a picture of the first page. Dropped, with its
  relationship and content type.
- Comments and tracked changes: ``w:author``, ``w:initials``, ``w:date``
  on every revision and comment in Word; ``word/people.xml`` with the
  reviewers' account ids; comment authors and threaded-comment persons in
  Excel (and the author's name Excel writes at the start of each note);
  comment authors in PowerPoint. Names become "Author 1", "Author 2"...
  (one per person, consistent across the document, as the schemas require
  an author); dates, initials and account ids go.
- ``x15ac:absPath`` in an Excel workbook: the folder it was saved in, which
  holds the user's name. Dropped.
- Identifiers that link this copy to the original and to other documents
  edited in the same sessions: Word's ``w14:docId``, ``w15:docId``,
  ``w:rsids`` and every ``w:rsid*`` attribute, Excel's ``xr:revisionPtr``.
  Dropped (all optional). An attached Word template's path (in
  ``word/_rels/settings.xml.rels``) likewise, replaced by its usual name.
- Digital signatures (``_xmlsignatures/``): the signer's certificate.
  Dropped: the cleaned file differs from what was signed anyway.

Everything else is copied, entries that are files of their own being
cleaned as such (:class:`._office.Nested`).
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Callable
from typing import Any

import defusedxml.ElementTree as SafeTree  # type: ignore[import-untyped]

from ._package import Nested, copy_entries
from ._sniff import Format
from ._xml import (
    DROP,
    OFFICE_DECLARATION,
    Decision,
    Element,
    Keep,
    Policy,
    Pseudonyms,
    Replace,
)
from ._zip import ZipOut, read_entry
from .errors import MalformedFileError, UnsupportedFormatError

_KIND = "Office document"
_SMALL_PART = 4 * 1024 * 1024

_CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W_STRICT = "http://purl.oclc.org/ooxml/wordprocessingml/main"
_W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
_W15 = "http://schemas.microsoft.com/office/word/2012/wordml"
_W16CEX = "http://schemas.microsoft.com/office/word/2018/wordml/cex"
_X = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_X_STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
_X15AC = "http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"
_XR = "http://schemas.microsoft.com/office/spreadsheetml/2014/revision"
_X18TC = "http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"
_P = "http://schemas.openxmlformats.org/presentationml/2006/main"
_P_STRICT = "http://purl.oclc.org/ooxml/presentationml/main"
_P188 = "http://schemas.microsoft.com/office/powerpoint/2018/8/main"

#: The main part's content type: the format, and the package's media type.
_FORMATS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": Format(
        "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    "application/vnd.ms-word.document.macroEnabled.main+xml": Format(
        "docm", "application/vnd.ms-word.document.macroEnabled.12"
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": Format(
        "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": Format(
        "xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"
    ),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": Format(
        "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    ),
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": Format(
        "pptm", "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
    ),
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": Format(
        "ppsx", "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
    ),
}

#: Relationship types by their last path segment (transitional and strict
#: spellings differ before it): the property parts, with their root element
#: and what emptying them removes.
_PROPERTIES = {
    "core-properties": ("coreProperties", "document properties (author, dates)"),
    "extended-properties": (
        "Properties",
        "application properties (company, template, editing time)",
    ),
    "extendedproperties": (
        "Properties",
        "application properties (company, template, editing time)",
    ),
    "custom-properties": ("Properties", "custom properties"),
    "customproperties": ("Properties", "custom properties"),
}
_DEFAULT_PROPERTIES = {
    "docprops/core.xml": "core-properties",
    "docprops/app.xml": "extended-properties",
    "docprops/custom.xml": "custom-properties",
}
_DROPPED_TYPES = {"thumbnail": "thumbnail", "origin": "digital signatures"}

_PERSON = "comment and revision authors and dates"
_FIXED_DATE = "1980-01-01T00:00:00Z"

# What to do with an attribute: its new value from the old, or None to drop it.
_Action = Callable[[str], str | None]

#: Namespaced attributes, on whatever element: Word's revisions and comments.
_ANY_ELEMENT: dict[tuple[str, str], str] = {
    (_W, "author"): "name",
    (_W_STRICT, "author"): "name",
    (_W, "initials"): "drop",
    (_W_STRICT, "initials"): "drop",
    (_W, "date"): "drop",
    (_W_STRICT, "date"): "drop",
    (_W15, "author"): "name",
    (_W16CEX, "dateUtc"): "drop",
}
#: Unqualified attributes of particular elements: Excel's and PowerPoint's.
_ON_ELEMENT: dict[tuple[str, str, str], str] = {
    (_X18TC, "person", "displayName"): "name",
    (_X18TC, "person", "userId"): "drop",
    (_X18TC, "person", "providerId"): "drop",
    (_X18TC, "threadedComment", "dT"): "drop",
    (_P, "cmAuthor", "name"): "name",
    (_P, "cmAuthor", "initials"): "blank",
    (_P_STRICT, "cmAuthor", "name"): "name",
    (_P_STRICT, "cmAuthor", "initials"): "blank",
    (_P, "cm", "dt"): "drop",
    (_P_STRICT, "cm", "dt"): "drop",
    (_P188, "author", "name"): "name",
    (_P188, "author", "initials"): "blank",
    (_P188, "author", "userId"): "blank",
    (_P188, "author", "providerId"): "blank",
    (_P188, "cm", "created"): "date",
    (_P188, "reply", "created"): "date",
}
_IDS = "document and editing-session ids"
_DROPPED_ELEMENTS = {
    (_W15, "presenceInfo"): _PERSON,
    (_X15AC, "absPath"): "folder path",
    (_W14, "docId"): _IDS,
    (_W15, "docId"): _IDS,
    (_W, "rsids"): _IDS,
    (_W_STRICT, "rsids"): _IDS,
    (_XR, "revisionPtr"): _IDS,
}
_WORD = frozenset({_W, _W_STRICT})
_NAMED_ELEMENTS = frozenset({(_X, "author"), (_X_STRICT, "author")})
#: Excel starts a note's text with its author's name ("Jane Doe:"), in bold.
_TEXT_ELEMENTS = frozenset({(_X, "t"), (_X_STRICT, "t")})
#: Parts that may hold people: everything in word/ and ppt/, and Excel's
#: workbook, comments and persons (not its sheets, which can be huge).
_PEOPLE_PREFIXES = ("word/", "ppt/", "xl/comments", "xl/persons/", "xl/threadedcomments/")


def scrub(archive: zipfile.ZipFile, out: ZipOut, nested: Nested) -> tuple[Format, list[str]]:
    """Copy the package in ``archive`` to ``out`` without its metadata."""
    entries = {entry.filename.lower(): entry for entry in archive.infolist()}
    relationships = _relationships(archive, entries.get("_rels/.rels"))
    main = relationships.get("officedocument", [])
    overrides = _overrides(archive, entries["[content_types].xml"])
    found = _FORMATS.get(overrides.get(main[0], "")) if len(main) == 1 else None
    if found is None:
        raise UnsupportedFormatError("Office Open XML files other than docx, xlsx and pptx")
    removed: list[str] = []
    plan = _Plan(relationships, set(entries), removed)
    copy_entries(
        archive,
        archive.infolist(),
        out,
        plan=plan,
        nested=nested,
        removed=removed,
        kind=_KIND,
        declaration=OFFICE_DECLARATION,
    )
    return found, removed


class _Plan:
    """What becomes of each part of one package (see :data:`._package.Plan`)."""

    def __init__(
        self, relationships: dict[str, list[str]], names: set[str], removed: list[str]
    ) -> None:
        self._properties = dict(_DEFAULT_PROPERTIES)
        for kind in _PROPERTIES:
            self._properties.update(dict.fromkeys(relationships.get(kind, []), kind))
        self._dropped = {
            target: what
            for kind, what in _DROPPED_TYPES.items()
            for target in relationships.get(kind, [])
        }
        for low in names:
            if low.startswith("docprops/thumbnail."):
                self._dropped[low] = "thumbnail"
            elif low.startswith("_xmlsignatures/"):
                self._dropped[low] = "digital signatures"
        self._removed = removed
        self._people = _People(Pseudonyms(), removed)

    def __call__(self, name: str) -> Policy | str | None:
        low = name.lower()
        if low in self._dropped:
            return self._dropped[low]
        if low == "[content_types].xml":
            return _ContentTypes(set(self._dropped))
        if low.endswith(".rels"):
            base = posixpath.dirname(posixpath.dirname(low))
            return _Relationships(base, set(self._dropped), self._removed)
        if low in self._properties:
            root, what = _PROPERTIES[self._properties[low]]
            self._removed.append(what)
            return _Emptied(root)
        if low.endswith(".xml") and (low.startswith(_PEOPLE_PREFIXES) or low == "xl/workbook.xml"):
            return self._people
        return None


def _relationships(archive: zipfile.ZipFile, entry: zipfile.ZipInfo | None) -> dict[str, list[str]]:
    """The package relationships: type (last segment, lowercase) to target parts."""
    found: dict[str, list[str]] = {}
    if entry is None:
        return found
    for element in _parse(archive, entry).iter(f"{{{_RELATIONSHIPS}}}Relationship"):
        if element.get("TargetMode") == "External":
            continue
        kind = str(element.get("Type", "")).rsplit("/", 1)[-1].lower()
        found.setdefault(kind, []).append(_part(str(element.get("Target", "")), ""))
    return found


def _overrides(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> dict[str, str]:
    """Content types given to single parts: part name (lowercase, no "/") to type."""
    root = _parse(archive, entry)
    return {
        _part(str(element.get("PartName", "")), ""): str(element.get("ContentType", ""))
        for element in root.iter(f"{{{_CONTENT_TYPES}}}Override")
    }


def _parse(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> Any:
    try:
        return SafeTree.fromstring(read_entry(archive, entry, _SMALL_PART, _KIND), forbid_dtd=True)
    # ParseError is a SyntaxError; defusedxml's, ValueErrors; an unknown encoding, LookupError.
    except (SyntaxError, ValueError, LookupError):
        raise MalformedFileError(_KIND, "has a damaged XML part") from None


def _part(target: str, base: str) -> str:
    """A relationship's target as a ZIP entry name: lowercase (OPC names are
    case-insensitive), relative to ``base`` unless it starts with "/"."""
    if target.startswith("/"):
        return target[1:].lower()
    return posixpath.normpath(posixpath.join(base, target)).lower()


class _Emptied:
    """A property part reduced to its root element, namespace declarations only."""

    def __init__(self, root: str) -> None:
        self._root = root

    def __call__(self, element: Element) -> Decision:
        if element.depth == 0 and element.local != self._root:
            raise MalformedFileError(_KIND, "has a property part of the wrong kind")
        declarations = tuple(
            (a.qname, a.value) for a in element.attributes if a.qname.startswith("xmlns")
        )
        return Replace(declarations, lambda _text: "")


class _ContentTypes:
    """[Content_Types].xml without the parts that were dropped."""

    def __init__(self, dropped: set[str]) -> None:
        self._dropped = dropped

    def __call__(self, element: Element) -> Decision:
        is_override = element.uri == _CONTENT_TYPES and element.local == "Override"
        if is_override and _part(element.value(None, "PartName") or "", "") in self._dropped:
            return DROP
        return element.keep()


class _Relationships:
    """A .rels part without relationships to dropped parts, nor a template's path."""

    def __init__(self, base: str, dropped: set[str], removed: list[str]) -> None:
        self._base = base
        self._dropped = dropped
        self._removed = removed

    def __call__(self, element: Element) -> Decision:
        if element.uri != _RELATIONSHIPS or element.local != "Relationship":
            return element.keep()
        kind = (element.value(None, "Type") or "").rsplit("/", 1)[-1].lower()
        external = element.value(None, "TargetMode") == "External"
        target = element.value(None, "Target") or ""
        if not external and _part(target, self._base) in self._dropped:
            return DROP
        if kind == "attachedtemplate" and external:
            self._removed.append("template path")
            name = target.replace("\\", "/").rsplit("/", 1)[-1]
            return Keep(
                tuple(
                    (a.qname, name if a.qname == "Target" else a.value) for a in element.attributes
                )
            )
        return element.keep()


class _People:
    """Authors, initials, dates and account ids of comments and revisions."""

    def __init__(self, pseudonyms: Pseudonyms, removed: list[str]) -> None:
        self._actions: dict[str, _Action] = {
            "name": pseudonyms,
            "drop": lambda _value: None,
            "blank": lambda _value: "",
            "date": lambda _value: _FIXED_DATE,
        }
        self._pseudonyms = pseudonyms
        self._removed = removed

    def _note(self, what: str) -> None:
        """Say once that ``what`` went (a document may hold thousands)."""
        if what not in self._removed:
            self._removed.append(what)

    def __call__(self, element: Element) -> Decision:
        here = (element.uri or "", element.local)
        if here in _DROPPED_ELEMENTS:
            self._note(_DROPPED_ELEMENTS[here])
            return DROP
        if here in _NAMED_ELEMENTS:
            self._note(_PERSON)
            return Replace(element.keep().attributes, self._pseudonyms)
        if here in _TEXT_ELEMENTS:
            return Replace(element.keep().attributes, self._pseudonyms.substitute)
        attributes = []
        for attribute in element.attributes:
            if attribute.uri is None:
                rule = _ON_ELEMENT.get((*here, attribute.local))
            else:
                rule = _ANY_ELEMENT.get((attribute.uri, attribute.local))
            value: str | None = attribute.value
            if attribute.uri in _WORD and attribute.local.startswith("rsid"):
                self._note(_IDS)  # w:rsidR, w:rsidRPr... a session's id on each edit
                value = None
            elif rule is not None:
                self._note(_PERSON)
                value = self._actions[rule](attribute.value)
            if value is not None:
                attributes.append((attribute.qname, value))
        return Keep(tuple(attributes))
