"""Files forwarded between compartments, cleaned of their metadata in a confined worker.

End to end: the demo organization behind a real ``shoal serve``; a contact
sends files to door "news"; news's handler forwards them, through the
real :class:`Workbench`, to door "field", whose desk syncs and reads them.
What the receiving desk holds is read back with exiftool. Then the worker
itself: refusals, a worker that lies or hangs, and its confinement, with
real processes as in ``test_imaging.py``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfWriter

from _served_org import Org, serve_demo
from _tools import require_tool
from shoal.desk import _confined, _scrubbing
from shoal.desk._scrubbing import MAX_FILE, ScrubRefused, scrub_confined
from shoal.desk._state import Layout
from shoal.desk._workbench import Workbench
from shoal.desk.errors import ForwardRefusedError

pytestmark = pytest.mark.timeout(120)

#: In every planted value, so that a leak shows anywhere.
MARKER = "Qzx"
AUTHOR = "Ivanka Qzxenko"
#: exiftool groups about the file on disk, not its content.
ON_DISK = frozenset({"System", "File", "ExifTool"})


# -- sample files ------------------------------------------------------------


def exiftool() -> str:
    return require_tool("exiftool", "what a forwarded file still says is read with exiftool")


def ffmpeg() -> str:
    return require_tool("ffmpeg", "the video is made, and cleaned, by ffmpeg")


def metadata(data: bytes, tmp: Path, suffix: str) -> dict[str, Any]:
    """What exiftool reads from ``data`` (every group, embedded documents too)."""
    path = tmp / f"read{suffix}"
    path.write_bytes(data)
    ran = subprocess.run(
        [exiftool(), "-json", "-a", "-G1", "-ee", str(path)], capture_output=True, check=True
    )
    (found,) = json.loads(ran.stdout)
    return {
        key: value
        for key, value in found.items()
        if key != "SourceFile" and key.split(":", 1)[0] not in ON_DISK
    }


def rich_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": AUTHOR, "/Title": "Qzx report", "/Producer": "QzxPDF 2"})
    writer.xmp_metadata = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:creator><rdf:Seq><rdf:li>{AUTHOR}</rdf:li></rdf:Seq></dc:creator>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>'
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
    'relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>'
)
_DOCX_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>The bridge is closed.</w:t></w:r></w:p></w:body></w:document>"
)
_DOCX_CORE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    f"<dc:creator>{AUTHOR}</dc:creator><cp:lastModifiedBy>{AUTHOR}</cp:lastModifiedBy>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">2024-03-01T12:00:00Z</dcterms:created>'
    "</cp:coreProperties>"
)


def rich_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _DOCX_TYPES)
        archive.writestr("_rels/.rels", _DOCX_RELS)
        archive.writestr("word/document.xml", _DOCX_BODY)
        archive.writestr("docProps/core.xml", _DOCX_CORE)
    return out.getvalue()


def rich_mp4(tmp: Path) -> bytes:
    """A one-second video whose metadata names a place, a title and a comment."""
    path = tmp / "made.mp4"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48:rate=5",
         "-c:v", "mpeg4", "-metadata", "location=+50.4500+030.5200/",
         "-metadata", "title=Qzx title", "-metadata", f"comment={AUTHOR}", "-y", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def leaks(found: dict[str, Any]) -> list[str]:
    """What in exiftool's reading names a person, a place, a tool or the marker."""
    words = ("Author", "Creator", "LastModifiedBy", "GPS", "Location", "Title", "Comment",
             "Producer", "XMP")  # fmt: skip
    return [
        f"{key}={value}"
        for key, value in found.items()
        if any(word.lower() in key.lower() for word in words)
        or MARKER.lower() in json.dumps(value).lower()
    ]


