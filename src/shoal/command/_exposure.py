"""The exposure report: for each principal, what an adversary who captured
it could decrypt or learn (DESIGN.md, "Compartments", "Exposure report").

Pure: command's state, the epochs command signed (opened from its notes by
the shell) and, optionally, counts read from the server's database go in;
a :class:`Report` comes out. Command never sees the server, so without
counts the report names *which* items (all of compartment 'a', its own
replies, …) and leaves the numbers out.

Why it follows from the epochs alone: every stored item is one age file
sealed to the recipients of one epoch of its compartment, and a reply also
to its contact's recipient (docs/api.md, "Items"). An identity therefore
decrypts exactly the items sealed under the epochs that list its
recipient, plus, for a contact, the replies sealed to them. The server
does not record which epoch sealed an item, so for a principal listed in
some of a compartment's epochs and not in others (a handler removed, or
added later) the counts are upper bounds, and say so (``exact`` false).
The tests check all of this against trial decryption of every stored
blob with each principal's real keys (tests/command/test_exposure.py).

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
        "command_reads": bool,    # some epoch lists command's reading recipient
        "escrow": bool,           # some epoch lists an escrow recipient
        "server": null | {        # only when counted
          "epochs": [int],        # the epoch numbers imported on the server
          "contacts": int,        # contact rows (accepted or cut)
          "contacts_with_items": int,
          "items": int,           # stored items: what contacts sent, and replies
          "replies": int          # of which replies to contacts
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
        "decrypts": [{            # one entry per compartment it can read anything of
          "compartment": str, "door": str,
          "scope": "all" | "epochs" | "own-replies",
          "epochs": [int],        # the signed epochs that list its recipient
          "exact": bool,          # false: the counts below are upper bounds
          "items": int | null,    # null without counts (and for own-replies)
          "contacts": int | null, # contacts those items came from or went to
          "replies_per_contact": null | {contact id: int}   # own-replies, counted
        }],
        "holds": [str], "can": [str], "cannot": [str], "learns": [str]
      }]
    }

``decrypts`` lists what the principal's keys open among the items stored
on the server; the server's disk and a fresh contact have ``[]`` or only
their own replies. ``holds``, ``can``, ``cannot`` and ``learns`` are
sentences for people, not for parsing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import crypto, org
from ._state import CommandState, Compartment

FORMAT_VERSION = 1


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
    """A handler's place in their compartment, from state and epochs."""

    CURRENT = "current"  # in the state and in the newest signed epoch
    AWAITING_EPOCH = "awaiting-epoch"  # added, but no epoch signed since
    REMOVED_NOT_SIGNED = "removed-not-signed"  # removed, newest epoch still lists them
    REMOVED = "removed"  # removed, and an epoch without them is signed


@dataclass(frozen=True)
class CompartmentCounts:
    """What the server's database shows of one compartment (no plaintext)."""

    epochs: frozenset[int]
    contacts: int
    contacts_with_items: int
    items: int
    replies: int
    #: Replies stored per contact id; a contact without any is absent or 0.
    replies_per_contact: Mapping[str, int] = field(default_factory=dict)


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
    listed = list(numbers)
    return f"epoch{'s' if len(listed) > 1 else ''} {epoch_range(listed)}"


def _short(handler_id: str) -> str:
    return handler_id[:12]


# Which epochs hold which recipient.


