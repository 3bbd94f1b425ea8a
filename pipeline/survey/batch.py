"""Many means, proportions and domain differences in one pass: the vectorised form of the estimators.

The study estimates every item in every domain: hundreds of ``svymean`` and ``svyciprop`` calls over
the same design. Each call's work is a few array operations, so calling them one by one costs more in
Python overhead than in arithmetic. These functions take a matrix of outcomes (one column per item)
and return arrays, computing the same quantities by the same formulas as ``svymean``,
``svyciprop`` and ``domain_difference``; the tests check them against those functions, which are in
turn checked against R.

Memory: the influence matrix is ``n x columns``; outcomes are processed in column blocks, so a survey
of half a million rows needs a few hundred megabytes, not gigabytes.

Where the design allows it (`pipeline.survey.domains`), a domain's estimates use the domain's rows only,
with the design's PSU counts carried over: the work grows with the domain, not with the population, and
the numbers are those of the zero-padded computation (to rounding: sums in another order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from pipeline.survey import distributions as stats
from pipeline.survey.design import PreparedDesign, group_sum_matrix
from pipeline.survey.domains import variance_plan
from pipeline.survey.small_sample import (
    DF_RULES,
    bell_mccaffrey_applies,
    bell_mccaffrey_df,
    mean_coefficients,
)

BLOCK_COLUMNS = 32


@dataclass(frozen=True)
class BatchMeans:
    """Means of ``k`` outcomes in one domain; every field is a ``(k,)`` array except ``df``.

    ``df`` is the domain's design degrees of freedom (R's ``degf`` of the subset design), the same
    for every outcome because it counts rows whose outcome is missing too; ``df_per_column`` is ``df``
    for each outcome, or its Bell-McCaffrey degrees of freedom (``batch_means(df="bell_mccaffrey")``).
    """

    estimate: np.ndarray
    se: np.ndarray
    n: np.ndarray
    pop_size: np.ndarray
    deff: np.ndarray
    df_per_column: np.ndarray
    df: float


@dataclass(frozen=True)
class BatchDifferences:
    """Differences ``mean_a - mean_b`` of ``k`` outcomes, with the t test of ``domain_difference``."""

    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    t: np.ndarray
    t_df: np.ndarray
    p_t: np.ndarray
    n_a: np.ndarray
    n_b: np.ndarray


def _has_lonely_stratum(design: PreparedDesign) -> bool:
    return bool(np.any(design.n_psu == 1))


def _column_variances(design: PreparedDesign, influence: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Diagonal of ``design.variance`` for each column, each with its own present rows."""
    if _has_lonely_stratum(design):
        # The lonely-PSU rules depend on which strata each estimate reaches: defer to the exact code.
        return np.array(
            [design.variance(influence[:, j], present[:, j])[0, 0] for j in range(influence.shape[1])]
        )
    # With no lonely stratum, the diagonal of design.variance is a per-stratum centred sum of squares.
    calibrated = design.calibrated_influence(influence)
    totals = design.psu_totals(calibrated)
    h = design.psu_stratum
    centred = totals - (design.stratum_totals(totals) / design.n_psu[:, None])[h]
    scale = design.fpc_factor * design.n_psu / np.maximum(design.n_psu - 1, 1)
    scale = np.where(design.fpc_factor < 1e-7, 0.0, scale)
    variances = (scale[h][:, None] * centred**2).sum(axis=0)
    within = design.within_psu_terms(calibrated, totals)
    return variances if within is None else variances + (within**2).sum(axis=0)


def _present_psu_minus_strata(design: PreparedDesign, present: np.ndarray) -> np.ndarray:
    """R's ``degf`` of each column's present rows: distinct PSUs minus distinct strata."""
    psu_reached = design.psu_totals(present.astype(float)) > 0
    strata_reached = design.stratum_totals(psu_reached.astype(float))
    return psu_reached.sum(axis=0) - (strata_reached > 0).sum(axis=0)


def _weighted_block(design: PreparedDesign, values: np.ndarray, rows: np.ndarray, weights=None):
    """Weighted means and influence values of each column over ``rows`` (``weights``: the design's,
    or those of the rows ``values`` holds when it holds a domain's rows only)."""
    present = rows[:, None] & ~np.isnan(values)
    w = np.where(present, (design.weights if weights is None else weights)[:, None], 0.0)
    filled = np.where(present, values, 0.0)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (w * filled).sum(axis=0) / total
        influence = w * (filled - means) / total
    influence[~present] = 0.0
    return present, w, filled, total, means, np.nan_to_num(influence)


