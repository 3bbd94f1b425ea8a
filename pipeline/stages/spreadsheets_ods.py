"""The workbook as OpenDocument (ODF 1.2), at parity with the .xlsx: cover, contents with a working link
to each sheet, notes numbered as numbers, one table per sheet with its header row marked
(``table:table-header-rows``) and its range named (a ``table:database-range``, the ODS form of an Excel
table), and the document's metadata (``meta.xml``: title, subject, creator, language, the release).

Written with the standard library's ElementTree: odfpy (which reads it back in the tests) takes over a
minute for the workbook's cells; this takes seconds and writes the same structure.
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


def _cell(row: Element, value: object, style: str | None = None, link: str | None = None) -> None:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        value = display.yes_no(value)
    if isinstance(value, int | float) and not (isinstance(value, float) and value != value):
        text = repr(value)
        cell = SubElement(
            row, _q("table:table-cell"), {_q("office:value-type"): "float", _q("office:value"): text}
        )
    else:
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
        cell = SubElement(row, _q("table:table-cell"), {_q("office:value-type"): "string"})
    if style:
        cell.set(_q("table:style-name"), style)
    paragraph = SubElement(cell, _q("text:p"))
    if link:
        anchor = SubElement(paragraph, _q("text:a"), {_q("xlink:type"): "simple", _q("xlink:href"): link})
        anchor.text = text
    else:
        paragraph.text = text


class _Writer:
    def __init__(self) -> None:
        self.content = Element(_q("office:document-content"), {_q("office:version"): "1.2"})
        styles = SubElement(self.content, _q("office:automatic-styles"))
        for name, properties in (
            ("heading", {"fo:font-weight": "bold"}),
            ("title", {"fo:font-weight": "bold", "fo:font-size": "14pt"}),
        ):
            style = SubElement(
                styles, _q("style:style"), {_q("style:name"): name, _q("style:family"): "table-cell"}
            )
            SubElement(style, _q("style:text-properties"), {_q(k): v for k, v in properties.items()})
        wide = SubElement(
            styles, _q("style:style"), {_q("style:name"): "wide", _q("style:family"): "table-column"}
        )
        SubElement(wide, _q("style:table-column-properties"), {_q("style:column-width"): "6in"})
        self.spreadsheet = SubElement(SubElement(self.content, _q("office:body")), _q("office:spreadsheet"))
        self.ranges: list[tuple[str, str]] = []

    def sheet(
        self,
        name: str,
        preamble: list[tuple[str, str | None]],
        frame: pd.DataFrame | None = None,
        table_name: str | None = None,
        links: dict[str, str] | None = None,
    ) -> None:
        table = SubElement(self.spreadsheet, _q("table:table"), {_q("table:name"): name})
        if frame is None:
            SubElement(table, _q("table:table-column"), {_q("table:style-name"): "wide"})
        for text, style in preamble:
            _cell(SubElement(table, _q("table:table-row")), text, style)
        if frame is None:
            return
        header = SubElement(SubElement(table, _q("table:table-header-rows")), _q("table:table-row"))
        for column in frame.columns:
            _cell(header, str(column), "heading")
        links = links or {}
        for record in frame.itertuples(index=False):
            row = SubElement(table, _q("table:table-row"))
            for index, value in enumerate(record):
                _cell(row, value, link=links.get(value) if index == 0 else None)
        if table_name:
            first_row = len(preamble) + 1
            last = f"{column_letters(len(frame.columns) - 1)}{first_row + len(frame)}"
            self.ranges.append((table_name, f"'{name}'.A{first_row}:'{name}'.{last}"))

    def content_xml(self) -> bytes:
        if self.ranges:
            ranges = SubElement(self.spreadsheet, _q("table:database-ranges"))
            for name, address in self.ranges:
                SubElement(
                    ranges,
                    _q("table:database-range"),
                    {
                        _q("table:name"): name,
                        _q("table:target-range-address"): address,
                        _q("table:contains-header"): "true",
                    },
                )
        return tostring(self.content, encoding="UTF-8", xml_declaration=True)


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
