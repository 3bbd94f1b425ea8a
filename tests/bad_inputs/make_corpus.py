"""Regenerate the bad-input corpus: small malformed exports, frames and configs, each with one thing wrong.

Run from the project root:  .venv/bin/python -m tests.bad_inputs.make_corpus

Every file starts from a handful of valid rows: the first five coordinators of
data/raw/synthetic_coordinator_survey_2008.csv and the first five partners of
data/raw/synthetic_partner_survey_2008.xlsx (label exports of the codebook layout). The output is
deterministic (Excel and SPSS timestamps are fixed), so regenerating gives the same bytes. README.md (the
table of cases) is written from CASES below; tests/test_bad_inputs.py holds the exact expected outcomes.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import DEFAULT_CONFIG
from pipeline.core.paths import PROJECT_ROOT

HERE = Path(__file__).resolve().parent
RAW = PROJECT_ROOT / "data/raw"
BASE_ROWS = 5
FIXED_DATE = dt.datetime(2008, 5, 31, 0, 0, 0)
SAV_DATE_OFFSET = 92  # the creation date and time in an SPSS header ("dd mmm yy" then "hh:mm:ss")
SAV_FIXED_STAMP = b"31 May 08" + b"00:00:00"

Records = list[list[Any]]


# ------------------------------------------------------------------------------------------ base rows


def coordinator_records() -> Records:
    """The header and the first five coordinators of the synthetic CSV export, as text cells."""
    text = (RAW / "synthetic_coordinator_survey_2008.csv").read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    return [list(record) for record in records[: BASE_ROWS + 1]]


def partner_records() -> Records:
    """The header and the first five partners of the synthetic Excel export (empty cells as "")."""
    return [list(record) for record in _partner_rows()]


@functools.cache
def _partner_rows() -> tuple[tuple[str, ...], ...]:
    # Read once per process (opening the workbook is ~30 ms, and most corpus files start from these
    # rows); the file is data/raw/, which nothing writes.
    import openpyxl

    workbook = openpyxl.load_workbook(RAW / "synthetic_partner_survey_2008.xlsx", read_only=True)
    try:
        rows = workbook["responses"].iter_rows(min_row=1, max_row=BASE_ROWS + 1, values_only=True)
        return tuple(tuple("" if value is None else str(value) for value in row) for row in rows)
    finally:
        workbook.close()


def change(records: Records, changes: dict[tuple[int, str], Any]) -> Records:
    """A copy of the records with cells replaced: {(data row 0-based, column name): new value}."""
    header = records[0]
    out = [list(record) for record in records]
    for (row, column), value in changes.items():
        out[row + 1][header.index(column)] = value
    return out


def csv_text(records: Records, delimiter: str = ",", line_ending: str = "\n") -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending).writerows(records)
    return buffer.getvalue()


def csv_bytes(records: Records, **options: Any) -> bytes:
    return csv_text(records, **options).encode("utf-8")


# ------------------------------------------------------------------------------------------ writers


def _deterministic_zip(raw: bytes) -> bytes:
    """Rewrite a zip (an .xlsx) with fixed entry dates and fixed document timestamps."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    buffer = io.BytesIO()
    stamp = FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    return buffer.getvalue()


def xlsx_bytes(sheets: list[tuple[str, Records]]) -> bytes:
    """An Excel workbook of the given sheets; "" cells are left empty, as in a real export."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, records in sheets:
        sheet = workbook.create_sheet(title)
        for record in records:
            sheet.append([None if value == "" else value for value in record])
    workbook.properties.creator = "tests/bad_inputs/make_corpus.py"
    workbook.properties.created = FIXED_DATE
    workbook.properties.modified = FIXED_DATE
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _deterministic_zip(buffer.getvalue())


def label_codes(codebook: Codebook, records: Records, instrument: str) -> dict[str, list[Any]]:
    """The answers of a label export as codes (ids and free text as text, an empty cell as -9)."""
    header, body = records[0], records[1:]
    columns: dict[str, list[Any]] = {}
    for variable in codebook.for_instrument(instrument):
        cells = [record[header.index(variable.name)] for record in body]
        if variable.is_text:
            columns[variable.name] = cells
        elif variable.is_numeric:
            missing = {label: code for code, label in variable.missing.items()}
            columns[variable.name] = [
                -9 if c == "" else missing[c] if c in missing else int(c) for c in cells
            ]
        else:
            labels = {label: code for code, label in variable.allowed_codes.items()}
            columns[variable.name] = [-9 if c == "" else labels[c] for c in cells]
    return columns


def sav_bytes(
    codebook: Codebook,
    codes: dict[str, list[Any]],
    label_overrides: dict[str, dict[int, str]] | None = None,
) -> bytes:
    """An SPSS file of coordinator codes with the codebook's value labels (or overrides), fixed stamp."""
    import pandas as pd

    from tests.fixtures.survey_exports import write_sav_export

    with tempfile.TemporaryDirectory() as folder:
        path = write_sav_export(
            Path(folder) / "export.sav", codebook, "coordinator", pd.DataFrame(codes), label_overrides
        )
        data = bytearray(path.read_bytes())
    data[SAV_DATE_OFFSET : SAV_DATE_OFFSET + len(SAV_FIXED_STAMP)] = SAV_FIXED_STAMP
    return bytes(data)


def config_yaml(mutate: Callable[[dict[str, Any]], None]) -> bytes:
    """config.yaml with one mistake (the comments are not kept)."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    mutate(raw)
    return yaml.safe_dump(raw, sort_keys=False).encode("utf-8")


def frame_records() -> Records:
    """The frame's header and the rows of every LSP the base rows name (in frame order), plus 09."""
    text = (RAW / "lsp_frame_2008.csv").read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    wanted = {record[1] for record in coordinator_records()[1:]} | {r[1] for r in partner_records()[1:]}
    wanted.add("09")
    return [records[0]] + [record for record in records[1:] if record[0] in wanted]


# ------------------------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """One corpus file: how to build it, what is wrong with it and what the pipeline must do."""

    file: str
    wrong: str
    outcome: str
    build: Callable[[Codebook], bytes]


def _truncated_last_row(_: Codebook) -> bytes:
    records = coordinator_records()
    text = csv_text(records[:-1])
    last = records[-1]
    cut = last.index("Agree", 30)  # the first "Agree" from column 31 on: cut it to "Agr"
    return (text + ",".join([*last[:cut], "Agr"])).encode("utf-8")


