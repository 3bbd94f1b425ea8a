"""challenge: members challenge each other's performance (report para 57), coordinators against partners
and coordinators by authority type; weighted per cent agreeing with 95% CIs, from estimates.csv."""

from __future__ import annotations

import pandas as pd

from pipeline.figures.common import (
    INSTRUMENT_COLOURS,
    Figure,
    Inputs,
    by_provenance,
    estimate_figure,
    instrument_label,
    level_label,
    ordered,
    select_estimates,
)
from pipeline.figures.estimate_charts import by_respondent_type, respondents_population
from pipeline.study.vocabulary import AUTHORITY_TYPES

PROVENANCE = "para 57"
SIZE = (7.0, 4.5)


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    (variable,) = by_provenance(codebook, PROVENANCE, ("likert5",))
    by_respondent = by_respondent_type(inputs, [variable], "agree")
    by_type = select_estimates(
        inputs.estimates,
        instrument="coordinator",
        items=[variable.name],
        measure="agree",
        group="authority_type",
        levels=AUTHORITY_TYPES,
    )
    coordinators = instrument_label(codebook, "coordinator")
    rows = pd.concat(
        [
            by_respondent.assign(
                panel="By respondent type",
                row=[instrument_label(codebook, i) for i in by_respondent["instrument"]],
            ),
            by_type.assign(
                panel=f"{coordinators}, by authority type",
                row=[level_label("authority_type", level) for level in by_type["level"]],
            ),
        ],
        ignore_index=True,
    )
    rows["panel"], rows["row"] = ordered(rows["panel"]), ordered(rows["row"])
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"{variable.label} (report {PROVENANCE})",
        subtitle="Per cent agreeing (agree or strongly agree) among substantive answers",
        population=respondents_population(inputs),
        size=SIZE,
        colours=INSTRUMENT_COLOURS,
    )
