"""The server seized after every flow of a whole organization: nothing any
role wrote, no codename, and not the address the clients came from is
anywhere on it.

One demo organization is served (``_served_org``) and every flow runs
against it with a known canary: first contact on the pages and over the
API, a message and a file (canary name, canary contents past the 1 MiB
at which the server spools to its TMPDIR), a questionnaire's answers,
replies from the desk read by the contact on the pages and over the API,
codename logins on both, handler logins (every desk command), a member's
signed report with a file through the real ``shoal field``, the reasons
of lifecycle moves, cutting ties with a contact (whose codename is then
refused), and grades and a note on the desk UI. Each canary is checked to
have reached its reader, so its absence on the server means something.

Every client connects from 127.0.0.77: the test's httpx clients bind it
(``local_address``); the desk and field command lines and the desk UI,
which cannot bind a source address, reach the server through a SOCKS5
proxy (microsocks, ``-b 127.0.0.77``) named in ``ALL_PROXY``, which httpx
honours (the field client's documented Tor path is the same mechanism).
The kernel's connection table, sampled throughout, shows that every
connection to the server came from that address and no other.

Then the server stops, and every byte of its data directory, its TMPDIR
and its stdout/stderr (and, on PostgreSQL, a plain ``pg_dump``) is
searched for each canary, every codename and the client address (as text
and as its four packed bytes) in every encoding ``_seizure`` knows.

How it was shown to fail: in a scratch run, a canary written by hand into
a file of the data directory (and, separately, the packed address into
the database file) made the matching check fail with the file named; a
client bound to 127.0.0.1 instead made the address check fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text

import _pages_kit as pages
import desk_browser_kit as desk_ui
import member_kit
from _seizure import PeerWitness, canary, corpus_of, database_dump, hits
from _served_org import _DESK_LINE, DeskLine, Org, free_port, serve_demo
from _tools import require_tool
from shoal import crypto
from shoal import org as orgmod
from shoal.server import load_config
from shoal.store import create_db_engine

DOOR = "news"
SERVICES_DOOR = "field"  # the demo door with a questionnaire
ADDRESS = "127.0.0.77"
PROXY_VARIABLES = ("ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def shoal_here(*args: str) -> str:
    """``shoal <args>`` in this process (``member_kit.run``): the same
    command line, less an interpreter's start-up per command, which made
    up most of this module's time; a failure fails the test."""
    stdout: str = member_kit.run(*args).stdout
    return stdout


@dataclass
class Scene:
    org: Org
    #: What each canary went into → the canary.
    canaries: dict[str, str]
    codenames: list[str]
    #: What each reader got back, checked by the tests below.
    read: dict[str, str]
    peers: Counter[str]
    corpus: dict[str, bytes] = field(default_factory=dict)


class Flows:
    """Every role's moves against the served organization, from ADDRESS."""

    def __init__(self, org: Org, tmp: Path, stack: ExitStack) -> None:
        self.org, self.tmp, self.stack = org, tmp, stack
        self.canaries: dict[str, str] = {}
        self.codenames: list[str] = []
        self.read: dict[str, str] = {}

    def canary(self, what: str) -> str:
        self.canaries[what] = canary(what.upper().replace(" ", "-"))
        return self.canaries[what]

    def client(self) -> httpx.Client:
        """A contact's browser or app: its own cookies, from ADDRESS."""
        transport = httpx.HTTPTransport(local_address=ADDRESS)
        client = httpx.Client(base_url=self.org.url, transport=transport, timeout=60)
        return self.stack.enter_context(client)

    def api_contact(self, door: str) -> tuple[httpx.Client, str]:
        """A first contact over the JSON API; the client holds its session."""
        client = self.client()
        made = client.post(f"/api/v1/doors/{door}/contacts")
        assert made.status_code == 201, made.text
        client.headers["Authorization"] = f"Bearer {made.json()['session']}"
        self.codenames.append(made.json()["codename"])
        return client, made.json()["codename"]

    def api_login(self, door: str, codename: str) -> httpx.Response:
        return self.client().post(f"/api/v1/doors/{door}/sessions", json={"codename": codename})

    def desk(self, door: str, command: str, *args: str) -> str:
        """``shoal desk`` as the handler of ``door``: each logs in with the handler's key."""
        return shoal_here(
            "desk", command, "--dir", str(self.org.root / f"desk-{door}"),
            "--passphrase-file", str(self.org.root / "passphrases" / f"desk-{door}.passphrase"),
            *args,
        )  # fmt: skip

    def desk_items(self, door: str) -> list[DeskLine]:
        """Sync, then ``desk list`` parsed (as ``Org.desk_items`` does)."""
        self.desk(door, "sync")
        listed = [_DESK_LINE.match(line) for line in self.desk(door, "list").splitlines()]
        assert all(listed), listed
        return [DeskLine(*line.groups()) for line in listed if line]


