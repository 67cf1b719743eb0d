"""The exposure report: for each principal, what an adversary who captured
it could decrypt or learn (DESIGN.md, "Compartments", "Exposure report").

Pure: command's state, the epochs command signed (opened from its notes by
the shell) and, optionally, counts read from the server's database go in;
a :class:`Report` comes out. Command never sees the server, so without
counts the report names *which* items (all of compartment 'a', those
sealed under epoch 1, its own replies) and leaves the numbers out.

Why it follows from the epochs alone: every stored item is one age file
sealed to the recipients of one epoch of its compartment, and a reply also
to its contact's recipient (docs/api.md, "Items"). An identity therefore
decrypts exactly the items sealed under the epochs that list its
recipient, plus, for a contact, the replies sealed to them. The server
records the epoch it sealed each item to; an item stored before it did
(epoch 0) could belong to any epoch in force, so for a principal listed in
some epochs and not in others such items make the counts upper bounds
(``exact`` false). The tests check all of this against trial decryption
of every stored blob with each principal's real keys
(tests/command/test_exposure.py).

Principals, in the order of the report: the server's disk, command's
machine, each escrow holder, then per compartment each handler (current
or former) followed by their desk laptop, a contact and a member.

JSON schema (:func:`to_json`), version 1. Keys are never renamed or given
another meaning within a version; new keys may be added::

    {
      "shoal-exposure": 1,
      "organization": {"id": str, "key_type": str},
      "counted": bool,            # counts were read from a server data dir
      "warnings": [str],          # things to act on (root key left online, …)
      "compartments": [{
        "id": str, "door": str,
        "epochs": [int],          # the epoch numbers command signed
        "handlers": [str],        # handler ids in the newest signed epoch
        "command_reads": bool,    # some signed epoch lists command's reading recipient
        "escrow": bool,           # some signed epoch lists an escrow recipient
        "policy": {               # command's state, for the next epoch
          "escrow": str | null, "command_reads": bool
        },
        "server": null | {        # only when counted (and the server has it)
          "epochs": [int],        # the epoch numbers imported on the server
          "contacts": int,        # contact rows (accepted or cut)
          "contacts_with_items": int,
          "items": int,           # stored items: what contacts sent, and replies
          "replies": int,         # of which replies to contacts
          "items_by_epoch": {"<n>": int}   # "0": stored before epochs were recorded
        }
      }],
      "principals": [{
        "key": str,               # stable: "server-disk", "command", "escrow:<n>",
                                  # "handler:<door>:<id>", "desk:<door>:<id>",
                                  # "contact:<door>", "member:<door>"
        "kind": "server-disk" | "command" | "escrow" | "handler" | "desk"
                | "contact" | "member",
        "label": str,
        "door": str | null,
        "handler": str | null,    # the handler's id (handler and desk)
        "status": null | "current" | "awaiting-epoch" | "removed-not-signed"
                | "removed",
        "decrypts": [{            # one per compartment whose epochs list its recipient
          "compartment": str, "door": str,
          "scope": "all" | "epochs" | "own-replies",
          "epochs": [int],        # the signed epochs that list its recipient
          "exact": bool,          # false: "items" and "contacts" are upper bounds
          "items": int | null,    # null without counts, and for own-replies
          "contacts": int | null, # contacts those items came from or went to
          "replies_per_contact": null | {contact id: int}   # own-replies, counted
        }],
        "holds": [str], "can": [str], "cannot": [str], "learns": [str]
      }]
    }

``decrypts`` is about what is stored on the server (desks may hold more:
items the server deleted since). Scope "all": every item of the
compartment; "epochs": those sealed under the listed epochs only (a handler
removed, or added, or an escrow set, along the way); "own-replies": a
contact's own conversation's replies, counted per contact id. ``holds``,
``can``, ``cannot`` and ``learns`` are sentences for people, not for
parsing.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import crypto, org
from ._state import CommandState, Compartment

FORMAT_VERSION = 1
#: The epoch of an item stored before the server recorded epochs.
UNRECORDED = 0


class Kind(enum.StrEnum):
    SERVER_DISK = "server-disk"
    COMMAND = "command"
    ESCROW = "escrow"
    HANDLER = "handler"
    DESK = "desk"
    CONTACT = "contact"
    MEMBER = "member"


class Scope(enum.StrEnum):
    ALL = "all"  # every item of the compartment
    EPOCHS = "epochs"  # the items sealed under some of its epochs only
    OWN_REPLIES = "own-replies"  # a contact's own conversation's replies


class Status(enum.StrEnum):
    """A handler's place in their compartment, from the state and the epochs."""

    CURRENT = "current"  # in the state and in the newest signed epoch
    AWAITING_EPOCH = "awaiting-epoch"  # added, but no epoch signed since
    REMOVED_NOT_SIGNED = "removed-not-signed"  # removed; the newest epoch still lists them
    REMOVED = "removed"  # removed, and an epoch without them is signed