def _truncated_inside_quote(_: Codebook) -> bytes:
    records = change(
        coordinator_records(), {(4, "comments"): 'Partners say "we are committed", but the budgets'}
    )
    text = csv_text(records).rstrip("\n")
    return text[: text.rindex(" but the budgets")].encode("utf-8")


def _stray_quote(column: str) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        records = coordinator_records()
        marker = "\x1f"
        records = change(records, {(0, column): marker + records[1][records[0].index(column)]})
        return csv_text(records).replace(marker, '"').encode("utf-8")

    return build


def _row_wider_than_header(_: Codebook) -> bytes:
    records = change(coordinator_records(), {(2, "comments"): "MARK"})
    # Written by hand, unquoted: the comma in the comment makes one cell too many.
    return csv_text(records).replace("MARK", "Good chair, weak theme groups").encode("utf-8")


def _mixed_line_endings(_: Codebook) -> bytes:
    records = coordinator_records()
    endings = ["\r\n", "\n", "\r"]
    return "".join(csv_text([record], line_ending=endings[i % 3]) for i, record in enumerate(records)).encode(
        "utf-8"
    )


def _blank_rows(_: Codebook) -> bytes:
    lines = csv_text(coordinator_records()).splitlines(keepends=True)
    width = len(coordinator_records()[0])
    return "".join([*lines[:2], "\n", "," * (width - 1) + "\n", *lines[2:]]).encode("utf-8")


def _wrong_delimiter(_: Codebook) -> bytes:
    return csv_bytes(coordinator_records(), delimiter=":")


def _xlsx_as_csv(_: Codebook) -> bytes:
    return xlsx_bytes([("responses", coordinator_records())])


def _pdf_as_csv(_: Codebook) -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _undecodable(_: Codebook) -> bytes:
    records = change(coordinator_records(), {(2, "comments"): "MARK"})
    # 0x81 is undefined in Windows-1252 and not valid UTF-8 either.
    return csv_bytes(records).replace(b"MARK", b"Caf\xe9 \x81 budget")


def _cp1252(_: Codebook) -> bytes:
    records = change(
        coordinator_records(),
        {
            (0, "comments"): "Chair: Cllr Méndez-Núñez; budget £50,000 – agreed",
            (2, "comments"): "Zoë Brontë said the café costs £1,200 a year",
        },
    )
    return csv_text(records).encode("cp1252")


def _bom(_: Codebook) -> bytes:
    records = change(coordinator_records(), {(1, "comments"): "Café budget £1,200"})
    return csv_text(records).encode("utf-8-sig")


def _quoted_newlines(_: Codebook) -> bytes:
    records = change(
        coordinator_records(),
        {
            (1, "comments"): "Two points:\n1. data sharing is slow\n2. the board is too large",
            (3, "comments"): "Windows line break here:\r\nand a second line",
        },
    )
    return csv_bytes(records)


def _header_changes(renames: dict[str, str]) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        records = coordinator_records()
        records[0] = [renames.get(name, name) for name in records[0]]
        return csv_bytes(records)

    return build


def _coordinator_changes(changes: dict[tuple[int, str], Any]) -> Callable[[Codebook], bytes]:
    return lambda _: csv_bytes(change(coordinator_records(), changes))


def _drop_column(name: str) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        records = coordinator_records()
        position = records[0].index(name)
        return csv_bytes([record[:position] + record[position + 1 :] for record in records])

    return build


def _add_column(name: str, values: list[str]) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        records = coordinator_records()
        return csv_bytes([records[0] + [name]] + [[*r, v] for r, v in zip(records[1:], values, strict=True)])

    return build


def _duplicated_column(_: Codebook) -> bytes:
    records = coordinator_records()
    position = records[0].index("leaders_competent")
    return csv_bytes([[*record, record[position]] for record in records])


def _no_header(_: Codebook) -> bytes:
    return csv_bytes(coordinator_records()[1:])


def _extra_rows(extra: Callable[[Records], Records]) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        records = coordinator_records()
        return csv_bytes(records + extra(records))

    return build


def _with_cells(record: list[str], header: list[str], cells: dict[str, str]) -> list[str]:
    out = list(record)
    for name, value in cells.items():
        out[header.index(name)] = value
    return out


def _partner_csv(changes: dict[tuple[int, str], Any]) -> Callable[[Codebook], bytes]:
    return lambda _: csv_bytes(change(partner_records(), changes))


def _xlsx_title_row(_: Codebook) -> bytes:
    return xlsx_bytes([("responses", [["LSP board partner survey 2008"], [""], *partner_records()])])


def _xlsx_second_sheet(_: Codebook) -> bytes:
    cover = [["LSP board partner survey 2008"], ["Exported 31 May 2008; the answers are on sheet 2"]]
    return xlsx_bytes([("cover", cover), ("responses", partner_records())])


def _xlsx_id_as_number(_: Codebook) -> bytes:
    # Someone typed the county id 09 into a General-format cell: Excel stored the number 9.
    return xlsx_bytes([("responses", change(partner_records(), {(1, "lsp_id"): 9}))])


def _csv_as_xlsx(_: Codebook) -> bytes:
    return csv_bytes(partner_records())


def _sav(
    changes: dict[tuple[int, str], Any], overrides: dict[str, dict[int, str]] | None = None
) -> Callable[[Codebook], bytes]:
    def build(codebook: Codebook) -> bytes:
        codes = label_codes(codebook, coordinator_records(), "coordinator")
        for (row, column), value in changes.items():
            codes[column][row] = value
        return sav_bytes(codebook, codes, overrides)

    return build


def _csv_as_sav(_: Codebook) -> bytes:
    return csv_bytes(coordinator_records())


def _frame_missing_tier(_: Codebook) -> bytes:
    records = frame_records()
    header = records[0]
    for record in records[1:]:
        if record[0] == "00MB":
            record[header.index("tier")] = ""
    return csv_bytes(records)


def _frame_without_tier_column(_: Codebook) -> bytes:
    records = frame_records()
    position = records[0].index("tier")
    return csv_bytes([record[:position] + record[position + 1 :] for record in records])


def _set_unknown_key(raw: dict[str, Any]) -> None:
    raw["dataset"]["inputs"][1]["header_rows"] = 1  # a typo for header_row


