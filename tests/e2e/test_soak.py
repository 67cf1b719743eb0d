"""A soak: 64 contacts at once for a while, and nothing lost, nothing
refused, nothing leaking (issue #12, item 6).

Sixty-four simulated contacts (asyncio tasks in this process, each over its
own kept-alive httpx connection) use a real ``shoal serve`` of the demo
organization for ``LOAD_SECONDS`` (10 s in ``make test``, 60 s in ``make
test-long``). Each lives a loop of mixed flows with a person's pauses
between steps: first contact, messages, messages with small files, logging
out and back in with the codename (sometimes mistyped first, which must be
refused), reading replies, and now and then starting over as a new contact.
Meanwhile the handler, at the desk's real command line, syncs and replies
to contacts it has heard from.

What must hold:

- **Zero errors**: every request gets the answer its flow expects (201,
  200, 204, or 401 for the mistyped codename): no 5xx, no other status, no
  timeout, no dropped connection. Every desk command succeeds.
- **Everything accounted for**: after the load the desk syncs (``shoal desk
  sync``) and lists (``shoal desk list``). Every item the server
  acknowledged is listed and nothing else came in; each contact's items are
  under one contact of the desk and no two contacts' under the same one;
  each item, decrypted from the desk's copy with the handler's keys, is
  exactly what was sent (kind, file name, SHA-256 of the content). Every
  reply the desk sent reached exactly the contact it was meant for, and no
  other. (``shoal desk export`` would decrypt the same, but it fsyncs each
  file: 12 s for 800 items on this machine, a third of the budget.)
- **Memory flat**: the server's RSS is sampled every ``SAMPLE_EVERY``;
  between the middle of the load and its end (10% windows, averaged) it may
  grow by at most ``MAX_LATE_GROWTH``. The first half is where a server
  legitimately grows (lazy imports, the thread pool's threads and their
  malloc arenas, connection buffers, caches); after that the same work is
  repeated, and only a server that keeps something per request grows on.

Why 8 MiB: measured here, from the middle to the end the server grows by
-0.2 to 2.1 MiB (allocator noise), after 8-20 MiB in the first half. The
bound catches what is kept per request only above a size: 8 MiB over the
second half's requests, about 300 in ``make test`` (so ~25 KiB each) and
six times as many in ``make test-long``. A bounded cache that stops growing
is not a failure, by design.

How each check was shown to fail, by hand, once (a planted server: a copy
of ``src`` put first on ``PYTHONPATH``, which the served process inherits;
or a temporary edit of this test):

- memory: ``ContactService.submit`` keeping 64 KiB of random bytes per
  submission in a module-level list: "server memory grew by 11.3 MiB late";
- zero errors: ``ContactService.submit`` raising on every 50th submission:
  six 500s reported;
- accounting: the newest received item's row deleted on the server after
  the load, before the desk's last sync: the acknowledged id is missing;
- replies: the desk replying to another contact than the one recorded:
  that contact's replies do not match.

The figures (requests, rate, p50/p99, RSS at start, middle and end) are
printed as one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from _served_org import Org, serve_demo
from _tiers import sized
from shoal import crypto

DOOR = "news"
CONTACTS = 64
LOAD_SECONDS = sized(10, 60)
#: A person's pause between two steps: uniform, up to this (seconds). With
#: it, 64 contacts offer about 60 requests a second, near what this 2-core
#: machine serves beside the desk and the other tests: a load, not a flood
#: (floods are test_abuse's), and few enough items for the desk to take in
#: within the short tier's budget.
MAX_PAUSE = 2.0
#: Contacts the desk answers per round of sync, list and replies.
REPLIES_PER_ROUND = sized(2, 6)
#: Server RSS growth allowed from the middle of the load to its end (above).
MAX_LATE_GROWTH = 8 * 1024 * 1024
SAMPLE_EVERY = 0.1  # seconds between RSS samples
REQUEST_TIMEOUT = 30.0  # a request slower than this counts as an error
MIB = 1024 * 1024

# The mix of a contact's next step, by weight.
ACTIONS = ("message", "files", "relogin", "replies", "new contact")
WEIGHTS = (4, 2, 1, 2, 0.3)


@dataclass(frozen=True)
class Sent:
    """One item as the contact sent it."""

    kind: str  # "message" or "file"
    name: str | None  # a file's name
    digest: str  # SHA-256 of the content


@dataclass
class Identity:
    """One contact as the outside sees it: its codename, current session,
    what the server acknowledged it sent, and the replies it read."""

    codename: str
    session: str
    sent: dict[str, Sent] = field(default_factory=dict)  # by item id
    replies: dict[str, str] = field(default_factory=dict)  # reply id -> text


@dataclass
class Run:
    identities: list[Identity] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    #: (seconds since the load began, server RSS in bytes)
    rss: list[tuple[float, int]] = field(default_factory=list)
    #: Latencies and counts are of the load only, not of the reading after it.
    measuring: bool = True


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Contact:
    """One simulated contact's life: a loop of flows over its own connection."""

    def __init__(self, slot: int, client: httpx.AsyncClient, run: Run) -> None:
        self.slot = slot
        self.client = client
        self.run = run
        self.rng = random.Random(slot)
        self.me: Identity | None = None
        #: Every contact this slot has been, in order.
        self.lives: list[Identity] = []
        self.submissions = 0

    async def call(
        self, flow: str, method: str, path: str, expect: int, **kwargs: object
    ) -> httpx.Response | None:
        """One request; None (and an error recorded) unless it got ``expect``."""
        headers = {"Authorization": f"Bearer {self.me.session}"} if self.me else {}
        started = time.perf_counter()
        try:
            answer = await self.client.request(
                method, f"/api/v1/doors/{DOOR}{path}", headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            self.run.errors.append(f"{flow}: {type(exc).__name__}: {exc}")
            return None
        if self.run.measuring:
            self.run.latencies.append(time.perf_counter() - started)
            self.run.requests[flow] += 1
        if answer.status_code != expect:
            self.run.errors.append(f"{flow}: {answer.status_code} {answer.text[:200]}")
            return None
        return answer

    async def first_contact(self) -> bool:
        self.me = None
        answer = await self.call("first contact", "POST", "/contacts", 201)
        if answer is None:
            return False
        made = answer.json()
        self.me = Identity(made["codename"], made["session"])
        self.lives.append(self.me)
        return True

    async def submit(self, files: int) -> bool:
        assert self.me is not None
        self.submissions += 1
        # Tagged and random: no two items alike.
        text = f"soak {self.slot}/{self.submissions}: {secrets.token_hex(8)} — ünïcode"
        parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
            ("message", (None, text.encode(), "text/plain"))
        ]
        expected = [Sent("message", None, sha256(text.encode()))]
        for n in range(files):
            name = f"soak-{self.slot}-{self.submissions}-{n}.bin"
            content = os.urandom(self.rng.randint(1, 32 * 1024))
            parts.append(("files", (name, content, "application/octet-stream")))
            expected.append(Sent("file", name, sha256(content)))
        flow = "files" if files else "message"
        answer = await self.call(flow, "POST", "/submissions", 201, files=parts)
        if answer is None:
            return False
        items = answer.json()["items"]
        if len(items) != len(expected):
            self.run.errors.append(f"submission: {len(items)} items for {len(expected)} parts")
            return False
        self.me.sent.update(zip(items, expected, strict=True))
        return True

    async def login(self, identity: Identity) -> bool:
        self.me = None
        body = {"codename": identity.codename}
        answer = await self.call("login", "POST", "/sessions", 201, json=body)
        if answer is None:
            return False
        identity.session = answer.json()["session"]
        self.me = identity
        return True

    async def relogin(self) -> bool:
        me = self.me
        assert me is not None
        if await self.call("logout", "DELETE", "/sessions/current", 204) is None:
            return False
        self.me = None
        if self.rng.random() < 0.2:
            # A typo first: one word replaced by another of the list.
            words = me.codename.split()
            words[self.rng.randrange(len(words))] = crypto.generate_codename().split()[0]
            body = {"codename": " ".join(words)}
            if body["codename"] != me.codename:
                refused = await self.call("mistyped login", "POST", "/sessions", 401, json=body)
                if refused is None:
                    return False
        return await self.login(me)

    async def read_replies(self) -> bool:
        assert self.me is not None
        answer = await self.call("replies", "GET", "/replies", 200)
        if answer is None:
            return False
        self.me.replies.update((r["id"], r["text"]) for r in answer.json()["replies"])
        return True

    async def live(self, deadline: float) -> None:
        """Flows until ``deadline``; the first wrong answer ends this life
        (the state after it is unknown, and the test fails anyway)."""
        if not await self.first_contact():
            return
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0, MAX_PAUSE))
            action = self.rng.choices(ACTIONS, WEIGHTS)[0]
            if action == "message":
                ok = await self.submit(files=0)
            elif action == "files":
                ok = await self.submit(files=self.rng.randint(1, 2))
            elif action == "relogin":
                ok = await self.relogin()
            elif action == "replies":
                ok = await self.read_replies()
            else:
                ok = await self.first_contact()
            if not ok:
                return

    async def read_again(self) -> None:
        """After the load: each of this slot's contacts reads what it was sent."""
        for identity in self.lives:
            self.me = identity
            if not await self.read_replies():
                return


