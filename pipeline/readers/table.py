"""What every reader shares: the table one export is read into, the header search, the rows under the
header (blank, short, damaged, survey-tool header rows) and the mapping of headers onto codebook names
with the column audit. A reader turns bytes into records; this module turns records into a ``RawTable``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.codebook import Codebook, Variable
from pipeline.core.config import InputFile
from pipeline.core.errors import PipelineError
from pipeline.core.paths import relative_to_root

HEADER_SEARCH_ROWS = 20
# Repair kinds written by the readers (the stage's translation kinds live in pipeline/stages/ingest.py).
KIND_HEADER = "header_normalised"
KIND_UNKNOWN_COLUMN = "unknown_column_ignored"
KIND_BLANK_ROW = "blank_row_skipped"
KIND_SHORT_ROW = "short_row_padded"
KIND_FORMAT = "format_from_content"  # the bytes are another format than the name or config says
KIND_EXTRA_HEADER = "extra_header_row_skipped"  # a survey tool's question-text, option or ImportId row
KIND_TRUNCATED = "truncated_record"  # a last record cut short without a line end: rejected
KIND_FILE_CUT = "file_truncated"  # the file-level flag of the same
KIND_ABSENT = "column_absent"  # a codebook question with no column in the export: not answered everywhere
# How alike a header and a question's name or label must be to be named as its likely column (difflib).
LIKELY_MATCH_CUTOFF = 0.75
# csv's own limit is 131,072 characters; above it a cell is refused with its row and column (a longer
# comment than any survey form takes is a broken export).
MAX_CELL_CHARACTERS = 131_072
# Survey-tool header rows under the header: a Qualtrics ImportId row, SurveyMonkey's option row.
_QUALTRICS_IMPORT_ID = re.compile(r'\s*\{\s*"ImportId"\s*:')
_SURVEYMONKEY_OPTION_CELLS = {"Response", "Open-Ended Response"}


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
    # Rows the reader rejects, for validate to list: file row -> (column, check, value).
    rejected_rows: dict[int, tuple[str, str, str]] = field(default_factory=dict)


def fail(path: Path, problem: str) -> PipelineError:
    return PipelineError(f"{relative_to_root(path)}: {problem}")


def expected_headers(codebook: Codebook, spec: InputFile) -> set[str]:
    """Headers that identify the header row: codebook names and the export names of column_map."""
    return set(codebook.columns(spec.instrument)) | set(spec.column_map)


def header_score(row: Sequence[str], expected: set[str]) -> int:
    folded = {name.casefold() for name in expected}
    return sum(1 for cell in row if str(cell).strip().casefold() in folded)


def find_header(
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
            raise fail(spec.path, f"{where}header_row {spec.header_row} is beyond the end of the file")
        return spec.header_row - 1
    scores = [header_score(row, expected) for row in records[:HEADER_SEARCH_ROWS]]
    best = max(scores, default=0)
    if best == 0:
        raise fail(
            spec.path,
            f"{where}no header row found in the first {HEADER_SEARCH_ROWS} rows (none of the codebook's "
            f"column names such as respondent_id appear); {advice}",
        )
    return scores.index(best)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise fail(path, "not found; check dataset.inputs in config.yaml") from None
    except IsADirectoryError:
        raise fail(path, "is a folder, not a file; check dataset.inputs in config.yaml") from None
    except OSError as error:
        raise fail(path, f"cannot be read ({error.strerror})") from None


def records_to_table(
    spec: InputFile,
    codebook: Codebook,
    records: list[list[str]],
    header_index: int,
    details: dict[str, Any],
    unterminated: bool = False,
) -> RawTable:
    """Turn parsed records into a table under the header; blank rows skipped, short rows padded.

    ``unterminated``: the text ends without a line end, so a last record shorter than the header was cut
    off (a truncated download or copy): it is rejected as truncated and the file is flagged, because its
    last cell may hold part of a number or label and the cells after it are lost, not unanswered.
    """
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
        repairs.append(repair(file_label, header_index + 2 + offset, "", why, "", KIND_EXTRA_HEADER))
    kept: list[list[str]] = []
    rows: list[int] = []
    rejected: dict[int, tuple[str, str, str]] = {}
    for offset, record in enumerate(body):
        if offset < len(skipped):
            continue
        row_number = header_index + 2 + offset
        if not any(cell.strip() for cell in record):
            repairs.append(repair(file_label, row_number, "", "", "", KIND_BLANK_ROW))
            continue
        if len(record) > width:
            extra = record[width:]
            if any(cell.strip() for cell in extra):
                raise fail(
                    path,
                    f"row {row_number} has {len(record)} cells but the header has {width}: "
                    "check quoting or the delimiter in the export",
                )
            record = record[:width]
        elif len(record) < width and unterminated and offset == len(body) - 1:
            column = header[len(record) - 1].strip() or f"number {len(record)}"
            cut = f"{len(record)} of {width} cells"
            rejected[row_number] = (column, KIND_TRUNCATED, cut)
            repairs.append(
                repair(file_label, "", "", "", f"last record (row {row_number}) cut short", KIND_FILE_CUT)
            )
            repairs.append(repair(file_label, row_number, column, cut, "rejected", KIND_TRUNCATED))
            record = record + [""] * (width - len(record))
        elif len(record) < width:
            repairs.append(
                repair(file_label, row_number, "", f"{len(record)} cells", f"{width} cells", KIND_SHORT_ROW)
            )
            record = record + [""] * (width - len(record))
        kept.append(record)
        rows.append(row_number)
    cells = pd.DataFrame(kept, columns=header, dtype=object) if kept else pd.DataFrame(columns=header)
    table = RawTable(path, spec.instrument, cells.astype(object), rows, details, repairs, None, rejected)
    return apply_header_fixes(spec, codebook, table)


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
            raise fail(
                path,
                f"row {index + 1} column {column(position)}: holds a NUL byte, which no answer contains "
                "(the file is damaged or in another encoding); export the file again",
            )
        if len(joined) > MAX_CELL_CHARACTERS:
            for position, cell in enumerate(record):
                if len(cell) > MAX_CELL_CHARACTERS:
                    raise fail(
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


def _header_key(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.casefold()).strip("_")


def likely_header(variable: Variable, headers: Sequence[str]) -> str | None:
    """The unknown header most like the question's name or label (difflib), if any is close enough."""
    keys = {_header_key(header): header for header in headers}
    best: tuple[float, str] | None = None
    for target in (variable.name, variable.label):
        for key, header in keys.items():
            ratio = difflib.SequenceMatcher(None, _header_key(target), key).ratio()
            if ratio >= LIKELY_MATCH_CUTOFF and (best is None or ratio > best[0]):
                best = (ratio, header)
    return None if best is None else best[1]


