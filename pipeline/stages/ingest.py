"""Ingest stage: read every survey export into one tidy text table per instrument, recording every repair.

The exports come as CSV (labels), Excel (labels) or SPSS .sav (codes with value labels). This stage
only *reads and translates*: labels become codebook codes (as text), obvious formatting slips are
repaired and written to ``ingest_repairs.csv``, and anything it cannot translate is passed through
unchanged so that the validate stage rejects it with its original value. It never drops a respondent
and never guesses a code.

Structural problems (missing file, wrong file type, missing required column, duplicated header, a
delimiter that leaves a single column) stop the run with one line naming the file and what to do.

Outputs (in ``processed_dir``):
  responses_<instrument>.parquet  every codebook column as pandas "string", plus source_file/source_row
  ingest_repairs.csv              file,row,column,original,repaired,kind — one line per repair or warning
  manifest.json                   what was read (sizes, hashes, encodings, row counts) and by which code
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import importlib.metadata
import io
import itertools
import logging
import platform
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import Config, InputFile, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.formats import (
    TEXT_BOMS,
    Sniffed,
    looks_like_utf16_without_bom,
    sniff,
    unreadable_message,
    unwrap,
)
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json, write_parquet
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.study.labels import split_code_and_label
from pipeline.study.lsp_names import AuthorityNames
from pipeline.study.respondents import refuse_empty_instruments

log = logging.getLogger("pipeline.stages.ingest")

REPAIR_COLUMNS = ["file", "row", "column", "original", "repaired", "kind"]
SOURCE_COLUMNS = ["source_file", "source_row"]
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEADER_SEARCH_ROWS = 20
# Appended after a CSV's text to detect a quote left open at the end of the file (see read_csv_input).
_END_MARKER = "\x1eend of file\x1e"
MANIFEST_PACKAGES = (
    "pandas",
    "numpy",
    "pandera",
    "pyarrow",
    "pyreadstat",
    "openpyxl",
    "python-calamine",
    "scipy",
    "statsmodels",
    "plotnine",
)

# Repair kinds: every translation that is not an exact label (or, for .sav, an exact code) is one of these.
KIND_NORMALISED = "label_normalised"  # case, spacing or curly quotes differed from the codebook label
KIND_SENTINEL = "missing_sentinel"  # "DK", "n/a" and the like, mapped to the codebook's missing code
KIND_CODE_NOT_LABEL = "code_not_label"  # a label column held the numeric code itself
KIND_NUMBER_TEXT = "number_text"  # " 12 ", "1,200", "12.0" for a count or year
KIND_BLANK = "whitespace_only"  # a cell of spaces: not answered
KIND_ID_WHITESPACE = "id_whitespace"
KIND_HEADER = "header_normalised"
KIND_UNKNOWN_COLUMN = "unknown_column_ignored"
KIND_BLANK_ROW = "blank_row_skipped"
KIND_SHORT_ROW = "short_row_padded"
KIND_SAV_LABEL = "sav_value_label_differs"
KIND_SAV_LABEL_EXTRA = "sav_value_label_not_in_codebook"
KIND_SAV_LABEL_ABSENT = "sav_value_label_absent"
KIND_NO_VALUE_LABELS = "value_labels_absent"  # a .sav/.dta/.por with no value labels at all (POR has none)
KIND_FORMAT = "format_from_content"  # the bytes are another format than the name or config says
KIND_EXTRA_HEADER = "extra_header_row_skipped"  # a survey tool's question-text, option or ImportId row
KIND_CODE_AND_LABEL = "code_and_label"  # "4 - Agree" where 4 is Agree in the codebook
KIND_DECIMAL_COMMA = "decimal_comma"  # "18,0" in a semicolon file (the decimal comma convention)
KIND_LSP_FROM_NAME = "lsp_id_from_name"  # the LSP named by its authority, matched once in the frame
KIND_LSP_NAME_UNMATCHED = "lsp_name_unmatched"  # a name matching no LSP or several: repaired lists candidates
# csv's own limit is 131,072 characters; above it a cell is refused with its row and column (a longer
# comment than any survey form takes is a broken export).
MAX_CELL_CHARACTERS = 131_072
# C0 and C1 control characters other than tab and line breaks: no answer label holds one.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DECIMAL_COMMA_INTEGER = re.compile(r"(?P<sign>-?)(?P<digits>\d+),0+")
# Survey-tool header rows under the header: a Qualtrics ImportId row, SurveyMonkey's option row.
_QUALTRICS_IMPORT_ID = re.compile(r'\s*\{\s*"ImportId"\s*:')
_SURVEYMONKEY_OPTION_CELLS = {"Response", "Open-Ended Response"}

_CURLY = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"'})
_WHITESPACE = re.compile(r"\s+")
_INTEGER = re.compile(r"-?\d+")
# Integers as people type them: surrounding spaces, thousands separated by commas or spaces, "12.0".
_LOOSE_INTEGER = re.compile(r"(?P<sign>-?)(?P<digits>\d{1,3}(?:[, ]\d{3})+|\d+)(?:\.0+)?")
# Shorthand for "don't know" / "not applicable" seen in survey exports (compared after normalising).
SENTINELS = {
    -8: ("dk", "d/k", "don't know", "dont know", "do not know", "not known", "unknown"),
    -1: ("n/a", "not applicable"),
    -9: ("not answered", "no answer", "no response"),
}


def normalise_label(text: str) -> str:
    """The comparison form of a label: straight quotes, single spaces, no edges, case folded."""
    text = text.translate(_CURLY).replace("\u00a0", " ")
    return _WHITESPACE.sub(" ", text).strip().casefold()


@dataclass(frozen=True)
class RawTable:
    """One export as read: text cells under (mapped) headers, the file row of each record, how it was read."""

    path: Path
    instrument: str
    cells: pd.DataFrame  # object columns of str, "" for an empty cell; headers as in the file
    rows: list[int]  # the 1-based file row of each record (header row counted)
    details: dict[str, Any]  # format, encoding/delimiter or sheet/header_row
    repairs: list[dict[str, Any]] = field(default_factory=list)
    value_labels: dict[str, dict[int, str]] | None = None  # .sav only


@dataclass(frozen=True)
class IngestResult:
    """The tidy tables per instrument, every repair or warning, and the manifest entries of the inputs."""

    responses: dict[str, pd.DataFrame]
    repairs: pd.DataFrame
    inputs: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------ reading


def _fail(path: Path, problem: str) -> PipelineError:
    return PipelineError(f"{relative_to_root(path)}: {problem}")


def _expected_headers(codebook: Codebook, spec: InputFile) -> set[str]:
    """Headers that identify the header row: codebook names and the export names of column_map."""
    return set(codebook.columns(spec.instrument)) | set(spec.column_map)


def _header_score(row: Sequence[str], expected: set[str]) -> int:
    folded = {name.casefold() for name in expected}
    return sum(1 for cell in row if str(cell).strip().casefold() in folded)


def _find_header(
    records: list[list[str]],
    expected: set[str],
    spec: InputFile,
    where: str = "",
    advice: str = "set header_row or column_map in config.yaml",
) -> int:
    """0-based index of the header record: the configured one, else the best match in the first rows.

    ``where`` names the part of the file searched (an Excel sheet), ``advice`` says what to set.
    """
    if spec.header_row is not None:
        if not 1 <= spec.header_row <= len(records):
            raise _fail(spec.path, f"{where}header_row {spec.header_row} is beyond the end of the file")
        return spec.header_row - 1
    scores = [_header_score(row, expected) for row in records[:HEADER_SEARCH_ROWS]]
    best = max(scores, default=0)
    if best == 0:
        raise _fail(
            spec.path,
            f"{where}no header row found in the first {HEADER_SEARCH_ROWS} rows (none of the codebook's "
            f"column names such as respondent_id appear); {advice}",
        )
    return scores.index(best)


def _sniff_binary(path: Path, head: bytes, expected_format: str) -> None:
    """Refuse a file whose first bytes say it is something else (a renamed zip, xls, sav or pdf)."""
    signatures = {
        b"PK\x03\x04": "a zip archive (an .xlsx workbook?)",
        b"\xd0\xcf\x11\xe0": "an old binary Excel .xls or other OLE file",
        b"$FL2": "an SPSS .sav file",
        b"$FL3": "an SPSS .zsav file",
        b"%PDF": "a PDF",
    }
    for magic, what in signatures.items():
        if head.startswith(magic):
            raise _fail(
                path, f"is {what}, not {expected_format.upper()}; fix the path or set format in config"
            )
    utf16 = looks_like_utf16_without_bom(head)
    if utf16 is not None:
        raise _fail(
            path,
            unreadable_message(
                f"{utf16.upper()} text without a byte-order mark", f"set encoding: {utf16} in config.yaml"
            ),
        )
    # A NUL or two in text is a damaged cell, named by its row and column later; many are a binary file.
    if head.count(b"\x00") > max(16, len(head) // 20):
        raise _fail(
            path,
            unreadable_message(
                "a binary file of a kind ingest does not know", "check the path, or export the data again"
            ),
        )


def decode_text(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode a CSV: the configured encoding, else UTF-8 (with or without BOM), else Windows-1252."""
    if encoding:
        try:
            # A configured utf-16/utf-8 keeps the BOM as a character unless it names the BOM variant.
            return data.decode(encoding).removeprefix("\ufeff"), encoding
        except LookupError:
            raise _fail(path, f"unknown encoding {encoding!r} in config.yaml") from None
        except UnicodeDecodeError as error:
            raise _fail(
                path, f"cannot be decoded as {encoding} (byte {error.start}); fix encoding in config.yaml"
            ) from None
    for bom, name in TEXT_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name).removeprefix("\ufeff"), name
            except UnicodeDecodeError as error:
                raise _fail(
                    path,
                    f"has a {name.upper()} byte-order mark but invalid {name.upper()} at byte {error.start}",
                ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        raise _fail(
            path,
            f"is neither UTF-8 nor Windows-1252 (byte {error.start}); set encoding in config.yaml",
        ) from None


def _parse_csv(text: str, delimiter: str, limit: int | None = None) -> list[list[str]]:
    # newline="" keeps quoted newlines inside a cell; the csv module accepts \n, \r\n and \r endings.
    # The field limit is lifted so that an over-long cell is named by its row and column afterwards.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        return list(itertools.islice(reader, limit))
    except csv.Error as error:
        raise PipelineError(f"cannot be parsed as CSV ({error})") from None


def read_csv_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read a CSV export: detect encoding and delimiter, find the header, keep cells as text."""
    path = spec.path
    data = _read_bytes(path) if data is None else data
    wide = spec.encoding is not None and spec.encoding.lower().replace("_", "-").startswith(
        ("utf-16", "utf-32")
    )
    if not wide and not data.startswith(tuple(bom for bom, _ in TEXT_BOMS)):
        _sniff_binary(path, data[:8192], "csv")
    text, encoding = decode_text(path, data, spec.encoding)
    if not text.strip():
        raise _fail(path, "is empty; export the survey again")
    expected = _expected_headers(codebook, spec)
    # The delimiter is the one whose split of the first rows finds the most codebook column names.
    best: tuple[int, int, str] | None = None
    first_widths = []
    for delimiter in DELIMITERS:
        try:
            head = _parse_csv(text, delimiter, HEADER_SEARCH_ROWS)
        except PipelineError:
            continue
        score = max((_header_score(row, expected) for row in head), default=0)
        widest = max((len(row) for row in head), default=0)
        first_widths.append(len(head[0]) if head else 0)
        candidate = (score, widest, delimiter)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None or best[1] <= 1 or (best[0] == 0 and max(first_widths, default=0) <= 1):
        raise _fail(
            path,
            "every row is a single column: the delimiter is none of comma, semicolon, tab or pipe; "
            "export the file again as delimited text",
        )
    delimiter = best[2]
    try:
        # A marker record after the text shows whether the file ends inside an open quote: if it does,
        # the marker is swallowed into the last cell instead of being a record of its own.
        separator = "" if text.endswith(("\n", "\r")) else "\n"
        records = _parse_csv(text + separator + '"' + _END_MARKER, delimiter)
    except PipelineError as error:
        raise _fail(path, str(error)) from None
    ends_in_quote = records[-1] != [_END_MARKER]
    if ends_in_quote:
        records[-1][-1] = records[-1][-1].removesuffix(_END_MARKER).removesuffix(separator)
    else:
        records.pop()
    header_index = _find_header(records, expected, spec)
    if len(records[header_index]) <= 1:
        raise _fail(
            path,
            f"the header has a single column with delimiter {DELIMITER_NAMES[delimiter]}; "
            "the file uses another delimiter: export it again",
        )
    _refuse_open_quotes(spec, codebook, records, header_index, delimiter, ends_in_quote)
    details = {"format": "csv", "encoding": encoding, "delimiter": DELIMITER_NAMES[delimiter]}
    details["header_row"] = header_index + 1
    return _records_to_table(spec, codebook, records, header_index, details)


def _refuse_open_quotes(
    spec: InputFile,
    codebook: Codebook,
    records: list[list[str]],
    header_index: int,
    delimiter: str,
    ends_in_quote: bool,
) -> None:
    """Stop on a quote that is never closed: the rows after it were read into one cell and would be lost.

    Two signs: the file ends inside a quoted cell (a truncated export or a stray quote), or a cell holds
    a line break followed by what starts another record (a respondent id and the delimiter).
    """
    header = records[header_index]

    def column(position: int) -> str:
        name = header[position].strip() if position < len(header) else ""
        return name or f"number {position + 1}"

    if ends_in_quote and len(records) > header_index + 1:
        position = len(records[-1]) - 1
        raise _fail(
            spec.path,
            f"row {len(records)} column {column(position)}: a quoted cell is never closed before the end "
            "of the file (the export is cut short, or a stray quote); export the file again",
        )
    id_pattern = codebook.instruments[spec.instrument]["respondent_id_pattern"]
    next_record = re.compile(
        r"[\r\n](?:" + id_pattern.removeprefix("^").removesuffix("$") + ")" + re.escape(delimiter)
    )
    for index in range(header_index + 1, len(records)):
        record = records[index]
        joined = "".join(record)
        if "\n" not in joined and "\r" not in joined:
            continue
        for position, cell in enumerate(record):
            if next_record.search(cell):
                raise _fail(
                    spec.path,
                    f"row {index + 1} column {column(position)}: a quote opened in this cell is never "
                    "closed, so the rows after it were read into the cell; fix the quoting in the export",
                )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "not found; check dataset.inputs in config.yaml") from None
    except IsADirectoryError:
        raise _fail(path, "is a folder, not a file; check dataset.inputs in config.yaml") from None
    except OSError as error:
        raise _fail(path, f"cannot be read ({error.strerror})") from None


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
            raise _fail(path, f"has no sheet number {spec.sheet} (0-based); sheets: {', '.join(names)}")
        return names[spec.sheet]
    if spec.sheet in names:
        return spec.sheet
    raise _fail(path, f"has no sheet {spec.sheet!r}; sheets: {', '.join(names)}")


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
    data = _read_bytes(path) if data is None else data
    if not data:
        raise _fail(path, "is empty; export the survey again")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise _fail(path, "is not an Excel .xlsx workbook (not a zip archive); check the path and format")
    return read_calamine_input(spec, codebook, data, "xlsx")


_WORKBOOK_NAMES = {"xlsx": "an Excel workbook", "xls": "an .xls workbook", "ods": "an .ods spreadsheet"}


def read_calamine_input(
    spec: InputFile, codebook: Codebook, data: bytes | None = None, kind: str | None = None
) -> RawTable:
    """Read an .xlsx, old Excel .xls or OpenDocument .ods sheet through calamine."""
    import python_calamine  # only the workbook readers need it

    path = spec.path
    data = _read_bytes(path) if data is None else data
    if kind is None:
        kind = "ods" if sniff(data).format == "ods" else "xls"
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
    except Exception as error:  # calamine raises its own error types and ValueError for damaged files
        raise _fail(path, f"cannot be opened as {_WORKBOOK_NAMES[kind]} ({error})") from None
    if not names:
        raise _fail(path, "has no sheets; export the survey again")
    sheet_name = _choose_sheet(spec, names)
    formula = _uncalculated_formula(data, sheet_name) if kind == "xlsx" else None
    if formula is not None:
        row = re.sub(r"[A-Z]", "", formula)
        raise _fail(
            path,
            f"sheet {sheet_name!r} cell {formula} (row {row}): a formula with no stored result (the "
            "workbook was written by a program and never calculated), so its answer cannot be read; "
            "open the workbook in Excel or LibreOffice, save it, and run again",
        )
    try:
        # skip_empty_area=False starts at A1, so list position = sheet row - 1 as for .xlsx.
        rows = workbook.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except Exception as error:
        raise _fail(path, f"sheet {sheet_name!r} cannot be read ({error})") from None
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
        raise _fail(path, f"sheet {sheet_name!r} is empty; export the survey again")
    others = [name for name in names if name != sheet_name]
    header_index = _find_header(
        records,
        _expected_headers(codebook, spec),
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
    return _records_to_table(spec, codebook, records, header_index, details)


def read_sav_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read an SPSS .sav or .zsav file as codes (user-missing codes kept), with its value labels."""
    head = (_read_bytes(spec.path) if data is None else data)[:4]
    if not head:
        raise _fail(spec.path, "is empty; export the survey again")
    if head not in (b"$FL2", b"$FL3"):
        raise _fail(spec.path, "is not an SPSS .sav file; check the path and format")
    return _read_statistics_file(spec, codebook, data, "sav")


def read_dta_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read a Stata .dta file as codes, with its value labels."""
    return _read_statistics_file(spec, codebook, data, "dta")


def read_por_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read an SPSS portable .por file as codes (the format has upper-case names and no value labels here)."""
    return _read_statistics_file(spec, codebook, data, "por")


_STATISTICS_NAMES = {"sav": "SPSS", "dta": "Stata", "por": "SPSS portable"}


def _read_statistics_file(spec: InputFile, codebook: Codebook, data: bytes | None, kind: str) -> RawTable:
    import pyreadstat  # only these readers need it

    path = spec.path
    readers = {
        # user_missing=True keeps -8/-9 declared as user-missing instead of turning them into NaN.
        # A configured encoding overrides the one the file declares (old Stata files declare none).
        "sav": lambda p: pyreadstat.read_sav(
            p, user_missing=True, apply_value_formats=False, encoding=spec.encoding
        ),
        "dta": lambda p: pyreadstat.read_dta(
            p, user_missing=True, apply_value_formats=False, encoding=spec.encoding
        ),
        "por": lambda p: pyreadstat.read_por(p, apply_value_formats=False),  # ASCII by definition
    }
    try:
        if data is None:
            frame, meta = readers[kind](str(path))
        else:
            # pyreadstat reads from a path: what came out of a .gz or .zip goes through a temporary file.
            with tempfile.TemporaryDirectory() as folder:
                copy = Path(folder) / f"export.{kind}"
                copy.write_bytes(data)
                frame, meta = readers[kind](str(copy))
    except Exception as error:  # pyreadstat raises several unrelated types for a damaged file
        raise _fail(
            path, f"cannot be read as {_STATISTICS_NAMES[kind]} ({type(error).__name__}: {error})"
        ) from None
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            columns[name] = [_sav_number_text(value) for value in values.tolist()]
        else:
            columns[name] = ["" if value is None else str(value) for value in values.tolist()]
    cells = pd.DataFrame(columns, columns=list(frame.columns), dtype=object)
    value_labels = {
        name: {int(code): str(label) for code, label in labels.items() if float(code).is_integer()}
        for name, labels in (meta.variable_value_labels or {}).items()
    }
    # A .sav has no header row in a sheet; rows are numbered as if it had one, like the CSV it replaces.
    rows = list(range(2, len(cells) + 2))
    details = {"format": kind, "encoding": meta.file_encoding}
    table = RawTable(path, spec.instrument, cells, rows, details, [], value_labels)
    return _apply_header_fixes(spec, codebook, table)


def _sav_number_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # system-missing
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _records_to_table(
    spec: InputFile, codebook: Codebook, records: list[list[str]], header_index: int, details: dict[str, Any]
) -> RawTable:
    """Turn parsed records into a table under the header; blank rows skipped, short rows padded."""
    path = spec.path
    file_label = relative_to_root(path)
    header = [str(cell) for cell in records[header_index]]
    # Trailing unnamed columns that are empty everywhere (Excel formatting, a trailing delimiter) carry
    # no data; trim them from the header before anything else.
    width = len(header)
    body = records[header_index + 1 :]
    while (
        width > 0
        and not header[width - 1].strip()
        and all(len(row) < width or not row[width - 1].strip() for row in body)
    ):
        width -= 1
    header = header[:width]
    _refuse_damaged_cells(path, records, header)
    repairs: list[dict[str, Any]] = []
    skipped = _extra_header_rows(spec, records, header_index, header)
    for offset, why in enumerate(skipped):
        repairs.append(_repair(file_label, header_index + 2 + offset, "", why, "", KIND_EXTRA_HEADER))
    kept: list[list[str]] = []
    rows: list[int] = []
    for offset, record in enumerate(body):
        if offset < len(skipped):
            continue
        row_number = header_index + 2 + offset
        if not any(cell.strip() for cell in record):
            repairs.append(_repair(file_label, row_number, "", "", "", KIND_BLANK_ROW))
            continue
        if len(record) > width:
            extra = record[width:]
            if any(cell.strip() for cell in extra):
                raise _fail(
                    path,
                    f"row {row_number} has {len(record)} cells but the header has {width}: "
                    "check quoting or the delimiter in the export",
                )
            record = record[:width]
        elif len(record) < width:
            repairs.append(
                _repair(file_label, row_number, "", f"{len(record)} cells", f"{width} cells", KIND_SHORT_ROW)
            )
            record = record + [""] * (width - len(record))
        kept.append(record)
        rows.append(row_number)
    cells = pd.DataFrame(kept, columns=header, dtype=object) if kept else pd.DataFrame(columns=header)
    table = RawTable(path, spec.instrument, cells.astype(object), rows, details, repairs)
    return _apply_header_fixes(spec, codebook, table)


def _refuse_damaged_cells(path: Path, records: list[list[str]], header: list[str]) -> None:
    """Stop on a NUL character or an over-long cell anywhere, naming its row and column.

    A NUL never belongs to an answer: it is a damaged or mis-encoded file, wherever it stands.
    """

    def column(position: int) -> str:
        name = header[position].strip() if position < len(header) else ""
        return name or f"number {position + 1}"

    for index, record in enumerate(records):
        joined = "".join(record)
        if "\x00" in joined:
            position = next(i for i, cell in enumerate(record) if "\x00" in cell)
            raise _fail(
                path,
                f"row {index + 1} column {column(position)}: holds a NUL byte, which no answer contains "
                "(the file is damaged or in another encoding); export the file again",
            )
        if len(joined) > MAX_CELL_CHARACTERS:
            for position, cell in enumerate(record):
                if len(cell) > MAX_CELL_CHARACTERS:
                    raise _fail(
                        path,
                        f"row {index + 1} column {column(position)}: a cell of {len(cell):,} characters, "
                        f"more than the {MAX_CELL_CHARACTERS:,} a cell may hold (a quote left open, or "
                        "text pasted by mistake); fix the cell in the export",
                    )


def _extra_header_rows(
    spec: InputFile, records: list[list[str]], header_index: int, header: list[str]
) -> list[str]:
    """Why each row directly under the header is not a respondent: configured, or a survey tool's layout.

    Qualtrics writes the question text and then an ImportId row ({"ImportId":"QID1"}) under its header;
    SurveyMonkey writes an option row ("Response", "Open-Ended Response" or the option labels) whose
    respondent id cell is empty.
    """
    below = records[header_index + 1 : header_index + 4]
    if spec.extra_header_rows is not None:
        return ["extra_header_rows in config.yaml"] * min(
            spec.extra_header_rows, len(records) - header_index - 1
        )
    for offset, record in enumerate(below[:2]):
        if any(_QUALTRICS_IMPORT_ID.match(cell) for cell in record):
            return ["Qualtrics question-text row"] * offset + ["Qualtrics ImportId row"]
    names = [spec.column_map.get(name.strip(), name.strip()).casefold() for name in header]
    if below and "respondent_id" in names:
        position = names.index("respondent_id")
        record = below[0]
        id_cell = record[position].strip() if position < len(record) else ""
        if not id_cell and any(cell.strip() in _SURVEYMONKEY_OPTION_CELLS for cell in record):
            return ["SurveyMonkey option row"]
    return []


def _apply_header_fixes(spec: InputFile, codebook: Codebook, table: RawTable) -> RawTable:
    """Map export headers onto codebook names; refuse duplicated headers and missing required columns."""
    path = spec.path
    file_label = relative_to_root(path)
    known = codebook.columns(spec.instrument)
    by_fold = {name.casefold(): name for name in known}
    repairs = list(table.repairs)
    renamed: list[str] = []
    for original in table.cells.columns:
        name = str(original).strip()
        name = spec.column_map.get(name, name)
        if name not in known and name.casefold() in by_fold:
            name = by_fold[name.casefold()]
        # Portable files hold names in upper case: a property of the format, not a slip to report.
        upper_case_format = table.details.get("format") == "por" and str(original) == name.upper()
        if (
            name != original
            and name in known
            and str(original).strip() not in spec.column_map
            and not upper_case_format
        ):
            repairs.append(_repair(file_label, "", name, str(original), name, KIND_HEADER))
        renamed.append(name)
    named = [name for name in renamed if name]
    duplicated = sorted({name for name in named if named.count(name) > 1})
    if duplicated:
        raise _fail(
            path,
            f"column {duplicated[0]!r} appears more than once in the header; "
            "remove the duplicate column from the export",
        )
    cells = table.cells.set_axis(renamed, axis=1)
    missing = [v.name for v in codebook.for_instrument(spec.instrument) if v.required and v.name not in cells]
    if missing:
        raise _fail(
            path,
            f"required column {missing[0]} is missing (found: {', '.join(named[:6])}"
            f"{', ...' if len(named) > 6 else ''}); add it or map it with column_map in config.yaml",
        )
    for position, name in enumerate(renamed):
        if name in known:
            continue
        column = cells.iloc[:, position].astype(str).str.strip()
        if not name and not column.ne("").any():
            continue  # an unnamed, empty column (a spreadsheet margin) holds nothing to report
        label = name or f"(unnamed column {position + 1})"
        repairs.append(_repair(file_label, "", label, "", "", KIND_UNKNOWN_COLUMN))
    keep = [name for name in renamed if name in known]
    # Value labels follow their column to its codebook name.
    value_labels = None
    if table.value_labels is not None:
        by_original = dict(zip(map(str, table.cells.columns), renamed, strict=True))
        value_labels = {by_original.get(name, name): labels for name, labels in table.value_labels.items()}
    return RawTable(
        table.path,
        table.instrument,
        cells.loc[:, keep],
        table.rows,
        table.details,
        repairs,
        value_labels,
    )


READERS = {
    "csv": read_csv_input,
    "xlsx": read_xlsx_input,
    "xls": read_calamine_input,
    "ods": read_calamine_input,
    "sav": read_sav_input,
    "dta": read_dta_input,
    "por": read_por_input,
}


def read_input(spec: InputFile, codebook: Codebook) -> RawTable:
    """Read one configured export in the format its bytes have (a .gz or one-file .zip opened first).

    Where the content is another format than the configured one (a renamed file), the content wins and
    a ``format_from_content`` line says so; a file no reader takes is one line saying what it seems to
    be, what is supported and how to convert it.
    """
    path = spec.path
    if not path.exists():
        raise _fail(path, "not found; check dataset.inputs in config.yaml or run `make synthetic`")
    data = _read_bytes(path)
    if not data:
        raise _fail(path, "is empty; export the survey again")
    container: dict[str, Any] = {}
    found = sniff(data)
    if found.format in ("gzip", "zip"):
        try:
            data, member = unwrap(data, found.format)
        except ValueError as error:
            raise _fail(path, unreadable_message(str(error), "compress the export again")) from None
        container = {"compression": found.format}
        if found.format == "zip":
            container["member"] = member
        if not data:
            raise _fail(path, f"holds an empty file ({member}); export the survey again")
        found = sniff(data)
        if found.format in ("gzip", "zip"):
            raise _fail(
                path,
                unreadable_message(
                    f"{found.what} inside a compressed file", "decompress it once and use that"
                ),
            )
    if found.format is None and spec.encoding and looks_like_utf16_without_bom(data[:8192]):
        found = Sniffed("csv", "text in the configured encoding")
    if found.format is None:
        raise _fail(path, unreadable_message(found.what, found.advice))
    table = READERS[found.format](spec, codebook, data)
    notes = []
    if found.format != spec.format:
        notes.append(_repair(relative_to_root(path), "", "", spec.format, found.format, KIND_FORMAT))
    if not notes and not container:
        return table
    details = {**table.details, **container}
    return RawTable(
        table.path,
        table.instrument,
        table.cells,
        table.rows,
        details,
        notes + table.repairs,
        table.value_labels,
    )


# ------------------------------------------------------------------------------------------ mapping


def _repair(file: str, row: int | str, column: str, original: str, repaired: str, kind: str) -> dict:
    return {
        "file": file,
        "row": row,
        "column": column,
        "original": original,
        "repaired": repaired,
        "kind": kind,
    }


def _coded_translation(value: str, variable: Variable, source_is_codes: bool) -> tuple[str, str | None]:
    """Translate one distinct cell value of a coded column to a code (as text) and the repair kind."""
    allowed = variable.allowed_codes
    if value == "":
        return ("-9", None) if -9 in allowed else (value, None)
    exact = {label: str(code) for code, label in allowed.items()}
    if value in exact:
        return exact[value], None
    if _CONTROL.search(value):
        return value, None  # a control character is never normalised away: validate rejects the cell
    if _INTEGER.fullmatch(value) and int(value) in allowed:
        # A .sav holds codes; a label export holding a bare code is accepted but recorded.
        return str(int(value)), (
            None if source_is_codes and str(int(value)) == value else KIND_CODE_NOT_LABEL
        )
    folded = normalise_label(value)
    if folded == "":
        return ("-9", KIND_BLANK) if -9 in allowed else (value, None)
    normalised = {normalise_label(label): str(code) for code, label in allowed.items()}
    if folded in normalised:
        return normalised[folded], KIND_NORMALISED
    for code, spellings in SENTINELS.items():
        if code in variable.missing and folded in spellings:
            return str(code), KIND_SENTINEL
    both = split_code_and_label(value)
    if both is not None:
        code, label = both
        if code in allowed and normalise_label(label) == normalise_label(allowed[code]):
            return str(code), KIND_CODE_AND_LABEL
        # Code and label disagree (or name no answer): left as written for validate to reject.
    return value, None


def _numeric_translation(
    value: str, variable: Variable, decimal_comma: bool = False
) -> tuple[str, str | None]:
    """Translate one distinct cell of a count or year: an integer, a missing label, or left as it is.

    ``decimal_comma``: the file writes decimals with a comma (a semicolon-delimited export), so
    "18,0" is 18 and "1,998" is not a whole number.
    """
    if value == "":
        return "-9", None
    if _INTEGER.fullmatch(value):
        canonical = str(int(value))
        return canonical, (None if canonical == value else KIND_NUMBER_TEXT)
    if _CONTROL.search(value):
        return value, None
    if decimal_comma:
        european = _DECIMAL_COMMA_INTEGER.fullmatch(value.strip())
        if european:
            return str(int(european["sign"] + european["digits"])), KIND_DECIMAL_COMMA
        if "," in value:
            return value, None
    missing_labels = {label: str(code) for code, label in variable.missing.items()}
    if value in missing_labels:
        return missing_labels[value], None
    stripped = value.strip()
    if stripped == "":
        return "-9", KIND_BLANK
    loose = _LOOSE_INTEGER.fullmatch(stripped)
    if loose:
        digits = re.sub(r"[, ]", "", loose["digits"])
        return str(int(loose["sign"] + digits)), KIND_NUMBER_TEXT
    folded = normalise_label(value)
    normalised = {normalise_label(label): str(code) for code, label in variable.missing.items()}
    if folded in normalised:
        return normalised[folded], KIND_NORMALISED
    for code, spellings in SENTINELS.items():
        if code in variable.missing and folded in spellings:
            return str(code), KIND_SENTINEL
    return value, None


def translate_column(
    values: pd.Series, variable: Variable, source_is_codes: bool = False, decimal_comma: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Codes (as text) for one column and the repair kind of each cell (<NA> where nothing was repaired).

    Works on the distinct values and maps them back, so the cost does not grow with the row count.
    """
    values = values.astype(object).where(values.notna(), "")
    if variable.is_text:
        text = values.astype(str)
        if variable.type == "id":
            stripped = text.str.strip()
            kinds = pd.Series(pd.NA, index=values.index, dtype="string").mask(
                stripped.ne(text) & stripped.ne(""), KIND_ID_WHITESPACE
            )
            text = stripped
        else:
            kinds = pd.Series(pd.NA, index=values.index, dtype="string")
        return text.mask(text.eq(""), pd.NA).astype("string"), kinds
    # Translate each distinct value once, then take the results by position: no dictionary lookup per
    # cell (Series.map) and no conversion of a Python object per cell (astype), which grew faster than
    # the row count (docs/benchmarks.md).
    positions, distinct = pd.factorize(values)
    if variable.is_numeric:
        translations = [_numeric_translation(value, variable, decimal_comma) for value in distinct]
    else:
        translations = [_coded_translation(value, variable, source_is_codes) for value in distinct]
    codes = pd.array([code for code, _ in translations], dtype="string").take(positions)
    kinds = pd.array([kind for _, kind in translations], dtype="string").take(positions)
    return (
        pd.Series(codes, index=values.index, name=values.name),
        pd.Series(kinds, index=values.index, name=values.name),
    )


def sav_label_disagreements(
    file_label: str, value_labels: dict[str, dict[int, str]], variables: Iterable[Variable]
) -> list[dict[str, Any]]:
    """Every code whose .sav value label differs from the codebook's (the codes are what count).

    A file with no value labels at all (a .por, or a file saved without them) gets one line, not one
    per code.
    """
    if not any(value_labels.values()):
        return [_repair(file_label, "", "", "", "", KIND_NO_VALUE_LABELS)]
    records = []
    for variable in variables:
        if not variable.is_coded and not variable.is_numeric:
            continue
        labels = value_labels.get(variable.name, {})
        expected = variable.allowed_codes if variable.is_coded else variable.missing
        if variable.is_numeric and not labels:
            continue  # counts and years need no value labels
        for code in sorted(set(labels) | set(expected)):
            file_text, codebook_text = labels.get(code), expected.get(code)
            if file_text == codebook_text:
                continue
            if codebook_text is None:
                kind = KIND_SAV_LABEL_EXTRA
            elif file_text is None:
                kind = KIND_SAV_LABEL_ABSENT
            else:
                kind = KIND_SAV_LABEL
            records.append(
                _repair(
                    file_label,
                    "",
                    variable.name,
                    "" if file_text is None else f"{code}={file_text}",
                    "" if codebook_text is None else f"{code}={codebook_text}",
                    kind,
                )
            )
    return records


def tidy(
    table: RawTable, codebook: Codebook, names: AuthorityNames | None = None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The tidy text table of one export (every codebook column of its instrument) and its repairs.

    ``names`` (the frame's authority names) lets an export that names LSPs instead of coding them
    through: a name matching one LSP becomes its lsp_id, recorded; any other name is kept for validate
    to reject, with the candidates in the repairs log.
    """
    file_label = relative_to_root(table.path)
    source_is_codes = table.details["format"] in ("sav", "dta", "por")
    decimal_comma = table.details.get("delimiter") == "semicolon"
    rows = pd.Series(table.rows, index=table.cells.index, dtype="Int64")
    columns: dict[str, pd.Series] = {}
    repairs: list[pd.DataFrame] = []
    for variable in codebook.for_instrument(table.instrument):
        if variable.name in table.cells:
            raw = table.cells[variable.name]
        else:
            # An optional column absent from the export: every respondent left it unanswered.
            raw = pd.Series("", index=table.cells.index, dtype=object)
        codes, kinds = translate_column(raw, variable, source_is_codes, decimal_comma)
        notes: dict[str, str] = {}
        if variable.name == "lsp_id" and names is not None:
            codes, kinds, notes = _lsp_ids_from_names(codes, kinds, names)
        columns[variable.name] = codes
        repaired = kinds.notna()
        if repaired.any():
            repaired_text = codes[repaired].fillna("")
            if notes:
                unmatched = kinds[repaired].eq(KIND_LSP_NAME_UNMATCHED).fillna(False)
                repaired_text = repaired_text.mask(unmatched, repaired_text.map(notes))
            repairs.append(
                pd.DataFrame(
                    {
                        "file": file_label,
                        "row": rows[repaired].to_numpy(),
                        "column": variable.name,
                        "original": raw[repaired].astype(str).to_numpy(),
                        "repaired": repaired_text.to_numpy(),
                        "kind": kinds[repaired].to_numpy(),
                    }
                )
            )
    tidy_table = pd.DataFrame(columns, index=table.cells.index)
    tidy_table["source_file"] = pd.Series(file_label, index=tidy_table.index, dtype="string")
    tidy_table["source_row"] = rows
    records = list(table.repairs)
    if table.value_labels is not None:
        records += sav_label_disagreements(
            file_label, table.value_labels, codebook.for_instrument(table.instrument)
        )
    for frame in repairs:
        records += frame.to_dict("records")
    return tidy_table.reset_index(drop=True), records


def _lsp_ids_from_names(
    codes: pd.Series, kinds: pd.Series, names: AuthorityNames
) -> tuple[pd.Series, pd.Series, dict[str, str]]:
    """lsp_id cells that are authority names: the LSP where one matches, else the name, with a note.

    The note of a name not matched says what a person should look at (the candidates, or none).
    """
    distinct = [value for value in codes.dropna().unique() if names.looks_like_name(str(value))]
    notes: dict[str, str] = {}
    if not distinct:
        return codes, kinds, notes
    codes, kinds = codes.copy(), kinds.copy()
    for value in distinct:
        found = names.match(str(value))
        where = codes.eq(value).fillna(False)
        if found.lsp_id is not None:
            codes[where] = found.lsp_id
            kinds[where] = KIND_LSP_FROM_NAME
        else:
            # Not repaired: the "repaired" text holds what a person should look at.
            kinds[where] = KIND_LSP_NAME_UNMATCHED
            if found.ambiguous:
                notes[str(value)] = f"not repaired: names several LSPs: {found.describe()}"
            elif found.candidates:
                notes[str(value)] = f"not repaired: no LSP of this name; similar: {found.describe()}"
            else:
                notes[str(value)] = "not repaired: no LSP of this name in the frame"
    return codes, kinds, notes


def empty_responses(codebook: Codebook, instrument: str) -> pd.DataFrame:
    """A tidy table with no rows: every codebook column as text, plus the source columns."""
    columns = {name: pd.Series(dtype="string") for name in codebook.columns(instrument)}
    columns["source_file"] = pd.Series(dtype="string")
    columns["source_row"] = pd.Series(dtype="Int64")
    return pd.DataFrame(columns)


def sort_repairs(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Repairs in a fixed order: file, then row (file-level notes first), column, kind, original."""
    frame = pd.DataFrame(records, columns=REPAIR_COLUMNS)
    frame = frame.astype({c: "string" for c in REPAIR_COLUMNS if c != "row"})
    frame["row"] = pd.to_numeric(frame["row"].replace("", pd.NA)).astype("Int64")
    frame = frame.fillna({c: "" for c in REPAIR_COLUMNS if c != "row"})
    return frame.sort_values(
        ["file", "row", "column", "kind", "original", "repaired"], na_position="first", kind="stable"
    ).reset_index(drop=True)


def ingest(
    inputs: Sequence[InputFile],
    codebook: Codebook,
    frame: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
) -> IngestResult:
    """Read every input and build one tidy table per instrument (several inputs are stacked).

    With the sampling ``frame`` (or a function reading it, called only when needed), an lsp_id written
    as the authority's name is matched to its LSP.
    """
    per_instrument: dict[str, list[pd.DataFrame]] = {name: [] for name in codebook.instruments}
    records: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    names = AuthorityNames(frame) if frame is not None else None
    for spec in inputs:
        table = read_input(spec, codebook)
        tidy_table, repairs = tidy(table, codebook, names)
        per_instrument[spec.instrument].append(tidy_table)
        records += repairs
        manifest.append(
            {
                "path": relative_to_root(spec.path),
                "instrument": spec.instrument,
                "size_bytes": spec.path.stat().st_size,
                "sha256": sha256_file(spec.path),
                **table.details,
                "rows": len(tidy_table),
                "repairs": len(repairs),
            }
        )
        log.info(
            "read %s (%s): %d rows, %d repairs or warnings",
            relative_to_root(spec.path),
            ", ".join(f"{key} {value}" for key, value in table.details.items()),
            len(tidy_table),
            len(repairs),
        )
    responses = {}
    for instrument, tables in per_instrument.items():
        if tables:
            responses[instrument] = pd.concat(tables, ignore_index=True)
        else:
            responses[instrument] = empty_responses(codebook, instrument)
    return IngestResult(responses, sort_repairs(records), manifest)


# ------------------------------------------------------------------------------------------ manifest


def code_version(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The release (``pipeline.__version__``), the git commit of the code and whether the work tree differs
    from it (commit "unknown" outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"version": __version__, "commit": "unknown", "dirty": None}
    return {"version": __version__, "commit": commit, "dirty": bool(status.strip())}


def package_versions(names: Iterable[str] = MANIFEST_PACKAGES) -> dict[str, str]:
    """Installed versions from package metadata (nothing heavy is imported)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_manifest(result: IngestResult, codebook: Codebook, frame: Path | None = None) -> dict[str, Any]:
    """Everything needed to tell whether two runs read the same inputs with the same code (no timestamps)."""
    references = [codebook.path] + ([frame] if frame is not None else [])
    return {
        "inputs": result.inputs,
        "reference_files": [
            {"path": relative_to_root(path), "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}
            for path in references
            if path.exists()
        ],
        "responses": {name: len(table) for name, table in sorted(result.responses.items())},
        "repairs": len(result.repairs),
        "code_version": code_version(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def write_outputs(result: IngestResult, manifest: dict[str, Any], out_dir: Path) -> None:
    for instrument, table in sorted(result.responses.items()):
        target = out_dir / f"responses_{instrument}.parquet"
        write_parquet(table, target)
        log.info("wrote %s: %d rows", relative_to_root(target), len(table))
    write_csv(result.repairs, out_dir / "ingest_repairs.csv")
    log.info(
        "wrote %s: %d repairs or warnings",
        relative_to_root(out_dir / "ingest_repairs.csv"),
        len(result.repairs),
    )
    write_json(out_dir / "manifest.json", manifest)
    log.info("wrote %s", relative_to_root(out_dir / "manifest.json"))


def _instrument_source(config: Config, instrument: str) -> str:
    """Where an instrument's rows came from, for the empty-instrument error: its exports, or the config."""
    files = [relative_to_root(spec.path) for spec in config.inputs if spec.instrument == instrument]
    if files:
        return ", ".join(files)
    return f"{relative_to_root(config.source)} (dataset.inputs lists no {instrument} export)"


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--out-dir", "{processed_dir}", "where to write the tidy tables and the manifest")
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)

    def frame() -> pd.DataFrame:
        # The one frame reader (it imports pandera), called only for an export that names an LSP.
        from pipeline.study.frame import read_frame

        return read_frame(config.frame)

    result = ingest(config.inputs, codebook, frame)
    refuse_empty_instruments(
        {instrument: len(table) for instrument, table in result.responses.items()},
        lambda instrument: _instrument_source(config, instrument),
    )
    write_outputs(result, build_manifest(result, codebook, config.frame), arguments.out_dir)


if __name__ == "__main__":
    run_stage("ingest", main)