def server_rss(pid: int) -> int:
    """The server's resident memory, with any worker processes it runs."""
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))


async def sample_rss(pid: int, run: Run, begin: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        run.rss.append((time.monotonic() - begin, server_rss(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
    run.rss.append((time.monotonic() - begin, server_rss(pid)))


class Desk:
    """The handler at the desk's command line during the load: sync, list,
    reply to a few contacts not answered yet; again until the deadline. The
    first round always completes, so that there are replies to check even
    on a machine so busy that it ends after the load (the contacts read
    their replies again once the desk is done). Runs in a thread: each
    command is a process."""

    #: Let some contacts write first.
    START_AFTER = 1.0

    def __init__(self, org: Org) -> None:
        self.org = org
        #: Desk contact id -> the reply the desk's command line sent it.
        self.sent: dict[str, str] = {}
        self.failures: list[str] = []

    def work(self, deadline: float) -> None:
        time.sleep(self.START_AFTER)
        try:
            while not self.sent or time.monotonic() < deadline:
                listed = self.org.new_desk_items(DOOR, [])
                heard = {line.contact for line in listed if line.kind == "message"}
                for contact in sorted(heard - set(self.sent))[:REPLIES_PER_ROUND]:
                    text = f"soak reply to {contact}: {secrets.token_hex(6)}"
                    self.org.desk(DOOR, "reply", contact, "--message", text)
                    self.sent[contact] = text
        except AssertionError as exc:  # what Org.desk raises for a failed command
            self.failures.append(str(exc))


async def load(org: Org, run: Run, desk: Desk) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=org.url, timeout=REQUEST_TIMEOUT, limits=limits)
        for _ in range(CONTACTS)
    ]
    try:
        stop = asyncio.Event()
        begin = time.monotonic()
        deadline = begin + LOAD_SECONDS
        sampler = asyncio.create_task(sample_rss(org.process.pid, run, begin, stop))
        desk_thread = threading.Thread(target=desk.work, args=(deadline,))
        desk_thread.start()
        contacts = [Contact(slot, client, run) for slot, client in enumerate(clients)]
        await asyncio.gather(*(c.live(deadline) for c in contacts))
        stop.set()
        await sampler
        await asyncio.to_thread(desk_thread.join)
        run.measuring = False
        # Only once every reply is sent.
        await asyncio.gather(*(c.read_again() for c in contacts))
        run.identities = [identity for c in contacts for identity in c.lives]
    finally:
        for client in clients:
            await client.aclose()


def desk_copy(org: Org, item_id: str, keys: list[crypto.Identity]) -> Sent:
    """The desk's synced copy of an item, decrypted with the handler's keys."""
    ciphertext = (org.root / f"desk-{DOOR}" / "items" / f"{item_id}.age").read_bytes()
    envelope, content = crypto.decrypt_item(ciphertext, keys)
    return Sent(envelope.header["kind"], envelope.header.get("name"), sha256(content))


def handler_keys(org: Org) -> list[crypto.Identity]:
    passphrase = (org.root / "passphrases" / f"desk-{DOOR}.passphrase").read_text().strip()
    data = (org.root / f"desk-{DOOR}" / "keystore.age").read_bytes()
    return list(crypto.open_keystore(data, passphrase).identities)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def mean_rss(run: Run, start: float, end: float) -> float:
    return statistics.mean(rss for t, rss in run.rss if start <= t <= end)


@pytest.mark.timeout(LOAD_SECONDS * 3 + 120)
def test_sixty_four_contacts_soak(tmp_path: Path) -> None:
    org = serve_demo(tmp_path)
    try:
        run, desk = Run(), Desk(org)
        asyncio.run(load(org, run, desk))
        assert run.errors == [], f"{len(run.errors)} errors, first: {run.errors[:5]}"
        assert desk.failures == []
        started = time.monotonic()
        listed = org.new_desk_items(DOOR, [])
        desk_seconds = time.monotonic() - started
    finally:
        org.stop()

    # Figures first, so that a failure below still shows them.
    t_end = run.rss[-1][0]
    rss_start = mean_rss(run, 0, 0.1 * t_end)
    rss_mid = mean_rss(run, 0.45 * t_end, 0.55 * t_end)
    rss_end = mean_rss(run, 0.9 * t_end, t_end)
    requests = sum(run.requests.values())
    figures = {
        "soak": "64 contacts",
        "seconds": LOAD_SECONDS,
        "requests": requests,
        "req_per_s": round(requests / LOAD_SECONDS, 1),
        "p50_ms": round(1000 * percentile(run.latencies, 0.50), 1),
        "p99_ms": round(1000 * percentile(run.latencies, 0.99), 1),
        "by_flow": dict(run.requests),
        "contacts_made": len(run.identities),
        "items": sum(len(i.sent) for i in run.identities),
        "replies": len(desk.sent),
        "rss_mib": [round(x / MIB, 1) for x in (rss_start, rss_mid, rss_end)],
        "desk_sync_list_s": round(desk_seconds, 1),
    }
    print("\n" + json.dumps(figures))

    # Every acknowledged item is on the desk, and nothing else came in.
    incoming = {line.item_id: line for line in listed if line.kind != "reply"}
    assert set(incoming) == {item for i in run.identities for item in i.sent}
    # Each contact's items under one desk contact, and never two contacts' as one.
    desk_contact: dict[str, str] = {}
    for identity in run.identities:
        contacts = {incoming[item].contact for item in identity.sent}
        assert len(contacts) <= 1, f"one contact's items under {contacts}"
        if contacts:
            assert contacts.isdisjoint(desk_contact.values()), "two contacts' items as one"
            desk_contact[identity.codename] = contacts.pop()
    # Each item is exactly what was sent.
    keys = handler_keys(org)
    for identity in run.identities:
        for item, sent in identity.sent.items():
            assert desk_copy(org, item, keys) == sent, item
    # Each reply reached the contact it was sent to, and only that one; the
    # desk lists each, signed.
    for n, identity in enumerate(run.identities):
        sent_to = desk.sent.get(desk_contact.get(identity.codename, ""))
        assert list(identity.replies.values()) == ([sent_to] if sent_to else []), f"contact {n}"
    replies = [line for line in listed if line.kind == "reply"]
    assert len(replies) == figures["replies"] > 0
    assert all("signed by handler" in line.verdict for line in replies)

    growth = rss_end - rss_mid
    assert growth < MAX_LATE_GROWTH, f"server memory grew by {growth / MIB:.1f} MiB late"