def _set_wrong_type(raw: dict[str, Any]) -> None:
    raw["disclosure"]["min_cell"] = "five"


C = "coordinator CSV"
CASES: tuple[Case, ...] = (
    Case("empty.csv", "a file of 0 bytes", "error: is empty", lambda _: b""),
    Case(
        "header_only.csv",
        "the header and no data rows",
        "repaired (accepted as is): 0 rows, read 0 = valid 0 + rejected 0",
        lambda _: csv_bytes(coordinator_records()[:1]),
    ),
    Case(
        "wrong_delimiter.csv",
        f"{C} with colons as delimiters",
        "error: every row is a single column",
        _wrong_delimiter,
    ),
    Case(
        "utf8_bom.csv",
        f"{C} in UTF-8 with a byte-order mark",
        "repaired: encoding utf-8-sig, first header is respondent_id, £ and é read; no repairs lines",
        _bom,
    ),
    Case(
        "windows1252.csv",
        f"{C} in Windows-1252 with pound signs, en dash and accented names",
        "repaired with encoding: windows-1252 in the config: comments exact, 'Under £50,000' mapped; "
        "no repairs lines (without it: error naming row 2, column comments, byte 0xe9)",
        _cp1252,
    ),
    Case(
        "mixed_line_endings.csv",
        f"{C} whose records end in CRLF, LF and CR in turn",
        "repaired: 5 rows, rows 2-6; no repairs lines",
        _mixed_line_endings,
    ),
    Case(
        "quoted_newlines.csv",
        f"{C} with LF and CRLF inside quoted comments",
        "repaired: comments kept byte for byte, rows 2-6 (records, not lines); no repairs lines",
        _quoted_newlines,
    ),
    Case(
        "truncated_last_row.csv",
        f"{C} cut off in the middle of the last row (in an unquoted label)",
        "quarantined: row 6 truncated_record (33 of 51 cells, no line end) and allowed_codes 'Agr'; "
        "a file_truncated line",
        _truncated_last_row,
    ),
    Case(
        "truncated_inside_quote.csv",
        f"{C} cut off inside the last row's quoted comment",
        "error: row 6 column comments: a quoted cell is never closed",
        _truncated_inside_quote,
    ),
    Case(
        "stray_quote_coded.csv",
        f"{C} with a stray opening quote in a coded cell: the next row is swallowed",
        "error: row 2 column development_stage: a quote opened in this cell is never closed",
        _stray_quote("development_stage"),
    ),
    Case(
        "stray_quote_free_text.csv",
        f"{C} with a stray opening quote in a comment: the next row is swallowed",
        "error: row 2 column comments: a quote opened in this cell is never closed",
        _stray_quote("comments"),
    ),
    Case(
        "row_wider_than_header.csv",
        f"{C} with an unquoted comma in a comment (52 cells)",
        "error: row 4 has 52 cells but the header has 51",
        _row_wider_than_header,
    ),
    Case(
        "missing_required_column.csv",
        f"{C} without the lsp_id column",
        "error: required column lsp_id is missing",
        _drop_column("lsp_id"),
    ),
    Case(
        "duplicated_column.csv",
        f"{C} with leaders_competent twice",
        "error: column 'leaders_competent' appears more than once",
        _duplicated_column,
    ),
    Case(
        "unknown_extra_column.csv",
        f"{C} with an extra column interviewer",
        "repaired: one unknown_column_ignored line; all 5 rows valid",
        _add_column("interviewer", ["JB", "JB", "KM", "KM", "JB"]),
    ),
    Case(
        "misspelt_header.csv",
        f"{C} whose leaders_competent header is misspelt leaders_competant",
        "repaired: unknown_column_ignored line; column_absent line for leaders_competent (-9 on every row), "
        "naming leaders_competant as its likely match",
        _header_changes({"leaders_competent": "leaders_competant"}),
    ),
    Case(
        "header_case.csv",
        f"{C} with headers in other case and with spaces",
        "repaired: three header_normalised lines; all 5 rows valid",
        _header_changes({"respondent_id": "Respondent_ID", "lsp_id": " LSP_ID ", "forum_size": "Forum_Size"}),
    ),
    Case(
        "no_header.csv",
        f"{C} without its header row",
        "error: no header row found in the first 20 rows",
        _no_header,
    ),
    Case(
        "likert_out_of_range.csv",
        f"{C} with Likert codes 6 and 0 (scale is 1-5)",
        "quarantined: rows 2 and 4, allowed_codes '6' and '0'",
        _coordinator_changes({(0, "leaders_competent"): "6", (2, "scs_shared_vision"): "0"}),
    ),
    Case(
        "misspelt_label.csv",
        f"{C} with the labels Agreee and Colaboration",
        "quarantined: rows 3 and 5, allowed_codes with the label as written",
        _coordinator_changes({(1, "leaders_competent"): "Agreee", (3, "development_stage"): "Colaboration"}),
    ),
    Case(
        "label_case_spacing.csv",
        f"{C} with labels in other case, extra spaces and a curly apostrophe",
        "repaired: four label_normalised lines; all 5 rows valid",
        _coordinator_changes(
            {
                (0, "leaders_competent"): "  strongly AGREE",
                (1, "chair_type"): "private   SECTOR",
                (2, "scs_shared_vision"): "Don’t know",
                (4, "layer_strategic_forum"): "NOT SELECTED ",
            }
        ),
    ),
    Case(
        "numbers_with_separators.csv",
        f"{C} with a year as 1,998 and counts as ' 45 ', '045', '6.0'",
        "repaired: four number_text lines; all 5 rows valid",
        _coordinator_changes(
            {
                (0, "joint_working_year"): "1,998",
                (1, "forum_size"): " 45 ",
                (2, "forum_size"): "045",
                (3, "support_team_fte"): "3.0",
            }
        ),
    ),
    Case(
        "number_too_large.csv",
        f"{C} with forum_size '1 200' (range 3-250)",
        "quarantined: row 2 range_or_missing_code '1200' after a number_text repair",
        _coordinator_changes({(0, "forum_size"): "1 200"}),
    ),
    Case(
        "number_not_integer.csv",
        f"{C} with forum_size 12.5 and joint_working_year 'about 1990'",
        "quarantined: rows 3 and 4, integer",
        _coordinator_changes({(1, "forum_size"): "12.5", (2, "joint_working_year"): "about 1990"}),
    ),
    Case(
        "sentinel_codes.csv",
        f"{C} with the codes -9 and -8 typed into label columns",
        "repaired: two code_not_label lines; all 5 rows valid",
        _coordinator_changes({(0, "leaders_competent"): "-9", (1, "chair_type"): "-8"}),
    ),
    Case(
        "sentinel_99.csv",
        f"{C} with 99 for 'no answer' in a Likert item, a year and a count",
        "quarantined: rows 2 and 3 (allowed_codes '99', range_or_missing_code '99'); "
        "row 4's forum_size 99 is inside 3-250 and cannot be told from a real count: kept",
        _coordinator_changes(
            {(0, "leaders_competent"): "99", (1, "joint_working_year"): "99", (2, "forum_size"): "99"}
        ),
    ),
    Case(
        "sentinel_dk.csv",
        f"{C} with DK, dk and \"don't KNOW\" for don't know",
        "repaired: missing_sentinel and label_normalised lines to -8; all 5 rows valid",
        _coordinator_changes(
            {(0, "chair_type"): "DK", (1, "forum_size"): "dk", (2, "scs_shared_vision"): "don't KNOW"}
        ),
    ),
    Case(
        "sentinel_not_allowed.csv",
        f"{C} with DK in a multiple-choice item and Not applicable in an unrouted item",
        "quarantined: rows 2 and 3, allowed_codes 'DK' and 'Not applicable'",
        _coordinator_changes({(0, "layer_strategic_forum"): "DK", (1, "chair_type"): "Not applicable"}),
    ),
    Case(
        "whitespace_cells.csv",
        f"{C} with a cell of spaces and an id with spaces around it",
        "repaired: whitespace_only (-9) and id_whitespace lines; all 5 rows valid",
        _coordinator_changes({(0, "leaders_competent"): "   ", (1, "respondent_id"): " C0002 "}),
    ),
    Case(
        "blank_rows.csv",
        f"{C} with an empty line and a line of commas after the first row",
        "repaired: two blank_row_skipped lines (rows 3 and 4); rows 2, 5-8 valid",
        _blank_rows,
    ),
    Case(
        "routing_violation.csv",
        f"{C} where has_support_team is No but the support-team questions are answered",
        "quarantined: row 2 routing on support_team_partner_staff and support_team_fte",
        _coordinator_changes({(0, "has_support_team"): "No"}),
    ),
    Case(
        "duplicate_respondent_id.csv",
        f"{C} where a sixth respondent (another LSP, other answers) reuses the id C0003",
        "quarantined: rows 4 and 7, duplicate_respondent_id_conflicting",
        _extra_rows(
            lambda r: [
                _with_cells(
                    r[5], r[0], {"respondent_id": "C0003", "lsp_id": "00CR", "comments": "Late reply"}
                )
            ]
        ),
    ),
    Case(
        "duplicate_submission_identical.csv",
        f"{C} where row 3 (C0002) was submitted twice, identically",
        "quarantined: row 7 duplicate_submission; row 3 kept",
        _extra_rows(lambda r: [list(r[2])]),
    ),
    Case(
        "duplicate_submission_different_answers.csv",
        f"{C} where C0002 submitted twice with a different leaders_competent",
        "quarantined: rows 3 and 7 duplicate_respondent_id_conflicting; row 7 also one_coordinator_per_lsp",
        _extra_rows(lambda r: [_with_cells(r[2], r[0], {"leaders_competent": "Disagree"})]),
    ),
    Case(
        "lsp_not_in_frame.csv",
        f"{C} with a coordinator for the LSP ZZ99, which the frame does not have",
        "quarantined: row 5 lsp_in_frame 'ZZ99'",
        _coordinator_changes({(3, "lsp_id"): "ZZ99"}),
    ),
    Case(
        "two_coordinators_one_lsp.csv",
        f"{C} with a second coordinator (C0006) for 22UH",
        "quarantined: row 7 one_coordinator_per_lsp '22UH'; row 2 kept",
        _extra_rows(lambda r: [_with_cells(r[5], r[0], {"respondent_id": "C0006", "lsp_id": "22UH"})]),
    ),
    Case(
        "wrong_instrument.csv",
        "the coordinator CSV configured as the partner export",
        "quarantined: every row respondent_id_pattern; 14 unknown_column_ignored, 4 column_absent lines",
        lambda _: csv_bytes(coordinator_records()),
    ),
    Case(
        "partner_without_lsp.csv",
        "partner CSV with an empty lsp_id",
        "quarantined: row 4 not_nullable (value empty)",
        _partner_csv({(2, "lsp_id"): ""}),
    ),
    Case(
        "not_csv_xlsx_renamed.csv",
        "an Excel workbook renamed .csv",
        "repaired: read as xlsx (the content decides); one format_from_content line",
        _xlsx_as_csv,
    ),
    Case(
        "not_csv_pdf.csv",
        "a PDF renamed .csv",
        "error: seems to be a PDF; what is supported; how to convert",
        _pdf_as_csv,
    ),
    Case(
        "undecodable.csv",
        f"{C} in UTF-8 with one row in Windows-1252 (é) and a byte (0x81) that is neither",
        "error: row 4 column comments: byte 0xe9 is not UTF-8, the rest of the file is",
        _undecodable,
    ),
    Case(
        "xlsx_title_row.xlsx",
        "partner workbook with a title row and an empty row above the header",
        "repaired: header_row 3, rows 4-8; no repairs lines",
        _xlsx_title_row,
    ),
    Case(
        "xlsx_data_on_second_sheet.xlsx",
        "partner workbook whose first sheet is a cover note (no sheet in config)",
        "repaired: the sheet 'responses' is chosen by content (41 of 41 columns against 0), one "
        "sheet_chosen_by_content line",
        _xlsx_second_sheet,
    ),
    Case(
        "xlsx_id_as_number.xlsx",
        "partner workbook with the LSP id 09 stored as the number 9",
        "quarantined: row 3 lsp_in_frame '9'",
        _xlsx_id_as_number,
    ),
    Case(
        "xlsx_not_a_workbook.xlsx",
        "a CSV file renamed .xlsx",
        "repaired: read as CSV (the content decides); one format_from_content line",
        _csv_as_xlsx,
    ),
    Case(
        "sav_value_labels_disagree.sav",
        "coordinator SPSS file whose value labels differ from the codebook",
        "repaired: two sav_value_label_differs lines, one sav_value_label_not_in_codebook; "
        "codes unchanged, 5 valid",
        _sav(
            {},
            {
                "chair_type": {1: "Council leader"},
                "leaders_competent": {4: "Tend to agree", 7: "Other"},
            },
        ),
    ),
    Case(
        "sav_code_not_in_codebook.sav",
        "coordinator SPSS file with the code 7 in a Likert item and 2.5 in chair_type",
        "quarantined: rows 2 and 4, allowed_codes '7' and '2.5'",
        _sav({(0, "leaders_competent"): 7, (2, "chair_type"): 2.5}),
    ),
    Case(
        "sav_not_spss.sav",
        "a CSV file renamed .sav",
        "repaired: read as CSV (the content decides); one format_from_content line",
        _csv_as_sav,
    ),
    Case(
        "frame_missing_tier.csv",
        "a sampling frame whose row for 00MB has no tier",
        "error (validate): row 12 (lsp_id 00MB) column tier: '' fails tier",
        _frame_missing_tier,
    ),
    Case(
        "frame_without_tier_column.csv",
        "a sampling frame without the tier column",
        "error (validate): column tier is missing",
        _frame_without_tier_column,
    ),
    Case("frame_empty.csv", "a sampling frame of 0 bytes", "error (validate): is empty", lambda _: b""),
    Case(
        "config_unknown_key.yaml",
        "config.yaml with dataset.inputs[2].header_rows (a typo for header_row)",
        "error (config): unknown key dataset.inputs[2].header_rows, naming the file",
        lambda _: config_yaml(_set_unknown_key),
    ),
    Case(
        "config_wrong_type.yaml",
        "config.yaml with disclosure.min_cell: five",
        "error (config): disclosure.min_cell must be int, got str ('five'), naming the file",
        lambda _: config_yaml(_set_wrong_type),
    ),
)

