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
    inputs=("tables", "figures", "ingest_manifest", "validation_report"),
)
TECHNICAL_ANNEX = Output(
    "technical_annex",
    "analysis",
    "technical_annex.html",
    "report",
    "pipeline.stages.report:render_annex",
    "The release's technical annex: primary tests and models, nonresponse and weighting, methods, "
    "measurement and quality, sensitivity, every output and the provenance of the run.",
    inputs=("tables", "figures", "ingest_manifest", "validation_report"),
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
# Every published table (the analysis tables) as an accessible workbook, in two formats.
SPREADSHEETS = tuple(
    Output(
        f"spreadsheet_{suffix}",
        "analysis",
        f"lsp_survey_tables.{suffix}",
        "spreadsheets",
        f"pipeline.stages.spreadsheets:write_{suffix}",
        f"Every published table as an accessible {label} workbook: cover (with the synthetic-data "
        "warning), contents, notes, one table per sheet; [c] marks a suppressed cell, [z] a value that "
        "does not apply.",
        inputs=(
            "estimates",
            "comparisons",
            "maturity_sensitivity",
            "power",
            "scale_reliability",
            "published_vs_reproduced",
            "primary_tests",
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
        ),
    )
    for suffix, label in (("xlsx", "Excel"), ("ods", "OpenDocument"))
)