@dataclass(frozen=True)
class _Book:
    """One compartment's signed epochs, and what the server has of them."""

    compartment: Compartment
    epochs: Mapping[int, org.Epoch]  # signed by command, by number
    counts: CompartmentCounts | None  # None: not counted, or not on the server
    counted: bool

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

    def access(self, recipient: str) -> Access | None:
        """What an identity for ``recipient`` opens of this compartment."""
        listed = self.listing(recipient)
        if not listed:
            return None
        # True / False per epoch in force; None for one the server holds
        # but command's notes lack (its recipients are unknown here).
        member = [
            (recipient in map(str, self.epochs[n].recipients())) if n in self.epochs else None
            for n in self.in_force
        ]
        counts = self.counts if self.counted else None
        if member and all(m is True for m in member):
            scope, exact, everything = Scope.ALL, True, True
        elif all(m is False for m in member):
            # Listed only in epochs no stored item can be sealed under.
            scope, exact, everything = Scope.EPOCHS, True, False
        else:
            scope, exact, everything = Scope.EPOCHS, False, True
        items = contacts = None
        if self.counted:
            found = everything and counts is not None
            items = counts.items if found and counts is not None else 0
            contacts = counts.contacts_with_items if found and counts is not None else 0
        return Access(
            self.compartment.compartment_id, self.door, scope, listed, exact, items, contacts
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
            total, most = sum(values), max(values, default=0)
            replied = sum(1 for v in values if v)
            line += f": at most {most} per contact ({total} replies to {replied} contact(s))"
        return line
    if access.items is not None:
        numbers = f"{access.items} item(s) of {door} ({access.contacts} contact(s))"
    else:
        numbers = ""
    if access.scope is Scope.ALL:
        return f"all {numbers}" if numbers else f"all items of compartment {door}"
    epochs = _epochs_word(access.epochs)
    if access.exact:
        return f"nothing of {door}: listed only in {epochs}, which no stored item is sealed under"
    line = f"the items of {door} sealed under {epochs} (past items), not those of later epochs"
    return f"{line}: at most {numbers}" if numbers else line


# The principals.


def _server_disk(report_books: Sequence[_Book], counted: bool) -> Principal:
    learns = [
        "the organization chart: every compartment's door and id, and each one's "
        "handlers (ids and public keys) in every epoch imported",
        "per compartment: how many contacts and items, on which days (not times), "
        "of which padded sizes, and which contacts received replies",
    ]
    if counted:
        for book in report_books:
            c = book.counts
            if c is None:
                learns.append(f"'{book.door}': nothing (not imported on the server)")
                continue
            learns.append(
                f"'{book.door}': {c.contacts} contact(s), {c.items} item(s) "
                f"({c.items - c.replies} sent by contacts, {c.replies} replies), "
                f"{_epochs_word(sorted(c.epochs)) if c.epochs else 'no epoch'} imported"
            )
    return Principal(
        key="server-disk",
        kind=Kind.SERVER_DISK,
        label="the server's disk",
        holds=(
            "public keys: handlers' recipients and verify keys, command's reading "
            "recipient and command key, the root verifier key",
            "signed notes: the organization, command-key certificates, every epoch imported",
            "ciphertext only: items, contacts' sessions (under keys only their cookies hold)",
            "random ids, compartment ids, days (not times), counts, padded ciphertext sizes",
            "contacts' lookup ids (HKDF of the codename), public recipients, and whether "
            "each codename is accepted — never a codename, never plaintext",
        ),
        cannot=(
            "decrypt any item: no private key of a handler, command or contact is on it",
            "forge a handler's reply that contacts or desks believe: replies are signed "
            "inside the encryption",
        ),
        learns=(
            *learns,
            "if compromised while running (not only seized): codenames at login and "
            "plaintext at arrival (DESIGN.md, threat model)",
        ),
    )


def _command(
    state: CommandState, books: Sequence[_Book], *, root_key_on_machine: bool
) -> Principal:
    reading = str(state.command.reading_recipient)
    decrypts = tuple(a for b in books if (a := b.access(reading)) is not None)
    holds = [
        "command's reading identity (command.keystore.age, behind command's passphrase)",
        "the command key (same keystore), which signs every epoch",
        "organization.json and every signed note: all compartments, doors and handlers",
    ]
    can = [
        "sign an epoch for any compartment: add a recipient of the adversary's, so "
        "everything sent afterwards is readable, or remove handlers — until the root "
        "key certifies a new command key",
    ]
    if root_key_on_machine:
        holds.append("the root key (root.keystore.age is still on this machine)")
        can.append("certify a command key of its own with the root key: the whole chain of trust")
    read = [a.door for a in decrypts]
    cannot = [
        f"decrypt items of '{b.door}': no epoch lists command"
        for b in books
        if not any(a.compartment_id == b.compartment.compartment_id for a in decrypts)
    ]
    learns = ["the whole organization chart: every compartment, door, handler id and public key"]
    if read:
        learns.append(
            "the epochs signed so far list command's reading recipient in "
            + ", ".join(f"'{d}'" for d in read)
            + ": it reads their items directly, not only what desks forward"
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
        for epoch in book.epochs.values():
            if epoch.escrow is not None and str(epoch.escrow) not in recipients:
                recipients.append(str(epoch.escrow))
    found = []
    for n, recipient in enumerate(recipients, 1):
        decrypts = tuple(a for b in books if (a := b.access(recipient)) is not None)
        found.append(
            Principal(
                key=f"escrow:{n}",
                kind=Kind.ESCROW,
                label=f"escrow holder {n} ({recipient[:16]}…)",
                decrypts=decrypts,
                holds=("the escrow identity for the recipient listed in the epochs",),
                cannot=("sign anything: an escrow recipient has no signing key",),
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


def _handler_pair(book: _Book, entry: org.HandlerEntry, others: Sequence[str]) -> list[Principal]:
    door = f"'{book.door}'"
    status = _status(book, entry.handler_id)
    access = book.access(str(entry.recipient))
    decrypts = (access,) if access is not None else ()
    in_force = book.newest_in_force
    listed = book.listing(str(entry.recipient))
    can: list[str] = []
    if in_force is not None and in_force.handler(entry.verify_key) is not None:
        can += [
            f"log in to the server as this handler of {door} and download every item "
            "it holds there, until an epoch without them is in force",
            "sign replies as this handler, which contacts and desks accept until an "
            "epoch without them is in force",
        ]
    elif listed and in_force is not None:
        where = "on the server" if book.counted else "(once imported on the server)"
        can.append(
            f"no longer log in, nor sign replies that contacts and desks accept: epoch "
            f"{in_force.number} {where} leaves them out"
        )
    if access is not None and access.scope is Scope.EPOCHS and not access.exact:
        later = sorted(set(book.epochs) - set(listed))
        can.append(
            f"decrypt the past items: those sealed under {_epochs_word(listed)} of {door}"
            + (f"; not those sealed under {_epochs_word(later)}" if later else "")
        )
    notes: list[str] = []
    if status is Status.REMOVED_NOT_SIGNED:
        notes.append(
            f"removed from {door} in command's state, but the newest signed epoch still "
            "lists them: everything sent is sealed to them until the next epoch is "
            "signed and imported"
        )
    if status is Status.AWAITING_EPOCH:
        notes.append(f"added to {door}, but no epoch signed since lists them")
    cannot = (
        [
            f"decrypt anything of {', '.join(f'{o!r}' for o in others)}: "
            "their items are not sealed to this handler"
        ]
        if others
        else []
    )
    cannot.append(
        "learn the other compartments' doors or handlers from the server: it shows "
        "a compartment's notes only to its handlers"
    )
    learns = [
        f"the door {door}, its compartment id, and its handlers in the epochs they "
        "received (ids and public keys)",
        f"the contacts of {door}: their ids and public recipients (handler API)",
    ]
    keys = (
        "the handler's age identity and Ed25519 signing key (keystore.age, behind "
        "the handler's passphrase, and any backup of it)"
    )
    who = f"handler {_short(entry.handler_id)} of {door}"
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
        holds=(keys,),
        can=tuple(can),
        cannot=tuple(cannot),
        learns=(*learns, *notes),
    )
    desk = Principal(
        key=f"desk:{book.door}:{entry.handler_id}",
        kind=Kind.DESK,
        label=f"desk laptop of {who}",
        door=book.door,
        handler_id=entry.handler_id,
        status=status,
        decrypts=decrypts,
        holds=(
            keys,
            f"desk.json: the server's address, the root key, the door {door}, and the "
            "accepted epochs",
            "index.json: ids, days and sizes of the synced items; contacts' ids and "
            "public recipients",
            "items/*.age: every item synced, as ciphertext the keystore opens — copies "
            "that outlive the server's retention and deletions",
            "any export the handler made (shoal desk export): plaintext, wherever it went",
        ),
        can=tuple(can),
        cannot=tuple(cannot),
        learns=(
            *learns,
            *notes,
            "counts are of what the server holds now: the laptop may hold fewer items "
            "(not synced yet) or more (deleted from the server since)",
        ),
    )
    return [handler, desk]


def _contact_pair(book: _Book, others: Sequence[str]) -> list[Principal]:
    door = f"'{book.door}'"
    access = book.own_replies()
    cannot = (
        "read what they sent: messages and files are sealed to the compartment's "
        "recipients only, not to the contact",
        "read other contacts' replies"
        + (f", or anything of {', '.join(f'{o!r}' for o in others)}" if others else ""),
    )
    learns = (f"the door {door} only: no other compartment's door is shown to a contact",)
    contact = Principal(
        key=f"contact:{book.door}",
        kind=Kind.CONTACT,
        label=f"a contact of {door}",
        door=book.door,
        decrypts=(access,),
        holds=(
            "the codename (on paper or in memory): it derives the contact's lookup id "
            "and their own reply identity",
            "a session cookie while a session is open (an hour without a request)",
        ),
        can=(
            f"log in at {door} as this contact while the codename is accepted (until "
            "ties are cut): read and delete their replies, send in their name",
        ),
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
            "for now what a contact holds: members' signing keys (the field client) "
            "come with a later issue; this entry will then add the member's signing "
            "key, which signs reports in their name",
        ),
        can=contact.can,
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
) -> Report:
    """The exposure report of the organization ``state`` describes.

    ``epochs`` are the epochs command signed (verified by the caller);
    epochs of a compartment the state does not know are left out, with a
    warning. ``root_key_on_machine`` says the root keystore is still in
    command's directory.
    """
    by_compartment: dict[str, dict[int, org.Epoch]] = {}
    warnings: list[str] = []
    known = {c.compartment_id for c in state.compartments}
    for epoch in epochs:
        if epoch.compartment_id not in known:
            warnings.append(f"epoch {epoch.number} of {epoch.door!r}: no such compartment")
            continue
        by_compartment.setdefault(epoch.compartment_id, {})[epoch.number] = epoch
    counted = counts is not None
    books = [
        _Book(
            c,
            by_compartment.get(c.compartment_id, {}),
            counts.compartments.get(c.compartment_id) if counts is not None else None,
            counted,
        )
        for c in state.compartments
    ]
    if root_key_on_machine:
        warnings.append("root.keystore.age is still in command's directory: move it offline")
    warnings += _book_warnings(books, counts, known)

    principals = [_server_disk(books, counted)]
    principals.append(_command(state, books, root_key_on_machine=root_key_on_machine))
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
            server=b.counts,
        )
        for b in books
    )
    return Report(
        org_id=state.organization.org_id,
        key_type=state.organization.key_type,
        counted=counted,
        compartments=summaries,
        principals=tuple(principals),
        warnings=tuple(warnings),
    )


