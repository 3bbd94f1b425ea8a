"""The ingest, validate and derive stages' files: responses, valid rows, rejects, the analysis base."""

from __future__ import annotations

from typing import Any

from pipeline.study.outputs.columns import DATA, INSTRUMENT, columns
from pipeline.study.outputs.model import Column, Output
from pipeline.study.vocabulary import (
    FRAME_COLUMNS,
    INSTRUMENTS,
    LESS_MATURE,
    MATURITY_DEFINITIONS,
    MORE_MATURE,
    SCALE_POSITIVE_FROM,
    maturity_column,
    scale_column,
)


def data_tables(codebook: Any) -> tuple[Output, ...]:
    """The files of ingest, validate and derive, in stage order."""
    responses = tuple(
        Output(
            f"responses_{instrument}",
            "processed",
            f"responses_{instrument}.parquet",
            "ingest",
            "pipeline.stages.ingest:ingest",
            f"Every {instrument} row of every configured export, as text in codebook columns, with "
            "source_file and source_row; nothing dropped.",
            inputs=("dataset.inputs", "dataset.codebook"),
            codebook_columns=True,
        )
        for instrument in INSTRUMENTS
    )
    valid = tuple(
        Output(
            f"valid_{instrument}",
            "processed",
            f"valid_{instrument}.parquet",
            "validate",
            "pipeline.stages.validate:validate",
            f"The {instrument} rows that passed every check, typed per the codebook.",
            inputs=(f"responses_{instrument}", "frame", "dataset.codebook"),
            codebook_columns=True,
        )
        for instrument in INSTRUMENTS
    )
    return (
        *responses,
        Output(
            "ingest_repairs",
            "processed",
            "ingest_repairs.csv",
            "ingest",
            "pipeline.stages.ingest:ingest",
            "Every change ingest made to a cell (or warning it raised), so nothing is changed silently.",
            inputs=("dataset.inputs",),
            columns=columns(
                ("file", "text", "the export, relative to the project root"),
                ("row", "integer", "the row in the file (1 = the header row)"),
                ("column", "text", "the codebook column"),
                ("original", "text", "the cell as read"),
                ("repaired", "text", "what it became"),
                ("kind", "text", "which repair or warning"),
            ),
        ),
        Output(
            "ingest_manifest",
            "processed",
            "manifest.json",
            "ingest",
            "pipeline.stages.ingest:ingest",
            "The inputs read (path, sha256, format, rows) and the code version.",
            inputs=("dataset.inputs",),
        ),
        *valid,
        Output(
            "rejected",
            "processed",
            "rejected.csv",
            "validate",
            "pipeline.stages.validate:validate",
            "One line per failed check of a rejected row.",
            inputs=tuple(f"responses_{i}" for i in INSTRUMENTS),
            columns=columns(
                ("file", "text", "the export the row came from"),
                ("row", "integer", "the row in that file"),
                ("respondent_id", "text", "the respondent id as given (kept in this internal file only)"),
                INSTRUMENT,
                ("column", "text", "the column that failed"),
                ("check", "text", "the check it failed"),
                ("value", "text", "the value that failed it"),
            ),
        ),
        Output(
            "validation_report",
            "processed",
            "validation_report.json",
            "validate",
            "pipeline.stages.validate:validate",
            "Per file: rows read = valid + rejected, and the failures by check.",
            inputs=tuple(f"responses_{i}" for i in INSTRUMENTS),
        ),
        Output(
            "analysis_base",
            "processed",
            "analysis_base.parquet",
            "derive",
            "pipeline.stages.derive:derive",
            "One row per valid respondent of either instrument: the answers, frame variables, 7S scale "
            "scores and every maturity definition.",
            inputs=(*(f"valid_{i}" for i in INSTRUMENTS), "frame"),
            codebook_columns=True,
            columns=analysis_base_columns(codebook),
        ),
        Output(
            "scale_reliability",
            "tables",
            "scale_reliability.csv",
            "derive",
            "pipeline.stages.derive:scale_reliability",
            "Cronbach's alpha of every 7S scale, per instrument.",
            inputs=("analysis_base",),
            columns=columns(
                DATA,
                ("element", "text", "the 7S element"),
                ("element_label", "text", "its label"),
                INSTRUMENT,
                ("items", "text", "the scale's items (asked of both instruments), space separated"),
                ("reversed_items", "text", "those among them that are reverse-worded (scored 6 - answer)"),
                ("n_items", "integer", "number of items"),
                ("n_complete", "integer", "respondents who answered every item (alpha's base)"),
                ("alpha", "number", "Cronbach's alpha"),
            ),
        ),
    )


def analysis_base_columns(codebook: Any) -> tuple[Column, ...]:
    """The analysis base's columns after the codebook's variables (those are described by the codebook)."""
    frame_descriptions = {
        "authority_type": "the LSP's principal council type (frame)",
        "tier": "single or multi (from the authority type)",
        "region": "government office region (frame)",
        "laa_area_id": "the LAA area the LSP belongs to (frame)",
        "laa_round": "the LAA round of its area: 1 (2005 pilots), 2 or 3 (frame)",
        "imd_score": "IMD 2007 mean LSOA score of the area (frame)",
        "case_study_2008": "whether the LSP was one of the report's case studies (frame)",
    }
    columns = [
        Column("respondent_type", "text", f"which instrument the row answers: {' or '.join(INSTRUMENTS)}"),
        *(
            Column(
                name,
                "boolean" if name == "case_study_2008" else "number" if name == "imd_score" else "text",
                frame_descriptions[name],
            )
            for name in FRAME_COLUMNS.values()
        ),
        Column(
            "laa_holder", "boolean", "whether the LSP's council holds the LAA (every type but shire district)"
        ),
    ]
    for element, label in codebook.elements.items():
        columns += [
            Column(
                scale_column(element),
                "number",
                f"{label} scale score: the mean of its items (reverse-worded ones flipped), 1-5, given at "
                "least half of them",
            ),
            Column(
                f"{scale_column(element)}_positive",
                "boolean",
                f"whether the {label} score is {SCALE_POSITIVE_FROM} or more (leans to agreement)",
            ),
        ]
    for definition in MATURITY_DEFINITIONS:
        elements = tuple(codebook.elements) if definition == "composite_other_elements" else (None,)
        for element in elements:
            columns.append(
                Column(
                    maturity_column(definition, element),
                    "text",
                    f"{MORE_MATURE} or {LESS_MATURE} by the {definition} definition"
                    + (f", leaving out {element}" if element else "")
                    + " (docs/maturity.md); partners take their LSP's coordinator's value",
                )
            )
    return tuple(columns)
