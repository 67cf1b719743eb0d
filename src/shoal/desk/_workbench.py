"""An unlocked desk: the keys, the trusted notes, the vault and its index.

Everything the desk UI does goes through one :class:`Workbench`, created at
unlock and closed at lock, so that "locked" has one meaning: no object of
this module is reachable, and with it go the keystore and every decrypted
text the index held (Python cannot promise the memory is overwritten;
the references are dropped and the in-memory database closed).

Items are decrypted once, when they are first indexed after a sync
(:meth:`Workbench.index_new`), into vault records (:mod:`._vault`); from
then on reading, searching and listing use the index only. An item is
opened again only when it came back re-sealed (a new seq), or when its
verdict rested on member keys that have changed since (a key recorded at
vetting after the reports it vouches for: :meth:`Workbench.rejudge`).
Files are decrypted again, streaming, each time they are opened or exported.
Methods that talk to the server open their own connection and log in
afresh (:func:`._sync.connect`), as the command line does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .. import corroborate, crypto, org, trusted
from ..corroborate import Settings
from ..trusted import OrgDocument, Trust, partner_epoch
from . import _audit as audit
from . import _lifecycle as lifecycle
from . import _members as members
from . import _vetting as vetting
from ._api import HandlerAPI
from ._application import KIND as APPLICATION
from ._events import DeskEvents, EventFilters, EventView
from ._export import ExportFile, ExportReport, export_reports
from ._grading import RELIABILITY, credibility, reliability
from ._imaging import MAX_INPUT, CleanImage, ImageRefused, sanitize_image, sniff_image
from ._items import FILE_KINDS, READ_SIZE, TEXT_KINDS, open_item, place_of, report_of
from ._library import ItemRow, Library
from ._reply import seal_reply
from ._scrubbing import MAX_FILE, ScrubRefused, scrub_confined
from ._state import Config, ItemMeta, Layout, load_config, load_index
from ._sync import Progress, SyncReport, connect, sync
from ._vault import Vault
from ._verdict import (
    ALARM,
    DURESS,
    MEMBER_KINDS,
    REPORT,
    REPORT_FILE,
    Standing,
    basis,
    judge,
    judge_forward,
    key_text,
    shown_kind,
    thread,
)
from .errors import DeskError, ForwardRefusedError, ItemError, NotReadyError

TIMEOUT = httpx.Timeout(60.0, connect=30.0)
FORWARD = "forward"
#: Kinds whose content is kept in the index (and searched): small by
#: construction (the server keeps at most 256 KiB of a message; a report's
#: text beyond :data:`KEEP_CAP` is not kept: export it instead).
KEPT_KINDS = TEXT_KINDS | {APPLICATION, FORWARD}
#: Content held while an item of unknown kind is decrypted: messages are at
#: most 256 KiB; beyond this it is a file, whose content is not kept.
KEEP_CAP = 512 * 1024
INDEX_BATCH = 1000
#: The thread that builds the search index after unlock, then groups the
#: reports into events (bench/sync.py waits for its end).
AFTER_UNLOCK_THREAD = "desk-search-index"
MAX_TAGS = 20
MAX_TAG = 40
MAX_NOTE = 20_000
#: What a forwarded image lost, told to the receiving desk ("scrubbed").
IMAGE_SCRUBBED = "all metadata: re-encoded as a PNG of its pixels only"
#: What of a forward's "scrubbed" list the receiving desk shows.
_SHOWN_SCRUBBED = 20
_SHOWN_SCRUBBED_NAME = 80


@dataclass(frozen=True)
class Forwarded:
    """A forward sent: its id on the server, and what was removed from its
    file before it was sealed (None for a text, which has no metadata)."""

    forward_id: str
    scrubbed: tuple[str, ...] | None


class _Head(io.RawIOBase):
    """Keeps the first bytes written (to sniff a file's type), drops the rest."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.head = b""
        self._keep = keep

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if len(self.head) < self._keep:
            self.head += bytes(data)[: self._keep - len(self.head)]
        return size


def _damaged(why: str) -> dict[str, Any]:
    return {"kind": "?", "standing": "error", "verdict": "", "error": why}


def _clean_tags(tags: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in tags:
        tag = " ".join(raw.split())[:MAX_TAG]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return cleaned


class Workbench:
    def __init__(self, layout: Layout, keystore: crypto.Keystore, config: Config) -> None:
        self.layout = layout
        self.keystore = keystore
        self.config = config
        self.handler_id = org.handler_id_for(keystore.signing_key.verify_key)
        self.vault = Vault(
            layout.root / "vault",
            [identity.recipient() for identity in keystore.identities],
            list(keystore.identities),
        )
        #: Guards the index and the vault: the sync thread writes while the
        #: UI's requests read.
        self.lock = threading.RLock()
        self._closed = False
        self._events = DeskEvents(self.compartment_id)
        self.library = self._load()
        if self.synced_once:
            # Keys the command line learnt since the last unlock.
            self.rejudge()
        self._index_in_background()

    @classmethod
    def unlock(cls, layout: Layout, passphrase: str) -> Workbench:
        """:class:`shoal.trusted.WrongPassphraseError` for a wrong passphrase."""
        keystore = trusted.unlock_keystore(layout.keystore, passphrase)
        return cls(layout, keystore, load_config(layout))

    def _load(self) -> Library:
        """The index, and the events, of what the vault holds."""
        library = Library(self.compartment_id)
        self._events = DeskEvents(self.compartment_id, self._events.settings)
        library.load(_teed(self.vault.records(), self._events), defer_search=True)
        return library

    def _index_in_background(self) -> None:
        """Build the full-text index after unlock, a slice at a time, so the
        inbox opens at once and requests get the lock between slices; then
        group the reports into events (seconds at 100,000), so the events
        page finds them grouped. Locking stops both."""
        library, events = self.library, self._events

        def build() -> None:
            while True:
                with self.lock:
                    if self._closed or library is not self.library:
                        return
                    if library.index_search():
                        break
                time.sleep(0.002)
            events.grouped()

        threading.Thread(target=build, name=AFTER_UNLOCK_THREAD, daemon=True).start()

    @property
    def trust(self) -> Trust:
        return self.config.trust()

    @property
    def synced_once(self) -> bool:
        return bool(self.config.epochs)

    @property
    def compartment_id(self) -> str:
        if self.config.epochs:
            return self.trust.compartment_id
        return self.config.compartment_id or ""

    def close(self) -> None:
        with self.lock:
            self._closed = True
            self.library.close()
        self._events.close()

    @contextlib.contextmanager
    def _api(self) -> Iterator[HandlerAPI]:
        with httpx.Client(
            base_url=self.config.server, timeout=TIMEOUT, follow_redirects=False
        ) as client:
            yield HandlerAPI(client)

    def _online(self, api: HandlerAPI) -> Trust:
        trust = connect(api, self.layout, self.keystore, now=datetime.now(UTC))
        self.config = load_config(self.layout)
        return trust

    # -- sync and indexing -------------------------------------------------

    def sync(self, progress: Progress, indexing: Progress) -> SyncReport:
        """Download what is new, index it, and refresh its contacts' states."""
        first = not self.synced_once
        with self._api() as api:
            report = sync(api, self.layout, self.keystore, now=datetime.now(UTC), progress=progress)
            self.config = load_config(self.layout)
            if first:
                with self.lock:  # the compartment is known now: pseudonyms change
                    self.library.close()
                    self.library = self._load()
                self._index_in_background()
            touched = self.index_new(indexing, _Senders(api, self.config.root_key, self.trust))
            self._remember([_state_record(r) for r in report.states.values()])
            self._refresh_states(api, touched - set(report.states))
        self.rejudge()
        with self.lock:
            if self.vault.needs_compaction:
                self.vault.compact(self.library.snapshot())
        return report

    def index_new(self, progress: Progress, senders: EpochOf | None = None) -> set[str]:
        """Decrypt every synced item not indexed yet into vault records, and
        again every one that came back re-sealed (another seq); the
        contacts they belong to. Then, once, the file items indexed before
        the desk kept files' hashes: hashed only, never judged again (a
        forward judged now would be judged against its door's current
        epoch, which may no longer list the handler who signed it)."""
        with self.lock:
            seqs = self.library.seqs()
            unhashed = self.library.unhashed(FILE_KINDS, frozenset({FORWARD}))
        todo = [m for m in load_index(self.layout).items if seqs.get(m.item_id) != m.seq]
        opened = {m.item_id for m in todo}
        unhashed = [item_id for item_id in unhashed if item_id not in opened]
        progress.expect(len(todo) + len(unhashed))
        touched = self._index(todo, senders or _no_senders, seqs, progress)
        self._hash(unhashed, progress)
        return touched

    def _hash(self, item_ids: list[str], progress: Progress) -> None:
        """A "hashes" record for each of ``item_ids``: its file's SHA-256,
        "" if it no longer opens (so it is not tried again), and its dhash
        if it is an image the sanitizer decodes."""
        for start in range(0, len(item_ids), INDEX_BATCH):
            records = []
            for item_id in item_ids[start : start + INDEX_BATCH]:
                record: dict[str, Any] = {"t": "hashes", "item": item_id, "sha256": ""}
                try:
                    envelope, head, content, sha256 = self._decrypt(self.layout.item_path(item_id))
                except (OSError, crypto.CryptoError, UnicodeError):
                    pass  # damaged since it was indexed: opening it says so
                else:
                    record.update(sha256=sha256, dhash=_dhash(head, envelope.length, content))
                records.append(record)
                progress.advance()
            self._remember(records)

    def _index(
        self, todo: list[ItemMeta], senders: EpochOf, seqs: dict[str, int], progress: Progress
    ) -> set[str]:
        touched: set[str] = set()
        trust = self.trust
        known = members.load(self.layout, self.keystore.identities)
        for start in range(0, len(todo), INDEX_BATCH):
            records = []
            for meta in todo[start : start + INDEX_BATCH]:
                record = self._digest(meta, trust, senders, known)
                if meta.item_id in seqs:
                    record = {**record, "t": "reopened"}
                records.append(record)
                touched.update(c for c in (meta.contact, record.get("contact")) if c)
                progress.advance()
            with self.lock:
                self.vault.append(records)
                for record in records:
                    self.library.apply(record)
            self._events.feed(records)
        return touched

    def rejudge(self) -> int:
        """Open again every member's item whose verdict rested on other
        member keys than this desk now knows; how many."""
        known = members.load(self.layout, self.keystore.identities)
        with self.lock:
            rows = self.library.judged(MEMBER_KINDS)
            seqs = self.library.seqs()
        # A member signs many reports with one key: each parsed once
        # (about 50 ms for 100,000 reports, where parsing each took 250).
        signers = {text: _key(text) for text in {row[3] for row in rows}}
        stale = {
            item_id
            for item_id, kind, contact, signer, judged in rows
            if basis(kind, signers[signer], known, contact=contact) != judged
        }
        if not stale:
            return 0
        todo = [m for m in load_index(self.layout).items if m.item_id in stale]
        self._index(todo, _no_senders, seqs, _Quiet())
        return len(todo)

    def _digest(
        self,
        meta: ItemMeta,
        trust: Trust,
        senders: EpochOf,
        known: dict[str, crypto.VerifyKey],
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "t": "item",
            "id": meta.item_id,
            "seq": meta.seq,
            "contact": meta.contact,
            "direction": meta.direction,
            "day": meta.day,
            "size": meta.size,
        }
        try:
            envelope, head, content, sha256 = self._decrypt(self.layout.item_path(meta.item_id))
        except FileNotFoundError:
            return {**record, **_damaged("its ciphertext is missing: sync again")}
        except crypto.SignatureError:
            return {
                **record,
                "kind": "?",
                "standing": Standing.REJECTED.value,
                "verdict": "FORGED: its signature does not verify — rejected",
            }
        except (crypto.CryptoError, UnicodeError):
            # UnicodeError: a header whose JSON escapes a lone surrogate makes
            # the envelope reader fail outside its error tree; one such item
            # must not stop every later one from being indexed.
            return {
                **record,
                **_damaged("it cannot be decrypted: damaged, or not encrypted to this desk"),
            }
        header = dict(envelope.header)
        kind = shown_kind(header.get("kind"), "?")
        signer = envelope.signer
        if kind in MEMBER_KINDS:
            record.update(
                contact=thread(header, signer, known, contact=meta.contact),
                signer=None if signer is None else key_text(signer),
                basis=basis(kind, signer, known, contact=meta.contact),
            )
        if meta.direction == "forwarded":
            door = header.get("from_door")
            verdict = judge_forward(
                header,
                envelope.signer,
                senders(door) if isinstance(door, str) else None,
                compartment=trust.compartment_id,
            )
        else:
            verdict = judge(header, signer, trust, contact=meta.contact, members=known)
        record.update(kind=kind, standing=verdict.standing.value, verdict=verdict.text)
        if verdict.standing is Standing.REJECTED:
            return record  # nothing of a forged item is worth keeping
        record.update(_shown(header, kind, envelope.length, head, content, sha256=sha256))
        if meta.direction == "forwarded":
            record["source"] = _provenance(header)
            record.update(_forwarded_from(header))
        return record

    def _decrypt(self, path: Path) -> tuple[crypto.Envelope, bytes, bytes, str]:
        """The envelope, the first bytes, the content if it is small (under
        KEEP_CAP) or an image the sanitizer takes (at most MAX_INPUT: it is
        decoded for its dhash), and the SHA-256 of the whole content, hashed
        as it streams: a larger file is never held."""
        head = _Head(32)  # as much as sniff_image reads (a BMP needs 18)
        held: list[bytes] = []
        size, holding = 0, True
        digest = hashlib.sha256()
        opener = crypto.ItemOpener(self.keystore.identities)

        def take(pieces: list[bytes]) -> None:
            nonlocal size, holding
            for piece in pieces:
                digest.update(piece)
                head.write(piece)
                size += len(piece)
                if holding:
                    held.append(piece)
                    holding = size <= (MAX_INPUT if sniff_image(head.head) else KEEP_CAP - 1)
                    if not holding:
                        held.clear()

        with path.open("rb") as src:
            while chunk := src.read(READ_SIZE):
                take(opener.update(chunk))
            rest, envelope = opener.finalize()
        take(rest)
        return envelope, head.head, b"".join(held), digest.hexdigest()

    def _refresh_states(self, api: HandlerAPI, contacts: set[str]) -> None:
        trust = self.trust
        records = []
        for contact_id in sorted(contacts):
            try:
                found = vetting.current(api, self.layout, self.keystore, trust, contact_id)
            except ItemError:
                continue  # shown as unknown; the conversation page says why on opening
            records.append(_state_record(found))
        self._remember(records)

    # -- records the handler makes ----------------------------------------

    def _remember(self, records: list[dict[str, Any]]) -> None:
        with self.lock:
            self.vault.append(records)
            for record in records:
                self.library.apply(record)
        self._events.feed(records)

    def mark_read(self, item_ids: Sequence[str]) -> None:
        with self.lock:
            unread = [i for i in item_ids if (row := self.library.item(i)) and not row.read]
        if unread:
            self._remember([{"t": "read", "ids": unread}])

    def grade_source(self, contact_id: str, grade: str) -> None:
        self._contact(contact_id)
        self._remember([{"t": "reliability", "contact": contact_id, "grade": reliability(grade)}])

    def grade_report(self, item_id: str, grade: str) -> None:
        self._item(item_id)
        self._remember([{"t": "credibility", "item": item_id, "grade": credibility(grade)}])

    def tag(self, item_id: str, tags: Sequence[str]) -> None:
        self._item(item_id)
        self._remember([{"t": "tags", "item": item_id, "tags": _clean_tags(tags)}])

    def note(self, contact_id: str, text: str) -> None:
        if len(text) > MAX_NOTE:
            raise ValueError(f"a note is at most {MAX_NOTE} characters")
        self._contact(contact_id)
        self._remember([{"t": "note", "contact": contact_id, "text": text}])

    def _contact(self, contact_id: str) -> None:
        """Only a contact this desk knows is graded or noted: any other id
        would become a contact of the inbox, kept in the vault for good."""
        with self.lock:
            known = self.library.contact(contact_id) is not None
        if not known:
            raise NotReadyError("no such contact on this desk")

    def _item(self, item_id: str) -> ItemRow:
        with self.lock:
            row = self.library.item(item_id)
        if row is None:
            raise NotReadyError("no such item on this desk")
        return row

    # -- online actions ----------------------------------------------------

    def reply(self, contact_id: str, text: str) -> str:
        now = datetime.now(UTC)
        with self._api() as api:
            trust = self._online(api)
            contact = load_index(self.layout).contacts.get(contact_id) or api.contact(contact_id)
            sealed = seal_reply(
                text, contact=contact, trust=trust, key=self.keystore.signing_key, now=now
            )
            reply_id = api.post_reply(contact.contact_id, sealed)
        return reply_id

    def move(
        self, contact_id: str, to: lifecycle.State, reason: str, key: str | None = None
    ) -> tuple[vetting.Moved, list[str]]:
        """The move and the audit log's alarms (the move is done even if the
        log then refuses its entry: :class:`DeskError` says so)."""
        now = datetime.now(UTC)
        with self._api() as api:
            trust = self._online(api)
            moved = vetting.move_contact(
                api,
                self.layout,
                self.keystore,
                trust,
                contact_id,
                to=to,
                reason=reason,
                now=now,
                key=key,
            )
            self._remember([_state_record(moved.after)])
            _, alarms = audit.record(
                api, self.layout, trust, self.keystore, moved.action(), now=now
            )
        self.rejudge()  # a key recorded now vouches for what came before it
        return moved, alarms

    def refresh_state(self, contact_id: str) -> lifecycle.Record:
        with self._api() as api:
            trust = self._online(api)
            record = vetting.current(api, self.layout, self.keystore, trust, contact_id)
        self._remember([_state_record(record)])
        self.rejudge()
        return record

    def forward_doors(self) -> list[str]:
        """Doors this desk forwarded to before (the server lists none)."""
        with self.lock:
            return self.library.forward_doors()

    def forward(self, item_id: str, door: str) -> Forwarded:
        """Forward a report to another compartment's desks (and command):
        scrubbed, sealed to their current epoch here, signed by this handler.
        Returns the new item's id on the server, and what was removed."""
        row = self._item(item_id)
        if row.standing == Standing.REJECTED.value or row.error:
            raise ForwardRefusedError("a rejected or damaged item is never forwarded")
        content, name, scrubbed = self._forwardable(row)
        now = datetime.now(UTC)
        with self._api() as api:
            trust = self._online(api)
            try:
                note = api.door_epoch(door)
            except ValueError:
                raise ForwardRefusedError(f"{door!r} is not a door's name") from None
            target = partner_epoch(
                note, api.organization(), self.config.root_key, trust, door, now=now
            )
            contact = self.library.contact(row.contact) if row.contact else None
            header: dict[str, Any] = {
                "kind": FORWARD,
                "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "from": trust.compartment_id,
                "from_door": self.config.door,
                "to": target.compartment_id,
                "handler": self.handler_id,
                "original": {
                    "kind": row.kind,
                    "day": row.day,
                    "time": row.time,
                    "standing": row.verdict,
                    "credibility": row.credibility,
                    "reliability": contact.reliability if contact else None,
                    "sha256": row.sha256 or None,
                    "dhash": row.dhash or None,
                },
            }
            if row.place is not None:
                header["place"] = {
                    "lat": row.place[0],
                    "lon": row.place[1],
                    "cell_m": row.cell or 0,
                }
            event = self.event(item_id)
            if event is not None:
                # What this desk found behind the report: command and the
                # other compartment count no more than this (corroborate).
                header["corroboration"] = {
                    "independent": event.independence.independent,
                    "sources": event.independence.sources,
                    "reasons": list(event.independence.reasons),
                }
            if name is not None:
                header["name"] = name
            if scrubbed is not None:
                header["scrubbed"] = list(scrubbed)
            recipients = forward_recipients(target, trust.command_reading)
            sealed = crypto.encrypt_item(
                recipients, header, content, signer=self.keystore.signing_key
            )
            forward_id = api.forward(door, sealed)
        self._remember([{"t": "forwarded", "item": item_id, "to": door}])
        return Forwarded(forward_id, scrubbed)

    def _forwardable(self, row: ItemRow) -> tuple[bytes, str | None, tuple[str, ...] | None]:
        """The content to forward, scrubbed; the file name and what was
        removed if it is a file.

        Text carries no file metadata. Images are re-encoded by the
        sanitizer, which keeps pixels only. Other files are cleaned by
        :mod:`shoal.scrub` in a confined worker (:mod:`._scrubbing`), never
        in this process; what it cannot clean (a format it does not know, a
        damaged or encrypted file) is refused, since forwarding it as it is
        would pass on whatever identifies the contact. ffmpeg, for videos,
        is the one on this process's PATH.
        """
        if row.kind in KEPT_KINDS and not (row.kind == FORWARD and row.name is not None):
            return row.text.encode("utf-8"), None, None
        if row.kind not in FILE_KINDS and row.kind != FORWARD:
            raise ForwardRefusedError(
                f"only texts and files are forwarded, and this is a {row.kind!r}"
            )
        if row.image is not None:
            try:
                clean = self.image(row.item_id)
            except ImageRefused as refused:
                raise ForwardRefusedError(
                    "this image could not be re-encoded safely, so its metadata could not "
                    "be removed: nothing was forwarded"
                ) from refused
            stem = (row.name or "image").rsplit(".", 1)[0][:100] or "image"
            return clean.png, f"{stem}.png", (IMAGE_SCRUBBED,)
        if row.size > MAX_FILE:
            raise ScrubRefused("too-large")
        data = b"".join(self.stream(row.item_id))
        cleaned = scrub_confined(data, ffmpeg=_ffmpeg())
        stem = (row.name or "file").rsplit(".", 1)[0][:100] or "file"
        return cleaned.data, f"{stem}.{cleaned.extension}", cleaned.removed

    # -- content -------------------------------------------------------------

    def _meta(self, row: ItemRow) -> ItemMeta:
        return ItemMeta(row.item_id, row.seq, row.contact, row.direction, "blob", row.size, row.day)

    def stream(self, item_id: str) -> Iterator[bytes]:
        """The item's content, decrypted as it is read; a damaged end raises
        :class:`ItemError` (the download is then cut short, never complete).

        Not a generator itself: an unknown, rejected or damaged item raises
        here, at the call, before a response has promised any content."""
        row = self._item(item_id)
        if row.standing == Standing.REJECTED.value or row.error:
            raise ItemError("this item is not opened: it was rejected or is damaged")
        return self._decrypted(item_id)

    def _decrypted(self, item_id: str) -> Iterator[bytes]:
        opener = crypto.ItemOpener(self.keystore.identities)
        try:
            with self.layout.item_path(item_id).open("rb") as src:
                while chunk := src.read(READ_SIZE):
                    yield from opener.update(chunk)
                rest, _ = opener.finalize()
            yield from rest
        except (OSError, crypto.CryptoError, UnicodeError):
            raise ItemError("this item no longer opens: damaged since it was synced") from None

    def image(self, item_id: str) -> CleanImage:
        """The item's image, decoded and re-encoded apart from the keys."""
        row = self._item(item_id)
        if row.image is None:
            raise ItemError("this file is not an image")
        if row.size > MAX_INPUT:
            raise ImageRefused("this image is too large to be shown: download it instead")
        data = b"".join(self.stream(item_id))
        return sanitize_image(data)

    def export(
        self, item_ids: Sequence[str], target: Path, *, event: dict[str, Any] | None = None
    ) -> Path:
        """Selected reports, their files and a signed manifest, into
        ``target``; with what corroboration found if they are an ``event``."""
        reports = []
        trust = self.trust
        known = members.load(self.layout, self.keystore.identities)
        for item_id in item_ids:
            row = self._item(item_id)
            if row.standing == Standing.REJECTED.value or row.error:
                continue
            contact = self.library.contact(row.contact) if row.contact else None
            files: tuple[ExportFile, ...] = ()
            if row.kind not in KEPT_KINDS:
                meta = self._meta(row)

                def write(out: Any, meta: ItemMeta = meta) -> None:
                    open_item(
                        self.layout.item_path(meta.item_id),
                        self.keystore.identities,
                        trust,
                        meta,
                        out,
                        members=known,
                    )

                files = (ExportFile(row.item_id, row.name or "file", row.size, write),)
            reports.append(
                ExportReport(
                    item_id=row.item_id,
                    compartment=trust.compartment_id,
                    day=row.day,
                    kind=row.kind,
                    time=row.time,
                    text=row.text,
                    standing=row.verdict,
                    contact=contact.pseudonym if contact else row.source,
                    reliability=contact.reliability if contact else None,
                    credibility=row.credibility,
                    tags=row.tags,
                    place=row.place,
                    files=files,
                )
            )
        return export_reports(
            reports, target, key=self.keystore.signing_key, now=datetime.now(UTC), event=event
        )

    # -- events ----------------------------------------------------------------

    @property
    def event_settings(self) -> Settings:
        return self._events.settings

    def regroup(self, settings: Settings) -> None:
        """Group the reports again with the handler's window and distance."""
        self._events.regroup(settings)

    def events(
        self, filters: EventFilters | None = None, *, order: str = "newest", limit: int = 100
    ) -> list[EventView]:
        """Reports grouped into events (:mod:`._events`), filtered, in ``order``."""
        return self._events.events(
            self._rows,
            filters=filters or EventFilters(),
            order=order,
            limit=limit,
        )

    def event(self, key: str) -> EventView | None:
        """The event of a report or item key; None if it is in none."""
        return self._events.event(key, self._rows)

    def export_event(self, key: str, target: Path) -> Path:
        """An event's reports, their files, what confirms or repeats what,
        and a signed manifest, into ``target``."""
        event = self.event(key)
        if event is None:
            raise NotReadyError("no such event on this desk")
        return self.export(event.item_ids, target, event=event.summary())

    def _rows(self, item_ids: Sequence[str]) -> list[ItemRow]:
        with self.lock:
            return [row for i in item_ids if (row := self.library.item(i)) is not None]


EpochOf = Callable[[str], "org.Epoch | None"]


def _teed(records: Iterator[dict[str, Any]], events: DeskEvents) -> Iterator[dict[str, Any]]:
    """``records``, each also fed to ``events`` as it passes (one read of the vault)."""
    for record in records:
        events.feed((record,))
        yield record


def _no_senders(door: str) -> org.Epoch | None:
    return None


class _Quiet:
    """No progress shown: judging again is a handful of items."""

    def expect(self, count: int) -> None:
        pass

    def advance(self) -> None:
        pass


def _key(text: str | None) -> crypto.VerifyKey | None:
    """A signer's key as the index keeps it (base64), or None."""
    if text is None:
        return None
    try:
        return crypto.VerifyKey(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, crypto.CryptoError):
        return None


class _Senders:
    """The verified current epoch of each door forwards came from, asked
    once per sync; ``None`` for a door the server does not vouch for."""

    def __init__(self, api: HandlerAPI, root: crypto.NoteVerifier, trust: Trust) -> None:
        self._api = api
        self._root = root
        self._trust = trust
        self._document: OrgDocument | None = None
        self._known: dict[str, org.Epoch | None] = {}

    def __call__(self, door: str) -> org.Epoch | None:
        if door not in self._known:
            self._known[door] = self._fetch(door)
        return self._known[door]

    def _fetch(self, door: str) -> org.Epoch | None:
        try:
            note = self._api.door_epoch(door)
            if self._document is None:
                self._document = self._api.organization()
            return partner_epoch(
                note, self._document, self._root, self._trust, door, now=datetime.now(UTC)
            )
        except (DeskError, ValueError):
            return None


def forward_recipients(
    target: org.Epoch, command_reading: crypto.AgeRecipient | None
) -> list[crypto.AgeRecipient]:
    """Who a forward is sealed to: the target's members and command, who
    reads what is forwarded whatever the target compartment's policy."""
    recipients = list(target.recipients())
    if command_reading is not None and command_reading not in recipients:
        recipients.append(command_reading)
    return recipients


def _state_record(record: lifecycle.Record) -> dict[str, Any]:
    return {
        "t": "state",
        "contact": record.contact,
        "state": record.state.value,
        "steps": json.dumps([s.to_json() for s in record.steps], ensure_ascii=False),
        "member_key": record.member_key,
    }


def _shown(
    header: dict[str, Any], kind: str, length: int, head: bytes, content: bytes, *, sha256: str
) -> dict[str, Any]:
    """What the index keeps of an acceptable item: time, place, text or
    file name, the report it belongs to; a file's SHA-256, and an image's
    difference hash (what tells copies apart: :mod:`shoal.corroborate`)."""
    shown: dict[str, Any] = {"size": length}
    time = header.get("time")
    shown["time"] = time if isinstance(time, str) and len(time) <= 40 else None
    place = place_of(header)
    if place is not None:
        shown.update(lat=place.lat, lon=place.lon, cell=place.cell)
    if kind in (REPORT, REPORT_FILE):
        shown["report"] = report_of(header)
    name = header.get("name")
    if isinstance(name, str):
        shown["name"] = name[:1000]
    if kind == ALARM:
        shown["text"] = DURESS
    elif kind in KEPT_KINDS and not (kind == FORWARD and isinstance(name, str)):
        shown["text"] = content.decode("utf-8", errors="replace")
        if length >= KEEP_CAP:  # not held while decrypting: say so, never show it empty
            shown["text"] = f"[{length} bytes of text: too long to keep here; export it to read it]"
    else:
        shown["image"] = sniff_image(head)
    if kind in FILE_KINDS or (kind == FORWARD and isinstance(name, str)):
        shown.update(sha256=sha256, dhash=_dhash(head, length, content))
    return shown


def _dhash(head: bytes, length: int, content: bytes) -> str | None:
    """The difference hash of an image file (16 hex digits), as the
    confined sanitizer finds it; None for any other file, and for an image
    it refuses or that was too large to be held (over MAX_INPUT)."""
    if sniff_image(head) is None or length > MAX_INPUT or len(content) != length:
        return None
    try:
        return f"{sanitize_image(content).dhash:016x}"
    except ImageRefused:
        return None


def _ffmpeg() -> str | None:
    """ffmpeg's absolute path, from this process's PATH (the worker has none)."""
    found = shutil.which("ffmpeg")
    return None if found is None else os.path.abspath(found)


def _forwarded_from(header: dict[str, Any]) -> dict[str, Any]:
    """What corroboration weighs of a forward (:mod:`._events`): the
    compartment it came from, the independent sources the forwarding desk
    found behind it, the reliability it graded the source, and when the
    report says it happened (not when it was forwarded). The forwarding
    handler signed all of it; it is still checked like any header field."""
    original = header.get("original")
    original = original if isinstance(original, dict) else {}
    found: dict[str, Any] = {}
    origin = header.get("from")
    if isinstance(origin, str) and 0 < len(origin) <= 64:
        found["origin"] = origin
    corroboration = header.get("corroboration")
    independent = corroboration.get("independent") if isinstance(corroboration, dict) else None
    if type(independent) is int and 0 <= independent <= corroborate.MAX_DECLARED:
        found["declared"] = independent
    if original.get("reliability") in RELIABILITY:
        found["vouched"] = original["reliability"]
    # When the report says it happened: never the moment it was forwarded.
    time = original.get("time")
    found["time"] = time if isinstance(time, str) and len(time) <= 40 else None
    return found


def _provenance(header: dict[str, Any]) -> str:
    original = header.get("original")
    original = original if isinstance(original, dict) else {}
    parts = [f"compartment {header.get('from')!s:.64}"]
    if isinstance(original.get("day"), str):
        parts.append(f"received {original['day']:.10}")
    if isinstance(original.get("credibility"), str):
        parts.append(f"credibility {original['credibility']:.1}")
    if isinstance(original.get("reliability"), str):
        parts.append(f"source reliability {original['reliability']:.1}")
    return ", ".join(parts) + _scrubbed(header.get("scrubbed"))


def _scrubbed(found: object) -> str:
    """What the sending desk says it removed from a forwarded file, shown
    plain (no control, format or bidirectional characters) and short."""
    if not isinstance(found, list):
        return ""
    names = [
        "".join(c for c in name if c.isprintable())[:_SHOWN_SCRUBBED_NAME]
        for name in found[:_SHOWN_SCRUBBED]
        if isinstance(name, str)
    ]
    names = [name for name in names if name.strip()]
    if not names:
        return "; no metadata found to remove before forwarding"
    return f"; removed before forwarding: {'; '.join(names)}"
