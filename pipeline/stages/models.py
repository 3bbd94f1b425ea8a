"""Models stage: the two headline findings as analytic inference, one pre-specified primary test each.

The headlines (Audit Commission, 2009) are that more mature LSPs are further ahead and that multi-tier
areas face greater challenges than single-tier ones. Tier and maturity overlap (single-tier LSPs are more
often "more mature"), and both go with deprivation, LAA round and region, so each marginal difference
mixes the two. This stage fits design-based regressions (pipeline/survey: svyglm, svyolr) of every 7S
outcome on tier and maturity together with those frame covariates, under the *analytic* designs (no
finite population correction: the claims are about partnerships in general, pipeline/study_design.py
``INFERENCE``), and tests the tier x maturity interaction.

Outputs (analysis/tables/):

- ``primary_tests.csv``: the two pre-specified primary tests (config ``models.primary``), each with its
  estimand, adjusted estimate, CI, test, p and n, beside the marginal (descriptive, fpc) difference;
- ``models.csv``: every fitted effect: outcome x model (marginal, adjusted, interaction) x effect, on the
  7S overall score and scale scores (gaussian), % agreeing with each Likert item (quasibinomial, log
  odds ratio) and each item's five categories (proportional odds); item-level and scale-level tests
  are secondary, with Benjamini-Hochberg FDR within each family;
- ``model_tests.csv``: Wald tests of the tier x maturity interaction and joint tests of an effect
  across the seven scales;
- ``partner_imputation.csv``: partner results with and without multiple imputation of the LSP's
  maturity (unknown where its coordinator did not answer), weighting partners and weighting LSPs;
- analysis/models_manifest.json: what was estimated, for which population, with which designs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, PrimaryTest, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json
from pipeline.core.paths import relative_to_root
from pipeline.study.designs import (
    ANALYTIC_DESIGNS,
    DESIGNS,
    INFERENCE,
    STRATUM,
    WEIGHT,
    design_columns,
    population_rows,
)
from pipeline.study.direction import favourable_signs
from pipeline.study.disclosure import suppress
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import maturity_group_column, models_maturity_definition, outcome_columns
from pipeline.study.vocabulary import INSTRUMENTS, LESS_MATURE, MORE_MATURE, scale_column
from pipeline.survey import PreparedDesign, SurveyDesign, SurveyDesignError, p_adjust_bh, t_quantile
from pipeline.survey.glm import GLMFit, coefficient_p_values, svyglm, wald_test
from pipeline.survey.olr import OrdinalFit, svyolr

log = logging.getLogger("pipeline.stages.models")

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
COLUMNS = [
    "data",
    "inference",
    "instrument",
    "outcome",
    "outcome_label",
    "outcome_kind",
    "element",
    "family",
    "model",
    "effect",
    "contrast",
    "scale",
    "n",
    "n_a",
    "n_b",
    "n_smaller_group",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "test",
    "statistic",
    "df",
    "df2",
    "p",
    "role",
    "fdr_family",
    "p_fdr",
    "favourable_sign",
    "favourable_estimate",
]
STATISTICS = ["estimate", "se", "ci_low", "ci_high", "statistic", "p", "p_fdr", "favourable_estimate"]


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


def model_data(base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config) -> pd.DataFrame:
    """The analysis base with design columns, the model's factors and every outcome column.

    ``maturity`` is the primary definition (config ``maturity.primary``), except the composite, which
    differs by element: the rule and its reason are `pipeline.study.outcomes.models_maturity_definition`.
    """
    data, _ = outcome_columns(design_columns(base, frame), codebook)
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


def narrow(design: SurveyDesign, data: pd.DataFrame, columns: Iterable[str]) -> PreparedDesign:
    """Prepare `design` over just the design columns and `columns` (a fit subsets rows; narrow is fast)."""
    keep = list(design.columns)
    keep += [c for c in columns if c not in keep]
    return design.prepare(data[keep].reset_index(drop=True))


def _fit(
    design: PreparedDesign,
    outcome: ModelOutcome,
    terms: tuple[str, ...],
    start: Any = None,
    df_adjust: bool = False,
) -> Any:
    if outcome.family == "ordinal":
        return svyolr(
            design, outcome.column, list(terms), hessian="analytic", start=start, df_adjust=df_adjust
        )
    return svyglm(design, outcome.column, list(terms), family=outcome.family, df_adjust=df_adjust)


def _fit_rows(design: PreparedDesign, fit: GLMFit | OrdinalFit, terms: tuple[str, ...]) -> np.ndarray:
    present = np.ones(design.n, dtype=bool)
    for col in {c for t in terms for c in t.split(":")}:
        present &= design.data[col].notna().to_numpy()
    return present


def _group_sizes(
    design: PreparedDesign, outcome: ModelOutcome, terms: tuple[str, ...], effect: str
) -> tuple[int, int]:
    rows = design.data[outcome.column].notna().to_numpy().copy()
    for col in {c for t in terms for c in t.split(":")}:
        rows &= design.data[col].notna().to_numpy()
    values = design.data.loc[rows, EFFECTS[effect][0]]
    first, reference = _levels(effect)
    return int((values == first).sum()), int((values == reference).sum())


def _levels(effect: str) -> tuple[str, str]:
    levels = TIER_LEVELS if effect == "tier" else MATURITY_LEVELS
    return levels[1], levels[0]


def effect_row(fit: GLMFit | OrdinalFit, effect: str, df: float) -> dict[str, float]:
    """Estimate, SE, t-interval and two-sided t test of one effect's coefficient."""
    name = EFFECTS[effect][1]
    beta, se = float(fit.coefficients[name]), float(fit.se[name])
    q = t_quantile(LEVEL, df)
    p = float(coefficient_p_values(pd.Series([beta]), pd.Series([se]), df).iloc[0])
    return {
        "estimate": beta,
        "se": se,
        "ci_low": beta - q * se,
        "ci_high": beta + q * se,
        "statistic": beta / se,
        "df": df,
        "p": p,
    }


