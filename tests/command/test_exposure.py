"""The exposure report against an independent oracle: trial decryption of
every stored blob with each principal's real keys.

One organization is built through the real command line, with three
compartments: 'a' (two handlers; one is removed along the way, with an
escrow recipient taking over as the second reader), 'b' and 'c' (one
handler each, backed by a second escrow; command does not read 'c'). It is
served by a real ``shoal serve``; contacts write at every door through the
JSON API, handlers reply with ``shoal desk reply``. Then the server is
stopped (seized), and every blob under its ``blobs/`` is opened with each
principal's keys: handlers' and command's from their keystores, escrows'
from their identity files, contacts' derived from their codenames, and
the server disk's from whatever identity its files hold (none). What each
opens, per compartment, must be what ``shoal command exposure`` claims.

The oracle reads the database (plain SQL, SQLite or PostgreSQL) only to
tie a blob to its compartment and contact; what a key opens it learns by
decrypting.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, text

import _engines
from _served_org import free_port, shoal, wait_until_up
from shoal import crypto, org, trusted
from shoal.cli import main
from shoal.command import _exposure
from shoal.command._exposure_cli import exposure
from shoal.command._notes import found
from shoal.command._state import add_compartment
from shoal.crypto.errors import NoIdentityMatchError
from shoal.server import load_config
from shoal.store import create_db_engine

DOORS = ("a", "b", "c")
HANDLERS = {"a1": "a", "a2": "a", "b1": "b", "c1": "c"}
WORK_FACTOR = "10"  # the lowest allowed: keystores open in a millisecond
FILE = os.urandom(20_000)


def _passphrase(folder: Path, name: str) -> Path:
    path = folder / f"{name}.passphrase"
    path.write_text(f"{name} passphrase {os.urandom(6).hex()}\n")
    return path


def _ok(*args: str) -> str:
    """``shoal <args>`` through the real command line, in this process: the
    offline steps (command, admin, desk keygen and enroll), which would
    otherwise spend most of a second each importing."""
    done = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert done.exit_code == 0, f"shoal {' '.join(args[:3])} failed:\n{done.output}"
    return done.stdout


def _process(*args: str) -> str:
    """``shoal <args>`` as a real process: a desk talking to the server."""
    done = shoal(*args, check=False)
    assert done.returncode == 0, f"shoal {' '.join(args[:3])} failed:\n{done.stderr}"
    return done.stdout


@dataclass
class Contact:
    door: str
    codename: str
    session: str
    contact_id: str = ""


@dataclass
class World:
    root: Path
    url: str
    process: subprocess.Popen[bytes]
    handler_ids: dict[str, str] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    escrows: dict[str, crypto.AgeIdentity] = field(default_factory=dict)

    @property
    def command_dir(self) -> Path:
        return self.root / "command"

    @property
    def server_dir(self) -> Path:
        return self.root / "server"

    def secret(self, name: str) -> Path:
        return self.root / "secrets" / f"{name}.passphrase"

    def command(self, *args: str) -> str:
        return _ok("command", *args, "--dir", str(self.command_dir))

    def desk(self, name: str, *args: str) -> str:
        command, rest = args[0], args[1:]
        return _process(
            "desk", command, "--dir", str(self.root / name),
            "--passphrase-file", str(self.secret(name)), *rest,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def first_contact(self, door: str) -> Contact:
        answer = httpx.post(f"{self.url}/api/v1/doors/{door}/contacts", timeout=30)
        assert answer.status_code == 201, answer.text
        contact = Contact(door, answer.json()["codename"], answer.json()["session"])
        contact.contact_id = self.contact_id(contact)
        self.contacts.append(contact)
        return contact

    def submit(self, contact: Contact, message: str, files: int = 0) -> None:
        # Multipart always (httpx would send a message alone url-encoded).
        parts = [("message", (None, message.encode())), *[
            ("files", (f"f{n}.bin", FILE, "application/octet-stream")) for n in range(files)
        ]]  # fmt: skip
        answer = httpx.post(
            f"{self.url}/api/v1/doors/{contact.door}/submissions",
            headers={"Authorization": f"Bearer {contact.session}"},
            files=parts,
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        assert len(answer.json()["items"]) == 1 + files

    def reply(self, handler: str, contact: Contact, text: str) -> None:
        self.desk(handler, "reply", contact.contact_id, "--message", text)

    def organization(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads((self.command_dir / "organization.json").read_text())
        return value

    def contact_id(self, contact: Contact) -> str:
        """The contact's row, found by the lookup id its codename derives."""
        o = self.organization()["organization"]
        keys = crypto.derive_contact_keys(
            contact.codename, base64.b64decode(o["salt"]), crypto.KeyType(o["key_type"])
        )
        with _database(self.server_dir) as db:
            row = db.execute(
                text("SELECT id FROM contacts WHERE lookup_id = :lookup"),
                {"lookup": keys.lookup_id},
            ).fetchone()
        assert row is not None
        return str(row[0])

    def report(self, *extra: str) -> dict[str, Any]:
        done = CliRunner().invoke(exposure, ["--dir", str(self.command_dir), "--json", *extra])
        assert done.exit_code == 0, done.output
        value: dict[str, Any] = json.loads(done.stdout)
        return value


