"""Word, Excel, PowerPoint and OpenDocument files built by hand, metadata everywhere.

Each is the smallest package its application opens, plus every place
that application writes who and when: property parts, comments, tracked
changes, people, thumbnails, printer settings, a picture with GPS, a
workbook inside a document.
"""

from __future__ import annotations

import io
from pathlib import Path

from scrub_kit import COMPANY, NAME, office_zip, picture, rich_jpeg

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
DATE = "2024-03-01T12:00:00Z"


def _types(overrides: dict[str, str]) -> str:
    rows = "".join(
        f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides.items()
    )
    return (
        f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="jpeg" ContentType="image/jpeg"/>'
        '<Default Extension="xlsx" ContentType="application/vnd.openxmlformats-officedocument.'
        f'spreadsheetml.sheet"/>{rows}</Types>'
    )


def _rels(*relationships: tuple[str, str, str] | tuple[str, str, str, str]) -> str:
    rows = ""
    for number, (kind, target, *mode) in enumerate(relationships, 1):
        external = ' TargetMode="External"' if mode else ""
        rows += f'<Relationship Id="rId{number}" Type="{kind}" Target="{target}"{external}/>'
    return f'{_XML}<Relationships xmlns="{_PACKAGE_RELS}">{rows}</Relationships>'


def _properties(main: str) -> dict[str, str | bytes]:
    """docProps/* and the package relationships to them, for the main part ``main``."""
    core = (
        f'{_XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>Qzx secret title</dc:title><dc:creator>{NAME}</dc:creator>"
        f"<cp:keywords>qzx</cp:keywords><cp:lastModifiedBy>{NAME}</cp:lastModifiedBy>"
        "<cp:revision>7</cp:revision>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{DATE}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{DATE}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    app = (
        f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        'docPropsVTypes"><Template>Qzx.dotm</Template><TotalTime>42</TotalTime>'
        "<Application>Microsoft Office Word</Application><AppVersion>16.0000</AppVersion>"
        f"<Company>{COMPANY}</Company><Manager>Qzx Boss</Manager></Properties>"
    )
    custom = (
        f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        'docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" '
        'name="Department"><vt:lpwstr>Qzx Department</vt:lpwstr></property></Properties>'
    )
    return {
        "_rels/.rels": _rels(
            (f"{_DOC_RELS}/officeDocument", main),
            (f"{_PACKAGE_RELS}/metadata/core-properties", "docProps/core.xml"),
            (f"{_DOC_RELS}/extended-properties", "docProps/app.xml"),
            (f"{_DOC_RELS}/custom-properties", "docProps/custom.xml"),
            (f"{_PACKAGE_RELS}/metadata/thumbnail", "docProps/thumbnail.jpeg"),
        ),
        "docProps/core.xml": core,
        "docProps/app.xml": app,
        "docProps/custom.xml": custom,
        "docProps/thumbnail.jpeg": _jpeg_bytes(),
    }


_PROPERTY_TYPES = {
    "/docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
    "/docProps/app.xml": "application/vnd.openxmlformats-officedocument.extended-properties+xml",
    "/docProps/custom.xml": "application/vnd.openxmlformats-officedocument.custom-properties+xml",
    "/docProps/thumbnail.jpeg": "image/jpeg",
}


def _jpeg_bytes() -> bytes:
    out = io.BytesIO()
    picture((32, 24)).save(out, "JPEG", comment=b"Qzx thumbnail")
    return out.getvalue()


