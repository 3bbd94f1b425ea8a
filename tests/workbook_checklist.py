"""The Analysis Function's spreadsheet checklist, as checks over a workbook read back from its file.

https://analysisfunction.civilservice.gov.uk/policy-store/releasing-statistics-in-spreadsheets/ : a cover
sheet, a contents sheet linking to every sheet, a notes sheet, one table per sheet starting in column A
with its title in A1, tables marked as tables, no merged cells, no blank rows or columns inside a table,
no colour carrying meaning, units in headers, no codes where a reader expects words, every sheet titled,
every shorthand explained, numbers stored as numbers, document metadata.

Both formats are read into one neutral ``ReadBook``, so each check is written once and run on both. For
.xlsx a streaming reader of the sheets' XML with openpyxl's own readers for the rest (``read_xlsx``; a
workbook holding what it does not read goes to openpyxl whole), held equal to openpyxl's cell-by-cell
reading (``read_xlsx_with_openpyxl``) by tests/test_spreadsheets.py. For .ods a streaming reader of the
document's XML over the standard library's expat parser (``read_ods``), independent of the writer
(pipeline/stages/spreadsheets_ods.py writes content.xml as text). odfpy reads the same ``ReadBook`` too
(``read_ods_with_odfpy``), and tests/test_spreadsheets.py holds the two readers equal on a workbook with
every kind of cell and every planted fault: odfpy's document model costs many times the CPU on the built
workbook's 220,000 cells, so only that comparison uses it (as openpyxl's cells do for the .xlsx).
Every check returns the problems it finds (empty when the workbook passes), so a test can plant a fault
and see the check name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXED_SHEETS = ("Cover", "Contents", "Notes")
NOTE_REFERENCE = re.compile(r"\[note (\d+)\]")
SHORTHAND = re.compile(r"^\[[a-z]\]$")
# A code where a reader expects words: snake_case, a "|"-joined key, a category share by its number, a
# variable=level model term.
CODE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b|\s\|\s|\bshare:\d|\b[a-z_]+=[a-z_0-9]+")
# A file or module name keeps its own spelling (the report's provenance tables show them as code).
FILE_NAME = re.compile(r"[\w./-]+\.(?:csv|xlsx|parquet|json|yaml|md|html|ods|png|svg|txt|py)\b|pipeline\.\w")
NUMBER_AS_TEXT = re.compile(r"^-?\d[\d,]*(?:\.\d+)?%?$")
COUNT_HEADERS = re.compile(r"^(n|n, first group|n, second group|Respondents \(n\)|Complete answers \(n\))$")
RELEASE_FIELDS = ("Release date", "Status", "Contact", "Next update")


@dataclass
class ReadSheet:
    name: str
    rows: list[list[Any]]  # every row to the last filled one, None for an empty cell
    tables: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # 1-based, inclusive
    merged: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # a cell's text -> the sheet its link opens
    coloured: list[str] = field(default_factory=list)  # cells whose fill or text colour is set

    def cell(self, row: int, column: int) -> Any:
        if row > len(self.rows) or column > len(self.rows[row - 1]):
            return None
        return self.rows[row - 1][column - 1]

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """The one table's headers and body."""
        first_row, first_col, last_row, last_col = next(iter(self.tables.values()))
        block = [
            [self.cell(r, c) for c in range(first_col, last_col + 1)] for r in range(first_row, last_row + 1)
        ]
        return [str(h) for h in block[0]], block[1:]


