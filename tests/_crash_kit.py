"""Crashing a served demo organization on purpose, and what is owed after.

A :class:`Ledger` records every request the contacts' threads
(:class:`Contacts`) sent and which of them got a success answer; a
:class:`Crashable` server is SIGKILLed and restarted on the same data
directory and port (the desks' configuration names it); a :class:`Census`
reads back through the handler API what the server lists, decrypts each
new item once with the compartment handler's keys, and says whose part of
which request it is. ``tests/e2e/test_crash_kills.py`` holds the promises.
Importable from any test module, like ``_served_org``.

Payloads are derived from their request's tag and the run's seed, so the
ledger keeps a digest, not the megabytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _served_org import Org
from shoal import crypto, trusted
from shoal.desk._api import HandlerAPI
from shoal.desk._state import ItemMeta, Layout, load_config
from shoal.store import FileBlobStore

DOOR = "news"
MESSAGE_PREFIX = "crash message "
#: Files of a few hundred KiB to a few MiB: long enough bodies that a kill
#: lands mid-body, mid-seal (1 MiB buffers) and mid-commit.
FILE_SIZES = (128 << 10, 2 << 20)


def payload(seed: int, tag: str, name: str) -> bytes:
    """A file's bytes, the same each time for the same seed, tag and name."""
    rng = random.Random(f"{seed}:{tag}:{name}")
    return rng.randbytes(rng.randint(*FILE_SIZES))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Sent:
    """One submission: its parts (``message`` or a file name) and their
    contents' digests; ``items`` once the server said 201."""

    tag: str
    parts: dict[str, str]
    items: tuple[str, ...] | None = None


@dataclass
class Ledger:
    """Every submission sent, by tag, and what the server answered; shared
    by the contacts' threads under :attr:`lock`."""

    seed: int
    sent: dict[str, Sent] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    #: Codenames whose first contact was answered, not yet logged in with.
    codenames: list[str] = field(default_factory=list)
    #: Answers other than success or a cut connection (none are expected).
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def unanswered_parts(self) -> int:
        return sum(len(s.parts) for s in self.sent.values() if s.items is None)


class Contacts:
    """``threads`` contacts submitting in a loop until the server dies
    (each thread stops at its first cut connection) or :meth:`stop`."""

    def __init__(self, url: str, ledger: Ledger, cycle: int, threads: int) -> None:
        self._url = url
        self._ledger = ledger
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(f"{cycle}.{n}",), daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a contact's thread did not end"

    def _run(self, name: str) -> None:
        rng = random.Random(f"{self._ledger.seed}:{name}")
        with httpx.Client(base_url=f"{self._url}/api/v1/doors/{DOOR}", timeout=60) as client:
            try:
                session = self._first_contact(client)
                number = 0
                while session and not self._stopping.is_set():
                    self._submit(client, session, f"{name}.{number}", rng)
                    number += 1
            except httpx.TransportError:
                return  # the server was killed: what was in flight stays unanswered

    def _first_contact(self, client: httpx.Client) -> str | None:
        answer = client.post("/contacts")
        if answer.status_code != 201:
            with self._ledger.lock:
                self._ledger.refusals.append(f"first contact: {answer.status_code}")
            return None
        with self._ledger.lock:
            self._ledger.codenames.append(answer.json()["codename"])
        return str(answer.json()["session"])

    def _submit(self, client: httpx.Client, session: str, tag: str, rng: random.Random) -> None:
        message = f"{MESSAGE_PREFIX}{tag} " + "x" * rng.randint(0, 4000)
        names = [f"{tag}-{n}.bin" for n in range(rng.choice((0, 1, 1, 2)))]
        files = {name: payload(self._ledger.seed, tag, name) for name in names}
        sent = Sent(
            tag, {"message": digest(message.encode())} | {n: digest(files[n]) for n in names}
        )
        with self._ledger.lock:
            self._ledger.sent[tag] = sent
            self._ledger.in_flight.add(tag)
        # Always multipart, the message a plain field (httpx would send a
        # body without files as a urlencoded form).
        fields = [("message", (None, message.encode()))]
        fields += [
            ("files", (name, data, "application/octet-stream")) for name, data in files.items()
        ]
        try:
            answer = client.post(
                "/submissions", headers={"Authorization": f"Bearer {session}"}, files=fields
            )
        finally:
            with self._ledger.lock:
                self._ledger.in_flight.discard(tag)
        with self._ledger.lock:
            if answer.status_code == 201:
                sent.items = tuple(answer.json()["items"])
            else:
                self._ledger.refusals.append(
                    f"submission {tag}: {answer.status_code} {answer.text}"
                )