def fit_instrument(
    design: SurveyDesign,
    data: pd.DataFrame,
    outcomes: list[ModelOutcome],
    instrument: str,
    inference: str,
    df_adjust: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, GLMFit]]]:
    """Every outcome's marginal, adjusted and interaction models for one instrument (``df_adjust``:
    the degrees-of-freedom adjustment of every fit's covariance, config ``models.variance_df_adjustment``).

    Returns the effect rows, the interaction test rows, and the adjusted gaussian fits by effect
    model (for the joint tests across the scales).
    """
    columns = [o.column for o in outcomes] + ["tier", "maturity", *COVARIATES]
    prepared = narrow(design, data, dict.fromkeys(columns))
    rows, tests = [], []
    gaussian_fits: dict[str, dict[str, GLMFit]] = {"adjusted": {}}
    starts: dict[tuple[str, ...], Any] = {}
    for outcome in outcomes:
        common = {
            "inference": inference,
            "instrument": instrument,
            "outcome": outcome.name,
            "outcome_label": outcome.label,
            "outcome_kind": outcome.kind,
            "element": outcome.element,
            "family": outcome.family,
            "scale": SCALES[outcome.family],
            "favourable_sign": outcome.sign,
        }
        specs = [("marginal", (effect,), effect) for effect in EFFECTS]
        specs += [(model, terms, None) for model, terms in MODEL_TERMS.items()]
        for model, terms, only in specs:
            key = (outcome.family, *terms)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", RuntimeWarning)
                    fit = _fit(
                        prepared,
                        outcome,
                        terms,
                        starts.get(key) if outcome.family == "ordinal" else None,
                        df_adjust,
                    )
                for warning in caught:
                    # Near-separation (e.g. no one in a region disagreeing): the fit is kept, and said so.
                    log.warning(
                        "%s %s %s %s: %s", instrument, outcome.name, outcome.family, model, warning.message
                    )
            except (SurveyDesignError, np.linalg.LinAlgError) as error:
                log.warning("%s %s %s: not fitted (%s)", instrument, outcome.name, model, error)
                continue
            if outcome.family == "ordinal":
                starts[key] = fit
            df = fit.df_residual
            for effect in (only,) if only else tuple(EFFECTS):
                n_a, n_b = _group_sizes(prepared, outcome, terms, effect)
                rows.append(
                    common
                    | {
                        "model": model,
                        "effect": effect,
                        "contrast": EFFECTS[effect][2],
                        "n": fit.n,
                        "n_a": n_a,
                        "n_b": n_b,
                    }
                    | effect_row(fit, effect, df)
                    | {"test": "Wald t (design df)"}
                )
            if model == "adjusted" and outcome.family == "gaussian":
                gaussian_fits["adjusted"][outcome.name] = fit
            if model == "interaction":
                wt = wald_test(fit.coefficients, fit.vcov, fit.terms[INTERACTION], df)
                cells = pd.crosstab(
                    prepared.data.loc[_fit_rows(prepared, fit, (outcome.column, *terms)), "tier"],
                    prepared.data.loc[_fit_rows(prepared, fit, (outcome.column, *terms)), "maturity"],
                )
                tests.append(
                    common
                    | {
                        "model": model,
                        "effect": "tier x maturity",
                        "contrast": "interaction (regTermTest)",
                        "n": fit.n,
                        "n_smaller_group": int(cells.to_numpy().min()) if cells.size == 4 else 0,
                        "test": "Wald F (design df)",
                        "statistic": wt.statistic,
                        "df": wt.ndf,
                        "df2": wt.ddf,
                        "p": wt.p,
                    }
                )
    return rows, tests, gaussian_fits