def docx(tmp_path: Path) -> Path:
    """A Word document with tracked changes, a comment, people, a template
    path, a photo with GPS and a chart's workbook inside."""
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml"
    body = (
        f'{_XML}<w:document xmlns:w="{_W}" xmlns:r="{_R}" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" mc:Ignorable="w14">'
        '<w:body><w:p w14:paraId="1A2B3C4D" w:rsidR="00A1B2C3" w:rsidRDefault="00A1B2C3">'
        '<w:r w:rsidRPr="00A1B2C3"><w:t xml:space="preserve">Hello &amp; welcome</w:t></w:r>'
        f'<w:ins w:id="1" w:author="{NAME}" w:date="{DATE}"><w:r><w:t>added</w:t></w:r></w:ins>'
        f'<w:del w:id="2" w:author="Qzx Editor" w:date="{DATE}"><w:r><w:delText>gone'
        "</w:delText></w:r></w:del>"
        '<w:commentRangeStart w:id="0"/><w:r><w:t>noted</w:t></w:r><w:commentRangeEnd w:id="0"/>'
        '<w:r><w:commentReference w:id="0"/></w:r></w:p>'
        f'<w:p><w:pPr><w:rPr><w:rPrChange w:id="3" w:author="{NAME}" w:date="{DATE}">'
        "<w:rPr/></w:rPrChange></w:rPr></w:pPr></w:p></w:body></w:document>"
    )
    comments = (
        f'{_XML}<w:comments xmlns:w="{_W}"><w:comment w:id="0" w:author="{NAME}" '
        f'w:date="{DATE}" w:initials="IQ"><w:p><w:r><w:t>Check this</w:t></w:r></w:p>'
        "</w:comment></w:comments>"
    )
    people = (
        f'{_XML}<w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
        f'<w15:person w15:author="{NAME}"><w15:presenceInfo w15:providerId="AD" '
        'w15:userId="S::ivanka@qzx.example::5b7f"/></w15:person></w15:people>'
    )
    settings = (
        f'{_XML}<w:settings xmlns:w="{_W}" xmlns:r="{_R}" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" '
        'xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml">'
        '<w:attachedTemplate r:id="rId1"/><w:rsids><w:rsidRoot w:val="00A1B2C3"/>'
        '<w:rsid w:val="00A1B2C3"/></w:rsids><w14:docId w14:val="4B2A1C3D"/>'
        '<w15:docId w15:val="{8E1B7C2A-1111-2222-3333-444455556666}"/>'
        '<w:compat><w:compatSetting w:name="compatibilityMode" w:val="15"/></w:compat>'
        "</w:settings>"
    )
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": _types(
            {
                "/word/document.xml": f"{word}.document.main+xml",
                "/word/comments.xml": f"{word}.comments+xml",
                "/word/people.xml": f"{word}.people+xml",
                "/word/settings.xml": f"{word}.settings+xml",
                **_PROPERTY_TYPES,
            }
        ),
        **_properties("word/document.xml"),
        "word/document.xml": body,
        "word/_rels/document.xml.rels": _rels(
            (f"{_DOC_RELS}/comments", "comments.xml"),
            ("http://schemas.microsoft.com/office/2011/relationships/people", "people.xml"),
            (f"{_DOC_RELS}/settings", "settings.xml"),
            (f"{_DOC_RELS}/image", "media/image1.jpeg"),
            (f"{_DOC_RELS}/package", "embeddings/Microsoft_Excel_Worksheet.xlsx"),
        ),
        "word/comments.xml": comments,
        "word/people.xml": people,
        "word/settings.xml": settings,
        "word/_rels/settings.xml.rels": _rels(
            (
                f"{_DOC_RELS}/attachedTemplate",
                "file:///C:\\Users\\IvankaQzx\\AppData\\Roaming\\Microsoft\\Templates\\Normal.dotm",
                "External",
            )
        ),
        "word/media/image1.jpeg": rich_jpeg(tmp_path / "pasted.jpg").read_bytes(),
        "word/embeddings/Microsoft_Excel_Worksheet.xlsx": xlsx(tmp_path).read_bytes(),
    }
    return office_zip(tmp_path / "report.docx", parts)


def xlsx(tmp_path: Path) -> Path:
    """A workbook with a note, a threaded comment, persons and its folder path."""
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    x = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    workbook = (
        f'{_XML}<workbook xmlns="{x}" xmlns:r="{_R}" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'mc:Ignorable="x15"><fileVersion appName="xl" lastEdited="7"/>'
        '<mc:AlternateContent><mc:Choice Requires="x15"><x15ac:absPath '
        'xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac" '
        'url="C:\\Users\\IvankaQzx\\Documents\\"/></mc:Choice></mc:AlternateContent>'
        '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    worksheet = (
        f'{_XML}<worksheet xmlns="{x}"><sheetData><row r="1"><c r="A1" t="inlineStr">'
        "<is><t>42 units</t></is></c></row></sheetData></worksheet>"
    )
    comments = (
        f'{_XML}<comments xmlns="{x}"><authors><author>{NAME}</author></authors>'
        '<commentList><comment ref="A1" authorId="0"><text><r><rPr><b/></rPr>'
        f'<t>{NAME}:</t></r><r><t xml:space="preserve">\ncounted twice</t></r></text>'
        "</comment></commentList></comments>"
    )
    tc = "http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"
    persons = (
        f'{_XML}<personList xmlns="{tc}"><person displayName="{NAME}" '
        'id="{11111111-2222-3333-4444-555555555555}" userId="ivanka@qzx.example" '
        'providerId="AD"/></personList>'
    )
    threads = (
        f'{_XML}<ThreadedComments xmlns="{tc}"><threadedComment ref="A1" dT="{DATE}" '
        'personId="{11111111-2222-3333-4444-555555555555}" '
        'id="{66666666-2222-3333-4444-555555555555}"><text>Agreed</text></threadedComment>'
        "</ThreadedComments>"
    )
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": _types(
            {
                "/xl/workbook.xml": f"{sheet}.sheet.main+xml",
                "/xl/worksheets/sheet1.xml": f"{sheet}.worksheet+xml",
                "/xl/comments1.xml": f"{sheet}.comments+xml",
                **_PROPERTY_TYPES,
            }
        ),
        **_properties("xl/workbook.xml"),
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": _rels((f"{_DOC_RELS}/worksheet", "worksheets/sheet1.xml")),
        "xl/worksheets/sheet1.xml": worksheet,
        "xl/worksheets/_rels/sheet1.xml.rels": _rels((f"{_DOC_RELS}/comments", "../comments1.xml")),
        "xl/comments1.xml": comments,
        "xl/persons/person.xml": persons,
        "xl/threadedComments/threadedComment1.xml": threads,
    }
    return office_zip(tmp_path / "figures.xlsx", parts)


