"""The models stage's table builders: every outcome's marginal, adjusted and interaction fits, the joint
tests across the scales, the FDR of the secondary tests and the marginal differences (models.csv,
model_tests.csv; pipeline/stages/models.py).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from pipeline.stages.models_spec import (
    COVARIATES,
    EFFECTS,
    INTERACTION,
    LEVEL,
    MARGINAL_OUTCOME,
    MATURITY_LEVELS,
    MODEL_TERMS,
    OVERALL,
    SCALES,
    TIER_LEVELS,
    ModelOutcome,
)
from pipeline.study.designs import Weigh, narrow
from pipeline.survey import PreparedDesign, SurveyDesign, SurveyDesignError, p_adjust_bh, t_quantile
from pipeline.survey.glm import GLMFit, joint_covariance, svyglm, two_sided_p, wald_test
from pipeline.survey.olr import OrdinalFit, svyolr
from pipeline.survey.terms import CodedColumn, coded_column

# The stage's one logger: a fit's warnings read as the models stage's lines.
log = logging.getLogger("pipeline.stages.models")

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


def model_design(
    design: SurveyDesign, data: pd.DataFrame, outcomes: list[ModelOutcome], weigh: Weigh, instrument: str
) -> PreparedDesign:
    """`design` prepared over `data`'s outcome, effect and covariate columns, weighted by `weigh`: every
    fit of the instrument is a domain of it (one calibration for all of them)."""
    columns = [o.column for o in outcomes] + ["tier", "maturity", *COVARIATES]
    return narrow(design, data, dict.fromkeys(columns), weigh, instrument)


def _fit(
    design: PreparedDesign,
    outcome: ModelOutcome,
    terms: tuple[str, ...],
    start: Any = None,
    df_adjust: bool = False,
) -> Any:
    if outcome.family == "ordinal":
        return svyolr(
            design,
            outcome.column,
            list(terms),
            hessian="analytic",
            start=start,
            df_adjust=df_adjust,
            influence=False,
        )
    return svyglm(
        design, outcome.column, list(terms), family=outcome.family, df_adjust=df_adjust, influence=False
    )


def _fit_rows(design: PreparedDesign, terms: tuple[str, ...]) -> np.ndarray:
    """Rows with every column of `terms` present: the first is the outcome, read as it is; the model's
    columns are coded once per design (coding and keeping every item's column beside the design cost
    hundreds of MB at Place-Survey size)."""
    present = design.data[terms[0]].notna().to_numpy(copy=True)
    for col in {c for t in terms[1:] for c in t.split(":")} - {terms[0]}:
        present &= coded_column(design, col).present
    return present


def _level_counts(
    design: PreparedDesign, column: str, rows: np.ndarray, levels: tuple[str, ...]
) -> list[int]:
    """How many of `rows` have each of `levels` in a factor column."""
    coded = coded_column(design, column)
    counts = np.bincount(coded.codes[rows & coded.present], minlength=len(coded.uniques))
    return [int(counts[coded.uniques.index(level)]) if level in coded.uniques else 0 for level in levels]


def group_sizes(
    design: PreparedDesign,
    outcome: ModelOutcome,
    terms: tuple[str, ...],
    effect: str,
    rows: np.ndarray | None = None,
) -> tuple[int, int]:
    """The two groups' respondents among the rows the fit uses (``rows``: those, when known)."""
    if rows is None:
        rows = _fit_rows(design, (outcome.column, *terms))
    first, reference = _levels(effect)
    n_first, n_reference = _level_counts(design, EFFECTS[effect][0], rows, (first, reference))
    return n_first, n_reference


def _smallest_cell(design: PreparedDesign, rows: np.ndarray) -> int:
    """The smallest of the four tier x maturity cells among `rows` (0 when one is empty)."""
    tier, maturity = coded_column(design, "tier"), coded_column(design, "maturity")
    counts = []
    for tier_level in TIER_LEVELS:
        in_tier = rows & (tier.codes == _code(tier, tier_level))
        counts += _level_counts(design, "maturity", in_tier, MATURITY_LEVELS)
    return min(counts) if maturity.uniques else 0


def _code(coded: CodedColumn, level: str) -> int:
    return coded.uniques.index(level) if level in coded.uniques else -2


def _levels(effect: str) -> tuple[str, str]:
    levels = TIER_LEVELS if effect == "tier" else MATURITY_LEVELS
    return levels[1], levels[0]


