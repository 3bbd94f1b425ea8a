"""The bad-input corpus (tests/bad_inputs/): every malformed file has one exact outcome.

An outcome is one of:
  error        one clear line naming the file (and the row or column where there is one), no traceback;
  quarantined  the row is in the rejects with the exact check and value, and read = valid + rejected;
  repaired     the exact repaired values and ingest_repairs.csv lines, and read = valid + rejected.

Most cases call the stages' pure functions in-process. A few run the command line, as make does, side by
side and forked from one process that imported the libraries once (tests/forked.py): a representative
ingest error, the config errors, a broken frame under validate, and an output folder that cannot be
written.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.core.codebook import Codebook
from pipeline.core.config import InputFile
from pipeline.core.errors import PipelineError
from pipeline.core.formats import unreadable_message
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.stages.ingest import build_manifest, ingest, write_outputs
from pipeline.stages.validate import ingest_rejections, reconciliation_lines, validate
from pipeline.study.frame import read_frame
from tests.config_copy import write_config_copy
from tests.forked import Command, run_commands

# On xdist workers (make test) the module stays on one worker, so the command-line cases start once.
pytestmark = pytest.mark.xdist_group("bad_inputs")

CORPUS = PROJECT_ROOT / "tests/bad_inputs"
CORPUS_LABEL = "tests/bad_inputs"
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".gz": "csv",
    ".zip": "csv",
    ".xlsx": "xlsx",
    ".xls": "xls",
    ".ods": "ods",
    ".sav": "sav",
    ".zsav": "sav",
    ".dta": "dta",
    ".por": "por",
}
NOT_SELECTED = "0"


@dataclass(frozen=True)
class Outcome:
    """What the pipeline must do with one corpus file.

    ``rejected`` lines are (row, respondent_id, column, check, value); ``repairs`` lines are
    (row or None for a file-level line, column, original, repaired, kind); ``cells`` maps
    (source_row, column) to the ingested text value; ``details`` are manifest entries of the input.
    """

    kind: str  # "error", "quarantined" or "repaired"
    instrument: str = "coordinator"
    options: dict[str, Any] = field(default_factory=dict)
    stage: str = "ingest"  # for errors: ingest, frame, cli-ingest, cli-validate
    message: str = ""  # for errors: the exact message (without the "error: <stage>: " prefix)
    rows: tuple[int, ...] = (2, 3, 4, 5, 6)
    rejected: tuple[tuple[int, str, str, str, str], ...] = ()
    repairs: tuple[tuple[int | None, str, str, str, str], ...] = ()
    cells: dict[tuple[int, str], Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def _error(file: str, problem: str, stage: str = "ingest", **options: Any) -> Outcome:
    return Outcome("error", stage=stage, message=f"{CORPUS_LABEL}/{file}: {problem}", **options)


def _unreadable(file: str, what: str, advice: str, **options: Any) -> Outcome:
    return _error(file, unreadable_message(what, advice), **options)


def _format_note(configured: str, content: str) -> tuple[None, str, str, str, str]:
    return (None, "", configured, content, "format_from_content")


def _por_names() -> dict[str, str]:
    from pipeline.core.codebook import load_codebook
    from tests.fixtures.survey_exports import por_names

    return por_names(load_codebook(PROJECT_ROOT / "data/raw/codebook.yaml"), "coordinator")


NUL_BYTE = (
    "holds a NUL byte, which no answer contains (the file is damaged or in another encoding); "
    "export the file again"
)
QUOTE_NEVER_CLOSED = (
    "a quote opened in this cell is never closed, so the rows after it were read into the cell; "
    "fix the quoting in the export"
)
UNKNOWN = "unknown_column_ignored"
ABSENT = "column_absent"

OUTCOMES: dict[str, Outcome] = {
    # ---------------------------------------------------------------- reading: files and encodings
    "empty.csv": _error("empty.csv", "is empty; export the survey again"),
    "header_only.csv": Outcome("repaired", rows=(), details={"rows": 0, "header_row": 1}),
    "wrong_delimiter.csv": _error(
        "wrong_delimiter.csv",
        "every row is a single column: the delimiter is none of comma, semicolon, tab or pipe; "
        "export the file again as delimited text",
    ),
    "utf8_bom.csv": Outcome(
        "repaired",
        details={"encoding": "utf-8-sig", "delimiter": "comma"},
        cells={(2, "respondent_id"): "C0001", (3, "comments"): "Café budget £1,200"},
    ),
    # Read as the config names it: without `encoding`, the file stops at its first non-UTF-8 byte
    # (tests/test_ingest.py and the metamorphic harness).
    "windows1252.csv": Outcome(
        "repaired",
        options={"encoding": "windows-1252"},
        details={"encoding": "windows-1252"},
        cells={
            (2, "comments"): "Chair: Cllr Méndez-Núñez; budget £50,000 – agreed",
            (4, "comments"): "Zoë Brontë said the café costs £1,200 a year",
            (3, "research_budget_band"): "2",  # "Under £50,000"
        },
    ),
    "mixed_line_endings.csv": Outcome(
        "repaired", cells={(2, "respondent_id"): "C0001", (6, "respondent_id"): "C0005"}
    ),
    "quoted_newlines.csv": Outcome(
        "repaired",
        cells={
            (3, "comments"): "Two points:\n1. data sharing is slow\n2. the board is too large",
            (5, "comments"): "Windows line break here:\r\nand a second line",
            (6, "respondent_id"): "C0005",
        },
    ),
    "undecodable.csv": _error(
        "undecodable.csv",
        "row 4 column comments: byte 0xe9 (file offset 2775) is not UTF-8; the rest of the file is UTF-8, "
        "so this row was written in another encoding (Windows-1252 would read 'é'); correct it in the "
        "export and save as UTF-8",
    ),
    # The content decides the format; the name that said otherwise is recorded.
    "not_csv_xlsx_renamed.csv": Outcome(
        "repaired", repairs=(_format_note("csv", "xlsx"),), details={"format": "xlsx", "sheet": "responses"}
    ),
    "not_csv_pdf.csv": _unreadable(
        "not_csv_pdf.csv",
        "a PDF",
        "export the survey data, not a printed report, as CSV or .xlsx",
        stage="cli-ingest",
    ),
    # ---------------------------------------------------------------- reading: quoting and truncation
    "truncated_last_row.csv": Outcome(
        # The last record ends without a line end, inside a label: rejected as truncated, file flagged.
        "quarantined",
        rejected=(
            (6, "C0005", "information_shared", "allowed_codes", "Agr"),
            (6, "C0005", "information_shared", "truncated_record", "33 of 51 cells"),
        ),
        repairs=(
            (None, "", "", "last record (row 6) cut short", "file_truncated"),
            (6, "information_shared", "33 of 51 cells", "rejected", "truncated_record"),
        ),
        cells={(6, "risks_managed"): "-9", (6, "comments"): pd.NA},  # the cells cut off: not answered
    ),
    "truncated_inside_quote.csv": _error(
        "truncated_inside_quote.csv",
        "row 6 column comments: a quoted cell is never closed before the end of the file "
        "(the export is cut short, or a stray quote); export the file again",
    ),
    "stray_quote_coded.csv": _error(
        "stray_quote_coded.csv", f"row 2 column development_stage: {QUOTE_NEVER_CLOSED}"
    ),
    "stray_quote_free_text.csv": _error(
        "stray_quote_free_text.csv", f"row 2 column comments: {QUOTE_NEVER_CLOSED}"
    ),
    "row_wider_than_header.csv": _error(
        "row_wider_than_header.csv",
        "row 4 has 52 cells but the header has 51: check quoting or the delimiter in the export",
    ),
    "blank_rows.csv": Outcome(
        "repaired",
        rows=(2, 5, 6, 7, 8),
        repairs=((3, "", "", "", "blank_row_skipped"), (4, "", "", "", "blank_row_skipped")),
        cells={(5, "respondent_id"): "C0002"},
    ),
    # ---------------------------------------------------------------- headers
    "missing_required_column.csv": _error(
        "missing_required_column.csv",
        "required column lsp_id is missing (found: respondent_id, chair_type, layer_strategic_forum, "
        "layer_executive_board, layer_theme_groups, forum_size, ...); add it or map it with column_map "
        "in config.yaml",
    ),
    "duplicated_column.csv": _error(
        "duplicated_column.csv",
        "column 'leaders_competent' appears more than once in the header; remove the duplicate column "
        "from the export",
    ),
    "unknown_extra_column.csv": Outcome("repaired", repairs=((None, "interviewer", "", "", UNKNOWN),)),
    "misspelt_header.csv": Outcome(
        # Documented: an unknown header is left out, and the optional codebook column it was meant to
        # be is then "not answered" on every row: the column audit says so, naming the likely header.
        "repaired",
        repairs=(
            (None, "leaders_competant", "", "", UNKNOWN),
            (None, "leaders_competent", "", "-9 on every row; likely match: 'leaders_competant'", ABSENT),
        ),
        cells={(row, "leaders_competent"): "-9" for row in range(2, 7)},
    ),
    "header_case.csv": Outcome(
        "repaired",
        repairs=(
            (None, "forum_size", "Forum_Size", "forum_size", "header_normalised"),
            (None, "lsp_id", " LSP_ID ", "lsp_id", "header_normalised"),
            (None, "respondent_id", "Respondent_ID", "respondent_id", "header_normalised"),
        ),
        cells={(2, "lsp_id"): "22UH", (2, "forum_size"): "18"},
    ),
    "no_header.csv": _error(
        "no_header.csv",
        "no header row found in the first 20 rows (none of the codebook's column names such as "
        "respondent_id appear); set header_row or column_map in config.yaml",
    ),
    # ---------------------------------------------------------------- values
    "likert_out_of_range.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "leaders_competent", "allowed_codes", "6"),
            (4, "C0003", "scs_shared_vision", "allowed_codes", "0"),
        ),
    ),
    "misspelt_label.csv": Outcome(
        "quarantined",
        rejected=(
            (3, "C0002", "leaders_competent", "allowed_codes", "Agreee"),
            (5, "C0004", "development_stage", "allowed_codes", "Colaboration"),
        ),
    ),
    "label_case_spacing.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "  strongly AGREE", "5", "label_normalised"),
            (3, "chair_type", "private   SECTOR", "5", "label_normalised"),
            (4, "scs_shared_vision", "Don’t know", "-8", "label_normalised"),
            (6, "layer_strategic_forum", "NOT SELECTED ", NOT_SELECTED, "label_normalised"),
        ),
        cells={(2, "leaders_competent"): "5", (6, "layer_strategic_forum"): NOT_SELECTED},
    ),
    "numbers_with_separators.csv": Outcome(
        "repaired",
        repairs=(
            (2, "joint_working_year", "1,998", "1998", "number_text"),
            (3, "forum_size", " 45 ", "45", "number_text"),
            (4, "forum_size", "045", "45", "number_text"),
            (5, "support_team_fte", "3.0", "3", "number_text"),
        ),
        cells={(2, "joint_working_year"): "1998", (4, "forum_size"): "45", (5, "support_team_fte"): "3"},
    ),
    "number_too_large.csv": Outcome(
        "quarantined",
        rejected=((2, "C0001", "forum_size", "range_or_missing_code", "1200"),),
        repairs=((2, "forum_size", "1 200", "1200", "number_text"),),
    ),
    "number_not_integer.csv": Outcome(
        "quarantined",
        rejected=(
            (3, "C0002", "forum_size", "integer", "12.5"),
            (4, "C0003", "joint_working_year", "integer", "about 1990"),
        ),
    ),
    "sentinel_codes.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "-9", "-9", "code_not_label"),
            (3, "chair_type", "-8", "-8", "code_not_label"),
        ),
    ),
    "sentinel_99.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "leaders_competent", "allowed_codes", "99"),
            (3, "C0002", "joint_working_year", "range_or_missing_code", "99"),
        ),
        # A count of 99 is inside forum_size's range 3-250: it cannot be told from a sentinel.
        cells={(4, "forum_size"): "99"},
    ),
    "sentinel_dk.csv": Outcome(
        "repaired",
        repairs=(
            (2, "chair_type", "DK", "-8", "missing_sentinel"),
            (3, "forum_size", "dk", "-8", "missing_sentinel"),
            (4, "scs_shared_vision", "don't KNOW", "-8", "label_normalised"),
        ),
        cells={(2, "chair_type"): "-8", (3, "forum_size"): "-8"},
    ),
    "sentinel_not_allowed.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "layer_strategic_forum", "allowed_codes", "DK"),
            (3, "C0002", "chair_type", "allowed_codes", "Not applicable"),
        ),
    ),
    "whitespace_cells.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "   ", "-9", "whitespace_only"),
            (3, "respondent_id", " C0002 ", "C0002", "id_whitespace"),
        ),
        cells={(3, "respondent_id"): "C0002"},
    ),
    "routing_violation.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "support_team_fte", "routing", "6"),
            (2, "C0001", "support_team_partner_staff", "routing", "2"),
        ),
    ),
    # ---------------------------------------------------------------- respondents and LSPs
    "duplicate_respondent_id.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=(
            (4, "C0003", "respondent_id", "duplicate_respondent_id_conflicting", "C0003"),
            (7, "C0003", "respondent_id", "duplicate_respondent_id_conflicting", "C0003"),
        ),
    ),
    "duplicate_submission_identical.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=((7, "C0002", "respondent_id", "duplicate_submission", "C0002"),),
    ),
    "duplicate_submission_different_answers.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=(
            (3, "C0002", "respondent_id", "duplicate_respondent_id_conflicting", "C0002"),
            (7, "C0002", "lsp_id", "one_coordinator_per_lsp", "34UE"),
            (7, "C0002", "respondent_id", "duplicate_respondent_id_conflicting", "C0002"),
        ),
    ),
    "lsp_not_in_frame.csv": Outcome(
        "quarantined", rejected=((5, "C0004", "lsp_id", "lsp_in_frame", "ZZ99"),)
    ),
    "two_coordinators_one_lsp.csv": Outcome(
        "quarantined",
        rows=(2, 3, 4, 5, 6, 7),
        rejected=((7, "C0006", "lsp_id", "one_coordinator_per_lsp", "22UH"),),
    ),
    "wrong_instrument.csv": Outcome(
        "quarantined",
        instrument="partner",
        rejected=tuple(
            (row, f"C000{row - 1}", "respondent_id", "respondent_id_pattern", f"C000{row - 1}")
            for row in range(2, 7)
        ),
        repairs=tuple(
            sorted(
                [
                    (None, column, "", "-9 on every row", ABSENT)
                    for column in [
                        "partner_sector",
                        "receive_performance_info",
                        "understand_performance_info",
                        "confident_using_info",
                    ]
                ]
                + [
                    (None, column, "", "", UNKNOWN)
                    for column in [
                        "chair_type",
                        "layer_strategic_forum",
                        "layer_executive_board",
                        "layer_theme_groups",
                        "forum_size",
                        "development_stage",
                        "joint_working_year",
                        "resources_mapped",
                        "scrutiny_reviewed",
                        "has_support_team",
                        "support_team_partner_staff",
                        "support_team_fte",
                        "research_budget_band",
                        "research_budget_joint",
                    ]
                ],
                key=lambda line: (line[1], line[4]),
            )
        ),
        cells={(2, "partner_sector"): "-9"},  # a partner column the file lacks: not answered
    ),
    "partner_without_lsp.csv": Outcome(
        "quarantined",
        instrument="partner",
        rejected=((4, "P0003", "lsp_id", "not_nullable", ""),),
        cells={(4, "lsp_id"): pd.NA},
    ),
    # ---------------------------------------------------------------- Excel
    "xlsx_title_row.xlsx": Outcome(
        "repaired",
        instrument="partner",
        rows=(4, 5, 6, 7, 8),
        details={"sheet": "responses", "header_row": 3},
        cells={(4, "respondent_id"): "P0001", (8, "respondent_id"): "P0005"},
    ),
    # No sheet configured: the sheet whose header matches the codebook is read, and the choice recorded
    # (before: the first sheet was read and the run stopped with no header found).
    "xlsx_data_on_second_sheet.xlsx": Outcome(
        "repaired",
        instrument="partner",
        repairs=(
            (None, "", "'cover' 0 of 41, 'responses' 41 of 41", "responses", "sheet_chosen_by_content"),
        ),
        details={"sheet": "responses", "sheet_chosen_by": "content"},
    ),
    "xlsx_id_as_number.xlsx": Outcome(
        "quarantined", instrument="partner", rejected=((3, "P0002", "lsp_id", "lsp_in_frame", "9"),)
    ),
    "xlsx_not_a_workbook.xlsx": Outcome(
        "repaired", instrument="partner", repairs=(_format_note("xlsx", "csv"),), details={"format": "csv"}
    ),
    # ---------------------------------------------------------------- SPSS
    "sav_value_labels_disagree.sav": Outcome(
        "repaired",
        repairs=(
            (
                None,
                "chair_type",
                "1=Council leader",
                "1=Council leader or elected mayor",
                "sav_value_label_differs",
            ),
            (None, "leaders_competent", "4=Tend to agree", "4=Agree", "sav_value_label_differs"),
            (None, "leaders_competent", "7=Other", "", "sav_value_label_not_in_codebook"),
        ),
        # The codes are what count: C0001's chair is code 1 whatever the file calls it.
        cells={(2, "chair_type"): "1", (4, "leaders_competent"): "4"},
    ),
    "sav_code_not_in_codebook.sav": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "leaders_competent", "allowed_codes", "7"),
            (4, "C0003", "chair_type", "allowed_codes", "2.5"),
        ),
    ),
    "sav_not_spss.sav": Outcome("repaired", repairs=(_format_note("sav", "csv"),), details={"format": "csv"}),
    # ---------------------------------------------------------------- real-world shapes (issue 15)
    "xls_partner.xls": Outcome(
        "repaired", instrument="partner", details={"format": "xls", "sheet": "responses"}
    ),
    "ods_partner.ods": Outcome(
        "repaired", instrument="partner", details={"format": "ods", "sheet": "responses"}
    ),
    "dta_coordinator.dta": Outcome(
        "repaired",
        details={"format": "dta"},
        cells={
            (2, "chair_type"): "1",
            (2, "research_budget_joint"): "-1",
            (2, "comments"): "Good chair; weak theme groups.",
        },
    ),
    # pyreadstat writes old-format Stata labels in UTF-8, which the format does not declare: the
    # configured encoding is passed on (without it, five research_budget_band labels read 'Â£').
    "dta_stata12.dta": Outcome("repaired", options={"encoding": "utf-8"}, details={"format": "dta"}),
    "por_coordinator.por": Outcome(
        "repaired",
        options={"column_map": _por_names()},
        details={"format": "por"},
        repairs=((None, "", "", "", "value_labels_absent"),),
        cells={(2, "leaders_competent"): "5", (3, "comments"): pd.NA},
    ),
    "zsav_coordinator.zsav": Outcome("repaired", details={"format": "sav"}, cells={(6, "forum_size"): "29"}),
    "sav_without_value_labels.sav": Outcome("repaired", repairs=((None, "", "", "", "value_labels_absent"),)),
    "csv_gzip.csv.gz": Outcome("repaired", details={"format": "csv", "compression": "gzip"}),
    "csv_in_zip.zip": Outcome(
        "repaired", details={"compression": "zip", "member": "LSP survey/coordinators.csv"}
    ),
    "zip_two_files.zip": _unreadable(
        "zip_two_files.zip",
        "a zip archive of 2 files (coordinators.csv, partners.xlsx)",
        "unzip it and list each export in dataset.inputs",
    ),
    "gzip_damaged.csv.gz": _unreadable(
        "gzip_damaged.csv.gz",
        "a damaged gzip file (Compressed file ended before the end-of-stream marker was reached)",
        "compress the export again",
    ),
    "utf16_tab.txt": Outcome("repaired", details={"encoding": "utf-16", "delimiter": "tab"}),
    "utf16_comma.csv": Outcome("repaired", details={"encoding": "utf-16", "delimiter": "comma"}),
    "utf32_tab.txt": Outcome("repaired", details={"encoding": "utf-32", "delimiter": "tab"}),
    "utf16_no_bom.txt": _unreadable(
        "utf16_no_bom.txt",
        "UTF-16-LE text without a byte-order mark",
        "set encoding: utf-16-le for this input in config.yaml",
    ),
    # The advice of the case above works: no second error.
    "utf16_no_bom_configured.txt": Outcome(
        "repaired", options={"encoding": "utf-16-le"}, details={"encoding": "utf-16-le", "delimiter": "tab"}
    ),
    "xlsx_renamed_xls.xls": Outcome(
        "repaired", instrument="partner", repairs=(_format_note("xls", "xlsx"),), details={"format": "xlsx"}
    ),
    "sav_renamed_csv.csv": Outcome(
        "repaired", repairs=(_format_note("csv", "sav"),), details={"format": "sav"}
    ),
    "xlsx_uncalculated_formula.xlsx": _error(
        "xlsx_uncalculated_formula.xlsx",
        "sheet 'responses' cell D3 (row 3): a formula with no stored result (the workbook was written by "
        "a program and never calculated), so its answer cannot be read; open the workbook in Excel or "
        "LibreOffice, save it, and run again",
        instrument="partner",
    ),
    "nul_early.csv": _error("nul_early.csv", f"row 2 column chair_type: {NUL_BYTE}"),
    "nul_late.csv": _error("nul_late.csv", f"row 6 column chair_type: {NUL_BYTE}"),
    "control_character_coded.csv": Outcome(
        "quarantined",
        rejected=(
            (3, "C0002", "leaders_competent", "control_character", "Agree\x1f"),
            (5, "C0004", "forum_size", "control_character", "1\x072"),
        ),
    ),
    "overlong_comment.csv": _error(
        "overlong_comment.csv",
        "row 4 column comments: a cell of 200,000 characters, more than the 131,072 a cell may hold (a "
        "quote left open, or text pasted by mistake); fix the cell in the export",
    ),
    "semicolon_decimal_comma.csv": Outcome(
        "quarantined",
        details={"delimiter": "semicolon"},
        repairs=(
            (2, "forum_size", "18,0", "18", "decimal_comma"),
            (3, "support_team_fte", "2,00", "2", "decimal_comma"),
        ),
        rejected=((4, "C0003", "forum_size", "integer", "12,5"),),
        cells={(2, "forum_size"): "18", (3, "support_team_fte"): "2"},
    ),
    "surveymonkey_two_header_rows.csv": Outcome(
        "repaired",
        rows=(3, 4, 5, 6, 7),
        repairs=((2, "", "SurveyMonkey option row", "", "extra_header_row_skipped"),),
        cells={(3, "respondent_id"): "C0001", (3, "forum_size"): "18"},
    ),
    "qualtrics_three_header_rows.csv": Outcome(
        "repaired",
        rows=(4, 5, 6, 7, 8),
        repairs=(
            (2, "", "Qualtrics question-text row", "", "extra_header_row_skipped"),
            (3, "", "Qualtrics ImportId row", "", "extra_header_row_skipped"),
        ),
        cells={(4, "respondent_id"): "C0001"},
    ),
    "question_text_row_configured.csv": Outcome(
        "repaired",
        options={"extra_header_rows": 1},
        rows=(3, 4, 5, 6, 7),
        repairs=((2, "", "extra_header_rows in config.yaml", "", "extra_header_row_skipped"),),
    ),
    "labels_with_codes.csv": Outcome(
        "repaired",
        repairs=(
            (2, "leaders_competent", "5. Strongly agree", "5", "code_and_label"),
            (2, "scs_outcomes_monitored", "4 - Agree", "4", "code_and_label"),
            (3, "scs_shared_vision", "Agree (4)", "4", "code_and_label"),
            (4, "members_lack_training", "(2) Disagree", "2", "code_and_label"),
        ),
        cells={(2, "scs_outcomes_monitored"): "4", (3, "scs_shared_vision"): "4"},
    ),
    "labels_with_codes_disagree.csv": Outcome(
        "quarantined",
        rejected=(
            (2, "C0001", "scs_outcomes_monitored", "code_label_disagree", "2 - Agree"),
            (3, "C0002", "leaders_competent", "code_label_disagree", "Strongly agree (4)"),
        ),
    ),
    "lsp_by_name.csv": Outcome(
        "repaired",
        repairs=(
            (2, "lsp_id", "Epping Forest District Council", "22UH", "lsp_id_from_name"),
            (3, "lsp_id", "KETTERING BOROUGH COUNCIL", "34UE", "lsp_id_from_name"),
            (4, "lsp_id", "West Berkshire Council", "00MB", "lsp_id_from_name"),
            (5, "lsp_id", "Shropshire County Council", "39", "lsp_id_from_name"),
            (6, "lsp_id", "North West Leicestershire", "31UH", "lsp_id_from_name"),
        ),
        cells={(2, "lsp_id"): "22UH", (5, "lsp_id"): "39"},
    ),
    "lsp_name_ambiguous.csv": Outcome(
        "quarantined",
        repairs=(
            (
                3,
                "lsp_id",
                "Durham",
                "not repaired: names several LSPs: 20 (Durham); 20UE (Durham)",
                "lsp_name_unmatched",
            ),
        ),
        rejected=((3, "C0002", "lsp_id", "lsp_name_ambiguous", "Durham"),),
    ),
    "lsp_name_unknown.csv": Outcome(
        "quarantined",
        repairs=(
            (
                3,
                "lsp_id",
                "Newcastle",
                "not repaired: no LSP of this name; similar: 00CJ (Newcastle upon Tyne); "
                "41UE (Newcastle-under-Lyme)",
                "lsp_name_unmatched",
            ),
            (
                4,
                "lsp_id",
                "Gotham City Council",
                "not repaired: no LSP of this name in the frame",
                "lsp_name_unmatched",
            ),
        ),
        rejected=(
            (3, "C0002", "lsp_id", "lsp_in_frame", "Newcastle"),
            (4, "C0003", "lsp_id", "lsp_in_frame", "Gotham City Council"),
        ),
    ),
    "html_as_xls.xls": _unreadable(
        "html_as_xls.xls",
        "an HTML page (a web export saved under a spreadsheet name?)",
        "open it in Excel or LibreOffice and save as .xlsx or CSV",
        instrument="partner",
    ),
    "xml_spreadsheet_2003.xls": _unreadable(
        "xml_spreadsheet_2003.xls",
        "an Excel 2003 XML spreadsheet",
        "open it in Excel or LibreOffice and save as .xlsx",
        instrument="partner",
    ),
    "password_protected.xlsx": _unreadable(
        "password_protected.xlsx",
        "a password-protected Excel workbook",
        "open it in Excel, remove the password (File > Info > Protect Workbook) and save as .xlsx",
    ),
    "word_document.xlsx": _unreadable(
        "word_document.xlsx", "a Word document", "export the survey data, not the report, as .xlsx or CSV"
    ),
    "json_export.csv": _unreadable(
        "json_export.csv", "a JSON file", "export the responses as CSV from the survey tool"
    ),
    "binary_garbage.csv": _unreadable(
        "binary_garbage.csv",
        "a binary file of a kind ingest does not know",
        "check the path, or export the data again",
    ),
    # ---------------------------------------------------------------- frame
    "frame_missing_tier.csv": _error(
        "frame_missing_tier.csv",
        "row 12 (lsp_id 00MB) column tier: '' fails tier; row 12 (lsp_id 00MB) column tier: '' fails "
        "tier_matches_authority_type; fix the frame before validating",
        stage="cli-validate",
    ),
    "frame_without_tier_column.csv": _error(
        "frame_without_tier_column.csv", "column tier is missing; fix the frame file", stage="frame"
    ),
    "frame_empty.csv": _error(
        "frame_empty.csv", "is empty; the frame needs a header and one row per LSP", stage="frame"
    ),
    # ---------------------------------------------------------------- configuration (names the copy)
    "config_unknown_key.yaml": Outcome(
        "error",
        stage="cli-ingest",
        message="config {config}: unknown key dataset.inputs[2].header_rows (allowed: path, instrument, "
        "format, sheet, encoding, header_row, extra_header_rows, column_map, require_every_column, "
        "fill_merged_cells)",
    ),
    "config_wrong_type.yaml": Outcome(
        "error",
        stage="cli-validate",
        message="config {config}: disclosure.min_cell must be int, got str ('five')",
    ),
}


def _corpus_files() -> list[str]:
    return sorted(
        p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in ("README.md", "make_corpus.py")
    )


def test_every_corpus_file_has_one_outcome_and_one_readme_line():
    files = _corpus_files()
    assert len(files) >= 30
    assert sorted(OUTCOMES) == files
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    listed = sorted(line.split("`")[1] for line in readme.splitlines() if line.startswith("| `"))
    assert listed == files


def test_the_committed_corpus_is_what_make_corpus_writes(codebook):
    from tests.bad_inputs.make_corpus import CASES, readme

    # The configs are built from config.yaml, which may change without making them less wrong.
    for case in CASES:
        if not case.file.startswith("config_"):
            assert case.build(codebook) == (CORPUS / case.file).read_bytes(), case.file
    assert readme() == (CORPUS / "README.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ helpers


def _spec(file: str, outcome: Outcome) -> InputFile:
    path = CORPUS / file
    return InputFile(path=path, instrument=outcome.instrument, format=FORMATS[path.suffix], **outcome.options)


def _start(module: str, config: Path) -> Command:
    return Command(module, extra={"PIPELINE_CONFIG": str(config)})


def _unwritable_folder(tmp: Path) -> tuple[Path, str]:
    """A folder no output can be written to, and the reason the OS gives."""
    tmp.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # root writes through chmod; nothing can be created below a regular file, not even by root.
        blocker = tmp / "file.txt"
        blocker.write_text("not a folder\n", encoding="utf-8")
        return blocker / "out", "Not a directory"
    folder = tmp / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder, "Permission denied"


CliCases = dict[str, tuple[Command, dict[str, str]]]


def _start_cli_cases(root: Path, codebook: Codebook) -> CliCases:
    """Every command-line case; each maps to its command and the names its message uses."""
    clean_input = [{"path": str(CORPUS / "utf8_bom.csv"), "instrument": "coordinator"}]
    processes: CliCases = {}
    # A representative structural error, through ingest's command line.
    config = write_config_copy(
        root / "not_csv", [{"path": str(CORPUS / "not_csv_pdf.csv"), "instrument": "coordinator"}]
    )
    processes["not_csv_pdf.csv"] = (_start("pipeline.stages.ingest", config), {})
    # Config errors: the corpus file itself, copied to a temporary folder (its relative paths land there).
    for file, module in (
        ("config_unknown_key.yaml", "pipeline.stages.ingest"),
        ("config_wrong_type.yaml", "pipeline.stages.validate"),
    ):
        copy = root / file.removesuffix(".yaml") / file
        copy.parent.mkdir()
        copy.write_bytes((CORPUS / file).read_bytes())
        processes[file] = (_start(module, copy), {"config": relative_to_root(copy)})
    # A broken frame: ingest first (in-process), then validate as make runs it.
    config = write_config_copy(root / "frame", clean_input, frame=str(CORPUS / "frame_missing_tier.csv"))
    ingested = ingest([_spec("utf8_bom.csv", OUTCOMES["utf8_bom.csv"])], codebook)
    write_outputs(ingested, build_manifest(ingested, codebook), root / "frame" / "processed")
    processes["frame_missing_tier.csv"] = (_start("pipeline.stages.validate", config), {})
    # An output folder that cannot be written.
    folder, reason = _unwritable_folder(root / "unwritable")
    # Both instruments, so that ingest gets as far as writing (it refuses an instrument with no rows).
    partner_input = {"path": str(CORPUS / "partner_without_lsp.csv"), "instrument": "partner"}
    config = write_config_copy(root / "unwritable", [*clean_input, partner_input], processed_dir=folder)
    processes["unwritable"] = (
        _start("pipeline.stages.ingest", config),
        {"folder": str(folder), "reason": reason},
    )
    return processes


@pytest.fixture(scope="session")
def cli_runs(tmp_path_factory: pytest.TempPathFactory, codebook: Codebook):
    """The command-line cases, run side by side when the first of them is checked, forked from one process
    that imported the libraries once (tests/forked.py)."""
    root = tmp_path_factory.mktemp("cli")
    cases = _start_cli_cases(root, codebook)
    results: dict[str, tuple[subprocess.CompletedProcess, dict[str, str]]] = {}

    def result(name: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
        if not results:
            completed = run_commands([command for command, _ in cases.values()])
            for (case, (_, extra)), done in zip(cases.items(), completed, strict=True):
                results[case] = (done, extra)
        return results[name]

    yield result
    read_only = root / "unwritable" / "read_only"
    if read_only.exists():
        read_only.chmod(0o755)


def _assert_one_error_line(completed: subprocess.CompletedProcess, stage: str, message: str) -> None:
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {stage}: {message}"]
    assert completed.stderr.rstrip("\n").splitlines()[-1] == errors[0]  # nothing after it


# ------------------------------------------------------------------------------------------ the corpus


# The command-line cases last, together.
@pytest.mark.parametrize(
    "file", sorted(OUTCOMES, key=lambda file: (OUTCOMES[file].stage.startswith("cli-"), file))
)
def test_bad_input(file, codebook, frame, cli_runs):
    outcome = OUTCOMES[file]
    if outcome.kind == "error":
        _check_error(file, outcome, codebook, frame, cli_runs)
    else:
        _check_rows(file, outcome, codebook, frame)


CliResult = Callable[[str], tuple[subprocess.CompletedProcess, dict[str, str]]]


def _check_error(
    file: str, outcome: Outcome, codebook: Codebook, frame: pd.DataFrame, cli_runs: CliResult
) -> None:
    if outcome.stage.startswith("cli-"):
        completed, extra = cli_runs(file)
        _assert_one_error_line(completed, outcome.stage.removeprefix("cli-"), outcome.message.format(**extra))
        return
    with pytest.raises(PipelineError) as caught:
        if outcome.stage == "frame":
            path = CORPUS / file
            validate({}, read_frame(path), codebook)
        else:
            ingest([_spec(file, outcome)], codebook, frame)  # the session's frame, read once
    message = str(caught.value)
    assert message == outcome.message
    assert "\n" not in message and "\r" not in message


def _check_rows(file: str, outcome: Outcome, codebook: Codebook, frame: pd.DataFrame) -> None:
    label = f"{CORPUS_LABEL}/{file}"
    ingested = ingest([_spec(file, outcome)], codebook, frame)
    (entry,) = ingested.inputs
    assert entry["rows"] == len(outcome.rows)
    assert {key: entry.get(key) for key in outcome.details} == outcome.details
    table = ingested.responses[outcome.instrument]
    assert table["source_row"].tolist() == list(outcome.rows)
    assert set(table["source_file"]) <= {label}
    # The repairs log, line for line.
    repairs = ingested.repairs
    assert set(repairs["file"]) <= {label}
    found = [
        (None if pd.isna(row) else int(row), column, original, repaired, kind)
        for row, column, original, repaired, kind in repairs[
            ["row", "column", "original", "repaired", "kind"]
        ].itertuples(index=False)
    ]
    assert found == list(outcome.repairs)
    # Repaired (or deliberately kept) values as ingest wrote them.
    by_row = table.set_index("source_row")
    for (row, column), value in outcome.cells.items():
        cell = by_row.loc[row, column]
        assert (pd.isna(cell) and value is pd.NA) or cell == value, (row, column, cell)
    # Validate: the exact rejects, and every row either valid or rejected.
    result = validate(
        ingested.responses,
        frame,
        codebook,
        {entry["path"]: (entry["instrument"], entry["rows"])},
        ingest_rejections(ingested.inputs),
    )
    rejected = result.rejected
    assert set(rejected["file"]) <= {label} and set(rejected["instrument"]) <= {outcome.instrument}
    lines = [
        (int(row), respondent, column, check, value)
        for row, respondent, column, check, value in rejected[
            ["row", "respondent_id", "column", "check", "value"]
        ].itertuples(index=False)
    ]
    assert lines == list(outcome.rejected)
    bad_rows = {line[0] for line in outcome.rejected}
    valid_rows = result.valid[outcome.instrument]["source_row"].tolist()
    assert sorted(valid_rows) == sorted(set(outcome.rows) - bad_rows)
    read, n_bad = len(outcome.rows), len(bad_rows)
    assert reconciliation_lines(result.report) == [
        f"validate: {label}: read {read} = valid {read - n_bad} + rejected {n_bad}"
    ]
    counts = result.report["files"][label]
    assert counts["read"] == counts["valid"] + counts["rejected"]
    assert (outcome.kind == "quarantined") == bool(outcome.rejected)


# ------------------------------------------------------------------------------------------ no file


def test_an_output_folder_that_cannot_be_written_is_one_clear_error(cli_runs):
    completed, extra = cli_runs("unwritable")
    _assert_one_error_line(completed, "ingest", f"{extra['folder']}: cannot write here ({extra['reason']})")
