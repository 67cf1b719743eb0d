"""``shoal admin init``, ``migrate`` and ``import``, as real processes."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from _server_kit import OrgKit, ServerProcess, Stored, new_org, shoal
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text

import _engines
from _server_config import read_server_config, update_server_config
from shoal import crypto, org
from shoal.server._admin import import_notes, init_data_dir
from shoal.server._config import load_config
from shoal.store import create_db_engine, current_revision, head_revision, schema


def test_init_creates_a_private_data_directory(tmp_path: Path, test_org: OrgKit) -> None:
    data = tmp_path / "data"
    shoal("admin", "init", "--data", str(data), "--root-key", test_org.root_key)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "blobs").stat().st_mode) == 0o700
    assert read_server_config(data) == {
        "root_key": test_org.root_key,
        "database": f"sqlite:///{data.resolve() / 'shoal.db'}",
        "blobs": {"backend": "filesystem"},
    }
    assert stat.S_IMODE((data / "server.toml").stat().st_mode) == 0o600
    found = Stored(data)
    assert found.rows(schema.Note) == 0
    found.close()
    again = shoal(
        "admin", "init", "--data", str(data), "--root-key", test_org.root_key, check=False
    )
    assert again.returncode != 0 and "already set up" in again.stderr


def test_init_takes_a_database_url(tmp_path: Path, test_org: OrgKit) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    data = tmp_path / "data"
    shoal("admin", "init", "--data", str(data), "--root-key", test_org.root_key, "--database", url)
    assert read_server_config(data)["database"] == url
    assert (tmp_path / "elsewhere.db").exists()


@pytest.mark.parametrize("kind", ["age secret key", "command key", "garbage"])
def test_init_takes_only_a_root_verifier_key_and_never_echoes_one(
    tmp_path: Path, test_org: OrgKit, kind: str
) -> None:
    key = {
        "age secret key": crypto.generate_identity().secret_string(),
        "command key": str(test_org.command.verifier),
        "garbage": "CANARY-not-a-key",
    }[kind]
    done = shoal("admin", "init", "--data", str(tmp_path / "d"), "--root-key", key, check=False)
    assert done.returncode != 0
    assert key not in done.stdout + done.stderr
    assert not (tmp_path / "d" / "server.toml").exists()


def test_init_with_the_database_blob_store_makes_no_blob_directory(
    tmp_path: Path, test_org: OrgKit
) -> None:
    data = tmp_path / "data"
    root_key = test_org.root_key
    shoal("admin", "init", "--data", str(data), "--root-key", root_key, "--blobs", "database")
    assert read_server_config(data)["blobs"] == {"backend": "database"}
    assert load_config(data).blobs.backend == "database"
    assert not (data / "blobs").exists()


def test_init_sets_up_what_the_environment_configures(tmp_path: Path, test_org: OrgKit) -> None:
    """``shoal serve`` will use SHOAL_DATABASE: that is the database to migrate."""
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'from-the-environment.db'}"
    env = {**os.environ, "SHOAL_DATABASE": url}
    shoal("admin", "init", "--data", str(data), "--root-key", test_org.root_key, env=env)
    assert revision(url) == head_revision()
    assert not (data / "shoal.db").exists()
    # The file holds the settings; the variable stays the operator's.
    assert read_server_config(data)["database"] == f"sqlite:///{data.resolve() / 'shoal.db'}"


def test_init_refuses_a_bad_variable_before_creating_anything(
    tmp_path: Path, test_org: OrgKit
) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "SHOAL_LIMITS_MAX_BODY": "lots"}
    done = shoal(
        "admin", "init", "--data", str(data), "--root-key", test_org.root_key, check=False, env=env
    )
    assert done.returncode != 0
    assert "SHOAL_LIMITS_MAX_BODY: must be a positive integer" in done.stderr
    assert not data.exists()


def test_init_refuses_a_directory_set_up_by_an_older_version(
    tmp_path: Path, test_org: OrgKit
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "server.json").write_text("{}")
    done = shoal("admin", "init", "--data", str(data), "--root-key", test_org.root_key, check=False)
    assert done.returncode != 0 and "server.json exists" in done.stderr
    assert sorted(p.name for p in data.iterdir()) == ["server.json"]


# -- shoal admin migrate -------------------------------------------------------


def revision(url: str) -> str | None:
    engine = create_db_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def downgrade(url: str, to: str) -> None:
    """What an older version of Shoal left: its migrations, no further."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("shoal.store") / "migrations"))
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, to)
    finally:
        engine.dispose()


