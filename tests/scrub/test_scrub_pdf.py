"""PDF: a fresh file without document info, XMP, dates, authors or old revisions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import Text
from pypdf.generic import (
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)
from scrub_kit import NAME, assert_clean, pixels, read_tags, rich_jpeg

from shoal.scrub import MalformedFileError, UnsupportedFormatError, scrub_file

XMP = f"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<dc:creator><rdf:Seq><rdf:li>{NAME}</rdf:li></rdf:Seq></dc:creator>
<xmp:CreateDate>2024-03-01T12:00:00Z</xmp:CreateDate>
<xmp:CreatorTool>QzxWriter 3</xmp:CreatorTool>
<pdf:Producer>QzxPDF 2.0</pdf:Producer>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def test_pdf_loses_info_xmp_dates_authors_and_history(tmp_path: Path) -> None:
    source = _rich_pdf(tmp_path)
    assert read_tags(source)["PDF:Author"] == "Someone Else"  # the latest revision
    assert NAME.encode() in source.read_bytes()  # and the first one, still in the file
    target = tmp_path / "clean.pdf"

    scrubbed = scrub_file(source, target)

    assert (scrubbed.kind, scrubbed.mime) == ("pdf", "application/pdf")
    assert set(scrubbed.removed) >= {
        "PDF document info",
        "document ID",
        "XMP",
        "application data (PieceInfo)",
        "modification dates",
        "comment authors and dates",
        "EXIF (incl. GPS) of embedded images",
    }
    assert_clean(target)
    cleaned = PdfReader(target)
    assert cleaned.trailer.get("/Info") is None
    assert cleaned.trailer["/ID"][0] != PdfReader(source).trailer["/ID"][0]
    assert cleaned.pages[0].extract_text() == "Hello from the field"
    (image,) = cleaned.pages[0].images
    (original,) = PdfReader(source).pages[0].images
    assert pixels(image.data) == pixels(original.data)  # the photo, unchanged
    assert target.read_bytes().count(b"%%EOF") == 1  # one revision


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_metadata({"/Author": NAME})
    writer.encrypt("", "owner-secret")  # opens without a password, still encrypted
    source = tmp_path / "locked.pdf"
    writer.write(source)

    with pytest.raises(UnsupportedFormatError, match="encrypted or password-protected PDFs"):
        scrub_file(source, tmp_path / "clean.pdf")
    assert not (tmp_path / "clean.pdf").exists()


def test_pdf_with_attached_files_is_refused(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_attachment("notes.txt", f"written by {NAME}".encode())
    source = tmp_path / "attached.pdf"
    writer.write(source)

    with pytest.raises(UnsupportedFormatError, match="PDFs with attached files"):
        scrub_file(source, tmp_path / "clean.pdf")


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + bytes(range(256)) * 40,
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<<>>\n%%EOF",
        b"%PDF-",
    ],
    ids=["noise", "no-pages", "header-only"],
)
def test_garbage_pdf_is_malformed(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "garbage.pdf"
    source.write_bytes(data)

    with pytest.raises(MalformedFileError, match="this PDF is damaged or not a PDF"):
        scrub_file(source, tmp_path / "clean.pdf")


def _rich_pdf(tmp_path: Path) -> Path:
    """A PDF with metadata in every place a PDF keeps it, edited once since."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    writer.add_metadata(
        {
            "/Author": NAME,
            "/Creator": "QzxWriter 3",
            "/Producer": "QzxPDF 2.0",
            "/Title": "Qzx report",
            "/CreationDate": "D:20240301120000Z",
            "/ModDate": "D:20240301120000Z",
        }
    )
    writer.xmp_metadata = XMP.encode()
    page[NameObject("/Metadata")] = writer.root_object.raw_get("/Metadata")
    page[NameObject("/LastModified")] = TextStringObject("D:20240301120000Z")
    page[NameObject("/PieceInfo")] = DictionaryObject(
        {
            NameObject("/Illustrator"): DictionaryObject(
                {NameObject("/Private"): TextStringObject(NAME)}
            )
        }
    )
    jpeg = rich_jpeg(tmp_path / "photo.jpg").read_bytes()
    image = DecodedStreamObject()
    image.set_data(jpeg)
    image.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(96),
            NameObject("/Height"): NumberObject(64),
            NameObject("/ColorSpace"): NameObject("/DeviceRGB"),
            NameObject("/BitsPerComponent"): NumberObject(8),
            NameObject("/Filter"): NameObject("/DCTDecode"),
        }
    )
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {
            # pypdf has no public call to add an object; the sample needs one.
            NameObject("/XObject"): DictionaryObject(
                {NameObject("/Im1"): writer._add_object(image)}
            ),
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): font}),
        }
    )
    content = DecodedStreamObject()
    content.set_data(
        b"q 96 0 0 64 10 10 cm /Im1 Do Q BT /F1 12 Tf 10 150 Td (Hello from the field) Tj ET"
    )
    page[NameObject("/Contents")] = writer._add_object(content)
    note = Text(rect=(20, 20, 60, 60), text="Check this")
    note[NameObject("/T")] = TextStringObject(NAME)
    note[NameObject("/M")] = TextStringObject("D:20240301120000Z")
    writer.add_annotation(page_number=0, annotation=note)
    writer.generate_file_identifiers()
    first = io.BytesIO()
    writer.write(first)
    # An incremental update, as an editor saves: the first revision stays in the file.
    edited = PdfWriter(PdfReader(io.BytesIO(first.getvalue())), incremental=True)
    edited.add_metadata({"/Author": "Someone Else"})
    source = tmp_path / "report.pdf"
    edited.write(source)
    return source
