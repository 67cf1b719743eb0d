"""Abuse against a real ``shoal serve``: real contacts keep being served.

Each test runs one abuse in background threads while real contacts log in
and write over fresh connections (``_abuse_kit.under``), then checks the
defence: a clear answer to every abusive request, nothing stored from it
(rows, blobs, ``blobs/tmp``), the server's memory peak and CPU bounded, and
the real contacts' p99 latency within a generous multiple of their p99
without the abuse (the machine is shared and noisy: the bound catches a
server that stops serving, not one that slows). The figures go to stdout
as one JSON line per abuse (``pytest -s``), for docs/threat-model.md.

The abuses: slowloris (silent connections, headers a byte at a time,
stalled and trickled bodies), oversized bodies, thousands of tiny files,
deep or huge fields and headers, codename-guessing floods, replayed and
duplicated requests, and a real full disk (a small tmpfs mounted as the
blobs directory; root only).

How each was seen to fail when its promise is broken (by hand, once):
slowloris with ``--header-timeout 3600 --body-timeout 3600`` (uvicorn's own
behaviour: it waits forever) - not one connection was dropped; the huge
headers with ``MAX_HEADER_BYTES`` out of reach - httptools buffered the
8 MiB header line whole and the request went on (a 401), not a 431; the
slow but steady upload with ``MIN_BODY_RATE`` raised to 100 kB/s - cut
(the rate rule must not catch Tor users); the eight duplicated forms with
``_spent.spend`` not recording - all eight stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from _abuse_kit import (
    API,
    MIB,
    Abuse,
    Figures,
    RealContacts,
    bearer,
    measured,
    new_codename,
    p99,
    raw_answer,
    raw_connection,
    status_line,
    under,
)
from _server_kit import OrgKit, ServerProcess, Stored, new_org

import _engines
import _pages_kit as kit
from _server_config import update_server_config
from _tiers import sized
from shoal import crypto
from shoal.server import _messages as msg
from shoal.server._admin import import_notes, init_data_dir
from shoal.server._deadlines import MAX_HEADER_BYTES
from shoal.store import schema

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc, mounts tmpfs")

#: The server's deadlines here: short, so that a test waits seconds, not minutes.
TIMEOUT = 2.0
#: How much later than its deadline a connection may be dropped (a tick,
#: plus a loaded machine's scheduling).
DROP_SLACK = 4.0
MAX_BODY = 64 * MIB
ROUNDS = sized(10, 60)
REAL_CONTACTS = 2
#: p99 under abuse may be this many times p99 without it, or FLOOR seconds.
SLOWDOWN = 25
FLOOR = 3.0
#: A peak of the server's memory over its resting size.
MEMORY_BOUND_MIB = 96
UK = {"Accept-Language": "uk-UA,uk;q=0.9"}
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def org_kit() -> OrgKit:
    made = new_org()
    made.add_compartment("north")
    return made


def set_up(root: Path, org_kit: OrgKit) -> Path:
    data = root / "data"
    init_data_dir(data, org_kit.root_key, _engines.database_url())
    import_notes(data, org_kit.write_notes(root / "notes"), datetime.now(UTC))
    update_server_config(data, limits={"max_body": MAX_BODY})
    return data


def serve(data: Path, scratch: Path) -> ServerProcess:
    timeouts = ("--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT))
    return ServerProcess(data, scratch, *timeouts)


@dataclass
class Served:
    server: ServerProcess
    stored: Stored
    org: OrgKit
    codenames: list[str]
    quiet_p99: float = 0.0
    writing: bool = True
    figures: list[Figures] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def contacts(self) -> RealContacts:
        return RealContacts(self.server.url, self.codenames, writing=self.writing)

    def measure_quiet(self) -> None:
        real = self.contacts()
        real.run(ROUNDS)
        self.quiet_p99 = p99(real.times)

    def under(self, name: str, abuse: Abuse, hold: float = 0.0) -> RealContacts:
        """Real contacts' rounds during ``abuse`` (kept up for at least
        ``hold`` seconds), checked against the bounds; their record."""
        real_made: list[RealContacts] = []

        def contacts() -> RealContacts:
            real_made.append(self.contacts())
            return real_made[-1]

        started = time.monotonic()
        figures = under(name, self.pid, contacts, self.quiet_p99, abuse, ROUNDS, hold=hold)
        self.figures.append(figures)
        assert time.monotonic() - started >= hold
        assert figures.p99_abused < max(SLOWDOWN * figures.p99_quiet, FLOOR), figures
        assert figures.rss_peak_mib - figures.rss_before_mib < MEMORY_BOUND_MIB, figures
        return real_made[0]

    def assert_clean(self, items_before: int, sent: int) -> None:
        """Only real contacts' items were stored, each a blob, nothing half-written."""
        assert self.stored.rows(schema.Item) == items_before + sent
        assert list((self.stored.data_dir / "blobs" / "tmp").glob("*")) == []
        assert len(self.stored.blobs()) == items_before + sent


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, org_kit: OrgKit) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("abuse")
    server = serve(set_up(root, org_kit), root / "serve")
    stored = Stored(server.data_dir)
    try:
        with server.client() as client:
            codenames = [new_codename(client) for _ in range(REAL_CONTACTS)]
        made = Served(server, stored, org_kit, codenames)
        made.measure_quiet()
        yield made
    finally:
        server.stop()
        stored.close()


