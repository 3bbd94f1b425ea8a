"""Workbooks: Excel .xlsx, old Excel .xls and OpenDocument .ods, read through calamine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import re
import zipfile
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.config import InputFile
from pipeline.core.formats import sniff
from pipeline.core.paths import relative_to_root
from pipeline.readers.table import (
    HEADER_SEARCH_ROWS,
    RawTable,
    expected_headers,
    fail,
    find_header,
    header_score,
    read_bytes,
    records_to_table,
    repair,
)

KIND_SHEET_BY_CONTENT = "sheet_chosen_by_content"  # no sheet configured: the best match of the codebook
KIND_MERGED = "merged_cell_filled"  # a cell under a merged range, given its value (fill_merged_cells)


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a person sees: whole numbers without '.0', empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _choose_sheet(spec: InputFile, names: list[str]) -> str | None:
    """The configured sheet (a name, or a 0-based number), the only sheet, or None: choose by content."""
    path = spec.path
    if spec.sheet is None:
        return names[0] if len(names) == 1 else None
    if isinstance(spec.sheet, int):
        if not 0 <= spec.sheet < len(names):
            raise fail(path, f"has no sheet number {spec.sheet} (0-based); sheets: {', '.join(names)}")
        return names[spec.sheet]
    if spec.sheet in names:
        return spec.sheet
    raise fail(path, f"has no sheet {spec.sheet!r}; sheets: {', '.join(names)}")


def _sheet_by_content(
    spec: InputFile, codebook: Codebook, workbook: Any, names: list[str]
) -> tuple[str, str]:
    """The sheet whose header row best matches the instrument's codebook columns, and the record of why.

    A workbook often holds a cover sheet, a log of reminders or a data dictionary beside the responses.
    A sheet is chosen only if its header names at least half of the codebook columns and more than any
    other sheet's; otherwise the run stops, naming each sheet and how many columns it matched.
    """
    expected = expected_headers(codebook, spec)
    wanted = len(codebook.columns(spec.instrument))
    matches = {}
    for name in names:
        try:
            head = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=HEADER_SEARCH_ROWS)
        except Exception:  # a chart sheet or a damaged one holds no responses
            head = []
        matches[name] = max((header_score([_cell_text(v) for v in row], expected) for row in head), default=0)
    ranked = sorted(names, key=lambda name: -matches[name])
    summary = ", ".join(f"{name!r} {matches[name]} of {wanted}" for name in names)
    best = ranked[0]
    if matches[best] == matches[ranked[1]]:
        problem = f"sheets {best!r} and {ranked[1]!r} match the {spec.instrument} columns equally well"
    elif matches[best] * 2 < wanted:
        problem = f"no sheet's header holds half of the {spec.instrument} columns of the codebook"
    else:
        return best, summary
    raise fail(spec.path, f"{problem} (header matches: {summary}); set sheet for this input in config.yaml")


def _merged_data_cells(
    spec: InputFile,
    records: list[list[str]],
    merged: list[tuple[tuple[int, int], tuple[int, int]]],
    header_index: int,
    sheet_name: str,
) -> list[tuple[int, int, str]]:
    """Cells covered by a merged range below the header, with the merged value: (row, column, value).

    A merged range holds its value in its first cell only; the others would read as empty, i.e. not
    answered. Unless fill_merged_cells is set, the first such range stops the run.
    """
    filled = []
    for (top, left), (bottom, right) in sorted(merged):
        if bottom <= header_index:
            continue  # a title or a header spanning columns: no answers there
        reference = f"{column_letters(left)}{top + 1}:{column_letters(right)}{bottom + 1}"
        if not spec.fill_merged_cells:
            raise fail(
                spec.path,
                f"sheet {sheet_name!r} cells {reference} (rows {top + 1}-{bottom + 1}) are merged in the "
                "data area: only the first cell holds a value, the others would read as not answered; "
                "unmerge them in the export, or set fill_merged_cells: true for this input in config.yaml",
            )
        value = records[top][left] if top < len(records) and left < len(records[top]) else ""
        for row in range(max(top, header_index + 1), bottom + 1):
            for column in range(left, right + 1):
                if (row, column) != (top, left):
                    filled.append((row, column, value))
    return filled


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def _ods_merged_ranges(data: bytes, sheet_name: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Merged ranges of an OpenDocument sheet, 0-based ((top, left), (bottom, right)), from content.xml.

    A merged range is a cell with ``number-rows-spanned`` or ``number-columns-spanned`` above 1; the
    cells it covers are ``covered-table-cell`` elements, which read as empty.
    """
    from xml.etree import ElementTree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = archive.read("content.xml")
        root = ElementTree.fromstring(content)
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return []
    cells = (f"{_ODS_TABLE}table-cell", f"{_ODS_TABLE}covered-table-cell")
    for table in root.iter(f"{_ODS_TABLE}table"):
        if table.get(f"{_ODS_TABLE}name") != sheet_name:
            continue
        ranges = []
        row = 0
        for record in table.iter(f"{_ODS_TABLE}table-row"):
            column = 0
            for cell in record:
                if cell.tag not in cells:
                    continue
                down = int(cell.get(f"{_ODS_TABLE}number-rows-spanned", "1"))
                across = int(cell.get(f"{_ODS_TABLE}number-columns-spanned", "1"))
                if cell.tag == cells[0] and (down > 1 or across > 1):
                    ranges.append(((row, column), (row + down - 1, column + across - 1)))
                column += int(cell.get(f"{_ODS_TABLE}number-columns-repeated", "1"))
            row += int(record.get(f"{_ODS_TABLE}number-rows-repeated", "1"))
        return ranges
    return []


