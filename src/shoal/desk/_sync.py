"""Sync: the organization's notes, then new items and their contacts.

The steps, each safe to interrupt:

0. remove what an interrupted sync left behind: a download or an index
   cut short by a crash stays under a temporary name (:func:`sweep_partials`);
1. fetch the signed notes and accept the newest epoch of our door and the
   newest command key (:mod:`._trust`), checking them whole first (root,
   command key, epoch, compartment); what was accepted is saved before
   anything else, so a rollback is refused from then on even if the rest
   fails;
2. check that this desk is a handler of that epoch, with this recipient,
   and log in with a signed challenge (:func:`connect`): a desk removed
   from the compartment still keeps the newer epoch, so it cannot be
   rolled back to one that lists it;
3. page through new items after the cursor: each blob is streamed to a
   temporary file, fsynced and renamed to ``items/<id>.age`` (ciphertext:
   what the steps below decrypt stays in memory), and the index and cursor
   are saved after every page, so a cut connection costs at most one page;
4. fetch the contacts seen, pinning each one's recipient on first sight,
   and read their lifecycle records (:mod:`._vetting`), which keep the
   member keys recorded at vetting current (:mod:`._members`);
5. open the items filed under no contact: a member's duress alarm is one
   (the server must not learn whose device was seized), matched to the
   member whose recorded key signed it, and always an alarm among the
   report's warnings — forged ones too;
6. re-seal the late items this desk can open — stored at the server when
   the epoch they were sealed to was replaced already (:mod:`._reseal`) —
   then page once more: the server lists them again under a new seq, and
   the desk takes them back in place of the ciphertext it held (an item id
   already held, arriving again, is never a second item);
7. tell the server how far this desk holds the compartment (retention
   deletes only what every current handler's desk holds);
8. check the audit log (:func:`._audit.check_log`): its head against the
   checkpoint this desk saw, then the compartment's new entries; what it
   finds is an alarm among the report's warnings.

Every new item's age header is counted against the epoch the server says
it sealed it to (DESIGN.md, "Compartments"): a stanza more or less than
that epoch's recipients (one more for a reply: the contact) means it was
not sealed to it — a server encrypting to an old epoch that still lists a
removed handler, say. The desk keeps the item and raises an alarm.

``now`` and the progress display are passed in; HTTP goes through the
:class:`HandlerAPI` given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Protocol

from .. import crypto, trusted
from ..trusted import OrgDocument, Trust, accept
from . import _lifecycle as lifecycle
from . import _members as members
from . import _vetting as vetting
from ._api import HandlerAPI
from ._audit import check_log
from ._reseal import Back, Outcome, envelope_of, is_late, reseal, take_back
from ._state import (
    ContactMeta,
    Index,
    ItemMeta,
    Layout,
    load_config,
    load_index,
    save_config,
    save_index,
)
from ._verdict import ALARM, DURESS, Standing, judge, owner
from .errors import ItemError, NotReadyError, ServerError


class Progress(Protocol):
    def expect(self, count: int) -> None:
        """``count`` more items are known to be coming."""

    def advance(self) -> None:
        """One more item is done."""


@dataclass(frozen=True)
class SyncReport:
    epoch: int
    new_items: int
    contacts: int
    warnings: tuple[str, ...]
    #: The lifecycle records read, by contact (the UI keeps them).
    states: Mapping[str, lifecycle.Record] = dataclasses.field(default_factory=dict)
    resealed: int = 0


def connect(api: HandlerAPI, layout: Layout, keystore: crypto.Keystore, *, now: datetime) -> Trust:
    """Accept the newest epoch the server shows, check we belong to it, log in.

    Every online command starts here, so each gets a fresh token and the
    compartment's current recipients.
    """
    config = load_config(layout)
    known = config.trust() if config.epochs else None
    compartment = known.compartment_id if known is not None else config.compartment_id
    document = _notes(api, keystore, compartment)
    # Every check on the notes (compartment included) is in accept(): what
    # it returns is saved whole, and nothing of what it refuses.
    acceptance = accept(
        document,
        config.root_key,
        config.door,
        now=now,
        known=known,
        command_serial=config.command_serial,
        compartment_id=compartment,
    )
    updated = config.with_acceptance(document.organization, acceptance)
    if updated != config:
        config = updated
        save_config(layout, config)
    trust = config.trust()
    me = trust.current.handler(keystore.signing_key.verify_key)
    if me is None:
        raise trusted.TrustError(
            f"this desk's key is not a handler of door {config.door!r} in epoch "
            f"{trust.current.number}: ask command to add it and sign a new epoch"
        )
    if me.recipient not in [identity.recipient() for identity in keystore.identities]:
        raise trusted.TrustError(
            "the epoch lists this desk's signing key with a recipient it cannot decrypt for"
        )
    if not api.logged_in:
        api.login(keystore.signing_key, trust.compartment_id)
    return trust


def _notes(api: HandlerAPI, keystore: crypto.Keystore, compartment: str | None) -> OrgDocument:
    """The organization's notes: asked for before login when the server allows.

    Verifying before logging in is the better order (the desk signs nothing
    for a server it does not trust yet), but a server may show the notes to
    logged-in handlers only, so that nobody learns the other compartments'
    doors; then the desk logs in to the compartment it knows of, and asks again.
    """
    try:
        return api.organization()
    except ServerError as exc:
        if exc.status != HTTPStatus.UNAUTHORIZED:
            raise
    if compartment is None:
        raise NotReadyError(
            "this server shows the organization's notes only after login, and this desk "
            "does not know its compartment id yet: enroll again with --compartment ID "
            "(`shoal command compartment add` printed it)"
        )
    api.login(keystore.signing_key, compartment)
    return api.organization()


#: A temporary file untouched this long belongs to no write in progress:
#: one being written is touched with every chunk (seconds).
PARTIALS_KEPT_SECONDS = 3600


def sweep_partials(layout: Layout, older_than: float = PARTIALS_KEPT_SECONDS) -> int:
    """Remove the temporary files (:class:`shoal.trusted.PendingFile`) a
    killed sync left in the desk folder, its ``items/`` and ``vault/``: a
    download cut short (ciphertext, up to an item's size), an index or a
    vault file half-written. Nothing names them, so without this every
    crash would leave its downloads behind for good. Recent ones are
    spared: another process of this desk (the UI and the command line) may
    be writing them now. Returns how many were removed. Ages are the files'
    own clock (the wall clock), whatever ``now`` a caller of :func:`sync`
    passes."""
    removed = 0
    limit = time.time() - older_than
    # The vault's folder too: the desk UI's sync appends to it (_workbench).
    for folder in (layout.root, layout.items, layout.root / "vault"):
        for leftover in folder.glob(".*.partial"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime <= limit:
                    leftover.unlink()
                    removed += 1
    return removed


def sync(
    api: HandlerAPI,
    layout: Layout,
    keystore: crypto.Keystore,
    *,
    now: datetime,
    progress: Progress,
) -> SyncReport:
    sweep_partials(layout)
    trust = connect(api, layout, keystore, now=now)
    trusted.make_private_dir(layout.items)
    index = load_index(layout)
    before = len(index.items)
    pages = _Pages(api, layout, keystore, trust, progress)
    index = pages.fetch(index)
    index, warnings = _refresh_contacts(api, index, pages.contacts)
    save_index(layout, index)
    states, refused = _read_states(api, layout, keystore, trust, pages.contacts)
    alarms = _duress(
        api, layout, keystore, trust, index=index, arrived=pages.arrived, states=states
    )
    late = bool(index.late)
    index, resealed, failed = _reseal_late(api, layout, keystore, trust, index)
    if late:
        index = pages.fetch(index)  # what was re-sealed comes back under a new seq
    # Whatever is stored after the last page was stored after this sync
    # accepted its epoch.
    index = dataclasses.replace(index, watermark=max(index.watermark, trust.current.number))
    save_index(layout, index)
    api.synced(index.cursor)
    log_alarms = check_log(api, layout, trust, keystore)
    return SyncReport(
        trust.current.number,
        len(index.items) - before,
        len(pages.contacts),
        (*alarms, *pages.alarms, *warnings, *refused, *failed, *log_alarms),
        states,
        resealed,
    )


#: How often a long sync writes its index (seconds; and always at the end).
_SAVE_EVERY = 2.0
#: Items downloaded at once.
_DOWNLOADS = 8


class _Pages:
    """Pages through the items after the cursor, storing each page; what
    it met is kept for the steps after it."""

    def __init__(
        self,
        api: HandlerAPI,
        layout: Layout,
        keystore: crypto.Keystore,
        trust: Trust,
        progress: Progress,
    ) -> None:
        self._api = api
        self._layout = layout
        self._identities = list(keystore.identities)
        self._trust = trust
        self._progress = progress
        self.contacts: set[str] = set()
        #: Items stored for the first time, or taken back re-sealed where
        #: the copy held never opened here: what this desk has not read.
        self.arrived: list[ItemMeta] = []
        self.alarms: list[str] = []
        self._downloads: Executor | None = None

    def fetch(self, index: Index) -> Index:
        # What the desk holds, by id, in the index's order (new ones last):
        # kept across pages, and the index written every _SAVE_EVERY
        # seconds and at the end, not after each page of 100: rebuilding
        # and rewriting it per page made a 100,000-item sync quadratic
        # (bench/sync.py). A crash in between only fetches a few pages
        # again: each item file is written before the index names it.
        held = {i.item_id: i for i in index.items}
        try:
            with ThreadPoolExecutor(_DOWNLOADS, thread_name_prefix="shoal-sync") as pool:
                self._downloads = pool
                index = self._pages(index, held)
            return index
        except BaseException:
            # What was fetched stays fetched (a lost connection, an alarm).
            save_index(self._layout, dataclasses.replace(index, items=tuple(held.values())))
            raise

    def _pages(self, index: Index, held: dict[str, ItemMeta]) -> Index:
        saved = time.monotonic()
        while True:
            page = self._api.items(index.cursor)
            self._progress.expect(len(page.items))
            index, kept = self._store(index, held, page.items)
            self.alarms += [a for i in kept if (a := _stanza_alarm(self._layout, self._trust, i))]
            self.contacts.update(i.contact for i in page.items if i.contact is not None)
            if not page.more or time.monotonic() - saved >= _SAVE_EVERY:
                index = dataclasses.replace(index, items=tuple(held.values()))
                save_index(self._layout, index)
                saved = time.monotonic()
            if not page.more:
                return index

    def _download(self, item: ItemMeta) -> None:
        with trusted.PendingFile(self._layout.items) as pending:
            self._api.download(item, pending.file)
            pending.commit(self._layout.item_path(item.item_id))

    def _store(
        self, index: Index, held: dict[str, ItemMeta], items: tuple[ItemMeta, ...]
    ) -> tuple[Index, list[ItemMeta]]:
        """Store a page's items; ``held`` is updated, the index returned
        carries the new cursor but not yet the new items (see fetch)."""
        late = list(index.late)
        kept = []
        # Capped: a server claiming an epoch this desk never accepted (an
        # alarm already: _stanza_alarm) must not make everything look late.
        watermark, ceiling = index.watermark, self._trust.current.number
        ordered = sorted(items, key=lambda i: i.seq)
        # New items are fetched _DOWNLOADS at a time (one request each, and
        # two fsyncs: one after the other, a desk fetched ~150 items/s,
        # bench/sync.py), then taken in order below.
        new = {i.item_id: i for i in ordered if i.item_id not in held}
        assert self._downloads is not None, "pages are stored inside fetch"
        for _ in self._downloads.map(self._download, new.values()):
            pass
        for item in ordered:
            old = held.get(item.item_id)
            if old is None:
                held[item.item_id] = item
                kept.append(item)
                self.arrived.append(item)
                if is_late(item, watermark):
                    late.append(item.item_id)
            elif item.seq != old.seq:
                back = take_back(self._api, self._layout, self._identities, old, item)
                if back is Back.REFUSED:
                    self.alarms.append(
                        f"ALARM: the server sent item {item.item_id} again with other content "
                        "than this desk holds: kept the copy held"
                    )
                else:
                    held[item.item_id] = item
                    kept.append(item)
                if back is Back.OPENED:
                    self.arrived.append(item)  # what it holds is news to this desk
            watermark = max(watermark, min(item.epoch, ceiling))
            self._progress.advance()
        cursor = max([index.cursor, *(i.seq for i in items)])
        index = dataclasses.replace(
            index, cursor=cursor, late=tuple(dict.fromkeys(late)), watermark=watermark
        )
        return index, kept


def _read_states(
    api: HandlerAPI,
    layout: Layout,
    keystore: crypto.Keystore,
    trust: Trust,
    contact_ids: set[str],
) -> tuple[dict[str, lifecycle.Record], list[str]]:
    """The lifecycle records of ``contact_ids``; reading one also keeps its
    member key (:func:`._vetting.current`). A record refused (forged, or
    older than one seen) is a warning, and the contact is left out."""
    states = {}
    refused = []
    for contact_id in sorted(contact_ids):
        try:
            states[contact_id] = vetting.current(api, layout, keystore, trust, contact_id)
        except ItemError as exc:
            refused.append(str(exc))
    return states, refused


def _duress(
    api: HandlerAPI,
    layout: Layout,
    keystore: crypto.Keystore,
    trust: Trust,
    *,
    index: Index,
    arrived: list[ItemMeta],
    states: dict[str, lifecycle.Record],
) -> list[str]:
    """An alarm for every duress signal among ``arrived``, naming the member
    whose recorded key signed it — or saying it is forged.

    The server files alarms under no contact, so the desk tries each one
    against every member key it knows; one that matches none sends it to
    read every contact's record once (a key may have been recorded on
    another desk since this one last read it) before calling it forged:
    a real alarm must not be dismissed for want of a look.
    """
    signals = []
    identities = list(keystore.identities)
    for item in arrived:
        if item.contact is not None or item.direction != "in":
            continue
        try:
            envelope = envelope_of(layout.item_path(item.item_id), identities)
        except (OSError, crypto.CryptoError, UnicodeError):
            continue  # not ours, or damaged: `shoal desk list` says which
        if envelope.header.get("kind") == ALARM:
            signals.append((item, envelope))
    alarms = []
    known = members.load(layout, identities)
    if any(owner(e.signer, known) is None for _, e in signals):
        for contact_id in sorted(set(index.contacts) - set(states)):
            try:
                states[contact_id] = vetting.current(api, layout, keystore, trust, contact_id)
            except ItemError:
                continue  # refused: that contact's key is not learnt from it
            except ServerError as exc:
                if exc.status != HTTPStatus.NOT_FOUND:
                    raise  # (404: a contact deleted from the server since)
        known = members.load(layout, identities)
    for item, envelope in signals:
        verdict = judge(envelope.header, envelope.signer, trust, contact=None, members=known)
        if verdict.standing is Standing.REJECTED:
            alarms.append(f"ALARM: item {item.item_id}, a duress alarm: {verdict.text}")
        else:
            member = owner(envelope.signer, known)
            alarms.append(f"ALARM: {DURESS}: contact {member} (item {item.item_id})")
    return alarms


def _reseal_late(
    api: HandlerAPI, layout: Layout, keystore: crypto.Keystore, trust: Trust, index: Index
) -> tuple[Index, int, list[str]]:
    """Re-seal every late item this desk can; how many, and warnings."""
    held = {i.item_id: i for i in index.items}
    resealed = 0
    warnings = []
    for item_id in index.late:
        item = held.get(item_id)
        outcome = Outcome.NOT_OURS if item is None else reseal(api, layout, keystore, trust, item)
        if outcome is Outcome.RESEALED:
            resealed += 1
        elif outcome in (Outcome.REFUSED, Outcome.FAILED):
            warnings.append(f"late item {item_id} was not re-sealed: {outcome.value}")
        # Done with it whatever the outcome: only an exception (the
        # transport, a server failing) leaves it for the next sync.
        index = dataclasses.replace(index, late=tuple(i for i in index.late if i != item_id))
        save_index(layout, index)
    return index, resealed, warnings


def _stanza_alarm(layout: Layout, trust: Trust, item: ItemMeta) -> str:
    """An alarm if ``item`` has not as many stanzas as its epoch has
    recipients (plus the contact, for a reply; plus command, for a forward
    to a compartment command does not read); "" if it has."""
    if item.epoch == 0:
        return ""  # a server that does not say: nothing to compare with
    epoch = next((e for e in trust.epochs if e.number == item.epoch), None)
    if epoch is None:
        return (
            f"ALARM: item {item.item_id} is said to be sealed to epoch {item.epoch}, "
            "which this desk never accepted"
        )
    recipients = epoch.recipients()
    expected = len(recipients)
    if item.direction == "out":
        expected += 1  # the contact
    elif item.direction == "forwarded" and trust.command_reading not in (None, *recipients):
        expected += 1  # command, which reads every forward (see ._workbench)
    try:
        with layout.item_path(item.item_id).open("rb") as f:
            found = crypto.stanza_count(f)
    except (OSError, crypto.CryptoError):
        return f"ALARM: item {item.item_id} does not start with a readable age header"
    if found != expected:
        return (
            f"ALARM: item {item.item_id} has {found} recipient stanza(s) but epoch "
            f"{epoch.number} has {expected}: it was not sealed to that epoch's recipients "
            "(a server encrypting to other keys, such as a removed handler's)"
        )
    return ""


def _refresh_contacts(
    api: HandlerAPI, index: Index, contact_ids: set[str]
) -> tuple[Index, list[str]]:
    contacts = dict(index.contacts)
    warnings = []
    for contact_id in sorted(contact_ids):
        fresh = api.contact(contact_id)
        pinned = contacts.get(contact_id)
        if pinned is not None and fresh.recipient is None and not fresh.accepted:
            # Cut: the server erased the recipient; the desk keeps the record.
            fresh = ContactMeta(contact_id, pinned.recipient, False)
        elif pinned is not None and pinned.recipient != fresh.recipient:
            # A contact's recipient never changes (it is derived from the
            # codename); a server that swaps it wants to read the replies.
            warnings.append(
                f"the server now shows another recipient for contact {contact_id}: "
                "kept the one first seen"
            )
            fresh = ContactMeta(contact_id, pinned.recipient, fresh.accepted)
        contacts[contact_id] = fresh
    return dataclasses.replace(index, contacts=contacts), warnings
