"""Means, proportions and totals with linearised standard errors, overall and for domains.

Each function matches one call of R's ``survey`` package (4.1-1), named in its docstring. Domain
estimates never drop rows before the variance is computed: rows outside the domain, and rows with a
missing item, get zero influence but still belong to their PSU and stratum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from pipeline.survey import distributions as stats
from pipeline.survey.design import PreparedDesign, SurveyDesignError

ArrayLike = str | Sequence[Any] | np.ndarray | pd.Series
DeffKind = Literal["srswor", "replace"]


def _numeric(design: PreparedDesign, y: ArrayLike) -> np.ndarray:
    arr = design.column(y)
    if arr.dtype == bool:
        return arr.astype(float)
    out = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(out) & pd.notna(pd.Series(arr)).to_numpy()
    if bad.any():
        raise SurveyDesignError("the variable has non-numeric values")
    return out


def t_quantile(level: float, df: float) -> float:
    """Two-sided quantile for a `level` interval, t with `df` or normal when `df` is infinite.

    Parameters
    ----------
    level
        Confidence level, e.g. 0.95.
    df
        Degrees of freedom; ``inf`` for the normal.

    Returns
    -------
    float
        The ``1 - (1 - level) / 2`` quantile, or NaN when ``df <= 0``.
    """
    upper = 1 - (1 - level) / 2
    if np.isinf(df):
        return float(stats.norm.ppf(upper))
    if df <= 0:
        return float("nan")
    return float(stats.t.ppf(upper, df))


def weighted_means(
    design: PreparedDesign, x: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted means of the columns of `x` over `present` rows, with influence values.

    Parameters
    ----------
    design
        The prepared design.
    x
        ``(n, p)`` values; rows outside `present` are ignored (they may be NaN).
    present
        Rows in the domain with every column observed.

    Returns
    -------
    means : numpy.ndarray
        ``(p,)`` weighted means.
    influence : numpy.ndarray
        ``(n, p)``: ``w_i (x_i - mean) / sum(w)`` on present rows, zero elsewhere.
    weight_total : float
        Sum of weights over present rows (the estimated domain population).
    """
    w = np.where(present, design.weights, 0.0)
    xz = np.where(present[:, None], x, 0.0)
    total_w = float(w.sum())
    if total_w == 0:
        raise SurveyDesignError("the domain has no observed rows")
    means = (w @ xz) / total_w
    influence = (w / total_w)[:, None] * (xz - means)
    influence[~present] = 0.0
    return means, influence, total_w


def _design_effect(
    var: float, y: np.ndarray, mean: float, w: np.ndarray, present: np.ndarray, kind: DeffKind
) -> float:
    # R's svymean(deff=TRUE): variance over that of a simple random sample of the same size
    # drawn without replacement from a population of sum(w); deff="replace" drops the fpc.
    n_obs = int(present.sum())
    w_p = w[present]
    total_w = float(w_p.sum())
    if n_obs < 2:
        return float("nan")
    s2 = float(w_p @ (y[present] - mean) ** 2) / total_w * n_obs / (n_obs - 1)
    if kind == "replace":
        vsrs = s2 / n_obs
    else:
        if total_w < n_obs:  # R warns "are weights correctly scaled?" and returns NA
            return float("nan")
        vsrs = s2 * (total_w - n_obs) / (total_w * n_obs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(var) / np.float64(vsrs))


@dataclass(frozen=True)
class MeanEstimate:
    """A weighted mean or proportion with its linearised standard error.

    Attributes
    ----------
    estimate : float
        Weighted mean (a proportion for a 0/1 variable).
    se : float
        Standard error.
    var : float
        Variance, ``se ** 2``.
    deff : float
        Design effect (see `svymean` for the definition in force).
    deff_kind : str
        ``"srswor"`` or ``"replace"``.
    n : int
        Unweighted base: rows in the domain with the item observed.
    pop_size : float
        Sum of weights over those rows.
    df : float
        Design degrees of freedom of the domain (R's ``degf`` of the subset design).
    """

    estimate: float
    se: float
    var: float
    deff: float
    deff_kind: str
    n: int
    pop_size: float
    df: float

    def confint(self, level: float = 0.95, df: float | None = None) -> tuple[float, float]:
        """Symmetric Wald interval (R: ``confint(svymean(...), df=)``).

        Parameters
        ----------
        level
            Confidence level.
        df
            Degrees of freedom; ``None`` uses the normal, R's default for ``confint``.

        Returns
        -------
        tuple of float
            Lower and upper bounds.
        """
        q = t_quantile(level, float("inf") if df is None else df)
        return self.estimate - q * self.se, self.estimate + q * self.se

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)