@dataclass
class ReadBook:
    path: Path
    sheets: dict[str, ReadSheet]
    metadata: dict[str, str]

    def text_cells(self) -> list[tuple[str, str]]:
        return [
            (sheet.name, str(value))
            for sheet in self.sheets.values()
            for row in sheet.rows
            for value in row
            if isinstance(value, str)
        ]


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows without trailing empty cells or rows; text without surrounding spaces (gptables ends a
    contents entry with the space it took a note reference from)."""
    rows = [[v.strip() if isinstance(v, str) else v for v in row] for row in rows]
    for row in rows:
        while row and row[-1] in (None, ""):
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _address(ref: str) -> tuple[int, int]:
    letters, digits = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", ref).groups()
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - 64
    return int(digits), column


def read_xlsx_with_openpyxl(path: Path) -> ReadBook:
    """The reference .xlsx reader: openpyxl's workbook, cell by cell (slow; ``read_xlsx`` is held equal to
    it)."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheets = {}
    for sheet in book.worksheets:
        read = ReadSheet(sheet.title, _trim([list(row) for row in sheet.iter_rows(values_only=True)]))
        for name, ref in sheet.tables.items():
            start, end = ref.split(":")
            read.tables[name] = (*_address(start), *_address(end))
        read.merged = [str(r) for r in sheet.merged_cells.ranges]
        for row in sheet.iter_rows():
            for cell in row:
                if cell.hyperlink is not None and cell.hyperlink.location:
                    read.links[str(cell.value)] = cell.hyperlink.location.split("!")[0].strip("'")
                    continue  # a link is blue and underlined: its colour is not its only mark
                if _coloured(cell.font, cell.fill):
                    read.coloured.append(cell.coordinate)
        sheets[sheet.title] = read
    return ReadBook(path, sheets, _xlsx_metadata(book))


def _coloured(font: Any, fill: Any) -> bool:
    """Whether a cell with this font and fill shows colour: a fill, or text in a colour other than black."""
    colour = font.color.rgb if font and font.color is not None else None
    filled = fill is not None and fill.fill_type not in (None, "none")
    return filled or (isinstance(colour, str) and colour not in ("FF000000", "00000000"))


def _xlsx_metadata(book: Any) -> dict[str, str]:
    """An openpyxl workbook's document properties and custom properties, as text."""
    properties = book.properties
    metadata = {
        "title": properties.title or "",
        "subject": properties.subject or "",
        "creator": properties.creator or "",
        "language": properties.language or "",
    }
    return metadata | {prop.name: str(prop.value) for prop in book.custom_doc_props.props}


class NotStreamable(Exception):
    """A workbook holding something ``read_xlsx_streamed`` does not read (the reason is the message)."""


SPREADSHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
CELL_REFERENCE = re.compile(r"([A-Z]{1,3})(\d+)")


def read_xlsx(path: Path) -> ReadBook:
    """The .xlsx as openpyxl reads it (``read_xlsx_with_openpyxl``): streamed where the workbook holds only
    what ``read_xlsx_streamed`` reads, else by openpyxl itself."""
    try:
        return read_xlsx_streamed(path)
    except NotStreamable:
        return read_xlsx_with_openpyxl(path)


