"""financial_influence: the LSP influences financial resources (report Figure 12), coordinators against
partners; weighted per cent agreeing with 95% CIs, from estimates.csv."""

from __future__ import annotations

from pipeline.figures.common import Figure, Inputs, by_provenance
from pipeline.figures.estimate_charts import coordinators_against_partners

PROVENANCE = "Figure 12"
SIZE = (7.0, 2.8)


def build(inputs: Inputs) -> Figure:
    return coordinators_against_partners(
        inputs,
        by_provenance(inputs.codebook, PROVENANCE, ("likert5",)),
        provenance=PROVENANCE,
        measure="agree",
        subtitle="Per cent agreeing among substantive answers",
        size=SIZE,
    )