def _book_warnings(
    books: Sequence[_Book], counts: ServerCounts | None, known: set[str]
) -> list[str]:
    warnings = []
    for book in books:
        door = f"'{book.door}'"
        if not book.epochs:
            warnings.append(f"{door} has no signed epoch: nothing can be sent to it")
            continue
        newest = max(book.epochs)
        if counts is None:
            continue
        if book.counts is None:
            warnings.append(f"{door} is not on the server: import its notes")
            continue
        imported = max(book.counts.epochs, default=0)
        if imported < newest:
            warnings.append(
                f"{door}: the server holds epoch {imported}, command signed {newest}: "
                "it still seals to the older one until the note is imported"
            )
        unknown = sorted(book.counts.epochs - set(book.epochs))
        if unknown:
            warnings.append(
                f"{door}: the server holds {_epochs_word(unknown)}, which command's notes "
                "lack: counts for them are upper bounds"
            )
    if counts is not None:
        for compartment_id in sorted(set(counts.compartments) - known):
            warnings.append(f"the server holds compartment {compartment_id}, unknown to command")
    return warnings


# JSON.


def _access_json(access: Access) -> dict[str, Any]:
    return {
        "compartment": access.compartment_id,
        "door": access.door,
        "scope": access.scope.value,
        "epochs": list(access.epochs),
        "exact": access.exact,
        "items": access.items,
        "contacts": access.contacts,
        "replies_per_contact": (
            dict(sorted(access.replies_per_contact.items()))
            if access.replies_per_contact is not None
            else None
        ),
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
                "server": _counts_json(c.server) if report.counted else None,
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
