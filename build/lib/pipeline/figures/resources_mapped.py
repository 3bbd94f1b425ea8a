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
    level_label,
    ordered,
    select_estimates,
)
from pipeline.study.vocabulary import AUTHORITY_TYPES

PROVENANCE = "para 94"
SIZE = (9.0, 4.5)


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    (variable,) = by_provenance(codebook, PROVENANCE, ("single_choice",))
    parts = []
    for code, answer in variable.codes.items():
        for group, levels in (("all", None), ("authority_type", AUTHORITY_TYPES)):
            rows = select_estimates(
                inputs.estimates,
                instrument="coordinator",
                items=[variable.name],
                measure=f"share:{code}",
                group=group,
                levels=levels,
            )
            parts.append(rows.assign(panel=answer, row=[level_label(group, lv) for lv in rows["level"]]))
    rows = pd.concat(parts, ignore_index=True)
    rows["panel"], rows["row"] = ordered(rows["panel"]), ordered(rows["row"])
    rows["answer"] = rows["panel"].astype(str)
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"{variable.label} (report {PROVENANCE})",
        subtitle="LSP coordinators; per cent giving each answer, overall and by authority type",
        population="LSP coordinators, answering for the 388 LSPs",
        size=SIZE,
        colour="answer",
        colours=dict(zip(variable.codes.values(), OKABE_ITO, strict=False)),
        ncol=len(variable.codes),
    )
