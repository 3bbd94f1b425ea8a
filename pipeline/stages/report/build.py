"""Everything the report's sections draw on but the figures, read once from the other stages' files: the
analysis tables, the response counts, the manifests and the output index. Both of the report's commands
start here: ``report-tables`` (the tables the pages show, with no figure) and ``report`` (the pages)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.core.paths import (
    INFORMATIVE_NONRESPONSE_RESULTS,
    WEIGHTING_VALIDATION_RESULTS,
    relative_to_root,
)
from pipeline.stages import report_inference
from pipeline.stages.report.dictionary import output_index
from pipeline.stages.report.inputs import ANNEX_PAGE, DICTIONARY_NAME, TABLE_NAMES, ReportInputs, read_table
from pipeline.study.frame import read_frame
from pipeline.study.respondents import check_table_instruments, read_analysis_base
from pipeline.study.response import coverage_table

if TYPE_CHECKING:
    from pipeline.stages.report.embed import FigureEntry

ANALYSIS_BASE = "analysis_base.parquet"


def read_inputs(
    config: Config,
    codebook: Codebook,
    tables_dir: Path,
    processed_dir: Path,
    report_dir: Path,
    figures: dict[str, FigureEntry] | None = None,
) -> ReportInputs:
    """The report's inputs from the stages' files; ``figures`` as the page embeds them (none for the
    tables). ``report_dir`` is where the pages go: their links are relative to it."""
    tables = {name: read_table(tables_dir / f"{name}.csv") for name in TABLE_NAMES}
    check_table_instruments(tables["estimates"], relative_to_root(tables_dir / "estimates.csv"))
    # The response table's counts, as the coverage figure plots them (pipeline.study.response).
    base = read_analysis_base(processed_dir / ANALYSIS_BASE)
    tables["coverage"] = coverage_table(base, read_frame(config.frame), config.min_cell)
    if WEIGHTING_VALIDATION_RESULTS.exists():
        tables[report_inference.WEIGHTING_VALIDATION] = read_table(WEIGHTING_VALIDATION_RESULTS)
    if INFORMATIVE_NONRESPONSE_RESULTS.exists():
        tables[report_inference.INFORMATIVE_NONRESPONSE] = read_table(INFORMATIVE_NONRESPONSE_RESULTS)
    manifests = {}
    for key, path in (
        ("ingest", processed_dir / "manifest.json"),
        ("validation", processed_dir / "validation_report.json"),
        ("analysis", tables_dir.parent / "manifest.json"),
    ):
        manifests[key] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    links = {
        label: Path(os.path.relpath(path.resolve(), report_dir.resolve())).as_posix()
        for label, path in (
            ("Every table as an accessible spreadsheet (Excel)", report_dir / "lsp_survey_tables.xlsx"),
            ("Every table as an accessible spreadsheet (OpenDocument)", report_dir / "lsp_survey_tables.ods"),
            ("Data dictionary: every column of every output", report_dir / DICTIONARY_NAME),
            ("Technical annex: methods, weighting, models, quality and provenance", report_dir / ANNEX_PAGE),
        )
    }
    return ReportInputs(
        config, codebook, tables, manifests, figures or {}, output_index(config, codebook), links
    )