def svymean(
    design: PreparedDesign,
    y: ArrayLike,
    *,
    domain: ArrayLike | None = None,
    deff: DeffKind = "srswor",
) -> MeanEstimate:
    """Weighted mean or proportion of `y`, overall or in a domain (R: ``svymean``).

    Missing values of `y` are left out of the estimate (R's ``na.rm=TRUE``) but keep their place
    in the design. R equivalents: ``svymean(~y, des, na.rm=TRUE, deff=TRUE)`` overall and
    ``svyby(~y, ~d, des, svymean, na.rm=TRUE, deff=TRUE)`` or ``svymean(~y, subset(des, d))`` for
    a domain.

    Parameters
    ----------
    design
        The prepared design.
    y
        Column name or array; 0/1 values give a proportion.
    domain
        Boolean mask or column for a subpopulation; ``None`` for everyone.
    deff
        ``"srswor"`` (R's ``deff=TRUE``): ``V / (s2 (N - n) / (N n))`` with ``N`` the domain's sum
        of weights, ``n`` its observed rows and ``s2`` the weighted variance with divisor
        ``n - 1``; it is infinite for an unweighted design, where ``N = n``. ``"replace"`` (R's
        ``deff="replace"``): ``V / (s2 / n)``.

    Returns
    -------
    MeanEstimate
        Estimate, SE, design effect, base and domain df.
    """
    values = _numeric(design, y)
    dom = design.mask(domain)
    present = dom & ~np.isnan(values)
    means, infl, total_w = weighted_means(design, values[:, None], present)
    var = float(design.variance(infl, present)[0, 0])
    return MeanEstimate(
        estimate=float(means[0]),
        se=float(np.sqrt(var)),
        var=var,
        deff=_design_effect(var, values, float(means[0]), design.weights, present, deff),
        deff_kind=deff,
        n=int(present.sum()),
        pop_size=total_w,
        df=design.degf(dom),
    )


@dataclass(frozen=True)
class TotalEstimate:
    """A weighted total with its linearised standard error.

    Attributes
    ----------
    estimate : float
        Weighted total.
    se : float
        Standard error.
    var : float
        Variance.
    n : int
        Rows in the domain with the item observed.
    """

    estimate: float
    se: float
    var: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)


def svytotal(design: PreparedDesign, y: ArrayLike, *, domain: ArrayLike | None = None) -> TotalEstimate:
    """Weighted total of `y`, overall or in a domain (R: ``svytotal(~y, des, na.rm=TRUE)``).

    Parameters
    ----------
    design
        The prepared design.
    y
        Column name or array.
    domain
        Boolean mask or column for a subpopulation; ``None`` for everyone.

    Returns
    -------
    TotalEstimate
        Total, SE and base.
    """
    values = _numeric(design, y)
    present = design.mask(domain) & ~np.isnan(values)
    infl = np.where(present, design.weights * np.where(present, values, 0.0), 0.0)
    var = float(design.variance(infl, present)[0, 0])
    return TotalEstimate(float(infl.sum()), float(np.sqrt(var)), var, int(present.sum()))


@dataclass(frozen=True)
class DomainMeans:
    """Means of one variable in each level of a domain variable (R: ``svyby``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per level (sorted as R sorts them): estimate, se, deff, n, pop_size, df.
    cov : pandas.DataFrame
        Joint covariance of the level means (R: ``vcov(svyby(..., covmat=TRUE))``).
    """

    table: pd.DataFrame
    cov: pd.DataFrame