def column_letters(index: int) -> str:
    """A zero-based column index as spreadsheet letters: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


_XLSX_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.DOTALL)
_XLSX_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"')


def _sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding a sheet, from the workbook and its relationships."""
    workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    relations = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    for tag in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", workbook):
        name = re.search(r'\bname="([^"]*)"', tag)
        relation = re.search(r'\br:id="([^"]*)"', tag) or re.search(r'\bid="([^"]*)"', tag)
        if name and relation and html.unescape(name[1]) == sheet_name:
            for link in re.findall(r"<Relationship\b[^>]*>", relations):
                if f'Id="{relation[1]}"' in link:
                    target = re.search(r'\bTarget="([^"]*)"', link)
                    if target:
                        path = target[1]
                        return path.lstrip("/") if path.startswith("/") else f"xl/{path}"
    return None


def _uncalculated_formula(workbook_bytes: bytes, sheet_name: str) -> str | None:
    """The reference (D3) of the first formula cell with no stored result in the sheet, else None.

    A workbook written by a script and never opened in Excel holds formulas without their values;
    read with data_only they look empty, i.e. "not answered". In the sheet's XML such a cell has an
    <f> element and no value: no <v>, or an empty one (openpyxl writes <v />). An empty value is a
    real result only for a text formula (t="str"), which is what Excel saves for ="".
    """
    try:
        with zipfile.ZipFile(io.BytesIO(workbook_bytes)) as archive:
            part = _sheet_part(archive, sheet_name)
            xml = archive.read(part) if part in archive.namelist() else b""
    except (KeyError, zipfile.BadZipFile, OSError):
        return None  # openpyxl read the workbook; a layout this look-up does not know has no verdict
    if not re.search(rb"<f[ >/]", xml):
        return None
    for attributes, inner in _XLSX_CELL.findall(xml):
        if not inner or not re.search(rb"<f[ >/]", inner):
            continue
        value = re.search(rb"<v(?:\s*/>|>(.*?)</v>)", inner, re.DOTALL)
        stored = value is not None and (value[1] or b"").strip() != b""
        text_result = re.search(rb'\bt="str"', attributes) is not None
        if not stored and not (value is not None and text_result):
            reference = _XLSX_REF.search(attributes)
            return reference[1].decode() + reference[2].decode() if reference else "?"
    return None


