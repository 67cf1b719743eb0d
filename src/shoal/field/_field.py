"""The member's field client: everything ``shoal field`` does, over the device store.

What lives on the device, all inside the encrypted store (``_device``):

- ``settings``: server, door, proxy, the root key the member's fingerprint
  matched, the epochs accepted (re-verified at every use), the send delay;
- ``codename`` and ``signing-key``: the member's secrets;
- ``draft/<id>``: unfinished reports, their files sealed to the store's own
  key (so only the member's passphrase opens them);
- ``outbox/<id>``: finished reports, each part already sealed to the
  compartment's epoch — the device cannot read back what it sent;
- ``kept/<id>``: messages from the handler the member chose to keep.

Every recipient set comes from an epoch verified along root → command key
→ epoch, the root being the key whose fingerprint the member was given out
of band; the server can neither substitute recipients nor roll back to an
epoch that still lists a removed handler.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import crypto, org, scrub, trusted
from ..trusted import AcceptedEpoch, Trust, accept, rebuild
from . import _outbox, _reports
from ._api import MemberAPI, client
from ._device import DeviceStore
from ._place import Place
from .errors import (
    FieldError,
    NotEnrolledError,
    OfflineError,
    ScrubRefusedError,
    ServerError,
)

#: Default wait before a finished report is sent, in seconds (min, max).
DEFAULT_DELAY = (60, 20 * 60)
FORMAT_VERSION = 1
#: How long opening a decoy waits for the server while sending the signal.
ALARM_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    server: str
    door: str
    proxy: str | None
    root_key: str
    organization: str
    epochs: tuple[AcceptedEpoch, ...]
    command_serial: int
    delay: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "server": self.server,
            "door": self.door,
            "proxy": self.proxy,
            "root_key": self.root_key,
            "organization": self.organization,
            "epochs": [
                {
                    "epoch": e.epoch_note,
                    "command": e.command_note,
                    "accepted": e.accepted.isoformat(),
                }
                for e in self.epochs
            ],
            "command_serial": self.command_serial,
            "delay": list(self.delay),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Settings:
        return cls(
            server=value["server"],
            door=value["door"],
            proxy=value["proxy"],
            root_key=value["root_key"],
            organization=value["organization"],
            epochs=tuple(
                AcceptedEpoch(e["epoch"], e["command"], datetime.fromisoformat(e["accepted"]))
                for e in value["epochs"]
            ),
            command_serial=value["command_serial"],
            delay=(value["delay"][0], value["delay"][1]),
        )

    def trust(self) -> Trust:
        return rebuild(crypto.NoteVerifier.parse(self.root_key), self.organization, self.epochs)


@dataclass(frozen=True)
class Enrolled:
    key: str  # the member's public signing key, for the handler to record
    fingerprint: str  # the root fingerprint that matched
    epoch: int


@dataclass(frozen=True)
class SendReport:
    sent: int
    waiting: int
    held: tuple[str, ...]  # refused entries, with why
    offline: str | None
    #: Where interrupted uploads picked up again, in bytes.
    resumed: tuple[int, ...] = ()


@dataclass(frozen=True)
class Message:
    """A message from the handler, as verified on this device."""

    text: str
    time: str
    verdict: str
    genuine: bool

    def to_json(self, reply_id: str) -> dict[str, Any]:
        return {
            "id": reply_id,
            "text": self.text,
            "time": self.time,
            "verdict": self.verdict,
            "genuine": self.genuine,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Message:
        return cls(value["text"], value["time"], value["verdict"], value["genuine"])


@dataclass(frozen=True)
class FileChoice:
    """A file the member adds to a report; ``as_is`` skips scrubbing (their choice)."""

    path: Path
    as_is: bool = False


def _scratch_dir() -> str | None:
    """Where scrubbed plaintext waits the moment before it is sealed: memory
    (/dev/shm) where the system has it, so it never reaches flash."""
    shm = Path("/dev/shm")  # noqa: S108 - a private TemporaryDirectory is made inside
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _verify_root(server_root: str, fingerprint: str) -> crypto.NoteVerifier:
    try:
        root = crypto.NoteVerifier.parse(server_root)
    except crypto.CryptoError:
        raise trusted.TrustError("the server shows a malformed organization key") from None
    if org.root_fingerprint(root) != fingerprint.strip().lower():
        raise trusted.TrustError(
            "the server's organization key does not match the fingerprint you were given: "
            "do not use this server, and tell your contact in person"
        )
    return root


class Field:
    """An opened device store, and the member's actions on it."""

    def __init__(
        self,
        store: DeviceStore,
        *,
        now: Callable[[], datetime],
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._now = now
        self._rng = rng or random.SystemRandom()

    # -- enrolment ------------------------------------------------------

    @classmethod
    def enroll(
        cls,
        folder: Path,
        passphrase: str,
        *,
        server: str,
        door: str,
        fingerprint: str,
        codename: str,
        proxy: str | None,
        delay: tuple[int, int],
        work_factor: int,
        now: Callable[[], datetime],
    ) -> tuple[Field, Enrolled]:
        """Check the server against the fingerprint, then create the store.

        Nothing is written before the server's notes verify: a device
        enrolled against a fake server would be worse than none.
        """
        codename = crypto.normalize_codename(codename)
        http = client(server, proxy)
        try:
            api = MemberAPI(http, door)
            api.login(codename)
            notes = api.notes()
            api.logout()
        finally:
            http.close()
        root = _verify_root(notes.root, fingerprint)
        decided = accept(
            notes.document,
            root,
            door,
            now=now(),
            known=None,
            command_serial=0,
            compartment_id=None,
        )
        assert decided.epoch is not None  # a first look always accepts an epoch
        settings = Settings(
            server=server,
            door=door,
            proxy=proxy,
            root_key=str(root),
            organization=notes.document.organization,
            epochs=(decided.epoch,),
            command_serial=decided.command_serial,
            delay=delay,
        )
        signing = crypto.SigningKey.generate()
        store = DeviceStore.create(folder, passphrase, work_factor=work_factor)
        store.put_json("settings", settings.to_json())
        store.put_json("codename", codename)
        store.put_json("signing-key", signing.seed_bytes().hex())
        field = cls(store, now=now)
        trust = settings.trust()
        key = signing.verify_key
        # The key goes to the handler at once, through the member's own
        # thread; the handler compares it out of band before recording it.
        field._queue(
            [(_reports.key_header(trust.current, now(), key), None)], trust.current, delay=(0, 0)
        )
        return field, Enrolled(
            _reports.public_key_text(key), org.root_fingerprint(root), trust.current.number
        )

    @classmethod
    def open(cls, folder: Path, passphrase: str, *, now: Callable[[], datetime]) -> Field:
        """Open the store; a store that holds an armed duress signal sends it."""
        field = cls(DeviceStore.open(folder, passphrase), now=now)
        field._release_alarm()
        return field

    # -- what is stored -------------------------------------------------

    def _settings(self) -> Settings:
        value = self._store.get_json("settings")
        if value is None:
            raise NotEnrolledError("this device is not enrolled: run `shoal field enroll`")
        return Settings.from_json(value)

    def _secret(self, name: str) -> str:
        value = self._store.get_json(name)
        if not isinstance(value, str):
            raise NotEnrolledError("this device is not enrolled: run `shoal field enroll`")
        return value

    def _signer(self) -> crypto.SigningKey:
        return crypto.SigningKey(bytes.fromhex(self._secret("signing-key")))

    def public_key(self) -> str:
        return _reports.public_key_text(self._signer().verify_key)

    # -- reports --------------------------------------------------------

    def report(
        self,
        text: str,
        files: Sequence[FileChoice],
        *,
        moment: datetime | None = None,
        place: Place | None = None,
    ) -> str:
        """Seal a finished report to the current epoch and queue it; its id."""
        trust = self._settings().trust()
        epoch = trust.current
        when = moment or self._now()
        report_id = org.new_id()
        with contextlib.ExitStack() as stack:
            parts: list[tuple[dict[str, Any], Path | None]] = []
            for choice in files:
                attachment, path = self._scrubbed(choice, stack)
                parts.append((_reports.file_header(epoch, when, report_id, attachment), path))
            header = _reports.report_header(epoch, when, report_id, len(files) + 1, place)
            return self._queue(
                [(header, text.encode()), *parts],
                epoch,
                delay=self._settings().delay,
                report=report_id,
            )

    def _scrubbed(
        self, choice: FileChoice, stack: contextlib.ExitStack
    ) -> tuple[_reports.Attachment, Path]:
        """The file's metadata-free copy, in memory where possible, and what went."""
        name = choice.path.name
        if choice.as_is:
            return _reports.Attachment(name, "application/octet-stream", ()), choice.path
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=_scratch_dir())))
        target = scratch / "scrubbed"
        try:
            done = scrub.scrub_file(choice.path, target)
        except scrub.ScrubError as exc:
            raise ScrubRefusedError(f"{name}: {exc}") from None
        return _reports.Attachment(name, done.mime, done.removed), target

    def _queue(
        self,
        parts: Sequence[tuple[dict[str, Any], bytes | Path | Iterable[bytes] | None]],
        epoch: org.Epoch,
        *,
        delay: tuple[int, int],
        report: str | None = None,
    ) -> str:
        """Seal each part into the store, then add the outbox entry (last, so
        a crash midway leaves only sealed files no entry names)."""
        signer = self._signer()
        sealed = []
        for header, content in parts:
            upload = org.new_id()
            path = self._store.new_file_path()
            with path.open("wb") as sink:
                if isinstance(content, Path):
                    with content.open("rb") as source:
                        _reports.seal(sink, epoch, header, _reports.file_chunks(source), signer)
                elif content is None or isinstance(content, bytes):
                    _reports.seal(sink, epoch, header, [content or b""], signer)
                else:
                    _reports.seal(sink, epoch, header, content, signer)
                sink.flush()
                os.fsync(sink.fileno())
            name = f"sealed/{upload}"
            self._store.commit_file(name, path)
            sealed.append(_outbox.Part(upload, name))
        report = report or org.new_id()
        entry = _outbox.queued(
            report, epoch.number, tuple(sealed), now=self._now(), delay=delay, rng=self._rng
        )
        self._store.put_json(f"outbox/{report}", entry.to_json())
        return report

    def save_draft(
        self,
        text: str,
        files: Sequence[FileChoice],
        *,
        moment: datetime | None = None,
        place: Place | None = None,
    ) -> str:
        """Keep an unfinished report, sealed to this device's own key.

        Files are scrubbed now, as for a report, so the original need not
        be kept anywhere for the draft's sake."""
        draft_id = org.new_id()
        stored = []
        with contextlib.ExitStack() as stack:
            for choice in files:
                attachment, source = self._scrubbed(choice, stack)
                path = self._store.new_file_path()
                with path.open("wb") as sink, source.open("rb") as plain:
                    with crypto.encrypt_writer(sink, [self._store.recipient]) as writer:
                        for chunk in _reports.file_chunks(plain):
                            writer.write(chunk)
                    sink.flush()
                    os.fsync(sink.fileno())
                name = f"draft-file/{org.new_id()}"
                self._store.commit_file(name, path)
                stored.append(
                    {
                        "file": name,
                        "name": attachment.name,
                        "mime": attachment.mime,
                        "scrubbed": list(attachment.scrubbed),
                    }
                )
        self._store.put_json(
            f"draft/{draft_id}",
            {
                "text": text,
                "time": None if moment is None else _reports.timestamp(moment),
                "place": None if place is None else place.header(),
                "files": stored,
            },
        )
        return draft_id

    def drafts(self) -> list[Draft]:
        out = []
        for name in self._store.names("draft/"):
            value = self._store.get_json(name)
            out.append(
                Draft(
                    name.removeprefix("draft/"),
                    value["time"] or "(now)",
                    len(_draft_files(value)),
                    value["text"][:60].replace("\n", " "),
                )
            )
        return out

    def _draft(self, draft_id: str) -> dict[str, Any]:
        value = self._store.get_json(f"draft/{draft_id}")
        if value is None:
            raise FieldError(f"no draft {draft_id} on this device")
        return dict(value)

    def finish_draft(self, draft_id: str) -> str:
        """Seal a draft to the current epoch, queue it, and delete the draft."""
        value = self._draft(draft_id)
        epoch = self._settings().trust().current
        when = (
            datetime.fromisoformat(value["time"].replace("Z", "+00:00"))
            if value["time"]
            else self._now()
        )
        spot = value["place"]
        where = None if spot is None else Place(spot["lat"], spot["lon"], spot["cell_m"])
        report_id = org.new_id()
        files = _draft_files(value)
        with contextlib.ExitStack() as stack:
            parts: list[tuple[dict[str, Any], bytes | Path | Iterable[bytes] | None]] = [
                (
                    _reports.report_header(epoch, when, report_id, len(files) + 1, where),
                    value["text"].encode(),
                )
            ]
            for entry in files:
                try:
                    plain = stack.enter_context(self._store.open_file(entry["file"]))
                except KeyError:
                    raise FieldError(f"a file of draft {draft_id} is missing") from None
                attachment = _reports.Attachment(
                    entry["name"], entry["mime"], tuple(entry["scrubbed"])
                )
                parts.append(
                    (
                        _reports.file_header(epoch, when, report_id, attachment),
                        _reports.file_chunks(plain),
                    )
                )
            self._queue(parts, epoch, delay=self._settings().delay, report=report_id)
        self.discard_draft(draft_id)
        return report_id

    def discard_draft(self, draft_id: str) -> None:
        value = self._draft(draft_id)
        for entry in _draft_files(value):
            self._store.delete(entry["file"])
        self._store.delete(f"draft/{draft_id}")

    # -- duress ---------------------------------------------------------

    def enable_duress(self, passphrase: str, decoy_notes: Sequence[str]) -> None:
        """Arm a silent signal on the server, then write the decoy slot.

        The signal is sealed and signed now, while the real keys are here,
        and held by the server under a token; the decoy keeps only the
        token, which releases it. The decoy shows the same server settings
        and a few innocent drafts, and no codename: to whoever opens it, a
        client that was set up but never used.
        """
        with self._online() as api:
            epoch = self._settings().trust().current
            sink = io.BytesIO()
            _reports.seal(
                sink, epoch, _reports.alarm_header(epoch, self._now()), [b""], self._signer()
            )
            token = api.arm_alarm(sink.getvalue())
        decoy: dict[str, Any] = {"settings": self._settings().to_json(), "alarm": token}
        for note in decoy_notes:
            decoy[f"draft/{org.new_id()}"] = {
                "text": note,
                "time": None,
                "place": None,
                "files": [],
            }
        self._store.enable_duress(
            passphrase, {name: json.dumps(value).encode() for name, value in decoy.items()}
        )

    def disable_duress(self) -> None:
        self._store.disable_duress()

    def _release_alarm(self) -> None:
        """Send the duress signal if this store holds one: quietly, at once,
        and again at every opening until it has gone."""
        token = self._store.get_json("alarm")
        if not isinstance(token, str):
            return
        settings = self._settings()
        http = client(settings.server, settings.proxy, timeout=ALARM_TIMEOUT)
        try:
            MemberAPI(http, settings.door).release_alarm(token)
        except FieldError:
            return  # offline: the next opening tries again
        finally:
            http.close()
        self._store.delete("alarm")

    def outbox(self) -> list[_outbox.Entry]:
        return [
            _outbox.Entry.from_json(self._store.get_json(name))
            for name in self._store.names("outbox/")
        ]

    def retry(self, report: str) -> None:
        """Release an entry the server refused, to be tried again now."""
        name = f"outbox/{report}"
        value = self._store.get_json(name)
        if value is None:
            raise FieldError(f"no report {report} in the outbox")
        entry = _outbox.released(_outbox.Entry.from_json(value), self._now())
        self._store.put_json(name, entry.to_json())

    # -- online ---------------------------------------------------------

    @contextlib.contextmanager
    def _online(self) -> Iterator[MemberAPI]:
        settings = self._settings()
        http = client(settings.server, settings.proxy)
        try:
            api = MemberAPI(http, settings.door)
            api.login(self._secret("codename"))
            try:
                self._refresh(api, settings)
                yield api
            finally:
                api.logout()
        finally:
            http.close()

    def _refresh(self, api: MemberAPI, settings: Settings) -> None:
        """Accept a newer epoch if the server shows one (verified; never older)."""
        notes = api.notes()
        if notes.root != settings.root_key:
            raise trusted.TrustError("the server now shows another organization key: refusing it")
        known = settings.trust()
        decided = accept(
            notes.document,
            crypto.NoteVerifier.parse(settings.root_key),
            settings.door,
            now=self._now(),
            known=known,
            command_serial=settings.command_serial,
            compartment_id=known.compartment_id,
        )
        epochs = settings.epochs + ((decided.epoch,) if decided.epoch is not None else ())
        updated = replace(settings, epochs=epochs, command_serial=decided.command_serial)
        if updated != settings:
            self._store.put_json("settings", updated.to_json())

    def send(self, *, ignore_delay: bool = False) -> SendReport:
        """Send what is due; whatever fails stays, to be tried again later."""
        entries = self.outbox()
        due = [e for e in entries if e.due(self._now(), ignore_delay=ignore_delay)]
        sent = 0
        resumed: list[int] = []
        if not due:
            return self._summary(sent, None, resumed)
        try:
            with self._online() as api:
                for entry in due:
                    if self._send_entry(api, entry, resumed.append):
                        sent += 1
        except OfflineError as exc:
            for entry in due:
                current = self._store.get_json(f"outbox/{entry.report}")
                if current is not None:
                    later = _outbox.offline(
                        _outbox.Entry.from_json(current), self._now(), self._rng
                    )
                    self._store.put_json(f"outbox/{entry.report}", later.to_json())
            return self._summary(sent, str(exc), resumed)
        return self._summary(sent, None, resumed)

    def _send_entry(
        self, api: MemberAPI, entry: _outbox.Entry, resumed: Callable[[int], None]
    ) -> bool:
        name = f"outbox/{entry.report}"
        for part in entry.parts:
            if part.item is not None:
                continue
            path = self._store.file_path(part.file)
            if path is None:
                raise FieldError(f"a sealed part of report {entry.report} is missing")
            try:
                item = api.upload(part.upload, path, entry.epoch, resumed)
            except ServerError as exc:
                if exc.status is None or exc.status >= 500:
                    raise OfflineError(str(exc)) from None
                self._store.put_json(name, _outbox.refused(entry, str(exc)).to_json())
                return False
            entry = _outbox.confirmed(entry, part.upload, item)
            self._store.put_json(name, entry.to_json())
        for part in entry.parts:
            self._store.delete(part.file)
        self._store.delete(name)
        return True

    def _summary(self, sent: int, offline: str | None, resumed: list[int]) -> SendReport:
        left = self.outbox()
        held = tuple(f"{e.report}: {e.refused}" for e in left if e.refused is not None)
        return SendReport(sent, len(left) - len(held), held, offline, tuple(resumed))

    # -- messages from the handler --------------------------------------

    def fetch_messages(self) -> int:
        """Fetch, verify and decrypt new messages, then delete them from the server.

        Each is put in the store before the server's copy is deleted, so a
        crash in between loses nothing; :meth:`done_reading` then keeps or
        forgets them. Returns how many arrived.
        """
        codename = self._secret("codename")
        organization = self._settings().trust().organization
        identity = crypto.derive_contact_keys(
            codename, organization.salt, organization.key_type
        ).identity
        count = 0
        with self._online() as api:
            trust = self._settings().trust()
            for sealed in api.sealed_replies():
                message = _open_reply(api.sealed_reply(sealed.reply_id), identity, trust)
                self._store.put_json(f"inbox/{sealed.reply_id}", message.to_json(sealed.reply_id))
                api.delete_reply(sealed.reply_id)
                count += 1
        return count

    def messages(self, folder: str = "inbox/") -> list[Message]:
        return [Message.from_json(self._store.get_json(n)) for n in self._store.names(folder)]

    def done_reading(self, *, keep: bool) -> None:
        """Forget the messages just shown, or move them among the kept ones."""
        for name in self._store.names("inbox/"):
            if keep:
                self._store.put_json(
                    "kept/" + name.removeprefix("inbox/"), self._store.get_json(name)
                )
            self._store.delete(name)