def pptx(tmp_path: Path) -> Path:
    """A presentation with comment authors, a comment and a picture."""
    deck = "application/vnd.openxmlformats-officedocument.presentationml"
    p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    authors = (
        f'{_XML}<p:cmAuthorLst xmlns:p="{p}"><p:cmAuthor id="0" name="{NAME}" '
        'initials="IQ" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>'
    )
    comment = (
        f'{_XML}<p:cmLst xmlns:p="{p}"><p:cm authorId="0" dt="{DATE}" idx="1">'
        '<p:pos x="10" y="10"/><p:text>Nice slide</p:text></p:cm></p:cmLst>'
    )
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": _types(
            {
                "/ppt/presentation.xml": f"{deck}.presentation.main+xml",
                "/ppt/commentAuthors.xml": f"{deck}.commentAuthors+xml",
                "/ppt/comments/comment1.xml": f"{deck}.comments+xml",
                **_PROPERTY_TYPES,
            }
        ),
        **_properties("ppt/presentation.xml"),
        "ppt/presentation.xml": f'{_XML}<p:presentation xmlns:p="{p}"/>',
        "ppt/commentAuthors.xml": authors,
        "ppt/comments/comment1.xml": comment,
        "ppt/media/image1.jpeg": rich_jpeg(tmp_path / "slide.jpg").read_bytes(),
    }
    return office_zip(tmp_path / "deck.pptx", parts)


def odt(tmp_path: Path) -> Path:
    """An OpenDocument text with full meta.xml, an annotation, a tracked change,
    printer settings, a thumbnail and a photo with GPS."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"'
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ns} office:version="1.3">'
        f"<office:meta><meta:initial-creator>{NAME}</meta:initial-creator>"
        f"<dc:creator>{NAME}</dc:creator><meta:creation-date>2024-03-01T12:00:00"
        "</meta:creation-date><dc:date>2024-03-01T12:00:00</dc:date>"
        "<meta:editing-duration>PT42M</meta:editing-duration><meta:editing-cycles>7"
        "</meta:editing-cycles><meta:generator>QzxOffice/7.5</meta:generator>"
        '<dc:title>Qzx secret title</dc:title><meta:user-defined meta:name="Department">'
        "Qzx Department</meta:user-defined></office:meta></office:document-meta>"
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
        'office:version="1.3"><office:body><office:text><text:tracked-changes>'
        '<text:changed-region text:id="ct1"><text:insertion><office:change-info>'
        f"<dc:creator>{NAME}</dc:creator><dc:date>2024-03-01T12:00:00</dc:date>"
        "</office:change-info></text:insertion></text:changed-region></text:tracked-changes>"
        "<text:p>Hello from the field<office:annotation>"
        f"<dc:creator>{NAME}</dc:creator><dc:date>2024-03-01T12:00:00</dc:date>"
        "<meta:creator-initials>IQ</meta:creator-initials><meta:date-string>03/01/2024"
        "</meta:date-string><text:p>Check this</text:p></office:annotation>"
        '<text:change-start text:change-id="ct1"/>added<text:change-end text:change-id="ct1"/>'
        "</text:p></office:text></office:body></office:document-content>"
    )
    settings = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-settings {ns}>'
        '<office:settings><config:config-item-set config:name="ooo:configuration-settings">'
        '<config:config-item config:name="PrinterName" config:type="string">Qzx Office '
        'Printer</config:config-item><config:config-item config:name="PrinterSetup" '
        'config:type="base64Binary">UXp4IGRyaXZlcg==</config:config-item>'
        '<config:config-item config:name="AddParaTableSpacing" config:type="boolean">true'
        "</config:config-item></config:config-item-set></office:settings>"
        "</office:document-settings>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.text"/>'
        + "".join(
            f'<manifest:file-entry manifest:full-path="{path}" manifest:media-type="{kind}"/>'
            for path, kind in (
                ("content.xml", "text/xml"),
                ("meta.xml", "text/xml"),
                ("settings.xml", "text/xml"),
                ("Thumbnails/thumbnail.png", "image/png"),
                ("Pictures/photo.jpg", "image/jpeg"),
            )
        )
        + "</manifest:manifest>"
    )
    parts: dict[str, str | bytes] = {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "META-INF/manifest.xml": manifest,
        "meta.xml": meta,
        "content.xml": content,
        "settings.xml": settings,
        "Thumbnails/thumbnail.png": _png_bytes(),
        "Pictures/photo.jpg": rich_jpeg(tmp_path / "photo.jpg").read_bytes(),
    }
    return office_zip(tmp_path / "notes.odt", parts, first="mimetype")


def _png_bytes() -> bytes:
    out = io.BytesIO()
    picture((16, 16)).save(out, "PNG")
    return out.getvalue()