def joint_test(design: PreparedDesign, fits: dict[str, GLMFit], effect: str) -> dict[str, float]:
    """Wald F of one effect being zero on every scale at once, from the fits' stacked influence.

    The fits share the design's rows, so the influence columns of the effect's coefficient in each
    fit, put through the design's variance together, give the effects' joint covariance (as R's
    svyby/svycontrast would for stacked estimating equations). The denominator df is the smallest
    of the fits' residual dfs.
    """
    name = EFFECTS[effect][1]
    names = list(fits)
    beta = pd.Series([fits[o].coefficients[name] for o in names], index=names)
    columns = [list(fits[o].coefficients.index).index(name) for o in names]
    influence = np.column_stack([fits[o].influence[:, c] for o, c in zip(names, columns, strict=True)])
    present = np.any(influence != 0, axis=1)
    cov = pd.DataFrame(design.variance(influence, present), index=names, columns=names)
    ddf = min(f.df_residual for f in fits.values())
    wt = wald_test(beta, cov, names, ddf)
    return {
        "statistic": wt.statistic,
        "df": wt.ndf,
        "df2": wt.ddf,
        "p": wt.p,
        "n": max(f.n for f in fits.values()),
    }


def add_secondary_fdr(table: pd.DataFrame) -> pd.DataFrame:
    """BH within each family: instrument, effect, model, outcome kind and family (never the primary)."""
    keys = ["instrument", "effect", "model", "outcome_kind", "family"]
    family = table[keys].astype("string").fillna("").agg(" | ".join, axis=1)
    adjusted = pd.Series(np.nan, index=table.index)
    secondary = table["role"].eq("secondary")
    for _, rows in table[secondary].groupby(family[secondary], sort=False):
        adjusted[rows.index] = p_adjust_bh(rows["p"].to_numpy(dtype=float))
    return table.assign(fdr_family=family.where(secondary), p_fdr=adjusted)


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


# ------------------------------------------------------------------------------- partners: imputation
IMPUTATION_PREDICTORS = ("tier", "laa_first_round", "deprivation", "partner_mean_7s")


def lsp_weights(partners: pd.DataFrame) -> pd.Series:
    """Weights that count each LSP once: the partner weight shared among the LSP's responding partners."""
    per_lsp = partners.groupby("lsp_id")["lsp_id"].transform("size")
    return partners[WEIGHT] / per_lsp


