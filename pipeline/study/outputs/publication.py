"""The publication's files: the report, the data dictionary page, the spreadsheets."""

from __future__ import annotations

from pipeline.study.outputs.model import Output

REPORT = Output(
    "report",
    "analysis",
    "report.html",
    "report",
    "pipeline.stages.report:render_report",
    "The release's main page: key findings first, each with its uncertainty and caveats, then the "
    "headline sections with their charts and tables.",
    inputs=("tables", "report_tables", "figures", "ingest_manifest", "validation_report"),
)
TECHNICAL_ANNEX = Output(
    "technical_annex",
    "analysis",
    "technical_annex.html",
    "report",
    "pipeline.stages.report:render_annex",
    "The release's technical annex: primary tests and models, nonresponse and weighting, methods, "
    "measurement and quality, sensitivity, every output and the provenance of the run.",
    inputs=("tables", "report_tables", "figures", "ingest_manifest", "validation_report"),
)
DATA_DICTIONARY = Output(
    "data_dictionary",
    "analysis",
    "data_dictionary.html",
    "report",
    "pipeline.stages.report:render_data_dictionary",
    "This data dictionary: every column of every output, from this registry.",
    inputs=(),
)
REPORT_TABLES = Output(
    "report_tables",
    "analysis",
    "report_tables.json",
    "report-tables",
    "pipeline.stages.report.table_export:report_tables",
    "Every table the release's two pages show, as shown (page, section, caption, headers, formatted "
    "cells, note), computed from the analysis tables: the report checks its pages against it and the "
    "spreadsheets carry each one as a sheet.",
    inputs=("tables", "analysis_base", "frame", "ingest_manifest", "validation_report"),
)
# The analysis tables a user would reuse, each a sheet of the workbooks after the report's own tables
# (which come from REPORT_TABLES); the spreadsheets stage reads this list, and each table's title is its
# registry description.
WORKBOOK_TABLES = (
    "estimates",
    "comparisons",
    "maturity_sensitivity",
    "power",
    "scale_reliability",
    "published_vs_reproduced",
    "primary_tests",
    "primary_tests_by_weighting",
    "models",
    "model_tests",
    "partner_imputation",
    "cfa_fit",
    "nonresponse_frame_comparison",
    "nonresponse_propensity",
    "nonresponse_r_indicators",
    "weight_diagnostics",
    "weighting_sensitivity",
    "weighting_se_ratios",
)
# Every table the report shows and every reusable analysis table, as an accessible workbook in two formats.
SPREADSHEETS = tuple(
    Output(
        f"spreadsheet_{suffix}",
        "analysis",
        f"lsp_survey_tables.{suffix}",
        "spreadsheets",
        f"pipeline.stages.spreadsheets:write_{suffix}",
        f"Every table the report shows and every reusable analysis table as an accessible {label} "
        "workbook: cover (with the synthetic-data warning and the release metadata), contents linking to "
        "each sheet, notes, one table per sheet; [c] marks a suppressed cell, [z] a value that does not "
        "apply.",
        inputs=(REPORT_TABLES.name, *WORKBOOK_TABLES),
    )
    for suffix, label in (("xlsx", "Excel"), ("ods", "OpenDocument"))
)