@pytest.fixture
def older(tmp_path: Path, test_org: OrgKit) -> tuple[Path, str]:
    """A data directory whose database is at migration 0006, and its URL."""
    data = tmp_path / "older"
    init_data_dir(data, test_org.root_key, _engines.database_url())
    url = load_config(data).database
    downgrade(url, "0006")
    return data, url


def test_migrate_brings_an_older_database_to_the_newest_schema(older: tuple[Path, str]) -> None:
    data, url = older
    head = head_revision()
    assert revision(url) == "0006" != head
    assert "blob_objects" not in tables(url)
    done = shoal("admin", "migrate", "--data", str(data))
    assert done.stdout == f"database migrated from 0006 to {head}\n"
    assert revision(url) == head
    assert {"blob_objects", "blob_chunks", "upload_pieces", "quotas"} <= tables(url)
    again = shoal("admin", "migrate", "--data", str(data))
    assert again.stdout == f"database already at {head}\n"


def test_serve_refuses_a_database_at_another_migration(older: tuple[Path, str]) -> None:
    """A server must never write rows of one schema into tables of
    another: it says what to run instead, and touches nothing."""
    data, url = older
    refused = shoal("serve", "--data", str(data), "--port", "0", check=False)
    assert refused.returncode != 0
    assert "database is at migration 0006" in refused.stderr
    assert "shoal admin migrate" in refused.stderr
    assert revision(url) == "0006"
    shoal("admin", "migrate", "--data", str(data))
    ServerProcess(data, data.parent / "run").stop()  # now it starts


def test_migrate_sets_up_an_empty_database(initialized: Path, tmp_path: Path) -> None:
    url = _engines.database_url() or f"sqlite:///{tmp_path / 'empty.db'}"
    update_server_config(initialized, database=url)
    done = shoal("admin", "migrate", "--data", str(initialized))
    assert done.stdout == f"database migrated from none to {head_revision()}\n"
    assert revision(url) == head_revision()