def apply_header_fixes(spec: InputFile, codebook: Codebook, table: RawTable) -> RawTable:
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
            repairs.append(repair(file_label, "", name, str(original), name, KIND_HEADER))
        renamed.append(name)
    named = [name for name in renamed if name]
    duplicated = sorted({name for name in named if named.count(name) > 1})
    if duplicated:
        raise fail(
            path,
            f"column {duplicated[0]!r} appears more than once in the header; "
            "remove the duplicate column from the export",
        )
    cells = table.cells.set_axis(renamed, axis=1)
    missing = [v.name for v in codebook.for_instrument(spec.instrument) if v.required and v.name not in cells]
    if missing:
        raise fail(
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
        repairs.append(repair(file_label, "", label, "", "", KIND_UNKNOWN_COLUMN))
    keep = [name for name in renamed if name in known]
    unknown_headers = [name for name in renamed if name and name not in known]
    absent = [variable for variable in codebook.for_instrument(spec.instrument) if variable.name not in cells]
    if absent and spec.require_every_column:
        likely = likely_header(absent[0], unknown_headers)
        raise fail(
            path,
            f"column {absent[0].name} ({absent[0].label}) is absent"
            + (f" (the header {likely!r} looks like it)" if likely else "")
            + (f", and {len(absent) - 1} more" if len(absent) > 1 else "")
            + "; add it or map it with column_map (require_every_column is set in config.yaml)",
        )
    for variable in absent:
        # Every respondent is then "not answered" on this question: said once per question, with the
        # header that looks like it where there is one (a renamed or misspelt column).
        likely = likely_header(variable, unknown_headers)
        repairs.append(
            repair(
                file_label,
                "",
                variable.name,
                "",
                "-9 on every row" + (f"; likely match: {likely!r}" if likely else ""),
                KIND_ABSENT,
            )
        )
    mapped = {
        str(original).strip(): name
        for original, name in zip(map(str, table.cells.columns), renamed, strict=True)
        if name in known and str(original) != name
    }
    details = {
        **table.details,
        "columns_present": len(keep),
        "columns_mapped": mapped,
        "columns_absent": [variable.name for variable in absent],
    }
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
        details,
        repairs,
        value_labels,
        table.rejected_rows,
    )


def repair(file: str, row: int | str, column: str, original: str, repaired: str, kind: str) -> dict:
    return {
        "file": file,
        "row": row,
        "column": column,
        "original": original,
        "repaired": repaired,
        "kind": kind,
    }