@dataclass(frozen=True)
class EpochTally:
    """The stored items sealed under one epoch, and whose they are."""

    items: int
    contacts: frozenset[str] = frozenset()  # contact ids they came from or went to


@dataclass(frozen=True)
class CompartmentCounts:
    """What the server's database shows of one compartment (no plaintext)."""

    epochs: frozenset[int]  # imported
    contacts: int
    #: By the epoch the server sealed them to; :data:`UNRECORDED` for items
    #: stored before it said.
    items_by_epoch: Mapping[int, EpochTally] = field(default_factory=dict)
    replies: int = 0
    #: Replies stored per contact id; a contact without any may be absent.
    replies_per_contact: Mapping[str, int] = field(default_factory=dict)

    @property
    def items(self) -> int:
        return sum(t.items for t in self.items_by_epoch.values())

    @property
    def contacts_with_items(self) -> int:
        found: set[str] = set()
        for tally in self.items_by_epoch.values():
            found |= tally.contacts
        return len(found)


@dataclass(frozen=True)
class ServerCounts:
    #: By compartment id; a compartment the server never heard of is absent.
    compartments: Mapping[str, CompartmentCounts]


@dataclass(frozen=True)
class Access:
    compartment_id: str
    door: str
    scope: Scope
    epochs: tuple[int, ...]
    exact: bool
    items: int | None = None
    contacts: int | None = None
    replies_per_contact: Mapping[str, int] | None = None
    later: tuple[int, ...] = ()  # signed epochs that do not list it (for the text)


@dataclass(frozen=True)
class Principal:
    key: str
    kind: Kind
    label: str
    decrypts: tuple[Access, ...] = ()
    holds: tuple[str, ...] = ()
    can: tuple[str, ...] = ()
    cannot: tuple[str, ...] = ()
    learns: tuple[str, ...] = ()
    door: str | None = None
    handler_id: str | None = None
    status: Status | None = None


@dataclass(frozen=True)
class CompartmentSummary:
    compartment_id: str
    door: str
    epochs: tuple[int, ...]
    handlers: tuple[str, ...]
    command_reads: bool
    escrow: bool
    policy_escrow: crypto.AgeRecipient | None
    policy_command_reads: bool
    server: CompartmentCounts | None


@dataclass(frozen=True)
class Report:
    org_id: str
    key_type: crypto.KeyType
    counted: bool
    compartments: tuple[CompartmentSummary, ...]
    principals: tuple[Principal, ...]
    warnings: tuple[str, ...]