def read_xlsx_streamed(path: Path) -> ReadBook:
    """The .xlsx read as openpyxl reads it, without its cell objects: the package, shared strings, styles,
    document properties, relationships and tables are read by openpyxl's own readers; each sheet's XML is
    streamed (xml.etree's ``iterparse`` over expat) and each cell's value made by openpyxl's rule, step for
    step. Whether a cell is coloured is decided once per style id, by the reference's own test on the font
    and fill that style names. What openpyxl would turn into something else (a formula, a date, an error,
    a merged range, a link over a range or on an empty cell, a comment, a coloured default style) raises
    ``NotStreamable``, and ``read_xlsx`` reads that workbook with openpyxl."""
    from xml.etree.ElementTree import fromstring, iterparse

    from openpyxl.cell.text import Text
    from openpyxl.packaging.relationship import get_dependents, get_rels_path
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.cell_style import StyleArray
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.table import Table

    reader = ExcelReader(path, read_only=True)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    reader.read_properties()
    reader.read_custom()
    apply_stylesheet(reader.archive, reader.parser.wb)
    workbook, strings, archive = reader.parser.wb, reader.shared_strings, reader.archive
    # Tagged ids: cells with this style are coloured (the reference's own test on the style's font and fill).
    coloured_style: dict[int, bool] = {}

    def is_coloured(style: Any) -> bool:
        return _coloured(workbook._fonts[style.fontId], workbook._fills[style.fillId])

    if is_coloured(StyleArray()):
        # openpyxl's iter_rows makes every empty cell of the sheet's rectangle with the default style.
        raise NotStreamable("the default style is coloured")
    cell_tag, value_tag, formula_tag = f"{SPREADSHEET}c", f"{SPREADSHEET}v", f"{SPREADSHEET}f"
    inline_tag, text_tag = f"{SPREADSHEET}is", f"{SPREADSHEET}t"
    merge_tag, link_tag, table_part_tag = (
        f"{SPREADSHEET}mergeCell",
        f"{SPREADSHEET}hyperlink",
        f"{SPREADSHEET}tablePart",
    )
    row_tag, date_formats = f"{SPREADSHEET}row", workbook._date_formats
    columns: dict[str, int] = {}  # a column's letters -> its number
    sheets = {}
    for sheet_entry, relation in reader.parser.find_sheets():
        if relation.target not in reader.valid_files:
            continue
        if "chartsheet" in relation.Type:
            raise NotStreamable("a chart sheet")
        relations_path = get_rels_path(relation.target)
        relations = get_dependents(archive, relations_path) if relations_path in reader.valid_files else None
        if relations is not None and any(r.Type.endswith("/comments") for r in relations):
            raise NotStreamable("comments")
        cells: dict[tuple[int, int], tuple[Any, int]] = {}
        # Cells whose style is coloured and cells with a link: the only ones the colour and link pass visits.
        marked: set[tuple[int, int]] = set()
        links: dict[tuple[int, int], str | None] = {}
        table_parts: list[str] = []
        with archive.open(relation.target) as source:
            for _, element in iterparse(source):
                tag = element.tag
                if tag == cell_tag:
                    found = CELL_REFERENCE.fullmatch(element.get("r") or "")
                    if found is None:
                        raise NotStreamable(f"a cell without a plain reference: {element.get('r')!r}")
                    kind, style = element.get("t", "n"), int(element.get("s") or 0)
                    if element.find(formula_tag) is not None:
                        raise NotStreamable("a formula")
                    value: Any = None if kind == "inlineStr" else element.findtext(value_tag, None) or None
                    if kind == "inlineStr":
                        # openpyxl's rule: the inline string's text (Text.content), when it has one.
                        inline = element.find(inline_tag)
                        if inline is not None:
                            only = inline[0] if len(inline) == 1 else None
                            if only is not None and only.tag == text_tag:
                                value = only.text or ""  # a plain text: Text.content, without its objects
                            else:
                                value = Text.from_tree(inline).content
                    elif value is not None:
                        if kind == "n":
                            if style in date_formats:
                                raise NotStreamable("a date")
                            exponent_or_point = "." in value or "E" in value or "e" in value
                            value = float(value) if exponent_or_point else int(value)
                        elif kind == "s":
                            value = strings[int(value)]
                        elif kind == "b":
                            value = bool(int(value))
                        elif kind != "str":
                            raise NotStreamable(f"a cell of type {kind!r}")
                    letters, digits = found.groups()
                    column = columns.get(letters)
                    if column is None:
                        column = columns[letters] = _address(f"{letters}1")[1]
                    key = (int(digits), column)
                    cells[key] = (value, style)
                    coloured = coloured_style.get(style)
                    if coloured is None:
                        coloured = coloured_style[style] = is_coloured(workbook._cell_styles[style])
                    if coloured:
                        marked.add(key)
                    element.clear()
                elif tag == row_tag:
                    element.clear()
                elif tag == merge_tag:
                    raise NotStreamable("a merged range")
                elif tag == link_tag:
                    reference = element.get("ref") or ""
                    if CELL_REFERENCE.fullmatch(reference) is None:
                        raise NotStreamable(f"a link over {reference!r}")
                    links[_address(reference)] = element.get("location")
                elif tag == table_part_tag:
                    table_parts.append(relations.get(element.get(RELATIONSHIP_ID)).Target)
        last_row = max((row for row, _ in cells), default=0)
        width = max((column for _, column in cells), default=0)
        rows: list[list[Any]] = [[None] * width for _ in range(last_row)]
        for (row, column), (value, _) in cells.items():
            rows[row - 1][column - 1] = value
        read = ReadSheet(sheet_entry.name, _trim(rows))
        for part in table_parts:
            table = Table.from_tree(fromstring(archive.read(part)))
            start, end = table.ref.split(":")
            read.tables[table.name] = (*_address(start), *_address(end))
        # The reference's pass over every cell, row by row, for the cells it can find anything in.
        for key in sorted(marked | links.keys()):
            if key not in cells:
                raise NotStreamable("a link on a cell that is not in the sheet")
            value, style = cells[key]
            if key in links:
                if value is None:
                    raise NotStreamable("a link on an empty cell (openpyxl gives it the link as its value)")
                if links[key]:
                    read.links[str(value)] = links[key].split("!")[0].strip("'")
                    continue
            if coloured_style[style]:
                read.coloured.append(f"{get_column_letter(key[1])}{key[0]}")
        sheets[sheet_entry.name] = read
    archive.close()
    return ReadBook(path, sheets, _xlsx_metadata(workbook))