def read_xlsx_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read an Excel sheet (the named one, else the first), finding the header below any title rows.

    The cells are read by calamine, like .xls and .ods: openpyxl took minutes for a 50,000-row sheet
    of inline strings (docs/benchmarks.md). Formula cells without a stored result are refused first.
    """
    path = spec.path
    data = read_bytes(path) if data is None else data
    if not data:
        raise fail(path, "is empty; export the survey again")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise fail(path, "is not an Excel .xlsx workbook (not a zip archive); check the path and format")
    return read_calamine_input(spec, codebook, data, "xlsx")


_WORKBOOK_NAMES = {"xlsx": "an Excel workbook", "xls": "an .xls workbook", "ods": "an .ods spreadsheet"}


def read_calamine_input(
    spec: InputFile, codebook: Codebook, data: bytes | None = None, kind: str | None = None
) -> RawTable:
    """Read an .xlsx, old Excel .xls or OpenDocument .ods sheet through calamine."""
    import python_calamine  # only the workbook readers need it

    path = spec.path
    data = read_bytes(path) if data is None else data
    if kind is None:
        kind = "ods" if sniff(data).format == "ods" else "xls"
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
    except Exception as error:  # calamine raises its own error types and ValueError for damaged files
        raise fail(path, f"cannot be opened as {_WORKBOOK_NAMES[kind]} ({error})") from None
    if not names:
        raise fail(path, "has no sheets; export the survey again")
    sheet_name = _choose_sheet(spec, names)
    chosen = None
    if sheet_name is None:
        sheet_name, chosen = _sheet_by_content(spec, codebook, workbook, names)
    formula = _uncalculated_formula(data, sheet_name) if kind == "xlsx" else None
    if formula is not None:
        row = re.sub(r"[A-Z]", "", formula)
        raise fail(
            path,
            f"sheet {sheet_name!r} cell {formula} (row {row}): a formula with no stored result (the "
            "workbook was written by a program and never calculated), so its answer cannot be read; "
            "open the workbook in Excel or LibreOffice, save it, and run again",
        )
    try:
        # skip_empty_area=False starts at A1, so list position = sheet row - 1 as for .xlsx.
        sheet = workbook.get_sheet_by_name(sheet_name)
        rows = sheet.to_python(skip_empty_area=False)
        merged = sheet.merged_cell_ranges
        if merged is None and kind == "ods":
            merged = _ods_merged_ranges(data, sheet_name)  # calamine reports none for OpenDocument
        merged = list(merged or [])
    except Exception as error:
        raise fail(path, f"sheet {sheet_name!r} cannot be read ({error})") from None
    records = [[_cell_text(value) for value in row] for row in rows]
    table = _sheet_records_to_table(spec, codebook, records, names, sheet_name, kind, merged)
    if chosen is None:
        return table
    note = repair(relative_to_root(path), "", "", chosen, sheet_name, KIND_SHEET_BY_CONTENT)
    return dataclasses.replace(
        table, details={**table.details, "sheet_chosen_by": "content"}, repairs=[note, *table.repairs]
    )


def _sheet_records_to_table(
    spec: InputFile,
    codebook: Codebook,
    records: list[list[str]],
    names: list[str],
    sheet_name: str,
    kind: str,
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = (),
) -> RawTable:
    path = spec.path
    if not any(any(cell.strip() for cell in row) for row in records):
        raise fail(path, f"sheet {sheet_name!r} is empty; export the survey again")
    others = [name for name in names if name != sheet_name]
    header_index = find_header(
        records,
        expected_headers(codebook, spec),
        spec,
        where=f"sheet {sheet_name!r}: ",
        advice=(
            f"if the data are on another sheet ({', '.join(repr(name) for name in others)}), set sheet "
            "in config.yaml; otherwise set header_row or column_map"
            if others
            else "set header_row or column_map in config.yaml"
        ),
    )
    details = {"format": kind, "sheet": sheet_name, "header_row": header_index + 1}
    filled = _merged_data_cells(spec, records, list(merged), header_index, sheet_name)
    header = records[header_index]
    lines = []
    for row, column, value in filled:
        while len(records[row]) <= column:
            records[row].append("")
        records[row][column] = value
        name = header[column].strip() if column < len(header) else ""
        lines.append(
            repair(relative_to_root(path), row + 1, name or column_letters(column), "", value, KIND_MERGED)
        )
    table = records_to_table(spec, codebook, records, header_index, details)
    return dataclasses.replace(table, repairs=[*lines, *table.repairs]) if lines else table