def epoch_range(numbers: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` → ``"1-3, 5"``."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _epochs_word(numbers: Iterable[int]) -> str:
    listed = sorted(set(numbers))
    return f"epoch{'s' if len(listed) > 1 else ''} {epoch_range(listed)}"


def plural(n: int, word: str) -> str:
    """``1 item``, ``2 items``; ``reply`` → ``replies``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _doors(doors: Iterable[str]) -> str:
    return ", ".join(f"'{d}'" for d in doors)


# One compartment: which of its epochs hold which recipient, and what the
# server holds of it.


@dataclass(frozen=True)
class _Book:
    compartment: Compartment
    epochs: Mapping[int, org.Epoch]  # signed by command, by number
    counted: bool
    counts: CompartmentCounts | None  # None: not counted, or not on the server

    @property
    def door(self) -> str:
        return self.compartment.door

    @property
    def newest(self) -> org.Epoch | None:
        return self.epochs[max(self.epochs)] if self.epochs else None

    @property
    def in_force(self) -> frozenset[int]:
        """The epochs a stored item may have been sealed under: those the
        server imported when counted (none if it lacks the compartment),
        else every epoch signed."""
        if self.counted:
            return self.counts.epochs if self.counts is not None else frozenset()
        return frozenset(self.epochs)

    @property
    def newest_in_force(self) -> org.Epoch | None:
        numbers = [n for n in self.in_force if n in self.epochs]
        return self.epochs[max(numbers)] if numbers else None

    def listing(self, recipient: str) -> tuple[int, ...]:
        """The signed epochs that list ``recipient``."""
        return tuple(
            n for n, e in sorted(self.epochs.items()) if recipient in map(str, e.recipients())
        )

    def _lists(self, number: int, recipient: str) -> bool | None:
        """Whether epoch ``number`` lists ``recipient``; None if command's
        notes lack that epoch (its recipients are unknown here)."""
        epoch = self.epochs.get(number)
        return None if epoch is None else recipient in map(str, epoch.recipients())

    def access(self, recipient: str) -> Access | None:
        """What an identity for ``recipient`` opens of this compartment."""
        listed = self.listing(recipient)
        if not listed:
            return None
        later = tuple(n for n in sorted(self.epochs) if n not in listed)
        membership = [self._lists(n, recipient) for n in self.in_force]
        everywhere = bool(membership) and all(m is True for m in membership)
        nowhere = all(m is False for m in membership)
        scope = Scope.ALL if everywhere and not later else Scope.EPOCHS
        if not self.counted:
            return Access(self.compartment.compartment_id, self.door, scope, listed, True,
                          later=later)  # fmt: skip
        sure, maybe = 0, 0
        sure_contacts: set[str] = set()
        maybe_contacts: set[str] = set()
        tallies = self.counts.items_by_epoch if self.counts is not None else {}
        for number, tally in tallies.items():
            if number == UNRECORDED:
                # Sealed under one of the epochs in force, not known which.
                opens = True if everywhere else False if nowhere else None
            else:
                opens = self._lists(number, recipient)
            if opens is True:
                sure += tally.items
                sure_contacts |= tally.contacts
            elif opens is None:
                maybe += tally.items
                maybe_contacts |= tally.contacts
        return Access(
            self.compartment.compartment_id,
            self.door,
            scope,
            listed,
            exact=maybe == 0,
            items=sure + maybe,
            contacts=len(sure_contacts | maybe_contacts),
            later=later,
        )

    def own_replies(self) -> Access:
        per_contact = None
        if self.counted:
            per_contact = dict(self.counts.replies_per_contact) if self.counts else {}
        return Access(
            self.compartment.compartment_id,
            self.door,
            Scope.OWN_REPLIES,
            (),
            True,
            contacts=1,
            replies_per_contact=per_contact,
        )


def describe(access: Access) -> str:
    """One line for people: what ``access`` opens."""
    door = f"'{access.door}'"
    if access.scope is Scope.OWN_REPLIES:
        line = f"its own conversation's replies in {door} only"
        if access.replies_per_contact is not None:
            values = list(access.replies_per_contact.values())
            replied = sum(1 for v in values if v)
            line += (
                f": {plural(sum(values), 'reply')} to {plural(replied, 'contact')}, "
                f"at most {max(values, default=0)} to one"
            )
        return line
    numbers = ""
    if access.items is not None:
        bound = "" if access.exact else "at most "
        numbers = (
            f"{bound}{plural(access.items, 'item')} ({plural(access.contacts or 0, 'contact')})"
        )
    if access.scope is Scope.ALL:
        return f"all items of {door}: {numbers}" if numbers else f"all items of {door}"
    line = f"the items of {door} sealed under {_epochs_word(access.epochs)}"
    if access.later:
        line += f", not those of {_epochs_word(access.later)}"
    return f"{line}: {numbers}" if numbers else line


# The principals.


def _server_disk(books: Sequence[_Book]) -> Principal:
    learns = [
        "the organization chart: every compartment's door and id, and each one's "
        "handlers (ids and public keys), escrow and command recipients in every "
        "epoch imported",
        "per compartment: how many contacts and items, on which days (not times), "
        "of which padded sizes, sealed under which epoch, and which contacts "
        "received replies",
        "the audit log: how many entries each compartment's handlers wrote, on which "
        "days; their contents (actions and reasons) are ciphertext",
    ]
    for book in books:
        c = book.counts
        if not book.counted:
            break
        if c is None:
            learns.append(f"'{book.door}': nothing (its notes are not imported)")
            continue
        imported = _epochs_word(c.epochs) if c.epochs else "no epoch"
        learns.append(
            f"'{book.door}': {plural(c.contacts, 'contact')}, {plural(c.items, 'item')} "
            f"({c.items - c.replies} sent by contacts, {plural(c.replies, 'reply')}); "
            f"{imported} imported"
        )
    return Principal(
        key="server-disk",
        kind=Kind.SERVER_DISK,
        label="the server's disk",
        holds=(
            "public keys: handlers' recipients and verify keys, command's reading "
            "recipient and command key, escrow recipients, the root verifier key",
            "signed notes: the organization, command-key certificates, every epoch imported",
            "ciphertext only: items, and contacts' sessions (under keys only their cookies hold)",
            "random ids, compartment ids, days (not times), counts, padded ciphertext sizes",
            "contacts' lookup ids (HKDF of the codename), public recipients, and whether "
            "each codename is accepted; never a codename, never plaintext",
        ),
        cannot=(
            "decrypt any item: no private key of a handler, command, escrow or contact is on it",
            "forge a handler's reply that contacts or desks believe: replies are signed "
            "inside the encryption",
        ),
        learns=(
            *learns,
            "if compromised while running (not only seized): codenames at login and "
            "plaintext at arrival (DESIGN.md, Cryptography)",
        ),
    )


def _command(state: CommandState, books: Sequence[_Book], *, root_key: bool) -> Principal:
    reading = str(state.command.reading_recipient)
    decrypts = tuple(a for b in books if (a := b.access(reading)) is not None)
    read = [a.door for a in decrypts]
    holds = [
        "command's reading identity (command.keystore.age, behind command's passphrase)",
        "the command key (same keystore), which signs every epoch",
        "organization.json and every signed note: all compartments, doors and handlers",
    ]
    can = [
        "sign an epoch for any compartment: add a recipient of the adversary's own, so "
        "that everything sent afterwards is readable, or remove its handlers; until the "
        "root key certifies a new command key",
    ]
    if root_key:
        holds.append("the root key (root.keystore.age is still on this machine)")
        can.append("certify a command key of its own with the root key: the whole chain of trust")
    unread = [b.door for b in books if b.door not in read]
    cannot = []
    if unread:
        cannot.append(
            f"decrypt the items of {_doors(unread)}: no epoch lists command's reading "
            "recipient there (command reads only what desks forward)"
        )
    cannot.append("log in to the server: command has no server credentials")
    learns = [
        "the whole organization chart: every compartment, door, handler id and public key",
        "every audit entry desks export to it, of every compartment: who moved, cut or "
        "deleted which contact or item, and why (entries are sealed to command's "
        "reading identity whatever a compartment's reading policy)",
    ]
    if read:
        learns.append(
            f"the epochs of {_doors(read)} list command's reading recipient: it reads "
            "their items directly, not only what desks forward"
        )
    return Principal(
        key="command",
        kind=Kind.COMMAND,
        label="command's machine",
        decrypts=decrypts,
        holds=tuple(holds),
        can=tuple(can),
        cannot=tuple(cannot),
        learns=tuple(learns),
    )


def _escrows(books: Sequence[_Book]) -> list[Principal]:
    recipients: list[str] = []
    for book in books:
        for _, epoch in sorted(book.epochs.items()):
            if epoch.escrow is not None and str(epoch.escrow) not in recipients:
                recipients.append(str(epoch.escrow))
    found = []
    for n, recipient in enumerate(recipients, 1):
        decrypts = tuple(a for b in books if (a := b.access(recipient)) is not None)
        found.append(
            Principal(
                key=f"escrow:{n}",
                kind=Kind.ESCROW,
                label=f"escrow holder {n} of {_doors(a.door for a in decrypts)}",
                decrypts=decrypts,
                holds=(f"the escrow identity of {recipient[:24]}… (meant to be kept offline)",),
                cannot=(
                    "sign anything, or log in to the server: an escrow recipient has "
                    "no signing key",
                ),
            )
        )
    return found


def _status(book: _Book, handler_id: str) -> Status:
    in_state = any(h.handler_id == handler_id for h in book.compartment.handlers)
    newest = book.newest
    in_newest = newest is not None and any(h.handler_id == handler_id for h in newest.handlers)
    if in_state:
        return Status.CURRENT if in_newest else Status.AWAITING_EPOCH
    return Status.REMOVED_NOT_SIGNED if in_newest else Status.REMOVED


def _handler_entries(book: _Book) -> list[org.HandlerEntry]:
    """Everyone who is or was a handler of the compartment, current first."""
    seen: dict[str, org.HandlerEntry] = {}
    for entry in book.compartment.handlers:
        seen.setdefault(entry.handler_id, entry)
    for _, epoch in sorted(book.epochs.items(), reverse=True):
        for entry in epoch.handlers:
            seen.setdefault(entry.handler_id, entry)
    return list(seen.values())


_HANDLER_KEYS = (
    "the handler's age identity and Ed25519 signing key (keystore.age, behind the "
    "handler's passphrase, and any backup of it)"
)


def _handler_can(book: _Book, entry: org.HandlerEntry, access: Access | None) -> list[str]:
    door = f"'{book.door}'"
    in_force = book.newest_in_force
    can: list[str] = []
    if in_force is not None and in_force.handler(entry.verify_key) is not None:
        can += [
            f"log in to the server as this handler of {door} and download every item it "
            "holds there; delete its items and contacts, cut ties with its contacts, and "
            "report items synced (so that retention deletes them)",
            "sign replies as this handler, which contacts and desks accept",
            "all of it until an epoch without them is in force on the server",
        ]
    elif access is not None and in_force is not None:
        where = "on the server" if book.counted else "(once imported on the server)"
        can.append(
            f"no longer log in, nor sign replies that contacts and desks accept: "
            f"epoch {in_force.number} {where} leaves them out"
        )
    if access is not None and access.scope is Scope.EPOCHS and access.later:
        can.append(
            f"decrypt the items sealed under {_epochs_word(access.epochs)} of {door} "
            f"(past items stay readable), not those of {_epochs_word(access.later)}"
        )
    return can


def _handler_pair(book: _Book, entry: org.HandlerEntry, others: Sequence[str]) -> list[Principal]:
    door = f"'{book.door}'"
    status = _status(book, entry.handler_id)
    access = book.access(str(entry.recipient))
    decrypts = (access,) if access is not None else ()
    can = _handler_can(book, entry, access)
    if status is Status.REMOVED_NOT_SIGNED:
        can.append(
            f"receive everything sent to {door}: removed in command's state, but the "
            "newest signed epoch still lists them until the next one is signed and imported"
        )
    if status is Status.AWAITING_EPOCH:
        can.append(f"nothing yet: added to {door}, but no epoch signed since lists them")
    cannot = []
    if others:
        cannot.append(
            f"decrypt anything of {_doors(others)}: their items are not sealed to this handler"
        )
    cannot.append(
        "learn other compartments' doors or handlers from the server: it shows a "
        "compartment's notes only to its handlers"
    )
    learns = (
        f"the door {door}, its compartment id, and its handlers and recipients in the "
        "epochs they received",
        f"the contacts of {door}: their ids and public recipients (handler API)",
        f"the audit entries of {door}: every handler's actions and reasons there "
        "(lifecycle steps, cut ties, deletions); never another compartment's",
    )
    who = f"handler {entry.handler_id[:12]} of {door}"
    if status in (Status.REMOVED, Status.REMOVED_NOT_SIGNED):
        who = f"former {who}"
    handler = Principal(
        key=f"handler:{book.door}:{entry.handler_id}",
        kind=Kind.HANDLER,
        label=who,
        door=book.door,
        handler_id=entry.handler_id,
        status=status,
        decrypts=decrypts,
        holds=(_HANDLER_KEYS,),
        can=tuple(can),
        cannot=tuple(cannot),
        learns=learns,
    )
    desk = dataclasses.replace(
        handler,
        key=f"desk:{book.door}:{entry.handler_id}",
        kind=Kind.DESK,
        label=f"desk laptop of {who}",
        holds=(
            _HANDLER_KEYS,
            f"desk.json: the server's address, the root key, the door {door}, the accepted epochs",
            "index.json: ids, days, sizes and epochs of the synced items; contacts' ids "
            "and public recipients",
            "items/*.age: every item synced, as ciphertext the keystore opens: copies "
            "that outlive the server's retention and deletions",
            "any export the handler made (shoal desk export): plaintext, wherever it went",
        ),
        learns=(
            *learns,
            "the counts are of what the server holds now: the laptop may hold fewer "
            "items (not synced yet) or more (deleted from the server since)",
        ),
    )
    return [handler, desk]


def _contact_pair(book: _Book, others: Sequence[str]) -> list[Principal]:
    door = f"'{book.door}'"
    access = book.own_replies()
    cannot = (
        "read what they sent: messages and files are sealed to the compartment's "
        "recipients only, not to the contact",
        "read other contacts' replies" + (f", or anything of {_doors(others)}" if others else ""),
    )
    can = (
        f"log in at {door} as this contact while the codename is accepted (until ties "
        "are cut): read and delete their replies, send in their name",
    )
    learns = (f"the door {door} only: no other compartment's door is shown to a contact",)
    contact = Principal(
        key=f"contact:{book.door}",
        kind=Kind.CONTACT,
        label=f"a contact of {door}",
        door=book.door,
        decrypts=(access,),
        holds=(
            "the codename (on paper or in memory): it derives the contact's lookup id and "
            "their own reply identity",
            "a session cookie while a session is open (an hour without a request)",
        ),
        can=can,
        cannot=cannot,
        learns=learns,
    )
    member = Principal(
        key=f"member:{book.door}",
        kind=Kind.MEMBER,
        label=f"a member of {door}",
        door=book.door,
        decrypts=(access,),
        holds=(
            "for now what a contact holds: members' signing keys (the field client) come "
            "with a later issue, and this entry will then add the signing key that signs "
            "reports in the member's name",
        ),
        can=can,
        cannot=cannot,
        learns=learns,
    )
    return [contact, member]


def build_report(
    state: CommandState,
    epochs: Iterable[org.Epoch],
    *,
    counts: ServerCounts | None = None,
    root_key_on_machine: bool = False,
    warnings: Iterable[str] = (),
) -> Report:
    """The exposure report of the organization ``state`` describes.

    ``epochs`` are the epochs command signed (verified by the caller);
    those of a compartment the state does not know are left out, with a
    warning. ``root_key_on_machine`` says the root keystore is still in
    command's directory. ``warnings`` (the shell's, about notes it could
    not use) come first in the report's.
    """
    found_warnings = list(warnings)
    known = {c.compartment_id for c in state.compartments}
    by_compartment: dict[str, dict[int, org.Epoch]] = {}
    for epoch in epochs:
        if epoch.compartment_id not in known:
            found_warnings.append(f"epoch {epoch.number} of '{epoch.door}': no such compartment")
            continue
        by_compartment.setdefault(epoch.compartment_id, {})[epoch.number] = epoch
    books = [
        _Book(
            c,
            by_compartment.get(c.compartment_id, {}),
            counts is not None,
            counts.compartments.get(c.compartment_id) if counts is not None else None,
        )
        for c in state.compartments
    ]
    if root_key_on_machine:
        found_warnings.append("root.keystore.age is still in command's directory: move it offline")
    found_warnings += _book_warnings(books, counts, known)

    principals = [_server_disk(books)]
    principals.append(_command(state, books, root_key=root_key_on_machine))
    principals += _escrows(books)
    for book in books:
        others = [b.door for b in books if b is not book]
        for entry in _handler_entries(book):
            principals += _handler_pair(book, entry, others)
        principals += _contact_pair(book, others)
    reading = str(state.command.reading_recipient)
    summaries = tuple(
        CompartmentSummary(
            compartment_id=b.compartment.compartment_id,
            door=b.door,
            epochs=tuple(sorted(b.epochs)),
            handlers=tuple(h.handler_id for h in b.newest.handlers) if b.newest else (),
            command_reads=bool(b.listing(reading)),
            escrow=any(e.escrow is not None for e in b.epochs.values()),
            policy_escrow=b.compartment.escrow,
            policy_command_reads=b.compartment.command_reads,
            server=b.counts,
        )
        for b in books
    )
    return Report(
        org_id=state.organization.org_id,
        key_type=state.organization.key_type,
        counted=counts is not None,
        compartments=summaries,
        principals=tuple(principals),
        warnings=tuple(found_warnings),
    )


def _book_warnings(
    books: Sequence[_Book], counts: ServerCounts | None, known: set[str]
) -> list[str]:
    warnings = []
    for book in books:
        door = f"'{book.door}'"
        newest = book.newest
        if newest is None:
            warnings.append(f"{door} has no signed epoch: nothing can be sent to it")
            continue
        policy = book.compartment
        if (
            {h.handler_id for h in policy.handlers} != {h.handler_id for h in newest.handlers}
            or (policy.escrow is None) != (newest.escrow is None)
            or str(policy.escrow) != str(newest.escrow)
            or policy.command_reads != (newest.command is not None)
        ):
            warnings.append(
                f"{door}: command's state differs from epoch {newest.number} (handlers, "
                "escrow or command's reading): sign the next epoch for it to apply"
            )
        if counts is None:
            continue
        if book.counts is None:
            warnings.append(f"{door} is not on the server: import its notes")
            continue
        imported = max(book.counts.epochs, default=0)
        if imported < newest.number:
            warnings.append(
                f"{door}: the server holds epoch {imported}, command signed {newest.number}: "
                "it seals to the older one until the note is imported"
            )
        unknown = sorted(book.counts.epochs - set(book.epochs))
        if unknown:
            warnings.append(
                f"{door}: the server holds {_epochs_word(unknown)}, which command's notes "
                "lack: counts that depend on them are upper bounds"
            )
    if counts is not None:
        for compartment_id in sorted(set(counts.compartments) - known):
            warnings.append(f"the server holds compartment {compartment_id}, unknown to command")
    return warnings


# JSON.


def _access_json(access: Access) -> dict[str, Any]:
    per_contact = access.replies_per_contact
    return {
        "compartment": access.compartment_id,
        "door": access.door,
        "scope": access.scope.value,
        "epochs": list(access.epochs),
        "exact": access.exact,
        "items": access.items,
        "contacts": access.contacts,
        "replies_per_contact": dict(sorted(per_contact.items())) if per_contact else per_contact,
    }


def _counts_json(counts: CompartmentCounts | None) -> dict[str, Any] | None:
    if counts is None:
        return None
    return {
        "epochs": sorted(counts.epochs),
        "contacts": counts.contacts,
        "contacts_with_items": counts.contacts_with_items,
        "items": counts.items,
        "replies": counts.replies,
        "items_by_epoch": {str(n): t.items for n, t in sorted(counts.items_by_epoch.items())},
    }


def to_json(report: Report) -> dict[str, Any]:
    """The report in the schema of this module's docstring."""
    return {
        "shoal-exposure": FORMAT_VERSION,
        "organization": {"id": report.org_id, "key_type": report.key_type.value},
        "counted": report.counted,
        "warnings": list(report.warnings),
        "compartments": [
            {
                "id": c.compartment_id,
                "door": c.door,
                "epochs": list(c.epochs),
                "handlers": list(c.handlers),
                "command_reads": c.command_reads,
                "escrow": c.escrow,
                "policy": {
                    "escrow": str(c.policy_escrow) if c.policy_escrow is not None else None,
                    "command_reads": c.policy_command_reads,
                },
                "server": _counts_json(c.server),
            }
            for c in report.compartments
        ],
        "principals": [
            {
                "key": p.key,
                "kind": p.kind.value,
                "label": p.label,
                "door": p.door,
                "handler": p.handler_id,
                "status": p.status.value if p.status is not None else None,
                "decrypts": [_access_json(a) for a in p.decrypts],
                "holds": list(p.holds),
                "can": list(p.can),
                "cannot": list(p.cannot),
                "learns": list(p.learns),
            }
            for p in report.principals
        ],
    }