def repeatedly(shot: Callable[[], None]) -> Callable[[threading.Event], None]:
    """An abuse's thread: ``shot`` again and again until stopped (at least once)."""

    def work(stop: threading.Event) -> None:
        shot()
        while not stop.is_set():
            shot()

    return work


def items(served: Served) -> int:
    return served.stored.rows(schema.Item)


# --- slowloris ------------------------------------------------------------


@dataclass
class Loris:
    """One slow connection: what it sends, when it was opened and dropped."""

    kind: str
    sock: socket.socket
    opened: float
    pending: bytes
    dropped: float | None = None
    answer: bytes = b""


class Slowloris:
    """Connections that hold the server's attention: ``silent`` ones send
    nothing, ``headers`` ones a header byte at a time, ``stalled`` ones
    whole headers and then no body, ``trickled`` ones a body byte at a
    time. Each dropped connection is replaced by a new one of its kind."""

    KINDS = ("silent", "headers", "stalled", "trickled")
    EVERY = 0.25

    def __init__(self, port: int, per_kind: int) -> None:
        self.port = port
        self.per_kind = per_kind
        self.done: list[Loris] = []
        self.live: list[Loris] = []

    def _open(self, kind: str) -> Loris:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setblocking(False)
        request = f"POST {API}/sessions HTTP/1.1\r\nHost: x\r\n"
        pending = {
            "silent": b"",
            "headers": f"{request}X-Slow: {'a' * 4000}\r\n\r\n".encode(),
            "stalled": f"{request}Content-Length: 100000\r\n\r\n".encode(),
            "trickled": f"{request}Content-Length: 100000\r\n\r\n".encode() + b"x" * 100_000,
        }[kind]
        if kind in ("stalled", "trickled"):  # the headers at once, then slowly the body
            head = pending.index(b"\r\n\r\n") + 4
            sock.sendall(pending[:head])
            pending = pending[head:] if kind == "trickled" else b""
        return Loris(kind, sock, time.monotonic(), pending)

    def work(self, stop: threading.Event) -> None:
        selector = selectors.DefaultSelector()
        try:
            for kind in self.KINDS:
                for _ in range(self.per_kind):
                    self._add(selector, self._open(kind))
            while not stop.is_set():
                self._step(selector)
        finally:
            for loris in self.live:
                loris.sock.close()
            selector.close()

    def _add(self, selector: selectors.BaseSelector, loris: Loris) -> None:
        self.live.append(loris)
        selector.register(loris.sock, selectors.EVENT_READ, loris)

    def _step(self, selector: selectors.BaseSelector) -> None:
        deadline = time.monotonic() + self.EVERY
        while (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                loris: Loris = key.data
                try:
                    chunk = loris.sock.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    chunk = b""
                loris.answer += chunk
                if not chunk:
                    self._dropped(selector, loris)
        for loris in list(self.live):
            if loris.pending:
                try:
                    loris.sock.send(loris.pending[:1])
                    loris.pending = loris.pending[1:]
                except (BrokenPipeError, ConnectionResetError):
                    self._dropped(selector, loris)

    def _dropped(self, selector: selectors.BaseSelector, loris: Loris) -> None:
        if loris.dropped is not None:
            return
        loris.dropped = time.monotonic()
        selector.unregister(loris.sock)
        loris.sock.close()
        self.live.remove(loris)
        self.done.append(loris)
        self._add(selector, self._open(loris.kind))


def test_slowloris_is_dropped_in_bounded_time_while_contacts_are_served(
    served: Served,
) -> None:
    before = items(served)
    loris = Slowloris(served.server.port, sized(100, 500))
    real = served.under("slowloris", Abuse(loris.work), hold=TIMEOUT + DROP_SLACK + 1)
    ended = time.monotonic()
    served.assert_clean(before, real.sent)
    # Every connection was dropped by its deadline (and not by a byte
    # sent: a trickle is still slower than MIN_BODY_RATE), and none that
    # was still open at the end had outlived it.
    bound = TIMEOUT + DROP_SLACK
    lasted = {
        kind: [x.dropped - x.opened for x in loris.done if x.kind == kind and x.dropped]
        for kind in Slowloris.KINDS
    }
    for kind, times in lasted.items():
        assert len(times) >= loris.per_kind, (kind, len(times))
        assert max(times) < bound, (kind, max(times))
        assert min(times) > TIMEOUT * 0.9, (kind, min(times))
    assert max(ended - x.opened for x in loris.live) < bound if loris.live else True
    # The waiting ones were told why; a body cut midway just ends.
    for x in loris.done:
        if x.kind in ("silent", "headers"):
            assert x.answer.startswith(b"HTTP/1.1 408 "), x.answer[:80]
    print(json.dumps({"slowloris_dropped": {k: len(v) for k, v in lasted.items()}}))


def test_an_idle_connection_outlives_the_clients_keep_alive(served: Served) -> None:
    # httpx (the desk, the field client) drops a connection idle for 5 s; a
    # server that closed it at the same 5 s could close it just as the
    # client sent its next request on it, which then gets no answer.
    request = b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=10) as raw:
        for round_ in range(2):
            if round_:
                time.sleep(httpx.Limits().keepalive_expiry + 1)
            raw.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = raw.recv(65536)
                assert chunk, "the server closed the idle connection"
                head += chunk
            assert head.startswith(b"HTTP/1.1 200")
            length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += raw.recv(65536)


