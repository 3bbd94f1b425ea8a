"""Spreadsheets stage: every table the report shows, and every analysis table a user would reuse, as an
accessible .xlsx and .ods workbook.

Follows the Government Analysis Function's guidance for releasing statistics in spreadsheets: a cover
sheet first (with the synthetic-data warning when the data are synthetic, and the release's date, status,
contact and next update), a contents sheet linking to every sheet, a notes sheet, then one table per sheet
with its title in cell A1, marked as a table (an Excel table; an ODS database range), no merged cells, no
blank rows or columns inside a table, headers in words with their units, labels not codes, numbers
stored as numbers, and shorthand instead of blank cells ([c] a cell suppressed to protect respondents,
[z] a value that does not apply), explained on each sheet that uses it.

Which tables: first the report's, in the order its two pages show them (``report_tables.json``, written
by the report-tables stage from the analysis tables, so the workbooks wait for neither the figures nor the
pages: the numbers as the report shows them, one measure per column), then the analysis
tables the output registry lists for the workbooks (``pipeline.study.outputs.WORKBOOK_TABLES``: full
precision, for reuse), each titled by its registry description. Notes are numbered in the order the
sheets first refer to them, and a sheet refers to a note by what it holds (a weighting column, an
interval, an FDR-adjusted p-value, a suppressed cell), not by a hand list.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.codebook import load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage
from pipeline.core.parallel import call_side_by_side
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.stages.spreadsheets_analysis import Labels, analysis_sheet
from pipeline.stages.spreadsheets_book import (
    BLANK_TEXT,
    NOT_APPLICABLE,
    SUPPRESSED,
    Book,
    Sheet,
    has_blank_text,
)
from pipeline.stages.spreadsheets_ods import write_ods
from pipeline.stages.spreadsheets_report import report_sheet
from pipeline.stages.spreadsheets_xlsx import write_xlsx
from pipeline.study import display
from pipeline.study.frame import read_frame
from pipeline.study.names import words
from pipeline.study.outputs import REPORT_TABLES, WORKBOOK_TABLES
from pipeline.study.outputs import tables as registered_tables
from pipeline.study.respondents import check_table_instruments
from pipeline.study.vocabulary import SURVEY_YEAR

log = logging.getLogger("pipeline.stages.spreadsheets")

WORKBOOK_STEM = "lsp_survey_tables"
TITLE = "Working better together? Reproducing the 2008 survey of Local Strategic Partnerships: tables"
SUBJECT = (
    "Local Strategic Partnerships in England: the Audit Commission's 2007-08 survey of coordinators and "
    "board partners, reproduced by a reproducible analytical pipeline"
)
CREATOR = "The LSP survey RAP contributors"
KEYWORDS = "Local Strategic Partnerships; Audit Commission; survey; 7S; reproducible analytical pipeline"
SOURCE = "Source: Audit Commission LSP survey, 2008 (reconstructed)"


def report_note(page: str) -> str:
    return (
        "As the report shows it (" + ("main page" if page == "report.html" else "technical annex") + "): "
        "numbers rounded as on the page; the analysis tables after the report's hold them in full precision."
    )


def note_texts(config: Config, counts: dict[str, int]) -> dict[str, str]:
    """Every note a sheet can refer to, by key; the weighting's from the configured primary weighting."""
    spec = config.weighting
    lsps = display.count(counts["lsps"])
    return {
        "synthetic": (
            "Synthetic data: every number comes from the project's synthetic survey, not from the Audit "
            f"Commission's {SURVEY_YEAR} survey; no estimate here is the Audit Commission's."
            if config.synthetic_data
            else "Data: the survey exports named in the report's provenance section."
        ),
        "weighting": (
            f"Weighted rows use the primary weighting, {words(spec.describe())}. Coordinators carry one "
            f"weight per LSP and describe the {lsps} LSPs of {SURVEY_YEAR}; partners carry the weight of "
            "their LSP, calibrated in the same way at LSP level (each LSP with a partner respondent counts "
            "once, its partners sharing its weight). Unweighted rows are raw shares of respondents, kept "
            "as a sensitivity analysis; the other weightings are compared in the weighting sensitivity "
            "tables."
        ),
        "suppressed": (
            f"Cells resting on fewer than {config.min_cell} respondents are suppressed and shown as "
            f"{SUPPRESSED}; where the table has a suppressed column, it says why."
        ),
        "interval": (
            "95% confidence intervals: for proportions on the logit scale with t quantiles on the design "
            "degrees of freedom (R svyciprop, method logit); for other estimates the estimate plus or minus "
            "the t quantile times its standard error."
        ),
        "fdr": (
            "FDR: Benjamini-Hochberg false-discovery-rate adjustment within each family of tests (one "
            "comparison, population, test and weighting)."
        ),
        "maturity": (
            f"Maturity: the primary definition is {words(config.maturity_primary)}; the alternatives "
            f"({', '.join(words(d) for d in config.maturity_alternatives)}) are rerun in the sensitivity "
            "tables."
        ),
        "published": (
            "Published values are the Audit Commission's (Working better together?, 2009); where the report "
            "gives wording rather than a number, the check is whether our interval meets the range the "
            "wording allows."
        ),
        "report": report_note("report.html"),
        "annex": report_note("technical_annex.html"),
    }