def impute_maturity(
    coordinators: pd.DataFrame, partners: pd.DataFrame, imputations: int, seed: int
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
    """
    rng = np.random.default_rng(seed)
    lsp = partners.groupby("lsp_id").agg(
        tier=("tier", "first"),
        laa_first_round=("laa_first_round", "first"),
        deprivation=("deprivation", "first"),
        partner_mean_7s=(OVERALL, "mean"),
    )
    known = coordinators.dropna(subset=["maturity"]).set_index("lsp_id")["maturity"]
    lsp = lsp.assign(
        mature=lsp.index.map(lambda i: float(known[i] == MORE_MATURE) if i in known.index else np.nan)
    )
    lsp = lsp.assign(
        tier=pd.Categorical(lsp["tier"].astype(object), categories=TIER_LEVELS),
        laa_first_round=pd.Categorical(lsp["laa_first_round"].astype(object), categories=LAA_LEVELS),
    )
    fit_rows = lsp.dropna(subset=["mature", *IMPUTATION_PREDICTORS]).reset_index()
    fit = svyglm(
        SurveyDesign().prepare(fit_rows), "mature", list(IMPUTATION_PREDICTORS), family="quasibinomial"
    )
    missing = lsp[lsp["mature"].isna()].dropna(subset=list(IMPUTATION_PREDICTORS))
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
    completed = []
    for _ in range(imputations):
        draw = rng.multivariate_normal(beta, cov)
        prob = 1 / (1 + np.exp(-(x @ draw)))
        mature = rng.random(len(missing)) < prob
        imputed = pd.Series(np.where(mature, MORE_MATURE, LESS_MATURE), index=missing.index)
        by_lsp = lsp["mature"].map({1.0: MORE_MATURE, 0.0: LESS_MATURE}).astype(object)
        by_lsp.loc[imputed.index] = imputed
        completed.append(partners["lsp_id"].map(by_lsp))
    record = {
        "model": "logistic regression at LSP level: mature ~ " + " + ".join(IMPUTATION_PREDICTORS),
        "lsps_fitted": len(fit_rows),
        "lsps_imputed": len(missing),
        "partners_with_imputed_maturity": int(partners["lsp_id"].isin(missing.index).sum()),
        "imputations": imputations,
        "seed": seed,
        "coefficients": {k: float(v) for k, v in fit.coefficients.items()},
    }
    return completed, record


def rubin(estimates: np.ndarray, variances: np.ndarray, df_complete: float) -> dict[str, float]:
    """Pool imputations by Rubin's rules, with Barnard and Rubin's (1999) small-sample df."""
    m = estimates.size
    qbar, w, b = estimates.mean(), variances.mean(), estimates.var(ddof=1)
    t = w + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / t if t > 0 else 0.0
    df_old = (m - 1) / lam**2 if lam > 0 else np.inf
    df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
    df = 1 / (1 / df_old + 1 / df_obs) if np.isfinite(df_old) else df_obs
    se = float(np.sqrt(t))
    q = t_quantile(LEVEL, df)
    p = float(2 * stats.t.sf(abs(qbar / se), df))
    return {
        "estimate": float(qbar),
        "se": se,
        "ci_low": qbar - q * se,
        "ci_high": qbar + q * se,
        "statistic": qbar / se,
        "df": float(df),
        "p": p,
        "fraction_missing_information": float(lam),
    }


def partner_imputation(
    data: pd.DataFrame, codebook: Codebook, config: Config
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Partner adjusted effects: complete cases against all partners (imputed maturity), by weighting."""
    populations = population_rows(data)
    coordinators, partners = populations["coordinator"], populations["partner"]
    partners = partners.assign(lsp_weight=lsp_weights(partners))
    completed, record = impute_maturity(coordinators, partners, config.imputations, config.imputation_seed)
    outcomes = [o for o in model_outcomes(codebook, "partner") if o.kind in ("overall", "scale")]
    base_design = ANALYTIC_DESIGNS["partner"]
    weightings = {
        "partners": base_design,
        "LSPs": SurveyDesign(
            weights="lsp_weight",
            cluster=base_design.cluster,
            strata=base_design.strata,
            lonely_psu=base_design.lonely_psu,
            label="partners weighted so each LSP counts once (partner weight / responding partners)",
        ),
    }
    rows = []
    columns = [o.column for o in outcomes] + ["tier", "maturity", *COVARIATES, "lsp_weight"]
    for weighting, design in weightings.items():
        complete = narrow(design, partners, columns)
        fits_by_imputation = []
        for maturity in completed:
            prepared = narrow(
                design,
                partners.assign(maturity=pd.Categorical(maturity, categories=MATURITY_LEVELS)),
                columns,
            )
            fits_by_imputation.append(prepared)
        for outcome in outcomes:
            adjust = config.model_df_adjustment
            cc = svyglm(complete, outcome.column, list(ADJUSTED_TERMS), df_adjust=adjust)
            mi = [
                svyglm(p, outcome.column, list(ADJUSTED_TERMS), df_adjust=adjust) for p in fits_by_imputation
            ]
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
                n_a, n_b = _group_sizes(complete, outcome, ADJUSTED_TERMS, effect)
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
                    | {"fraction_missing_information": 0.0}
                )
                pooled = rubin(
                    np.array([f.coefficients[name] for f in mi]),
                    np.array([f.se[name] ** 2 for f in mi]),
                    min(f.df_residual for f in mi),
                )
                sizes = [_group_sizes(p, outcome, ADJUSTED_TERMS, effect) for p in fits_by_imputation[:1]]
                rows.append(
                    common
                    | {
                        "data_used": "all partners (maturity multiply imputed where unknown)",
                        "n": mi[0].n,
                        "n_lsps": int(fits_by_imputation[0].data["lsp_id"].nunique()),
                        "n_smaller_group": min(sizes[0]),
                        "imputations": len(mi),
                    }
                    | pooled
                )
    return pd.DataFrame(rows), record


