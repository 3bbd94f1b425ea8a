"""resources_mapped: whether the resources in the area have been mapped (report para 94), coordinators,
overall and by authority type; weighted share of each answer with 95% CIs, from estimates.csv."""

from __future__ import annotations

import pandas as pd

from pipeline.figures.common import (
    OKABE_ITO,
    Figure,
    Inputs,
    by_provenance,
    estimate_figure,
    ordered,
)
from pipeline.figures.estimate_charts import coordinators_by_authority_type, coordinators_population

PROVENANCE = "para 94"
SIZE = (9.0, 4.5)


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    (variable,) = by_provenance(codebook, PROVENANCE, ("single_choice",))
    parts = [
        coordinators_by_authority_type(inputs, variable, f"share:{code}").assign(panel=answer)
        for code, answer in variable.codes.items()
    ]
    rows = pd.concat(parts, ignore_index=True)
    rows["panel"], rows["row"] = ordered(rows["panel"]), ordered(rows["row"])
    rows["answer"] = rows["panel"].astype(str)
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"{variable.label} (report {PROVENANCE})",
        subtitle="LSP coordinators; per cent giving each answer, overall and by authority type",
        population=coordinators_population(inputs),
        size=SIZE,
        colour="answer",
        colours=dict(zip(variable.codes.values(), OKABE_ITO, strict=False)),
        ncol=len(variable.codes),
    )