def notes_of(frame: pd.DataFrame, title: str, page: str | None) -> list[str]:
    """The notes a sheet refers to, from what it holds."""
    headers = " ".join(str(c) for c in frame.columns)
    # The cells are text, numbers or None: only a text cell can read "Weighted" or the suppression mark.
    weighted, suppressed = (frame.isin((value,)).to_numpy().any() for value in ("Weighted", SUPPRESSED))
    keys = ["synthetic"]
    if page:
        keys.append("report" if page == "report.html" else "annex")
    if "Weighting" in headers or "eighted" in title or weighted:
        keys.append("weighting")
    if suppressed:
        keys.append("suppressed")
    if "95% CI" in headers:
        keys.append("interval")
    if "FDR" in headers:
        keys.append("fdr")
    if "aturity" in title or "aturity" in headers:
        keys.append("maturity")
    if "ublished" in title:
        keys.append("published")
    return keys


def _true_false_only(values: pd.Series) -> bool:
    """Whether every value present reads True or False (a yes/no column stored as text or objects). A
    number never does, so a numeric column qualifies only when empty, without writing its numbers out."""
    present = values.dropna()
    if pd.api.types.is_numeric_dtype(present.dtype):
        return present.empty
    return bool(present.astype(str).isin(("True", "False")).all())


def analysis_sheet_frame(name: str, table: pd.DataFrame, labels: Labels, min_cell: int) -> pd.DataFrame:
    """An analysis table as its sheet shows it: labels, units, headers in words, no blank cell."""
    shown, headers = analysis_sheet(name, table, labels, min_cell)
    if has_blank_text(shown):
        shown = shown.replace(BLANK_TEXT.pattern, float("nan"), regex=True)
    suppressed = (
        shown["suppressed"].notna() & shown["suppressed"].astype(str).str.strip().ne("")
        if "suppressed" in shown
        else pd.Series(False, index=shown.index)
    )
    marker = pd.Series(NOT_APPLICABLE, index=shown.index, dtype=object).where(~suppressed, SUPPRESSED)
    columns: list[tuple[str, pd.Series]] = []
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_bool_dtype(values) or _true_false_only(values):
            values = values.map(display.yes_no, na_action="ignore")
        filled = values.astype(object).where(values.notna(), None)
        columns.append(
            (headers.get(column) or display.header(column, name), filled.where(filled.notna(), marker))
        )
    names = [header for header, _ in columns]
    repeated = sorted({header for header in names if names.count(header) > 1})
    if repeated:
        raise PipelineError(f"{name}: two columns share a header: {', '.join(repeated)}")
    return pd.DataFrame(dict(columns))