# ----------------------------------------------------------------------------------------------- stage
def models(base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config) -> dict[str, Any]:
    """Every table of the models stage, suppressed and ready to write, and the manifest record."""
    data = model_data(base, frame, codebook, config)
    populations = population_rows(data)
    effect_rows, test_rows, descriptive = [], [], {}
    for instrument in INSTRUMENTS:
        rows = populations[instrument]
        outcomes = model_outcomes(codebook, instrument)
        fitted, tests, gaussian = fit_instrument(
            ANALYTIC_DESIGNS[instrument], rows, outcomes, instrument, "analytic", config.model_df_adjustment
        )
        effect_rows += fitted
        test_rows += tests
        prepared = narrow(
            ANALYTIC_DESIGNS[instrument],
            rows,
            [o.column for o in outcomes] + ["tier", "maturity", *COVARIATES],
        )
        scales = {k: v for k, v in gaussian["adjusted"].items() if k.startswith("scale_")}
        for effect in EFFECTS:
            if len(scales) == len(codebook.elements):
                test_rows.append(
                    {
                        "inference": "analytic",
                        "instrument": instrument,
                        "outcome": "joint_7s",
                        "outcome_label": "the seven 7S scale scores together",
                        "outcome_kind": "scale",
                        "family": "gaussian",
                        "model": "adjusted",
                        "effect": f"{effect}, joint across the seven scales",
                        "contrast": EFFECTS[effect][2],
                        "test": "Wald F (design df), stacked influence",
                        "n_smaller_group": min(
                            min(_group_sizes(prepared, o, ADJUSTED_TERMS, effect))
                            for o in outcomes
                            if o.kind == "scale"
                        ),
                    }
                    | joint_test(prepared, scales, effect)
                )
        # The marginal difference of the overall score under the descriptive design (fpc), beside.
        overall = next(o for o in outcomes if o.name == OVERALL)
        descriptive_design = narrow(DESIGNS[instrument], rows, [OVERALL, "tier", "maturity"])
        marginal = []
        for effect in EFFECTS:
            fit = svyglm(descriptive_design, OVERALL, [effect])
            marginal.append({"effect": effect, "n": fit.n} | effect_row(fit, effect, fit.df_residual))
        descriptive[instrument] = pd.DataFrame(marginal)
        del overall
    table = pd.DataFrame(effect_rows)
    primary_keys = {(t.instrument, t.headline) for t in config.primary_tests if t.outcome == OVERALL}
    is_primary = [
        (i, e) in primary_keys and o == OVERALL and m == "adjusted"
        for i, e, o, m in zip(
            table["instrument"], table["effect"], table["outcome"], table["model"], strict=True
        )
    ]
    table = table.assign(
        role=np.where(
            is_primary, "primary", np.where(table["model"] == "adjusted", "secondary", "supporting")
        ),
        n_smaller_group=table[["n_a", "n_b"]].min(axis=1),
    )
    # Marginal and interaction-model effects support the adjusted ones; FDR runs over the adjusted
    # secondary tests (items and scales), each family separately.
    table = add_secondary_fdr(table)
    table = table.assign(favourable_estimate=table["estimate"] * table["favourable_sign"])
    tests = pd.DataFrame(test_rows)
    marker = "SYNTHETIC" if config.synthetic_data else "survey"
    primary = primary_table(config.primary_tests, table, tests, descriptive)
    partner, imputation_record = partner_imputation(data, codebook, config)
    tables = {
        "models": _finish(table, config, COLUMNS, STATISTICS),
        "model_tests": _finish(tests, config, None, ["statistic", "p"]),
        "primary_tests": _finish(
            primary,
            config,
            None,
            [
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "statistic",
                "p",
                "marginal_estimate",
                "marginal_ci_low",
                "marginal_ci_high",
                "marginal_p",
            ],
        ),
        "partner_imputation": _finish(
            partner, config, None, ["estimate", "se", "ci_low", "ci_high", "statistic", "p"]
        ),
    }
    record = {
        "synthetic_data": config.synthetic_data,
        "data": marker,
        "inference": {k: vars(v) for k, v in INFERENCE.items()},
        "designs": {
            "analytic": {k: d.to_dict() for k, d in ANALYTIC_DESIGNS.items()},
            "descriptive_marginal": {k: DESIGNS[k].to_dict() for k in INSTRUMENTS},
        },
        "primary_tests": [
            vars(t) | {"estimand": ESTIMANDS[(t.headline, t.outcome)].format(instrument=t.instrument)}
            for t in config.primary_tests
        ],
        "maturity_definition": models_maturity_definition(config),
        "terms": {"marginal": "one effect alone", **{k: list(v) for k, v in MODEL_TERMS.items()}},
        "covariates": {
            "deprivation": "IMD 2007 mean LSOA score of the area",
            "laa_first_round": "LAA agreed in the first round",
            "region": "Government Office region",
        },
        "secondary_fdr": "Benjamini-Hochberg within instrument x effect x model x outcome kind x family",
        "partner_imputation": imputation_record,
        "stratum": STRATUM,
    }
    return {"tables": tables, "record": record}


