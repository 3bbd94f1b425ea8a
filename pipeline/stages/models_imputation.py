"""The models stage's partner analysis with multiple imputation of the LSP's maturity where its
coordinator did not answer (partner_imputation.csv; pipeline/stages/models.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.core.memory import release_free_memory
from pipeline.stages.models_fit import effect_row, group_sizes
from pipeline.stages.models_spec import (
    ADJUSTED_TERMS,
    COVARIATES,
    EFFECTS,
    LAA_LEVELS,
    LEVEL,
    MATURITY_LEVELS,
    OVERALL,
    TIER_LEVELS,
    model_outcomes,
)
from pipeline.study.designs import (
    ANALYTIC_DESIGNS,
    STRATUM,
    WEIGHT,
    Weigh,
    narrow,
)
from pipeline.study.vocabulary import LESS_MATURE, MORE_MATURE
from pipeline.survey import PreparedDesign, SurveyDesign
from pipeline.survey.collapsed import share_column_codes
from pipeline.survey.domains import share_plan
from pipeline.survey.glm import GLMFit, svyglm
from pipeline.survey.mi import pool_rubin

IMPUTATION_PREDICTORS = ("tier", "laa_first_round", "deprivation", "partner_mean_7s")


def counting_lsps_once(design: PreparedDesign) -> PreparedDesign:
    """The partner design with each LSP counted once: every weight divided by its LSP's partners.

    The calibration (at LSP level, each LSP once) is the partner design's own, so its residuals still
    apply: an LSP-weighted estimate's influence values sum to LSP totals as the partner-weighted ones do.
    """
    per_lsp = design.data.groupby("lsp_id")["lsp_id"].transform("size").to_numpy(dtype=float)
    weights = design.weights / per_lsp
    counted = dataclasses.replace(design, weights=weights, data=design.data.assign(lsp_weight=weights))
    # The variance plan reads PSUs and calibrations, not weights: the partner design's carries over.
    share_plan(design, counted)
    return counted


def impute_maturity(
    coordinators: pd.DataFrame,
    partners: pd.DataFrame,
    imputations: int,
    seed: int,
    weigh: Weigh = None,
) -> tuple[list[pd.Series], dict[str, Any]]:
    """Multiple imputations of each partner's LSP maturity where its coordinator did not answer.

    The imputation model is a logistic regression, at LSP level, of the coordinator's maturity on the
    LSP's tier, LAA round and deprivation (frame variables) and its partners' mean overall 7S score
    (their own answers, which also carries the analysis outcome into the imputation model, as it must),
    fitted on the LSPs with both a coordinator's maturity and partner respondents. Each imputation draws
    the coefficients from their estimated sampling distribution (normal, sandwich covariance) and then
    each missing maturity from its Bernoulli probability: "proper" imputation, so Rubin's rules hold.
    Region is not in the imputation model (nine levels for some seventy LSPs); the region coefficients
    of the analysis model are therefore slightly attenuated, the tier and maturity ones are not.

    The model is weighted as the analysis is: every LSP with a partner respondent is one row of an LSP-level
    design stratified by authority type with the partners' weight ``N_h / m_h``, calibrated by the primary
    weighting `weigh` (each LSP once, as the partners' calibration is), and fitted on the domain of LSPs
    whose maturity is known; the coefficient draws use that design's covariance.
    """
    codes, record = impute_maturity_codes(coordinators, partners, imputations, seed, weigh)
    labels = np.array((*MATURITY_LEVELS, np.nan), dtype=object)
    # Each partner's LSP maturity as text (NaN where unknown and not imputed), in the partners' order.
    completed = [pd.Series(labels[c], index=partners.index, name="lsp_id") for c in codes]
    return completed, record


def impute_maturity_codes(
    coordinators: pd.DataFrame,
    partners: pd.DataFrame,
    imputations: int,
    seed: int,
    weigh: Weigh = None,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """`impute_maturity` as each partner's code into `MATURITY_LEVELS` (``-1``: unknown, not imputed),
    one array per imputation: the same draws, without a text column per imputation."""
    rng = np.random.default_rng(seed)
    lsp = partners.groupby("lsp_id").agg(
        **{STRATUM: (STRATUM, "first"), WEIGHT: (WEIGHT, "first")},
        tier=("tier", "first"),
        laa_first_round=("laa_first_round", "first"),
        deprivation=("deprivation", "first"),
        partner_mean_7s=(OVERALL, "mean"),
    )
    known = coordinators.dropna(subset=["maturity"]).set_index("lsp_id")["maturity"]
    # Each LSP's coordinator's maturity, 1.0 more mature, 0.0 less, NaN without one.
    at = known.index.get_indexer(lsp.index)
    known_mature = known.astype(object).to_numpy() == MORE_MATURE
    lsp = lsp.assign(mature=np.where(at >= 0, known_mature[np.maximum(at, 0)].astype(float), np.nan))
    lsp = lsp.assign(
        tier=pd.Categorical(lsp["tier"].astype(object), categories=TIER_LEVELS),
        laa_first_round=pd.Categorical(lsp["laa_first_round"].astype(object), categories=LAA_LEVELS),
    )
    # Its calibration's temporaries are laid on what the steps before it freed (`release_free_memory`).
    release_free_memory()
    lsp_design = narrow(
        SurveyDesign(weights=WEIGHT, strata=STRATUM, lonely_psu=ANALYTIC_DESIGNS["partner"].lonely_psu),
        lsp.reset_index().assign(respondent_type="partner"),
        ["mature", *IMPUTATION_PREDICTORS],
        weigh,
        "partner",
    )
    fit = svyglm(lsp_design, "mature", list(IMPUTATION_PREDICTORS), family="quasibinomial", influence=False)
    fit_rows = fit.n
    is_missing = (
        lsp["mature"].isna().to_numpy() & lsp[list(IMPUTATION_PREDICTORS)].notna().all(axis=1).to_numpy()
    )
    missing = lsp[is_missing]
    missing_at = np.flatnonzero(is_missing)
    x = np.column_stack(
        [
            np.ones(len(missing)),
            (missing["tier"] == TIER_LEVELS[1]).to_numpy(float),
            (missing["laa_first_round"] == LAA_LEVELS[1]).to_numpy(float),
            missing["deprivation"].to_numpy(float),
            missing["partner_mean_7s"].to_numpy(float),
        ]
    )
    names = [
        "(Intercept)",
        f"tier{TIER_LEVELS[1]}",
        f"laa_first_round{LAA_LEVELS[1]}",
        "deprivation",
        "partner_mean_7s",
    ]
    beta, cov = fit.coefficients.loc[names].to_numpy(), fit.vcov.loc[names, names].to_numpy()
    more, less = MATURITY_LEVELS.index(MORE_MATURE), MATURITY_LEVELS.index(LESS_MATURE)
    mature = lsp["mature"].to_numpy()
    known_codes = np.where(np.isnan(mature), -1, np.where(mature == 1.0, more, less)).astype(np.int64)
    # Each partner's LSP among the LSPs (-1 for a partner without an LSP id, whose maturity stays missing).
    partner_lsp = lsp.index.get_indexer(partners["lsp_id"])
    completed = []
    for _ in range(imputations):
        draw = rng.multivariate_normal(beta, cov)
        prob = 1 / (1 + np.exp(-(x @ draw)))
        drawn_mature = rng.random(len(missing)) < prob
        by_lsp = known_codes.copy()
        by_lsp[missing_at] = np.where(drawn_mature, more, less)
        completed.append(np.where(partner_lsp >= 0, by_lsp[np.maximum(partner_lsp, 0)], -1))
    record = {
        "model": "logistic regression at LSP level: mature ~ " + " + ".join(IMPUTATION_PREDICTORS),
        "design": "LSPs with a partner respondent, stratified by authority type, partner weights N_h/m_h"
        + ("" if weigh is None else ", calibrated by the primary weighting"),
        "lsps_fitted": fit_rows,
        "lsps_imputed": len(missing),
        "partners_with_imputed_maturity": int(partners["lsp_id"].isin(missing.index).sum()),
        "imputations": imputations,
        "seed": seed,
        "coefficients": {k: float(v) for k, v in fit.coefficients.items()},
    }
    return completed, record


def _pooled_inputs(fit: GLMFit) -> dict[str, Any]:
    """What Rubin's rules and the table read from one imputation's fit (not its influence values)."""
    return {"coefficients": fit.coefficients, "se": fit.se, "df_residual": fit.df_residual, "n": fit.n}


def partner_imputation(
    populations: dict[str, pd.DataFrame],
    codebook: Codebook,
    config: Config,
    weigh: Weigh = None,
    prepared: PreparedDesign | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Partner adjusted effects: complete cases against all partners (imputed maturity), by weighting
    (partners, or each LSP once), on the primary weighting `weigh` (the imputation model too);
    ``prepared``: the partners' analytic design already weighted by `weigh` over `data`'s partners,
    with the outcome, effect and covariate columns; ``populations``: `population_rows`' coordinators and
    partners, or those rows with the columns the models read)."""
    coordinators, partners = populations["coordinator"], populations["partner"]
    completed, record = impute_maturity_codes(
        coordinators, partners, config.imputations, config.imputation_seed, weigh
    )
    outcomes = [o for o in model_outcomes(codebook, "partner") if o.kind in ("overall", "scale")]
    columns = [o.column for o in outcomes] + ["tier", "maturity", *COVARIATES]
    by_partner = (
        prepared
        if prepared is not None
        else narrow(ANALYTIC_DESIGNS["partner"], partners, columns, weigh, "partner")
    )
    weightings = {"partners": by_partner, "LSPs": counting_lsps_once(by_partner)}
    rows = []
    adjust = config.model_df_adjustment
    for weighting, complete in weightings.items():
        # Each imputation changes only the maturity column: the weights and their calibration stay. One
        # imputation's design at a time, each fit reduced at once to what Rubin's rules read (twenty
        # designs with their coded columns, or twenty fits' influence values, held together cost
        # hundreds of MB at 1,000 times the bundled survey).
        mi: dict[str, list[dict[str, Any]]] = {o.column: [] for o in outcomes}
        first: dict[str, Any] = {}
        for m, maturity in enumerate(completed):
            imputed = complete.with_data(
                complete.data.assign(maturity=pd.Categorical.from_codes(maturity, categories=MATURITY_LEVELS))
            )
            # Only the maturity changed: the other columns' codes carry over to the patterns.
            share_column_codes(complete, imputed, [c for c in ADJUSTED_TERMS if c != "maturity"])
            for outcome in outcomes:
                mi[outcome.column].append(
                    _pooled_inputs(
                        svyglm(
                            imputed, outcome.column, list(ADJUSTED_TERMS), df_adjust=adjust, influence=False
                        )
                    )
                )
                if m == 0:
                    for effect in EFFECTS:
                        first[(outcome.column, effect)] = group_sizes(
                            imputed, outcome, ADJUSTED_TERMS, effect
                        )
            if m == 0:
                first["n_lsps"] = int(imputed.data["lsp_id"].nunique())
            del imputed
        for outcome in outcomes:
            cc = svyglm(complete, outcome.column, list(ADJUSTED_TERMS), df_adjust=adjust, influence=False)
            fits = mi[outcome.column]
            for effect in EFFECTS:
                name = EFFECTS[effect][1]
                common = {
                    "instrument": "partner",
                    "outcome": outcome.name,
                    "outcome_label": outcome.label,
                    "effect": effect,
                    "contrast": EFFECTS[effect][2],
                    "weighting": weighting,
                    "inference": "analytic",
                }
                n_a, n_b = group_sizes(complete, outcome, ADJUSTED_TERMS, effect)
                rows.append(
                    common
                    | {
                        "data_used": "complete cases (maturity from the LSP's coordinator)",
                        "n": cc.n,
                        "n_lsps": int(
                            complete.data.loc[complete.data["maturity"].notna(), "lsp_id"].nunique()
                        )
                        if "lsp_id" in complete.data
                        else np.nan,
                        "n_smaller_group": min(n_a, n_b),
                        "imputations": 0,
                    }
                    | effect_row(cc, effect, cc.df_residual)
                    | {"lambda": 0.0, "fraction_missing_information": 0.0}
                )
                pooled = pool_rubin(
                    np.array([f["coefficients"][name] for f in fits]),
                    np.array([f["se"][name] ** 2 for f in fits]),
                    min(f["df_residual"] for f in fits),
                    level=LEVEL,
                ).to_dict()
                rows.append(
                    common
                    | {
                        "data_used": "all partners (maturity multiply imputed where unknown)",
                        "n": fits[0]["n"],
                        "n_lsps": first["n_lsps"],
                        "n_smaller_group": min(first[(outcome.column, effect)]),
                        "imputations": len(fits),
                    }
                    | pooled
                )
    return pd.DataFrame(rows), record
