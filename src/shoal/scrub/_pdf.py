"""PDF: a fresh file holding the document, without who made it or when.

Where a PDF keeps metadata (ISO 32000-2 section numbers):

- the document information dictionary, ``/Info`` in the trailer (14.3.3):
  author, creator and producer software, creation and modification dates;
- XMP streams, ``/Metadata`` (14.3.2) on the catalog and on any page,
  image or font, which repeat all that and more;
- ``/PieceInfo`` (14.5), private data of the application that edited it,
  and ``/LastModified`` on pages and forms;
- the file identifier ``/ID`` (14.4), derived by many writers from the
  time, the file's path and its size, and kept from version to version;
- markup annotations (12.5.6.2): comments carry their author (``/T``) and
  dates (``/M``, ``/CreationDate``);
- signature fields (12.8): the signer's name, date and certificate;
- JPEG images (``/DCTDecode`` streams), often a phone photo embedded
  whole, EXIF and GPS included;
- earlier revisions: an edited PDF usually grows by incremental updates,
  and the old versions of every changed object stay in the file.

The document is read with pypdf, the keys above are deleted from every
object reachable from the catalog (before copying, so the deleted objects
are never written), embedded JPEGs are cleaned as :mod:`._jpeg` does, and
the reachable objects are copied into a new file with no ``/Info``, a new
random ``/ID`` and a single revision: what no longer belongs to the
current document is simply not copied.

Refused: encrypted PDFs (their objects cannot be read without the
password, nor rewritten without re-encrypting them) and PDFs with attached
files (each attachment is a file of any format, with its own metadata).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._jpeg import scrub_jpeg
from ._result import Cleaned, unique
from .errors import BombError, MalformedFileError, ScrubError, UnsupportedFormatError

if TYPE_CHECKING:
    from pypdf.generic import DictionaryObject, PdfObject

_KIND = "PDF"

#: Keys deleted from every dictionary and stream, with what they held.
_EVERYWHERE = {
    "/Metadata": "XMP",
    "/PieceInfo": "application data (PieceInfo)",
    "/LastModified": "modification dates",
}
#: Markup annotations (12.5.6.2, table 170): the ones that carry an author.
_MARKUP = frozenset(
    {
        "/Text",
        "/FreeText",
        "/Line",
        "/Square",
        "/Circle",
        "/Polygon",
        "/PolyLine",
        "/Highlight",
        "/Underline",
        "/Squiggly",
        "/StrikeOut",
        "/Caret",
        "/Stamp",
        "/Ink",
        "/Sound",
        "/Redact",
        "/Projection",
    }
)
_COMMENTS = "comment authors and dates"


def scrub_pdf(data: bytes) -> Cleaned:
    """``data`` as a new single-revision PDF without metadata; see the module docstring."""
    from pypdf import PdfReader, PdfWriter  # noqa: PLC0415 (loaded when first needed)
    from pypdf.errors import LimitReachedError  # noqa: PLC0415

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UnsupportedFormatError("encrypted or password-protected PDFs")
        removed = ["PDF document info"] if reader.trailer.get("/Info") is not None else []
        if reader.trailer.get("/ID") is not None:
            removed.append("document ID")
        pages = len(reader.pages)
        removed += _strip(reader.root_object)
        writer = PdfWriter()
        writer.clone_reader_document_root(reader)  # the catalog, and what it reaches
        writer.generate_file_identifiers()  # a fresh writer has none: a random one
        writer.pdf_header = reader.pdf_header
        out = io.BytesIO()
        writer.write(out)
        if len(PdfReader(io.BytesIO(out.getvalue())).pages) != pages:
            raise MalformedFileError(_KIND, "could not be copied whole")
    except ScrubError:
        raise
    except LimitReachedError:
        raise BombError(_KIND, "decompresses to too much data") from None
    except Exception:  # a parser of hostile data raises anything; each is one refusal
        raise MalformedFileError(_KIND, "is damaged or not a PDF") from None
    return Cleaned(out.getvalue(), unique(removed))


def _strip(root: DictionaryObject) -> list[str]:
    """Delete the metadata from every object reachable from ``root``; say what went."""
    from pypdf.generic import StreamObject  # noqa: PLC0415

    removed = []
    for node in _dictionaries(root):
        for key, name in _EVERYWHERE.items():
            if node.pop(key, None) is not None:
                removed.append(name)
        subtype = node.get("/Subtype")
        if _is_attachment(node):
            raise UnsupportedFormatError("PDFs with attached files")
        if subtype in _MARKUP:
            popped = [node.pop(key, None) for key in ("/T", "/M", "/CreationDate")]
            removed += [_COMMENTS for value in popped if value is not None]
        elif subtype == "/Widget" and node.pop("/M", None) is not None:
            removed.append("form field dates")
        if node.get("/FT") == "/Sig" and node.pop("/V", None) is not None:
            removed.append("digital signatures")
        if node.pop("/Perms", None) is not None:
            removed.append("digital signatures")
        if isinstance(node, StreamObject) and subtype == "/Image" and _is_jpeg(node):
            clean = scrub_jpeg(node.get_data())
            # The base class's set_data: pypdf's encoded streams only take
            # new data for /FlateDecode, but DCT data is stored as it is.
            StreamObject.set_data(node, clean.data)
            removed += [f"{name} of embedded images" for name in clean.removed]
    return removed


def _is_attachment(node: DictionaryObject) -> bool:
    """Whether ``node`` is or holds an attached file (7.11.4, 12.5.6.15)."""
    return (
        "/EF" in node
        or "/EmbeddedFiles" in node
        or node.get("/Type") == "/EmbeddedFile"
        or node.get("/Subtype") == "/FileAttachment"
    )


def _is_jpeg(stream: DictionaryObject) -> bool:
    """Whether ``stream`` holds a JPEG file and nothing but (one /DCTDecode filter)."""
    filters = stream.get("/Filter")
    if isinstance(filters, list):
        filters = filters[0] if len(filters) == 1 else None
    return filters == "/DCTDecode"


def _dictionaries(root: PdfObject) -> Iterator[DictionaryObject]:
    """Each dictionary and stream reachable from ``root``, once.

    Depth-first with a stack, not recursion: a hostile file can nest arrays
    deeper than Python's stack. A dictionary is searched after it is
    yielded, so what the caller deletes from it is not visited.
    """
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject  # noqa: PLC0415

    stack: list[PdfObject] = [root]
    seen: set[tuple[int, int]] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            reference = (node.idnum, node.generation)
            if reference in seen:
                continue
            seen.add(reference)
            resolved = node.get_object()
            if resolved is None:  # a reference to an object the file lacks
                continue
            node = resolved
        if isinstance(node, DictionaryObject):
            yield node
            stack.extend(dict.values(node))
        elif isinstance(node, ArrayObject):
            stack.extend(node)