@contextmanager
def _database(server_dir: Path) -> Iterator[Connection]:
    """The server's database (SQLite or PostgreSQL, as its configuration says)."""
    engine = create_db_engine(load_config(server_dir).database)
    try:
        with engine.connect() as db:
            yield db
    finally:
        engine.dispose()


def _build(root: Path) -> World:
    """Command, four desks and a server data directory, through the CLI."""
    secrets = root / "secrets"
    secrets.mkdir(mode=0o700)
    for name in ("command", *HANDLERS):
        _passphrase(secrets, name)
    command_dir = root / "command"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _ok("command", "init", "--dir", str(command_dir), "--passphrase-file",
        str(secrets / "command.passphrase"), "--work-factor", WORK_FACTOR)  # fmt: skip
    for name in HANDLERS:
        _ok("desk", "keygen", "--dir", str(root / name), "--passphrase-file",
            str(secrets / f"{name}.passphrase"), "--work-factor", WORK_FACTOR)  # fmt: skip
    world = World(root, url, process=None)  # type: ignore[arg-type]
    # Two escrow identities, as an operator keeps them offline: "a" gets its
    # own later, when a handler leaves it; "b" and "c" share the other.
    world.escrows = {
        name: crypto.generate_identity(crypto.KeyType.HYBRID) for name in ("escrow-a", "escrow-bc")
    }
    for door in DOORS:
        world.command("compartment", "add", "--door", door)
    for door in ("b", "c"):
        world.command("compartment", "policy", "--door", door,
                      "--escrow", str(world.escrows["escrow-bc"].recipient()))  # fmt: skip
    world.command("compartment", "policy", "--door", "c", "--command-does-not-read")
    for name, door in HANDLERS.items():
        out = world.command("handler", "add", "--door", door,
                            "--bundle", str(root / name / "enrollment.txt"))  # fmt: skip
        found = re.search(r"Handler ([0-9a-f]{32}) added", out)
        assert found is not None, out
        world.handler_ids[name] = found.group(1)
    for door in DOORS:
        world.command("epoch", "--door", door, "--passphrase-file", world.secret("command"))
    compartments = world.organization()["compartments"]
    root_key = (command_dir / "root.vkey").read_text().strip()
    server_dir = root / "server"
    for name, door in HANDLERS.items():
        _ok("desk", "enroll", "--dir", str(root / name), "--server", url, "--root-key",
            root_key, "--door", door, "--compartment", compartments[door]["id"])  # fmt: skip
    _ok(
        "admin",
        "init",
        "--data",
        str(server_dir),
        "--root-key",
        root_key,
        *_engines.database_args(),
    )
    _ok("admin", "import", "--data", str(server_dir),
        *sorted(str(p) for p in (command_dir / "notes").glob("*.note")))  # fmt: skip
    log = root / "server.log"
    with log.open("wb") as out:
        world.process = subprocess.Popen(
            [sys.executable, "-m", "shoal", "serve", "--data", str(server_dir),
             "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_until_up(url, world.process, log)
    return world


@dataclass
class Seized:
    world: World
    report: dict[str, Any]  # with counts from the server's database
    uncounted: dict[str, Any]  # from command's directory alone
    table: str
    #: Items of "a" stored before and after a2's removal (the oracle's truth).
    a_before: set[str]
    a_after: set[str]


def _play(world: World) -> tuple[set[str], set[str]]:
    """Contacts write at every door, handlers reply, a2 leaves 'a'."""
    a1, a2 = world.first_contact("a"), world.first_contact("a")
    world.first_contact("a")  # who never writes
    world.submit(a1, "a1 writes", files=1)
    world.submit(a2, "a2 writes")
    b1, b2 = world.first_contact("b"), world.first_contact("b")
    world.submit(b1, "b1 writes", files=2)
    world.submit(b2, "b2 writes")
    c1 = world.first_contact("c")
    world.submit(c1, "c1 writes", files=1)
    world.reply("a1", a1, "a1, thank you")
    world.reply("b1", b1, "b1, thank you")
    world.reply("c1", c1, "c1, thank you")
    world.desk("a2", "sync")  # the leaving handler's laptop keeps what it synced
    before = _items_of(world, "a")
    # a2 leaves; "a" needs a second reader, so its escrow comes in with the
    # same epoch (the removal signs it at once).
    world.command("compartment", "policy", "--door", "a",
                  "--escrow", str(world.escrows["escrow-a"].recipient()))  # fmt: skip
    world.command("handler", "remove", "--door", "a", "--handler", world.handler_ids["a2"],
                  "--passphrase-file", str(world.secret("command")))  # fmt: skip
    _ok("admin", "import", "--data", str(world.server_dir),
        str(world.command_dir / "notes" / "epoch-a-2.note"))  # fmt: skip
    world.submit(a2, "a2 writes again", files=1)
    a4 = world.first_contact("a")
    world.submit(a4, "a4 writes")
    world.reply("a1", a2, "a2, thank you")
    world.reply("a1", a2, "a2, once more")
    world.desk("a1", "sync")
    return before, _items_of(world, "a") - before


def _items_of(world: World, door: str) -> set[str]:
    with _database(world.server_dir) as db:
        rows = db.execute(
            text(
                "SELECT items.id FROM items JOIN compartments ON compartments.id = "
                "items.compartment_id WHERE compartments.door = :door"
            ),
            {"door": door},
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def seized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seized]:
    world = _build(tmp_path_factory.mktemp("exposure"))
    try:
        before, after = _play(world)
    finally:
        world.stop()
    server = str(world.server_dir)
    table = CliRunner().invoke(exposure, ["--dir", str(world.command_dir), "--server-data", server])
    assert table.exit_code == 0, table.output
    yield Seized(
        world,
        world.report("--server-data", server),
        world.report(),
        table.output,
        before,
        after,
    )


# The oracle.


@dataclass(frozen=True)
class Stored:
    item_id: str
    compartment_id: str
    contact_id: str | None
    direction: str
    ciphertext: bytes


def _stored(server_dir: Path) -> list[Stored]:
    """Every blob file, tied to its item row by the SHA-256 of its bytes."""
    blobs = {}
    for path in (server_dir / "blobs").rglob("*"):
        if path.is_file() and path.parent.name != "tmp":
            data = path.read_bytes()
            blobs[hashlib.sha256(data).hexdigest()] = data
    with _database(server_dir) as db:
        rows = db.execute(
            text("SELECT id, compartment_id, contact_id, direction, blob_id FROM items")
        ).fetchall()
    assert {r[4] for r in rows} == set(blobs), "a blob without an item, or an item without one"
    return [Stored(r[0], r[1], r[2], r[3], blobs[r[4]]) for r in rows]


def _opens(stored: list[Stored], identities: list[crypto.AgeIdentity]) -> list[Stored]:
    """What ``identities`` decrypt: any other failure than "no identity
    matched" fails the test, so a damaged blob cannot pass for a closed one."""
    opened = []
    for item in stored:
        if not identities:
            continue
        try:
            crypto.decrypt(item.ciphertext, identities)
        except NoIdentityMatchError:
            continue
        opened.append(item)
    return opened


def _keystore(path: Path, passphrase_file: Path) -> list[crypto.AgeIdentity]:
    passphrase = passphrase_file.read_text().splitlines()[0]
    return list(trusted.unlock_keystore(path, passphrase).identities)


def _disk_identities(server_dir: Path) -> list[crypto.AgeIdentity]:
    """Every age identity written anywhere on the server's disk."""
    found = []
    pattern = re.compile(rb"AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]+")
    for path in server_dir.rglob("*"):
        if path.is_file():
            for match in pattern.findall(path.read_bytes()):
                found.append(crypto.parse_identity(match.decode()))
    return found


def _identities(seized: Seized) -> dict[str, list[crypto.AgeIdentity]]:
    """Each principal's real keys, by the report's principal key (contacts
    apart: they are per codename)."""
    world = seized.world
    keys = {
        "server-disk": _disk_identities(world.server_dir),
        "command": _keystore(world.command_dir / "command.keystore.age", world.secret("command")),
    }
    for name, door in HANDLERS.items():
        handler_keys = _keystore(world.root / name / "keystore.age", world.secret(name))
        keys[f"handler:{door}:{world.handler_ids[name]}"] = handler_keys
        keys[f"desk:{door}:{world.handler_ids[name]}"] = handler_keys
    escrows = [p for p in seized.report["principals"] if p["kind"] == "escrow"]
    for principal in escrows:
        holder = next(
            name for name, identity in world.escrows.items()
            if str(identity.recipient())[:24] in principal["holds"][0]
        )  # fmt: skip
        keys[principal["key"]] = [world.escrows[holder]]
    return keys


def _by_compartment(opened: list[Stored]) -> dict[str, tuple[int, int]]:
    """Compartment id → (items, distinct contacts)."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for item in opened:
        ids, contacts = found.setdefault(item.compartment_id, (set(), set()))
        ids.add(item.item_id)
        if item.contact_id is not None:
            contacts.add(item.contact_id)
    return {c: (len(ids), len(contacts)) for c, (ids, contacts) in found.items()}


def _principal(report: dict[str, Any], key: str) -> dict[str, Any]:
    found = [p for p in report["principals"] if p["key"] == key]
    assert len(found) == 1, key
    return found[0]


# The tests.


def test_every_principal_decrypts_exactly_what_the_report_claims(seized: Seized) -> None:
    stored = _stored(seized.world.server_dir)
    keys = _identities(seized)
    checked = 0
    for principal in seized.report["principals"]:
        if principal["kind"] in ("contact", "member"):
            continue
        opened = _by_compartment(_opens(stored, keys[principal["key"]]))
        claimed = {a["compartment"]: a for a in principal["decrypts"]}
        assert set(opened) <= set(claimed), principal["label"]
        for compartment, access in claimed.items():
            assert access["exact"], principal["label"]
            assert opened.get(compartment, (0, 0)) == (access["items"], access["contacts"]), (
                principal["label"],
                access["door"],
            )
        checked += 1
    # Server disk, command, two escrows, four handlers and their desks.
    assert checked == 1 + 1 + 2 + 2 * len(HANDLERS)
    # Every item opens for someone: the oracle is not vacuous.
    everyone = [k for ks in keys.values() for k in ks]
    assert len(_opens(stored, everyone)) == len(stored) > 0


def test_a_contact_opens_its_own_replies_only(seized: Seized) -> None:
    stored = _stored(seized.world.server_dir)
    organization = seized.world.organization()["organization"]
    salt, key_type = (
        base64.b64decode(organization["salt"]),
        crypto.KeyType(organization["key_type"]),
    )
    replies_seen = 0
    for contact in seized.world.contacts:
        identity = crypto.derive_contact_keys(contact.codename, salt, key_type).identity
        opened = _opens(stored, [identity])
        # Replies to this contact, and nothing it sent itself.
        assert all(i.direction == "out" and i.contact_id == contact.contact_id for i in opened)
        for kind in ("contact", "member"):
            (access,) = _principal(seized.report, f"{kind}:{contact.door}")["decrypts"]
            assert access["scope"] == "own-replies"
            per_contact = access["replies_per_contact"]
            assert per_contact.get(contact.contact_id, 0) == len(opened)
        replies_seen += len(opened)
    assert replies_seen == 5


def test_a_captured_handler_of_a_exposes_nothing_of_b_or_c(seized: Seized) -> None:
    stored = _stored(seized.world.server_dir)
    doors = {c["id"]: c["door"] for c in seized.report["compartments"]}
    for name in ("a1", "a2"):
        key = f"handler:a:{seized.world.handler_ids[name]}"
        opened = _opens(stored, _identities(seized)[key])
        assert opened, name
        assert {doors[i.compartment_id] for i in opened} == {"a"}
        for prefix in ("handler", "desk"):
            principal = _principal(seized.report, f"{prefix}:a:{seized.world.handler_ids[name]}")
            assert [a["door"] for a in principal["decrypts"]] == ["a"]
            assert any("'b', 'c'" in line for line in principal["cannot"])


def test_the_servers_disk_decrypts_nothing(seized: Seized) -> None:
    assert _disk_identities(seized.world.server_dir) == []
    disk = _principal(seized.report, "server-disk")
    assert disk["decrypts"] == []
    assert _principal(seized.uncounted, "server-disk")["decrypts"] == []


def test_command_decrypts_only_compartments_whose_epochs_list_it(seized: Seized) -> None:
    world = seized.world
    reading = str(world.organization()["command"]["reading_recipient"])
    # Which epochs list command, read from the notes' text itself.
    listing = {
        note.name.split("-")[1]
        for note in (world.command_dir / "notes").glob("epoch-*.note")
        if f"\ncommand {reading}\n" in note.read_text()
    }
    assert listing == {"a", "b"}
    doors = {c["id"]: c["door"] for c in seized.report["compartments"]}
    opened = _opens(_stored(world.server_dir), _identities(seized)["command"])
    assert {doors[i.compartment_id] for i in opened} == listing
    claimed = [a["door"] for a in _principal(seized.report, "command")["decrypts"]]
    assert claimed == ["a", "b"]
    assert [c["door"] for c in seized.report["compartments"] if c["command_reads"]] == ["a", "b"]


def test_epochs_before_a_removal_stay_readable_by_the_removed_handler(seized: Seized) -> None:
    world = seized.world
    a2 = world.handler_ids["a2"]
    opened = {
        i.item_id for i in _opens(_stored(world.server_dir), _identities(seized)[f"handler:a:{a2}"])
    }
    assert opened == seized.a_before and seized.a_after
    principal = _principal(seized.report, f"handler:a:{a2}")
    assert principal["status"] == "removed"
    (access,) = principal["decrypts"]
    assert (access["scope"], access["epochs"], access["items"]) == (
        "epochs",
        [1],
        len(seized.a_before),
    )
    assert any("not those of epoch 2" in line for line in principal["can"])
    assert any("no longer log in" in line for line in principal["can"])
    # The escrow that came in with epoch 2 reads what came after only.
    escrow = next(
        p for p in seized.report["principals"] if p["kind"] == "escrow" and "'a'" in p["label"]
    )
    opened = {i.item_id for i in _opens(_stored(world.server_dir), [world.escrows["escrow-a"]])}
    assert opened == seized.a_after
    assert escrow["decrypts"][0]["epochs"] == [2]
    # And the remaining handler reads both.
    (access,) = _principal(seized.report, f"handler:a:{world.handler_ids['a1']}")["decrypts"]
    assert access["scope"] == "all"
    assert access["items"] == len(seized.a_before | seized.a_after)


def test_a_desk_laptop_holds_its_compartments_items_only(seized: Seized) -> None:
    world = seized.world
    doors = {c["id"]: c["door"] for c in seized.report["compartments"]}
    stored = {i.item_id: i for i in _stored(world.server_dir)}
    for name in ("a1", "a2"):
        keys = _identities(seized)[f"desk:a:{world.handler_ids[name]}"]
        local = list((world.root / name / "items").glob("*.age"))
        assert local
        for path in local:
            crypto.decrypt(path.read_bytes(), keys)  # every synced item opens
            assert doors[stored[path.stem].compartment_id] == "a"


def test_without_counts_the_report_names_the_same_items_without_numbers(seized: Seized) -> None:
    counted = {p["key"]: p for p in seized.report["principals"]}
    for principal in seized.uncounted["principals"]:
        other = counted[principal["key"]]
        assert [(a["door"], a["scope"], a["epochs"]) for a in principal["decrypts"]] == [
            (a["door"], a["scope"], a["epochs"]) for a in other["decrypts"]
        ]
        assert all(a["items"] is None for a in principal["decrypts"])
    assert seized.uncounted["counted"] is False
    assert all(c["server"] is None for c in seized.uncounted["compartments"])


def test_the_table_names_every_principal(seized: Seized) -> None:
    rows = [line.split("│") for line in seized.table.splitlines() if line.startswith("│")]
    first = " ".join(" ".join(r[1] for r in rows).split())
    second = " ".join(" ".join(r[2] for r in rows).split())
    for principal in seized.report["principals"]:
        assert principal["label"] in first, principal["label"]
    assert second.startswith("nothing ")  # the server's disk, first row
    assert "root.keystore.age is still" in seized.table  # a warning, printed


def test_the_schema_is_stable(seized: Seized) -> None:
    report = seized.report
    assert report["shoal-exposure"] == _exposure.FORMAT_VERSION
    assert set(report) == {
        "shoal-exposure", "organization", "counted", "warnings", "compartments", "principals",
    }  # fmt: skip
    kinds = [p["kind"] for p in report["principals"]]
    assert kinds[:4] == ["server-disk", "command", "escrow", "escrow"]
    assert kinds.count("handler") == kinds.count("desk") == len(HANDLERS)
    assert kinds.count("contact") == kinds.count("member") == len(DOORS)
    for principal in report["principals"]:
        assert set(principal) == {
            "key", "kind", "label", "door", "handler", "status",
            "decrypts", "holds", "can", "cannot", "learns",
        }  # fmt: skip
    member = _principal(report, "member:a")
    assert "later issue" in member["holds"][0]


# The pure core alone, on cases the served organization does not reach.


def _organization() -> tuple[Any, list[org.HandlerEntry]]:
    kind = crypto.KeyType.X25519
    founding = found(
        org.Organization(org.new_id(), kind, crypto.generate_salt()),
        root=crypto.SigningKey.generate(),
        command=crypto.SigningKey.generate(),
        reading=crypto.generate_identity(kind).recipient(),
    )
    handlers = []
    for _ in range(2):
        key = crypto.SigningKey.generate().verify_key
        recipient = crypto.generate_identity(kind).recipient()
        handlers.append(org.HandlerEntry(org.handler_id_for(key), recipient, key))
    return add_compartment(founding.state, "a", org.new_id()), handlers


def _epoch(state: Any, number: int, handlers: list[org.HandlerEntry]) -> org.Epoch:
    compartment = state.compartment("a")
    return org.Epoch(
        org_id=state.organization.org_id,
        compartment_id=compartment.compartment_id,
        door="a",
        number=number,
        expires=datetime.now(UTC) + timedelta(days=9),
        handlers=tuple(handlers),
        command=state.command.reading_recipient,
    )


def _with_handlers(state: Any, handlers: list[org.HandlerEntry]) -> Any:
    compartment = dataclasses.replace(state.compartment("a"), handlers=tuple(handlers))
    return dataclasses.replace(state, compartments=(compartment,))


def _access(report: _exposure.Report, handler: org.HandlerEntry) -> _exposure.Access:
    (principal,) = [
        p
        for p in report.principals
        if p.kind is _exposure.Kind.HANDLER and p.handler_id == handler.handler_id
    ]
    (access,) = principal.decrypts
    return access


def test_items_of_no_recorded_epoch_make_a_partial_readers_counts_upper_bounds() -> None:
    state, (h1, h2) = _organization()
    state = _with_handlers(state, [h1])
    epochs = [_epoch(state, 1, [h1, h2]), _epoch(state, 2, [h1])]
    tally = _exposure.EpochTally
    counts = _exposure.ServerCounts({
        state.compartment("a").compartment_id: _exposure.CompartmentCounts(
            epochs=frozenset({1, 2}),
            contacts=4,
            items_by_epoch={0: tally(3, frozenset({"c1"})), 1: tally(2, frozenset({"c2"})),
                            2: tally(1, frozenset({"c3"}))},
        )
    })  # fmt: skip
    report = _exposure.build_report(state, epochs, counts=counts)
    whole = _access(report, h1)
    assert (whole.scope, whole.exact, whole.items, whole.contacts) == ("all", True, 6, 3)
    part = _access(report, h2)
    # Epoch 1's two items surely; the three of no recorded epoch perhaps.
    assert (part.scope, part.exact, part.items, part.contacts) == ("epochs", False, 5, 2)
    assert "at most 5 items" in _exposure.describe(part)
    assert "not those of epoch 2" in _exposure.describe(part)


def test_a_removal_not_yet_signed_still_receives_everything() -> None:
    state, (h1, h2) = _organization()
    state = _with_handlers(state, [h1])  # h2 removed in the state only
    report = _exposure.build_report(state, [_epoch(state, 1, [h1, h2])])
    (principal,) = [p for p in report.principals if p.key == f"handler:a:{h2.handler_id}"]
    assert principal.status is _exposure.Status.REMOVED_NOT_SIGNED
    assert principal.label.startswith("former handler")
    assert _access(report, h2).scope == "all"
    assert any(line.startswith("receive everything") for line in principal.can)
    assert any("differs from epoch 1" in w for w in report.warnings)


def test_an_epoch_not_imported_yet_leaves_the_removed_handler_in() -> None:
    state, (h1, h2) = _organization()
    state = _with_handlers(state, [h1])
    epochs = [_epoch(state, 1, [h1, h2]), _epoch(state, 2, [h1])]
    counts = _exposure.ServerCounts({
        state.compartment("a").compartment_id: _exposure.CompartmentCounts(
            epochs=frozenset({1}), contacts=1,
            items_by_epoch={1: _exposure.EpochTally(4, frozenset({"c1"}))},
        )
    })  # fmt: skip
    report = _exposure.build_report(state, epochs, counts=counts)
    # The server still seals to epoch 1: h2 reads all there is, and logs in.
    assert (_access(report, h2).items, _access(report, h2).exact) == (4, True)
    (principal,) = [p for p in report.principals if p.key == f"handler:a:{h2.handler_id}"]
    assert principal.status is _exposure.Status.REMOVED
    assert principal.can[0].startswith("log in to the server")
    assert any("the server holds epoch 1, command signed 2" in w for w in report.warnings)


def test_epoch_ranges_read_as_people_write_them() -> None:
    assert _exposure.epoch_range([5, 1, 2, 3]) == "1-3, 5"
    assert _exposure.epoch_range([]) == ""
    assert _exposure.plural(1, "reply") == "1 reply"
    assert _exposure.plural(3, "reply") == "3 replies"


def test_a_directory_that_is_no_server_data_is_an_error(seized: Seized, tmp_path: Path) -> None:
    done = CliRunner().invoke(
        exposure, ["--dir", str(seized.world.command_dir), "--server-data", str(tmp_path)]
    )
    assert done.exit_code == 1
    assert "server.toml not found" in done.output