def effect_row(fit: GLMFit | OrdinalFit, effect: str, df: float) -> dict[str, float]:
    """Estimate, SE, t-interval and two-sided t test of one effect's coefficient."""
    name = EFFECTS[effect][1]
    beta, se = float(fit.coefficients[name]), float(fit.se[name])
    q = t_quantile(LEVEL, df)
    p = two_sided_p(beta / se, df)
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
    weigh: Weigh = None,
    prepared: PreparedDesign | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, GLMFit]]]:
    """Every outcome's marginal, adjusted and interaction models for one instrument (``df_adjust``:
    the degrees-of-freedom adjustment of every fit's covariance, config ``models.variance_df_adjustment``;
    ``weigh``: the primary weighting, see `narrow`; ``prepared``: that design already prepared over
    `data` with these columns, by `model_design`).

    Returns the effect rows, the interaction test rows, and the adjusted gaussian fits by effect
    model, reduced to the effects' coefficients (`effects_only`: what the joint tests across the
    scales read).
    """
    if prepared is None:
        prepared = model_design(design, data, outcomes, weigh, instrument)
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
        fit_rows: dict[frozenset[str], np.ndarray] = {}
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
                # A start needs the estimates only, not the fit's influence values (rows x coefficients).
                starts[key] = dataclasses.replace(fit, influence=None, collapsed=None)
            df = fit.df_residual
            # The rows the fit used, once for its effects and cells (the same columns, the same rows).
            columns = frozenset(c for t in terms for c in t.split(":"))
            if columns not in fit_rows:
                fit_rows[columns] = _fit_rows(prepared, (outcome.column, *terms))
            for effect in (only,) if only else tuple(EFFECTS):
                n_a, n_b = group_sizes(prepared, outcome, terms, effect, fit_rows[columns])
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
                gaussian_fits["adjusted"][outcome.name] = effects_only(fit)
            if model == "interaction":
                wt = wald_test(fit.coefficients, fit.vcov, fit.terms[INTERACTION], df)
                tests.append(
                    common
                    | {
                        "model": model,
                        "effect": "tier x maturity",
                        "contrast": "interaction (regTermTest)",
                        "n": fit.n,
                        "n_smaller_group": _smallest_cell(prepared, fit_rows[columns]),
                        "test": "Wald F (design df)",
                        "statistic": wt.statistic,
                        "df": wt.ndf,
                        "df2": wt.ddf,
                        "p": wt.p,
                    }
                )
    return rows, tests, gaussian_fits


def effects_only(fit: GLMFit) -> GLMFit:
    """`fit` with the headline effects' coefficients and influence columns alone (what `joint_test`
    reads): eight fits' full influence, rows x coefficients each, held until the joint tests ran,
    were 300 MB at 1,000 times the bundled survey; two columns each are a sixth of it (and a fit on
    collapsed patterns holds one residual per row and two loadings per pattern)."""
    names = [EFFECTS[effect][1] for effect in EFFECTS]
    at = [i for i, name in enumerate(fit.coefficients.index) if name in names]
    if fit.collapsed is not None:
        return dataclasses.replace(
            fit, coefficients=fit.coefficients.iloc[at], collapsed=fit.collapsed.take(at)
        )
    return dataclasses.replace(
        fit, coefficients=fit.coefficients.iloc[at], influence=np.ascontiguousarray(fit.influence[:, at])
    )


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
    cov = pd.DataFrame(
        joint_covariance(design, [fits[o] for o in names], columns), index=names, columns=names
    )
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


def marginal_differences(
    design: SurveyDesign,
    rows: pd.DataFrame,
    weigh: Weigh,
    instrument: str,
    prepared: PreparedDesign | None = None,
) -> pd.DataFrame:
    """Each headline effect alone on the overall score: the weighted difference of means, one row each
    (``prepared``: `design` already prepared and weighted over `rows`, with those columns among others)."""
    if prepared is None:
        prepared = narrow(design, rows, [OVERALL, "tier", "maturity"], weigh, instrument)
    out = []
    for effect in EFFECTS:
        fit = svyglm(prepared, OVERALL, [effect], influence=False)
        n_a, n_b = group_sizes(prepared, MARGINAL_OUTCOME, (effect,), effect)
        out.append(
            {"effect": effect, "n": fit.n, "n_smaller_group": min(n_a, n_b)}
            | effect_row(fit, effect, fit.df_residual)
        )
    return pd.DataFrame(out)
