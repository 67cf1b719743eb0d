"""``shoal desk export``: exact bytes, safe names, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path

from desk_kit import Setup, file_item, message, reply_header

from shoal import crypto


def test_export_writes_exact_bytes_under_safe_names(setup: Setup, tmp_path: Path) -> None:
    content = os.urandom(300_000)
    recipients = setup.recipients()
    doc = setup.server.add_item(
        setup.compartment_id, file_item(recipients, "../../evil", content), contact=None
    )
    msg = setup.server.add_item(
        setup.compartment_id, message(recipients, "Привіт".encode()), contact=None
    )
    setup.desk.ok("sync")
    folder = tmp_path / "sandbox" / "export"

    out = setup.desk.ok("export", str(folder))

    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{doc}-evil", f"{msg}.txt"])
    assert (folder / f"{doc}-evil").read_bytes() == content
    assert (folder / f"{msg}.txt").read_bytes() == "Привіт".encode()
    assert not list(tmp_path.rglob("evil"))
    assert (folder / f"{doc}-evil").stat().st_mode & 0o077 == 0
    assert out.count("vouched for by the server only") == 2


def test_export_skips_forgeries_and_damaged_items_leaving_no_partial_file(
    setup: Setup, tmp_path: Path
) -> None:
    recipients = setup.recipients()
    contact = setup.server.add_contact(setup.compartment_id, crypto.generate_identity().recipient())
    header = reply_header(contact, setup.compartment_id, setup.desk.handler_id())
    forged = setup.server.add_item(
        setup.compartment_id, crypto.encrypt_item(recipients, header, b"FORGED"), contact=contact
    )
    damaged = setup.server.add_item(
        setup.compartment_id, file_item(recipients, "big.bin", os.urandom(200_000)), contact=None
    )
    good = setup.server.add_item(setup.compartment_id, message(recipients, b"ok"), contact=None)
    setup.desk.ok("sync")
    path = setup.desk.folder / "items" / f"{damaged}.age"
    data = bytearray(path.read_bytes())
    data[-1000] ^= 0x01  # in the last chunk: earlier chunks decrypt and are written first
    path.write_bytes(bytes(data))
    folder = tmp_path / "export"

    result = setup.desk.run("export", str(folder))

    assert result.exit_code == 1
    assert [p.name for p in folder.iterdir()] == [f"{good}.txt"]
    assert f"skipped: item {forged}: FORGED" in result.stderr
    assert f"skipped: item {damaged}: cannot be decrypted" in result.stderr
    assert "2 item(s) not exported" in result.output