def read_ods_with_odfpy(path: Path) -> ReadBook:
    """The reference .ods reader: odfpy's document model (slow; ``read_ods`` is held equal to it)."""
    from odf import dc, meta, table, text
    from odf.namespaces import OFFICENS, STYLENS, TABLENS, XLINKNS
    from odf.opendocument import load
    from odf.style import Style, TableCellProperties, TextProperties

    document = load(str(path))
    coloured_styles = set()
    for style in document.getElementsByType(Style):
        for properties in (
            *style.getElementsByType(TableCellProperties),
            *style.getElementsByType(TextProperties),
        ):
            attributes = {key[1] for key in properties.attributes}
            if {"background-color", "color"} & attributes:
                coloured_styles.add(style.getAttrNS(STYLENS, "name"))

    def cell_text(cell: Any) -> str:
        return "\n".join(
            "".join(str(node) if node.nodeType == node.TEXT_NODE else _text(node) for node in p.childNodes)
            for p in cell.getElementsByType(text.P)
        )

    def _text(node: Any) -> str:
        return "".join(
            str(child) if child.nodeType == child.TEXT_NODE else _text(child) for child in node.childNodes
        )

    sheets = {}
    for sheet in document.spreadsheet.getElementsByType(table.Table):
        name = sheet.getAttrNS(TABLENS, "name")
        read = ReadSheet(name, [])
        rows = []
        for r, row in enumerate(sheet.getElementsByType(table.TableRow), start=1):
            values = []
            for element in row.childNodes:
                if element.qname[1] == "covered-table-cell":
                    read.merged.append(f"{name} row {r}")
                    values.append(None)
                    continue
                if element.getAttrNS(TABLENS, "number-columns-spanned") or element.getAttrNS(
                    TABLENS, "number-rows-spanned"
                ):
                    read.merged.append(f"{name} row {r}")
                repeat = int(element.getAttrNS(TABLENS, "number-columns-repeated") or 1)
                kind = element.getAttrNS(OFFICENS, "value-type")
                if kind == "float":
                    value: Any = float(element.getAttrNS(OFFICENS, "value"))
                    value = int(value) if value.is_integer() else value
                else:
                    value = cell_text(element) or None
                if element.getAttrNS(TABLENS, "style-name") in coloured_styles:
                    read.coloured.append(f"{name} row {r}")
                for anchor in element.getElementsByType(text.A):
                    target = anchor.getAttrNS(XLINKNS, "href").lstrip("#").split(".")[0].strip("'")
                    read.links[str(value)] = target
                values += [value] * min(repeat, 1024)
            rows.append(values)
        read.rows = _trim(rows)
        sheets[name] = read
    for database in document.spreadsheet.getElementsByType(table.DatabaseRange):
        address = database.getAttrNS(TABLENS, "target-range-address")
        found = re.fullmatch(r"'?([^'.]+)'?\.([A-Z]+\d+):(?:'?[^'.]+'?\.)?([A-Z]+\d+)", address)
        if found and found[1] in sheets:
            sheets[found[1]].tables[database.getAttrNS(TABLENS, "name")] = (
                *_address(found[2]),
                *_address(found[3]),
            )
    metadata = {}
    for key, kind in (
        ("title", dc.Title),
        ("subject", dc.Subject),
        ("creator", dc.Creator),
        ("language", dc.Language),
    ):
        found = document.meta.getElementsByType(kind)
        metadata[key] = _text(found[0]) if found else ""
    for field_ in document.meta.getElementsByType(meta.UserDefined):
        metadata[field_.getAttrNS("urn:oasis:names:tc:opendocument:xmlns:meta:1.0", "name")] = _text(field_)
    return ReadBook(path, sheets, metadata)


MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
ODS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xlink": "http://www.w3.org/1999/xlink",
}


def _ods(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{ODS[prefix]}}}{local}"


def read_ods(path: Path) -> ReadBook:
    """The .ods read as odfpy reads it (``read_ods_with_odfpy``), streamed: content.xml's rows are read
    and dropped one at a time as expat parses them (xml.etree's ``iterparse``), so no document model of
    the whole workbook is built. What each cell becomes is odfpy's reader's rule, step for step."""
    import io
    import zipfile
    from xml.etree.ElementTree import fromstring, iterparse

    style, row_tag, table_tag = _ods("style:style"), _ods("table:table-row"), _ods("table:table")
    cell_tag, covered_tag = _ods("table:table-cell"), _ods("table:covered-table-cell")
    p_tag, a_tag, database_tag = _ods("text:p"), _ods("text:a"), _ods("table:database-range")
    name_attribute, style_name = _ods("table:name"), _ods("table:style-name")
    spanned = (_ods("table:number-columns-spanned"), _ods("table:number-rows-spanned"))
    repeated, value_type, value_attribute = (
        _ods("table:number-columns-repeated"),
        _ods("office:value-type"),
        _ods("office:value"),
    )
    coloured_properties = (_ods("style:table-cell-properties"), _ods("style:text-properties"))
    href = _ods("xlink:href")
    coloured_styles: set[str] = set()

    def note_style(element: Any) -> None:
        # A style is coloured when any of its cell or text properties sets a background or text colour
        # (any namespace, as odfpy's reader compares the attributes' local names).
        for properties in element.iter():
            if properties.tag in coloured_properties and {
                key.rsplit("}", 1)[-1] for key in properties.attrib
            } & {"background-color", "color"}:
                coloured_styles.add(element.get(_ods("style:name")))

    with zipfile.ZipFile(path) as archive:
        # Only the parts the manifest lists are the document's (odfpy reads no other).
        manifest = fromstring(archive.read("META-INF/manifest.xml"))
        names = {
            entry.get(f"{{{MANIFEST}}}full-path") for entry in manifest.iter(f"{{{MANIFEST}}}file-entry")
        } & set(archive.namelist())
        if "styles.xml" in names:
            for element in fromstring(archive.read("styles.xml")).iter(style):
                note_style(element)
        sheets: dict[str, ReadSheet] = {}
        ranges: list[tuple[str, str]] = []
        with archive.open("content.xml") if "content.xml" in names else io.BytesIO(b"<empty />") as content:
            read: ReadSheet | None = None
            rows: list[list[Any]] = []
            for event, element in iterparse(content, events=("start", "end")):
                if event == "start":
                    if element.tag == table_tag:
                        read, rows = ReadSheet(element.get(name_attribute), []), []
                    continue
                if element.tag == style:
                    note_style(element)
                elif element.tag == row_tag and read is not None:
                    number = len(rows) + 1
                    values: list[Any] = []
                    for cell in element:
                        if cell.tag == covered_tag:
                            read.merged.append(f"{read.name} row {number}")
                            values.append(None)
                            continue
                        if cell.tag != cell_tag:
                            continue
                        if cell.get(spanned[0]) or cell.get(spanned[1]):
                            read.merged.append(f"{read.name} row {number}")
                        if cell.get(value_type) == "float":
                            value: Any = float(cell.get(value_attribute))
                            value = int(value) if value.is_integer() else value
                        else:
                            value = "\n".join("".join(p.itertext()) for p in cell.iter(p_tag)) or None
                        if cell.get(style_name) in coloured_styles:
                            read.coloured.append(f"{read.name} row {number}")
                        for anchor in cell.iter(a_tag):
                            read.links[str(value)] = anchor.get(href).lstrip("#").split(".")[0].strip("'")
                        values += [value] * min(int(cell.get(repeated) or 1), 1024)
                    rows.append(values)
                    element.clear()  # the row is read: let it go
                elif element.tag == table_tag and read is not None:
                    read.rows = _trim(rows)
                    sheets[read.name] = read
                    read, rows = None, []
                    element.clear()
                elif element.tag == database_tag:
                    ranges.append(
                        (element.get(_ods("table:target-range-address")), element.get(name_attribute))
                    )
        meta = fromstring(archive.read("meta.xml")) if "meta.xml" in names else None
    for address, name in ranges:
        found = re.fullmatch(r"'?([^'.]+)'?\.([A-Z]+\d+):(?:'?[^'.]+'?\.)?([A-Z]+\d+)", address)
        if found and found[1] in sheets:
            sheets[found[1]].tables[name] = (*_address(found[2]), *_address(found[3]))
    metadata = {}
    for key in ("title", "subject", "creator", "language"):
        found = next(meta.iter(_ods(f"dc:{key}")), None) if meta is not None else None
        metadata[key] = "".join(found.itertext()) if found is not None else ""
    for field_ in meta.iter(_ods("meta:user-defined")) if meta is not None else ():
        metadata[field_.get(_ods("meta:name"))] = "".join(field_.itertext())
    return ReadBook(path, sheets, metadata)


