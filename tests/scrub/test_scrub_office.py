"""Word, Excel, PowerPoint and OpenDocument: properties, people, pictures inside."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from office_samples import DATE, docx, odt, pptx, xlsx
from scrub_kit import NAME, assert_clean, office_zip, read_tags

from shoal.scrub import (
    BombError,
    MalformedFileError,
    UnsupportedFormatError,
    scrub_file,
)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def test_docx_loses_properties_people_and_picture_metadata(tmp_path: Path) -> None:
    source = docx(tmp_path)
    assert read_tags(source)["XML:Company"] == "Qzx Holdings"
    target = tmp_path / "clean.docx"

    scrubbed = scrub_file(source, target)

    assert scrubbed.kind == "docx"
    assert (
        scrubbed.mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert set(scrubbed.removed) >= {
        "document properties (author, dates)",
        "application properties (company, template, editing time)",
        "custom properties",
        "thumbnail",
        "comment and revision authors and dates",
        "template path",
        "document and editing-session ids",
        "EXIF (incl. GPS) of pictures inside",
        "document properties (author, dates) of documents inside",
    }
    assert_clean(target)
    parts = _parts(target)
    assert "docProps/thumbnail.jpeg" not in parts
    assert b"thumbnail" not in parts["_rels/.rels"] + parts["[Content_Types].xml"]
    document = parts["word/document.xml"].decode()
    # Prefixes as written: mc:Ignorable names w14, so its declaration must stay.
    assert 'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"' in document
    assert '<w:p w14:paraId="1A2B3C4D">' in document and 'mc:Ignorable="w14"' in document
    assert "Hello &amp; welcome" in document and "<w:delText>gone</w:delText>" in document
    body = ElementTree.fromstring(parts["word/document.xml"])
    changes = [body.find(f".//{W}{kind}") for kind in ("ins", "del", "rPrChange")]
    assert [change.attrib for change in changes if change is not None] == [
        {f"{W}id": "1", f"{W}author": "Author 1"},
        {f"{W}id": "2", f"{W}author": "Author 2"},
        {f"{W}id": "3", f"{W}author": "Author 1"},
    ]
    (comment,) = ElementTree.fromstring(parts["word/comments.xml"])
    assert comment.attrib == {f"{W}id": "0", f"{W}author": "Author 1"}
    assert b'w15:author="Author 1"' in parts["word/people.xml"]
    assert b"presenceInfo" not in parts["word/people.xml"]
    assert b'Target="Normal.dotm"' in parts["word/_rels/settings.xml.rels"]
    settings = parts["word/settings.xml"]
    assert b"rsid" not in settings + parts["word/document.xml"] and b"docId" not in settings
    assert b'<w:compatSetting w:name="compatibilityMode" w:val="15"/>' in settings
    for name in ("docProps/core.xml", "docProps/app.xml", "docProps/custom.xml"):
        assert len(ElementTree.fromstring(parts[name])) == 0, name
    _assert_traceless(target)


def test_xlsx_loses_authors_persons_and_folder(tmp_path: Path) -> None:
    source = xlsx(tmp_path)
    target = tmp_path / "clean.xlsx"

    scrubbed = scrub_file(source, target)

    assert scrubbed.kind == "xlsx"
    assert {"folder path", "comment and revision authors and dates"} <= set(scrubbed.removed)
    assert_clean(target)
    parts = _parts(target)
    assert b"<author>Author 1</author>" in parts["xl/comments1.xml"]
    assert b"<t>Author 1:</t>" in parts["xl/comments1.xml"]  # Excel's note heading
    assert b"\ncounted twice" in parts["xl/comments1.xml"]
    assert b"absPath" not in parts["xl/workbook.xml"]
    assert b'<mc:Choice Requires="x15"/>' in parts["xl/workbook.xml"]
    person = ElementTree.fromstring(parts["xl/persons/person.xml"])[0]
    assert sorted(person.attrib) == ["displayName", "id"]
    assert person.attrib["displayName"] == "Author 1"
    assert b"dT=" not in parts["xl/threadedComments/threadedComment1.xml"]
    assert b"42 units" in parts["xl/worksheets/sheet1.xml"]
    _assert_traceless(target)


def test_pptx_loses_comment_authors_and_picture_metadata(tmp_path: Path) -> None:
    source = pptx(tmp_path)
    target = tmp_path / "clean.pptx"

    scrubbed = scrub_file(source, target)

    assert scrubbed.kind == "pptx"
    assert "EXIF (incl. GPS) of pictures inside" in scrubbed.removed
    assert_clean(target)
    parts = _parts(target)
    assert b'name="Author 1" initials=""' in parts["ppt/commentAuthors.xml"]
    assert b"dt=" not in parts["ppt/comments/comment1.xml"]
    assert b"<p:text>Nice slide</p:text>" in parts["ppt/comments/comment1.xml"]
    _assert_traceless(target)


def test_odt_loses_meta_printer_thumbnail_and_people(tmp_path: Path) -> None:
    source = odt(tmp_path)
    assert read_tags(source)["XMP-dc:Creator"] == NAME
    target = tmp_path / "clean.odt"

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == ("odt", "application/vnd.oasis.opendocument.text")
    assert set(scrubbed.removed) >= {
        "thumbnail",
        "document metadata (author, dates, editing time, software)",
        "printer settings",
        "comment and change-tracking authors and dates",
        "EXIF (incl. GPS) of pictures inside",
    }
    assert_clean(target)
    with zipfile.ZipFile(target) as archive:
        first = archive.infolist()[0]
        assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    parts = _parts(target)
    assert not any(name.startswith("Thumbnails/") for name in parts)
    assert b"Thumbnails" not in parts["META-INF/manifest.xml"]
    meta = ElementTree.fromstring(parts["meta.xml"])
    assert meta.attrib == {"{urn:oasis:names:tc:opendocument:xmlns:office:1.0}version": "1.3"}
    assert [len(child) for child in meta] == [0]  # one office:meta, empty
    content = parts["content.xml"].decode()
    assert content.count("<dc:creator>Author 1</dc:creator>") == 2
    assert "initials" not in content and "date-string" not in content
    assert "Hello from the field" in content
    assert b"AddParaTableSpacing" in parts["settings.xml"]
    _assert_traceless(target)


def test_zip_bomb_by_ratio_is_refused(tmp_path: Path) -> None:
    source = _docx_with(tmp_path, "word/document.xml", b" " * (4 * 1024 * 1024))

    with pytest.raises(BombError, match="inflates more than 200 times"):
        scrub_file(source, tmp_path / "clean.docx")
    assert not (tmp_path / "clean.docx").exists()


def test_zip_bomb_by_declared_size_is_refused(tmp_path: Path) -> None:
    """Sizes are read from the central directory before anything is inflated."""
    source = _docx_with(tmp_path, "word/media/noise.bin", bytes(range(256)) * 4096)
    data = bytearray(source.read_bytes())
    position = data.find(b"PK\x01\x02")  # each central directory record declares 1 GiB
    while position >= 0:
        struct.pack_into("<I", data, position + 24, 0x40000000)
        position = data.find(b"PK\x01\x02", position + 4)
    source.write_bytes(bytes(data))

    with pytest.raises(BombError, match="more than 512 MiB"):
        scrub_file(source, tmp_path / "clean.docx")


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "many.docx"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for number in range(10_001):
            archive.writestr(f"word/media/{number}.bin", b"")

    with pytest.raises(BombError, match="more than 10000 parts"):
        scrub_file(source, tmp_path / "clean.docx")


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<w:document>&b;</w:document>",
        b"<w:document><w:body>",
    ],
    ids=["entity-expansion", "unclosed"],
)
def test_hostile_or_damaged_xml_is_refused(tmp_path: Path, xml: bytes) -> None:
    source = _docx_with(tmp_path, "word/document.xml", xml)

    with pytest.raises(MalformedFileError, match="damaged or unsafe XML part"):
        scrub_file(source, tmp_path / "clean.docx")


def test_truncated_docx_is_malformed(tmp_path: Path) -> None:
    source = docx(tmp_path)
    source.write_bytes(source.read_bytes()[:3000])

    with pytest.raises(MalformedFileError, match="not a readable ZIP archive"):
        scrub_file(source, tmp_path / "clean.docx")


def test_zip_that_is_no_office_file_is_refused(tmp_path: Path) -> None:
    source = office_zip(tmp_path / "photos.zip", {"notes.txt": f"from {NAME}"})

    with pytest.raises(UnsupportedFormatError, match="ZIP archives other than Office documents"):
        scrub_file(source, tmp_path / "clean.zip")


def test_password_protected_odt_is_refused(tmp_path: Path) -> None:
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        "</manifest:file-entry></manifest:manifest>"
    )
    parts = {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": b"\x8f\x12 encrypted bytes",
        "META-INF/manifest.xml": manifest,
    }
    source = office_zip(tmp_path / "locked.odt", parts, first="mimetype")

    with pytest.raises(UnsupportedFormatError, match="password-protected OpenDocument files"):
        scrub_file(source, tmp_path / "clean.odt")


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _assert_traceless(path: Path) -> None:
    """Every entry dated 1980-01-01, one fixed origin and mode, no extras, no comments."""
    with zipfile.ZipFile(path) as archive:
        assert archive.comment == b""
        for entry in archive.infolist():
            assert entry.date_time == (1980, 1, 1, 0, 0, 0), entry.filename
            assert (entry.create_system, entry.external_attr >> 16) == (3, 0o100644), entry.filename
            assert (entry.extra, entry.comment) == (b"", b""), entry.filename
    raw = path.read_bytes()
    assert DATE.encode() not in raw


def _docx_with(tmp_path: Path, name: str, data: bytes) -> Path:
    """The sample docx with the part ``name`` set to ``data``."""
    with zipfile.ZipFile(docx(tmp_path)) as archive:
        parts: dict[str, str | bytes] = {n: archive.read(n) for n in archive.namelist()}
    parts[name] = data
    return office_zip(tmp_path / "altered.docx", parts)
