"""Signed doors: ``shoal admin import`` of doors lists, ``GET /doors.note``
and the check page, on a real ``shoal serve`` (and, for the choice of list
by listener, an app in process behind its listeners)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _server_kit import OrgKit, ServerProcess, Stored, TestClient, new_org, shoal
from sqlalchemy import select

from shoal import crypto, org
from shoal.server import create_app
from shoal.server._listeners import Listener
from shoal.store import schema

TEXT_PLAIN = "text/plain; charset=utf-8"
CHECK_COMMAND = "shoal field check-doors --fingerprint FINGERPRINT doors.note"
WARNING = "the address you are on is not one we signed"
NO_LIST = "This entry point has no signed list of addresses yet."


def address() -> str:
    return org.onion_address(os.urandom(32))


def doors_note(
    test_org: OrgKit,
    *addresses: str,
    number: int = 1,
    door: str | None = None,
    signer: crypto.NoteSigner | None = None,
) -> str:
    listed = org.DoorsList(test_org.org_id, test_org.root.verifier, number, door, addresses)
    return crypto.sign_note(listed.record(), [signer or test_org.root])


class Importer:
    """``shoal admin import`` of note texts, as the operator runs it."""

    def __init__(self, data_dir: Path, folder: Path) -> None:
        self.data_dir = data_dir
        self.folder = folder
        folder.mkdir()
        self.count = 0

    def __call__(self, *notes: str, ok: bool = True) -> tuple[list[str], str]:
        paths = []
        for note in notes:
            self.count += 1
            path = self.folder / f"{self.count}.note"
            path.write_text(note)
            paths.append(str(path))
        done = shoal("admin", "import", "--data", str(self.data_dir), *paths, check=False)
        assert (done.returncode == 0) == ok, done.stderr
        said = [line.split(": ", 1)[1] for line in done.stdout.splitlines()]
        return said, done.stderr


@pytest.fixture
def import_notes(data_dir: Path, tmp_path: Path) -> Importer:
    return Importer(data_dir, tmp_path / "to-import")


@pytest.fixture
def server(data_dir: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, tmp_path / "run")
    yield process
    process.stop()


def doors_rows(data_dir: Path) -> list[tuple[str | None, int]]:
    found = Stored(data_dir)
    with found.session() as db:
        rows = [
            (n.compartment_id, n.number)
            for n in db.scalars(select(schema.Note).where(schema.Note.kind == "doors"))
        ]
    found.close()
    return sorted(rows, key=lambda row: (row[0] or "", row[1]))  # general first


def fingerprint(test_org: OrgKit) -> str:
    return org.root_fingerprint(test_org.root.verifier)


# -- shoal admin import ----------------------------------------------------------


def test_import_stores_the_general_list_and_each_doors_list(
    test_org: OrgKit, import_notes: Importer, data_dir: Path
) -> None:
    general = doors_note(test_org, address(), address())
    north = doors_note(test_org, address(), door="north")
    said, _ = import_notes(north, general)
    assert sorted(said) == [
        "doors list 1 of door 'north': imported",
        "doors list 1 of the general contact: imported",
    ]
    north_id = test_org.compartments["north"].compartment_id
    assert doors_rows(data_dir) == [(None, 1), (north_id, 1)]
    again, _ = import_notes(general, north)
    assert again == [
        "doors list 1 of the general contact: unchanged",
        "doors list 1 of door 'north': unchanged",
    ]
    newer, _ = import_notes(doors_note(test_org, address(), number=2))
    assert newer == ["doors list 2 of the general contact: imported"]
    assert doors_rows(data_dir) == [(None, 1), (None, 2), (north_id, 1)]


def test_a_doors_list_may_come_with_its_compartments_first_epoch(
    test_org: OrgKit, import_notes: Importer, data_dir: Path
) -> None:
    test_org.add_compartment("east")
    said, _ = import_notes(
        doors_note(test_org, address(), door="east"), test_org.epoch_note("east")
    )
    assert said == ["epoch 1 of door 'east': imported", "doors list 1 of door 'east': imported"]


def refused_cases(test_org: OrgKit) -> dict[str, tuple[str, str]]:
    other = new_org()
    impostor = crypto.NoteSigner(test_org.root.name, crypto.SigningKey.generate())
    command_signed = crypto.sign_note(
        org.DoorsList(test_org.org_id, test_org.root.verifier, 5, None, (address(),)).record(),
        [test_org.command],
    )
    return {
        "rollback": (doors_note(test_org, address(), number=1), "not newer than list 3"),
        "same number": (doors_note(test_org, address(), number=3), "not newer than list 3"),
        "door rollback": (
            doors_note(test_org, address(), number=2, door="north"),
            "not newer than list 3",
        ),
        "no such compartment": (
            doors_note(test_org, address(), number=9, door="east"),
            "door 'east' has no compartment here: import its epoch first",
        ),
        "another organization": (
            doors_note(other, address(), number=9),
            "not signed by any trusted key",
        ),
        "an impostor root": (
            doors_note(test_org, address(), number=9, signer=impostor),
            "not signed by any trusted key",
        ),
        "signed by the command key": (command_signed, "not signed by any trusted key"),
        "tampered": (
            doors_note(test_org, address(), number=9).replace("number 9", "number 10"),
            "invalid signature",
        ),
    }


@pytest.mark.parametrize("case", list(refused_cases(new_org())))
def test_import_refuses_and_stores_nothing(
    test_org: OrgKit, import_notes: Importer, data_dir: Path, case: str
) -> None:
    import_notes(
        doors_note(test_org, address(), number=3),
        doors_note(test_org, address(), number=3, door="north"),
    )
    before = doors_rows(data_dir)
    note, problem = refused_cases(test_org)[case]
    newer = doors_note(test_org, address(), number=20, door="south")
    _, stderr = import_notes(newer, note, ok=False)
    assert problem in stderr and "nothing was imported" in stderr
    assert doors_rows(data_dir) == before  # the good note beside it is not stored either


def test_a_doors_list_needs_the_organization_first(
    test_org: OrgKit, tmp_path: Path, data_dir: Path
) -> None:
    empty = tmp_path / "empty"
    shoal("admin", "init", "--data", str(empty), "--root-key", test_org.root_key)
    _, stderr = Importer(empty, tmp_path / "empty-notes")(doors_note(test_org, address()), ok=False)
    assert "import the organization note first" in stderr


# -- GET /doors.note and the check page on a real server ---------------------------


def test_before_any_list_the_check_page_keeps_the_other_checks(
    server: ServerProcess, test_org: OrgKit
) -> None:
    with server.client() as client:
        missing = client.get("/doors.note")
        assert missing.status_code == 404
        assert missing.json() == {"error": "Not found."}
        page = client.get("/d/north/check")
    assert page.status_code == 200
    assert NO_LIST in page.text
    assert fingerprint(test_org) in page.text
    assert "letter by letter" in page.text
    assert CHECK_COMMAND not in page.text
    assert WARNING not in page.text


def test_the_general_list_is_served_and_verifies_with_the_fingerprint(
    server: ServerProcess, test_org: OrgKit, import_notes: Importer, tmp_path: Path
) -> None:
    general = [address(), address()]
    north = address()
    first = doors_note(test_org, *general)
    import_notes(first, doors_note(test_org, north, door="north"))
    with server.client() as client:
        served = client.get("/doors.note")
        assert served.status_code == 200
        assert served.headers["content-type"] == TEXT_PLAIN
        assert served.headers["cache-control"] == "no-store"
        assert served.text == first
        listed = org.open_doors_list(served.text, fingerprint(test_org))
        assert listed.addresses == tuple(general) and listed.door is None
        # What a contact does with it: saved, and checked by the field client.
        saved = tmp_path / "doors.note"
        saved.write_bytes(served.content)
        checked = shoal(
            "field", "check-doors", "--fingerprint", fingerprint(test_org),
            "--address", general[0], str(saved),
        )  # fmt: skip
        assert f"{general[0]} is in the signed list." in checked.stdout

        # A newer list replaces it; an older one could not be imported.
        second = doors_note(test_org, general[1], number=2)
        import_notes(second)
        assert client.get("/doors.note").text == second

        page = client.get("/d/north/check")
        assert page.status_code == 200
        assert fingerprint(test_org) in page.text
        assert general[1] in page.text and general[0] not in page.text
        assert north not in page.text  # the main socket serves the general list
        assert CHECK_COMMAND in page.text
        assert 'href="/doors.note"' in page.text
        assert WARNING not in page.text
        assert client.get("/d/nowhere/check").status_code == 404
        assert client.get("/d/Not-A-Door!/check").status_code == 404

        landing = client.get("/d/north/")
        assert 'href="/d/north/check"' in landing.text
        assert "How to check this address" in landing.text
        translated = client.get("/d/north/check", params={"lang": "uk"})
        assert "Це справді ми?" in translated.text and fingerprint(test_org) in translated.text
        assert 'href="/d/north/check?lang=uk"' in client.get("/d/north/?lang=uk").text


def check_page(client: httpx.Client, host: str) -> str:
    page = client.get("/d/north/check", headers={"Host": host})
    assert page.status_code == 200
    return page.text


def test_an_unsigned_onion_in_the_host_header_is_warned_of(
    server: ServerProcess, test_org: OrgKit, import_notes: Importer
) -> None:
    """A careless phishing proxy passes its visitor's Host header on."""
    general, north = address(), address()
    with server.client() as client:
        # Without any list, an onion Host is not one we signed either.
        assert WARNING in check_page(client, address())
        import_notes(doors_note(test_org, general), doors_note(test_org, north, door="north"))
        assert WARNING in check_page(client, address())
        assert WARNING in check_page(client, f"{address()}:80")
        assert WARNING not in check_page(client, general)
        assert WARNING not in check_page(client, f"{general.upper()}:80")
        assert WARNING not in check_page(client, f"www.{general}")  # reaches the same service
        assert WARNING not in check_page(client, north)  # the main socket counts every list
        assert WARNING not in check_page(client, "127.0.0.1")
        assert WARNING not in check_page(client, "example.org")


