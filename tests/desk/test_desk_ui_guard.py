"""The desk UI's guard, against a real ``shoal desk ui`` over a real server.

A demo organization is served (``_served_org``), a contact writes to door
``news`` through the contact API, and ``shoal desk ui`` runs on the news
desk as the handler would start it. Everything below is plain HTTP with
httpx, as another local user, a rebinding web page or a cross-site form
would send it: only the browser that opened the printed link, on the
address it names, with the page's form token, gets anything — and every
answer carries the strict headers, refusals included.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from _seizure import corpus_of, hits
from _served_org import Org, serve_demo

MESSAGE = "CANARY-ui-the-convoy-crossed-at-dawn-3f9e"
NOTE = "CANARY-ui-note-never-logged-8c1d"
FILE_NAME = '../..\\evil"na\u202eme\x07.exe'
FILE_BYTES = b"MZ canary-ui-file-bytes-55e0 " * 40
LAUNCH = re.compile(r"^(http://127\.0\.0\.1:([0-9]+))/launch\?token=([A-Za-z0-9_-]+)$")
TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass
class UI:
    """One ``shoal desk ui`` process and what it printed."""

    process: subprocess.Popen[str]
    origin: str
    port: int
    token: str
    stderr: Path
    reader: threading.Thread
    stdout: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.origin, timeout=30, follow_redirects=False)

    @contextlib.contextmanager
    def launched(self) -> Iterator[httpx.Client]:
        """A browser that opened the launch link: it holds the cookie."""
        with self.client() as client:
            answer = client.get(f"/launch?token={self.token}")
            assert answer.status_code == 303, answer.text
            yield client

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.reader.join(timeout=30)  # everything it printed is read
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_ui(org: Org, door: str, tmp: Path, *, idle_minutes: float = 30) -> UI:
    stderr = tmp / f"ui-{door}.stderr"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "desk", "ui", "--dir", str(org.root / f"desk-{door}"),
             "--idle-minutes", str(idle_minutes), "--export-dir", str(tmp / "exports")],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if LAUNCH.match(line.strip()):
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ready.wait(timeout=60)
    found = [m for line in lines if (m := LAUNCH.match(line.strip()))]
    origin, port, token = found[0].groups() if found else ("", "0", "")
    ui = UI(process, origin, int(port), token, stderr, reader, lines)
    if not found:
        process.kill()
        ui.stop()
        raise AssertionError(f"no launch link: {lines} {stderr.read_text()}")
    return ui


def passphrase(org: Org, door: str) -> str:
    return (org.root / "passphrases" / f"desk-{door}.passphrase").read_text().strip()


def form_token(client: httpx.Client, path: str = "/") -> str:
    found = TOKEN.search(client.get(path).text)
    assert found, f"no form token on {path}"
    return found.group(1)


def is_unlock_page(answer: httpx.Response) -> bool:
    return answer.status_code in {200, 401} and 'name="passphrase"' in answer.text


def unlock(ui: UI, client: httpx.Client, door: str, org: Org) -> None:
    page = client.get("/")
    if not is_unlock_page(page):
        return
    token = TOKEN.search(page.text)
    assert token
    answer = client.post(
        "/unlock", data={"form_token": token.group(1), "passphrase": passphrase(org, door)}
    )
    assert answer.status_code == 303, answer.text
    assert not is_unlock_page(client.get("/"))


@dataclass
class Session:
    org: Org
    ui: UI
    tmp: Path
    contact: str
    item: str  # the contact's file


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("ui-guard")
    org = serve_demo(tmp, classic=True)
    ui: UI | None = None
    try:
        answer = httpx.post(f"{org.url}/api/v1/doors/news/contacts", timeout=30)
        assert answer.status_code == 201, answer.text
        sent = httpx.post(
            f"{org.url}/api/v1/doors/news/submissions",
            headers={"Authorization": f"Bearer {answer.json()['session']}"},
            data={"message": MESSAGE},
            files=[("files", (FILE_NAME, FILE_BYTES, "application/octet-stream"))],
            timeout=60,
        )
        assert sent.status_code == 201, sent.text
        ui = start_ui(org, "news", tmp)
        with ui.launched() as client:
            unlock(ui, client, "news", org)
            token = form_token(client)
            assert client.post("/sync", data={"form_token": token}).status_code == 303
            deadline = time.monotonic() + 60
            while True:
                status = client.get("/sync/status").json()
                if not status["running"] and status["phase"] in {"done", "failed", "stopped"}:
                    break
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            assert status["phase"] == "done", status
            inbox = client.get("/").text
            contact = re.search(r'href="/contacts/([0-9a-f]+)"', inbox)
            assert contact, inbox
            page = client.get(f"/contacts/{contact.group(1)}").text
            assert MESSAGE in page
            item = re.search(r'href="/items/([0-9a-f]+)/download"', page)
            assert item, page
        yield Session(org, ui, tmp, contact.group(1), item.group(1))
    finally:
        if ui is not None:
            ui.stop()
        org.stop()


# -- (a) loopback only ------------------------------------------------------------


def _listening(port: int) -> list[str]:
    """Local addresses listening on ``port``, from the kernel's tables."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                found.append(address)
    return found


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_socket_is_bound_to_loopback_only(session: Session) -> None:
    assert _listening(session.ui.port) == ["0100007F"]  # 127.0.0.1, little-endian
    outward = _outward_address()
    if outward is not None:
        with pytest.raises(OSError), socket.create_connection((outward, session.ui.port), 2):
            pass


