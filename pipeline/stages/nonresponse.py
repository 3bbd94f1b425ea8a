"""Nonresponse stage: who answered, how representative the response was, and what the weighting does.

What is described, and for which population: the 388 LSPs of the 2008 frame (descriptive), and whether
each LSP's coordinator answered and whether any of its board partners did. Response is known for every
LSP of the frame, so the comparisons of respondents with the frame are exact counts, not estimates;
the tests and the response-propensity model treat response as the outcome of a random process (an
analytic question: would LSPs like these respond like this again?).

Tables written to analysis/tables/ (the output registry describes every column):
- nonresponse_frame_comparison.csv: respondents against the frame on every usable frame variable
  (authority type, tier, region, LAA round, IMD band, IMD score, share of most-deprived LSOAs, size,
  case-study flag), for coordinators and for the LSPs that sent partners, with the share each level
  would have under the primary weights and a test of response against the variable;
- nonresponse_propensity.csv: a logistic response-propensity model on the frame variables, its
  likelihood-ratio tests (against no variables, and against authority type alone);
- nonresponse_r_indicators.csv: the R-indicator (Schouten, Cobben and Bethlehem 2009), the coefficient
  of variation of the propensities, and the unconditional and conditional partial R-indicators
  (Schouten, Shlomo and Skinner 2011) by variable and category, with bootstrap SEs;
- weight_diagnostics.csv: every weighting of coordinators and of partner LSPs (range, CV, Kish design
  effect, g-weights, trimming, merged cells);
- weighting_sensitivity.csv: the headline estimates (7S scale means, tier and maturity differences)
  under every weighting, and their change from the type-only weights;
- weighting_se_ratios.csv: replicate-weight SEs (JKn and bootstrap, recalibrated per replicate) over
  the linearised SEs of the main estimates under the primary weighting; above
  ``weighting.replicate_check_max_lsps`` frame LSPs, on a seeded random subsample of that many LSPs
  (`replicate_check_survey`; the ``frame_lsps`` column says which).

The four blank frame columns (no source found) are never read.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv
from pipeline.core.paths import relative_to_root
from pipeline.study.designs import StudyDesigns, design_columns, population_rows, prepare_designs
from pipeline.study.disclosure import suppress
from pipeline.study.estimation import comparisons, estimates
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import group_column, outcome_columns
from pipeline.study.respondents import read_analysis_base
from pipeline.study.schemas import check_output
from pipeline.study.vocabulary import scale_column
from pipeline.study.weighting import (
    CATEGORICAL_FRAME_VARIABLES,
    NUMERIC_FRAME_VARIABLES,
    WeightingSpec,
    calibrate_population,
    calibrator,
    frame_variables,
    replicate_calibrator,
)
from pipeline.survey import svymean
from pipeline.survey.patterns import distinct_rows
from pipeline.survey.replicate import bootstrap, jackknife, replicate_mean

log = logging.getLogger("pipeline.stages.nonresponse")

UNITS = {"coordinator": "coordinator answered", "partner": "at least one board partner answered"}
# The propensity model: every categorical frame variable except tier (a grouping of authority type).
MODEL_VARIABLES = ("authority_type", "region", "laa_round", "imd_band", "case_study")
R_INDICATOR_BOOTSTRAP = 200
# The delete-one-PSU jackknife holds one replicate per PSU, each a weight per row: PSUs x rows numbers,
# 36 MB for the bundled survey's coordinators, 3 GB at 100 times its size, 290 GB at 1,000 times. Above
# this many PSUs the JKn column is left empty (and its replicates 0); the bootstrap's fixed number of
# replicates still checks the linearisation.
JACKKNIFE_MAX_PSUS = 5_000
TABLES = (
    "nonresponse_frame_comparison",
    "nonresponse_propensity",
    "nonresponse_r_indicators",
    "weight_diagnostics",
    "weighting_sensitivity",
    "weighting_se_ratios",
)


def response_indicators(base: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame variables of every LSP and whether its coordinator, and any partner, answered."""
    lsps = frame_variables(frame)
    respondent_type = base["respondent_type"].to_numpy()
    respondent_lsps = base["lsp_id"].astype(str).to_numpy(dtype=object)
    frame_lsps = lsps["lsp_id"].to_numpy(dtype=object)
    answered = {}
    for instrument in UNITS:
        # The distinct ids that answered, looked up by index (not a Python set of every respondent's id
        # and a membership test per frame LSP).
        ids = pd.Index(pd.unique(respondent_lsps[respondent_type == instrument]))
        answered[instrument] = ids.get_indexer(frame_lsps) >= 0
    return lsps.assign(**answered)