def tamper(data_dir: Path, row_number: int, **changes: object) -> None:
    found = Stored(data_dir)
    with found.session() as db:
        row = db.scalars(
            select(schema.Note).where(schema.Note.kind == "doors", schema.Note.number == row_number)
        ).one()
        for name, value in changes.items():
            setattr(row, name, value)
        db.commit()
    found.close()


def test_a_tampered_row_is_not_served(
    server: ServerProcess, test_org: OrgKit, import_notes: Importer, data_dir: Path
) -> None:
    kept, replaced, forged = address(), address(), address()
    first = doors_note(test_org, kept)
    second = doors_note(test_org, replaced, number=2)
    north = doors_note(test_org, address(), number=3, door="north")
    import_notes(first, second, north)
    with server.client() as client:
        assert client.get("/doors.note").text == second
        # An old list's row renumbered: its signed number says otherwise.
        tamper(data_dir, 1, number=99)
        assert client.get("/doors.note").text == second
        tamper(data_dir, 99, number=1)
        # The newest row edited: the newest list that still verifies is served.
        tamper(data_dir, 2, body=second.replace(replaced, forged))
        assert client.get("/doors.note").text == first
        assert forged not in client.get("/d/north/check").text
        # A door's list moved to the general scope is not the general list.
        tamper(data_dir, 3, compartment_id=None)
        assert client.get("/doors.note").text == first
        tamper(data_dir, 1, body=first.replace(kept, forged))
        assert client.get("/doors.note").status_code == 404
        page = client.get("/d/north/check")
    assert NO_LIST in page.text and forged not in page.text


