"""The workbook as OpenDocument (ODF 1.2), at parity with the .xlsx: cover, contents with a working link
to each sheet, notes numbered as numbers, one table per sheet with its header row marked
(``table:table-header-rows``) and its range named (a ``table:database-range``, the ODS form of an Excel
table), and the document's metadata (``meta.xml``: title, subject, creator, language, the release).

Written without odfpy (which reads it back in the tests), which takes over a minute for the workbook's
cells: the cells as text in ElementTree's serialisation, the small parts with ElementTree itself.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

import pandas as pd

from pipeline.core.io import atomic_path
from pipeline.readers.workbook import column_letters
from pipeline.stages.spreadsheets_book import FIXED_DATE, INSTRUCTIONS, ZIP_DATE, Book
from pipeline.study import display

NAMESPACES = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xlink": "http://www.w3.org/1999/xlink",
}
MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
GENERATOR = "lsp-survey-rap spreadsheets stage"


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"


# content.xml, the cells, is written as text in exactly the form ElementTree serialises it to (the
# same bytes: namespace declarations on the root sorted by prefix, attributes in the order set, `` />``
# for an empty element, ElementTree's escapes): building an element per cell and serialising the tree
# cost the stage about 2 CPU-s of its 10 for the workbook's 220,000 cells. meta.xml and the manifest are
# small and stay ElementTree's.
def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attribute(text: str) -> str:
    text = _escape_text(text)
    for character, entity in (('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;")):
        if character in text:
            text = text.replace(character, entity)
    return text


def _attributes(attributes: tuple[tuple[str, str], ...]) -> str:
    return "".join(f' {name}="{_escape_attribute(value)}"' for name, value in attributes)


def _element(tag: str, attributes: tuple[tuple[str, str], ...] = (), inner: str = "") -> str:
    """One element as ElementTree writes it; ``inner`` is its already-serialised text and children."""
    if inner:
        return f"<{tag}{_attributes(attributes)}>{inner}</{tag}>"
    return f"<{tag}{_attributes(attributes)} />"


class _Writer:
    def __init__(self) -> None:
        styles = "".join(
            _element(
                "style:style",
                (("style:name", name), ("style:family", "table-cell")),
                _element("style:text-properties", properties),
            )
            for name, properties in (
                ("heading", (("fo:font-weight", "bold"),)),
                ("title", (("fo:font-weight", "bold"), ("fo:font-size", "14pt"))),
            )
        ) + _element(
            "style:style",
            (("style:name", "wide"), ("style:family", "table-column")),
            _element("style:table-column-properties", (("style:column-width", "6in"),)),
        )
        self.styles = _element("office:automatic-styles", (), styles)
        self.tables: list[str] = []
        self.ranges: list[tuple[str, str]] = []
        self.prefixes = {"office", "style", "fo", "table", "text"}

    def _cell(self, value: object, style: str | None = None, link: str | None = None) -> str:
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, bool):
            value = display.yes_no(value)
        if isinstance(value, int | float) and not (isinstance(value, float) and value != value):
            text = repr(value)
            if not style and not link:  # most cells: the text _element gives, without its calls
                return (
                    f'<table:table-cell office:value-type="float" office:value="{_escape_attribute(text)}">'
                    f"<text:p>{_escape_text(text)}</text:p></table:table-cell>"
                )
            attributes: tuple[tuple[str, str], ...] = (("office:value-type", "float"), ("office:value", text))
        else:
            text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
            if not style and not link:
                paragraph = f"<text:p>{_escape_text(text)}</text:p>" if text else "<text:p />"
                return f'<table:table-cell office:value-type="string">{paragraph}</table:table-cell>'
            attributes = (("office:value-type", "string"),)
        if style:
            attributes += (("table:style-name", style),)
        if link:
            self.prefixes.add("xlink")
            paragraph = _element(
                "text:p",
                (),
                _element("text:a", (("xlink:type", "simple"), ("xlink:href", link)), _escape_text(text)),
            )
        else:
            paragraph = _element("text:p", (), _escape_text(text))
        return _element("table:table-cell", attributes, paragraph)

    def sheet(
        self,
        name: str,
        preamble: list[tuple[str, str | None]],
        frame: pd.DataFrame | None = None,
        table_name: str | None = None,
        links: dict[str, str] | None = None,
    ) -> None:
        parts = []
        if frame is None:
            parts.append(_element("table:table-column", (("table:style-name", "wide"),)))
        for text, style in preamble:
            parts.append(_element("table:table-row", (), self._cell(text, style)))
        if frame is not None:
            header = "".join(self._cell(str(column), "heading") for column in frame.columns)
            parts.append(_element("table:table-header-rows", (), _element("table:table-row", (), header)))
            links = links or {}
            for record in frame.itertuples(index=False):
                cells = "".join(
                    self._cell(value, link=links.get(value) if index == 0 else None)
                    for index, value in enumerate(record)
                )
                parts.append(_element("table:table-row", (), cells))
            if table_name:
                first_row = len(preamble) + 1
                last = f"{column_letters(len(frame.columns) - 1)}{first_row + len(frame)}"
                self.ranges.append((table_name, f"'{name}'.A{first_row}:'{name}'.{last}"))
        self.tables.append(_element("table:table", (("table:name", name),), "".join(parts)))

    def content_xml(self) -> bytes:
        body = "".join(self.tables)
        if self.ranges:
            body += _element(
                "table:database-ranges",
                (),
                "".join(
                    _element(
                        "table:database-range",
                        (
                            ("table:name", name),
                            ("table:target-range-address", address),
                            ("table:contains-header", "true"),
                        ),
                    )
                    for name, address in self.ranges
                ),
            )
        declarations = tuple((f"xmlns:{prefix}", NAMESPACES[prefix]) for prefix in sorted(self.prefixes))
        document = _element(
            "office:document-content",
            (*declarations, ("office:version", "1.2")),
            self.styles + _element("office:body", (), _element("office:spreadsheet", (), body)),
        )
        declaration = "<?xml version='1.0' encoding='UTF-8'?>\n"
        return (declaration + document).encode("utf-8", "xmlcharrefreplace")


def _meta_xml(book: Book) -> bytes:
    document = Element(_q("office:document-meta"), {_q("office:version"): "1.2"})
    meta = SubElement(document, _q("office:meta"))
    date = FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%S")
    for tag, text in (
        ("meta:generator", GENERATOR),
        ("dc:title", book.title),
        ("dc:subject", book.subject),
        ("dc:description", "; ".join(f"{k}: {v}" for k, v in book.properties.items())),
        ("meta:keyword", book.keywords),
        ("meta:initial-creator", book.creator),
        ("dc:creator", book.creator),
        ("meta:creation-date", date),
        ("dc:date", date),
        ("dc:language", book.language),
    ):
        SubElement(meta, _q(tag)).text = text
    for name, value in book.properties.items():
        SubElement(
            meta, _q("meta:user-defined"), {_q("meta:name"): name, _q("meta:value-type"): "string"}
        ).text = value
    return tostring(document, encoding="UTF-8", xml_declaration=True)


def _manifest_xml() -> bytes:
    manifest = Element(_q("manifest:manifest"), {_q("manifest:version"): "1.2"})
    for path, media in (("/", MIMETYPE), ("content.xml", "text/xml"), ("meta.xml", "text/xml")):
        entry = SubElement(
            manifest,
            _q("manifest:file-entry"),
            {_q("manifest:full-path"): path, _q("manifest:media-type"): media},
        )
        if path == "/":
            entry.set(_q("manifest:version"), "1.2")
    return tostring(manifest, encoding="UTF-8", xml_declaration=True)


def write_ods(book: Book, target: Path) -> None:
    """Write ``book`` as an accessible .ods at ``target``."""
    for prefix, uri in NAMESPACES.items():
        register_namespace(prefix, uri)
    writer = _Writer()
    writer.sheet(
        "Cover", [(book.title, "title")] + [(line, None) for line in book.cover_intro + book.cover_about]
    )
    # The tables, as gptables lists them in the .xlsx (the notes sheet is named in every table's
    # instructions).
    contents = pd.DataFrame(
        [(sheet.name, sheet.title) for sheet in book.sheets],
        columns=["Sheet name", "Table description"],
    )
    links = {name: f"#{name}.A1" for name in contents["Sheet name"]}
    one_table = "This worksheet contains one table."
    writer.sheet("Contents", [("Contents", "title"), (one_table, None)], contents, "contents_table", links)
    notes = pd.DataFrame(book.notes, columns=["Note number", "Note text"])
    writer.sheet("Notes", [("Notes", "title"), (one_table, None)], notes, "notes_table")
    for sheet in book.sheets:
        preamble: list[tuple[Any, str | None]] = [
            (sheet.title_with_notes, "title"),
            (sheet.description, None),
            (INSTRUCTIONS, None),
            *[(line, None) for line in sheet.legend()],
            (sheet.source, None),
        ]
        writer.sheet(sheet.name, preamble, sheet.frame, sheet.table_name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in (
            ("mimetype", MIMETYPE.encode("ascii"), zipfile.ZIP_STORED),  # first and stored, as ODF requires
            ("META-INF/manifest.xml", _manifest_xml(), zipfile.ZIP_DEFLATED),
            ("meta.xml", _meta_xml(book), zipfile.ZIP_DEFLATED),
            ("content.xml", writer.content_xml(), zipfile.ZIP_DEFLATED),
        ):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    with atomic_path(target) as temporary:
        temporary.write_bytes(buffer.getvalue())
