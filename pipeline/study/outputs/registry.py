"""The whole registry in stage order: every table and data file, then every file ``make all`` writes."""

from __future__ import annotations

from typing import Any

from pipeline.study.outputs.analysis import ANALYSIS_MANIFEST, analysis_tables
from pipeline.study.outputs.data import data_tables
from pipeline.study.outputs.figures import figures
from pipeline.study.outputs.improvement import IMPROVEMENT_TOOL
from pipeline.study.outputs.model import FIGURE_INPUT_OUTPUTS, FIGURE_SUFFIXES, Output
from pipeline.study.outputs.models import model_tables
from pipeline.study.outputs.nonresponse import nonresponse_tables
from pipeline.study.outputs.publication import (
    DATA_DICTIONARY,
    REPORT,
    REPORT_TABLES,
    SPREADSHEETS,
    TECHNICAL_ANNEX,
)


def tables(codebook: Any) -> tuple[Output, ...]:
    """Every data file and table the stages write, in stage order."""
    return (
        *data_tables(codebook),
        *analysis_tables(),
        *model_tables(),
        ANALYSIS_MANIFEST,
        *nonresponse_tables(),
    )


def all_outputs(codebook: Any) -> tuple[Output, ...]:
    """Every file ``make all`` writes, figures expanded to their four files, then the report, the data
    dictionary, the spreadsheets and the improvement tool."""
    expanded = []
    for figure in figures(codebook):
        for suffix in FIGURE_SUFFIXES:
            expanded.append(
                Output(
                    f"{figure.name}.{suffix}",
                    "figures",
                    f"{figure.name}.{suffix}",
                    "figures",
                    figure.maker,
                    f"figure {figure.name}",
                    inputs=tuple(FIGURE_INPUT_OUTPUTS[i] for i in figure.inputs),
                    columns=figure.columns if suffix == "csv" else None,
                )
            )
    return (
        *tables(codebook),
        *expanded,
        REPORT,
        TECHNICAL_ANNEX,
        REPORT_TABLES,
        DATA_DICTIONARY,
        *SPREADSHEETS,
        *IMPROVEMENT_TOOL,
    )
