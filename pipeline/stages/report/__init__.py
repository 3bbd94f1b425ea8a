"""Report stage: analysis/report.html, the study as a statistics publication a reviewer can check.

In the order of the argument: the synthetic banner, the key findings (each with its estimate, 95% CI, n
and test, linked to its figure and table row), who answered, the 7S profile, maturity, tier, the
report's own charts redrawn, published against reproduced, methods, quality and limitations,
sensitivity, the outputs and the provenance of the run.

A section is one template, ``pipeline/templates/sections/<id>.html.j2``, plus one context function
``(ReportInputs) -> dict`` and one ``Section`` in ``SECTIONS``, which also names the figures the section
shows: figures are numbered in that order. Tables are built here as ``Table`` records of formatted
text (pipeline.study.display) and drawn by one template macro; no HTML is assembled in Python.

One module per concern: ``inputs`` (what the report reads), ``build`` (reading it from the stages' files),
``tables`` (row anchors and the difference table), ``findings`` (the key-finding rules), ``sections`` (each
section's context and the page), ``embed`` (figures at screen resolution, their descriptions from the
registry), ``dictionary`` (the data dictionary page and the output index) and ``table_export`` (the
``report-tables`` command: every table the pages show, computed without the figures into
``report_tables.json`` for the spreadsheets; this stage checks the tables it draws against that file).

Figures are embedded at screen resolution (the 150-dpi PNG downscaled deterministically), each linking to
its 150-dpi PNG, SVG and CSV in figures/. Nothing depends on the time of the run: the same inputs give
the same bytes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pipeline.core.codebook import load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.io import write_text
from pipeline.core.paths import relative_to_root
from pipeline.stages.report.build import read_inputs
from pipeline.stages.report.dictionary import (
    data_dictionary_entries,
    output_index,
    render_data_dictionary,
)
from pipeline.stages.report.embed import FigureEntry, load_figures, screen_png
from pipeline.stages.report.findings import Finding, key_findings
from pipeline.stages.report.inputs import (
    ANNEX_PAGE,
    DICTIONARY_NAME,
    MAIN_PAGE,
    TABLE_NAMES,
    TEMPLATES,
    TITLE,
    ReportInputs,
    environment,
    read_table,
)
from pipeline.stages.report.sections import (
    SECTIONS,
    Section,
    describe_code_version,
    render_annex,
    render_page,
    render_report,
    section_contexts,
)
from pipeline.stages.report.table_export import REPORT_TABLES_NAME, check_report_tables
from pipeline.stages.report.tables import difference_table, row_id
from pipeline.stages.report_tables import Row, Table

__all__ = [
    "ANNEX_PAGE",
    "DICTIONARY_NAME",
    "MAIN_PAGE",
    "SECTIONS",
    "TABLE_NAMES",
    "TEMPLATES",
    "TITLE",
    "FigureEntry",
    "Finding",
    "ReportInputs",
    "Row",
    "Section",
    "Table",
    "build_inputs",
    "data_dictionary_entries",
    "describe_code_version",
    "difference_table",
    "environment",
    "key_findings",
    "load_figures",
    "main",
    "output_index",
    "read_table",
    "render_annex",
    "render_data_dictionary",
    "render_page",
    "render_report",
    "row_id",
    "screen_png",
]

log = logging.getLogger("pipeline.stages.report")


def build_inputs(
    config: Config, tables_dir: Path, figures_dir: Path, out: Path, processed_dir: Path | None = None
) -> ReportInputs:
    """What the pages draw on: the inputs the tables are made from (``build.read_inputs``), the figures
    at screen resolution and the published numbers the published figure plots (a key finding counts them)."""
    processed_dir = processed_dir or config.processed_dir
    codebook = load_codebook(config.codebook)
    figures = load_figures(figures_dir, out.parent, codebook, config.synthetic_data)
    inputs = read_inputs(config, codebook, tables_dir, processed_dir, out.parent, figures)
    plotted = figures_dir / "published.csv"
    if plotted.exists():
        # The published-against-reproduced rows the figure draws: the finding counts the same rows.
        inputs.tables["published_plotted"] = read_table(plotted)
    return inputs


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--tables", "{analysis_dir}/tables", "the analysis tables")
    path_option(parser, "--figures", "{figures_dir}", "the figures")
    path_option(parser, "--processed", "{processed_dir}", "the ingest and validation manifests' folder")
    path_option(
        parser,
        "--out",
        "{analysis_dir}/report.html",
        "where to write the report (the annex goes beside it)",
    )
    path_option(
        parser,
        "--report-tables",
        "{analysis_dir}/" + REPORT_TABLES_NAME,
        "the tables the pages show, as report-tables wrote them (checked against the pages)",
    )
    path_option(
        parser, "--dictionary", "{analysis_dir}/" + DICTIONARY_NAME, "where to write the data dictionary"
    )
    arguments, config = parse_stage_arguments(parser, argv)
    inputs = build_inputs(config, arguments.tables, arguments.figures, arguments.out, arguments.processed)
    # Each section's context once, for its page and for the export of the page's tables.
    contexts = {page: section_contexts(inputs, page) for page in (MAIN_PAGE, ANNEX_PAGE)}
    report = render_page(inputs, MAIN_PAGE, contexts[MAIN_PAGE])
    write_text(arguments.out, report)
    annex = arguments.out.parent / ANNEX_PAGE
    annex_html = render_page(inputs, ANNEX_PAGE, contexts[ANNEX_PAGE])
    write_text(annex, annex_html)
    # The tables both pages draw are the ones report-tables wrote for the spreadsheets, or the run stops.
    check_report_tables(
        inputs, {MAIN_PAGE: report, ANNEX_PAGE: annex_html}, contexts, arguments.report_tables
    )
    report_href = Path(
        os.path.relpath(arguments.out.resolve(), arguments.dictionary.resolve().parent)
    ).as_posix()
    write_text(arguments.dictionary, render_data_dictionary(config, inputs.codebook, report_href))
    log.info(
        "wrote %s and %s: %d figures, %d kB",
        relative_to_root(arguments.out),
        relative_to_root(annex),
        len(inputs.figures),
        len(report) // 1024,
    )