def _counts(config: Config, processed: Path) -> dict[str, int]:
    """The LSPs in the frame and the respondents who answered, from the data (never a typed number)."""
    counts = {"lsps": len(read_frame(config.frame))}
    report = processed / "validation_report.json"
    if not report.exists():
        raise PipelineError(
            f"{relative_to_root(report)}: not found; run `{rebuild_command('validate')}` to build it"
        )
    instruments = json.loads(report.read_text(encoding="utf-8")).get("instruments", {})
    for instrument in ("coordinator", "partner"):
        counts[instrument] = int(instruments.get(instrument, {}).get("valid", 0))
    return counts


def _cover(config: Config, counts: dict[str, int]) -> tuple[list[str], list[str], dict[str, str]]:
    intro = [
        "Tables from a reproducible analysis of the Audit Commission's 2007-08 survey of Local Strategic "
        f"Partnerships: {display.count(counts['lsps'])} LSPs, one per principal council in England; "
        f"{display.count(counts['coordinator'])} coordinators and {display.count(counts['partner'])} board "
        "partners answered.",
    ]
    if config.synthetic_data:
        intro.insert(
            0,
            "WARNING: SYNTHETIC DATA. The survey's microdata were never published. Every number in this "
            "workbook comes from the project's synthetic survey, a seeded model calibrated to the report's "
            "published figures. No estimate here is the Audit Commission's.",
        )
    about = [
        "This workbook has a contents sheet, a notes sheet and one table per sheet. Each table starts in "
        "cell A1 with its title; the header row names every column and its unit.",
        "The first tables are the report's own, as its main page and technical annex show them (numbers "
        "rounded as on the page); the analysis tables after them hold every estimate in full precision.",
        f"Shorthand: {SUPPRESSED} suppressed to protect respondents (fewer than {config.min_cell} answers); "
        f"{NOT_APPLICABLE} not applicable.",
        "Percentages are marked (%) in the column header, differences of percentages (percentage points); "
        "mean scores run from 1 to 5. Where one column holds more than one kind of number, a unit column "
        "beside it says which.",
        f"Coordinators' answers describe the {display.count(counts['lsps'])} LSPs of {SURVEY_YEAR} "
        "(descriptive estimates); partners' answers describe board partners.",
        f"{SOURCE}; built by the pipeline's make all.",
    ]
    release = config.release
    properties: dict[str, str] = {}
    if release:
        properties = {
            "Release date": str(release["date"]),
            "Status": str(release["status"]),
            "Contact": str(release["contact"]),
            "Next update": str(release["next_update"]),
        }
        about += [f"{name}: {value}." for name, value in properties.items()]
    else:
        properties = {
            "Status": "Not a release: a run of the pipeline (the configuration has no release block)"
        }
        about.append(f"Status: {properties['Status']}.")
    return intro, about, properties


