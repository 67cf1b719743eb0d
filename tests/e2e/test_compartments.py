"""Compartments that hold, over real HTTP against a real ``shoal serve``,
every role through the real command line: cutting ties with a handler
(signed at once: nothing new is sealed to them) and with a contact (their
codename refused like a wrong one), moved along its signed lifecycle."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from _served_org import Org, serve_demo, shoal
from shoal import crypto, trusted
from shoal.org import _tlog as tlog
from shoal.server import load_config
from shoal.store import create_db_engine, schema, session_factory

DOOR = "news"


def write(org: Org) -> str:
    """A new contact who wrote once; their codename."""
    made = httpx.post(f"{org.url}/api/v1/doors/{DOOR}/contacts", timeout=30).json()
    sent = httpx.post(
        f"{org.url}/api/v1/doors/{DOOR}/submissions",
        headers={"Authorization": f"Bearer {made['session']}"},
        files=[("message", (None, "seen at the station"))],
        timeout=30,
    )
    assert sent.status_code == 201, sent.text
    return str(made["codename"])


def login_answer(org: Org, codename: str) -> tuple[int, str]:
    answer = httpx.post(
        f"{org.url}/api/v1/doors/{DOOR}/sessions", json={"codename": codename}, timeout=30
    )
    return answer.status_code, answer.text


def test_a_contact_moves_through_its_lifecycle_and_is_cut(org: Org) -> None:
    codename = write(org)
    [item] = org.new_desk_items(DOOR, [])
    contact = item.contact
    moved = org.desk(DOOR, "move", contact, "in-contact", "--reason", "answered, consistent")
    assert f"Contact {contact}: new → in-contact." in moved.stdout
    org.desk(DOOR, "move", contact, "vetting", "--reason", "offered transport")
    shown = org.desk(DOOR, "state", contact).stdout
    assert f"contact {contact}: vetting" in shown and "offered transport" in shown
    wrong = login_answer(org, crypto.generate_codename())
    assert login_answer(org, codename)[0] == 201

    org.desk(DOOR, "move", contact, "cut", "--reason", "their reports never checked out")

    assert login_answer(org, codename) == wrong  # refused exactly like a wrong codename
    assert "contact " + contact + ": cut" in org.desk(DOOR, "state", contact).stdout
    refused = org.desk(DOOR, "reply", contact, "--message", "hello", check=False)
    assert refused.returncode == 1 and "are cut" in refused.stderr
    # What they sent stays with the organization.
    assert [i.item_id for i in org.desk_items(DOOR)] == [item.item_id]


def test_a_removed_handler_is_refused_and_nothing_new_is_sealed_to_them(org: Org) -> None:
    write(org)
    org.desk(DOOR, "sync")
    passphrase = (org.root / "passphrases" / f"desk-{DOOR}.passphrase").read_text().strip()
    keystore = trusted.unlock_keystore(org.root / f"desk-{DOOR}" / "keystore.age", passphrase)
    handler_id = trusted.Enrollment.parse(
        (org.root / f"desk-{DOOR}" / "enrollment.txt").read_text()
    ).handler_id
    command_dir = org.root / "command"
    command_pass = org.root / "passphrases" / "command.passphrase"

    removed = shoal(
        "command", "handler", "remove", "--dir", str(command_dir), "--door", DOOR,
        "--handler", handler_id, "--passphrase-file", str(command_pass),
    )  # fmt: skip
    assert "Epoch 2 of 'news': 0 handler(s) and command and escrow" in removed.stdout
    note = command_dir / "notes" / f"epoch-{DOOR}-2.note"
    shoal("admin", "import", "--data", str(org.root / "server"), str(note))

    # Their key is refused from the next request on.
    refused = org.desk(DOOR, "sync", check=False)
    assert refused.returncode == 1
    assert "the server refused the login (401)" in refused.stderr
    # Everything sent from now on is sealed without them.
    write(org)
    blobs = [p for p in (org.root / "server" / "blobs").rglob("*") if p.is_file()]
    newest = max(blobs, key=lambda p: p.stat().st_mtime_ns)
    sealed = newest.read_bytes()
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(sealed, list(keystore.identities))
    escrow = crypto.parse_identity((org.root / "passphrases" / "escrow.key").read_text().strip())
    assert crypto.decrypt_item(sealed, [escrow])[1] == b"seen at the station"


def test_the_audit_log_records_each_step_and_catches_a_rollback(org: Org, tmp_path: Path) -> None:
    write(org)
    [item] = org.new_desk_items(DOOR, [])
    moved = org.desk(DOOR, "move", item.contact, "in-contact", "--reason", "a first answer")
    assert "Audit entry 0 recorded." in moved.stdout
    org.desk(DOOR, "move", item.contact, "vetting", "--reason", "offered help")
    assert "ALARM" not in org.desk(DOOR, "sync").stderr

    # Command reads the steps (never message contents) from exported entries.
    exported = tmp_path / "entries"
    org.desk(DOOR, "audit-export", str(exported))
    entries = sorted(exported.iterdir())
    assert [p.name for p in entries] == ["audit-0.age", "audit-1.age"]
    command_pass = org.root / "passphrases" / "command.passphrase"
    heads = tmp_path / "heads.json"
    gathered = shoal(
        "command", "audit-heads", "--dir", str(org.root / "command"),
        "--passphrase-file", str(command_pass), "--out", str(heads), *map(str, entries),
    )  # fmt: skip
    assert "'news' handler" in gathered.stdout and "size 1" in gathered.stdout
    compared = org.desk(DOOR, "audit-compare", str(heads))
    assert "head(s) share this desk's history" in compared.stdout

    # A seizer drops the last entry and rebuilds the head: the desk notices.
    engine = create_db_engine(load_config(org.root / "server").database)
    with session_factory(engine)() as db:
        rows = sorted(db.query(schema.AuditEntry).all(), key=lambda r: r.idx)
        db.delete(rows[-1])
        db.query(schema.AuditNode).delete()
        state = tlog.LogState()
        for row in rows[:-1]:
            state, _ = state.append(row.leaf)
        head = db.get(schema.AuditHead, 1)
        assert head is not None
        head.size, head.edge = state.size, b"".join(state.edge)
        db.commit()
    engine.dispose()
    alarmed = org.desk(DOOR, "sync")
    assert "ALARM: audit log rolled back: this desk has seen 2 entries" in alarmed.stderr


def test_retention_deletes_from_the_server_what_the_desk_holds(tmp_path: Path) -> None:
    """Retention 0 days: the desk's sync report lets the server delete what
    every handler of the compartment holds; the desk keeps its copies."""
    served = serve_demo(tmp_path, settings={"retention_days": 0})
    try:
        write(served)
        blobs = served.root / "server" / "blobs"

        def stored() -> int:
            return sum(1 for p in blobs.rglob("*") if p.is_file() and p.parent.name != "tmp")

        assert stored() == 1
        [item] = served.new_desk_items(DOOR, [])  # the sync reports, the server deletes
        assert stored() == 0
        assert [i.item_id for i in served.desk_items(DOOR)] == [item.item_id]
        read = served.desk(DOOR, "read", item.item_id)
        assert "seen at the station" in read.stdout
    finally:
        served.stop()