def batch_means(
    design: PreparedDesign,
    values: np.ndarray,
    domain: np.ndarray | None = None,
    deff: str = "srswor",
    df: str = "design",
) -> BatchMeans:
    """``svymean`` of every column of ``values`` (NaN = missing) in one domain (``None``: everyone).

    ``df="bell_mccaffrey"`` fills ``BatchMeans.df_per_column`` with each mean's Bell-McCaffrey degrees of
    freedom (`pipeline.survey.small_sample`); with ``"design"`` it is the design's, as R."""
    values = np.asarray(values, dtype=float)
    rows = np.ones(design.n, dtype=bool) if domain is None else np.asarray(domain, dtype=bool)
    parts: dict[str, list[np.ndarray]] = {
        "estimate": [],
        "se": [],
        "n": [],
        "pop_size": [],
        "deff": [],
        "df_per_column": [],
    }
    if df not in DF_RULES:
        raise ValueError(f"df must be one of {DF_RULES}, got {df!r}")
    design_df = design.degf(rows)
    # Bell-McCaffrey's df need every row's coefficients: that rule takes the all-rows path, where it
    # applies (above its size limit every column gets the whole design's degf, and the domain's rows do).
    bell_mccaffrey = df == "bell_mccaffrey" and bell_mccaffrey_applies(design)
    plan = None if bell_mccaffrey else variance_plan(design)
    if plan is not None:
        positions = np.flatnonzero(rows)
        inside, weights = np.ones(positions.size, dtype=bool), design.weights[positions]
    for start in range(0, values.shape[1], BLOCK_COLUMNS):
        if plan is None:
            block = values[:, start : start + BLOCK_COLUMNS]
            present, w, filled, total, means, influence = _weighted_block(design, block, rows)
            variance = _column_variances(design, influence, present)
        else:
            block = values[positions, start : start + BLOCK_COLUMNS]
            present, w, filled, total, means, influence = _weighted_block(design, block, inside, weights)
            variance = plan.variances(positions, influence)
        n_obs = present.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = (w * (filled - means) ** 2).sum(axis=0) / total * n_obs / (n_obs - 1)
            if deff == "replace":
                v_srs = s2 / n_obs
            else:
                # As svymean: NaN when the weights sum below the sample size ("weights not scaled").
                v_srs = np.where(total < n_obs, np.nan, s2 * (total - n_obs) / (total * n_obs))
            design_effect = np.where(n_obs < 2, np.nan, variance / v_srs)
        parts["estimate"].append(np.where(total > 0, means, np.nan))
        parts["se"].append(np.where(total > 0, np.sqrt(variance), np.nan))
        parts["n"].append(n_obs)
        parts["pop_size"].append(total)
        parts["deff"].append(design_effect)
        column_df = np.full(block.shape[1], design_df)
        if df == "bell_mccaffrey" and np.isfinite(design_df):
            column_df = (
                bell_mccaffrey_df(design, mean_coefficients(design, present))
                if bell_mccaffrey
                else np.full(block.shape[1], design.degf())
            )
        parts["df_per_column"].append(column_df)
    joined = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    return BatchMeans(**joined, df=design_df)


# Outcomes whose row values are formed at once in the group-sum paths: each a handful of rows x columns
# arrays, so a block's working memory stays near 300 MB at Place-Survey size (473,000 rows).
GROUP_SUM_COLUMNS = 8


