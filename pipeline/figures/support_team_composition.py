"""support_team_composition: the support-team questions of report para 128 answered yes/no (other
partners' staff in the core team; a jointly funded research budget), coordinators overall and by
authority type; weighted per cent yes with 95% CIs, from estimates.csv."""

from __future__ import annotations

import pandas as pd

from pipeline.core.codebook import Codebook, Variable
from pipeline.figures.common import (
    OKABE_ITO,
    Figure,
    Inputs,
    by_provenance,
    estimate_figure,
    ordered,
)
from pipeline.figures.estimate_charts import coordinators_by_authority_type, coordinators_population

PROVENANCE = "para 128"
SIZE = (9.0, 4.0)


# The codebook's routing operators, in words (a reader sees labels, never variable names or codes).
CONDITIONS = {"==": "is “{value}”", ">=": "is “{value}” or more"}


def asked_when(codebook: Codebook, variable: Variable) -> str:
    """When a routed question was asked, in the labels of the question it depends on."""
    name, operator, code = variable.asked_if_parts()
    condition = codebook[name]
    value = condition.codes.get(code, str(code))
    return f"asked if “{condition.label}” {CONDITIONS[operator].format(value=value)}"


def build(inputs: Inputs) -> Figure:
    codebook = inputs.codebook
    variables = by_provenance(codebook, PROVENANCE, ("yes_no",))
    parts = [coordinators_by_authority_type(inputs, variable, "yes") for variable in variables]
    rows = pd.concat(parts, ignore_index=True)
    rows["panel"], rows["row"] = ordered(rows["item_label"]), ordered(rows["row"])
    rows["question"] = rows["item_label"]
    routed = "\n".join(f"{v.label}: {asked_when(codebook, v)}" for v in variables if v.asked_if)
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"LSP support teams (report {PROVENANCE})",
        subtitle=f"LSP coordinators; per cent answering yes, overall and by authority type\n{routed}",
        population=coordinators_population(inputs, routed=True),
        size=SIZE,
        colour="question",
        colours=dict(zip([v.label for v in variables], OKABE_ITO[4:], strict=False)),
        ncol=len(variables),
    )
