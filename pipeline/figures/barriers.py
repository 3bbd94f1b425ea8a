"""barriers: barriers to success (report Figure 16): every option of the Figure 16 question, coordinators
and partners; weighted per cent selecting each with 95% CIs, from estimates.csv. The options the report
names in Figure 16 are drawn in colour, the question's other options in grey."""

from __future__ import annotations

import pandas as pd

from pipeline.figures.common import (
    Figure,
    Inputs,
    by_provenance,
    distinct_respondents,
    estimate_figure,
    instrument_label,
    ordered,
    select_estimates,
)
from pipeline.study.vocabulary import INSTRUMENTS

PROVENANCE = "Figure 16"
SIZE = (8.0, 5.0)
NAMED, OTHER = f"named in {PROVENANCE}", "other options of the question"


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    named = by_provenance(codebook, PROVENANCE, ("multiple_choice",))
    group = named[0].question_group
    options = [v for v in codebook.variables if v.question_group == group]
    parts, answered = [], []
    base = inputs.answers(v.name for v in options if v.name in inputs.base_columns)
    for instrument in INSTRUMENTS:
        mine = [v.name for v in options if instrument in v.instruments]
        count = distinct_respondents(base, [v for v in options if v.name in mine], instrument)
        label = instrument_label(codebook, instrument)
        # Mid-sentence: "board partners", but "LSP coordinators" keeps its acronym.
        answered.append(f"{count} {label if label[1:2].isupper() else label[:1].lower() + label[1:]}")
        rows = select_estimates(
            inputs.estimates, instrument=instrument, items=mine, measure="selected", group="all"
        )
        parts.append(rows.assign(panel=instrument_label(codebook, instrument)))
    rows = pd.concat(parts, ignore_index=True)
    rows["panel"] = ordered(rows["panel"])
    rows["row"] = ordered(rows["item_label"])
    rows["highlight"] = rows["item"].isin([v.name for v in named]).map({True: NAMED, False: OTHER})
    return estimate_figure(
        rows,
        config=inputs.config,
        title="Barriers to success (report Figure 16)",
        subtitle="Per cent selecting each barrier",
        population=f"LSP coordinators (for the {inputs.n_lsps} LSPs) and board partners",
        size=SIZE,
        colour="highlight",
        colours={NAMED: "#D55E00", OTHER: "#7F7F7F"},
        ncol=2,
        # Once per respondent type, not once per option: each of them answered the question as a whole.
        n_text=f"{' and '.join(answered)} answered the question (each counted once; every option's n is in "
        "the plotted numbers)",
    )