def _primary_unit_weights(designs: StudyDesigns, instrument: str) -> pd.Series:
    design = designs[instrument]
    return pd.Series(design.weights, index=design.data["lsp_id"].astype(str)).groupby(level=0).first()


# ---------------------------------------------------------------------------------- respondents vs frame


def frame_comparison(
    indicators: pd.DataFrame,
    designs: StudyDesigns | None,
    min_cell: int,
    unit_weights: dict[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Respondents against the frame on every usable frame variable, per instrument (the weighted shares
    on the primary weighting's `designs`, or on their ``unit_weights``: each instrument's weight by LSP,
    `Weightings.primary_unit_weights`)."""
    rows = []
    for instrument in UNITS:
        responded = indicators[instrument]
        by_lsp = unit_weights[instrument] if unit_weights else _primary_unit_weights(designs, instrument)
        weights = indicators["lsp_id"].map(by_lsp).fillna(0.0)
        for variable in CATEGORICAL_FRAME_VARIABLES:
            values = indicators[variable].astype(str)
            table = pd.crosstab(values, responded).reindex(columns=[False, True], fill_value=0)
            chi2, p, dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
            for level, counts in table.iterrows():
                in_level = values.eq(level)
                rows.append(
                    {
                        "instrument": instrument,
                        "variable": variable,
                        "level": level,
                        "frame_lsps": int(in_level.sum()),
                        "responding_lsps": int(counts[True]),
                        "response_rate": 100 * counts[True] / in_level.sum(),
                        "frame_pct": 100 * in_level.mean(),
                        "respondent_pct": 100 * counts[True] / responded.sum(),
                        "weighted_pct": 100 * weights[in_level].sum() / weights.sum(),
                        "test": "Pearson chi-square, response by level",
                        "statistic": chi2,
                        "df": dof,
                        "p": p,
                    }
                )
        for variable in NUMERIC_FRAME_VARIABLES:
            x = indicators[variable].astype(float)
            t = stats.ttest_ind(x[responded], x[~responded], equal_var=False)
            rows.append(
                {
                    "instrument": instrument,
                    "variable": variable,
                    "level": "mean",
                    "frame_lsps": len(x),
                    "responding_lsps": int(responded.sum()),
                    "response_rate": 100 * responded.mean(),
                    "frame_mean": x.mean(),
                    "respondent_mean": x[responded].mean(),
                    "nonrespondent_mean": x[~responded].mean(),
                    "weighted_mean": float((weights * x).sum() / weights.sum()),
                    "test": "Welch t, respondents against nonrespondents",
                    "statistic": t.statistic,
                    "df": t.df,
                    "p": t.pvalue,
                }
            )
    table = pd.DataFrame(rows)
    # A response rate of a frame cell with few responding LSPs would tell which LSPs answered.
    return suppress(
        table,
        min_cell,
        ["response_rate", "respondent_pct", "weighted_pct", "frame_lsps"],
        [],
        base_column="responding_lsps",
    )


# --------------------------------------------------------------------------------- propensity model


def _model_matrix(indicators: pd.DataFrame, variables: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Intercept and treatment dummies (first sorted level as reference), aliased columns dropped."""
    columns, names = [np.ones(len(indicators))], ["(intercept)"]
    for variable in variables:
        # Each variable's text and level codes once (not a text comparison per level).
        text = indicators[variable].astype(str)
        levels = sorted(text.unique())
        codes = pd.Categorical(text, categories=levels).codes
        for code, level in enumerate(levels[1:], start=1):
            columns.append((codes == code).astype(float))
            names.append(f"{variable}={level}")
    x = np.column_stack(columns)
    # The rank of columns is that of their distinct rows: a few hundred patterns of levels, however
    # many LSPs the frame lists (an SVD of every LSP per column took minutes at 388,000 LSPs; sorting
    # the rows to find them, as np.unique(axis=0) does, seconds per model).
    patterns, _ = distinct_rows(x)
    keep: list[int] = []
    for j in range(x.shape[1]):
        # London is one region and one authority type: keep a column only if it adds rank.
        if np.linalg.matrix_rank(patterns[:, [*keep, j]]) == len(keep) + 1:
            keep.append(j)
    return x[:, keep], [names[j] for j in keep]


def _logit_fit(
    x: np.ndarray, y: np.ndarray, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Maximum-likelihood logistic regression by Newton steps: coefficients, covariance, log-likelihood.

    ``counts`` are frequency weights (how many LSPs each row stands for); ``None`` counts each row once.
    """
    f = np.ones(len(y)) if counts is None else np.asarray(counts, dtype=float)
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x @ beta)))
        information = (x * (f * p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(information + 1e-10 * np.eye(x.shape[1]), x.T @ (f * (y - p)))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = np.clip(1 / (1 + np.exp(-(x @ beta))), 1e-15, 1 - 1e-15)
    information = (x * (f * p * (1 - p))[:, None]).T @ x
    loglik = float(np.sum(f * (y * np.log(p) + (1 - y) * np.log(1 - p))))
    return beta, np.linalg.pinv(information), loglik


def propensities(indicators: pd.DataFrame, instrument: str, variables=MODEL_VARIABLES) -> np.ndarray:
    """Fitted response propensities of every LSP of the frame."""
    x, _ = _model_matrix(indicators, variables)
    beta, _, _ = _logit_fit(x, indicators[instrument].to_numpy(dtype=float))
    return 1 / (1 + np.exp(-(x @ beta)))


def propensity_model(indicators: pd.DataFrame) -> pd.DataFrame:
    """Coefficients (log-odds and odds ratios) and likelihood-ratio tests of the propensity model."""
    rows = []
    for instrument in UNITS:
        y = indicators[instrument].to_numpy(dtype=float)
        x, names = _model_matrix(indicators, MODEL_VARIABLES)
        beta, cov, loglik = _logit_fit(x, y)
        se = np.sqrt(np.diag(cov))
        z = beta / se
        for name, b, s, zz in zip(names, beta, se, z, strict=True):
            rows.append(
                {
                    "instrument": instrument,
                    "term": name,
                    "estimate": b,
                    "se": s,
                    "odds_ratio": np.exp(b),
                    "or_ci_low": np.exp(b - 1.959963984540054 * s),
                    "or_ci_high": np.exp(b + 1.959963984540054 * s),
                    "test": "Wald z",
                    "statistic": zz,
                    "df": np.nan,
                    "p": 2 * stats.norm.sf(abs(zz)),
                }
            )
        for label, reduced in (
            ("likelihood ratio: all frame variables against none", ()),
            ("likelihood ratio: frame variables beyond authority type", ("authority_type",)),
        ):
            xr, _ = _model_matrix(indicators, reduced)
            _, _, loglik_r = _logit_fit(xr, y)
            statistic = 2 * (loglik - loglik_r)
            df = x.shape[1] - xr.shape[1]
            rows.append(
                {
                    "instrument": instrument,
                    "term": "(model)",
                    "test": label,
                    "statistic": statistic,
                    "df": df,
                    "p": stats.chi2.sf(statistic, df),
                }
            )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- R-indicators


def _codes(indicators: pd.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
    """Integer codes (LSPs x model variables) and the sorted levels of each variable."""
    levels = [sorted(indicators[v].astype(str).unique()) for v in MODEL_VARIABLES]
    codes = np.column_stack(
        [
            pd.Categorical(indicators[v].astype(str), categories=lv).codes
            for v, lv in zip(MODEL_VARIABLES, levels, strict=True)
        ]
    )
    return codes.astype(np.int64), levels


def _group_means(values: np.ndarray, groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    sums = np.bincount(groups, weights=counts * values)
    sizes = np.bincount(groups, weights=counts)
    return (sums / np.where(sizes > 0, sizes, 1.0))[groups]


def r_indicators_of(
    rho: np.ndarray, codes: np.ndarray, levels: list[list[str]], counts: np.ndarray | None = None
) -> np.ndarray:
    """R-indicator, mean, CV and partial R-indicators of propensities ``rho`` (order of `_r_labels`).

    ``counts`` are frequency weights: how many LSPs each row stands for (a bootstrap replicate counts
    each distinct LSP pattern as often as it was drawn); ``None`` counts each row once.
    """
    f = np.ones(rho.size) if counts is None else np.asarray(counts, dtype=float)
    n = f.sum()
    mean = float(f @ rho) / n
    s = np.sqrt(float(f @ (rho - mean) ** 2) / (n - 1))
    out = [1 - 2 * s, mean, s / mean]
    radix = np.array([len(lv) for lv in levels])
    for j, variable_levels in enumerate(levels):
        others = [k for k in range(len(levels)) if k != j]
        cell = np.zeros(rho.size, dtype=np.int64)
        for k in others:
            cell = cell * radix[k] + codes[:, k]
        cell = np.unique(cell, return_inverse=True)[1]
        within = (rho - _group_means(rho, cell, f)) ** 2
        level_mean = _group_means(rho, codes[:, j], f)
        out.append(np.sqrt(float(f @ (level_mean - mean) ** 2) / (n - 1)))
        out.append(np.sqrt(float(f @ within) / (n - 1)))
        for level in range(len(variable_levels)):
            k = codes[:, j] == level
            size = f[k].sum()
            present = size > 0
            out.append(np.sqrt(size / (n - 1)) * (float(f[k] @ rho[k]) / size - mean) if present else np.nan)
            out.append(np.sqrt(float(f[k] @ within[k]) / (n - 1)) if present else np.nan)
    return np.array(out)


def _r_labels(levels: list[list[str]]) -> list[tuple[str, str, str]]:
    labels = [
        ("R-indicator", "", ""),
        ("mean propensity", "", ""),
        ("coefficient of variation of propensities", "", ""),
    ]
    unconditional, conditional = "partial R-indicator, unconditional", "partial R-indicator, conditional"
    for variable, variable_levels in zip(MODEL_VARIABLES, levels, strict=True):
        labels += [(unconditional, variable, ""), (conditional, variable, "")]
        for level in variable_levels:
            labels += [(unconditional, variable, level), (conditional, variable, level)]
    return labels


def r_indicators(
    indicators: pd.DataFrame, seed: int, replicates: int = R_INDICATOR_BOOTSTRAP
) -> pd.DataFrame:
    """R-indicators with bootstrap SEs (the frame resampled with its response, the model refitted).

    Propensities come from the logistic model of `propensity_model`; every indicator is computed over
    the 388 LSPs of the frame (no sampling weights: the frame is a census), with ``n - 1`` divisors as
    in Schouten, Shlomo and Skinner (2011).
    """
    rng = np.random.default_rng(seed)
    codes, levels = _codes(indicators)
    x, _ = _model_matrix(indicators, MODEL_VARIABLES)
    labels = _r_labels(levels)
    tables = []
    radix = np.array([len(lv) for lv in levels])
    for instrument in UNITS:
        y = indicators[instrument].to_numpy(dtype=float)
        beta, _, _ = _logit_fit(x, y)
        point = r_indicators_of(1 / (1 + np.exp(-(x @ beta))), codes, levels)
        # The model and the indicators see an LSP only through its levels of the model variables and its
        # response: a replicate is the number of times each such pattern was drawn, so each refit runs
        # on the few hundred patterns, not on every drawn LSP (the same numbers, to rounding).
        key = y.astype(np.int64)
        for k in range(codes.shape[1]):
            key = key * radix[k] + codes[:, k]
        _, first, pattern = np.unique(key, return_index=True, return_inverse=True)
        x_p, y_p, codes_p = x[first], y[first], codes[first]
        draws = []
        for _ in range(replicates):
            take = rng.integers(0, len(y), len(y))
            counts = np.bincount(pattern[take], minlength=first.size).astype(float)
            beta_b, _, _ = _logit_fit(x_p, y_p, counts)
            draws.append(r_indicators_of(1 / (1 + np.exp(-(x_p @ beta_b))), codes_p, levels, counts))
        se = np.nanstd(np.vstack(draws), axis=0, ddof=1)
        tables.append(
            pd.DataFrame(labels, columns=["measure", "variable", "level"]).assign(
                instrument=instrument, value=point, se=se, bootstrap_replicates=replicates
            )
        )
    table = pd.concat(tables, ignore_index=True)
    return table[["instrument", "measure", "variable", "level", "value", "se", "bootstrap_replicates"]]


# ------------------------------------------------------------------------------- weighting sensitivity


def _headline_outcomes(outcomes):
    return [o for o in outcomes if o.item.startswith("scale_") and o.measure == "mean"]


def designs_for(data: pd.DataFrame, frame: pd.DataFrame, spec: WeightingSpec, method: str, populations):
    """The weighted designs under one weighting, or the unweighted designs."""
    if method == "unweighted":
        return prepare_designs(data, "unweighted", populations)
    return prepare_designs(data, "weighted", populations, calibrator(frame, spec, method))


class Weightings:
    """Every weighting of one set of type-only designs, each population calibrated once per weighting.

    ``weightings(method)`` is `designs_for`'s weighted designs (the same calibration of the same prepared
    rows: `pipeline.study.weighting.calibrator`); each call keeps the coordinators' and partners'
    weight diagnostics, so `diagnostics` is `weight_diagnostics` without calibrating every weighting
    again, and the primary weighting's weights by LSP (`primary_unit_weights`, what the frame comparison
    reads) are kept; the designs themselves are not (each weighting's calibrated designs of every
    population held 0.5 GB at Place-Survey size). Preparing and calibrating each population for each of
    the tables in turn was most of the stage's time at that size.
    """

    def __init__(self, type_only: StudyDesigns, frame: pd.DataFrame, spec: WeightingSpec) -> None:
        self.type_only, self.spec = type_only, spec
        self.frame_vars = frame_variables(frame)
        self.by_method: dict[str, list] = {}
        self.primary_unit_weights: dict[str, pd.Series] = {}

    def __call__(self, method: str) -> StudyDesigns:
        by_population, diagnostics = {}, []
        for name, design in self.type_only.by_population.items():
            by_population[name], rows = calibrate_population(design, name, self.frame_vars, self.spec, method)
            if name in UNITS:
                diagnostics += rows
        self.by_method[method] = diagnostics
        designs = StudyDesigns("weighted", by_population)
        if method == self.spec.primary:
            self.primary_unit_weights = {i: _primary_unit_weights(designs, i) for i in UNITS}
        return designs

    def diagnostics(self) -> pd.DataFrame:
        """`pipeline.study.weighting.weight_diagnostics` of the designs: every weighting's rows (each
        weighting calibrated here if it has not been yet)."""
        rows = []
        for method in dict.fromkeys(("type_only", *self.spec.methods)):
            if method not in self.by_method:
                self(method)
            rows += [d.__dict__ | {"primary": method == self.spec.primary} for d in self.by_method[method]]
        return pd.DataFrame(rows)


def weighting_sensitivity(
    data: pd.DataFrame,
    outcomes,
    frame: pd.DataFrame,
    config: Config,
    populations: dict[str, pd.DataFrame] | None = None,
    weightings: Weightings | None = None,
) -> pd.DataFrame:
    """The 7S scale means and their tier and maturity differences under every weighting (``populations``:
    `population_rows` of `data`, when the caller has them; ``weightings``: the weighted designs of
    each weighting, from the caller's type-only designs of them)."""
    spec = config.weighting
    headline = _headline_outcomes(outcomes)
    populations = population_rows(data) if populations is None else populations
    parts = []
    for method in (*dict.fromkeys((*spec.methods, "type_only")), "unweighted"):
        if weightings is not None and method != "unweighted":
            designs = weightings(method)
        else:
            designs = designs_for(data, frame, spec, method, populations)
        labelled = StudyDesigns("weighted" if method != "unweighted" else "unweighted", designs.by_population)
        # Only the whole population's levels are reported: no breakdown is estimated.
        levels = estimates(labelled, headline, config, only=("all",))
        levels = levels[levels["group"].eq("all") & levels["instrument"].isin(UNITS)]
        differences = comparisons(labelled, headline, config)
        differences = differences[differences["test"].eq("difference (design-based t)")]
        for table, quantity in ((levels, "level"), (differences, None)):
            parts.append(
                table.assign(
                    weighting=method,
                    quantity=quantity
                    if quantity
                    else table["group"] + " difference (" + table["level"] + ")",
                )
            )
        # One weighting's designs at a time: the next is calibrated after these are let go.
        del designs, labelled
    table = pd.concat(parts, ignore_index=True)
    keep = [
        "instrument",
        "item",
        "element",
        "quantity",
        "weighting",
        "n",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "p",
    ]
    table = table[keep]
    reference = table[table["weighting"].eq("type_only")].set_index(["instrument", "item", "quantity"])[
        "estimate"
    ]
    table["change_from_type_only"] = table["estimate"] - pd.MultiIndex.from_frame(
        table[["instrument", "item", "quantity"]]
    ).map(reference.to_dict().get).astype(float)
    table["primary"] = table["weighting"].eq(spec.primary)
    return table.reset_index(drop=True)


def replicate_check_survey(
    base: pd.DataFrame, frame: pd.DataFrame, spec: WeightingSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The survey the replicate check runs on: the whole one, or above ``spec.replicate_check_max_lsps``
    frame LSPs a simple random subsample of that many (seeded by the bootstrap's seed, in frame order)
    with their respondents, a survey of the same design that a frame of that size would give.

    Recalibrating hundreds of replicates holds rows x replicates weights: 2 GB and minutes at 1,000
    times the bundled survey. The check asks whether the linearised SEs agree with replicate SEs under
    this design and weighting, which a survey of a few thousand LSPs answers as well as a larger one.
    """
    if len(frame) <= spec.replicate_check_max_lsps:
        return base, frame
    rng = np.random.default_rng(spec.seed)
    chosen = np.sort(rng.choice(len(frame), size=spec.replicate_check_max_lsps, replace=False))
    subsample = frame.iloc[chosen].reset_index(drop=True)
    ids = set(subsample["lsp_id"].astype(str))
    kept = base[base["lsp_id"].astype(str).isin(ids)].reset_index(drop=True)
    log.info(
        "replicate check on a random subsample of %d of the frame's %d LSPs (%d of %d respondents): "
        "weighting.replicate_check_max_lsps",
        len(subsample),
        len(frame),
        len(kept),
        len(base),
    )
    return kept, subsample


def se_ratios(data: pd.DataFrame, outcomes, frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Replicate SEs (JKn; bootstrap) recalibrated per replicate, over the linearised SEs."""
    spec = config.weighting
    frame_vars = frame_variables(frame)
    populations = population_rows(data)
    type_only = prepare_designs(data, "weighted", populations)
    primary = designs_for(data, frame, spec, spec.primary, populations)
    rows = []
    for instrument in UNITS:
        base_design = type_only[instrument]
        g = replicate_calibrator(base_design, instrument, frame_vars, spec, spec.primary)
        full = primary[instrument].weights
        replicates = {}
        if base_design.psu_stratum.size <= JACKKNIFE_MAX_PSUS:
            replicates["JKn"] = jackknife(base_design, "JKn").recalibrated(g, full, reuse=True)
        else:
            log.info(
                "%s: %d PSUs, more than %d: no JKn replicates (the bootstrap checks the linearisation)",
                instrument,
                base_design.psu_stratum.size,
                JACKKNIFE_MAX_PSUS,
            )
        replicates["bootstrap"] = bootstrap(base_design, spec.bootstrap_replicates, spec.seed).recalibrated(
            g, full, reuse=True
        )
        tiers = base_design.data["tier"].astype(str).to_numpy()
        for outcome in _headline_outcomes(outcomes):
            if instrument not in outcome.instruments:
                continue
            y = base_design.data[outcome.column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            for level, domain in (("all", None), ("single", tiers == "single"), ("multi", tiers == "multi")):
                linear = svymean(primary[instrument], y, domain=domain)
                row = {
                    "instrument": instrument,
                    "item": outcome.item,
                    "element": outcome.element,
                    "group": "all" if domain is None else "tier",
                    "level": level,
                    "weighting": spec.primary,
                    "n": int(linear.n),
                    "estimate": linear.estimate,
                    "se_linearised": linear.se,
                }
                for kind in ("JKn", "bootstrap"):
                    if kind not in replicates:
                        row |= {f"se_{kind.lower()}": np.nan, f"ratio_{kind.lower()}": np.nan}
                        row[f"replicates_{kind.lower()}"] = 0
                        continue
                    est = replicate_mean(replicates[kind], y, domain)
                    row[f"se_{kind.lower()}"] = est.se
                    row[f"ratio_{kind.lower()}"] = est.se / linear.se
                    row[f"replicates_{kind.lower()}"] = est.n_replicates
                rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- the stage


def _item_columns(codebook: Codebook) -> set[str]:
    return {v.name for v in codebook.variables if v.type in ("likert5", "free_text")}


def _without_items(base: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """The analysis base less the Likert items' and free-text answers, which no table of the stage reads
    (its estimates are of the scale scores, which the base carries)."""
    items = _item_columns(codebook)
    return base[[c for c in base.columns if c not in items]]


def _columns_read(codebook: Codebook, config: Config) -> set[str]:
    """The analysis-base columns the stage reads: who and where each respondent is, the design's
    columns, the 7S scale scores and the groups the sensitivity compares them by."""
    columns = {"respondent_id", "lsp_id", "respondent_type", "authority_type", "tier"}
    for element in codebook.elements:
        columns |= {scale_column(element), f"{scale_column(element)}_positive"}
        columns.add(group_column(config, "maturity", element))
    return columns


def nonresponse(
    base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config
) -> dict[str, pd.DataFrame]:
    """Every table of the stage."""
    if config.weighting is None:
        raise PipelineError("config: the weighting section is missing")
    indicators = response_indicators(base, frame)
    check_base, check_frame = replicate_check_survey(base, frame, config.weighting)
    # Every estimate of the stage is of a 7S scale score (`_headline_outcomes`): the items' outcome
    # columns, and the items' own answers, are not built or held, and the base is let go once the
    # stage's columns are built (at Place-Survey size they were most of the stage's memory).
    data, outcomes = outcome_columns(design_columns(_without_items(base, codebook), frame), codebook, ())
    if check_frame is frame:
        check_data = data
    else:
        check_data, _ = outcome_columns(
            design_columns(_without_items(check_base, codebook), check_frame), codebook, ()
        )
    del base, check_base
    populations = population_rows(data)
    label = "SYNTHETIC" if config.synthetic_data else "survey"
    weightings = Weightings(prepare_designs(data, "weighted", populations), frame, config.weighting)
    # The sensitivity calibrates every weighting, the primary among them: the frame comparison then
    # reads the primary weights by LSP, and the diagnostics every weighting's, from those calibrations.
    sensitivity = weighting_sensitivity(data, outcomes, frame, config, populations, weightings)
    tables = {
        "nonresponse_frame_comparison": frame_comparison(
            indicators, None, config.min_cell, weightings.primary_unit_weights
        ),
        "nonresponse_propensity": propensity_model(indicators),
        "nonresponse_r_indicators": r_indicators(indicators, config.weighting.seed),
        "weighting_sensitivity": sensitivity,
        "weight_diagnostics": weightings.diagnostics(),
        "weighting_se_ratios": se_ratios(check_data, outcomes, check_frame, config).assign(
            frame_lsps=len(check_frame)
        ),
    }
    return {name: tables[name].assign(data=label) for name in TABLES}


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out-dir", "{analysis_dir}/tables", "where to write the tables")
    arguments, config = parse_stage_arguments(parser, argv)
    frame = read_frame(config.frame)
    codebook = load_codebook(config.codebook)
    # Only the columns the stage reads are read from the file (the items' answers, the other questions
    # and the frame columns the designs do not use were a fifth of its memory at Place-Survey size).
    # (Handed over without a name here, so the stage can let the base go once its columns are built.)
    tables = nonresponse(
        read_analysis_base(arguments.base, only=_columns_read(codebook, config)), frame, codebook, config
    )
    for name, table in tables.items():
        check_output(name, table, codebook)  # the registry's columns and kinds (pipeline.study.outputs)
        path = arguments.out_dir / f"{name}.csv"
        write_csv(table.round(10), path)
        log.info("wrote %s: %d rows", relative_to_root(path), len(table))


if __name__ == "__main__":
    run_stage("nonresponse", main)