def read(path: Path) -> ReadBook:
    return read_xlsx(path) if path.suffix == ".xlsx" else read_ods(path)


def table_sheets(book: ReadBook) -> list[ReadSheet]:
    return [sheet for name, sheet in book.sheets.items() if name not in FIXED_SHEETS]


def title_of(sheet: ReadSheet) -> str:
    """A sheet's title without its note references."""
    return NOTE_REFERENCE.sub("", str(sheet.cell(1, 1) or "")).strip()


# ---------------------------------------------------------------------------------------------- checks


def check_cover_contents_notes_first(
    book: ReadBook, synthetic: bool, release: dict[str, str] | None
) -> list[str]:
    problems = []
    if tuple(book.sheets)[:3] != FIXED_SHEETS:
        problems.append(f"the first sheets are {tuple(book.sheets)[:3]}, not cover, contents, notes")
    cover = " ".join(str(v) for row in book.sheets.get("Cover", ReadSheet("", [])).rows for v in row if v)
    if synthetic and "SYNTHETIC DATA" not in cover:
        problems.append("the cover does not say the data are synthetic")
    for name, value in (release or {}).items():
        if str(value) not in cover:
            problems.append(f"the cover has no {name}")
    if "[c]" not in cover or "[z]" not in cover:
        problems.append("the cover does not explain the shorthand")
    return problems


