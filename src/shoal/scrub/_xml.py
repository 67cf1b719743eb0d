"""XML parts of Office files, rewritten as they stream, one element at a time.

The parts that hold authors and dates (comments, tracked changes, the
document properties) are rewritten by a :data:`Policy`: for each element
it decides to keep it (with attributes removed or replaced), to drop it
and everything inside it, or to keep it with new text in place of its
content. Everything else passes through unchanged.

Two things shape how this is done:

- **Prefixes are kept as written.** A part names namespace *prefixes* in
  attribute values (Office's ``mc:Ignorable="w14 wp14"``), so a rewrite
  that renames or drops prefix declarations, as ElementTree's does, makes
  Word call the file corrupt. So the parser (SAX) runs without namespace
  processing: it hands over qualified names as written, the declarations
  as attributes, and this module resolves prefixes itself only to decide.
- **Memory stays small.** A document body can be tens of megabytes; it is
  fed to the parser in chunks and written out as it is parsed.

Hostile XML (entity expansion bombs, external entities, any DTD) is
refused by defusedxml's parser; no Office part has a DTD. Comments are
not passed through (SAX does not report them, and they are nobody's
content). The output is UTF-8 with the declaration the caller gives.
"""

from __future__ import annotations

import xml.sax
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TypeAlias
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import AttributesImpl

from defusedxml.expatreader import DefusedExpatParser  # type: ignore[import-untyped]

from .errors import MalformedFileError

XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
OFFICE_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
PLAIN_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

_CHUNK = 64 * 1024
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


@dataclass(frozen=True)
class Attribute:
    """An attribute as written (``qname``), with its namespace resolved.

    An unprefixed attribute is in no namespace (``uri`` None), whatever the
    element's default namespace (Namespaces in XML 1.0, section 6.2).
    """

    qname: str
    uri: str | None
    local: str
    value: str


@dataclass(frozen=True)
class Element:
    """An element's resolved name, its depth (the root is 0) and its attributes."""

    uri: str | None
    local: str
    depth: int
    attributes: tuple[Attribute, ...]

    def keep(self) -> Keep:
        """Keep this element as it is."""
        return Keep(tuple((a.qname, a.value) for a in self.attributes))

    def value(self, uri: str | None, local: str) -> str | None:
        """The value of attribute ``local`` in namespace ``uri``, if present."""
        for attribute in self.attributes:
            if attribute.uri == uri and attribute.local == local:
                return attribute.value
        return None


@dataclass(frozen=True)
class Keep:
    """Write the element with these attributes (qualified name, value), in order."""

    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Replace:
    """Write the element with these attributes, and ``text(original text)``
    in place of all it contained (elements inside are dropped)."""

    attributes: tuple[tuple[str, str], ...]
    text: Callable[[str], str]


@dataclass(frozen=True)
class Drop:
    """Leave the element, and everything inside it, out."""


DROP = Drop()
Decision: TypeAlias = Keep | Replace | Drop
Policy: TypeAlias = Callable[[Element], Decision]


def rewrite(
    source: IO[bytes], target: IO[bytes], policy: Policy, kind: str, declaration: str
) -> None:
    """Copy the XML in ``source`` to ``target`` as ``policy`` decides, in chunks.

    Raises :class:`MalformedFileError` (naming ``kind``) if the XML is not
    well formed or has a DTD or entities.
    """
    handler = _Rewriter(policy)
    parser = DefusedExpatParser(forbid_dtd=True)
    parser.setContentHandler(handler)
    target.write(declaration.encode("utf-8"))
    try:
        while chunk := source.read(_CHUNK):
            parser.feed(chunk)
            target.write(handler.take())
        parser.close()
    # DefusedXmlException is a ValueError; an unknown declared encoding, a LookupError.
    except (xml.sax.SAXException, ValueError, LookupError):
        raise MalformedFileError(kind, "has a damaged or unsafe XML part") from None
    target.write(handler.take())


