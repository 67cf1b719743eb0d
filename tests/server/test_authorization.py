"""The authorization matrix: docs/authorization.md, cell by cell, against a
real ``shoal serve``.

The table is hand-written (what the server *should* answer); this module
only reads it. It fails on a row it cannot parse, on a route of the app
that has no row and on a row whose route the app lacks, and on every cell
whose real answer differs. Apart from the table, it checks from the real
answers that another compartment's object is never told apart from one
that does not exist, that nothing is deleted across compartments, and that
listings hold only the compartment's own.

One server process serves the whole module: compartments A (door
``alpha``, two handlers, one of them dropped by epoch 2) and B (door
``bravo``, one handler, renewed by an epoch 2 of its own). Cells run one
after another; a cell that would end a contact's session, delete or cut
something, or move an upload on gets fresh objects, so that no cell
depends on what another did.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from _server_kit import (
    LOGIN_CONTEXT,
    HandlerKeys,
    OrgKit,
    ServerProcess,
    Stored,
    TestClient,
    new_org,
    reply_item,
)
from sqlalchemy import select
from starlette.routing import Mount

import _engines
from _server_config import update_server_config
from shoal import crypto, org
from shoal.server import create_app
from shoal.server._admin import import_notes, init_data_dir
from shoal.store import schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"

PRINCIPALS = (
    "anonymous",
    "contact A",
    "contact B",
    "handler A",
    "handler B",
    "removed A",
    "command",
)
HEADER = ("route", "object", *PRINCIPALS)
COMPARTMENTS = ("A", "B")
DOORS = {"A": "alpha", "B": "bravo", "none": "nowhere"}
NO_OBJECT = "—"

_ROUTE_CELL = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
_STATUS_CELL = re.compile(r"([1-5][0-9][0-9])(?:→(/|[a-z][a-z-]*))?( !)?")
_SEPARATOR_CELL = re.compile(r":?-{3,}:?")
_PARAM = re.compile(r"\{([a-z_]+)\}")

#: Routes whose object travels in the body, not in the path.
BODY_OBJECT_ROUTES = frozenset({"POST /api/v1/handler/tokens"})
#: Routes whose object is a bearer capability, not a compartment's object:
#: releasing an alarm answers 204 for any token, known or not, to anyone
#: (docs/authorization.md), so it is left out of the existence checks.
CAPABILITY_ROUTES = frozenset({"POST /api/v1/alarms/{token}"})
#: Routes that end the session they are sent with: contacts send a fresh one.
SESSION_ENDING = frozenset(
    {
        "POST /d/{door}/logout",
        "POST /d/{door}/start-over",
        "DELETE /api/v1/doors/{door}/sessions/current",
    }
)
#: Where another compartment's object answers like a nonexistent one but
#: not 404, by design (docs/authorization.md): the login, whose every failure
#: is 401, and deleting a reply that is not one's own, a silent no-op.
ANSWERS_AS_NONEXISTENT = frozenset(
    {"POST /api/v1/handler/tokens", "POST /d/{door}/replies/{item_id}/delete"}
)
PAIR_OBJECTS = frozenset({"A/A", "A/B", "A/none", "B/A", "B/B", "B/none", "none/A"})
MESSAGE = "authorization matrix: a message"


# The table.


@dataclass(frozen=True)
class Expected:
    status: int
    page: str | None  # where a redirect goes: "login", "/" for the door's start
    finding: bool


@dataclass(frozen=True)
class Row:
    route: str  # "METHOD /path/{template}", as the app declares it
    obj: str
    cells: dict[str, Expected]
    line: int


class TableError(AssertionError):
    pass


def _cells(line: str, number: int) -> list[str]:
    if not (line.startswith("|") and line.endswith("|")):
        raise TableError(f"line {number}: a table row must start and end with '|'")
    return [cell.strip() for cell in line[1:-1].split("|")]


def _expected(cell: str, number: int, who: str) -> Expected:
    match = _STATUS_CELL.fullmatch(cell)
    if match is None:
        raise TableError(f"line {number}, {who}: {cell!r} is not a status cell")
    status, page, finding = int(match.group(1)), match.group(2), bool(match.group(3))
    if (300 <= status < 400) != (page is not None):
        raise TableError(
            f"line {number}, {who}: a redirect names its page (303→login), nothing else does"
        )
    return Expected(status, page, finding)


def parse_matrix(text: str) -> list[Row]:
    """Every table whose first header cell is ``route``, strictly."""
    rows: list[Row] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        starts_table = line.startswith("|") and (index == 0 or not lines[index - 1].strip())
        if not starts_table or _cells(line, index + 1)[0] != "route":
            if line.startswith("|") and _ROUTE_CELL.fullmatch(_cells(line, index + 1)[0]):
                raise TableError(f"line {index + 1}: a route's row outside a matrix table")
            index += 1
            continue
        if tuple(_cells(line, index + 1)) != HEADER:
            raise TableError(f"line {index + 1}: the header must be {' | '.join(HEADER)}")
        separator = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if not separator.startswith("|") or not all(
            _SEPARATOR_CELL.fullmatch(c) for c in _cells(separator, index + 2)
        ):
            raise TableError(f"line {index + 2}: the header's separator row is missing")
        if len(_cells(separator, index + 2)) != len(HEADER):
            raise TableError(f"line {index + 2}: the separator has the wrong number of cells")
        index += 2
        while index < len(lines) and lines[index].strip().startswith("|"):
            number = index + 1
            cells = _cells(lines[index].strip(), number)
            if len(cells) != len(HEADER):
                raise TableError(f"line {number}: {len(cells)} cells, not {len(HEADER)}")
            route = _ROUTE_CELL.fullmatch(cells[0])
            if route is None:
                raise TableError(f"line {number}: {cells[0]!r} is not `METHOD /path`")
            obj = cells[1]
            if not re.fullmatch(r"—|A|B|none|file|(?:A|B|none)/(?:A|B|none)", obj):
                raise TableError(f"line {number}: {obj!r} is not an object")
            expected = {
                who: _expected(cell, number, who)
                for who, cell in zip(PRINCIPALS, cells[2:], strict=True)
            }
            rows.append(Row(f"{route.group(1)} {route.group(2)}", obj, expected, number))
            index += 1
    keys = [(row.route, row.obj) for row in rows]
    doubled = {key for key in keys if keys.count(key) > 1}
    if doubled:
        raise TableError(f"rows given twice: {sorted(doubled)}")
    return rows


def objects_required(route: str) -> frozenset[str]:
    """The objects a route's rows must cover, from the shape of its path."""
    params = _PARAM.findall(route)
    if route in BODY_OBJECT_ROUTES:
        return frozenset({"A", "B", "none"})
    if not params:
        return frozenset({NO_OBJECT})
    if params == ["path"]:
        return frozenset({"file", "none"})
    if len(params) == 2 and params[0] == "door":
        return PAIR_OBJECTS
    if len(params) == 1:
        return frozenset({"A", "B", "none"})
    raise TableError(f"{route}: no rule for the objects of this route's shape")