def check_contents_links(book: ReadBook) -> list[str]:
    contents = book.sheets.get("Contents")
    if contents is None or not contents.tables:
        return ["no contents table"]
    _, body = contents.table()
    listed = {str(row[0]): str(row[1]) for row in body}
    problems = []
    for sheet in table_sheets(book):
        if sheet.name not in listed:
            problems.append(f"{sheet.name}: not in the contents")
        elif contents.links.get(sheet.name) != sheet.name:
            problems.append(f"{sheet.name}: its contents entry does not link to it")
        elif listed[sheet.name].strip() != title_of(sheet):
            problems.append(
                f"{sheet.name}: the contents describes it as {listed[sheet.name]!r}, its title differs"
            )
    problems += [
        f"contents links {text} to {target}, no such sheet"
        for text, target in contents.links.items()
        if target not in book.sheets
    ]
    return problems


def check_notes(book: ReadBook) -> list[str]:
    notes = book.sheets.get("Notes")
    if notes is None or not notes.tables:
        return ["no notes table"]
    _, body = notes.table()
    numbers = [row[0] for row in body]
    problems = []
    if not all(isinstance(n, int) for n in numbers):
        problems.append(f"note numbers are not numbers: {numbers}")
    elif numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"notes are not numbered 1 to {len(numbers)}: {numbers}")
    referred = {int(n) for _, text in book.text_cells() for n in NOTE_REFERENCE.findall(text)}
    problems += [
        f"note {n} is referred to but not on the notes sheet" for n in sorted(referred - set(numbers))
    ]
    problems += [
        f"note {n} is never referred to" for n in sorted(set(numbers) - referred) if isinstance(n, int)
    ]
    return problems


def check_one_table_per_sheet(book: ReadBook) -> list[str]:
    problems = []
    for sheet in [book.sheets[n] for n in ("Contents", "Notes") if n in book.sheets] + table_sheets(book):
        if len(sheet.tables) != 1:
            problems.append(f"{sheet.name}: {len(sheet.tables)} tables marked, not one")
            continue
        first_row, first_col, last_row, last_col = next(iter(sheet.tables.values()))
        if not isinstance(sheet.cell(1, 1), str) or not sheet.cell(1, 1).strip():
            problems.append(f"{sheet.name}: no title in A1")
        if first_col != 1:
            problems.append(f"{sheet.name}: the table starts in column {first_col}, not A")
        above = [v for row in sheet.rows[: first_row - 1] for v in row[1:] if v not in (None, "")]
        if above:
            problems.append(f"{sheet.name}: cells beside the title rows: {above[:3]}")
        if len(sheet.rows) > last_row or any(len(row) > last_col for row in sheet.rows):
            problems.append(f"{sheet.name}: cells outside its table")
        headers = [sheet.cell(first_row, c) for c in range(first_col, last_col + 1)]
        if any(not isinstance(h, str) or not h.strip() for h in headers) or len(set(headers)) != len(headers):
            problems.append(f"{sheet.name}: the header row is not one named column each: {headers}")
    return problems


def check_no_merged_cells(book: ReadBook) -> list[str]:
    return [f"{sheet.name}: merged {cells}" for sheet in book.sheets.values() for cells in sheet.merged]


def check_no_blank_cells_in_tables(book: ReadBook) -> list[str]:
    problems = []
    for sheet in table_sheets(book):
        if not sheet.tables:
            continue
        headers, body = sheet.table()
        for index, row in enumerate(body, start=1):
            blank = [headers[i] for i, value in enumerate(row) if value is None or str(value).strip() == ""]
            if blank:
                problems.append(f"{sheet.name}: row {index} of the table has blank cells in {blank[:3]}")
                break
    return problems


def check_no_colour(book: ReadBook) -> list[str]:
    return [
        f"{sheet.name}: colour in {cells[:3]}" for sheet in book.sheets.values() if (cells := sheet.coloured)
    ]