def _finish(
    table: pd.DataFrame, config: Config, columns: list[str] | None, statistics: list[str]
) -> pd.DataFrame:
    table = table.assign(data="SYNTHETIC" if config.synthetic_data else "survey")
    if columns is not None:
        for column in columns:
            if column not in table:
                table[column] = np.nan
        table = table[columns + [c for c in table.columns if c not in columns]]
    else:
        table = table[["data", *[c for c in table.columns if c != "data"]]]
    # A model's effect rests on both groups compared: the smaller decides whether it is published.
    return suppress(table, config.min_cell, statistics, [], base_column="n_smaller_group")


TABLE_NAMES = ("primary_tests", "models", "model_tests", "partner_imputation")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out-dir", "{analysis_dir}/tables", "where to write the tables")
    arguments, config = parse_stage_arguments(parser, argv)
    if not arguments.base.exists():
        raise PipelineError(f"{relative_to_root(arguments.base)}: not found; run `make derive` first")
    base = pd.read_parquet(arguments.base)
    codebook = load_codebook(config.codebook)
    result = models(base, read_frame(config.frame), codebook, config)
    for name in TABLE_NAMES:
        table = result["tables"][name]
        path = arguments.out_dir / f"{name}.csv"
        write_csv(table.round(10), path)
        log.info("wrote %s: %d rows", relative_to_root(path), len(table))
    write_json(
        config.analysis_dir / "models_manifest.json",
        result["record"] | {"inputs": {relative_to_root(arguments.base): sha256_file(arguments.base)}},
    )


if __name__ == "__main__":
    run_stage("models", main)
