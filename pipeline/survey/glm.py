"""Survey-weighted generalised linear models and Wald tests (R: ``svyglm``, ``regTermTest``).

`svyglm` fits a gaussian (identity link) or quasibinomial (logit link) model by weighted least
squares / iteratively reweighted least squares with the sampling weights, and gives the
design-based (linearisation, "sandwich") covariance R's ``svy.varcoef`` gives: influence values
``x_i w_i (y_i - mu_i) A^-1`` per row, with ``A`` the weighted information matrix
``X' W V(mu) X``, put through the design's with-strata, with-PSU variance (fpc or not, as the
design declares). The residual degrees of freedom are R's: design df among the rows used plus one,
minus the number of coefficients. Rows with the response or a predictor missing drop out of the
fit and keep their place in the design (R's ``design[-nas, ]``).

`wald_test` is ``regTermTest(model, ~term, method = "Wald")``: ``F = b' V^-1 b / k`` on ``k`` and
the model's residual df, or a chi-squared on ``k`` when the df is infinite.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from pipeline.survey import distributions as stats
from pipeline.survey.collapsed import (
    CollapsedInfluence,
    collapsed_variance,
    design_patterns,
    pattern_model_matrix,
    stack,
)
from pipeline.survey.design import PreparedDesign, SurveyDesignError
from pipeline.survey.estimators import ArrayLike, t_quantile
from pipeline.survey.patterns import COLLAPSE_MIN_ROWS
from pipeline.survey.terms import coded_column, design_model_matrix, names_index, term_columns

Family = Literal["gaussian", "quasibinomial"]
FAMILIES: tuple[str, ...] = ("gaussian", "quasibinomial")


@dataclass(frozen=True)
class GLMFit:
    """Result of `svyglm`.

    Attributes
    ----------
    family : str
        ``"gaussian"`` (identity link) or ``"quasibinomial"`` (logit link).
    coefficients : pandas.Series
        Estimates, named as R names them (``"(Intercept)"``, ``"tiertwo_tier"``, ``"a1:b2"``).
    vcov : pandas.DataFrame
        Design-based covariance of the coefficients.
    se : pandas.Series
        Square roots of its diagonal.
    df_residual : float
        Design df among the rows used, plus one, minus the coefficients (R's ``df.residual``).
    n : int
        Rows used.
    terms : dict
        Term label -> the names of its coefficients, for `wald_test`.
    influence : numpy.ndarray or None
        ``(design rows, p)`` influence values, zero outside the fit: stacking two fits'
        influence gives their joint covariance through the design's variance. None when the fit was
        asked not to keep them (``influence=False``) and holds them as `collapsed`.
    converged : bool
        Whether IRLS met its tolerance (always true for gaussian).
    collapsed : CollapsedInfluence or None
        The same influence values on the fit's covariate patterns (`pipeline.survey.collapsed`), for
        a large design fitted on its patterns.
    """

    family: str
    coefficients: pd.Series
    vcov: pd.DataFrame
    se: pd.Series
    df_residual: float
    n: int
    terms: dict[str, tuple[str, ...]]
    influence: np.ndarray | None
    converged: bool
    collapsed: CollapsedInfluence | None = None

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals with a t quantile on `df_residual` (R: ``confint(fit, ddf = df.residual)``).

        Returns
        -------
        pandas.DataFrame
            Columns ``ci_low`` and ``ci_high``, one row per coefficient.
        """
        q = t_quantile(level, self.df_residual)
        return pd.DataFrame(
            {"ci_low": self.coefficients - q * self.se, "ci_high": self.coefficients + q * self.se}
        )

    def p_values(self) -> pd.Series:
        """Two-sided t test of each coefficient on `df_residual` (R: ``summary(fit)``)."""
        return coefficient_p_values(self.coefficients, self.se, self.df_residual)

    def to_dict(self) -> dict[str, Any]:
        """Coefficients, SEs, df and n as plain values."""
        return {
            "family": self.family,
            "coefficients": self.coefficients.to_dict(),
            "se": self.se.to_dict(),
            "df_residual": self.df_residual,
            "n": self.n,
            "converged": self.converged,
        }


def coefficient_p_values(coefficients: pd.Series, se: pd.Series, df: float) -> pd.Series:
    """Two-sided p-values of ``coefficient / se`` against t on `df` (normal when infinite)."""
    t = coefficients / se
    p = 2 * (stats.norm.sf(np.abs(t)) if np.isinf(df) else stats.t.sf(np.abs(t), df))
    return pd.Series(p, index=coefficients.index)


def two_sided_p(t: float, df: float) -> float:
    """`coefficient_p_values` of one statistic ``t`` (no pandas objects: a model stage asks thousands)."""
    return float(2 * (stats.norm.sf(abs(t)) if np.isinf(df) else stats.t.sf(abs(t), df)))


@dataclass(frozen=True)
class WaldTest:
    """A design-based Wald test of some coefficients being zero (R: ``regTermTest``).

    Attributes
    ----------
    coefficients : tuple of str
        The coefficients tested.
    statistic : float
        ``F = b' V^-1 b / k`` when `ddf` is finite, otherwise the chi-squared ``b' V^-1 b``.
    ndf : int
        ``k``, the number of coefficients.
    ddf : float
        Denominator df (the model's residual df), ``inf`` for the chi-squared version.
    p : float
        Upper tail probability.
    """

    coefficients: tuple[str, ...]
    statistic: float
    ndf: int
    ddf: float
    p: float


def wald_test(
    coefficients: pd.Series,
    vcov: pd.DataFrame,
    names: Sequence[str],
    ddf: float,
    null: Sequence[float] | None = None,
) -> WaldTest:
    """Test that the named coefficients are jointly equal to `null` (zero by default).

    Parameters
    ----------
    coefficients, vcov
        Estimates and their covariance (from `svyglm`, `svyolr` or stacked fits).
    names
        Coefficients to test.
    ddf
        Denominator df: R's ``regTermTest`` uses the model's ``df.residual``.
    null
        Values under the null hypothesis.

    Returns
    -------
    WaldTest
        F (or chi-squared) statistic, dfs and p-value.
    """
    names = list(names)
    if not names:
        raise SurveyDesignError("a Wald test needs at least one coefficient")
    unique = coefficients.index.is_unique and vcov.index.is_unique and vcov.columns.is_unique
    if unique:
        # By position (label lookups in a text index cost more than the test).
        at = coefficients.index.get_indexer(names)
        rows, cols = vcov.index.get_indexer(names), vcov.columns.get_indexer(names)
        if (at < 0).any() or (rows < 0).any() or (cols < 0).any():
            raise KeyError(f"coefficients {names} are not all in the fit")
        beta = coefficients.to_numpy(dtype=float)[at]
        v = vcov.to_numpy(dtype=float)[np.ix_(rows, cols)]
    else:
        beta = coefficients.loc[names].to_numpy(dtype=float)
        v = vcov.loc[names, names].to_numpy(dtype=float)
    if null is not None:
        beta = beta - np.asarray(null, dtype=float)
    chisq = float(beta @ np.linalg.solve(v, beta))
    k = len(names)
    if np.isinf(ddf):
        return WaldTest(tuple(names), chisq, k, float("inf"), float(stats.chi2.sf(chisq, k)))
    f = chisq / k
    return WaldTest(tuple(names), f, k, float(ddf), float(stats.f.sf(f, k, ddf)))


def term_test(fit: GLMFit, term: str) -> WaldTest:
    """``regTermTest(fit, ~term)``: all coefficients of one term, on the fit's residual df."""
    if term not in fit.terms:
        raise SurveyDesignError(f"term {term!r} is not in the model (terms: {list(fit.terms)})")
    return wald_test(fit.coefficients, fit.vcov, fit.terms[term], fit.df_residual)


def svyglm(
    design: PreparedDesign,
    response: str,
    terms: Sequence[str] = (),
    *,
    family: Family = "gaussian",
    domain: ArrayLike | None = None,
    tol: float = 1e-12,
    max_iter: int = 100,
    df_adjust: bool = False,
    influence: bool = True,
) -> GLMFit:
    """Survey-weighted GLM with design-based covariance (R: ``svyglm(y ~ terms, des, family)``).

    Parameters
    ----------
    design
        The prepared design.
    response
        Column of the outcome: any numbers for gaussian; proportions in [0, 1] (usually 0/1)
        for quasibinomial.
    terms
        Main effects and ``"a:b"`` interactions (see `pipeline.survey.terms`); an intercept is
        always included.
    family
        ``"gaussian"`` or ``"quasibinomial"``.
    domain
        Boolean mask or column for a subpopulation (R: ``svyglm(..., subset(des, d))``).
    tol
        IRLS stops when the largest change in the linear predictor is below this.
    max_iter
        IRLS iteration limit.
    df_adjust
        Multiply the design-based covariance by the design's degrees of freedom over the residual
        degrees of freedom (``degf / df_residual``): the estimating equations' residuals come from a fit
        of every coefficient to the same PSUs and are that much too small on average (the
        degrees-of-freedom adjustment of survey regression software, e.g. SAS PROC SURVEYREG's
        ``VADJUST=DF``). The influence values carry it too (scaled by its square root), so tests built
        from them agree. R's ``svyglm`` does not make it (``False`` matches R).

    Returns
    -------
    GLMFit
        Coefficients, design-based covariance, SEs, residual df and influence values.

    Raises
    ------
    SurveyDesignError
        Unknown family, a quasibinomial response outside [0, 1], no rows, or a rank-deficient
        model matrix.
    """
    if family not in FAMILIES:
        raise SurveyDesignError(f"family must be one of {FAMILIES}, got {family!r}")
    if not influence and domain is None and design.n >= COLLAPSE_MIN_ROWS:
        fit = _svyglm_collapsed(design, response, terms, family, tol, max_iter, df_adjust)
        if fit is not None:
            return fit
    frame = design.data
    present = design.mask(domain) & frame[response].notna().to_numpy()
    for col in term_columns(terms):
        present &= coded_column(design, col).present
    if not present.any():
        raise SurveyDesignError("no rows have the response and every predictor")
    fitted_rows = np.flatnonzero(present)
    mm = design_model_matrix(design, fitted_rows, terms, intercept=True)
    x = mm.x
    y = frame[response].to_numpy(dtype=float, na_value=np.nan)[fitted_rows]
    w = design.weights[present]
    # The rank of X'X is that of X, at a fraction of the cost of an SVD of X.
    if np.linalg.matrix_rank(x.T @ x) < x.shape[1]:
        raise SurveyDesignError(f"the model matrix of {list(terms)} is rank-deficient on the rows fitted")

    converged = True
    if family == "gaussian":
        xtw = x.T * w
        beta = np.linalg.solve(xtw @ x, xtw @ y)
        mu = x @ beta
        info = xtw @ x
    else:
        if np.any((y < 0) | (y > 1)):
            raise SurveyDesignError("a quasibinomial response must lie in [0, 1]")
        beta, mu, info, converged = _irls_logit(x, y, w, tol, max_iter)
        if not converged:
            warnings.warn("svyglm (quasibinomial) did not converge", RuntimeWarning, stacklevel=2)

    ainv = np.linalg.inv(info)
    infl = np.zeros((design.n, x.shape[1]))
    # Score contribution x_i w_i (y_i - mu_i) for both families (identity and canonical logit).
    infl[present] = (x * (w * (y - mu))[:, None]) @ ainv
    names = list(mm.names)
    design_df = design.degf(present)
    df_residual = design_df + 1 - len(names)
    if df_adjust:
        infl *= np.sqrt(df_adjustment(design_df, df_residual))
    var = design.variance(infl, present)
    index = names_index(tuple(names))
    return GLMFit(
        family=family,
        coefficients=pd.Series(beta, index=index, dtype=float),
        vcov=pd.DataFrame(var, index=index, columns=index),
        se=pd.Series(np.sqrt(np.diag(var)), index=index),
        df_residual=df_residual,
        n=int(present.sum()),
        terms={t: tuple(names[i] for i in cols) for t, cols in mm.assign.items()},
        influence=infl,
        converged=converged,
    )


def df_adjustment(design_df: float, residual_df: float) -> float:
    """``design_df / residual_df``, the variance factor of ``df_adjust`` (1 for an infinite df)."""
    if not np.isfinite(design_df):
        return 1.0
    if residual_df < 1:
        raise SurveyDesignError(
            f"{design_df:g} design degrees of freedom leave {residual_df:g} for the residuals: too many "
            "coefficients for the PSUs"
        )
    return float(design_df / residual_df)


def _binomial_deviance(y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(y / mu), 0.0) + np.where(
            y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0
        )
    return float(2 * np.sum(w * terms))


def _irls_logit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    # Start as R's binomial()$initialize does (mu = (w y + 0.5) / (w + 1)), then Newton steps,
    # which for the canonical link are IRLS steps. Convergence: the linear predictor stops moving,
    # or (as R's glm.fit judges it) the deviance stops changing, which is how a fit with separated
    # data ends: the separated coefficients drift off towards infinity while every other
    # coefficient, and the deviance, has settled. Such a fit is returned as converged, as R does.
    mu = (w * y + 0.5) / (w + 1)
    eta = np.log(mu / (1 - mu))
    xtw = x.T * (w * mu * (1 - mu))
    beta = np.linalg.solve(xtw @ x, xtw @ (eta + (y - mu) / (mu * (1 - mu))))
    mu = expit(x @ beta)
    deviance = _binomial_deviance(y, mu, w)
    for _ in range(max_iter):
        info = (x.T * (w * mu * (1 - mu))) @ x
        try:
            step = np.linalg.solve(info, x.T @ (w * (y - mu)))
        except np.linalg.LinAlgError:
            return beta, mu, info, False
        beta = beta + step
        mu = expit(x @ beta)
        new_deviance = _binomial_deviance(y, mu, w)
        settled = abs(new_deviance - deviance) / (abs(new_deviance) + 0.1) < tol
        deviance = new_deviance
        if np.max(np.abs(x @ step)) < tol or settled:
            return beta, mu, (x.T * (w * mu * (1 - mu))) @ x, True
    return beta, mu, (x.T * (w * mu * (1 - mu))) @ x, False


def _svyglm_collapsed(
    design: PreparedDesign,
    response: str,
    terms: Sequence[str],
    family: str,
    tol: float,
    max_iter: int,
    df_adjust: bool,
) -> GLMFit | None:
    """`svyglm` on the distinct covariate patterns of the rows fitted (None when more than half the rows
    are distinct: nothing to collapse). Every sum over rows becomes a sum over patterns of the rows'
    summed weights (and weighted responses); the influence values stay in collapsed form."""
    patterns = design_patterns(design, term_columns(terms))
    y_all = design.data[response].to_numpy(dtype=float, na_value=np.nan)
    present = (patterns.code >= 0) & ~np.isnan(y_all)
    rows = np.flatnonzero(present)
    if rows.size == 0:
        raise SurveyDesignError("no rows have the response and every predictor")
    code = patterns.code[rows]
    seen = np.bincount(code, minlength=patterns.count) > 0
    seen_count = int(seen.sum())
    if seen_count > rows.size // 2:
        return None
    local = (np.cumsum(seen) - 1)[code]
    # The model matrix of one row per pattern: the levels seen are those of the rows fitted.
    mm = pattern_model_matrix(design, patterns, seen, terms, intercept=True)
    x = mm.x
    y = y_all[rows]
    w = design.weights[rows]
    counts = np.bincount(local, minlength=seen_count).astype(float)
    if np.linalg.matrix_rank((x.T * counts) @ x) < x.shape[1]:
        raise SurveyDesignError(f"the model matrix of {list(terms)} is rank-deficient on the rows fitted")
    weight = np.bincount(local, w, seen_count)
    weighted_y = np.bincount(local, w * y, seen_count)
    converged = True
    if family == "gaussian":
        info = (x.T * weight) @ x
        beta = np.linalg.solve(info, x.T @ weighted_y)
        mu = x @ beta
    else:
        if np.any((y < 0) | (y > 1)):
            raise SurveyDesignError("a quasibinomial response must lie in [0, 1]")
        beta, mu, info, converged = _irls_logit_patterns(x, y, w, local, weight, weighted_y, tol, max_iter)
        if not converged:
            warnings.warn("svyglm (quasibinomial) did not converge", RuntimeWarning, stacklevel=3)
    ainv = np.linalg.inv(info)
    names = list(mm.names)
    design_df = design.degf(present)
    df_residual = design_df + 1 - len(names)
    loadings = np.zeros((patterns.count, 1, x.shape[1]))
    loadings[seen, 0, :] = x @ ainv
    if df_adjust:
        loadings *= np.sqrt(df_adjustment(design_df, df_residual))
    collapsed = CollapsedInfluence(design, patterns, rows, (w * (y - mu[local]))[:, None], loadings)
    var = collapsed_variance(collapsed)
    dense = None
    if var is None:
        dense = collapsed.dense()
        var = design.variance(dense, present)
        collapsed = None
    index = names_index(tuple(names))
    return GLMFit(
        family=family,
        coefficients=pd.Series(beta, index=index, dtype=float),
        vcov=pd.DataFrame(var, index=index, columns=index),
        se=pd.Series(np.sqrt(np.diag(var)), index=index),
        df_residual=df_residual,
        n=int(rows.size),
        terms={t: tuple(names[i] for i in cols) for t, cols in mm.assign.items()},
        influence=dense,
        converged=converged,
        collapsed=collapsed,
    )


def _pattern_deviance(mu: np.ndarray, weight: np.ndarray, weighted_y: np.ndarray, constant: float) -> float:
    # sum_i w_i [y log(y / mu) + (1 - y) log((1 - y) / (1 - mu))]: the y log y part is `constant`.
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(weighted_y > 0, weighted_y * np.log(mu), 0.0) + np.where(
            weight - weighted_y > 0, (weight - weighted_y) * np.log(1 - mu), 0.0
        )
    return float(2 * (constant - np.sum(terms)))


def _irls_logit_patterns(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    local: np.ndarray,
    weight: np.ndarray,
    weighted_y: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    # `_irls_logit` with ``x`` the distinct patterns (``local``: each row's) and ``weight``/``weighted_y``
    # their summed w and w * y: the same steps. R's start depends on each row's own weight, so the first
    # step sums its row terms by pattern; every later step reads the patterns alone.
    count = x.shape[0]
    mu_rows = (w * y + 0.5) / (w + 1)
    eta = np.log(mu_rows / (1 - mu_rows))
    v = w * mu_rows * (1 - mu_rows)
    start_weight = np.bincount(local, v, count)
    start_target = np.bincount(local, v * (eta + (y - mu_rows) / (mu_rows * (1 - mu_rows))), count)
    beta = np.linalg.solve((x.T * start_weight) @ x, x.T @ start_target)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(y > 0, y * np.log(y), 0.0) + np.where(y < 1, (1 - y) * np.log(1 - y), 0.0)
    constant = float(np.sum(w * own))
    mu = expit(x @ beta)
    deviance = _pattern_deviance(mu, weight, weighted_y, constant)
    for _ in range(max_iter):
        info = (x.T * (weight * mu * (1 - mu))) @ x
        try:
            step = np.linalg.solve(info, x.T @ (weighted_y - weight * mu))
        except np.linalg.LinAlgError:
            return beta, mu, info, False
        beta = beta + step
        mu = expit(x @ beta)
        new_deviance = _pattern_deviance(mu, weight, weighted_y, constant)
        settled = abs(new_deviance - deviance) / (abs(new_deviance) + 0.1) < tol
        deviance = new_deviance
        if np.max(np.abs(x @ step)) < tol or settled:
            return beta, mu, (x.T * (weight * mu * (1 - mu))) @ x, True
    return beta, mu, (x.T * (weight * mu * (1 - mu))) @ x, False


def joint_covariance(design: PreparedDesign, fits: Sequence[GLMFit], columns: Sequence[int]) -> np.ndarray:
    """The joint design-based covariance of one coefficient of each of several fits over `design`'s rows
    (``columns[i]``: the position of fit i's coefficient), from their influence values together: the
    stacked estimating equations R's svyby/svycontrast would use.

    Fits held on collapsed patterns of the same columns are stacked in that form; otherwise their dense
    influence columns go through ``design.variance``.
    """
    collapsed = [fit.collapsed for fit in fits]
    # The fits' own design may be another object over the same rows (`PreparedDesign.with_data`).
    if all(c is not None for c in collapsed) and all(
        c.design is collapsed[0].design and c.patterns is collapsed[0].patterns and c.design.n == design.n
        for c in collapsed
    ):
        var = collapsed_variance(stack([c.take([k]) for c, k in zip(collapsed, columns, strict=True)]))
        if var is not None:
            return var
    influence = np.column_stack(
        [
            (fit.influence[:, k] if fit.collapsed is None else fit.collapsed.take([k]).dense()[:, 0])
            for fit, k in zip(fits, columns, strict=True)
        ]
    )
    return design.variance(influence, np.any(influence != 0, axis=1))