def build_book(
    report_tables: list[dict[str, Any]],
    tables: dict[str, pd.DataFrame],
    config: Config,
    codebook: Any,
    counts: dict[str, int],
) -> Book:
    """The workbook: the report's tables, then the registry's analysis tables, with cover and notes."""
    missing = [name for name in WORKBOOK_TABLES if name not in tables]
    if missing:
        raise PipelineError(f"no table {', '.join(missing)}: run `{rebuild_command('all')}` first")
    pending: list[tuple[str, str, str, pd.DataFrame, list[str], tuple[str, ...]]] = []
    for record in report_tables:
        sheet = report_sheet(record)
        where = "main page" if sheet.page == "report.html" else "technical annex"
        description = f'The report\'s {where}, section "{sheet.section}".' + (
            f" {sheet.note}" if sheet.note else ""
        )
        pending.append(
            (
                sheet.id.removeprefix("table-").replace("-", "_"),
                sheet.caption,
                description,
                sheet.frame,
                notes_of(sheet.frame, sheet.caption, sheet.page),
                sheet.code_columns,
            )
        )
    registry = {output.name: output for output in registered_tables(codebook)}
    labels = Labels(codebook, tables)
    for name in WORKBOOK_TABLES:
        frame = analysis_sheet_frame(name, tables[name], labels, config.min_cell)
        title = words(registry[name].description)
        description = (
            f"The pipeline's {words(name)} table in full precision, every code shown by its name; the "
            "same numbers are in the analysis folder's table of that name, as comma-separated values."
        )
        pending.append((name, title, description, frame, notes_of(frame, title, None), ()))
    texts = note_texts(config, counts)
    order: list[str] = []
    for *_, keys, _ in pending:
        order += [key for key in keys if key not in order]
    number = {key: i + 1 for i, key in enumerate(order)}
    sheets = [
        Sheet(
            name=f"Table_{index}",
            table_name=f"t{index}_{table_name}",
            title=title,
            description=description,
            source=SOURCE,
            frame=frame,
            notes=tuple(number[key] for key in keys),
            code_columns=code_columns,
        )
        for index, (table_name, title, description, frame, keys, code_columns) in enumerate(pending, start=1)
    ]
    intro, about, properties = _cover(config, counts)
    return Book(
        title=TITLE,
        subject=SUBJECT,
        creator=CREATOR,
        cover_intro=intro,
        cover_about=about,
        notes=[(number[key], texts[key]) for key in order],
        sheets=sheets,
        keywords=KEYWORDS,
        properties=properties,
    )


def write_workbooks(book: Book, out_dir: Path) -> dict[str, Path]:
    """Write ``lsp_survey_tables.xlsx`` and ``.ods`` into ``out_dir``."""
    paths = {suffix: out_dir / f"{WORKBOOK_STEM}.{suffix}" for suffix in ("xlsx", "ods")}
    # The two are independent and the stage ends the build's critical path: side by side on two cores.
    call_side_by_side([partial(write_xlsx, book, paths["xlsx"]), partial(write_ods, book, paths["ods"])])
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--tables", "{analysis_dir}/tables", "the analysis tables")
    path_option(
        parser, "--report-tables", "{analysis_dir}/" + REPORT_TABLES.filename, "the tables the report shows"
    )
    path_option(
        parser, "--processed", "{processed_dir}", "the validation report's folder (respondent counts)"
    )
    path_option(parser, "--out", "{analysis_dir}", "the folder the two workbooks are written to")
    arguments, config = parse_stage_arguments(parser, argv)
    tables = {}
    for name in WORKBOOK_TABLES:
        path = arguments.tables / f"{name}.csv"
        if not path.exists():
            raise PipelineError(
                f"{relative_to_root(path)}: not found; run `{rebuild_command('all')}` to build it"
            )
        tables[name] = pd.read_csv(path, keep_default_na=False, na_values=[""])
        if name == "estimates":
            check_table_instruments(tables[name], relative_to_root(path))
    if not arguments.report_tables.exists():
        raise PipelineError(
            f"{relative_to_root(arguments.report_tables)}: not found; "
            f"run `{rebuild_command('report-tables')}` to build it"
        )
    report_tables = json.loads(arguments.report_tables.read_text(encoding="utf-8"))["tables"]
    book = build_book(
        report_tables, tables, config, load_codebook(config.codebook), _counts(config, arguments.processed)
    )
    paths = write_workbooks(book, arguments.out)
    for path in paths.values():
        log.info(
            "wrote %s (%d sheets of tables: %d the report shows, %d analysis tables)",
            relative_to_root(path),
            len(book.sheets),
            len(report_tables),
            len(WORKBOOK_TABLES),
        )


if __name__ == "__main__":
    run_stage("spreadsheets", main)
