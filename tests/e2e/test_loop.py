"""The whole loop over real HTTP: a contact writes, a handler reads,
answers, and is believed — and a forged answer is not.

Every role runs through the real command line against a real ``shoal
serve`` process (fixtures in ``conftest.py``).
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from _seizure import corpus_of, database_dump, hits
from _served_org import Org
from _tools import require_tool
from shoal import crypto
from shoal import org as orgmod
from shoal.crypto._envelope import open_item as unframe
from shoal.server import load_config
from shoal.store import FileBlobStore, create_db_engine, schema, session_factory

DOOR = "news"
MESSAGE = "The convoy passed the bridge at dawn: canary-7f3a."
CONTENT_CANARY = b"canary-content-3be0"
FILE_BYTES = CONTENT_CANARY + os.urandom(5 * 1024 * 1024 - 3)
FILE_NAME = "canary-photo-91c2.jpg"
REPLY = "Thank you. Stay safe; canary-reply-55d1."


def first_contact(org: Org) -> tuple[str, str]:
    answer = httpx.post(f"{org.url}/api/v1/doors/{DOOR}/contacts", timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["codename"], answer.json()["session"]


def submit(org: Org, session: str) -> list[str]:
    answer = httpx.post(
        f"{org.url}/api/v1/doors/{DOOR}/submissions",
        headers={"Authorization": f"Bearer {session}"},
        data={"message": MESSAGE},
        files=[("files", (FILE_NAME, FILE_BYTES, "image/jpeg"))],
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    items: list[str] = answer.json()["items"]
    return items


def replies(org: Org, codename: str) -> list[str]:
    login = httpx.post(
        f"{org.url}/api/v1/doors/{DOOR}/sessions", json={"codename": codename}, timeout=30
    )
    assert login.status_code == 201, login.text
    answer = httpx.get(
        f"{org.url}/api/v1/doors/{DOOR}/replies",
        headers={"Authorization": f"Bearer {login.json()['session']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [r["text"] for r in answer.json()["replies"]]


def handler_keystore(org: Org) -> crypto.Keystore:
    passphrase = (org.root / "passphrases" / f"desk-{DOOR}.passphrase").read_text().strip()
    data = (org.root / f"desk-{DOOR}" / "keystore.age").read_bytes()
    return crypto.open_keystore(data, passphrase)


def contact_of(org: Org) -> schema.Contact:
    engine = create_db_engine(load_config(org.root / "server").database)
    with session_factory(engine)() as db:
        contact = db.scalars(select(schema.Contact)).one()
    engine.dispose()
    return contact


def test_contact_writes_handler_reads_and_answers_contact_reads(org: Org, tmp_path: Path) -> None:
    codename, session = first_contact(org)
    assert len(submit(org, session)) == 2

    org.desk(DOOR, "sync")
    listing = org.desk(DOOR, "list").stdout
    assert "vouched for by the server only" in listing
    assert FILE_NAME in listing or "file" in listing

    export = tmp_path / "export"
    org.desk(DOOR, "export", str(export))
    exported = {p.name: p.read_bytes() for p in export.rglob("*") if p.is_file()}
    assert FILE_BYTES in exported.values()
    assert any(MESSAGE.encode() in data for data in exported.values())

    contact = contact_of(org)
    org.desk(DOOR, "reply", contact.id, "--message", REPLY)
    assert replies(org, codename) == [REPLY]
    # The reply also reaches the compartment's desks, signed by its handler.
    org.desk(DOOR, "sync")
    reply_lines = [line for line in org.desk(DOOR, "list").stdout.splitlines() if "reply" in line]
    assert len(reply_lines) == 1 and "signed by handler" in reply_lines[0]

    # Seized now, after every flow: nothing the contact sent or was sent,
    # and not the codename, is on the server's disk, in its temporary
    # directory or in its output, in any encoding.
    org.stop()
    corpus = corpus_of(org.root / "server", org.server_tmp, org.server_log)
    corpus |= database_dump(org.root / "server")
    for secret in (MESSAGE, FILE_NAME, CONTENT_CANARY.decode(), REPLY, codename):
        assert hits(corpus, secret.encode()) == [], secret


def test_a_reply_forged_on_a_seized_server_is_not_believed(org: Org) -> None:
    codename, _session = first_contact(org)
    contact = contact_of(org)
    epoch = _current_epoch(org)
    recipients = [crypto.parse_recipient(contact.recipient), *epoch.recipients()]
    header = {
        "kind": "reply",
        "time": "2026-11-23T12:00:00Z",
        "contact": contact.id,
        "compartment": epoch.compartment_id,
        "handler": epoch.handlers[0].handler_id,
    }
    unsigned = crypto.encrypt_item(recipients, header, b"Come to the station alone.")
    impostor = crypto.encrypt_item(
        recipients, header, b"Bring the others.", crypto.SigningKey.generate()
    )
    # The seized server writes them as if a handler had uploaded them.
    blobs = FileBlobStore(org.root / "server" / "blobs")
    engine = create_db_engine(load_config(org.root / "server").database)
    with session_factory(engine)() as db, db.begin():
        for forged in (unsigned, impostor):
            ref = blobs.put([forged])
            db.add(
                schema.Item(
                    id=orgmod.new_id(),
                    compartment_id=epoch.compartment_id,
                    contact_id=contact.id,
                    direction="out",
                    blob_id=ref.blob_id,
                    size=ref.size,
                    day=date.today(),
                )
            )
    engine.dispose()
    assert replies(org, codename) == []
    org.desk(DOOR, "sync")
    listing = org.desk(DOOR, "list").stdout
    forged_lines = [line for line in listing.splitlines() if "reply" in line]
    assert len(forged_lines) == 2
    assert all("signed by handler" not in line for line in forged_lines)
    assert all("REJECTED" in line.upper() or "FORGED" in line.upper() for line in forged_lines)


def _current_epoch(org: Org) -> orgmod.Epoch:
    engine = create_db_engine(load_config(org.root / "server").database)
    with session_factory(engine)() as db:
        notes = list(db.scalars(select(schema.Note)))
    engine.dispose()
    by_kind = {n.kind: n.body for n in notes}
    root = crypto.NoteVerifier.parse(org.shown["root key"])
    organization = orgmod.verify_organization(by_kind[orgmod.ORG_KIND], root)
    command = orgmod.verify_command(by_kind[orgmod.COMMAND_KIND], root, organization)
    for note in (n for n in notes if n.kind == orgmod.EPOCH_KIND):
        epoch = orgmod.verify_epoch(note.body, command, organization, now=datetime.now(UTC))
        if epoch.door == DOOR:
            return epoch
    raise AssertionError("no epoch for the door")


def test_a_classic_organizations_file_opens_with_the_age_command(
    classic_org: Org, tmp_path: Path
) -> None:
    age = require_tool("age", "a classic organization's files must open with Debian's age")
    _codename, session = first_contact(classic_org)
    submit(classic_org, session)
    identity = handler_keystore(classic_org).identities[0]
    assert isinstance(identity, crypto.X25519Identity)
    key_file = tmp_path / "handler.key"
    key_file.write_text(identity.secret_string() + "\n")
    blobs = [p for p in (classic_org.root / "server" / "blobs").rglob("*") if p.is_file()]
    blobs = [p for p in blobs if p.parent.name != "tmp"]
    opened = [
        subprocess.run(
            [age, "-d", "-i", str(key_file), str(blob)], capture_output=True, check=True
        ).stdout
        for blob in blobs
    ]
    # What age gives back is the documented item envelope (docs/api.md).
    contents = {unframe(plain)[1] for plain in opened}
    assert contents == {FILE_BYTES, MESSAGE.encode()}