# ------------------------------------------------------------------------------------------ real-world shapes
# Shapes that survey tools, spreadsheets, statistics packages and offices produce (issue 15).

P = "partner workbook"


def _labels_frame(records: Records) -> Any:
    import pandas as pd

    return pd.DataFrame(records[1:], columns=records[0])


def _xls(records: Records) -> bytes:
    from tests.fixtures.survey_exports import write_xls_export

    with tempfile.TemporaryDirectory() as folder:
        return write_xls_export(Path(folder) / "export.xls", _labels_frame(records)).read_bytes()


def _deterministic_ods(raw: bytes) -> bytes:
    """An .ods rewritten with fixed entry dates and metadata dates, the mimetype first and stored."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    buffer = io.BytesIO()
    stamp = FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%S").encode()
    with zipfile.ZipFile(buffer, "w") as target:
        names = sorted(source.namelist(), key=lambda name: name != "mimetype")
        for name in names:
            data = source.read(name)
            if name == "meta.xml":
                data = re.sub(rb"(<(meta:creation-date|dc:date)>)[^<]*", rb"\g<1>" + stamp, data)
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    return buffer.getvalue()


_ODS_WRITER = """
import json, sys
from pathlib import Path
import pandas as pd
from tests.fixtures.survey_exports import write_ods_export
records = json.load(sys.stdin)
write_ods_export(Path(sys.argv[1]), pd.DataFrame(records[1:], columns=records[0]))
"""


def ods_file_bytes(records: Records) -> bytes:
    """An .ods of the records, as pandas' odf writer makes it in a fresh process.

    odfpy adds every namespace it has seen in the process to each later document, so the bytes of a
    second document depend on what came before; a process of its own gives the same bytes every time.
    """
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.ods"
        subprocess.run(
            [sys.executable, "-c", _ODS_WRITER, str(path)],
            input=json.dumps(records),
            text=True,
            check=True,
            cwd=PROJECT_ROOT,
        )
        return path.read_bytes()


def _ods(records: Records) -> bytes:
    return _deterministic_ods(ods_file_bytes(records))


def _coordinator_codes(codebook: Codebook, changes: dict[tuple[int, str], Any] | None = None) -> Any:
    import pandas as pd

    codes = label_codes(codebook, coordinator_records(), "coordinator")
    for (row, column), value in (changes or {}).items():
        codes[column][row] = value
    return pd.DataFrame(codes)


def _dta(version: int) -> Callable[[Codebook], bytes]:
    def build(codebook: Codebook) -> bytes:
        from tests.fixtures.survey_exports import write_dta_export

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "export.dta"
            write_dta_export(path, codebook, "coordinator", _coordinator_codes(codebook), version=version)
            data = path.read_bytes()
        return re.sub(rb"\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d", b"31 May 2008 00:00", data, count=1)

    return build


def _por(codebook: Codebook) -> bytes:
    from tests.fixtures.survey_exports import write_por_export

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.por"
        write_por_export(path, codebook, "coordinator", _coordinator_codes(codebook))
        data = path.read_bytes()
    # The creation date (8 digits after "A8/") and time (6 digits after the next "6/"); the file's
    # 80-column lines may break inside them.
    out = bytearray(data)
    position = data.index(b"SPSSPORTA8/") + len(b"SPSSPORTA8/")
    for digits, then in ((b"20080531", b"6/"), (b"000000", b"")):
        for digit in digits:
            while out[position : position + 2] == b"\r\n":
                position += 2
            out[position] = digit
            position += 1
        while then and out[position : position + 2] == b"\r\n":
            position += 2
        assert out[position : position + len(then)] == then
        position += len(then)
    return bytes(out)


def _sav_variant(**options: Any) -> Callable[[Codebook], bytes]:
    def build(codebook: Codebook) -> bytes:
        from tests.fixtures.survey_exports import write_sav_export

        with tempfile.TemporaryDirectory() as folder:
            path = write_sav_export(
                Path(folder) / "export.sav", codebook, "coordinator", _coordinator_codes(codebook), **options
            )
            data = bytearray(path.read_bytes())
        data[SAV_DATE_OFFSET : SAV_DATE_OFFSET + len(SAV_FIXED_STAMP)] = SAV_FIXED_STAMP
        return bytes(data)

    return build


def _gzip(build: Callable[[Codebook], bytes]) -> Callable[[Codebook], bytes]:
    return lambda codebook: gzip.compress(build(codebook), mtime=0)


def _zip(members: dict[str, Callable[[Codebook], bytes]]) -> Callable[[Codebook], bytes]:
    def build(codebook: Codebook) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, member in members.items():
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, member(codebook))
        return buffer.getvalue()

    return build


def _text(records: Records, encoding: str, delimiter: str = "\t") -> bytes:
    return csv_text(records, delimiter=delimiter, line_ending="\r\n").encode(encoding)


def _coordinator_csv(_: Codebook) -> bytes:
    return csv_bytes(coordinator_records())


def _partner_xlsx(_: Codebook) -> bytes:
    return xlsx_bytes([("responses", partner_records())])


def _xlsx_uncalculated_formula(_: Codebook) -> bytes:
    # What a script-written workbook looks like before Excel ever calculates it: =VALUE("4") etc.
    records = partner_records()
    records = change(records, {(1, "scs_shared_vision"): '=IF(1=1,"Agree","")'})
    return xlsx_bytes([("responses", records)])


def _nul_at(row: int, column: str, pad_to: int = 0) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        records = coordinator_records()
        if pad_to:
            # A long comment first, so that the NUL stands far beyond the first 8 KB.
            records = change(records, {(0, "comments"): "Long report. " * (pad_to // 13)})
        marker = "\x1d\x1d"
        records = change(records, {(row, column): records[row + 1][records[0].index(column)] + marker})
        return csv_text(records).replace(marker, "\x00").encode("utf-8")

    return build


def _semicolon_decimal_comma(_: Codebook) -> bytes:
    records = change(
        coordinator_records(),
        {(0, "forum_size"): "18,0", (1, "support_team_fte"): "2,00", (2, "forum_size"): "12,5"},
    )
    return csv_bytes(records, delimiter=";")


def _surveymonkey(_: Codebook) -> bytes:
    records = coordinator_records()
    header = records[0]
    options = ["" if name in ("respondent_id", "lsp_id") else "Response" for name in header]
    options[header.index("comments")] = "Open-Ended Response"
    return csv_bytes([header, options, *records[1:]])


def _qualtrics(_: Codebook) -> bytes:
    records = coordinator_records()
    header = records[0]
    questions = [f"Q{i}. {name.replace('_', ' ').capitalize()}?" for i, name in enumerate(header, 1)]
    import_ids = [f'{{"ImportId":"QID{i}"}}' for i in range(1, len(header) + 1)]
    return csv_bytes([header, questions, import_ids, *records[1:]])


def _question_row(_: Codebook) -> bytes:
    records = coordinator_records()
    questions = [name.replace("_", " ").capitalize() for name in records[0]]
    return csv_bytes([records[0], questions, *records[1:]])


def _lsp_names(names: dict[int, str]) -> Callable[[Codebook], bytes]:
    return _coordinator_changes({(row, "lsp_id"): name for row, name in names.items()})


def _ole_with(stream_name: str) -> Callable[[Codebook], bytes]:
    def build(_: Codebook) -> bytes:
        # The header of an OLE compound file and a directory entry naming its stream (UTF-16).
        header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
        entry = stream_name.encode("utf-16-le").ljust(64, b"\x00") + b"\x00" * 64
        return header + entry + b"\x00" * 384

    return build


def _html_as_xls(_: Codebook) -> bytes:
    records = partner_records()
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in record) + "</tr>" for record in records)
    return f"<html><head><meta charset='utf-8'></head><body><table>{rows}</table></body></html>".encode()


def _xml_spreadsheet(_: Codebook) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">'
        b'<Worksheet ss:Name="responses"><Table><Row><Cell><Data ss:Type="String">respondent_id</Data>'
        b"</Cell></Row></Table></Worksheet></Workbook>\n"
    )


def _docx(_: Codebook) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<document/>")):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            archive.writestr(info, data)
    return buffer.getvalue()


def _json(_: Codebook) -> bytes:
    records = coordinator_records()
    rows = [dict(zip(records[0], record, strict=True)) for record in records[1:3]]
    import json

    return json.dumps(rows, indent=2).encode("utf-8")


def _binary(_: Codebook) -> bytes:
    # Bytes of no known kind (a damaged download): a fixed pseudo-random sequence.
    state, out = 12345, bytearray()
    for _ in range(4096):
        state = (1103515245 * state + 12345) % 2**31
        out.append(state >> 23)
    return bytes(out)


REAL_WORLD_CASES: tuple[Case, ...] = (
    Case(
        "xls_partner.xls",
        f"{P} saved as old Excel 97-2003 .xls",
        "repaired: format xls; no repairs lines",
        lambda _: _xls(partner_records()),
    ),
    Case(
        "ods_partner.ods",
        f"{P} saved as OpenDocument .ods (LibreOffice)",
        "repaired: format ods; no repairs lines",
        lambda _: _ods(partner_records()),
    ),
    Case(
        "dta_coordinator.dta",
        "coordinator Stata 14/15 .dta file with the codebook's value labels",
        "repaired: format dta, codes as in the CSV; no repairs lines",
        _dta(15),
    ),
    Case(
        "dta_stata12.dta",
        "coordinator Stata 12 .dta file (format 115, the binary header of old Stata)",
        "repaired with encoding: utf-8 (old Stata files declare none); format dta; no repairs lines",
        _dta(12),
    ),
    Case(
        "por_coordinator.por",
        "coordinator SPSS portable .por file (8-character upper-case names, no value labels), "
        "with column_map",
        "repaired: format por; one value_labels_absent line",
        _por,
    ),
    Case(
        "zsav_coordinator.zsav",
        "coordinator compressed SPSS .zsav file",
        "repaired: format sav (zsav content); no repairs lines",
        _sav_variant(compress=True),
    ),
    Case(
        "sav_without_value_labels.sav",
        "coordinator SPSS file saved without value labels",
        "repaired: one value_labels_absent line (not one per code)",
        _sav_variant(value_labels_kept=False),
    ),
    Case(
        "csv_gzip.csv.gz",
        "coordinator CSV compressed with gzip",
        "repaired: compression gzip; no repairs lines",
        _gzip(_coordinator_csv),
    ),
    Case(
        "csv_in_zip.zip",
        "coordinator CSV sent as a zip archive holding one file",
        "repaired: compression zip, member named; no repairs lines",
        _zip({"LSP survey/coordinators.csv": _coordinator_csv}),
    ),
    Case(
        "zip_two_files.zip",
        "a zip archive holding two exports",
        "error: seems to be a zip archive of 2 files; unzip it",
        _zip({"coordinators.csv": _coordinator_csv, "partners.xlsx": _partner_xlsx}),
    ),
    Case(
        "gzip_damaged.csv.gz",
        "a gzip file cut short in transfer",
        "error: seems to be a damaged gzip file",
        lambda c: _gzip(_coordinator_csv)(c)[:300],
    ),
    Case(
        "utf16_tab.txt",
        "coordinators as Excel 'Unicode Text': UTF-16 with a BOM, tab separated",
        "repaired: encoding utf-16, delimiter tab; no repairs lines",
        lambda _: _text(coordinator_records(), "utf-16"),
    ),
    Case(
        "utf16_comma.csv",
        "coordinator CSV in UTF-16 with a BOM, comma separated",
        "repaired: encoding utf-16, delimiter comma; no repairs lines",
        lambda _: _text(coordinator_records(), "utf-16", ","),
    ),
    Case(
        "utf32_tab.txt",
        "coordinators as UTF-32 text with a BOM, tab separated",
        "repaired: encoding utf-32; no repairs lines",
        lambda _: _text(coordinator_records(), "utf-32"),
    ),
    Case(
        "utf16_no_bom.txt",
        "coordinators as UTF-16 little-endian text without a byte-order mark",
        "error: seems to be UTF-16-LE text without a byte-order mark; set encoding: utf-16-le",
        lambda _: _text(coordinator_records(), "utf-16-le"),
    ),
    Case(
        "utf16_no_bom_configured.txt",
        "the same UTF-16 text without a BOM, with encoding: utf-16-le in config (the advice above)",
        "repaired: encoding utf-16-le; no repairs lines",
        lambda _: _text(coordinator_records(), "utf-16-le"),
    ),
    Case(
        "xlsx_renamed_xls.xls",
        "an .xlsx workbook renamed .xls",
        "repaired: read as xlsx; one format_from_content line",
        _partner_xlsx,
    ),
    Case(
        "sav_renamed_csv.csv",
        "an SPSS .sav file renamed .csv",
        "repaired: read as sav; one format_from_content line",
        _sav_variant(),
    ),
    Case(
        "xlsx_uncalculated_formula.xlsx",
        "partner workbook written by a script: a formula with no stored result",
        "error: sheet 'responses' cell D3 (row 3): a formula with no stored result",
        _xlsx_uncalculated_formula,
    ),
    Case(
        "nul_early.csv",
        "coordinator CSV with a NUL byte in a coded cell of the first row (within the first 8 KB)",
        "error: row 2 column chair_type: holds a NUL byte",
        _nul_at(0, "chair_type"),
    ),
    Case(
        "nul_late.csv",
        "coordinator CSV with a NUL byte in a coded cell of the last row, 12 KB into the file",
        "error: row 6 column chair_type: holds a NUL byte (the same message)",
        _nul_at(4, "chair_type", pad_to=12_000),
    ),
    Case(
        "control_character_coded.csv",
        "coordinator CSV with a control character (0x1F) after a label and 0x07 in a count",
        "quarantined: rows 3 and 5, control_character",
        _coordinator_changes({(1, "leaders_competent"): "Agree\x1f", (3, "forum_size"): "1\x072"}),
    ),
    Case(
        "overlong_comment.csv",
        "coordinator CSV with a 200,000-character comment",
        "error: row 4 column comments: a cell of 200,000 characters",
        _coordinator_changes({(2, "comments"): "x" * 200_000}),
    ),
    Case(
        "semicolon_decimal_comma.csv",
        "European CSV: semicolons, counts written 18,0 and 2,00, and 12,5",
        "quarantined: row 4 integer '12,5'; two decimal_comma lines",
        _semicolon_decimal_comma,
    ),
    Case(
        "surveymonkey_two_header_rows.csv",
        "SurveyMonkey layout: an option row ('Response', 'Open-Ended Response') under the header",
        "repaired: one extra_header_row_skipped line (row 2); rows 3-7",
        _surveymonkey,
    ),
    Case(
        "qualtrics_three_header_rows.csv",
        "Qualtrics layout: question text and ImportId rows under the header",
        "repaired: two extra_header_row_skipped lines (rows 2, 3); rows 4-8",
        _qualtrics,
    ),
    Case(
        "question_text_row_configured.csv",
        "a question-text row under the header that no tool marks, with extra_header_rows: 1",
        "repaired: one extra_header_row_skipped line; rows 3-7",
        _question_row,
    ),
    Case(
        "labels_with_codes.csv",
        "coordinator CSV with labels written 4 - Agree, 5. Strongly agree, Agree (4), (2) Disagree",
        "repaired: four code_and_label lines; all 5 rows valid",
        _coordinator_changes(
            {
                (0, "scs_outcomes_monitored"): "4 - Agree",
                (0, "leaders_competent"): "5. Strongly agree",
                (1, "scs_shared_vision"): "Agree (4)",
                (2, "members_lack_training"): "(2) Disagree",
            }
        ),
    ),
    Case(
        "labels_with_codes_disagree.csv",
        "coordinator CSV with 2 - Agree (2 is Disagree) and Strongly agree (4)",
        "quarantined: rows 2 and 3, code_label_disagree",
        _coordinator_changes(
            {(0, "scs_outcomes_monitored"): "2 - Agree", (1, "leaders_competent"): "Strongly agree (4)"}
        ),
    ),
    Case(
        "lsp_by_name.csv",
        "coordinator CSV naming each LSP by its council instead of its code",
        "repaired: five lsp_id_from_name lines; all 5 rows valid",
        _lsp_names(
            {
                0: "Epping Forest District Council",
                1: "KETTERING BOROUGH COUNCIL",
                2: "West Berkshire Council",
                3: "Shropshire County Council",
                4: "North West Leicestershire",
            }
        ),
    ),
    Case(
        "lsp_name_ambiguous.csv",
        "coordinator CSV naming an LSP 'Durham' (a county and a district)",
        "quarantined: row 3 lsp_name_ambiguous; the repairs line names 20 and 20UE",
        _lsp_names({1: "Durham"}),
    ),
    Case(
        "lsp_name_unknown.csv",
        "coordinator CSV naming LSPs 'Newcastle' and 'Gotham City Council'",
        "quarantined: rows 3 and 4 lsp_in_frame; the repairs lines name the similar LSPs, or none",
        _lsp_names({1: "Newcastle", 2: "Gotham City Council"}),
    ),
    Case(
        "html_as_xls.xls",
        "a web survey tool's 'Excel' download that is an HTML table",
        "error: seems to be an HTML page; save as .xlsx or CSV",
        _html_as_xls,
    ),
    Case(
        "xml_spreadsheet_2003.xls",
        "an Excel 2003 XML spreadsheet named .xls",
        "error: seems to be an Excel 2003 XML spreadsheet",
        _xml_spreadsheet,
    ),
    Case(
        "password_protected.xlsx",
        "a password-protected workbook (an OLE file with an EncryptedPackage stream)",
        "error: seems to be a password-protected Excel workbook; remove the password",
        _ole_with("EncryptedPackage"),
    ),
    Case(
        "word_document.xlsx", "a Word .docx document named .xlsx", "error: seems to be a Word document", _docx
    ),
    Case(
        "json_export.csv",
        "a JSON export of the responses named .csv",
        "error: seems to be a JSON file",
        _json,
    ),
    Case(
        "binary_garbage.csv",
        "4 KB of bytes of no known kind (a damaged download)",
        "error: seems to be a binary file of a kind ingest does not know",
        _binary,
    ),
)
CASES = CASES + REAL_WORLD_CASES

# Cases that need no file of their own.
OTHER_CASES = (
    (
        "(none: processed_dir)",
        "the output folder cannot be written (read-only, or under a regular file when run as root)",
        "error: <folder>: cannot write here",
    ),
)


FOUND_BUGS = (
    "`stray_quote_coded.csv`, `stray_quote_free_text.csv`: a quote never closed read the following rows "
    "into one cell, so rows were lost without a word (pipeline/stages/ingest.py, read_csv_input).",
    "`truncated_inside_quote.csv`: a file ending inside a quoted cell was read as if complete, the cut "
    "cell and any rows a stray quote swallowed included (pipeline/stages/ingest.py, read_csv_input).",
    "`xlsx_data_on_second_sheet.xlsx`: the error did not name the sheet it searched nor the other sheets "
    "(pipeline/stages/ingest.py, read_xlsx_input).",
    "`frame_empty.csv`: a traceback (pandas EmptyDataError) instead of one line "
    "(pipeline/stages/validate.py, read_frame).",
    "`frame_missing_tier.csv`, `frame_without_tier_column.csv`: the error named lsp_frame_2008.csv "
    "whatever frame was configured, and a missing column read 'column_in_dataframe (tier)' "
    "(pipeline/stages/validate.py, check_frame and validate).",
    "`config_unknown_key.yaml`, `config_wrong_type.yaml`: the error did not name the configuration file "
    "(pipeline/core/config.py, load_config).",
    "`xlsx_uncalculated_formula.xlsx`: formula cells with no stored result were read as not answered (-9), "
    "silently (pipeline/stages/ingest.py, read_xlsx_input).",
    "`nul_late.csv`: a NUL byte after the first 8 KB passed into the valid data unrecorded, while one in "
    "the first 8 KB refused the whole file (pipeline/stages/ingest.py, _refuse_damaged_cells).",
    "`control_character_coded.csv`: a control character after a label was normalised away as if it were "
    "a space (pipeline/stages/ingest.py, _coded_translation).",
    "`overlong_comment.csv`: 'field larger than field limit', naming no row or column "
    "(pipeline/stages/ingest.py, _parse_csv).",
    "`semicolon_decimal_comma.csv`: '18,0' rejected on every row though '18.0' is repaired "
    "(pipeline/stages/ingest.py, _numeric_translation).",
    "`utf16_tab.txt`, `utf16_no_bom.txt`: UTF-16 text refused as 'a binary file' even with encoding set; "
    "the advice given led to a second error (pipeline/stages/ingest.py, decode_text; "
    "pipeline/core/formats.py).",
    "`surveymonkey_two_header_rows.csv`, `qualtrics_three_header_rows.csv`: the extra header rows were "
    "rejected as if they were respondents (pipeline/stages/ingest.py, _extra_header_rows).",
    "`labels_with_codes.csv`, `lsp_by_name.csv`: rejected on every row (pipeline/stages/ingest.py, "
    "_coded_translation, _lsp_ids_from_names).",
)


def readme() -> str:
    lines = [
        "# Bad-input corpus",
        "",
        "Small malformed inputs, each with one thing wrong, and what the pipeline must do with each.",
        "Regenerate them with `.venv/bin/python -m tests.bad_inputs.make_corpus` (deterministic; this",
        "table is written by the same script). `tests/test_bad_inputs.py` asserts each outcome exactly.",
        "",
        "Outcomes (decided from docs/ingest_validate.md): a structural problem (missing or unreadable file,",
        "missing required column, duplicated column, broken quoting, a NUL byte) is **error**: one line",
        "naming the file and the row or column, non-zero exit, no traceback. A bad value is **quarantined**:",
        "the row is in `rejected.csv` with its check and value, and read = valid + rejected for the file. A",
        "slip ingest can undo is **repaired**: exact values and `ingest_repairs.csv` lines (accepted files",
        "with nothing to repair are listed as repaired too). Rows are numbered as in a spreadsheet: the",
        "header is row 1. Base rows: coordinators C0001-C0005 (LSPs 22UH, 34UE, 00MB, 39, 31UH) and",
        "partners P0001-P0005, the first rows of the synthetic exports in `data/raw/`. A file whose",
        "content is another format than its name is read by its content, with a `format_from_content`",
        "line; a file no reader takes says what it seems to be, what is supported and how to convert it.",
        "",
        "| file | what is wrong | expected outcome |",
        "|---|---|---|",
    ]
    for case in CASES:
        lines.append(f"| `{case.file}` | {case.wrong} | {case.outcome} |")
    for file, wrong, outcome in OTHER_CASES:
        lines.append(f"| {file} | {wrong} | {outcome} |")
    lines += ["", "Cases that found bugs, fixed with them:", ""]
    lines += [f"- {line}" for line in FOUND_BUGS]
    return "\n".join(lines) + "\n"


def main() -> None:
    codebook = load_codebook(RAW / "codebook.yaml")
    for case in CASES:
        (HERE / case.file).write_bytes(case.build(codebook))
    (HERE / "README.md").write_text(readme(), encoding="utf-8")
    print(f"wrote {len(CASES)} files and README.md to {HERE.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