def test_migrate_refuses_a_database_a_newer_version_migrated(initialized: Path) -> None:
    url = load_config(initialized).database
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    done = shoal("admin", "migrate", "--data", str(initialized), check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert (
        f"the database is at migration 9999, which this version of Shoal does not know "
        f"(it knows up to {head_revision()}): run the newer version"
    ) in done.stderr
    assert revision(url) == "9999"


def test_migrate_needs_an_initialized_directory(tmp_path: Path) -> None:
    done = shoal("admin", "migrate", "--data", str(tmp_path / "none"), check=False)
    assert done.returncode != 0 and "shoal admin init" in done.stderr


@pytest.fixture
def initialized(tmp_path: Path, test_org: OrgKit) -> Path:
    data = tmp_path / "data"
    init_data_dir(data, test_org.root_key, None)
    return data


def notes_in(data: Path) -> list[tuple[str, str | None, int]]:
    found = Stored(data)
    with found.session() as db:
        rows = [(n.kind, n.compartment_id, n.number) for n in db.scalars(select(schema.Note))]
    found.close()
    return sorted(rows, key=str)


def compartments_in(data: Path) -> dict[str, tuple[str, int]]:
    found = Stored(data)
    with found.session() as db:
        rows = {c.id: (c.door, c.epoch) for c in db.scalars(select(schema.Compartment))}
    found.close()
    return rows


def test_import_takes_files_in_any_order(
    initialized: Path, test_org: OrgKit, tmp_path: Path
) -> None:
    paths = test_org.write_notes(tmp_path / "notes")
    done = shoal("admin", "import", "--data", str(initialized), *map(str, reversed(paths)))
    lines = [line.split(": ", 1)[1] for line in done.stdout.splitlines()]
    assert lines[:2] == [f"organization {test_org.org_id}: imported", "command key 1: imported"]
    assert sorted(lines[2:]) == [
        "epoch 1 of door 'north': imported",
        "epoch 1 of door 'south': imported",
    ]
    north, south = test_org.compartments["north"], test_org.compartments["south"]
    assert compartments_in(initialized) == {
        north.compartment_id: ("north", 1),
        south.compartment_id: ("south", 1),
    }
    again = shoal("admin", "import", "--data", str(initialized), *map(str, paths))
    assert all(line.endswith(": unchanged") for line in again.stdout.splitlines())
    assert len(notes_in(initialized)) == 4


def test_a_newer_epoch_moves_the_compartment_on(
    initialized: Path, test_org: OrgKit, tmp_path: Path
) -> None:
    paths = test_org.write_notes(tmp_path / "notes")
    newer = tmp_path / "epoch-north-2.note"
    newer.write_text(test_org.epoch_note("north", 2))
    shoal("admin", "import", "--data", str(initialized), *map(str, paths), str(newer))
    north = test_org.compartments["north"]
    assert compartments_in(initialized)[north.compartment_id] == ("north", 2)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def refusals(test_org: OrgKit, tmp: Path) -> dict[str, tuple[list[Path], str]]:
    """Each case: the files to import after the base notes, and the error."""
    good_new = write(tmp / "good-epoch-2.note", test_org.epoch_note("north", 2))
    epoch = test_org.epoch("north", 3)
    unsigned = epoch.record()
    soon = datetime.now(UTC) + timedelta(days=3)
    signed = crypto.sign_note(unsigned, [test_org.command])
    tampered = signed.replace("number 3\n", "number 4\n")
    impostor = crypto.NoteSigner(test_org.command.name, crypto.SigningKey.generate())
    other = new_org()
    other.add_compartment("north")
    expired = test_org.epoch("north", 3, expires=datetime.now(UTC) - timedelta(minutes=1))
    test_org.add_compartment("east")
    door_thief = org.Epoch(
        org_id=test_org.org_id,
        compartment_id=test_org.compartments["east"].compartment_id,
        door="south",
        number=1,
        expires=datetime.now(UTC) + timedelta(days=1),
        handlers=(test_org.compartments["east"].handlers[0].entry,),
    )
    return {
        "unsigned": ([good_new, write(tmp / "u.note", unsigned)], "malformed note"),
        "signature stripped": (
            [good_new, write(tmp / "s.note", unsigned + "\n")],
            "malformed note",
        ),
        "signed by an impostor": (
            [good_new, write(tmp / "f.note", crypto.sign_note(unsigned, [impostor]))],
            "not signed by any trusted key",
        ),
        "tampered": (
            [good_new, write(tmp / "x.note", tampered)],
            "invalid signature",
        ),
        "another organization": (
            [good_new, write(tmp / "o.note", other.epoch_note("north"))],
            "not signed by any trusted key",
        ),
        "expired": (
            [
                good_new,
                write(tmp / "e.note", crypto.sign_note(expired.record(), [test_org.command])),
            ],
            "has expired",
        ),
        "same number, other content": (
            [write(tmp / "d.note", test_org.epoch_note("north", 1, expires=soon))],
            "a different epoch 1",
        ),
        "door taken": (
            [
                good_new,
                write(tmp / "t.note", crypto.sign_note(door_thief.record(), [test_org.command])),
            ],
            "belongs to another compartment",
        ),
        "organization by another root": (
            [write(tmp / "org.note", other.organization_note())],
            "not signed by any trusted key",
        ),
        "private key": (
            [good_new, write(tmp / "k.txt", crypto.generate_identity().secret_string() + "\n")],
            "PRIVATE key",
        ),
        "not a note": ([good_new, write(tmp / "n.txt", "hello\n")], "not a Shoal signed note"),
    }


CASES = [
    "unsigned",
    "signature stripped",
    "signed by an impostor",
    "tampered",
    "another organization",
    "expired",
    "same number, other content",
    "door taken",
    "organization by another root",
    "private key",
    "not a note",
]


@pytest.mark.parametrize("case", CASES)
def test_import_refuses_and_stores_nothing(
    initialized: Path, test_org: OrgKit, tmp_path: Path, case: str
) -> None:
    import_notes(initialized, test_org.write_notes(tmp_path / "notes"), datetime.now(UTC))
    before = (notes_in(initialized), compartments_in(initialized))
    files, error = refusals(test_org, tmp_path)[case]
    done = shoal("admin", "import", "--data", str(initialized), *map(str, files), check=False)
    assert done.returncode != 0
    assert error in done.stderr and "nothing was imported" in done.stderr
    assert (notes_in(initialized), compartments_in(initialized)) == before
    for path in files:
        if path.suffix == ".txt":
            assert path.read_text().strip() not in done.stdout + done.stderr


def test_an_older_epoch_than_the_stored_one_is_a_rollback(
    initialized: Path, test_org: OrgKit, tmp_path: Path
) -> None:
    paths = test_org.write_notes(tmp_path / "notes")
    newer = write(tmp_path / "epoch-north-2.note", test_org.epoch_note("north", 2))
    import_notes(initialized, [*paths, newer], datetime.now(UTC))
    older = write(tmp_path / "epoch-north-1b.note", test_org.epoch_note("north", 1, handlers=[]))
    done = shoal("admin", "import", "--data", str(initialized), str(older), check=False)
    assert done.returncode != 0 and "older than epoch 2" in done.stderr


def test_an_epoch_needs_its_chain_first(
    initialized: Path, test_org: OrgKit, tmp_path: Path
) -> None:
    epoch = write(tmp_path / "e.note", test_org.epoch_note("north"))
    done = shoal("admin", "import", "--data", str(initialized), str(epoch), check=False)
    assert done.returncode != 0 and "first" in done.stderr
    assert notes_in(initialized) == []


def test_after_a_command_key_rotation_old_epochs_are_refused(
    initialized: Path, test_org: OrgKit, tmp_path: Path
) -> None:
    shoal("admin", "import", "--data", str(initialized), *map(str, test_org.write_notes(tmp_path)))
    old_key_epoch = write(tmp_path / "old.note", test_org.epoch_note("north", 2))
    test_org.command_serial = 2
    test_org.command = crypto.NoteSigner(
        org.command_key_name(test_org.org_id, 2), crypto.SigningKey.generate()
    )
    rotation = write(tmp_path / "command-2.note", test_org.command_note())
    new_key_epoch = write(tmp_path / "new.note", test_org.epoch_note("north", 2))
    refused = shoal(
        "admin",
        "import",
        "--data",
        str(initialized),
        str(rotation),
        str(old_key_epoch),
        check=False,
    )
    assert refused.returncode != 0
    done = shoal("admin", "import", "--data", str(initialized), str(rotation), str(new_key_epoch))
    assert "command key 2: imported" in done.stdout
    north = test_org.compartments["north"]
    assert compartments_in(initialized)[north.compartment_id] == ("north", 2)


def test_import_needs_an_initialized_directory(tmp_path: Path, test_org: OrgKit) -> None:
    paths = test_org.write_notes(tmp_path / "notes")
    done = shoal("admin", "import", "--data", str(tmp_path / "none"), str(paths[0]), check=False)
    assert done.returncode != 0 and "shoal admin init" in done.stderr