def inflated(data: bytes) -> bytes:
    """Every entry of a ZIP, inflated, joined: where a marker would hide."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


# -- two desks over a real server ---------------------------------------------


class Quiet:
    def expect(self, count: int) -> None:
        pass

    def advance(self) -> None:
        pass


def unlock(org: Org, door: str) -> Workbench:
    passphrase = (org.root / "passphrases" / f"desk-{door}.passphrase").read_text().strip()
    return Workbench.unlock(Layout(org.root / f"desk-{door}"), passphrase)


def send_files(org: Org, files: list[tuple[str, bytes]]) -> list[str]:
    """A new contact's submission to door news: a message and ``files``; the item ids."""
    made = httpx.post(f"{org.url}/api/v1/doors/news/contacts", timeout=30)
    assert made.status_code == 201, made.text
    parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("message", (None, b"Files from the field.", "text/plain; charset=utf-8"))
    ]
    parts += [("files", (name, data, "application/octet-stream")) for name, data in files]
    answer = httpx.post(
        f"{org.url}/api/v1/doors/news/submissions",
        headers={"Authorization": f"Bearer {made.json()['session']}"},
        files=parts,
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    items: list[str] = answer.json()["items"]
    return items


@dataclass
class Desks:
    org: Org
    news: Workbench
    field: Workbench

    def by_name(self, item_ids: list[str]) -> dict[str, str]:
        """The items of a submission as the news desk lists them: file name → id."""
        self.news.sync(Quiet(), Quiet())
        rows = [self.news.library.item(item_id) for item_id in item_ids]
        return {row.name: row.item_id for row in rows if row is not None and row.name}

    def received(self) -> dict[str, Any]:
        """What the field desk holds forwarded to it, after a sync: name → row."""
        self.field.sync(Quiet(), Quiet())
        return {row.name or row.text: row for row in self.field.library.forwards()}


@pytest.fixture(scope="module")
def desks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desks]:
    org = serve_demo(tmp_path_factory.mktemp("forward-scrub"))
    try:
        news, field = unlock(org, "news"), unlock(org, "field")
        try:
            yield Desks(org, news, field)
        finally:
            news.close()
            field.close()
    finally:
        org.stop()


def test_pdf_docx_and_mp4_arrive_without_their_metadata_and_say_what_was_removed(
    desks: Desks, tmp_path: Path
) -> None:
    files = {"report.pdf": rich_pdf(), "notes.docx": rich_docx(), "clip.mp4": rich_mp4(tmp_path)}
    for name, data in files.items():  # the samples do carry what must go
        assert leaks(metadata(data, tmp_path, Path(name).suffix)), name
    items = desks.by_name(send_files(desks.org, list(files.items())))
    assert set(items) == set(files)

    sent = {name: desks.news.forward(item_id, "field") for name, item_id in items.items()}

    assert {"PDF document info", "XMP"} <= set(sent["report.pdf"].scrubbed or ())
    received = desks.received()
    assert set(received) >= set(files)
    for name, original in files.items():
        row = received[name]
        assert row.standing == "signed" and row.contact is None, name
        data = b"".join(desks.field.stream(row.item_id))
        assert data != original
        found = metadata(data, tmp_path, Path(name).suffix)
        assert not leaks(found), (name, leaks(found))
        raw = inflated(data) if name.endswith(".docx") else data
        assert MARKER.encode() not in raw and b"50.45" not in raw, name
        # The receiving handler is told what the sending desk removed.
        assert row.source is not None and "; removed before forwarding: " in row.source, name
    assert "PDF document info" in received["report.pdf"].source
    assert (
        "The bridge is closed."
        in inflated(b"".join(desks.field.stream(received["notes.docx"].item_id))).decode()
    )
    assert "video metadata" in received["clip.mp4"].source
    forwarded = desks.news.library.item(items["report.pdf"])
    assert forwarded is not None and forwarded.forwarded == ("field",)