def _centred(filled: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Each column (missing values filled with 0) less a whole number near its mean, zero where missing.

    The group-sum variances expand squares (sum of y^2 less the mean times the sum of y ...): near zero
    they lose no digits. A whole number keeps 0/1 and score columns whole, so a domain whose answers
    are all the same has influence values, variance and design effect exactly those of the row-wise
    computation (zero, and NaN), not rounding noise.
    """
    count = present.sum(axis=0)
    shift = np.round(filled.sum(axis=0) / np.maximum(count, 1))
    return np.where(present, filled - shift, 0.0)


class DomainMeans:
    """`batch_means` of many outcomes in every level of several group columns (each level a domain).

    ``groupings`` are ``(code, levels)`` pairs: row ``i`` is in level ``code[i]`` (``0 .. levels - 1``;
    -1 in none) of that grouping. Where the design has a variance plan (`pipeline.survey.domains`) the
    groupings' sums (by domain, by PSU and domain, by calibration pattern and domain) are set up once,
    and each block of outcomes is one pass over the rows: its row values formed once for every grouping,
    every domain's mean, variance and design effect from their sums (the numbers of `batch_means`, to
    rounding: sums in another order). Elsewhere each domain is `batch_means`.
    """

    def __init__(
        self,
        design: PreparedDesign,
        groupings: list[tuple[np.ndarray, int]],
        deff: str = "srswor",
        df: str = "design",
    ) -> None:
        if df not in DF_RULES:
            raise ValueError(f"df must be one of {DF_RULES}, got {df!r}")
        self.design, self.deff, self.df = design, deff, df
        self.groupings = [(np.asarray(code, dtype=np.int64), levels) for code, levels in groupings]
        bell_mccaffrey = df == "bell_mccaffrey" and bell_mccaffrey_applies(design)
        self.plan = None if bell_mccaffrey else variance_plan(design)
        self.prepared = []
        if self.plan is None:
            return
        everyone = np.arange(design.n)
        for code, levels in self.groupings:
            # Rows in no level go to one more domain, summed and never reported.
            domain = np.where(code >= 0, code, levels)
            design_df = [design.degf(code == d) for d in range(levels)]
            self.prepared.append((self.plan.grouping(everyone, domain, levels + 1), design_df))

    def __call__(self, values: np.ndarray) -> list[list[BatchMeans]]:
        """The means of every column of ``values`` (NaN = missing): one list per grouping, one
        `BatchMeans` per level."""
        values = np.asarray(values, dtype=float)
        design, deff, df = self.design, self.deff, self.df
        if self.plan is None:
            return [
                [batch_means(design, values, code == d, deff=deff, df=df) for d in range(levels)]
                for code, levels in self.groupings
            ]
        fields = ("estimate", "se", "n", "pop_size", "deff", "df_per_column")
        parts = [[{name: [] for name in fields} for _ in range(levels)] for _, levels in self.groupings]
        everyone = np.arange(design.n)
        for start in range(0, values.shape[1], GROUP_SUM_COLUMNS):
            block = values[:, start : start + GROUP_SUM_COLUMNS]
            present = ~np.isnan(block)
            filled = np.where(present, block, 0.0)
            weighted = np.where(present, design.weights[:, None], 0.0)
            centred = _centred(filled, present)
            rows = self.plan.mean_block(everyone, weighted, centred)
            weighted_filled = weighted * filled
            weighted_squares = rows.weighted_centred * centred
            counts = present.astype(float)
            for (grouping, design_df), found in zip(self.prepared, parts, strict=True):
                by_domain = grouping.by_domain
                levels = grouping.domains - 1
                total = np.asarray(by_domain @ weighted)
                n_obs = np.asarray(by_domain @ counts)
                centred_sum = np.asarray(by_domain @ rows.weighted_centred)
                with np.errstate(invalid="ignore", divide="ignore"):
                    estimate = np.asarray(by_domain @ weighted_filled) / total
                    means = centred_sum / total
                    safe = np.where(total > 0, means, 0.0)
                    squares = (
                        np.asarray(by_domain @ weighted_squares) - 2.0 * safe * centred_sum + safe**2 * total
                    )
                    s2 = squares / total * n_obs / (n_obs - 1)
                contrasts = np.eye(levels + 1)[:levels]
                variance = self.plan.mean_variances(grouping, rows, safe, total, contrasts)
                total, n_obs, estimate, s2 = total[:levels], n_obs[:levels], estimate[:levels], s2[:levels]
                with np.errstate(invalid="ignore", divide="ignore"):
                    if deff == "replace":
                        v_srs = s2 / n_obs
                    else:
                        v_srs = np.where(total < n_obs, np.nan, s2 * (total - n_obs) / (total * n_obs))
                    design_effect = np.where(n_obs < 2, np.nan, variance / v_srs)
                for d in range(levels):
                    level = found[d]
                    level["estimate"].append(np.where(total[d] > 0, estimate[d], np.nan))
                    level["se"].append(np.where(total[d] > 0, np.sqrt(variance[d]), np.nan))
                    level["n"].append(n_obs[d].astype(np.int64))
                    level["pop_size"].append(total[d])
                    level["deff"].append(design_effect[d])
                    column_df = np.full(block.shape[1], design_df[d])
                    if df == "bell_mccaffrey" and np.isfinite(design_df[d]):
                        column_df = np.full(block.shape[1], design.degf())
                    level["df_per_column"].append(column_df)
        return [
            [
                BatchMeans(
                    **{name: np.concatenate(arrays) for name, arrays in level.items()}, df=design_df[d]
                )
                for d, level in enumerate(found)
            ]
            for (_, design_df), found in zip(self.prepared, parts, strict=True)
        ]


def batch_means_by_domain(
    design: PreparedDesign,
    values: np.ndarray,
    domain: np.ndarray,
    domains: int,
    deff: str = "srswor",
    df: str = "design",
) -> list[BatchMeans]:
    """`batch_means` of every column of ``values`` in each of ``domains`` disjoint domains: row ``i`` is
    in domain ``domain[i]`` (``0 .. domains - 1``; -1 in none). Element ``d`` of the result is
    ``batch_means(design, values, domain == d, deff, df)``, to rounding (`DomainMeans`)."""
    return DomainMeans(design, [(domain, domains)], deff=deff, df=df)(values)[0]


def logit_intervals(
    estimate: np.ndarray, se: np.ndarray, df: float | np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """``svyciprop(method="logit")`` bounds from proportions and their SEs (NaN at 0 and 1); `df` one
    for all or one per proportion."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        quantile = np.where(
            np.isinf(df),
            stats.norm.ppf(0.5 + level / 2),
            np.where(df > 0, stats.t.ppf(0.5 + level / 2, np.where(df > 0, df, 1.0)), np.nan),
        )
    inside = (estimate > 0) & (estimate < 1)
    safe = np.where(inside, estimate, 0.5)
    half = quantile * se / (safe * (1 - safe))
    low = np.where(inside, expit(logit(safe) - half), np.nan)
    high = np.where(inside, expit(logit(safe) + half), np.nan)
    return low, high