def writer_on_the_pages(flows: Flows) -> tuple[httpx.Client, str]:
    """A contact who writes on the pages: a message and a file, after
    logging in again with the codename; the client keeps the session."""
    client = flows.client()
    codename = pages.codename_from(pages.first_contact(client, DOOR).text)
    flows.codenames.append(codename)
    assert pages.practice(client, codename, DOOR).status_code == 303
    client.cookies.delete("shoal_session")
    assert pages.login(client, codename, DOOR).status_code == 303
    content = flows.canary("file contents").encode()
    # Past the 1 MiB at which the multipart parser spools to TMPDIR, with
    # the canary at both ends and in the middle.
    data = bytearray(os.urandom(3 << 19))
    for at in (0, len(data) // 2, len(data) - len(content)):
        data[at : at + len(content)] = content
    sent = client.post(
        pages.submit_action(client, DOOR),
        files=[
            ("message", (None, flows.canary("message"))),
            ("files", (flows.canary("file name") + ".txt", bytes(data), "text/plain")),
        ],
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("notice=sent")
    flows.read["file sent"] = bytes(data).hex()
    return client, codename


def offer_of_services(flows: Flows) -> None:
    """A newcomer answers the door's questionnaire on the pages."""
    client = flows.client()
    codename = pages.codename_from(pages.first_contact(client, SERVICES_DOOR).text)
    flows.codenames.append(codename)
    assert pages.practice(client, codename, SERVICES_DOOR).status_code == 303
    form = client.get(f"/d/{SERVICES_DOOR}/services")
    assert form.status_code == 200, form.text
    sent = client.post(
        f"/d/{SERVICES_DOOR}/services",
        data={
            "form_token": pages.hidden(form.text, "form_token"),
            "once": pages.hidden(form.text, "once"),
            "skills": ["first_aid", "transport"],
            "region": "kyiv",
            "reach": "weekly",
            "anything_else": flows.canary("questionnaire answer"),
        },
        follow_redirects=False,
    )
    assert sent.headers["location"].endswith("notice=applied"), sent.text


class Member:
    """A member's device: ``shoal field`` in a folder of the test's."""

    def __init__(self, flows: Flows, codename: str) -> None:
        self.folder = flows.tmp / "member"
        self.passphrase = flows.tmp / "member.passphrase"
        self.passphrase.write_text("correct horse battery staple\n")
        self.codename_file = flows.tmp / "member.codename"
        self.codename_file.write_text(codename + "\n")
        self.fingerprint = orgmod.root_fingerprint(
            crypto.NoteVerifier.parse(flows.org.shown["root key"])
        )
        self.server = flows.org.url

    def enroll(self) -> None:
        shoal_here(
            "field", "enroll", "--dir", str(self.folder), "--server", self.server,
            "--door", DOOR, "--fingerprint", self.fingerprint,
            "--codename-file", str(self.codename_file),
            "--passphrase-file", str(self.passphrase), "--work-factor", "10", "--delay", "0",
        )  # fmt: skip

    def run(self, command: str, *args: str) -> str:
        return shoal_here(
            "field", command, "--dir", str(self.folder),
            "--passphrase-file", str(self.passphrase), *args,
        )  # fmt: skip


def by_contact(lines: list[DeskLine]) -> dict[str, list[DeskLine]]:
    found: dict[str, list[DeskLine]] = {}
    for line in lines:
        found.setdefault(line.contact, []).append(line)
    return found


def grade_on_the_desk_ui(
    flows: Flows, contact: str, items: list[DeskLine], member_contact: str
) -> None:
    """The handler syncs in the desk UI, grades the source and a report,
    and writes a note; what the UI then shows is kept for the checks."""
    ui = desk_ui.start_desk_ui(flows.org, DOOR, flows.tmp, export_dir=flows.tmp / "exports")
    flows.stack.callback(ui.stop)
    local = httpx.HTTPTransport(local_address=ADDRESS)
    handler = flows.stack.enter_context(
        httpx.Client(base_url=ui.origin, transport=local, timeout=60)
    )
    assert handler.get(ui.launch).status_code == 303
    token = pages.hidden(handler.get("/").text, "form_token")
    unlocked = handler.post("/unlock", data={"form_token": token, "passphrase": ui.passphrase})
    assert unlocked.status_code == 303, unlocked.text
    assert handler.post("/sync", data={"form_token": token}).status_code == 303
    deadline = time.monotonic() + 120
    while (status := handler.get("/sync/status").json())["running"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert not status["warnings"], status
    graded = [
        handler.post(f"/contacts/{contact}/reliability", data={"form_token": token, "grade": "B"}),
        handler.post(f"/items/{items[0].item_id}/credibility", data={"form_token": token,
                                                                    "grade": "2"}),
        handler.post(
            f"/contacts/{contact}/note",
            data={"form_token": token, "text": flows.canary("desk note")},
        ),
    ]  # fmt: skip
    assert [answer.status_code for answer in graded] == [303] * 3
    flows.read["desk UI conversation"] = handler.get(f"/contacts/{contact}").text
    file_item = next(line for line in items if line.kind == "file")
    flows.read["desk UI download"] = handler.get(
        f"/items/{file_item.item_id}/download"
    ).content.hex()
    flows.read["member conversation"] = handler.get(f"/contacts/{member_contact}").text


def play(flows: Flows) -> None:
    writer, codename_a = writer_on_the_pages(flows)
    offer_of_services(flows)
    cut_client, codename_c = flows.api_contact(DOOR)
    sent = cut_client.post(
        f"/api/v1/doors/{DOOR}/submissions", files=[("message", (None, flows.canary("cut")))]
    )
    assert sent.status_code == 201, sent.text
    _, codename_m = flows.api_contact(DOOR)
    member = Member(flows, codename_m)
    member.enroll()  # a codename login
    member.run("send", "--now")  # the member's signing key, offered

    # The handler's desk: every command logs in with the handler's key.
    contacts = by_contact(flows.desk_items(DOOR))
    [offer] = [lines[0] for lines in contacts.values() if "offers signing key" in lines[0].verdict]
    found = re.search(r"offers signing key (\S+)", offer.verdict)
    assert found, offer.verdict
    member_contact = offer.contact
    [writer_contact] = [c for c, lines in contacts.items() if len(lines) == 2]
    [cut_contact] = set(contacts) - {member_contact, writer_contact}

    flows.desk(DOOR, "reply", writer_contact, "--message", flows.canary("reply"))
    api_login = flows.api_login(DOOR, codename_a)
    assert api_login.status_code == 201, api_login.text
    replies = flows.client().get(
        f"/api/v1/doors/{DOOR}/replies",
        headers={"Authorization": f"Bearer {api_login.json()['session']}"},
    )
    flows.read["replies over the API"] = replies.text
    flows.read["replies page"] = writer.get(f"/d/{DOOR}/replies").text

    flows.desk(DOOR, "cut", cut_contact, "--reason", flows.canary("cut reason"))
    flows.read["cut login"] = str(flows.api_login(DOOR, codename_c).status_code)
    flows.read["wrong login"] = str(flows.api_login(DOOR, crypto.generate_codename()).status_code)

    flows.desk(DOOR, "move", member_contact, "in-contact", "--reason", flows.canary("move"))
    flows.desk(
        DOOR, "move", member_contact, "vetting", "--reason", flows.canary("vetting"),
        "--member-key", found.group(1),
    )  # fmt: skip
    attachment = flows.tmp / (flows.canary("report file name") + ".txt")
    attachment.write_text(flows.canary("report file contents"))
    member.run("report", "--text", flows.canary("report"), "--file-as-is", str(attachment))
    member.run("send", "--now")
    flows.desk(DOOR, "reply", member_contact, "--message", flows.canary("member reply"))
    flows.read["member messages"] = member.run("messages")

    [application] = flows.desk_items(SERVICES_DOOR)
    flows.read["application"] = flows.desk(SERVICES_DOOR, "read", application.item_id)
    grade_on_the_desk_ui(flows, writer_contact, contacts[writer_contact], member_contact)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    microsocks = require_tool("microsocks", "the command lines reach the server from 127.0.0.77")
    tmp = tmp_path_factory.mktemp("seizure")
    org = serve_demo(tmp)
    try:
        port = int(org.url.rsplit(":", 1)[1])
        proxy_port = free_port()
        with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
            proxy = subprocess.Popen(
                [microsocks, "-i", "127.0.0.1", "-p", str(proxy_port), "-b", ADDRESS],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            stack.callback(lambda: (proxy.kill(), proxy.wait()))
            # Every command line the test starts inherits this environment.
            for name in PROXY_VARIABLES:
                env.delenv(name, raising=False)
                env.delenv(name.lower(), raising=False)
            env.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxy_port}")
            witness = stack.enter_context(PeerWitness(port))
            flows = Flows(org, tmp, stack)
            play(flows)
        org.stop()
        corpus = corpus_of(org.root / "server", org.server_tmp, org.server_log)
        corpus |= database_dump(org.root / "server")
        yield Scene(org, flows.canaries, flows.codenames, flows.read, witness.addresses(), corpus)
    finally:
        org.stop()


# -- every flow happened, from the test's address ------------------------------


def test_every_canary_reached_its_reader(scene: Scene) -> None:
    read, canaries = scene.read, scene.canaries
    conversation = read["desk UI conversation"]
    for what in ("message", "file name", "desk note"):
        assert canaries[what] in conversation, what
    assert read["desk UI download"] == read["file sent"]
    for where in ("replies over the API", "replies page"):
        assert canaries["reply"] in read[where], where
    assert canaries["questionnaire answer"] in read["application"]
    for what in ("report", "report file name"):
        assert canaries[what] in read["member conversation"], what
    assert canaries["member reply"] in read["member messages"]
    # Cut: the codename is refused exactly as a wrong one.
    assert read["cut login"] == read["wrong login"] == "401"


def test_every_connection_to_the_server_came_from_the_test_address(scene: Scene) -> None:
    # Dozens: the pages, the API, every desk and field command, the desk UI.
    assert set(scene.peers) == {ADDRESS}, scene.peers
    assert scene.peers[ADDRESS] >= 20, scene.peers


# -- the seized server -----------------------------------------------------------------


def test_the_search_covers_the_database_blobs_temporary_files_and_log(scene: Scene) -> None:
    where = list(scene.corpus)
    assert any("shoal.db" in w or "pg_dump" in w for w in where), where
    assert any("/blobs/" in w for w in where), where
    assert any(str(scene.org.server_tmp) in w for w in where)
    assert scene.corpus[str(scene.org.server_log)], "the server's log is empty"


def test_no_canary_is_on_the_seized_server(scene: Scene) -> None:
    found = {what: hits(scene.corpus, secret.encode()) for what, secret in scene.canaries.items()}
    assert found == {what: [] for what in scene.canaries}


def test_no_codename_is_on_the_seized_server(scene: Scene) -> None:
    assert len(scene.codenames) == 4
    for codename in scene.codenames:
        assert hits(scene.corpus, codename.encode()) == [], codename


def test_every_day_written_is_a_date_without_a_time(scene: Scene) -> None:
    """The schema's types allow only dates (``test_schema_columns``); what
    the server wrote after every flow must be dates too, on either engine."""
    engine = create_db_engine(load_config(scene.org.root / "server").database)
    try:
        with engine.connect() as db:
            inspector = inspect(db)
            days = [
                value
                for table in inspector.get_table_names()
                if "day" in {column["name"] for column in inspector.get_columns(table)}
                for value in db.execute(text(f"SELECT day FROM {table}")).scalars()
            ]
    finally:
        engine.dispose()
    assert len(days) >= 20, "the flows wrote days in many tables"
    bad = [v for v in days if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(v))]
    assert bad == [] and not any(isinstance(v, datetime) for v in days), bad


def test_the_clients_address_is_not_on_the_seized_server(scene: Scene) -> None:
    assert hits(scene.corpus, ADDRESS.encode()) == []
    packed = bytes(int(part) for part in ADDRESS.split("."))
    assert [where for where, data in scene.corpus.items() if packed in data] == []