def svyby_mean(
    design: PreparedDesign, y: ArrayLike, by: ArrayLike, *, deff: DeffKind = "srswor"
) -> DomainMeans:
    """Mean of `y` in every level of `by`, with their joint covariance.

    Rows whose `by` value is missing belong to no level. R equivalent:
    ``svyby(~y, ~by, des, svymean, na.rm=TRUE, deff=TRUE)`` for the table and
    ``vcov(svyby(~y, ~by, subset(des, !is.na(y)), svymean, covmat=TRUE))`` for the covariance
    (survey 4.1-1 fails on ``covmat=TRUE`` with ``na.rm=TRUE`` when values are missing).

    Parameters
    ----------
    design
        The prepared design.
    y
        Column name or array.
    by
        Column name or array of domain labels.
    deff
        Design-effect definition, as in `svymean`.

    Returns
    -------
    DomainMeans
        Per-level table and covariance matrix.
    """
    values = _numeric(design, y)
    groups = pd.Series(design.column(by))
    levels = sorted(groups.dropna().unique().tolist())
    rows = []
    infl_cols = []
    observed = ~np.isnan(values)
    for level in levels:
        dom = (groups == level).to_numpy()
        est = svymean(design, values, domain=dom, deff=deff)
        rows.append({"level": level, **{k: v for k, v in est.to_dict().items() if k != "var"}})
        infl_cols.append(weighted_means(design, values[:, None], dom & observed)[1][:, 0])
    cov = design.variance(np.column_stack(infl_cols), observed)
    table = pd.DataFrame(rows).set_index("level")
    return DomainMeans(table, pd.DataFrame(cov, index=table.index, columns=table.index))


@dataclass(frozen=True)
class ProportionCI:
    """A proportion with a logit-scale confidence interval (R: ``svyciprop(method="logit")``).

    Attributes
    ----------
    estimate : float
        Weighted proportion.
    se : float
        Its linearised SE (R: ``SE(svyciprop(...))``).
    ci_low, ci_high : float
        Interval bounds; NaN when the proportion is 0 or 1 (the logit is infinite) or when
        ``df <= 0``, as R returns.
    level : float
        Confidence level.
    df : float
        Degrees of freedom used for the t quantile.
    n : int
        Unweighted base.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    df: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)


def svyciprop(
    design: PreparedDesign,
    y: ArrayLike,
    *,
    domain: ArrayLike | None = None,
    level: float = 0.95,
    df: float | None = None,
) -> ProportionCI:
    """Proportion with a logit-transformed interval (R: ``svyciprop(~y, des, method="logit")``).

    The interval is ``expit(logit(p) +/- t_df * SE(p) / (p (1 - p)))``: R fits an intercept-only
    quasi-binomial ``svyglm`` whose sandwich SE for the logit is exactly that delta-method SE. The
    default `df` is R's ``degf()`` of the domain design, which counts the PSUs and strata of every
    row in the domain, including rows whose `y` is missing.

    Parameters
    ----------
    design
        The prepared design.
    y
        Column name or array of 0/1 values (missing allowed).
    domain
        Boolean mask or column for a subpopulation; ``None`` for everyone.
    level
        Confidence level.
    df
        Degrees of freedom for the t quantile; ``None`` applies the design's `df_rule`.

    Returns
    -------
    ProportionCI
        Estimate, SE, interval, df and base.
    """
    values = _numeric(design, y)
    observed = values[~np.isnan(values)]
    if not np.isin(observed, (0.0, 1.0)).all():
        raise SurveyDesignError("svyciprop needs a 0/1 variable")
    est = svymean(design, values, domain=domain)
    df_used = est.df if df is None else float(df)
    p = est.estimate
    if 0.0 < p < 1.0:
        half = t_quantile(level, df_used) * est.se / (p * (1 - p))
        low, high = float(expit(logit(p) - half)), float(expit(logit(p) + half))
    else:
        low = high = float("nan")
    return ProportionCI(p, est.se, low, high, level, df_used, est.n)


@dataclass(frozen=True)
class DomainDifference:
    """Difference of a mean (or proportion) between two domains, with a design-based test.

    Attributes
    ----------
    estimate : float
        ``mean_a - mean_b``.
    se : float
        Linearised SE, using the covariance between the two domain means.
    ci_low, ci_high : float
        Wald interval with normal quantiles (R: ``confint(svycontrast(...))``).
    level : float
        Confidence level of the interval.
    z, p_z : float
        Wald statistic and two-sided normal p-value.
    t, t_df, p_t : float
        The same statistic referred to t with design df minus one (R: ``svyttest``).
    mean_a, mean_b : float
        The two domain means.
    n_a, n_b : int
        Their unweighted bases.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    z: float
    p_z: float
    t: float
    t_df: float
    p_t: float
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)