def test_a_forwarded_file_is_forwarded_on_as_a_file(desks: Desks) -> None:
    (item_id,) = desks.by_name(send_files(desks.org, [("again.pdf", rich_pdf())])).values()
    desks.news.forward(item_id, "field")
    received = desks.received()["again.pdf"]

    sent = desks.field.forward(received.item_id, "news")

    # Cleaned once already: only the new random document ID is replaced again.
    assert sent.scrubbed is not None
    assert not {"PDF document info", "XMP"} & set(sent.scrubbed)
    desks.news.sync(Quiet(), Quiet())
    (back,) = [row for row in desks.news.library.forwards() if row.name == "again.pdf"]
    assert back.standing == "signed" and back.text == ""
    assert b"".join(desks.news.stream(back.item_id)).startswith(b"%PDF-")
    assert back.source is not None and "; removed before forwarding: " in back.source


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Author (" + AUTHOR.encode() + b") >>\n", "PDF"),
        ("letter.rtf", b"{\\rtf1{\\info{\\author " + AUTHOR.encode() + b"}}Hello}", "RTF"),
    ],
    ids=["malformed pdf", "unsupported rtf"],
)
def test_a_file_that_cannot_be_cleaned_is_refused_and_nothing_is_sent(
    desks: Desks, name: str, data: bytes, said: str
) -> None:
    (item_id,) = desks.by_name(send_files(desks.org, [(name, data)])).values()
    before = desks.received()

    with pytest.raises(ForwardRefusedError) as refused:
        desks.news.forward(item_id, "field")

    message = str(refused.value)
    assert said in message and "refused" in message
    assert MARKER not in message and "\\" not in message
    assert desks.received().keys() == before.keys()
    row = desks.news.library.item(item_id)
    assert row is not None and row.forwarded == ()


# -- the worker -----------------------------------------------------------------


def fake_worker(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """Make the next scrub_confined run Python ``code`` in place of the worker."""
    monkeypatch.setattr(
        _scrubbing, "_worker_argv", lambda *args: [sys.executable, "-I", "-c", code, *args]
    )


def test_the_file_is_never_parsed_in_this_process_and_the_private_folder_is_gone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("scrub_file ran in the process that holds the keys")

    monkeypatch.setattr("shoal.scrub.scrub_file", forbidden)

    clean = scrub_confined(rich_pdf(), ffmpeg=None, workspace=tmp_path)

    assert (clean.kind, clean.mime, clean.extension) == ("pdf", "application/pdf", "pdf")
    assert AUTHOR.encode() not in clean.data
    assert list(tmp_path.iterdir()) == []


def test_a_video_without_ffmpeg_and_a_file_too_large_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ScrubRefused) as refused:
        scrub_confined(rich_mp4(tmp_path), ffmpeg=None)
    assert refused.value.reason == "tool-missing" and "ffmpeg" in str(refused.value)

    monkeypatch.setattr(_scrubbing, "run_confined", lambda *a, **k: pytest.fail("started"))
    with pytest.raises(ScrubRefused) as refused:
        scrub_confined(bytes(MAX_FILE + 1), ffmpeg=None)
    assert refused.value.reason == "too-large" and "256 MiB" in str(refused.value)


