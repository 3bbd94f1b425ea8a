"""The models stage's model: its outcomes, factors, effects and terms (pipeline/stages/models.py).

One place says what the headline regressions are: the levels of tier, maturity and LAA round (reference
first), the frame covariates, the two headline effects, the adjusted and interaction models' terms, and
which outcomes are modelled with which family. The method checks (pipeline/checks) fit the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.study.designs import (
    design_columns,
)
from pipeline.study.direction import favourable_signs
from pipeline.study.outcomes import maturity_group_column, models_maturity_definition, outcome_columns
from pipeline.study.vocabulary import LESS_MATURE, MORE_MATURE, scale_column

LEVEL = 0.95
OVERALL = "overall_7s"
# Reference level first, so each coefficient is "first group minus reference" as in the comparisons.
TIER_LEVELS = ("single", "multi")
MATURITY_LEVELS = (LESS_MATURE, MORE_MATURE)
LAA_LEVELS = ("later", "first")
COVARIATES = ("deprivation", "laa_first_round", "region")
EFFECTS = {
    "tier": ("tier", f"tier{TIER_LEVELS[1]}", "multi-tier minus single-tier"),
    "maturity": ("maturity", f"maturity{MATURITY_LEVELS[1]}", "more mature minus less mature"),
}
INTERACTION = "tier:maturity"
# Each model's terms; "marginal" fits one effect alone (the weighted difference of means).
ADJUSTED_TERMS = ("tier", "maturity", *COVARIATES)
MODEL_TERMS = {"adjusted": ADJUSTED_TERMS, "interaction": (*ADJUSTED_TERMS, INTERACTION)}
SCALES = {
    "gaussian": "difference in mean score (1-5 scale points)",
    "quasibinomial": "log odds ratio of agreeing",
    "ordinal": "log cumulative odds ratio (higher categories)",
}


@dataclass(frozen=True)
class ModelOutcome:
    """One modelled quantity: a column, its family and which way is favourable."""

    name: str
    label: str
    kind: str  # overall | scale | item
    element: str | None
    family: str  # gaussian | quasibinomial | ordinal
    column: str
    sign: int


# The codebook variable types the models fit (`model_outcomes`): the Likert items.
MODELLED_TYPES = ("likert5",)


def unmodelled_answers(codebook: Codebook) -> list[str]:
    """The analysis base's answer columns the stage never reads: every codebook variable but the ids
    and the modelled types (`model_data` builds outcome columns of those alone)."""
    return [v.name for v in codebook.variables if v.type not in (*MODELLED_TYPES, "id")]


def model_data(
    base: pd.DataFrame,
    frame: pd.DataFrame,
    codebook: Codebook,
    config: Config,
    types: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The analysis base with design columns, the model's factors and every outcome column (of the
    codebook variable ``types`` only, e.g. `MODELLED_TYPES`; ``None``: all).

    ``maturity`` is the primary definition (config ``maturity.primary``), except the composite, which
    differs by element: the rule and its reason are `pipeline.study.outcomes.models_maturity_definition`.
    """
    data, _ = outcome_columns(design_columns(base, frame), codebook, types)
    maturity = data[maturity_group_column(config, None, models_maturity_definition(config))].astype("string")
    laa_first = data["laa_round"].astype("string").eq("1")
    scales = [scale_column(e) for e in codebook.elements]
    overall = data[scales].astype("Float64").astype(float)
    return data.assign(
        tier=pd.Categorical(data["tier"].astype("string"), categories=TIER_LEVELS),
        maturity=pd.Categorical(maturity, categories=MATURITY_LEVELS),
        deprivation=pd.to_numeric(data["imd_score"]),
        laa_first_round=pd.Categorical(
            np.where(laa_first, LAA_LEVELS[1], LAA_LEVELS[0]), categories=LAA_LEVELS
        ),
        region=data["region"].astype("string").astype(object),
        # The mean of the seven scale scores where all seven exist: one summary per respondent.
        **{OVERALL: overall.mean(axis=1).where(overall.notna().all(axis=1))},
    )


def model_outcomes(codebook: Codebook, instrument: str) -> list[ModelOutcome]:
    """The overall 7S score, the seven scale scores, and every Likert item asked of `instrument`."""
    signs = favourable_signs(codebook)
    out = [
        ModelOutcome(
            OVERALL, "Overall 7S score (mean of the seven scales)", "overall", None, "gaussian", OVERALL, 1
        )
    ]
    for element, label in codebook.elements.items():
        out.append(
            ModelOutcome(
                scale_column(element),
                f"{label} scale",
                "scale",
                element,
                "gaussian",
                scale_column(element),
                1,
            )
        )
    for variable in codebook.likert_items(instrument):
        common = {
            "label": variable.label,
            "kind": "item",
            "element": variable.element,
            "sign": signs[variable.name],
        }
        out.append(
            ModelOutcome(variable.name, family="quasibinomial", column=f"{variable.name}__agree", **common)
        )
        out.append(ModelOutcome(variable.name, family="ordinal", column=f"{variable.name}__score", **common))
    return out


# The overall score as a bare outcome, for the group sizes of a marginal or sensitivity fit.
MARGINAL_OUTCOME = ModelOutcome(OVERALL, "", "overall", None, "gaussian", OVERALL, 1)