def test_a_slow_but_steady_upload_is_not_cut(served: Served) -> None:
    """A Tor user's upload at 8 KiB/s, taking longer than the body deadline,
    and headers sent in pieces over most of the header deadline."""
    codename = served.codenames[0]
    with httpx.Client(base_url=served.server.url, timeout=60) as client:
        session = client.post(f"{API}/sessions", json={"codename": codename}).json()["session"]
    boundary = "steady"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="s.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + os.urandom(24 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    request = (
        f"POST {API}/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {session}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    before = items(served)
    with contextlib.closing(raw_connection(served.server.port)) as sock:
        for start in range(0, len(request), len(request) // 3 + 1):
            sock.sendall(request[start : start + len(request) // 3 + 1])
            time.sleep(TIMEOUT * 0.25)
        started = time.monotonic()
        for start in range(0, len(body), 1024):
            sock.sendall(body[start : start + 1024])
            time.sleep(1 / 8)
        took = time.monotonic() - started
        answer = raw_answer(sock)
    assert took > 1.25 * TIMEOUT
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    assert items(served) == before + 1


# --- oversized bodies -------------------------------------------------------


def chunks_of(size: int, piece: bytes = b"x" * MIB) -> Iterator[bytes]:
    for _ in range(size // len(piece)):
        yield piece


def multipart_file(boundary: str, size: int, name: str = "files") -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="big.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from chunks_of(size)
    yield f"\r\n--{boundary}--\r\n".encode()


class PageContact:
    """A contact on the pages (cookies, form tokens), in Ukrainian."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60, headers={**UK, **SAME_SITE})
        kit.new_contact(self.client)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def page_contact(served: Served) -> Iterator[PageContact]:
    made = PageContact(served.server.url)
    yield made
    made.close()


def test_oversized_bodies_are_refused_clearly_and_store_nothing(
    served: Served, page_contact: PageContact
) -> None:
    over = MAX_BODY + 16 * MIB
    page = page_contact.client
    with httpx.Client(base_url=served.server.url, timeout=60) as client:
        session = bearer(client.post(f"{API}/contacts").json()["session"])
    kind = {"Content-Type": "multipart/form-data; boundary=b"}

    def declared() -> None:
        with httpx.Client(base_url=served.server.url, timeout=60) as client:
            answer = client.post(
                f"{API}/submissions",
                headers={**session, **kind, "Content-Length": str(over)},
                content=chunks_of(over),
            )
        assert answer.status_code == 413
        assert answer.json() == {"error": msg.BODY_TOO_LARGE}

    def streamed() -> None:
        # Chunked, no length said: counted as it streams, refused at the limit.
        with httpx.Client(base_url=served.server.url, timeout=60) as client:
            answer = client.post(
                f"{API}/submissions", headers={**session, **kind}, content=multipart_file("b", over)
            )
        assert answer.status_code == 413
        assert answer.json() == {"error": msg.BODY_TOO_LARGE}

    def on_the_page() -> None:
        answer = page.post(
            kit.submit_action(page),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            content=multipart_file("b", over),
        )
        assert answer.status_code == 413
        assert "Обсяг надісланого завеликий. Нічого не збережено." in answer.text

    def huge_login() -> None:
        with httpx.Client(base_url=served.server.url, timeout=60) as client:
            answer = client.post(
                f"{API}/sessions",
                headers={"Content-Type": "application/json"},
                content=iter([b'{"codename": "', *chunks_of(50 * MIB), b'"}']),
            )
        assert answer.status_code == 413
        assert answer.json() == {"error": msg.REQUEST_TOO_LARGE}

    before = items(served)

    def shot() -> None:
        declared()
        streamed()
        huge_login()

    abuse = Abuse(repeatedly(shot))
    real = served.under("oversized bodies", abuse)
    on_the_page()
    served.assert_clean(before, real.sent)


# --- thousands of tiny files ----------------------------------------------


def tiny_files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{i}.txt", b"tiny", "text/plain")) for i in range(count)]


def test_thousands_of_tiny_files_are_refused_at_the_file_limit(
    served: Served, page_contact: PageContact
) -> None:
    files = tiny_files(sized(5000, 20000))
    page = page_contact.client
    with httpx.Client(base_url=served.server.url, timeout=60) as client:
        session = bearer(client.post(f"{API}/contacts").json()["session"])
    shots = [0]

    def shot() -> None:
        with httpx.Client(base_url=served.server.url, timeout=60) as client:
            answer = client.post(f"{API}/submissions", headers=session, files=files)
        shots[0] += 1
        assert answer.status_code == 413
        assert answer.json() == {"error": msg.TOO_MANY_FILES}

    before = items(served)
    real = served.under("thousands of tiny files", Abuse(repeatedly(shot)))
    answer = page.post(kit.submit_action(page), files=files)
    assert answer.status_code == 413
    assert "Забагато файлів за один раз. Нічого не збережено." in answer.text
    served.assert_clean(before, real.sent)
    # Refused at the 21st file, not after the 5,000th: one such request,
    # alone, costs the server a fraction of a second of CPU; sealing
    # thousands of items would take many.
    with measured(served.pid) as alone:
        shot()
    print(json.dumps({"tiny_files": {"requests": shots[0], "one_alone": alone}}))
    assert alone["cpu_seconds"] < 0.5


# --- deep or huge fields and headers ---------------------------------------


def raw_request(port: int, request: bytes) -> bytes:
    with contextlib.closing(raw_connection(port)) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return raw_answer(sock)


def test_deep_and_huge_fields_and_headers_get_clear_refusals(
    served: Served, page_contact: PageContact
) -> None:
    port = served.server.port
    url = served.server.url
    with httpx.Client(base_url=url, timeout=60) as client:
        session = bearer(client.post(f"{API}/contacts").json()["session"])
    line = f"GET {API}/replies HTTP/1.1\r\nHost: x\r\n".encode()
    page = page_contact.client
    login_token = kit.form_token(page, "/d/north/login")

    def deep_json(client: httpx.Client) -> None:
        for body in (b'{"codename": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", b"[" * 60_000):
            answer = client.post(
                f"{API}/sessions", content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 400, answer.text
            assert answer.json() == {"error": msg.MALFORMED_REQUEST}

    def many_fields(client: httpx.Client) -> None:
        parts = [("message", (None, "m")) for _ in range(5000)]
        answer = client.post(f"{API}/submissions", headers=session, files=parts)
        assert answer.status_code == 400, answer.text
        unknown = [(f"f{i}", (None, "m")) for i in range(5000)]
        answer = client.post(f"{API}/submissions", headers=session, files=unknown)
        assert answer.status_code == 400, answer.text
        # A page's form: thousands of fields, refused before any is looked
        # at, as a form that did not come from its page.
        form = {f"f{i}": "v" for i in range(5000)} | {"form_token": login_token}
        answer = page.post("/d/north/login", data=form)
        assert answer.status_code == 403, answer.text
        assert "Ця форма застаріла" in answer.text

    def huge_filename(client: httpx.Client) -> None:
        files = [("files", ("n" * 100_000 + ".txt", b"content", "text/plain"))]
        answer = client.post(f"{API}/submissions", headers=session, files=files)
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": msg.MALFORMED_UPLOAD}

    def huge_headers() -> None:
        for request in (
            line + b"X-Long: " + b"a" * (8 * MIB) + b"\r\n\r\n",
            line + b"".join(b"X-%d: v\r\n" % i for i in range(20_000)) + b"\r\n",
            b"GET /" + b"p" * (2 * MIB) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            answer = raw_request(port, request)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]

    def shot() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            deep_json(client)
            many_fields(client)
            huge_filename(client)
        huge_headers()

    before = items(served)
    real = served.under("deep or huge fields and headers", Abuse(repeatedly(shot)))
    served.assert_clean(before, real.sent)
    assert MAX_HEADER_BYTES < 8 * MIB


def test_a_50_mib_message_streams_through_in_bounded_memory(served: Served) -> None:
    size = 50 * MIB
    handler = served.org.compartments["north"].handlers[0]
    with httpx.Client(base_url=served.server.url, timeout=120) as client:
        session = bearer(client.post(f"{API}/contacts").json()["session"])
        before = {p.name for p in served.stored.blobs()}
        with measured(served.pid) as figures:
            answer = client.post(
                f"{API}/submissions",
                headers={**session, "Content-Type": "multipart/form-data; boundary=m"},
                content=multipart_file("m", size, name="message"),
            )
    assert answer.status_code == 201, answer.text
    assert figures["rss_peak_mib"] - figures["rss_before_mib"] < 32, figures
    (new,) = [p for p in served.stored.blobs() if p.name not in before]
    envelope, content = crypto.decrypt_item(new.read_bytes(), [handler.identity])
    assert envelope.header["kind"] == "message" and len(content) == size
    print(json.dumps({"fifty_mib_message": figures}))


# --- codename-guessing floods ---------------------------------------------


def test_a_codename_guessing_flood_leaves_real_contacts_served(served: Served) -> None:
    guesses = [0]
    wrong = " ".join(["abacus"] * 7)

    def guessing(stop: threading.Event) -> None:
        with httpx.Client(base_url=served.server.url, timeout=60) as client:
            while not stop.is_set():
                answer = client.post(f"{API}/sessions", json={"codename": wrong})
                assert answer.status_code == 401
                assert answer.json() == {"error": msg.WRONG_CODENAME}
                guesses[0] += 1

    before = items(served)
    started = time.monotonic()
    real = served.under("codename-guessing flood", Abuse(guessing, threads=8))
    rate = guesses[0] / (time.monotonic() - started)
    print(json.dumps({"guesses_per_second": round(rate)}))
    served.assert_clean(before, real.sent)
    assert guesses[0] > 50


# --- duplicate and replayed requests --------------------------------------


def test_replayed_and_duplicated_requests_store_once_or_nothing(
    served: Served, page_contact: PageContact
) -> None:
    url = served.server.url
    page = page_contact.client
    action = kit.submit_action(page)
    cookies = dict(page.cookies)
    message = [("message", (None, "sent once"))]
    before = items(served)

    # The same form, sent eight times at once: stored once, the others told so.
    def send_form() -> httpx.Response:
        with httpx.Client(
            base_url=url, timeout=60, cookies=cookies, headers={**UK, **SAME_SITE}
        ) as client:
            return client.post(action, files=message, follow_redirects=False)

    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(send_form())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notices = sorted(a.headers["location"].rsplit("=", 1)[1] for a in answers)
    assert notices == ["already-sent"] * 7 + ["sent"]
    assert items(served) == before + 1

    # An API session, and a page session, logged out and then replayed.
    with httpx.Client(base_url=url, timeout=60) as client:
        api_session = bearer(client.post(f"{API}/contacts").json()["session"])
        assert client.delete(f"{API}/sessions/current", headers=api_session).status_code == 204
    form_token = kit.form_token(page, "/d/north/submit")
    out = page.post("/d/north/logout", data={"form_token": form_token}, follow_redirects=False)
    assert out.status_code == 303

    def replays() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            answer = client.post(f"{API}/submissions", headers=api_session, files=message)
            assert answer.status_code == 401 and set(answer.json()) == {"error"}
            assert client.get(f"{API}/replies", headers=api_session).status_code == 401
        with httpx.Client(
            base_url=url, timeout=60, cookies=cookies, headers={**UK, **SAME_SITE}
        ) as client:
            # The logged-out page session, with its spent and a fresh form.
            answer = client.post(action, files=message, follow_redirects=False)
            assert answer.status_code in (303, 401), answer.status_code
            assert answer.status_code == 401 or answer.headers["location"].endswith("already-sent")

    items_after_dupes = items(served)
    real = served.under("replayed requests", Abuse(repeatedly(replays), threads=2))
    served.assert_clean(items_after_dupes, real.sent)


# --- a real full disk -------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (under the test's basetemp, so a
    leftover is easy to find), unmounted whatever happens."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True, timeout=30)


def fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` to the last byte."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, bytes(65536))
    finally:
        os.close(fd)
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_real_full_disk_refuses_uploads_and_keeps_everything_whole(
    tmp_path: Path, org_kit: OrgKit
) -> None:
    data = set_up(tmp_path, org_kit)
    blobs = data / "blobs"
    handler = org_kit.compartments["north"].handlers[0]
    with tmpfs(blobs, "8m"), contextlib.closing(Stored(data)) as stored:
        server = serve(data, tmp_path / "serve")
        try:
            with server.client() as client:
                codenames = [new_codename(client) for _ in range(REAL_CONTACTS)]
                session = bearer(client.post(f"{API}/contacts").json()["session"])
                kept = client.post(
                    f"{API}/submissions", headers=session, files={"message": (None, "kept")}
                )
                assert kept.status_code == 201
            served = Served(server, stored, org_kit, codenames, writing=False)
            served.measure_quiet()

            def past_the_disk() -> None:
                with httpx.Client(base_url=server.url, timeout=60) as client:
                    answer = client.post(
                        f"{API}/submissions",
                        headers={**session, "Content-Type": "multipart/form-data; boundary=d"},
                        content=multipart_file("d", 12 * MIB),
                    )
                assert answer.status_code == 507, answer.text
                assert answer.json() == {"error": msg.DISK_FULL}

            served.under("disk full mid-upload", Abuse(repeatedly(past_the_disk)))
            with contextlib.closing(PageContact(server.url)) as page:
                answer = page.client.post(
                    kit.submit_action(page.client), files=[("files", ("f", b"x" * 12 * MIB))]
                )
                assert answer.status_code == 507
                assert "Зараз сервер не може більше нічого зберегти." in answer.text
            assert list((blobs / "tmp").iterdir()) == []

            # Full to the last byte by something else: refused, then served
            # again as soon as space is freed.
            filler = fill(blobs)
            with httpx.Client(base_url=server.url, timeout=60) as client:
                small = {"message": (None, "after")}
                full = client.post(f"{API}/submissions", headers=session, files=small)
                assert full.status_code == 507 and full.json() == {"error": msg.DISK_FULL}
                filler.unlink()
                assert (
                    client.post(f"{API}/submissions", headers=session, files=small).status_code
                    == 201
                )
            rss = status_line(server.process.pid, "VmRSS") / MIB
        finally:
            server.stop()
        texts = sorted(
            crypto.decrypt_item(path.read_bytes(), [handler.identity])[1] for path in stored.blobs()
        )
        assert texts == [b"after", b"kept"]
        assert stored.rows(schema.Item) == 2
        assert list((blobs / "tmp").iterdir()) == []
        print(json.dumps({"disk_full_rss_mib": round(rss, 1)}))
