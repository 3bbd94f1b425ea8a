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
import importlib.metadata
import io
import itertools
import logging
import platform
import re
import subprocess
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import InputFile, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json, write_parquet
from pipeline.core.paths import PROJECT_ROOT, relative_to_root

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
    if b"\x00" in head:
        raise _fail(path, f"is a binary file, not {expected_format.upper()} text; check the path and format")


def decode_text(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode a CSV: the configured encoding, else UTF-8 (with or without BOM), else Windows-1252."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise _fail(path, f"unknown encoding {encoding!r} in config.yaml") from None
        except UnicodeDecodeError as error:
            raise _fail(
                path, f"cannot be decoded as {encoding} (byte {error.start}); fix encoding in config.yaml"
            ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as error:
            raise _fail(path, f"has a UTF-8 BOM but invalid UTF-8 at byte {error.start + 3}") from None
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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        return list(itertools.islice(reader, limit))
    except csv.Error as error:
        raise PipelineError(f"cannot be parsed as CSV ({error})") from None


def read_csv_input(spec: InputFile, codebook: Codebook) -> RawTable:
    """Read a CSV export: detect encoding and delimiter, find the header, keep cells as text."""
    path = spec.path
    data = _read_bytes(path)
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


def read_xlsx_input(spec: InputFile, codebook: Codebook) -> RawTable:
    """Read an Excel sheet (the named one, else the first), finding the header below any title rows."""
    import openpyxl  # only this reader needs it
    from openpyxl.utils.exceptions import InvalidFileException

    path = spec.path
    head = _read_bytes(path)[:8]
    if not head:
        raise _fail(path, "is empty; export the survey again")
    if not zipfile.is_zipfile(path):
        raise _fail(path, "is not an Excel .xlsx workbook (not a zip archive); check the path and format")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise _fail(path, f"cannot be opened as an Excel workbook ({type(error).__name__})") from None
    try:
        names = workbook.sheetnames
        if spec.sheet is None:
            sheet_name = names[0]
        elif isinstance(spec.sheet, int):
            if not 0 <= spec.sheet < len(names):
                raise _fail(path, f"has no sheet number {spec.sheet} (0-based); sheets: {', '.join(names)}")
            sheet_name = names[spec.sheet]
        elif spec.sheet in names:
            sheet_name = spec.sheet
        else:
            raise _fail(path, f"has no sheet {spec.sheet!r}; sheets: {', '.join(names)}")
        sheet = workbook[sheet_name]
        # min_row=1 makes the read-only reader yield empty rows too, so list position = sheet row - 1.
        records = [
            [_cell_text(value) for value in row] for row in sheet.iter_rows(min_row=1, values_only=True)
        ]
    finally:
        workbook.close()
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
    details = {"format": "xlsx", "sheet": sheet_name, "header_row": header_index + 1}
    return _records_to_table(spec, codebook, records, header_index, details)


def read_sav_input(spec: InputFile, codebook: Codebook) -> RawTable:
    """Read an SPSS file as codes (user-missing codes kept), with its value labels for comparison."""
    import pyreadstat  # only this reader needs it

    path = spec.path
    head = _read_bytes(path)[:4]
    if not head:
        raise _fail(path, "is empty; export the survey again")
    if head not in (b"$FL2", b"$FL3"):
        raise _fail(path, "is not an SPSS .sav file; check the path and format")
    try:
        # user_missing=True keeps -8/-9 declared as user-missing instead of turning them into NaN.
        frame, meta = pyreadstat.read_sav(str(path), user_missing=True, apply_value_formats=False)
    except Exception as error:  # pyreadstat raises several unrelated types for a damaged file
        raise _fail(path, f"cannot be read as SPSS ({type(error).__name__}: {error})") from None
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
    details = {"format": "sav", "encoding": meta.file_encoding}
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
    repairs: list[dict[str, Any]] = []
    kept: list[list[str]] = []
    rows: list[int] = []
    for offset, record in enumerate(body):
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
        if name != original and name in known and str(original).strip() not in spec.column_map:
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
    return RawTable(
        table.path,
        table.instrument,
        cells.loc[:, keep],
        table.rows,
        table.details,
        repairs,
        table.value_labels,
    )


READERS = {"csv": read_csv_input, "xlsx": read_xlsx_input, "sav": read_sav_input}


def read_input(spec: InputFile, codebook: Codebook) -> RawTable:
    """Read one configured export in its format."""
    if not spec.path.exists():
        raise _fail(spec.path, "not found; check dataset.inputs in config.yaml or run `make synthetic`")
    return READERS[spec.format](spec, codebook)


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
    return value, None


def _numeric_translation(value: str, variable: Variable) -> tuple[str, str | None]:
    """Translate one distinct cell of a count or year: an integer, a missing label, or left as it is."""
    if value == "":
        return "-9", None
    if _INTEGER.fullmatch(value):
        canonical = str(int(value))
        return canonical, (None if canonical == value else KIND_NUMBER_TEXT)
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
    values: pd.Series, variable: Variable, source_is_codes: bool = False
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
        translations = [_numeric_translation(value, variable) for value in distinct]
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
    """Every code whose .sav value label differs from the codebook's (the codes are what count)."""
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


def tidy(table: RawTable, codebook: Codebook) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The tidy text table of one export (every codebook column of its instrument) and its repairs."""
    file_label = relative_to_root(table.path)
    source_is_codes = table.details["format"] == "sav"
    rows = pd.Series(table.rows, index=table.cells.index, dtype="Int64")
    columns: dict[str, pd.Series] = {}
    repairs: list[pd.DataFrame] = []
    for variable in codebook.for_instrument(table.instrument):
        if variable.name in table.cells:
            raw = table.cells[variable.name]
        else:
            # An optional column absent from the export: every respondent left it unanswered.
            raw = pd.Series("", index=table.cells.index, dtype=object)
        codes, kinds = translate_column(raw, variable, source_is_codes)
        columns[variable.name] = codes
        repaired = kinds.notna()
        if repaired.any():
            repairs.append(
                pd.DataFrame(
                    {
                        "file": file_label,
                        "row": rows[repaired].to_numpy(),
                        "column": variable.name,
                        "original": raw[repaired].astype(str).to_numpy(),
                        "repaired": codes[repaired].fillna("").to_numpy(),
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


def ingest(inputs: Sequence[InputFile], codebook: Codebook) -> IngestResult:
    """Read every input and build one tidy table per instrument (several inputs are stacked)."""
    per_instrument: dict[str, list[pd.DataFrame]] = {name: [] for name in codebook.instruments}
    records: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    for spec in inputs:
        table = read_input(spec, codebook)
        tidy_table, repairs = tidy(table, codebook)
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


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--out-dir", "{processed_dir}", "where to write the tidy tables and the manifest")
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)
    result = ingest(config.inputs, codebook)
    write_outputs(result, build_manifest(result, codebook, config.frame), arguments.out_dir)


if __name__ == "__main__":
    run_stage("ingest", main)