def app_routes(data_dir: Path) -> set[str]:
    """Every route of ``create_app`` as "METHOD /template" (HEAD left out)."""
    app = create_app(data_dir)
    with TestClient(app):  # runs the lifespan, which closes the database
        iterate = getattr(fastapi.routing, "iter_route_contexts", None)
        contexts: list[Any] = list(iterate(app.routes)) if iterate else list(app.routes)
        found = set()
        for context in contexts:
            route = getattr(context, "original_route", context)
            if isinstance(route, Mount):
                found.add(f"GET {route.path}/{{path}}")
                continue
            methods = set(context.methods or ())
            if "GET" in methods:
                methods.discard("HEAD")
            assert methods, f"a route without methods: {context.path}"
            found.update(f"{method} {context.path_format}" for method in methods)
    return found


# The world: one organization, one server, the principals and their objects.


@dataclass
class Principal:
    name: str
    #: "A" or "B" for a contact or handler of that compartment; None for
    #: those who belong to none (anonymous, command, the removed handler).
    compartment: str | None
    codename: str | None = None
    session: str | None = None
    token: str | None = None
    login_key: crypto.SigningKey = field(default_factory=crypto.SigningKey.generate)

    @property
    def is_contact(self) -> bool:
        return self.session is not None


@dataclass(frozen=True)
class Answer:
    status: int
    location: str | None

    def __str__(self) -> str:
        return f"{self.status}→{self.location}" if self.location else str(self.status)