def domain_difference(
    design: PreparedDesign,
    y: ArrayLike,
    by: ArrayLike,
    a: Any,
    b: Any,
    *,
    level: float = 0.95,
    df: str = "design",
) -> DomainDifference:
    """Difference ``mean(y | by == a) - mean(y | by == b)`` with linearised SE and tests.

    R equivalent, with ``s <- subset(des, !is.na(y) & by %in% c(a, b))``:
    ``svycontrast(svyby(~y, ~by, s, svymean, covmat=TRUE), c(a=1, b=-1))`` for the estimate, SE
    and (normal) interval, and ``svyttest(y ~ by, s)`` for the t test, whose df is R's
    ``degf(s) - 1``.

    Parameters
    ----------
    design
        The prepared design.
    y
        Column name or array (0/1 for a difference of proportions).
    by
        Column name or array of domain labels.
    a, b
        The two labels compared.
    level
        Confidence level of the interval.
    df
        ``"design"``: R's (normal interval, t test on ``degf - 1``); ``"bell_mccaffrey"``: the
        interval and the t test on the difference's Bell-McCaffrey degrees of freedom
        (`pipeline.survey.small_sample`).

    Returns
    -------
    DomainDifference
        Estimate, SE, interval and tests.
    """
    values = _numeric(design, y)
    groups = pd.Series(design.column(by))
    in_a = (groups == a).to_numpy()
    in_b = (groups == b).to_numpy()
    if not in_a.any() or not in_b.any():
        raise SurveyDesignError(f"no rows with by == {a!r} or by == {b!r}")
    observed = ~np.isnan(values)
    present = (in_a | in_b) & observed
    mean_a, infl_a, _ = weighted_means(design, values[:, None], in_a & observed)
    mean_b, infl_b, _ = weighted_means(design, values[:, None], in_b & observed)
    cov = design.variance(np.column_stack([infl_a[:, 0], infl_b[:, 0]]), present)
    est = float(mean_a[0] - mean_b[0])
    se = float(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
    q = t_quantile(level, float("inf"))
    stat = est / se if se > 0 else float("nan")
    t_df = design.degf(present) - 1
    if df == "bell_mccaffrey" and np.isfinite(t_df):
        from pipeline.survey.small_sample import bell_mccaffrey_df, mean_coefficients

        rows = np.column_stack([in_a & observed, in_b & observed])
        c = mean_coefficients(design, rows)
        t_df = float(bell_mccaffrey_df(design, c[:, 0] - c[:, 1])[0])
        q = t_quantile(level, t_df)
    elif df != "design":
        raise SurveyDesignError(f"df must be 'design' or 'bell_mccaffrey', got {df!r}")
    p_t = float(2 * stats.t.sf(abs(stat), t_df)) if t_df > 0 else float("nan")
    return DomainDifference(
        estimate=est,
        se=se,
        ci_low=est - q * se,
        ci_high=est + q * se,
        level=level,
        z=stat,
        p_z=float(2 * stats.norm.sf(abs(stat))),
        t=stat,
        t_df=t_df,
        p_t=p_t,
        mean_a=float(mean_a[0]),
        mean_b=float(mean_b[0]),
        n_a=int((in_a & observed).sum()),
        n_b=int((in_b & observed).sum()),
    )
