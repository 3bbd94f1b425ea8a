"""support_costs_known: whether the support team's costs are known (report Figure 17), coordinators and
partners; weighted per cent answering yes with 95% CIs, from estimates.csv."""

from __future__ import annotations

from pipeline.figures.common import Figure, Inputs, by_provenance
from pipeline.figures.estimate_charts import coordinators_against_partners

PROVENANCE = "Figure 17"
SIZE = (7.0, 2.8)


def build(inputs: Inputs) -> Figure:
    return coordinators_against_partners(
        inputs,
        by_provenance(inputs.codebook, PROVENANCE, ("yes_no",)),
        provenance=PROVENANCE,
        measure="yes",
        subtitle="Per cent answering yes among substantive answers",
        size=SIZE,
    )