@dataclass
class World:
    kit: OrgKit
    data_dir: Path
    server: ServerProcess
    client: httpx.Client
    stored: Stored
    principals: dict[str, Principal]
    handlers: dict[str, HandlerKeys]
    handler_tokens: dict[str, str]  # of the handlers still in, for setting up
    contact_ids: dict[str, str]
    recipients: dict[str, str]
    items: dict[str, str]
    blobs: dict[str, str]
    audit_entries: dict[str, str]
    uploads: dict[str, str]
    form_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def compartment_id(self, code: str) -> str:
        return self.kit.compartments[DOORS[code]].compartment_id

    def reply(self, code: str) -> str:
        """A fresh reply to contact ``code``, stored by its handler."""
        body = reply_item(
            self.recipients[code],
            "a reply",
            self.kit,
            DOORS[code],
            self.contact_ids[code],
            self.handlers[code],
        )
        answer = self.client.post(
            f"/api/v1/handler/contacts/{self.contact_ids[code]}/replies",
            content=body,
            headers={
                "Authorization": f"Bearer {self.handler_tokens[code]}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def fresh_session(self, who: Principal) -> str:
        door = DOORS[who.compartment or ""]
        answer = self.client.post(f"/api/v1/doors/{door}/sessions", json={"codename": who.codename})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["session"])

    def item(self, code: str) -> str:
        """A fresh item: a message contact ``code`` just sent."""
        session = self.principals[f"contact {code}"].session
        sent = self.client.post(
            f"/api/v1/doors/{DOORS[code]}/submissions",
            headers={"Authorization": f"Bearer {session}"},
            files=[("message", (None, MESSAGE))],
        )
        assert sent.status_code == 201, sent.text
        return str(sent.json()["items"][0])

    def contact(self, code: str) -> str:
        """A fresh contact of door ``code`` who sent one message."""
        made = self.client.post(f"/api/v1/doors/{DOORS[code]}/contacts")
        assert made.status_code == 201, made.text
        sent = self.client.post(
            f"/api/v1/doors/{DOORS[code]}/submissions",
            headers={"Authorization": f"Bearer {made.json()['session']}"},
            files=[("message", (None, MESSAGE))],
        )
        assert sent.status_code == 201, sent.text
        with self.stored.session() as db:
            contact_id = db.scalar(
                select(schema.Item.contact_id).where(schema.Item.id == sent.json()["items"][0])
            )
        assert contact_id is not None
        return contact_id

    def upload(self, code: str) -> str:
        """A fresh upload of contact ``code``, nothing received yet."""
        upload_id = secrets.token_hex(16)
        made = self.client.post(
            f"/api/v1/doors/{DOORS[code]}/uploads",
            json={"id": upload_id, "size": UPLOAD_SIZE, "epoch": 1},
            headers={"Authorization": f"Bearer {self.principals[f'contact {code}'].session}"},
        )
        assert made.status_code == 201, made.text
        return upload_id

    def complete_upload(self, code: str) -> str:
        """A fresh upload of contact ``code`` with every byte, not finished."""
        upload_id = self.upload(code)
        sent = self.client.put(
            f"/api/v1/doors/{DOORS[code]}/uploads/{upload_id}",
            params={"offset": 0},
            content=UPLOADED,
            headers={"Authorization": f"Bearer {self.principals[f'contact {code}'].session}"},
        )
        assert sent.status_code == 200, sent.text
        return upload_id

    def late_item(self, code: str) -> str:
        """A fresh item of contact ``code`` sealed to epoch 1, while 2 is current."""
        upload_id = self.complete_upload(code)
        done = self.client.post(
            f"/api/v1/doors/{DOORS[code]}/uploads/{upload_id}/finish",
            headers={"Authorization": f"Bearer {self.principals[f'contact {code}'].session}"},
        )
        assert done.status_code == 201, done.text
        return upload_id

    def alarm(self, code: str) -> str:
        """A fresh pending alarm stored by contact ``code``: its token."""
        stored = self.client.post(
            f"/api/v1/doors/{DOORS[code]}/alarms",
            content=crypto.encrypt(b"", [crypto.generate_identity().recipient()]),
            headers={"Authorization": f"Bearer {self.principals[f'contact {code}'].session}"},
        )
        assert stored.status_code == 201, stored.text
        return str(stored.json()["token"])

    def upload_untouched(self, upload_id: str) -> bool:
        with self.stored.session() as db:
            found = db.get(schema.Upload, upload_id)
            return found is not None and found.received == 0

    def upload_unfinished(self, upload_id: str) -> bool:
        return not self.item_exists(upload_id)

    def not_resealed(self, item_id: str) -> bool:
        with self.stored.session() as db:
            return db.scalar(select(schema.Item.epoch).where(schema.Item.id == item_id)) == 1

    def alarm_pending(self, token: str) -> bool:
        with self.stored.session() as db:
            return db.get(schema.Alarm, hashlib.sha256(token.encode()).digest()) is not None

    def item_exists(self, item_id: str) -> bool:
        # Items are keyed by their seq: the random id is a unique column.
        with self.stored.session() as db:
            return db.scalar(select(schema.Item.seq).where(schema.Item.id == item_id)) is not None

    def contact_exists(self, contact_id: str) -> bool:
        with self.stored.session() as db:
            return db.get(schema.Contact, contact_id) is not None

    def contact_accepted(self, contact_id: str) -> bool:
        with self.stored.session() as db:
            found = db.get(schema.Contact, contact_id)
            return found is not None and found.accepted


def _handler_login(
    client: httpx.Client, key: crypto.SigningKey, compartment_id: str
) -> httpx.Response:
    challenge = client.post("/api/v1/handler/challenges")
    assert challenge.status_code == 201, challenge.text
    nonce = base64.b64decode(challenge.json()["nonce"])
    signature = key.sign(LOGIN_CONTEXT + nonce + compartment_id.encode())
    return client.post(
        "/api/v1/handler/tokens",
        json={
            "challenge": challenge.json()["id"],
            "compartment": compartment_id,
            "key": base64.b64encode(key.verify_key.public_bytes).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
    )


def _token(client: httpx.Client, handler: HandlerKeys, compartment_id: str) -> str:
    answer = _handler_login(client, handler.signing, compartment_id)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("authorization")
    kit = new_org()
    # Command's note key, kept, so that command can try it at the login.
    command_key = crypto.SigningKey.generate()
    kit.command = crypto.NoteSigner(org.command_key_name(kit.org_id, 1), command_key)
    alpha = kit.add_compartment(DOORS["A"], handlers=2)
    bravo = kit.add_compartment(DOORS["B"])
    staying, leaving = alpha.handlers
    data_dir = root / "data"
    init_data_dir(data_dir, kit.root_key, _engines.database_url())
    import_notes(data_dir, kit.write_notes(root / "notes"), datetime.now(UTC))
    # Every cell of an upload route makes fresh uploads for contacts A and
    # B: far more than the per-contact quota (tests/server/test_uploads.py).
    update_server_config(data_dir, limits={"max_uploads": 10_000})
    # Both doors offer services, so that those rows are about who may answer.
    questionnaires = data_dir / "questionnaires"
    questionnaires.mkdir()
    example = resources.files("shoal.server").joinpath("questionnaire_example.toml")
    with resources.as_file(example) as path:
        for code in COMPARTMENTS:
            shutil.copy(path, questionnaires / f"{DOORS[code]}.toml")

    server = ServerProcess(data_dir, root)
    stored = Stored(data_dir)
    client = server.client()
    try:
        handlers = {"A": staying, "B": bravo.handlers[0]}
        tokens = {
            code: _token(client, handlers[code], kit.compartments[DOORS[code]].compartment_id)
            for code in COMPARTMENTS
        }
        removed_token = _token(client, leaving, alpha.compartment_id)
        principals = {
            "anonymous": Principal("anonymous", None),
            "handler A": Principal("handler A", "A", token=tokens["A"], login_key=staying.signing),
            "handler B": Principal(
                "handler B", "B", token=tokens["B"], login_key=bravo.handlers[0].signing
            ),
            "removed A": Principal(
                "removed A", None, token=removed_token, login_key=leaving.signing
            ),
            "command": Principal("command", None, login_key=command_key),
        }
        contact_ids, recipients, items, blobs = {}, {}, {}, {}
        audit_entries: dict[str, str] = {}
        uploads: dict[str, str] = {}
        for code in COMPARTMENTS:
            door = DOORS[code]
            made = client.post(f"/api/v1/doors/{door}/contacts")
            assert made.status_code == 201, made.text
            codename = made.json()["codename"]
            # A login, not the first contact's session: it has typed its
            # codename (a first contact's pages ask for it back first).
            login = client.post(f"/api/v1/doors/{door}/sessions", json={"codename": codename})
            assert login.status_code == 201, login.text
            session = login.json()["session"]
            sent = client.post(
                f"/api/v1/doors/{door}/submissions",
                headers={"Authorization": f"Bearer {session}"},
                files=[("message", (None, MESSAGE))],
            )
            assert sent.status_code == 201, sent.text
            (item_id,) = sent.json()["items"]
            listed = client.get(
                "/api/v1/handler/items",
                params={"limit": 1000},
                headers={"Authorization": f"Bearer {tokens[code]}"},
            )
            (item,) = [i for i in listed.json()["items"] if i["id"] == item_id]
            contact_ids[code] = item["contact"]
            items[code] = item_id
            blobs[code] = item["blob"]
            found = client.get(
                f"/api/v1/handler/contacts/{item['contact']}",
                headers={"Authorization": f"Bearer {tokens[code]}"},
            )
            recipients[code] = found.json()["recipient"]
            entry = client.post(
                "/api/v1/handler/audit",
                content=AUDIT_ENTRY,
                headers={"Authorization": f"Bearer {tokens[code]}"},
            )
            assert entry.status_code == 201, entry.text
            audit_entries[code] = str(entry.json()["index"])
            principals[f"contact {code}"] = Principal(
                f"contact {code}", code, codename=codename, session=session
            )
        built = World(
            kit=kit,
            data_dir=data_dir,
            server=server,
            client=client,
            stored=stored,
            principals=principals,
            handlers=handlers,
            handler_tokens=tokens,
            contact_ids=contact_ids,
            recipients=recipients,
            items=items,
            blobs=blobs,
            audit_entries=audit_entries,
            uploads=uploads,
        )
        for code in COMPARTMENTS:
            built.reply(code)
            uploads[code] = built.upload(code)
        # The token works while its handler is in the epoch; then command
        # removes that handler: epoch 2 of A lists only the other one.
        before = client.get(
            "/api/v1/handler/items", headers={"Authorization": f"Bearer {removed_token}"}
        )
        assert before.status_code == 200, before.text
        note = root / "notes" / "epoch-alpha-2.note"
        note.write_text(kit.epoch_note(DOORS["A"], 2, handlers=[staying]))
        # B's epoch 2 only renews it: so that each compartment has items
        # sealed to an older epoch, for a desk to re-seal.
        renewed = root / "notes" / "epoch-bravo-2.note"
        renewed.write_text(kit.epoch_note(DOORS["B"], 2))
        import_notes(data_dir, [note, renewed], datetime.now(UTC))
        yield built
    finally:
        client.close()
        stored.close()
        server.stop()


# Sending one cell.


@dataclass
class Cell:
    route: str
    obj: str
    who: Principal
    #: Objects made for this cell alone, by compartment (see FRESH).
    fresh: dict[str, str] = field(default_factory=dict)


def _codes(cell: Cell) -> list[str]:
    return cell.obj.split("/")


def _contact_at_own_door(cell: Cell, code: str) -> bool:
    """A contact deletes its own replies, at its own door, and no others."""
    codes = _codes(cell)
    targeted = len(codes) == 1 or codes[1] == code
    return cell.who.is_contact and cell.who.compartment == code == codes[0] and targeted


def _handler_of(cell: Cell, code: str) -> bool:
    """A handler (still in the epoch) acts on its compartment's object only."""
    return cell.who.token is not None and cell.who.compartment == code == cell.obj


@dataclass(frozen=True)
class Fresh:
    """A route that deletes or cuts its object: every cell gets a new one
    of each compartment, and afterwards only the one the cell was allowed
    to change may have changed."""

    make: Callable[[World, str], str]
    intact: Callable[[World, str], bool]
    may_change: Callable[[Cell, str], bool]


def _nobody(cell: Cell, code: str) -> bool:
    """A route that only reads: nothing may change."""
    return False


def _anyone_with_the_token(cell: Cell, code: str) -> bool:
    """The token is the credential: whoever sends it releases the alarm."""
    return cell.obj == code


FRESH: dict[str, Fresh] = {
    "POST /d/{door}/replies/{item_id}/delete": Fresh(
        World.reply, World.item_exists, _contact_at_own_door
    ),
    "POST /d/{door}/replies/delete": Fresh(World.reply, World.item_exists, _contact_at_own_door),
    "DELETE /api/v1/handler/items/{item_id}": Fresh(World.item, World.item_exists, _handler_of),
    "DELETE /api/v1/handler/contacts/{contact_id}": Fresh(
        World.contact, World.contact_exists, _handler_of
    ),
    "POST /api/v1/handler/contacts/{contact_id}/cut": Fresh(
        World.contact, World.contact_accepted, _handler_of
    ),
    "PUT /api/v1/handler/items/{item_id}/sealed": Fresh(
        World.late_item, World.not_resealed, _handler_of
    ),
    "PUT /api/v1/doors/{door}/uploads/{upload_id}": Fresh(
        World.upload, World.upload_untouched, _contact_at_own_door
    ),
    "POST /api/v1/doors/{door}/uploads/{upload_id}/finish": Fresh(
        World.complete_upload, World.upload_unfinished, _contact_at_own_door
    ),
    "GET /api/v1/doors/{door}/sealed-replies/{item_id}": Fresh(
        World.reply, World.item_exists, _nobody
    ),
    "DELETE /api/v1/doors/{door}/sealed-replies/{item_id}": Fresh(
        World.reply, World.item_exists, _contact_at_own_door
    ),
    "POST /api/v1/alarms/{token}": Fresh(World.alarm, World.alarm_pending, _anyone_with_the_token),
}


def _path(world: World, cell: Cell) -> str:
    template = cell.route.split(" ", 1)[1]
    params = _PARAM.findall(template)
    codes = _codes(cell) if len(params) > 1 else [cell.obj] * len(params)
    if len(codes) != len(params):
        raise TableError(f"{cell.route}: object {cell.obj!r} does not fit its parameters")
    values: dict[str, str] = {}
    for param, code in zip(params, codes, strict=True):
        if param == "door":
            values[param] = DOORS[code]
        elif code == "none" and param in ("item_id", "contact_id"):
            values[param] = org.new_id()
        elif code == "none" and param == "blob_id":
            values[param] = secrets.token_hex(32)
        elif code == "none" and param == "upload_id":
            values[param] = secrets.token_hex(16)
        elif code == "none" and param == "token":
            values[param] = secrets.token_urlsafe(32)
        elif param in ("item_id", "contact_id", "upload_id", "token") and cell.fresh:
            values[param] = cell.fresh[code]
        elif param == "upload_id":
            values[param] = world.uploads[code]
        elif param == "blob_id":
            values[param] = world.blobs[code]
        elif param == "contact_id":
            values[param] = world.contact_ids[code]
        elif param == "item_id":
            values[param] = world.items[code]
        elif param == "path":
            values[param] = "style.css" if code == "file" else "no-such-file.css"
        elif param == "index":
            values[param] = world.audit_entries[code] if code != "none" else "999999"
        else:
            raise TableError(f"{cell.route}: the test cannot make a {{{param}}}")
    return template.format(**values)


def _codename(who: Principal) -> str:
    """Its own codename; anyone without one types a made-up one."""
    return who.codename or crypto.generate_codename()


def _once() -> str:
    return secrets.token_urlsafe(16)


def _handler_reply(world: World, cell: Cell) -> dict[str, Any]:
    code = cell.obj if cell.obj != "none" else "A"
    contact_id = world.contact_ids[code] if cell.obj != "none" else org.new_id()
    body = reply_item(
        world.recipients[code], "a reply", world.kit, DOORS[code], contact_id, world.handlers[code]
    )
    return {"content": body, "headers": {"Content-Type": "application/octet-stream"}}


def _handler_token_request(world: World, cell: Cell) -> dict[str, Any]:
    compartment = world.compartment_id(cell.obj) if cell.obj != "none" else org.new_id()
    challenge = world.client.post("/api/v1/handler/challenges")
    assert challenge.status_code == 201, challenge.text
    nonce = base64.b64decode(challenge.json()["nonce"])
    key = cell.who.login_key
    signature = key.sign(LOGIN_CONTEXT + nonce + compartment.encode())
    return {
        "json": {
            "challenge": challenge.json()["id"],
            "compartment": compartment,
            "key": base64.b64encode(key.verify_key.public_bytes).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
    }


#: What a member's client uploads: an age file (the server checks its header).
UPLOADED = crypto.encrypt(b"a member's report", [crypto.generate_identity().recipient()])
UPLOAD_SIZE = len(UPLOADED)


#: An audit entry as a desk appends one (the server reads only its framing).
AUDIT_ENTRY = crypto.encrypt(b"moved a contact", [crypto.generate_identity().recipient()])


#: What each route's request carries besides credentials (and, for pages,
#: the form token): routes not named here are sent with no body.
RECIPES: dict[str, Callable[[World, Cell], dict[str, Any]]] = {
    "POST /d/{door}/login": lambda w, c: {"data": {"codename": _codename(c.who)}},
    "POST /d/{door}/first-contact": lambda w, c: {"data": {"once": _once()}},
    "POST /d/{door}/codename": lambda w, c: {"data": {"codename": _codename(c.who)}},
    "POST /d/{door}/practice": lambda w, c: {"data": {"codename": _codename(c.who)}},
    "POST /d/{door}/submit": lambda w, c: {
        "params": {"form_token": w.form_token, "once": _once()},
        "files": [("message", (None, MESSAGE))],
    },
    "POST /d/{door}/services": lambda w, c: {
        "data": {"once": _once(), "skills": "first_aid", "reach": "weekly"}
    },
    "POST /api/v1/doors/{door}/sessions": lambda w, c: {"json": {"codename": _codename(c.who)}},
    "POST /api/v1/doors/{door}/submissions": lambda w, c: {"files": [("message", (None, MESSAGE))]},
    "POST /api/v1/handler/tokens": _handler_token_request,
    "POST /api/v1/handler/contacts/{contact_id}/replies": _handler_reply,
    "POST /api/v1/handler/synced": lambda w, c: {"json": {"seq": 0}},
    # Both setup entries (A's and B's) are in the tree of size 2.
    "GET /api/v1/handler/audit/entries/{index}/proof": lambda w, c: {"params": {"size": 2}},
    "POST /api/v1/handler/audit": lambda w, c: {
        "content": AUDIT_ENTRY,
        "headers": {"Content-Type": "application/octet-stream"},
    },
    # A forward is an age file a desk re-sealed to the door's compartment;
    # the server checks only that. Fresh bytes each time: blobs are shared by content.
    "POST /api/v1/handler/forwards/{door}": lambda w, c: {
        "content": crypto.encrypt(b"forwarded", [crypto.generate_identity().recipient()]),
        "headers": {"Content-Type": "application/octet-stream"},
    },
    "POST /api/v1/doors/{door}/uploads": lambda w, c: {
        "json": {"id": secrets.token_hex(16), "size": UPLOAD_SIZE, "epoch": 1}
    },
    "PUT /api/v1/doors/{door}/uploads/{upload_id}": lambda w, c: {
        "params": {"offset": 0},
        "content": UPLOADED[:100],
        "headers": {"Content-Type": "application/octet-stream"},
    },
    "POST /api/v1/doors/{door}/alarms": lambda w, c: {
        "content": crypto.encrypt(b"", [crypto.generate_identity().recipient()]),
        "headers": {"Content-Type": "application/octet-stream"},
    },
    # Re-sealed to epoch 2 of either compartment: one handler and command,
    # two stanzas (the server counts them; it cannot tell whose they are).
    "PUT /api/v1/handler/items/{item_id}/sealed": lambda w, c: {
        "content": crypto.encrypt(
            b"re-sealed", [crypto.generate_identity().recipient() for _ in range(2)]
        ),
        "headers": {"Content-Type": "application/octet-stream"},
    },
    # A lifecycle record is an age file the desk sealed; the server checks only that.
    "PUT /api/v1/handler/contacts/{contact_id}/state": lambda w, c: {
        "content": crypto.encrypt(b"state", [crypto.generate_identity().recipient()]),
        "headers": {"Content-Type": "application/octet-stream"},
    },
}


def send(world: World, cell: Cell) -> Answer:
    method, template = cell.route.split(" ", 1)
    who = cell.who
    if cell.route in BODY_OBJECT_ROUTES and cell.route not in RECIPES:
        raise TableError(f"{cell.route}: the test does not know how to send its object")
    if cell.obj not in objects_required(cell.route):
        raise TableError(f"{cell.route}: object {cell.obj!r} is not one of this route's")
    recipe = RECIPES.get(cell.route)
    request: dict[str, Any] = recipe(world, cell) if recipe else {}
    headers: dict[str, str] = dict(request.pop("headers", {}))
    cookies: dict[str, str] = {}
    session = who.session
    if who.is_contact and cell.route in SESSION_ENDING:
        session = world.fresh_session(who)
    if session is not None:
        cookies["shoal_session"] = session
        headers["Authorization"] = f"Bearer {session}"
    elif who.token is not None:
        headers["Authorization"] = f"Bearer {who.token}"
    if method == "POST" and template.startswith("/d/"):
        cookies["shoal_form"] = world.form_token
        if "params" not in request:  # the multipart form carries it in its query
            request["data"] = {**request.get("data", {}), "form_token": world.form_token}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    world.client.cookies.clear()
    try:
        answer = world.client.request(method, _path(world, cell), headers=headers, **request)
    finally:
        world.client.cookies.clear()
    location = answer.headers.get("location")
    return Answer(answer.status_code, urllib.parse.urlsplit(location).path if location else None)


def _changed_as_allowed(world: World, cell: Cell) -> list[str]:
    """Only what the cell was allowed to delete or cut has gone."""
    fresh = FRESH[cell.route]
    wrong = []
    for code, made in cell.fresh.items():
        intact = fresh.intact(world, made)
        if intact == fresh.may_change(cell, code):
            wrong.append(
                f"{cell.route} [{cell.obj}] as {cell.who.name}: the object of {code} "
                + ("was left alone" if intact else "was deleted or cut")
            )
    return wrong


@dataclass
class Results:
    rows: list[Row]
    answers: dict[tuple[str, str, str], Answer]
    wrong_changes: list[str]


@pytest.fixture(scope="module")
def matrix() -> list[Row]:
    return parse_matrix(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def results(world: World, matrix: list[Row]) -> Results:
    answers: dict[tuple[str, str, str], Answer] = {}
    wrong_changes: list[str] = []
    for row in matrix:
        for name in PRINCIPALS:
            cell = Cell(row.route, row.obj, world.principals[name])
            fresh = FRESH.get(row.route)
            if fresh is not None:
                cell.fresh = {code: fresh.make(world, code) for code in COMPARTMENTS}
            answers[(row.route, row.obj, name)] = send(world, cell)
            if fresh is not None:
                wrong_changes += _changed_as_allowed(world, cell)
    return Results(matrix, answers, wrong_changes)


# The tests.


def test_the_table_covers_every_route_of_the_app_and_no_other(
    world: World, matrix: list[Row]
) -> None:
    in_app = app_routes(world.data_dir)
    in_table = {row.route for row in matrix}
    assert sorted(in_app - in_table) == [], "routes of the app without rows in the table"
    assert sorted(in_table - in_app) == [], "rows for routes the app does not have"
    for route in sorted(in_table):
        objects = {row.obj for row in matrix if row.route == route}
        assert objects == objects_required(route), f"{route}: objects {sorted(objects)}"


def test_every_cell_answers_as_the_table_says(results: Results) -> None:
    wrong = []
    for row in results.rows:
        template_door = row.obj.split("/")[0]
        for name, expected in row.cells.items():
            got = results.answers[(row.route, row.obj, name)]
            want_location = None
            if expected.page is not None:
                page = "" if expected.page == "/" else expected.page
                want_location = f"/d/{DOORS[template_door]}/{page}"
            if got.status != expected.status or (
                want_location is not None and got.location != want_location
            ):
                mark = " (a known finding)" if expected.finding else ""
                wrong.append(
                    f"line {row.line}: {row.route} [{row.obj}] as {name}: "
                    f"expected {expected.status}"
                    + (f"→{want_location}" if want_location else "")
                    + f", got {got}{mark}"
                )
    cells = len(results.rows) * len(PRINCIPALS)
    assert wrong == [], f"{len(wrong)} of {cells} cells differ:\n" + "\n".join(wrong)


def _id_routes(results: Results) -> list[str]:
    """Routes whose object is a compartment's id (not a door, not a file)."""
    routes = []
    for route in dict.fromkeys(row.route for row in results.rows):
        params = _PARAM.findall(route)
        if route in CAPABILITY_ROUTES:
            continue
        if route in BODY_OBJECT_ROUTES or any(p not in ("door", "path") for p in params):
            routes.append(route)
    return routes


def _doors_for(route: str, results: Results) -> list[str]:
    """The door prefixes under which a route's objects are named: "A/" and
    "B/" for a route that takes a door and an id, else just ""."""
    objects = {row.obj for row in results.rows if row.route == route}
    return [f"{code}/" for code in COMPARTMENTS] if any("/" in o for o in objects) else [""]


def test_another_compartments_object_answers_as_if_it_did_not_exist(
    results: Results, world: World
) -> None:
    """Independent of the table: from the answers the server gave."""
    wrong = []
    routes = _id_routes(results)
    assert routes, "no route takes a compartment's id: the cross-check checks nothing"
    for route in routes:
        for name in PRINCIPALS:
            who = world.principals[name]
            for door in _doors_for(route, results):
                answer = {
                    code: results.answers[(route, f"{door}{code}", name)]
                    for code in (*COMPARTMENTS, "none")
                }
                # Existence does not leak: an object of a compartment the
                # principal is not of answers like an id that names nothing.
                for code in COMPARTMENTS:
                    if code == who.compartment:
                        continue
                    got = answer[code]
                    if got != answer["none"] or got.status == 403 or 200 <= got.status < 300:
                        wrong.append(
                            f"{route} [{door}{code}] as {name}: {got}, "
                            f"but [{door}none] {answer['none']}"
                        )
                # Where it succeeds on its own, another's object is 404.
                own = who.compartment
                if own is None or route in ANSWERS_AS_NONEXISTENT:
                    continue
                other = "B" if own == "A" else "A"
                if 200 <= answer[own].status < 400 and answer[other].status != 404:
                    wrong.append(
                        f"{route} as {name}: [{door}{own}] {answer[own]}, "
                        f"[{door}{other}] {answer[other]}, not 404"
                    )
    assert wrong == [], "\n".join(wrong)


def test_nothing_is_deleted_or_cut_across_compartments(results: Results) -> None:
    assert results.wrong_changes == [], "\n".join(results.wrong_changes)


def test_listings_hold_only_the_compartments_own(results: Results, world: World) -> None:
    with world.stored.session() as db:
        stored = {
            code: set(
                db.scalars(
                    select(schema.Item.id).where(
                        schema.Item.compartment_id == world.compartment_id(code)
                    )
                ).all()
            )
            for code in COMPARTMENTS
        }
    for code in COMPARTMENTS:
        headers = {"Authorization": f"Bearer {world.handler_tokens[code]}"}
        listed: set[str] = set()
        after = 0
        while True:
            page = world.client.get(
                "/api/v1/handler/items", params={"after": after, "limit": 1000}, headers=headers
            ).json()
            listed |= {item["id"] for item in page["items"]}
            if not page["items"]:
                break
            after = page["next"]
        assert listed == stored[code], code
        epochs = world.client.get("/api/v1/org", headers=headers).json()["epochs"]
        texts = [crypto.open_note(note, [world.kit.command.verifier]).text for note in epochs]
        # Each has epochs 1 and 2; none of them names the other door.
        assert len(texts) == 2, code
        assert all(f"\ndoor {DOORS[code]}\n" in text for text in texts), code
