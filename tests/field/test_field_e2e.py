"""The member's field client end to end: the real ``shoal field`` command
line against a real ``shoal serve`` process over HTTP, and the handler's
real desk on the other side (``_served_org``)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

import _seizure
import _tools
from _served_org import DeskLine, Org, free_port, serve_demo, shoal
from _server_config import read_server_config
from _tiers import sized
from shoal import crypto, org
from shoal.server import load_config
from shoal.store import create_db_engine, schema

DOOR = "news"
CANARY = "canary-field-7c1e tanks seen at the bridge"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """One organization for the module (building one takes seconds); each
    test works with contacts of its own and looks only at new items."""
    served = serve_demo(tmp_path_factory.mktemp("field-org"))
    try:
        yield served
    finally:
        served.stop()


class Member:
    """One member's device: a field client directory and its secrets."""

    def __init__(self, served: Org, folder: Path, codename: str) -> None:
        self.served = served
        self.folder = folder
        self.passphrase = folder.parent / f"{folder.name}.passphrase"
        self.passphrase.write_text("correct horse battery staple\n")
        self.codename_file = folder.parent / f"{folder.name}.codename"
        self.codename_file.write_text(codename + "\n")
        self.codename = codename

    def run(self, command: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        passphrase = [] if command == "wipe" else ["--passphrase-file", str(self.passphrase)]
        words = command.split()  # "duress enable": a group's command
        done = shoal("field", *words, "--dir", str(self.folder), *passphrase, *args, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"shoal field {command} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def enroll(
        self, *extra: str, fingerprint: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return shoal(
            "field", "enroll", "--dir", str(self.folder), "--server", self.served.url,
            "--door", DOOR, "--fingerprint", fingerprint or fingerprint_of(self.served),
            "--codename-file", str(self.codename_file),
            "--passphrase-file", str(self.passphrase), "--work-factor", "10",
            "--delay", "0", *extra, check=False,
        )  # fmt: skip


def fingerprint_of(served: Org) -> str:
    return org.root_fingerprint(crypto.NoteVerifier.parse(served.shown["root key"]))


def synced_items(served: Org) -> list[DeskLine]:
    """Everything the handler's desk holds now (after a sync)."""
    served.desk(DOOR, "sync")
    return served.desk_items(DOOR)


def new_contact(served: Org) -> str:
    made = httpx.post(f"{served.url}/api/v1/doors/{DOOR}/contacts", timeout=30)
    assert made.status_code == 201, made.text
    return str(made.json()["codename"])


def enrolled(served: Org, tmp_path: Path, name: str = "member") -> Member:
    member = Member(served, tmp_path / name, new_contact(served))
    done = member.enroll()
    assert done.returncode == 0, done.stderr
    return member


def vetted(served: Org, tmp_path: Path) -> tuple[Member, str]:
    """An enrolled member whose key the handler recorded at vetting; the contact id."""
    member = enrolled(served, tmp_path)
    key = member.run("key").stdout.strip()
    before = synced_items(served)
    member.run("send", "--now")
    [offer] = served.new_desk_items(DOOR, before)
    assert "offers signing key" in offer.verdict and key in offer.verdict
    contact = offer.contact
    served.desk(DOOR, "move", contact, "in-contact", "--reason", "wrote")
    served.desk(DOOR, "move", contact, "vetting", "--reason", "met", "--member-key", key)
    return member, contact


def photo_with_gps(path: Path) -> Path:
    exiftool = _tools.require_tool("exiftool", "checks that photos lose their metadata")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, "JPEG", quality=95)
    subprocess.run(
        [exiftool, "-overwrite_original", "-GPSLatitude=50.4501", "-GPSLatitudeRef=N",
         "-GPSLongitude=30.5234", "-GPSLongitudeRef=E", "-SerialNumber=SN-998877",
         "-Artist=Oksana Member", "-Make=PhoneCo", "-Model=Phone 9",
         "-DateTimeOriginal=2026:11:20 06:15:00", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def exif_tags(path: Path) -> dict[str, object]:
    exiftool = _tools.require_tool("exiftool", "checks that photos lose their metadata")
    out = subprocess.run(
        [exiftool, "-json", "-a", "-G1", str(path)], check=True, capture_output=True, text=True
    ).stdout
    tags: dict[str, object] = json.loads(out)[0]
    return {k: v for k, v in tags.items() if not k.startswith(("System:", "File:", "ExifTool:"))}


def export(served: Org, target: Path) -> None:
    """``desk export``; the shared organization holds a forged report, which
    the export refuses to write out (and so exits 1, saying only that)."""
    done = served.desk(DOOR, "export", str(target), check=False)
    refused = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 0 or all(
        "FORGED" in line or "not exported" in line for line in refused
    ), done.stderr


def every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


# -- enrolment ------------------------------------------------------------


def test_enrolment_refuses_a_server_whose_key_does_not_match(served: Org, tmp_path: Path) -> None:
    member = Member(served, tmp_path / "member", new_contact(served))
    wrong = "0000-1111-2222-3333-4444-5555-6666-7777"
    done = member.enroll(fingerprint=wrong)
    assert done.returncode == 1
    assert "does not match the fingerprint" in done.stderr
    assert not member.folder.exists() or not any(member.folder.iterdir())


def test_enrolment_refuses_a_wrong_codename(served: Org, tmp_path: Path) -> None:
    member = Member(served, tmp_path / "member", crypto.generate_codename())
    done = member.enroll()
    assert done.returncode == 1 and "refused" in done.stderr


# -- reports --------------------------------------------------------------


def test_a_signed_report_with_a_photo_reaches_the_desk_scrubbed_and_verified(
    served: Org, tmp_path: Path
) -> None:
    member, contact = vetted(served, tmp_path)
    photo = photo_with_gps(tmp_path / "IMG_0042.jpg")
    assert any("GPS" in k for k in exif_tags(photo))
    before = synced_items(served)

    made = member.run(
        "report", "--text", CANARY, "--file", str(photo), "--time", "2026-11-20T06:15",
        "--lat", "50.4501", "--lon", "30.5234", "--cell", "1000",
    )  # fmt: skip
    assert "centre of a 1000 m cell" in made.stdout
    # Sealed the moment it was saved: nothing readable on the device.
    on_device = every_byte(member.folder)
    assert CANARY.encode() not in on_device and b"Oksana" not in on_device
    assert "50.4501" not in made.stdout

    member.run("send", "--now")
    new = served.new_desk_items(DOOR, before)
    assert {line.kind for line in new} == {"report", "report-file"}
    assert all(line.contact == contact for line in new)
    assert all("signed by the member" in line.verdict for line in new), new
    report = next(line for line in new if line.kind == "report")
    shown = served.desk(DOOR, "read", report.item_id).stdout
    assert CANARY in shown and "2026-11-20T06:15:00Z" in shown
    assert "50.4501" not in shown and "grid cell 1000 m" in shown

    exported = tmp_path / "export"
    export(served, exported)
    [photo_out] = [p for p in exported.rglob("*IMG_0042*")]
    left = exif_tags(photo_out)
    assert not [k for k in left if "GPS" in k or "Serial" in k or "Artist" in k or "Model" in k], (
        left
    )
    assert not [k for k in left if "DateTime" in k], left


def test_a_report_signed_by_another_key_is_rejected_as_forged(served: Org, tmp_path: Path) -> None:
    member, _ = vetted(served, tmp_path)
    # An impostor who got the codename enrols a device of their own: their
    # key is not the one the handler recorded.
    impostor = Member(served, tmp_path / "impostor", member.codename)
    assert impostor.enroll().returncode == 0
    before = synced_items(served)
    impostor.run("report", "--text", "the bridge is safe, go now")
    impostor.run("send", "--now")
    new = served.new_desk_items(DOOR, before)
    forged = [line for line in new if line.kind == "report"]
    assert forged and all("FORGED" in line.verdict for line in forged), new


def test_unscrubbable_files_are_refused_and_nothing_is_queued(served: Org, tmp_path: Path) -> None:
    member = enrolled(served, tmp_path)
    member.run("send", "--now")
    blob = tmp_path / "notes.bin"
    blob.write_bytes(os.urandom(4096))
    refused = member.run("report", "--text", "x", "--file", str(blob), check=False)
    assert refused.returncode == 1 and "notes.bin" in refused.stderr
    assert "The outbox is empty." in member.run("outbox").stdout


def test_a_draft_is_sealed_to_the_member_then_finished(served: Org, tmp_path: Path) -> None:
    member, _ = vetted(served, tmp_path)
    photo = photo_with_gps(tmp_path / "draft.jpg")
    saved = member.run("report", "--draft", "--text", CANARY, "--file", str(photo))
    draft_id = saved.stdout.split()[1]
    assert CANARY.encode() not in every_byte(member.folder)
    assert draft_id in member.run("drafts").stdout
    before = synced_items(served)
    member.run("finish", draft_id)
    assert member.run("drafts").stdout.strip() == ""
    member.run("send", "--now")
    new = served.new_desk_items(DOOR, before)
    assert sorted(line.kind for line in new) == ["report", "report-file"]
    assert all("signed by the member" in line.verdict for line in new)


# -- the outbox -----------------------------------------------------------


@contextmanager
def _received(served: Org) -> Iterator[Callable[[], int]]:
    """Reads the bytes the server counts for the upload under way (its
    pieces), through one engine: opening one per look took longer than a
    16 MiB piece takes over loopback, and the send could end unseen."""
    engine = create_db_engine(load_config(served.root / "server").database)
    try:

        def received() -> int:
            with engine.connect() as db:
                return int(db.scalar(select(func.max(schema.Upload.received))) or 0)

        yield received
    finally:
        engine.dispose()


#: The interrupted upload: 200 MiB in make test-long; in make test, enough
#: pieces before and after the cut to show it resumes mid-file.
LARGE_MIB = sized(48, 200)


def test_an_interrupted_large_upload_resumes_where_it_stopped(served: Org, tmp_path: Path) -> None:
    member, _ = vetted(served, tmp_path)
    big = tmp_path / "footage.bin"
    with big.open("wb") as out:
        for _ in range(LARGE_MIB):
            out.write(os.urandom(1 << 20))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    member.run("report", "--text", "long footage", "--file-as-is", str(big))
    big.unlink()
    before = synced_items(served)

    sending = subprocess.Popen(
        [sys.executable, "-m", "shoal", "field", "send", "--dir", str(member.folder),
         "--passphrase-file", str(member.passphrase), "--now"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    with _received(served) as received:
        while time.monotonic() < deadline:
            if received() >= (LARGE_MIB << 20) // 4:
                break
            assert sending.poll() is None, "the send ended before it could be cut"
            time.sleep(0.002)
        else:
            pytest.fail("the upload never got under way")
        sending.send_signal(signal.SIGKILL)
        sending.wait(timeout=30)
        cut_at = received()
    assert 0 < cut_at < LARGE_MIB << 20

    resumed = member.run("send", "--now")
    assert "Sent 1 report(s)" in resumed.stdout
    assert "resumed at" in resumed.stdout
    resumed_at = int(resumed.stdout.split("resumed at ")[1].split()[0])
    assert resumed_at >= cut_at >= (LARGE_MIB << 20) // 4  # not from the start
    new = served.new_desk_items(DOOR, before)
    assert sorted(line.kind for line in new) == ["report", "report-file"]
    exported = tmp_path / "export"
    export(served, exported)
    [copy] = list(exported.rglob("*footage.bin*"))
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    # Sent once: a second run finds nothing to send and the desk nothing new.
    assert "Sent 0 report(s); 0 waiting." in member.run("send", "--now").stdout
    assert served.new_desk_items(DOOR, synced_items(served)) == []


@pytest.fixture
def socks_proxy() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    microsocks = _tools.require_tool("microsocks", "the field client's SOCKS5 path")
    port = free_port()
    process = subprocess.Popen(
        [microsocks, "-i", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.3)
    try:
        yield f"socks5h://127.0.0.1:{port}", process
    finally:
        process.kill()
        process.wait()


def test_reports_go_through_a_socks5_proxy_and_wait_when_it_is_gone(
    served: Org, tmp_path: Path, socks_proxy: tuple[str, subprocess.Popen[bytes]]
) -> None:
    proxy, process = socks_proxy
    member = Member(served, tmp_path / "member", new_contact(served))
    done = member.enroll("--proxy", proxy)
    assert done.returncode == 0, done.stderr
    before = synced_items(served)
    assert "Sent 1 report(s)" in member.run("send", "--now").stdout
    assert len(served.new_desk_items(DOOR, before)) == 1

    process.kill()
    process.wait()
    member.run("report", "--text", "sent later")
    offline = member.run("send", "--now")
    assert "Not sent now" in offline.stderr and "tried again" in offline.stderr
    assert "0/1 part(s) sent" in member.run("outbox").stdout


def test_sends_after_a_random_delay(served: Org, tmp_path: Path) -> None:
    member = Member(served, tmp_path / "member", new_contact(served))
    assert member.enroll().returncode == 0
    member.run("send", "--now")
    slow = Member(served, tmp_path / "slow", member.codename)
    slow.passphrase.write_text(member.passphrase.read_text())
    assert slow.enroll("--delay", "30-60").returncode == 0
    slow.run("report", "--text", "wait for it")
    sent = slow.run("send")
    # The key offer (delay 0) went; the report waits its random delay.
    assert "Sent 1 report(s); 1 waiting." in sent.stdout


# -- messages from the handler ----------------------------------------------


def test_messages_are_verified_shown_and_deleted_everywhere(served: Org, tmp_path: Path) -> None:
    member, contact = vetted(served, tmp_path)
    served.desk(DOOR, "reply", contact, "--message", "Thank you. Stay away from the bridge.")
    shown = member.run("messages")
    assert "Stay away from the bridge" in shown.stdout and "signed by handler" in shown.stdout
    assert "No messages." in member.run("messages").stdout  # gone from the server
    assert "No messages." in member.run("messages", "--kept").stdout  # and from the device
    served.desk(DOOR, "reply", contact, "--message", "Meet as agreed.")
    member.run("messages", "--keep")
    assert "Meet as agreed." in member.run("messages", "--kept").stdout
    assert b"Meet as agreed." not in every_byte(member.folder)


# -- late reports ------------------------------------------------------------


def test_a_report_sealed_to_an_old_epoch_is_resealed_by_the_desk(
    served: Org, tmp_path: Path
) -> None:
    member, _ = vetted(served, tmp_path)
    member.run("report", "--text", "written offline")  # sealed to epoch 1
    command = served.root / "command"
    shoal(
        "command", "epoch", "--dir", str(command), "--door", DOOR,
        "--passphrase-file", str(served.root / "passphrases" / "command.passphrase"),
    )  # fmt: skip
    notes = sorted(str(p) for p in (command / "notes").glob("*.note"))
    shoal("admin", "import", "--data", str(served.root / "server"), *notes)
    before = synced_items(served)
    member.run("send", "--now")  # learns epoch 2, sends the late report as it is
    [late] = served.new_desk_items(DOOR, before)
    assert late.kind == "report" and "signed by the member" in late.verdict
    # The desk re-sealed it to epoch 2 on that sync; the server says so.
    assert _server_item_epochs(served)[late.item_id] == 2
    assert served.new_desk_items(DOOR, synced_items(served)) == []  # still one item


def _server_item_epochs(served: Org) -> dict[str, int]:
    from shoal.store import create_db_engine, schema, session_factory  # noqa: PLC0415

    engine = create_db_engine(read_server_config(served.root / "server")["database"])
    try:
        with session_factory(engine)() as db:
            return {i.id: i.epoch for i in db.query(schema.Item)}
    finally:
        engine.dispose()


# -- the device --------------------------------------------------------------


def test_duress_opens_a_decoy_destroys_the_store_and_warns_the_handler(
    served: Org, tmp_path: Path
) -> None:
    member, contact = vetted(served, tmp_path)
    member.run("report", "--text", CANARY)
    duress = tmp_path / "duress.passphrase"
    duress.write_text("grandmother's birthday\n")
    member.run(
        "duress enable", "--duress-passphrase-file", str(duress),
        "--decoy-note", "buy bread and milk",
    )  # fmt: skip
    before = synced_items(served)
    assert served.new_desk_items(DOOR, before) == []  # armed, not released

    opened = shoal(
        "field", "drafts", "--dir", str(member.folder), "--passphrase-file", str(duress),
        check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert "buy bread and milk" in opened.stdout
    real = member.run("drafts", check=False)
    assert real.returncode == 1 and "passphrase" in real.stderr.lower()

    synced = served.desk(DOOR, "sync")
    assert "DURESS" in synced.stdout + synced.stderr
    new = served.new_desk_items(DOOR, before)
    assert any(line.contact == contact and "DURESS" in line.verdict for line in new), new


def test_wipe_destroys_everything_in_seconds(served: Org, tmp_path: Path) -> None:
    member = enrolled(served, tmp_path)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(64 << 20))
    member.run("report", "--text", "x", "--file-as-is", str(big))
    started = time.monotonic()
    member.run("wipe", "--yes")
    assert time.monotonic() - started < 10
    assert not member.folder.exists() or not any(member.folder.rglob("*"))
    gone = member.run("outbox", check=False)
    assert gone.returncode == 1


def test_the_menu_writes_and_sends_a_report_step_by_step(served: Org, tmp_path: Path) -> None:
    member, contact = vetted(served, tmp_path)
    before = synced_items(served)
    steps = "\n".join(
        ["1", "seen from the menu", "two lines", "", "", "y", "50.45", "30.52", "1000",
         "2", "y", "q", ""]
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "shoal", "field", "menu", "--dir", str(member.folder),
         "--passphrase-file", str(member.passphrase)],
        input=steps, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sealed and queued" in done.stdout and "Sent 1" in done.stdout
    [line] = served.new_desk_items(DOOR, before)
    assert line.contact == contact and "signed by the member" in line.verdict
    assert "seen from the menu\ntwo lines" in served.desk(DOOR, "read", line.item_id).stdout


# -- the seized server -------------------------------------------------------


def test_the_server_holds_no_plaintext_of_any_member_flow(served: Org, tmp_path: Path) -> None:
    """Runs last in this module: after every flow above (reports, files,
    drafts, messages, key offers, duress), nothing of what members wrote,
    nor their codenames, is on the server's disk, in its temporary
    directory or in its log."""
    member, contact = vetted(served, tmp_path)
    photo = photo_with_gps(tmp_path / "seized.jpg")
    member.run("report", "--text", CANARY, "--file", str(photo), "--lat", "50.4501",
               "--lon", "30.5234", "--cell", "1000")  # fmt: skip
    member.run("send", "--now")
    served.desk(DOOR, "reply", contact, "--message", "reply-canary-5d2f keep safe")
    member.run("messages")
    served.stop()
    corpus = _seizure.corpus_of(served.root / "server", served.server_tmp, served.server_log)
    corpus |= _seizure.database_dump(served.root / "server")
    secrets = [
        CANARY,
        "reply-canary-5d2f",
        "Oksana Member",
        "SN-998877",
        "50.4501",
        member.codename,
    ]
    for secret in secrets:
        assert _seizure.hits(corpus, secret.encode()) == [], secret
