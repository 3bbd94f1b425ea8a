"""financial_influence: the LSP influences financial resources (report Figure 12), coordinators against
partners; weighted per cent agreeing with 95% CIs, from estimates.csv."""

from __future__ import annotations

import pandas as pd

from pipeline.figures.common import (
    INSTRUMENT_COLOURS,
    Figure,
    Inputs,
    by_provenance,
    estimate_figure,
    instrument_label,
    ordered,
    select_estimates,
)
from pipeline.study.vocabulary import INSTRUMENTS

PROVENANCE = "Figure 12"
SIZE = (7.0, 2.8)


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    variables = by_provenance(codebook, PROVENANCE, ("likert5",))
    rows = pd.concat(
        [
            select_estimates(
                inputs.estimates,
                instrument=instrument,
                items=[v.name for v in variables],
                measure="agree",
                group="all",
            )
            for instrument in INSTRUMENTS
        ],
        ignore_index=True,
    )
    rows["panel"] = ordered(rows["item_label"])
    rows["row"] = ordered([instrument_label(codebook, i) for i in rows["instrument"]])
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"{variables[0].label} (report {PROVENANCE})",
        subtitle="Per cent agreeing among substantive answers",
        population="LSP coordinators (for the 388 LSPs) and board partners",
        size=SIZE,
        colours=INSTRUMENT_COLOURS,
    )
