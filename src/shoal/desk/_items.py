"""Opening synced items: decrypt, unframe and judge, streaming.

Items stay encrypted on disk (``DIR/items/<id>.age``); each use opens one
again with the handler's identities, a read block at a time, so a large
file never sits whole in memory. Content is handed to ``out`` as it is
decrypted but is unconfirmed until the last chunk, the digest and the
signature are checked at the end: callers write it to a
:class:`shoal.store.PendingFile` and commit only after :func:`open_item`
returned, and show nothing of an item it rejected.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .. import crypto
from ..trusted import Trust
from ._state import ItemMeta
from ._verdict import BAD_SIGNATURE, REPORT, REPORT_FILE, Verdict, judge, shown_kind, thread
from .errors import ItemError

READ_SIZE = 64 * 1024
#: Kinds whose content is text, exported as ``<id>.txt``.
TEXT_KINDS = frozenset({"message", "reply", REPORT})
#: Kinds whose content is a file, named in the header.
FILE_KINDS = frozenset({"file", REPORT_FILE})
MAX_NAME = 120
#: The largest grid cell a place may be coarsened to (metres): beyond it,
#: the figure is no grid cell a member's client chose, and is not shown.
MAX_CELL = 1_000_000
_WINDOWS_UNSAFE = re.compile(r'[<>:"|?*]')


@dataclass(frozen=True)
class Opened:
    """An item opened to the end. ``header`` is empty if its signature failed."""

    header: Mapping[str, Any]
    length: int
    verdict: Verdict
    #: The thread it belongs in (an alarm: the member whose key signed it).
    contact: str | None = None

    @property
    def kind(self) -> str:
        return shown_kind(self.header.get("kind"), "?")


def open_item(
    path: Path,
    identities: Sequence[crypto.Identity],
    trust: Trust,
    meta: ItemMeta,
    out: BinaryIO | None = None,
    *,
    members: Mapping[str, crypto.VerifyKey],
) -> Opened:
    """``members``: the member keys recorded at vetting (:mod:`._members`)."""
    opener = crypto.ItemOpener(identities)
    try:
        with path.open("rb") as src:
            while chunk := src.read(READ_SIZE):
                _deliver(out, opener.update(chunk))
            rest, envelope = opener.finalize()
            _deliver(out, rest)
    except FileNotFoundError:
        raise ItemError(f"item {meta.item_id}: its ciphertext is missing; sync again") from None
    except crypto.SignatureError:
        # The envelope reader raises before returning a header: nothing in a
        # forged item is worth showing, not even its claimed kind.
        return Opened({}, 0, BAD_SIGNATURE, meta.contact)
    except crypto.CryptoError:
        raise ItemError(
            f"item {meta.item_id}: cannot be decrypted: damaged, or not encrypted to this desk"
        ) from None
    header, signer = envelope.header, envelope.signer
    verdict = judge(header, signer, trust, contact=meta.contact, members=members)
    return Opened(
        header, envelope.length, verdict, thread(header, signer, members, contact=meta.contact)
    )


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    #: The grid cell the member coarsened it to, in metres (0: as given).
    cell: int = 0

    @property
    def text(self) -> str:
        where = f"{self.lat:.5f}, {self.lon:.5f}"
        return f"{where} (grid cell {self.cell} m)" if self.cell else where


def place_of(header: Mapping[str, Any]) -> Place | None:
    """The place a header gives, if it is one: the sender's to write."""
    value = header.get("place")
    if not isinstance(value, dict):
        return None
    lat, lon = value.get("lat"), value.get("lon")
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
    if not ok or not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        return None
    cell = value.get("cell_m", 0)
    if not isinstance(cell, int) or isinstance(cell, bool) or not 0 <= cell <= MAX_CELL:
        cell = 0
    return Place(float(lat), float(lon), cell)  # type: ignore[arg-type]


def report_of(header: Mapping[str, Any]) -> str | None:
    """The report a member's item belongs to: 32 lowercase hex, or none."""
    value = header.get("report")
    if isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def _deliver(out: BinaryIO | None, pieces: list[bytes]) -> None:
    if out is not None:
        for piece in pieces:
            out.write(piece)


def safe_file_name(name: object) -> str:
    """A contact's file name made harmless as one path component.

    The name is untrusted: path separators of any system, ``..``, leading
    dots (hidden files), control and format characters (a right-to-left
    override can make ``gpj.exe`` read as ``exe.jpg``) are removed.
    """
    if not isinstance(name, str):
        return "file"
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in base if unicodedata.category(c) not in {"Cc", "Cf", "Cs"})
    kept = _WINDOWS_UNSAFE.sub("_", kept).strip().lstrip(".")
    if len(kept) > MAX_NAME:
        stem, dot, suffix = kept.rpartition(".")
        keep_suffix = dot and 0 < len(suffix) <= 16
        kept = stem[: MAX_NAME - len(suffix) - 1] + "." + suffix if keep_suffix else kept[:MAX_NAME]
    return kept or "file"


def export_name(item_id: str, opened: Opened) -> str:
    """The name an item is exported under; the id keeps names unique."""
    if opened.kind in FILE_KINDS:
        return f"{item_id}-{safe_file_name(opened.header.get('name'))}"
    if opened.kind == "application":
        return f"{item_id}.json"
    return f"{item_id}.txt" if opened.kind in TEXT_KINDS else f"{item_id}.bin"
