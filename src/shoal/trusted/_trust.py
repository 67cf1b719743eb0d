"""Which epoch of our compartment a trusted machine believes, from notes the server shows.

Shared by the handler's desk and the member's field client. The server is
untrusted: it hands over the organization's signed notes (``GET
/api/v1/org``, or a door's ``…/org`` for members), and the client believes
only what verifies against the root key it was enrolled with (given out of
band), along the chain
root → command key → epoch (:mod:`shoal.org`). Pure: notes and ``now`` in,
verified values out.

What the desk refuses, beyond a bad signature:

- an epoch older than the newest it has accepted (a rollback, which would
  put removed handlers back among the recipients);
- a command key older than the newest it has seen: a rotation retires the
  old key, and a server that hides the new certificate could otherwise
  sign epochs of its own with a retired (perhaps stolen) key;
- an expired epoch;
- two different epochs under one number (a split view: the server shows
  different desks different memberships);
- a door that now belongs to another compartment, or, on the first look,
  to another compartment than the one command gave at enrollment.

Every epoch accepted is kept (:class:`AcceptedEpoch`, with the time it was
accepted) so that, offline, the desk can re-verify the whole history and
tell a reply from a current handler from one by a handler removed since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from .. import crypto, org
from .errors import StateFileError, TrustError

T = TypeVar("T")


@dataclass(frozen=True)
class OrgDocument:
    """The answer to ``GET /api/v1/org``: notes, none verified yet."""

    organization: str
    commands: tuple[str, ...]
    epochs: tuple[str, ...]


@dataclass(frozen=True)
class AcceptedEpoch:
    """An epoch note as accepted, with the certificate of the key that signed it."""

    epoch_note: str
    command_note: str
    accepted: datetime


@dataclass(frozen=True)
class Acceptance:
    """What one look at the server's notes decided, for the shell to save.

    ``command_serial`` is the serial of the command key now in force: the
    floor for every later look. ``epoch`` is the new epoch to keep, ``None``
    when the one shown is the epoch already current.
    """

    command_serial: int
    epoch: AcceptedEpoch | None


@dataclass(frozen=True)
class Trust:
    """The organization and every accepted epoch of our compartment, oldest first."""

    organization: org.Organization
    epochs: tuple[org.Epoch, ...]
    #: The highest serial among the certificates of the accepted epochs.
    command_serial: int
    #: Command's reading recipient, from the newest certificate: audit
    #: entries are sealed to it whatever the compartment's policy.
    command_reading: crypto.AgeRecipient | None = None

    @property
    def current(self) -> org.Epoch:
        return self.epochs[-1]

    @property
    def compartment_id(self) -> str:
        return self.current.compartment_id

    def signer(self, key: crypto.VerifyKey) -> tuple[org.HandlerEntry, int] | None:
        """The handler entry of ``key`` and the newest epoch listing it, if any."""
        for epoch in reversed(self.epochs):
            entry = epoch.handler(key)
            if entry is not None:
                return entry, epoch.number
        return None


def _checked(what: str, verify: Callable[[], T]) -> T:
    try:
        return verify()
    except (crypto.CryptoError, org.OrgError) as exc:
        raise TrustError(f"{what}: {exc}") from None


def rebuild(
    root: crypto.NoteVerifier, organization_note: str, history: Sequence[AcceptedEpoch]
) -> Trust:
    """Re-verify what was accepted before, each epoch at the time it was accepted.

    Expiry is judged as it was then: an epoch that has expired since still
    says who was a handler while it was current.
    """
    try:
        organization = org.verify_organization(organization_note, root)
        epochs = []
        serials = []
        reading = None
        for entry in history:
            certificate = org.verify_command(entry.command_note, root, organization)
            serials.append(certificate.serial)
            reading = certificate.reading_recipient
            epochs.append(
                org.verify_epoch(entry.epoch_note, certificate, organization, now=entry.accepted)
            )
    except (crypto.CryptoError, org.OrgError):
        raise StateFileError(
            "the stored organization notes do not verify against the enrolled root key"
        ) from None
    if len({e.compartment_id for e in epochs}) != 1:
        raise StateFileError("the stored notes hold epochs of more than one compartment")
    return Trust(organization, tuple(epochs), max(serials, default=0), reading)


def accept(
    document: OrgDocument,
    root: crypto.NoteVerifier,
    door: str,
    *,
    now: datetime,
    known: Trust | None,
    command_serial: int,
    compartment_id: str | None,
) -> Acceptance:
    """The command key in force and the newest epoch of ``door``, if it is new.

    ``command_serial`` is the highest command-key serial this desk has seen;
    ``compartment_id`` the compartment command gave at enrollment, if any.
    Raises :class:`TrustError` when what ``document`` shows must not be used;
    then nothing of it may be saved.
    """
    organization = _checked(
        "the organization note is not signed by the enrolled root key",
        lambda: org.verify_organization(document.organization, root),
    )
    if known is not None and organization != known.organization:
        raise TrustError("the server shows another organization record than before")
    # The desk's own memory sets the floor, and the certificates of the
    # epochs it accepted too (for a desk.json written before that memory).
    floor = max(command_serial, known.command_serial if known is not None else 0)
    certificate, command_note = _command_key(document, root, organization, floor)
    note = _newest_epoch_note(document, certificate, door)
    newest_seen = known.current.number if known is not None else 0
    epoch = _checked(
        f"the epoch of door {door!r} is refused",
        lambda: org.verify_epoch(note, certificate, organization, now=now, newest_seen=newest_seen),
    )
    if known is None:
        # Checked before anything is saved: a first epoch of the wrong
        # compartment, once saved, would become the one the desk trusts.
        if compartment_id is not None and epoch.compartment_id != compartment_id:
            raise TrustError(
                f"door {door!r} belongs to compartment {epoch.compartment_id}, "
                f"not to {compartment_id} as enrolled"
            )
        return Acceptance(certificate.serial, AcceptedEpoch(note, command_note, now))
    if epoch.compartment_id != known.compartment_id:
        raise TrustError(f"door {door!r} now belongs to another compartment")
    if epoch.number == known.current.number:
        if epoch != known.current:
            raise TrustError(
                f"the server shows two different epochs numbered {epoch.number} (a split view)"
            )
        return Acceptance(certificate.serial, None)
    return Acceptance(certificate.serial, AcceptedEpoch(note, command_note, now))


def _command_key(
    document: OrgDocument, root: crypto.NoteVerifier, organization: org.Organization, floor: int
) -> tuple[org.CommandCertificate, str]:
    """The certificate in force, and its note: the newest shown, if not older than ``floor``."""
    certificates = []
    for note in document.commands:
        try:
            certificates.append((org.verify_command(note, root, organization), note))
        except (crypto.CryptoError, org.OrgError):
            continue  # not certified by our root: not ours to use
    if not certificates:
        raise TrustError("the server shows no command key certified by the root key")
    # The root key certifies a new serial to rotate the command key: the
    # newest certificate is the one in force, and the older keys are retired.
    certificate, note = max(certificates, key=lambda pair: pair[0].serial)
    # The server chooses which certificates to show: one that hides the
    # newest would have us trust a retired key, which may be in hostile hands.
    if certificate.serial < floor:
        raise TrustError(
            f"the server shows an older command key (serial {certificate.serial}) than this "
            f"desk has seen (serial {floor}): possible rollback attack"
        )
    return certificate, note


def _newest_epoch_note(
    document: OrgDocument, certificate: org.CommandCertificate, door: str
) -> str:
    """The highest-numbered epoch note of ``door`` signed by the key in force."""
    candidates = []
    for note in document.epochs:
        try:
            text = crypto.open_note(note, [certificate.command_key]).text
            epoch = org.Epoch.from_record(text)
        except (crypto.CryptoError, org.OrgError):
            continue  # another key's note (a retired one's too), or not a note
        if epoch.door == door:
            candidates.append((epoch.number, note))
    if not candidates:
        raise TrustError(f"the server shows no epoch of door {door!r} signed by the command key")
    return max(candidates)[1]


def partner_epoch(
    note: str,
    document: OrgDocument,
    root: crypto.NoteVerifier,
    trust: Trust,
    door: str,
    *,
    now: datetime,
) -> org.Epoch:
    """Another compartment's epoch as the server showed it for ``door``, verified.

    Forwarding seals to it (a partner, or the compartment of command's own
    desk), and a forward that arrives is judged against the sender's. Only
    the command key in force signs it, as for our own epoch, and it must be
    current: nothing new is sealed to a membership that has lapsed.
    """
    organization = _checked(
        "the organization note is not signed by the enrolled root key",
        lambda: org.verify_organization(document.organization, root),
    )
    if organization != trust.organization:
        raise TrustError("the server shows another organization record than before")
    certificate, _ = _command_key(document, root, organization, trust.command_serial)
    epoch = _checked(
        f"the epoch of door {door!r} is refused",
        lambda: org.verify_epoch(note, certificate, organization, now=now),
    )
    if epoch.door != door:
        raise TrustError(f"the server answered for door {door!r} with another door's epoch")
    if epoch.compartment_id == trust.compartment_id:
        raise TrustError("that door is this desk's own compartment")
    return epoch
