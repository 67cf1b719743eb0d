"""Members' signed reports on the desk, end to end: a real ``shoal serve``
(the demo organization), members sending through the real upload and
alarm routes, the handler's ``shoal desk`` command line and the unlocked
desk (:class:`Workbench`) reading what arrived.

Signed by the key recorded at vetting: signed; by another key, or by
none: forged, and nothing of it shown; before any key is recorded:
vouched for by the server only, until the key is recorded — then judged
again. A key offer is shown to compare out of band; a duress alarm, which
the server files under no contact, is matched to the member by key.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import httpx
import pytest

from _served_org import Org
from member_kit import DeskDir, Member
from shoal import crypto
from shoal.desk import _lifecycle as lifecycle
from shoal.desk._verdict import DURESS
from shoal.desk._workbench import Workbench
from shoal.desk.ui._app import Desk, create_app
from shoal.desk.ui._guard import Tokens

SIGNED = "signed by the member's key recorded at vetting"
UNRECORDED = "signed by a key not yet recorded at vetting: vouched for by the server only"
TEXT = "CANARY-report-two-trucks-at-the-depot-5c1e"
PLACE = {"lat": 47.0105, "lon": 28.8638, "cell_m": 500}


class Quiet:
    def expect(self, count: int) -> None:
        pass

    def advance(self) -> None:
        pass


@pytest.fixture
def desk(served: Org) -> DeskDir:
    found = DeskDir.of(served)
    if not (found.folder / "index.json").exists():
        found.run("sync")
    return found


def vetted(desk: DeskDir, member: Member, contact: str) -> None:
    """The handler compares the key with the member out of band and records it."""
    desk.run("move", contact, "in-contact", "--reason", "answered")
    refused = desk.run(
        "move", contact, "vetting", "--reason", "r", "--member-key", "nope", check=False
    )
    assert refused.exit_code == 2 and "base64 Ed25519 key" in refused.output
    recorded = desk.run("move", contact, "vetting", "--reason", "met, key compared",
                        "--member-key", member.key_text)  # fmt: skip
    assert f"Member key {member.key_text} recorded" in recorded.stdout


def test_a_report_signed_by_the_recorded_key_is_shown_with_its_files(
    desk: DeskDir, served: Org
) -> None:
    member = Member(served)
    epoch = desk.trust().current
    offer = member.offer_key(epoch)
    desk.run("sync")
    lines = desk.list_lines()
    assert (
        f"offers signing key {member.key_text} — compare it with the member out of band"
        in (lines[offer])
    )
    contact = lines[offer].split("contact ")[1].split()[0]
    vetted(desk, member, contact)

    report_id, item, files = member.report(
        epoch, TEXT, {"photo.jpg": b"\xff\xd8 jpeg bytes", "notes.pdf": b"%PDF-1.4 x"}, place=PLACE
    )
    out = desk.run("sync").output
    assert "ALARM" not in out and "warning" not in out
    lines = desk.list_lines()
    assert SIGNED in lines[item] and f"contact {contact}" in lines[item]
    assert all(SIGNED in lines[f] and " report-file " in lines[f] for f in files)
    assert f"signing key {member.key_text}, recorded at vetting" in lines[offer]

    shown = desk.run("read", item).stdout
    assert "place: 47.01050, 28.86380 (grid cell 500 m)" in shown
    assert f"report {report_id}: 2 of 2 file(s) arrived" in shown
    assert "'photo.jpg'" in shown and "'notes.pdf'" in shown
    assert shown.rstrip().endswith(TEXT)
    assert f"part of report {report_id}" in desk.run("read", files[0]).stdout

    # The unlocked desk: the conversation shows the report, its place and its files under it.
    bench = Workbench.unlock(desk.layout, desk.passphrase_file.read_text().strip())
    try:
        bench.sync(Quiet(), Quiet())
        row = bench.library.item(item)
        assert row is not None
        assert (row.standing, row.verdict, row.text, row.report) == (
            "signed",
            SIGNED,
            TEXT,
            report_id,
        )
        assert (row.place, row.cell) == ((47.0105, 28.8638), 500)
        page = conversation(desk, bench, contact)
        assert TEXT in page and "(grid cell 500 m)" in page and SIGNED in page
        nested = page.split('class="report-files"')[1]
        assert all(f'id="item-{f}"' in nested for f in files)
        assert "photo.jpg" in nested
    finally:
        bench.close()


def conversation(desk: DeskDir, bench: Workbench, contact: str) -> str:
    """The conversation page, from the desk UI's own app (its guard, which
    a real browser passes, is tested in test_desk_ui_guard)."""
    ui = Desk(desk.layout, idle_seconds=600, export_dir=desk.folder.parent / "exports")
    ui.workbench = bench

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(ui, Tokens()))
        async with httpx.AsyncClient(transport=transport, base_url="http://desk") as client:
            return await client.get(f"/contacts/{contact}")

    page = asyncio.run(get())
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def test_reports_signed_by_another_key_or_by_none_are_forged(desk: DeskDir, served: Org) -> None:
    member = Member(served)
    epoch = desk.trust().current
    offer = member.offer_key(epoch)
    desk.run("sync")
    contact = desk.list_lines()[offer].split("contact ")[1].split()[0]
    vetted(desk, member, contact)

    stolen = crypto.SigningKey.generate()
    forged = member.upload(
        member.seal(epoch, "report", b"forged text", signer=stolen, report="a" * 32, parts=1),
        epoch.number,
    )
    unsigned = member.upload(
        member.seal(epoch, "report", b"unsigned text", signer=None, report="b" * 32, parts=1),
        epoch.number,
    )
    elsewhere = member.upload(
        member.seal(epoch, "report", b"x", report="c" * 32, parts=1, compartment="e" * 32),
        epoch.number,
    )
    desk.run("sync")
    lines = desk.list_lines()
    assert (
        "FORGED: signed by another key than the member's recorded at vetting — rejected"
        in (lines[forged])
    )
    assert "FORGED: a member's report without a signature — rejected" in lines[unsigned]
    assert "FORGED: a member's report sealed for another compartment — rejected" in lines[elsewhere]
    refused = desk.run("read", forged, check=False)
    assert refused.exit_code == 1 and "forged text" not in refused.output


def test_a_report_before_the_key_is_recorded_is_judged_again_once_it_is(
    desk: DeskDir, served: Org
) -> None:
    member = Member(served)
    epoch = desk.trust().current
    _, item, _ = member.report(epoch, "seen before vetting", {})
    desk.run("sync")
    line = desk.list_lines()[item]
    assert UNRECORDED in line
    contact = line.split("contact ")[1].split()[0]

    bench = Workbench.unlock(desk.layout, desk.passphrase_file.read_text().strip())
    try:
        bench.sync(Quiet(), Quiet())
        row = bench.library.item(item)
        assert row is not None and (row.standing, row.verdict) == ("server-only", UNRECORDED)
        bench.move(contact, lifecycle.State.IN_CONTACT, "answered")
        bench.move(contact, lifecycle.State.VETTING, "key compared", member.key_text)
        row = bench.library.item(item)
        assert row is not None and (row.standing, row.verdict, row.text) == (
            "signed", SIGNED, "seen before vetting"
        )  # fmt: skip
        thread = bench.library.conversation(contact)
        assert [r.item_id for r in thread] == [item]  # judged again, not added again
        assert bench.library.contact(contact).total == 1  # type: ignore[union-attr]
    finally:
        bench.close()
    assert SIGNED in desk.list_lines()[item]

    # What the vault kept survives a lock and an unlock.
    again = Workbench.unlock(desk.layout, desk.passphrase_file.read_text().strip())
    try:
        row = again.library.item(item)
        assert row is not None and row.verdict == SIGNED
    finally:
        again.close()


def test_a_key_recorded_with_another_value_turns_reports_forged(desk: DeskDir, served: Org) -> None:
    member = Member(served)
    epoch = desk.trust().current
    _, item, _ = member.report(epoch, "signed with the device key", {})
    desk.run("sync")
    contact = desk.list_lines()[item].split("contact ")[1].split()[0]
    other = Member(served)  # the handler records the wrong key by mistake
    desk.run("move", contact, "in-contact", "--reason", "r")
    desk.run("move", contact, "vetting", "--reason", "r", "--member-key", other.key_text)
    assert "FORGED: signed by another key" in desk.list_lines()[item]


def test_an_alarm_is_a_warning_naming_the_member_and_an_item_in_their_thread(
    desk: DeskDir, served: Org
) -> None:
    member = Member(served)
    epoch = desk.trust().current
    offer = member.offer_key(epoch)
    desk.run("sync")
    contact = desk.list_lines()[offer].split("contact ")[1].split()[0]
    vetted(desk, member, contact)

    member.alarm(member.seal(epoch, "alarm"))
    stranger = Member(served)
    stranger.alarm(stranger.seal(epoch, "alarm"))
    synced = desk.run("sync")
    alarms = [line for line in synced.stderr.splitlines() if "ALARM" in line]
    assert len(alarms) == 2, synced.output
    assert any(f"ALARM: {DURESS}: contact {contact}" in a for a in alarms)
    assert any("a duress alarm: FORGED: an alarm signed by no member key" in a for a in alarms)
    duress = [line for line in desk.list_lines().values() if " alarm " in line]
    assert any(f"contact {contact}" in line and DURESS in line for line in duress)

    bench = Workbench.unlock(desk.layout, desk.passphrase_file.read_text().strip())
    try:
        report = bench.sync(Quiet(), Quiet())
        assert not [
            w for w in report.warnings if "ALARM" in w
        ]  # told once, at the sync that met it
        [alarm] = [r for r in bench.library.conversation(contact) if r.kind == "alarm"]
        assert (alarm.standing, alarm.text) == ("signed", DURESS)
        assert 'class="item in unread standing-signed alarm"' in conversation(desk, bench, contact)
    finally:
        bench.close()


def test_the_alarm_of_a_member_vetted_on_another_desk_is_not_called_forged(
    desk: DeskDir, served: Org, tmp_path: Path
) -> None:
    """The key was recorded since this desk last read the member's record:
    an alarm matching no key this desk knows makes it read every record."""
    member = Member(served)
    epoch = desk.trust().current
    offer = member.offer_key(epoch)
    desk.run("sync")
    contact = desk.list_lines()[offer].split("contact ")[1].split()[0]
    vetted(desk, member, contact)
    (desk.folder / "members.age").unlink()  # as if vetted on another desk
    member.alarm(member.seal(epoch, "alarm"))
    synced = desk.run("sync")
    assert f"ALARM: {DURESS}: contact {contact}" in synced.stderr
    assert re.search(r"FORGED", synced.stderr) is None