def check_numbers_are_numbers(book: ReadBook) -> list[str]:
    problems = []
    for sheet in table_sheets(book):
        if not sheet.tables:
            continue
        headers, body = sheet.table()
        for column, header in enumerate(headers):
            texts = [row[column] for row in body if isinstance(row[column], str)]
            as_text = [v for v in texts if NUMBER_AS_TEXT.match(v.strip())]
            # A column of numbers with some stored as text (words, shorthand and "<0.001" are text).
            words_ = [
                v
                for v in texts
                if not NUMBER_AS_TEXT.match(v.strip()) and not SHORTHAND.match(v) and v != "<0.001"
            ]
            if as_text and not words_:
                problems.append(f"{sheet.name}: numbers stored as text in {header!r}, e.g. {as_text[0]!r}")
                break
    return problems


def check_no_codes(book: ReadBook, code_headers: set[str]) -> list[str]:
    """No code in any text a reader sees, but in the columns naming files and modules (``code_headers``)."""
    problems = []
    for sheet in book.sheets.values():
        exempt: set[int] = set()
        if sheet.tables:
            first_row, first_col, _, last_col = next(iter(sheet.tables.values()))
            exempt = {c for c in range(first_col, last_col + 1) if sheet.cell(first_row, c) in code_headers}
        for row in sheet.rows:
            for column, value in enumerate(row, start=1):
                if not isinstance(value, str) or column in exempt:
                    continue
                text = FILE_NAME.sub("", value)
                if CODE.search(text):
                    problems.append(f"{sheet.name}: a code in {value[:80]!r}")
                    break
            if problems and problems[-1].startswith(f"{sheet.name}:"):
                break  # one example a sheet
    return problems


def check_shorthand_explained(book: ReadBook) -> list[str]:
    problems = []
    for sheet in table_sheets(book):
        used = {v for row in sheet.rows for v in row if isinstance(v, str) and SHORTHAND.match(v)}
        legend = " ".join(str(v) for row in sheet.rows[:8] for v in row if isinstance(v, str))
        problems += [
            f"{sheet.name}: {marker} is not explained"
            for marker in sorted(used)
            if f"{marker} = " not in legend
        ]
    return problems


def check_metadata(book: ReadBook, release: dict[str, str] | None) -> list[str]:
    problems = [
        f"no document {key}"
        for key in ("title", "subject", "creator", "language")
        if not book.metadata.get(key)
    ]
    for name, key in zip(RELEASE_FIELDS, ("date", "status", "contact", "next_update"), strict=True):
        if release and book.metadata.get(name) != str(release[key]):
            problems.append(f"document property {name!r} is {book.metadata.get(name)!r}, not the release's")
    return problems


def check_disclosure(book: ReadBook, min_cell: int) -> list[str]:
    problems = []
    for sheet in table_sheets(book):
        if not sheet.tables:
            continue
        headers, body = sheet.table()
        for column, header in enumerate(headers):
            if COUNT_HEADERS.match(header):
                small = [
                    row[column]
                    for row in body
                    if isinstance(row[column], int | float) and 0 < row[column] < min_cell
                ]
                if small:
                    problems.append(f"{sheet.name}: {header} has counts under {min_cell}: {small[:3]}")
    return problems


def checklist(
    book: ReadBook, *, synthetic: bool, release: dict[str, str] | None, min_cell: int, code_headers: set[str]
) -> dict[str, list[str]]:
    """Every check's problems by its name."""
    return {
        "cover, contents and notes first": check_cover_contents_notes_first(book, synthetic, release),
        "contents links every sheet": check_contents_links(book),
        "notes numbered and referred to": check_notes(book),
        "one table per sheet, title in A1": check_one_table_per_sheet(book),
        "no merged cells": check_no_merged_cells(book),
        "no blank cells in tables": check_no_blank_cells_in_tables(book),
        "no colour": check_no_colour(book),
        "numbers stored as numbers": check_numbers_are_numbers(book),
        "no codes": check_no_codes(book, code_headers),
        "shorthand explained": check_shorthand_explained(book),
        "metadata": check_metadata(book, release),
        "no cell under the minimum": check_disclosure(book, min_cell),
    }
