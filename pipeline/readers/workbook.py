"""Workbooks: Excel .xlsx, old Excel .xls and OpenDocument .ods, read through calamine."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.config import InputFile
from pipeline.core.formats import sniff
from pipeline.readers.table import RawTable, expected_headers, fail, find_header, read_bytes, records_to_table


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


def _choose_sheet(spec: InputFile, names: list[str]) -> str:
    """The configured sheet (a name, or a 0-based number), else the first."""
    path = spec.path
    if spec.sheet is None:
        return names[0]
    if isinstance(spec.sheet, int):
        if not 0 <= spec.sheet < len(names):
            raise fail(path, f"has no sheet number {spec.sheet} (0-based); sheets: {', '.join(names)}")
        return names[spec.sheet]
    if spec.sheet in names:
        return spec.sheet
    raise fail(path, f"has no sheet {spec.sheet!r}; sheets: {', '.join(names)}")


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
        rows = workbook.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except Exception as error:
        raise fail(path, f"sheet {sheet_name!r} cannot be read ({error})") from None
    records = [[_cell_text(value) for value in row] for row in rows]
    return _sheet_records_to_table(spec, codebook, records, names, sheet_name, kind)


def _sheet_records_to_table(
    spec: InputFile,
    codebook: Codebook,
    records: list[list[str]],
    names: list[str],
    sheet_name: str,
    kind: str,
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
    return records_to_table(spec, codebook, records, header_index, details)