# -- (b) the Host header -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "127.0.0.1:{other}",
        "127.0.0.1",
        "localhost",
        "127.0.0.2:{port}",
        "0.0.0.0:{port}",
        "[::1]:{port}",
        "127.0.0.1:{port}.evil.example",
        "LOCALHOST:{port}",
        "",
    ],
)
def test_another_host_name_is_refused(session: Session, host: str) -> None:
    ui = session.ui
    value = host.format(port=ui.port, other=ui.port + 1)
    with ui.launched() as browser:
        for path in ("/", f"/launch?token={ui.token}", "/sync/status", "/static/desk.css"):
            answer = browser.get(path, headers={"Host": value})
            assert answer.status_code == 421, (host, path)
            assert "set-cookie" not in answer.headers
        answer = browser.post(
            "/lock", headers={"Host": value}, data={"form_token": form_token(browser)}
        )
        assert answer.status_code == 421
        assert not is_unlock_page(browser.get("/"))  # the lock never happened


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def test_a_request_without_host_is_refused(session: Session) -> None:
    ui = session.ui
    answer = _raw(ui.port, f"GET /launch?token={ui.token} HTTP/1.0\r\n\r\n".encode())
    head = answer.split(b"\r\n\r\n")[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 421")
    assert "set-cookie" not in head
    assert "content-security-policy: default-src 'none'" in head


def test_localhost_is_the_same_desk(session: Session) -> None:
    ui = session.ui
    with ui.client() as browser:
        headers = {"Host": f"localhost:{ui.port}"}
        assert browser.get(f"/launch?token={ui.token}", headers=headers).status_code == 303
        assert browser.get("/sync/status", headers=headers).status_code == 200


# -- (c) the launch cookie ----------------------------------------------------------

PROTECTED = ["/", "/search?q=convoy", "/about", "/static/desk.css", "/static/desk.js",
             "/sync/status", "/forwards", "/no/such/page"]  # fmt: skip


def test_without_the_cookie_nothing_is_served(session: Session) -> None:
    ui = session.ui
    paths = [*PROTECTED, f"/contacts/{session.contact}", f"/items/{session.item}/download"]
    wrong_cookies = [
        {},
        {"shoal_desk": ""},
        {"shoal_desk": ui.token[:-1]},
        {"shoal_desk": ui.token + "x"},
        {"shoal_desk": "x" * len(ui.token)},
        {"other": ui.token},
    ]
    for cookies in wrong_cookies:
        with httpx.Client(base_url=ui.origin, cookies=cookies, timeout=30) as browser:
            for path in paths:
                answer = browser.get(path)
                assert answer.status_code == 403, (cookies, path)
                assert MESSAGE not in answer.text
                assert "form_token" not in answer.text
            answer = browser.post("/lock", data={"form_token": "x"})
            assert answer.status_code == 403
    # The token in a header other than the cookie is not the cookie.
    with ui.client() as browser:
        answer = browser.get("/", headers={"Authorization": f"Bearer {ui.token}"})
        assert answer.status_code == 403


def test_a_cookie_tossed_from_another_port_locks_nobody_out(session: Session) -> None:
    """Cookies ignore ports: a server on another loopback port can set one
    of the same name, sent first. The real one still counts."""
    ui = session.ui
    with ui.client() as browser:
        tossed = f"shoal_desk=tossed; shoal_desk={ui.token}; shoal_desk="
        assert browser.get("/sync/status", headers={"Cookie": tossed}).status_code == 200
        alone = "shoal_desk=tossed; shoal_desk="
        assert browser.get("/sync/status", headers={"Cookie": alone}).status_code == 403


@pytest.mark.parametrize(
    "query",
    ["", "?token=", "?token=x", "?token={token}x", "?token={short}", "?tok={token}",
     "?token=x&token={token}"],
)  # fmt: skip
def test_a_wrong_launch_link_sets_no_cookie(session: Session, query: str) -> None:
    ui = session.ui
    with ui.client() as browser:
        answer = browser.get("/launch" + query.format(token=ui.token, short=ui.token[:10]))
        assert answer.status_code == 403
        assert "set-cookie" not in answer.headers
        assert browser.get("/").status_code == 403


# -- (d) what the launch sets --------------------------------------------------------


def test_the_launch_sets_a_strict_http_only_cookie(session: Session) -> None:
    ui = session.ui
    with ui.client() as browser:
        answer = browser.get(f"/launch?token={ui.token}")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        [cookie] = answer.headers.get_list("set-cookie")
        parts = [p.strip().lower() for p in cookie.split(";")]
        assert parts[0] == f"shoal_desk={ui.token}".lower()
        assert "httponly" in parts
        assert "samesite=strict" in parts
        assert "path=/" in parts
        assert not any(p.startswith(("domain", "max-age", "expires")) for p in parts)
        assert browser.get("/sync/status").status_code == 200
        # The token is in no page: a page's content never carries the secret.
        assert ui.token not in browser.get("/").text
    # HEAD and POST to /launch are not launches.
    with ui.client() as browser:
        assert browser.head(f"/launch?token={ui.token}").status_code == 403
        assert browser.post(f"/launch?token={ui.token}").status_code == 403


# -- (e) state-changing requests --------------------------------------------------------


def test_a_post_needs_the_form_token_and_this_origin(session: Session) -> None:
    ui = session.ui
    with ui.launched() as browser:
        unlock(ui, browser, "news", session.org)
        token = form_token(browser)
        note = f"/contacts/{session.contact}/note"
        for data, headers in [
            ({"text": NOTE}, {}),
            ({"text": NOTE, "form_token": ""}, {}),
            ({"text": NOTE, "form_token": token[:-1]}, {}),
            ({"text": NOTE, "form_token": token + "x"}, {}),
            ({"text": NOTE}, {"X-Desk-Form": "nope"}),
            ({"text": NOTE, "form_token": ui.token}, {}),  # the cookie's secret is not it
        ]:
            answer = browser.post(note, data=data, headers=headers)
            assert answer.status_code == 403, (data, headers)
        for origin in ["http://evil.example", "null", f"http://127.0.0.1:{ui.port + 1}",
                       f"https://127.0.0.1:{ui.port}", f"http://localhost:{ui.port}"]:  # fmt: skip
            answer = browser.post(
                note, data={"text": NOTE, "form_token": token}, headers={"Origin": origin}
            )
            assert answer.status_code == 403, origin
            assert "another site" in answer.text
            answer = browser.post("/lock", data={"form_token": token}, headers={"Origin": origin})
            assert answer.status_code == 403, origin
        assert browser.post("/lock", data={}).status_code == 403
        page = browser.get(f"/contacts/{session.contact}")
        assert page.status_code == 200 and MESSAGE in page.text  # still unlocked
        assert NOTE not in page.text  # and no note was written

        # The page's own form, from this origin: accepted.
        answer = browser.post(
            note, data={"text": NOTE, "form_token": token}, headers={"Origin": ui.origin}
        )
        assert answer.status_code == 303
        assert NOTE in browser.get(f"/contacts/{session.contact}").text
        # A script's request may carry the token in a header instead.
        answer = browser.post(note, data={"text": NOTE + "-2"}, headers={"X-Desk-Form": token})
        assert answer.status_code == 303
        assert NOTE + "-2" in browser.get(f"/contacts/{session.contact}").text


# -- (f) the headers of every answer ------------------------------------------------------


def _strict(answer: httpx.Response, where: str) -> None:
    headers = answer.headers
    csp = headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    if "sandbox" in directives:  # a download: nothing of it may run at all
        assert directives["default-src"] == ["'none'"], where
        assert "script-src" not in directives, where
    else:
        assert directives.get("script-src") == ["'self'"], (where, csp)
        assert directives.get("default-src") == ["'none'"], (where, csp)
        assert directives.get("frame-ancestors") == ["'none'"], (where, csp)
        assert directives.get("base-uri") == ["'none'"], (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("cache-control") == "no-store", where
    assert headers.get("referrer-policy") == "same-origin", where
    assert "server" not in headers, where


def test_every_answer_carries_the_strict_headers(session: Session) -> None:
    ui = session.ui
    with ui.client() as stranger:
        for path in PROTECTED:
            _strict(stranger.get(path), f"refused {path}")
        _strict(stranger.get("/", headers={"Host": "evil.example"}), "wrong host")
        _strict(stranger.get("/launch?token=x"), "wrong launch")
        _strict(stranger.get(f"/launch?token={ui.token}"), "launch")
    with ui.launched() as browser:
        unlock(ui, browser, "news", session.org)
        for path in [*PROTECTED, f"/contacts/{session.contact}"]:
            answer = browser.get(path)
            assert answer.status_code in {200, 404}, path
            _strict(answer, path)
        _strict(browser.post("/lock", data={}), "refused form")
        _strict(browser.post("/lock", data={}, headers={"Origin": "null"}), "refused origin")
        _strict(browser.get(f"/items/{session.item}/download"), "download")
        _strict(browser.get("/items/0123/download"), "no such item")
        _strict(browser.get("/static/../../etc/passwd"), "outside static")


# -- (g) to (i): unlock, idle lock, lock ----------------------------------------------------


def test_a_wrong_passphrase_leaves_the_desk_locked(session: Session) -> None:
    ui = session.ui
    with ui.launched() as browser:
        token = form_token(browser)
        browser.post("/lock", data={"form_token": token})
        assert is_unlock_page(browser.get("/"))
        for wrong in ["", "wrong", passphrase(session.org, "news") + " ", "ö" * 200]:
            answer = browser.post("/unlock", data={"form_token": token, "passphrase": wrong})
            assert answer.status_code == 401, wrong
            assert is_unlock_page(answer) and "Wrong passphrase" in answer.text
            _strict(answer, "wrong passphrase")
        assert browser.get("/sync/status").json()["locked"] is True
        assert is_unlock_page(browser.get("/"))
        assert browser.get(f"/contacts/{session.contact}").status_code == 303
        # Without the form token even the right passphrase does nothing.
        answer = browser.post("/unlock", data={"passphrase": passphrase(session.org, "news")})
        assert answer.status_code == 403
        assert browser.get("/sync/status").json()["locked"] is True

        answer = browser.post(
            "/unlock", data={"form_token": token, "passphrase": passphrase(session.org, "news")}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert browser.get("/sync/status").json()["locked"] is False
        assert MESSAGE in browser.get(f"/contacts/{session.contact}").text


def test_the_lock_drops_the_workbench(session: Session) -> None:
    ui = session.ui
    with ui.launched() as browser:
        unlock(ui, browser, "news", session.org)
        assert browser.get("/search?q=convoy").status_code == 200
        answer = browser.post("/lock", data={"form_token": form_token(browser)})
        assert answer.status_code == 303
        assert browser.get("/sync/status").json()["locked"] is True
        for path in ("/search?q=convoy", f"/contacts/{session.contact}", "/forwards", "/about"):
            answer = browser.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == "/", path
        answer = browser.get(f"/items/{session.item}/download")
        assert answer.status_code == 303 and FILE_BYTES not in answer.content
        page = browser.get("/")
        assert is_unlock_page(page) and MESSAGE not in page.text


def test_an_idle_desk_locks_itself(session: Session) -> None:
    ui = start_ui(session.org, "field", session.tmp, idle_minutes=0.05)
    try:
        with ui.launched() as browser:
            unlock(ui, browser, "field", session.org)
            assert browser.get("/sync/status").json()["locked"] is False
            # Polling the status is no activity: an open tab must not keep it open.
            deadline = time.monotonic() + 15
            while browser.get("/sync/status").json()["locked"] is False:
                assert time.monotonic() < deadline, "never locked"
                time.sleep(0.5)
            assert is_unlock_page(browser.get("/"))
            assert browser.get("/search?q=x").status_code == 303
            # And without any request, the watch locks it all the same.
            unlock(ui, browser, "field", session.org)
            time.sleep(5)
            page = browser.get("/")
            assert is_unlock_page(page), page.text
            assert browser.get("/sync/status").json()["locked"] is True
    finally:
        ui.stop()


def test_a_second_ui_on_the_same_desk_is_refused(session: Session) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "desk", "ui", "--dir",
         str(session.org.root / "desk-news")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "another `shoal desk ui` is serving" in done.stderr
    assert "launch?token=" not in done.stdout


# -- (j) downloads -------------------------------------------------------------------------------


def test_a_download_is_an_attachment_that_never_renders(session: Session) -> None:
    ui = session.ui
    with ui.launched() as browser:
        unlock(ui, browser, "news", session.org)
        answer = browser.get(f"/items/{session.item}/download")
        assert answer.status_code == 200
        assert answer.content == FILE_BYTES
        assert answer.headers["content-type"] == "application/octet-stream"
        assert "sandbox" in answer.headers["content-security-policy"]
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        plain = re.search(r'filename="([^"]*)"', disposition)
        assert plain, disposition
        name = plain.group(1)
        assert name and name.isascii() and name.isprintable()
        assert not any(c in name for c in '/\\"') and not name.startswith(".")
        assert name.endswith(".exe")
        starred = re.search(r"filename\*=UTF-8''(\S+)", disposition)
        assert starred, disposition
        assert not any(c in starred.group(1) for c in "/\\\"'; ")
        assert "%E2%80%AE" not in starred.group(1)  # the right-to-left override is gone
        assert "%07" not in starred.group(1)
        # Anything but a synced item is no download.
        assert browser.get("/items/0123456789abcdef/download").status_code == 404
        assert browser.get("/items/..%2F..%2Fkeystore/download").status_code in {303, 404}


# -- (k) the process tells nothing -----------------------------------------------------------------


def test_the_process_output_and_the_disk_hold_no_secret(session: Session) -> None:
    # Runs last in this module: stops the UI to read everything it wrote.
    ui = session.ui
    with ui.launched() as browser:
        unlock(ui, browser, "news", session.org)
        browser.get(f"/contacts/{session.contact}")
        browser.get("/search", params={"q": MESSAGE.split("-")[2]})
        browser.get(f"/items/{session.item}/download")
    ui.stop()
    output = {
        "stdout": "".join(ui.stdout).encode(),
        "stderr": ui.stderr.read_bytes(),
    }
    assert b"launch?token=" in output["stdout"]
    secrets = [MESSAGE, NOTE, "canary-ui-file-bytes", passphrase(session.org, "news")]
    for secret in secrets:
        assert hits(output, secret.encode()) == [], secret
    corpus = corpus_of(session.org.root / "desk-news")
    assert any("vault" in name for name in corpus)
    for secret in (MESSAGE, NOTE, "canary-ui-file-bytes"):
        assert hits(corpus, secret.encode()) == [], secret
