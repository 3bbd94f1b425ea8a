"""support_team_composition: the support-team questions of report para 128 answered yes/no (other
partners' staff in the core team; a jointly funded research budget), coordinators overall and by
authority type; weighted per cent yes with 95% CIs, from estimates.csv."""

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

PROVENANCE = "para 128"
SIZE = (9.0, 4.0)


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    variables = by_provenance(codebook, PROVENANCE, ("yes_no",))
    parts = []
    for variable in variables:
        for group, levels in (("all", None), ("authority_type", AUTHORITY_TYPES)):
            rows = select_estimates(
                inputs.estimates,
                instrument="coordinator",
                items=[variable.name],
                measure="yes",
                group=group,
                levels=levels,
            )
            parts.append(rows.assign(row=[level_label(group, lv) for lv in rows["level"]]))
    rows = pd.concat(parts, ignore_index=True)
    rows["panel"], rows["row"] = ordered(rows["item_label"]), ordered(rows["row"])
    rows["question"] = rows["item_label"]
    routed = "; ".join(f"{v.label}: asked if {v.asked_if}" for v in variables if v.asked_if)
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"LSP support teams (report {PROVENANCE})",
        subtitle=f"LSP coordinators; per cent answering yes, overall and by authority type\n({routed})",
        population="LSP coordinators, answering for the 388 LSPs (routed questions: those asked)",
        size=SIZE,
        colour="question",
        colours=dict(zip([v.label for v in variables], OKABE_ITO[4:], strict=False)),
        ncol=len(variables),
    )