def batch_differences(
    design: PreparedDesign,
    values: np.ndarray,
    in_a: np.ndarray,
    in_b: np.ndarray,
    level: float = 0.95,
    df: str = "design",
) -> BatchDifferences:
    """``domain_difference`` (a minus b) of every column of ``values``; NaN where a group is empty.

    ``df="design"`` is R's (normal interval, t test on ``degf - 1``); ``"bell_mccaffrey"`` gives each
    difference its Bell-McCaffrey degrees of freedom (`pipeline.survey.small_sample`) for both."""
    return DomainDifferences(design, in_a, in_b, level=level, df=df)(values)


class DomainDifferences:
    """`batch_differences` of groups ``in_a`` and ``in_b`` for many blocks of outcomes: the groups' sums
    (by group, by PSU and group, by calibration pattern and group; the PSUs the groups reach) set up once.

    On a design with a variance plan each block's differences come from one pass of group sums over the
    two groups' rows (`VariancePlan.mean_variances`), with no rows x columns influence matrix; groups
    that share rows, small designs and Bell-McCaffrey degrees of freedom take the path over every row.
    """

    def __init__(
        self,
        design: PreparedDesign,
        in_a: np.ndarray,
        in_b: np.ndarray,
        level: float = 0.95,
        df: str = "design",
    ) -> None:
        if df not in DF_RULES:
            raise ValueError(f"df must be one of {DF_RULES}, got {df!r}")
        self.design, self.level, self.df = design, level, df
        self.in_a, self.in_b = np.asarray(in_a, dtype=bool), np.asarray(in_b, dtype=bool)
        self.bell_mccaffrey = df == "bell_mccaffrey" and bell_mccaffrey_applies(design)
        # Groups that share rows (not a split of one column) take the path over every row.
        shared = bool(np.any(self.in_a & self.in_b))
        self.plan = None if self.bell_mccaffrey or shared else variance_plan(design)
        if self.plan is None:
            return
        self.positions = np.flatnonzero(self.in_a | self.in_b)
        self.weights = design.weights[self.positions]
        self.grouping = self.plan.grouping(self.positions, np.where(self.in_a[self.positions], 0, 1), 2)
        # R's degf of each column's present rows: PSUs reached less strata reached.
        psu = design.psu[self.positions]
        count = np.bincount(psu, minlength=design.psu_stratum.size)
        reached = np.flatnonzero(count)
        self.by_psu = group_sum_matrix((np.cumsum(count > 0) - 1)[psu], reached.size)
        self.by_stratum = group_sum_matrix(design.psu_stratum[reached], design.n_psu.size)

    def spread(self, values: np.ndarray) -> np.ndarray:
        """The weighted standard deviation of each column over both groups' observed rows together."""
        values = np.asarray(values, dtype=float)
        if self.plan is None:
            present = (self.in_a | self.in_b)[:, None] & ~np.isnan(values)
            weights = np.where(present, self.design.weights[:, None], 0.0)
        else:
            values = values[self.positions]
            present = ~np.isnan(values)
            weights = np.where(present, self.weights[:, None], 0.0)
        filled = np.where(present, values, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (weights * filled).sum(axis=0) / weights.sum(axis=0)
            return np.sqrt((weights * (filled - mean) ** 2).sum(axis=0) / weights.sum(axis=0))

    def __call__(self, values: np.ndarray) -> BatchDifferences:
        """The differences of every column of ``values`` (NaN = missing)."""
        design, plan, level, df = self.design, self.plan, self.level, self.df
        in_a, in_b = self.in_a, self.in_b
        values = np.asarray(values, dtype=float)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in BatchDifferences.__dataclass_fields__}
        quantile = stats.norm.ppf(0.5 + level / 2)
        columns = BLOCK_COLUMNS if plan is None else GROUP_SUM_COLUMNS
        for start in range(0, values.shape[1], columns):
            if plan is None:
                block = values[:, start : start + columns]
                present_a, *_, means_a, influence_a = _weighted_block(design, block, in_a)
                present_b, *_, means_b, influence_b = _weighted_block(design, block, in_b)
                present = present_a | present_b
                # The variance of a linear contrast is that of the contrast of the influence values.
                variance = _column_variances(design, influence_a - influence_b, present)
                t_df = _present_psu_minus_strata(design, present) - 1.0
            else:
                # Both groups' sums in one pass (`VariancePlan.mean_variances`).
                positions, grouping = self.positions, self.grouping
                block = values[positions, start : start + columns]
                present = ~np.isnan(block)
                present_a = present & in_a[positions][:, None]
                present_b = present & in_b[positions][:, None]
                filled = np.where(present, block, 0.0)
                weighted = np.where(present, self.weights[:, None], 0.0)
                rows = plan.mean_block(positions, weighted, _centred(filled, present))
                total = np.asarray(grouping.by_domain @ weighted)
                with np.errstate(invalid="ignore", divide="ignore"):
                    estimate = np.asarray(grouping.by_domain @ (weighted * filled)) / total
                    centred_means = np.asarray(grouping.by_domain @ rows.weighted_centred) / total
                safe = np.where(total > 0, centred_means, 0.0)
                variance = plan.mean_variances(grouping, rows, safe, total, np.array([[1.0, -1.0]]))[0]
                means_a, means_b = estimate
                psu_reached = np.asarray(self.by_psu @ present.astype(float)) > 0
                strata_reached = np.asarray(self.by_stratum @ psu_reached.astype(float)) > 0
                t_df = psu_reached.sum(axis=0) - strata_reached.sum(axis=0) - 1.0
            estimate = means_a - means_b
            se = np.sqrt(variance)
            half = quantile * se
            if design.design.df_rule == "infinite":
                t_df = np.full(t_df.shape, np.inf)
            elif df == "bell_mccaffrey":
                t_df = (
                    bell_mccaffrey_df(
                        design, mean_coefficients(design, present_a) - mean_coefficients(design, present_b)
                    )
                    if self.bell_mccaffrey
                    else np.full(estimate.shape, design.degf())
                )
                half = stats.t.ppf(0.5 + level / 2, t_df) * se
            with np.errstate(invalid="ignore", divide="ignore"):
                t = np.where(se > 0, estimate / se, np.nan)
                p_t = np.where(t_df > 0, 2 * stats.t.sf(np.abs(t), np.maximum(t_df, 1)), np.nan)
            parts["estimate"].append(estimate)
            parts["se"].append(se)
            parts["ci_low"].append(estimate - half)
            parts["ci_high"].append(estimate + half)
            parts["t"].append(t)
            parts["t_df"].append(t_df)
            parts["p_t"].append(p_t)
            parts["n_a"].append(present_a.sum(axis=0))
            parts["n_b"].append(present_b.sum(axis=0))
        return BatchDifferences(**{name: np.concatenate(arrays) for name, arrays in parts.items()})