# -- the list by listener (in process) -------------------------------------------


@pytest.fixture
def listed(test_org: OrgKit, import_notes: Importer) -> dict[str | None, tuple[str, str]]:
    """Scope → (its address, its note): the general list and north's."""
    general, north = address(), address()
    notes = {
        None: (general, doors_note(test_org, general)),
        "north": (north, doors_note(test_org, north, door="north")),
    }
    import_notes(*(note for _, note in notes.values()))
    return notes


DOOR_PORT, SOUTH_PORT, ONION_PORT = 9001, 9002, 9003


def client_on(data_dir: Path, listeners: dict[int, Listener], port: int) -> TestClient:
    app = create_app(data_dir, listeners=listeners)
    return TestClient(app, base_url=f"http://127.0.0.1:{port}")


def test_a_doors_own_address_serves_its_own_list_only(
    data_dir: Path, listed: dict[str | None, tuple[str, str]]
) -> None:
    general, general_note = listed[None]
    north, north_note = listed["north"]
    listeners = {
        DOOR_PORT: Listener("door", door="north", address=north),
        SOUTH_PORT: Listener("door", door="south", address=address()),
        ONION_PORT: Listener("onion", address=general),
    }
    with client_on(data_dir, listeners, DOOR_PORT) as client:
        assert client.get("/doors.note").text == north_note
        page = client.get("/d/north/check", headers={"Host": north}).text
        assert north in page and general not in page and WARNING not in page
        # On a door's own address, only its own list counts.
        assert WARNING in client.get("/d/north/check", headers={"Host": general}).text
    with client_on(data_dir, listeners, SOUTH_PORT) as client:
        assert client.get("/doors.note").status_code == 404  # south has no list
        page = client.get("/d/south/check").text
        assert NO_LIST in page and general not in page and north not in page
    with client_on(data_dir, listeners, ONION_PORT) as client:
        assert client.get("/doors.note").text == general_note
        page = client.get("/d/north/check", headers={"Host": general}).text
        assert general in page and north not in page and WARNING not in page