def test_a_hanging_worker_is_killed_and_its_folder_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_worker(
        monkeypatch,
        "import os, sys, time; os.mkdir(sys.argv[1]); "
        "open(os.path.join(sys.argv[1], 'received'), 'wb').write(sys.stdin.buffer.read()); "
        "time.sleep(60)",
    )
    started = time.monotonic()

    with pytest.raises(ScrubRefused) as refused:
        scrub_confined(rich_pdf(), ffmpeg=None, timeout=2.0, workspace=tmp_path)

    assert refused.value.reason == "timeout"
    assert time.monotonic() - started < 6
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "answer",
    [
        # A PDF labelled a Word document: the bytes do not start as one does.
        "{'kind': 'docx', 'mime': 'application/pdf', 'removed': [], 'length': len(data)}",
        "{'kind': 'exe', 'mime': 'application/pdf', 'removed': [], 'length': 0}",
        "{'kind': 'pdf', 'mime': 'text/html<script>', 'removed': [], 'length': len(data)}",
        "{'kind': 'pdf', 'mime': 'application/pdf', 'removed': ['\\u202e'], 'length': len(data)}",
        "{'kind': 'pdf', 'mime': 'application/pdf', 'removed': [], 'length': len(data), 'more': 1}",
        "{'error': 'no-such-code'}",
    ],
    ids=["not a docx", "unknown kind", "bad mime", "bidi name", "extra field", "unknown code"],
)
def test_a_worker_answer_that_is_not_right_is_refused(
    monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    fake_worker(
        monkeypatch,
        "import json, sys; data = sys.stdin.buffer.read(); "
        f"sys.stdout.buffer.write(json.dumps({answer}).encode() + b'\\n' + data)",
    )

    with pytest.raises(ScrubRefused) as refused:
        scrub_confined(b"%PDF-1.7 " + AUTHOR.encode(), ffmpeg=None)

    assert refused.value.reason == "malformed-answer"
    assert MARKER not in str(refused.value)


def test_a_worker_sentence_not_shaped_as_the_scrubbers_is_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_worker(
        monkeypatch,
        f"import json; print(json.dumps({{'error': 'malformed', 'message': 'Author: {AUTHOR}'}}))",
    )

    with pytest.raises(ScrubRefused) as refused:
        scrub_confined(b"%PDF-", ffmpeg=None)

    assert refused.value.reason == "malformed"
    assert MARKER not in str(refused.value) and "damaged" in str(refused.value)


#: Run in place of the worker, through scrub_confined: its environment,
#: directory, descriptors and network, told back in the sentence of a refusal.
INSPECT = """
import json, os, socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    net = "connected"
except OSError:
    net = "no-network"
found = [net, os.getcwd(), ",".join(sorted(os.environ)), str(len(os.listdir("/proc/self/fd")))]
print(json.dumps({"error": "unsupported", "message": "the metadata of " + " ".join(found)}))
"""


def test_the_worker_has_no_network_no_environment_and_no_inherited_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "no network namespace" in _confined.isolation():
        pytest.skip(f"NOT ISOLATED FROM THE NETWORK on this machine: {_confined.isolation()}")
    monkeypatch.setenv("SHOAL_TEST_SECRET", "correct horse battery staple")
    read, write = os.pipe()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        monkeypatch.setattr(
            _scrubbing,
            "_worker_argv",
            lambda *args: [sys.executable, "-I", "-c", INSPECT, str(port)],
        )
        try:
            with pytest.raises(ScrubRefused) as refused:
                scrub_confined(b"data", ffmpeg=None)
        finally:
            os.close(read)
            os.close(write)
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()

    net, cwd, environment, descriptors = str(refused.value).removeprefix("the metadata of ").split()
    assert net == "no-network" and cwd == "/"
    # Python itself may set LC_CTYPE when it coerces the C locale (PEP 538).
    assert environment in ("", "LC_CTYPE")
    assert descriptors == "4"  # stdin, stdout, stderr, and the listing itself


LIMITS = (
    "import resource as r; print(*[r.getrlimit(getattr(r, 'RLIMIT_' + n))[1] "
    "for n in ('AS', 'CPU', 'FSIZE', 'NOFILE', 'CORE')])"
)
EXPECTED_LIMITS = f"{2 << 30} 120 {MAX_FILE} 32 0"


def test_the_worker_is_limited_and_may_write_bounded_files_only() -> None:
    def probe(code: str) -> str:
        argv = [sys.executable, "-I", "-c", code]
        ran = _confined.run_confined(argv, b"", limits=_scrubbing.LIMITS, timeout=10, limit=1 << 20)
        return ran.out.decode().strip()

    if "worker itself" not in _confined.isolation():
        assert probe(LIMITS) == EXPECTED_LIMITS
    assert probe("from shoal.desk._scrubbing import LIMITS; LIMITS.apply(); " + LIMITS) == (
        EXPECTED_LIMITS
    )
    # A file one byte over the limit is refused to the worker (EFBIG), not written.
    written = probe(
        "import os, tempfile\n"
        "with tempfile.TemporaryFile(dir='/dev/shm' if os.path.isdir('/dev/shm') else None) as f:\n"
        f"    f.seek({MAX_FILE})\n"
        "    try:\n"
        "        f.write(b'x'); f.flush(); print('written')\n"
        "    except OSError as e:\n"
        "        print('refused', e.errno)\n"
    )
    assert written == "refused 27"