class Crashable:
    """The demo organization's server, killed and restarted at will on the
    same data directory and port; every run's output is kept apart."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.runs = 0
        self.restart_seconds: list[float] = []

    @property
    def data_dir(self) -> Path:
        return self.org.root / "server"

    def kill(self) -> None:
        self.org.process.send_signal(signal.SIGKILL)
        self.org.process.wait(timeout=30)

    def restart(self) -> None:
        """Start ``shoal serve`` again; fails if it does not come up."""
        self.runs += 1
        log = self.org.server_tmp.parent / f"server-{self.runs}.log"
        port = self.org.url.rsplit(":", 1)[1]
        started = time.monotonic()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "shoal", "serve", "--data", str(self.data_dir),
                 "--port", port],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TMPDIR": str(self.org.server_tmp)},
            )  # fmt: skip
        self.org.process, self.org.server_log = process, log
        # Up once it accepts connections (uvicorn listens after the
        # application is built, storage checks included); the census then
        # proves it answers. Polling an endpoint instead costs its first
        # rendering in every restart.
        deadline = started + 60
        while not _accepts(int(port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"shoal serve did not start again:\n{self.output()}")
            time.sleep(0.02)
        self.restart_seconds.append(time.monotonic() - started)

    def output(self) -> str:
        """What the current (or last) run printed."""
        return self.org.server_log.read_text(errors="replace")

    def partials(self) -> list[Path]:
        """Writes a crash cut short, in the blob store's ``tmp/``."""
        return sorted((self.data_dir / "blobs" / "tmp").glob("*.partial"))

    def blob_store(self) -> FileBlobStore:
        return FileBlobStore(self.data_dir / "blobs")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def desk_layout(org: Org) -> Layout:
    return Layout(org.root / f"desk-{DOOR}")


def desk_keystore(org: Org) -> crypto.Keystore:
    passphrase = (org.root / "passphrases" / f"desk-{DOOR}.passphrase").read_text().strip()
    return trusted.unlock_keystore(desk_layout(org).keystore, passphrase)


@dataclass(frozen=True)
class Part:
    """Whose part of which submission an item holds (decrypted, matched)."""

    tag: str
    part: str


class Census:
    """What the handler API lists for the door, each item decrypted once:
    an item's blob is named by its bytes and never rewritten, so one that
    decrypted whole and matched once stays so while the blob exists."""

    def __init__(self, org: Org, ledger: Ledger) -> None:
        self._org = org
        self._ledger = ledger
        self._keystore = desk_keystore(org)
        self._compartment = load_config(desk_layout(org)).compartment_id
        self.known: dict[str, Part] = {}

    def listing(self) -> Iterator[tuple[ItemMeta, HandlerAPI]]:
        with httpx.Client(base_url=self._org.url, timeout=60) as client:
            api = HandlerAPI(client)
            assert self._compartment is not None
            api.login(self._keystore.signing_key, self._compartment)
            after, more = 0, True
            while more:
                page = api.items(after)
                for item in page.items:
                    yield item, api
                after, more = max([after, *(i.seq for i in page.items)]), page.more

    def take(self) -> dict[str, ItemMeta]:
        """Every listed item by id; new ones are downloaded, decrypted and
        matched to what was sent, or the test fails saying why."""
        listed: dict[str, ItemMeta] = {}
        for item, api in self.listing():
            listed[item.item_id] = item
            if item.item_id not in self.known:
                received = io.BytesIO()
                api.download(item, received)
                self.known[item.item_id] = self._match(item, received.getvalue())
        return listed

    def _match(self, item: ItemMeta, ciphertext: bytes) -> Part:
        envelope, content = crypto.decrypt_item(ciphertext, self._keystore.identities)
        kind = envelope.header.get("kind")
        if kind == "message":
            text = content.decode()
            assert text.startswith(MESSAGE_PREFIX), f"item {item.item_id}: a stranger's message"
            found = Part(text[len(MESSAGE_PREFIX) :].split(" ", 1)[0], "message")
        else:
            assert kind == "file", f"item {item.item_id}: kind {kind!r}"
            name = str(envelope.header["name"])
            found = Part(name.rsplit("-", 1)[0], name)
        sent = self._ledger.sent.get(found.tag)
        assert sent is not None, f"item {item.item_id} belongs to no request sent ({found})"
        assert sent.parts.get(found.part) == digest(content), (
            f"item {item.item_id} ({found}) decrypts to other bytes than were sent"
        )
        return found
