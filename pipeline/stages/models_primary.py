"""The models stage's primary tests: their estimands, the primary-test table and its sensitivity to the
weighting (primary_tests.csv, primary_tests_by_weighting.csv; pipeline/stages/models.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.config import Config, PrimaryTest
from pipeline.stages.models_fit import effect_row, group_sizes, marginal_differences
from pipeline.stages.models_spec import ADJUSTED_TERMS, COVARIATES, EFFECTS, MARGINAL_OUTCOME, OVERALL
from pipeline.study.designs import (
    ANALYTIC_DESIGNS,
    DESIGNS,
    UNWEIGHTED_DESIGNS,
    narrow,
)
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.study.weighting import primary_weighting
from pipeline.survey import PreparedDesign
from pipeline.survey.glm import svyglm

ESTIMANDS = {
    (
        "tier",
        OVERALL,
    ): "the difference in mean overall 7S score (1-5 scale) between multi-tier and single-tier "
    "partnerships at the same maturity, deprivation, LAA round and region, in partnerships in general "
    "(superpopulation), as reported by their {instrument}s",
    ("maturity", OVERALL): "the difference in mean overall 7S score (1-5 scale) between more and less mature "
    "partnerships of the same tier, deprivation, LAA round and region, in partnerships in general "
    "(superpopulation), as reported by their {instrument}s",
    (
        "tier",
        "joint_7s",
    ): "the seven adjusted multi-tier minus single-tier differences in the 7S scale scores, "
    "all zero or not, in partnerships in general, as reported by their {instrument}s",
    ("maturity", "joint_7s"): "the seven adjusted more minus less mature differences in the 7S scale scores, "
    "all zero or not, in partnerships in general, as reported by their {instrument}s",
}


def primary_table(
    declared: tuple[PrimaryTest, ...],
    models: pd.DataFrame,
    model_tests: pd.DataFrame,
    descriptive: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """One row per headline: the pre-specified test, adjusted, beside the marginal descriptive difference."""
    rows = []
    for test in declared:
        estimand = ESTIMANDS[(test.headline, test.outcome)].format(instrument=test.instrument)
        marginal = descriptive[test.instrument]
        marginal = marginal[marginal["effect"] == test.headline].iloc[0]
        base = {
            "headline": test.headline,
            "instrument": test.instrument,
            "outcome": test.outcome,
            "estimand": estimand,
            "inference": "analytic",
            "contrast": EFFECTS[test.headline][2],
            "marginal_inference": "descriptive",
            "marginal_estimate": marginal["estimate"],
            "marginal_ci_low": marginal["ci_low"],
            "marginal_ci_high": marginal["ci_high"],
            "marginal_p": marginal["p"],
            "marginal_n": marginal["n"],
        }
        if test.outcome == OVERALL:
            row = models[
                (models["instrument"] == test.instrument)
                & (models["outcome"] == OVERALL)
                & (models["model"] == "adjusted")
                & (models["effect"] == test.headline)
            ].iloc[0]
            rows.append(
                base
                | {
                    "test": "adjusted effect, Wald t on the design df",
                    **{
                        k: row[k]
                        for k in (
                            "estimate",
                            "se",
                            "ci_low",
                            "ci_high",
                            "statistic",
                            "df",
                            "p",
                            "n",
                            "n_smaller_group",
                        )
                    },
                    "df2": np.nan,
                }
            )
        else:
            row = model_tests[
                (model_tests["instrument"] == test.instrument)
                & (model_tests["effect"] == f"{test.headline}, joint across the seven scales")
            ].iloc[0]
            rows.append(
                base
                | {
                    "test": "adjusted effects on the seven scales, joint Wald F",
                    "estimate": np.nan,
                    "se": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    **{k: row[k] for k in ("statistic", "df", "df2", "p", "n", "n_smaller_group")},
                }
            )
    return pd.DataFrame(rows)


def primary_tests_by_weighting(
    populations: dict[str, pd.DataFrame],
    frame: pd.DataFrame,
    config: Config,
    primary_designs: dict[tuple[str, str], PreparedDesign] | None = None,
) -> pd.DataFrame:
    """The headline effects on the overall 7S score under every weighting (a labelled sensitivity table).

    For each instrument and headline: the adjusted effect (analytic design, the primary test's model)
    and the marginal difference (descriptive design), under the primary weighting, each alternative,
    type-only and unweighted; ``change_from_type_only`` is the estimate minus its type-only value.
    ``primary_designs`` (inference, instrument) -> the designs already prepared under the primary
    weighting over `populations` (each instrument's rows, as `population_rows` gives them), with these
    columns: used as they are, not weighted again, and taken out of the dict once used.
    """
    methods = [config.weighting.primary, *config.weighting.alternatives] if config.weighting else []
    primary_method = config.weighting.primary if config.weighting else "type_only"
    parts = []
    for method in (*dict.fromkeys((*methods, "type_only")), "unweighted"):
        unweighted = method == "unweighted"
        weigh = None if unweighted else primary_weighting(frame, config, method)
        for instrument in INSTRUMENTS:
            rows = populations[instrument]
            analytic = UNWEIGHTED_DESIGNS[instrument] if unweighted else ANALYTIC_DESIGNS[instrument]
            descriptive = UNWEIGHTED_DESIGNS[instrument] if unweighted else DESIGNS[instrument]
            reused = primary_designs if primary_designs and method == primary_method else {}
            # Each primary design is taken out as it is used (the caller hands them over): held through
            # the other weightings' designs they were a few hundred MB of the peak at Place-Survey size.
            prepared = reused.pop(("analytic", instrument), None) or narrow(
                analytic, rows, [OVERALL, "tier", "maturity", *COVARIATES], weigh, instrument
            )
            fit = svyglm(
                prepared, OVERALL, list(ADJUSTED_TERMS), df_adjust=config.model_df_adjustment, influence=False
            )
            for effect in EFFECTS:
                n_a, n_b = group_sizes(prepared, MARGINAL_OUTCOME, ADJUSTED_TERMS, effect)
                parts.append(
                    {"quantity": "adjusted (analytic)", "n": fit.n, "n_smaller_group": min(n_a, n_b)}
                    | effect_row(fit, effect, fit.df_residual)
                    | {"headline": effect, "instrument": instrument, "weighting": method}
                )
            marginal = marginal_differences(
                descriptive, rows, weigh, instrument, reused.pop(("descriptive", instrument), None)
            )
            for record in marginal.to_dict("records"):
                effect = record.pop("effect")
                parts.append(
                    record
                    | {
                        "quantity": "marginal (descriptive)",
                        "headline": effect,
                        "instrument": instrument,
                        "weighting": method,
                    }
                )
    table = pd.DataFrame(parts)
    keys = ["instrument", "headline", "quantity"]
    reference = table[table["weighting"].eq("type_only")].set_index(keys)["estimate"]
    table["change_from_type_only"] = table["estimate"] - pd.MultiIndex.from_frame(table[keys]).map(
        reference.to_dict().get
    ).astype(float)
    table["primary"] = table["weighting"].eq(config.weighting.primary if config.weighting else "type_only")
    table["outcome"] = OVERALL
    order = ["headline", "instrument", "outcome", "quantity", "weighting", "primary", "n", "n_smaller_group"]
    order += ["estimate", "se", "ci_low", "ci_high", "df", "p", "change_from_type_only"]
    return table[order].reset_index(drop=True)
