"""Sync: the organization's notes, then new items and their contacts.

The steps, each safe to interrupt:

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
   temporary file, fsynced and renamed to ``items/<id>.age`` (ciphertext,
   never decrypted here), and the index and cursor are saved after every
   page, so a cut connection costs at most one page;
4. fetch the contacts seen, pinning each one's recipient on first sight;
5. tell the server how far this desk holds the compartment (retention
   deletes only what every current handler's desk holds);
6. check the audit log (:func:`._audit.check_log`): its head against the
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

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Protocol

from .. import crypto, trusted
from ._api import HandlerAPI
from ._audit import check_log
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
from ._trust import OrgDocument, Trust, accept
from .errors import NotReadyError, ServerError, TrustError


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
        raise TrustError(
            f"this desk's key is not a handler of door {config.door!r} in epoch "
            f"{trust.current.number}: ask command to add it and sign a new epoch"
        )
    if me.recipient not in [identity.recipient() for identity in keystore.identities]:
        raise TrustError(
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


def sync(
    api: HandlerAPI,
    layout: Layout,
    keystore: crypto.Keystore,
    *,
    now: datetime,
    progress: Progress,
) -> SyncReport:
    trust = connect(api, layout, keystore, now=now)
    trusted.make_private_dir(layout.items)
    index = load_index(layout)
    before = len(index.items)
    seen_contacts: set[str] = set()
    alarms: list[str] = []
    while True:
        page = api.items(index.cursor)
        progress.expect(len(page.items))
        index = _store_page(api, layout, index, page.items, progress)
        alarms += [_stanza_alarm(layout, trust, item) for item in page.items]
        seen_contacts.update(i.contact for i in page.items if i.contact is not None)
        if not page.more:
            break
    index, warnings = _refresh_contacts(api, index, seen_contacts)
    save_index(layout, index)
    api.synced(index.cursor)
    log_alarms = check_log(api, layout, trust, keystore)
    return SyncReport(
        trust.current.number,
        len(index.items) - before,
        len(seen_contacts),
        tuple(a for a in alarms if a) + tuple(warnings) + tuple(log_alarms),
    )


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


def _store_page(
    api: HandlerAPI, layout: Layout, index: Index, items: tuple[ItemMeta, ...], progress: Progress
) -> Index:
    known = {i.item_id for i in index.items}
    added = []
    for item in items:
        if item.item_id not in known:
            with trusted.PendingFile(layout.items) as pending:
                api.download(item, pending.file)
                pending.commit(layout.item_path(item.item_id))
            added.append(item)
            known.add(item.item_id)
        progress.advance()
    cursor = max([index.cursor, *(i.seq for i in items)])
    index = dataclasses.replace(index, cursor=cursor, items=(*index.items, *added))
    save_index(layout, index)
    return index


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