class _Rewriter(ContentHandler):
    """SAX events in, the policy's version of the XML out (see :meth:`take`)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self._policy = policy
        self._out: list[str] = []
        #: Prefix to namespace, one mapping per open element written.
        self._scopes: list[dict[str, str]] = [{"xml": XML_NAMESPACE}]
        self._open_tag = False  # "<name attrs" written, ">" or "/>" not yet
        self._skipping = 0  # depth inside a dropped element
        self._replacing: tuple[Callable[[str], str], list[str]] | None = None
        self._depth = 0

    def take(self) -> bytes:
        """What was written since the last call, as UTF-8."""
        text = "".join(self._out)
        self._out.clear()
        return text.encode("utf-8")

    def startElement(self, name: str, attrs: AttributesImpl) -> None:
        if self._skipping or self._replacing is not None:
            self._skipping += 1
            return
        scope = self._scope(attrs)
        element = _element(name, attrs, scope, self._depth)
        decision = self._policy(element)
        if isinstance(decision, Drop):
            self._skipping = 1
            return
        self._close_tag()
        written = "".join(
            f' {qname}="{value.translate(_ATTRIBUTE_ESCAPES)}"'
            for qname, value in decision.attributes
        )
        self._out.append(f"<{name}{written}")
        self._open_tag = True
        self._scopes.append(scope)
        self._depth += 1
        if isinstance(decision, Replace):
            self._replacing = (decision.text, [])

    def endElement(self, name: str) -> None:
        if self._skipping:
            self._skipping -= 1
            return
        if self._replacing is not None:
            text, found = self._replacing
            self._replacing = None
            new = text("".join(found))
            if new:
                self._close_tag()
                self._out.append(new.translate(_TEXT_ESCAPES))
        self._scopes.pop()
        self._depth -= 1
        if self._open_tag:
            self._out.append("/>")
            self._open_tag = False
        else:
            self._out.append(f"</{name}>")

    def characters(self, content: str) -> None:
        if self._skipping:
            return
        if self._replacing is not None:
            self._replacing[1].append(content)
            return
        self._close_tag()
        self._out.append(content.translate(_TEXT_ESCAPES))

    def ignorableWhitespace(self, whitespace: str) -> None:
        self.characters(whitespace)

    def processingInstruction(self, target: str, data: str) -> None:
        if self._skipping or self._replacing is not None:
            return
        self._close_tag()
        self._out.append(f"<?{target} {data}?>" if data else f"<?{target}?>")

    def _close_tag(self) -> None:
        if self._open_tag:
            self._out.append(">")
            self._open_tag = False

    def _scope(self, attrs: AttributesImpl) -> dict[str, str]:
        """The prefix mapping inside an element with ``attrs``: shared when it declares none."""
        declared = {
            "" if qname == "xmlns" else qname[6:]: value
            for qname, value in attrs.items()
            if qname == "xmlns" or qname.startswith("xmlns:")
        }
        return {**self._scopes[-1], **declared} if declared else self._scopes[-1]


def _element(name: str, attrs: AttributesImpl, scope: dict[str, str], depth: int) -> Element:
    prefix, _, local = name.rpartition(":")
    attributes = []
    for qname, value in attrs.items():
        if qname == "xmlns" or qname.startswith("xmlns:"):
            attributes.append(Attribute(qname, None, qname, value))
            continue
        attribute_prefix, _, attribute_local = qname.rpartition(":")
        uri = scope.get(attribute_prefix) if attribute_prefix else None
        attributes.append(Attribute(qname, uri, attribute_local, value))
    return Element(scope.get(prefix), local, depth, tuple(attributes))


class Pseudonyms:
    """Names of people replaced by "Author 1", "Author 2"... the same name by
    the same pseudonym throughout one document, so that who said what in
    a thread of comments still reads, without saying who."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._as_written: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        key = " ".join(name.split()).casefold()
        if not key:
            return name
        pseudonym = self._names.setdefault(key, f"Author {len(self._names) + 1}")
        self._as_written[name.strip()] = pseudonym
        return pseudonym

    def substitute(self, text: str) -> str:
        """``text`` with each name met so far replaced by its pseudonym, longest first."""
        for name in sorted(self._as_written, key=len, reverse=True):
            text = text.replace(name, self._as_written[name])
        return text