def _open_reply(data: bytes, identity: crypto.Identity, trust: Trust) -> Message:
    """A reply as the member may believe it: signed by a handler of an epoch
    they accepted, for their compartment — or marked as forged."""
    try:
        envelope, content = crypto.decrypt_item(data, [identity])
    except crypto.CryptoError:
        return Message("", "", "UNREADABLE: not sealed to this member — ignored", False)
    header = envelope.header
    time = header.get("time") if isinstance(header.get("time"), str) else ""
    text = content.decode("utf-8", errors="replace")
    found = None if envelope.signer is None else trust.signer(envelope.signer)
    if (
        header.get("kind") != "reply"
        or found is None
        or header.get("compartment") != trust.compartment_id
        or header.get("handler") != found[0].handler_id
    ):
        return Message(
            text,
            str(time),
            "FORGED: not signed by a handler of your compartment — do not trust it",
            False,
        )
    entry, number = found
    if number == trust.current.number:
        return Message(text, str(time), f"signed by handler {entry.handler_id}", True)
    return Message(
        text, str(time), f"signed by former handler {entry.handler_id} (epoch {number})", True
    )


@dataclass(frozen=True)
class Draft:
    draft_id: str
    time: str
    files: int
    preview: str


def _draft_files(value: dict[str, Any]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = value["files"]
    return files
