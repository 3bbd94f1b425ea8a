"""Proportional-odds (cumulative logit) regression for survey data (R: ``survey::svyolr``).

Model: ``P(Y <= k | x) = expit(zeta_k - x'beta)`` for ``k = 1 .. K-1``. The estimates maximise
the weighted log-likelihood ``sum_i w_i log P(Y = y_i | x_i)``; the standard errors are the
design-based sandwich R uses: influence values ``U_i H^-1`` (``U_i`` the row's weighted score,
``H`` the Hessian of the negative log-likelihood) put through the design's linearisation
variance.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from pipeline.survey.collapsed import (
    CollapsedInfluence,
    collapsed_variance,
    design_patterns,
    pattern_model_matrix,
)
from pipeline.survey.design import PreparedDesign, SurveyDesignError
from pipeline.survey.estimators import ArrayLike
from pipeline.survey.glm import df_adjustment
from pipeline.survey.patterns import COLLAPSE_MIN_ROWS, distinct_rows
from pipeline.survey.terms import (
    coded_column,
    design_model_matrix,
    level_label,
    model_matrix,
    names_index,
    term_columns,
)

# R's svyolr puts the outer cut points at -100 and 100 rather than at infinity.
_OUTER = 100.0
# optim()'s default step (control$ndeps) for its finite-difference Hessian.
_R_NDEPS = 1e-3


class _Problem:
    """The weighted proportional-odds likelihood of one fit, with its derivatives.

    Indicator matrices of "the row's upper / lower cut point is zeta_k" are built once, so each
    evaluation is a few vector operations over the rows.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, q: int) -> None:
        self.x = x  # (n, pc) predictors without intercept
        self.y = y  # (n,) category codes 1 .. K
        self.w = w  # (n,) weights
        self.q = q  # K - 1 cut points
        cols = np.arange(1, q + 1)[None, :]
        self.y1 = (cols == y[:, None]).astype(float)  # upper cut point is zeta_k
        self.y2 = (cols == (y - 1)[:, None]).astype(float)  # lower cut point is zeta_k

    def _zeta(self, theta: np.ndarray) -> np.ndarray:
        return np.cumsum(np.concatenate([theta[:1], np.exp(theta[1:])]))

    def _theta(self, zeta: np.ndarray) -> np.ndarray:
        return np.concatenate([zeta[:1], np.log(np.diff(zeta))])

    def _pieces_zeta(self, beta: np.ndarray, zeta: np.ndarray) -> tuple[np.ndarray, ...]:
        gamm = np.concatenate([[-_OUTER], zeta, [_OUTER]])
        eta = self.x @ beta
        f_upper = expit(gamm[self.y] - eta)
        f_lower = expit(gamm[self.y - 1] - eta)
        return f_upper, f_lower, f_upper - f_lower

    def _pieces(self, par: np.ndarray) -> tuple[np.ndarray, ...]:
        pc = self.x.shape[1]
        return self._pieces_zeta(par[:pc], self._zeta(par[pc:]))

    def nll_zeta(self, beta: np.ndarray, zeta: np.ndarray) -> float:
        return self.value_and_grad(beta, zeta)[0]

    def value_and_grad(self, beta: np.ndarray, zeta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log-likelihood and its gradient in (beta, zeta) from one pass over the rows."""
        if np.any(np.diff(zeta) <= 0):
            return float("inf"), np.full(beta.size + zeta.size, np.nan)
        f_upper, f_lower, pr = self._pieces_zeta(beta, zeta)
        if np.any(pr <= 0):
            return float("inf"), np.full(beta.size + zeta.size, np.nan)
        p1, p2, wr = self._row_terms(f_upper, f_lower, pr)
        grad = np.concatenate([self.x.T @ (wr * (p1 - p2)), -(wr * p1) @ self.y1 + (wr * p2) @ self.y2])
        return float(-(self.w @ np.log(pr))), grad

    def nll(self, par: np.ndarray) -> float:
        pc = self.x.shape[1]
        return self.nll_zeta(par[:pc], self._zeta(par[pc:]))

    def _row_terms(self, f_upper: np.ndarray, f_lower: np.ndarray, pr: np.ndarray) -> tuple[np.ndarray, ...]:
        p1 = f_upper * (1 - f_upper)
        p2 = f_lower * (1 - f_lower)
        return p1, p2, self.w / pr

    def scores(self, par: np.ndarray) -> np.ndarray:
        """Per-row gradient of the negative log-likelihood w.r.t. (beta, zeta) (R: gmini)."""
        p1, p2, wr = self._row_terms(*self._pieces(par))
        g_beta = self.x * (wr * (p1 - p2))[:, None]
        g_zeta = -(self.y1 * p1[:, None] - self.y2 * p2[:, None]) * wr[:, None]
        return np.hstack([g_beta, g_zeta])

    def grad_zeta(self, beta: np.ndarray, zeta: np.ndarray) -> np.ndarray:
        """Gradient of the negative log-likelihood in (beta, zeta), summed over rows."""
        p1, p2, wr = self._row_terms(*self._pieces_zeta(beta, zeta))
        g_beta = self.x.T @ (wr * (p1 - p2))
        g_zeta = -(wr * p1) @ self.y1 + (wr * p2) @ self.y2
        return np.concatenate([g_beta, g_zeta])

    def grad_theta(self, par: np.ndarray) -> np.ndarray:
        """Gradient in the (beta, theta) parametrisation R optimises in (R: gmin)."""
        pc = self.x.shape[1]
        g = self.grad_zeta(par[:pc], self._zeta(par[pc:]))
        return np.concatenate([g[:pc], g[pc:] @ self.jacobian(par[pc:])])

    def hessian_in_zeta(self, beta: np.ndarray, zeta: np.ndarray) -> np.ndarray:
        """Analytic Hessian of the negative log-likelihood in (beta, zeta)."""
        pc, q = self.x.shape[1], self.q
        f_upper, f_lower, pr = self._pieces_zeta(beta, zeta)
        p1, p2, _ = self._row_terms(f_upper, f_lower, pr)
        w = self.w
        # Each row touches at most two cut points: its upper one (zeta_y) and its lower one
        # (zeta_{y-1}); per-cut-point sums are bincounts over y, not (rows x cut points) products.
        u = p1 / pr  # d log pr / d zeta_upper
        lo = p2 / pr  # -d log pr / d zeta_lower
        d1 = p1 * (1 - 2 * f_upper) / pr  # (d2 pr / d upper2) / pr, logistic density derivative
        d2 = p2 * (1 - 2 * f_lower) / pr
        a_eta = lo - u  # d log pr / d eta
        h_ee = w * (d1 - d2 - a_eta**2)  # d2 log pr / d eta2
        hess = np.empty((pc + q, pc + q))
        hess[:pc, :pc] = -(self.x.T * h_ee) @ self.x
        # d2 log pr / d eta d zeta_upper and / d eta d zeta_lower, per row.
        c_upper = w * (-d1 - u * a_eta)
        c_lower = w * (d2 + lo * a_eta)
        hess[:pc, pc:] = -((self.x * c_upper[:, None]).T @ self.y1 + (self.x * c_lower[:, None]).T @ self.y2)
        hess[pc:, :pc] = hess[:pc, pc:].T
        k = q + 2
        # Cut point k is the upper one of rows with y = k and the lower one of rows with y = k + 1.
        diag = (
            np.bincount(self.y, w * (u**2 - d1), k)[1 : q + 1]
            + np.bincount(self.y - 1, w * (lo**2 + d2), k)[1 : q + 1]
        )
        # Rows with both cut points interior (2 <= y <= q) link zeta_{y-1} and zeta_y.
        cross = -np.bincount(self.y, w * u * lo, k)[2 : q + 1]
        hzz = np.diag(diag)
        idx = np.arange(q - 1)
        hzz[idx + 1, idx] = cross
        hzz[idx, idx + 1] = cross
        hess[pc:, pc:] = hzz
        return hess

    def hessian_zeta(self, par: np.ndarray) -> np.ndarray:
        """Analytic Hessian in (beta, zeta) at `par` given in (beta, theta)."""
        pc = self.x.shape[1]
        return self.hessian_in_zeta(par[:pc], self._zeta(par[pc:]))

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d zeta / d theta for zeta = cumsum(theta_1, exp(theta_2), ...)."""
        return np.tril(np.ones((self.q, self.q))) * np.concatenate([[1.0], np.exp(theta[1:])])

    def hessian_theta(self, par: np.ndarray) -> np.ndarray:
        """Analytic Hessian in (beta, theta): chain rule through zeta(theta)."""
        pc = self.x.shape[1]
        a = np.eye(pc + self.q)
        a[pc:, pc:] = self.jacobian(par[pc:])
        hess = a.T @ self.hessian_zeta(par) @ a
        g_zeta = self.grad_zeta(par[:pc], self._zeta(par[pc:]))[pc:]
        # zeta_k depends on exp(theta_j) for j <= k (j >= 2): second derivative exp(theta_j).
        extra = np.cumsum(g_zeta[::-1])[::-1] * np.exp(par[pc:])
        extra[0] = 0.0
        hess[pc:, pc:] += np.diag(extra)
        return hess

    def hessian_r(self, par: np.ndarray) -> np.ndarray:
        """R's optim(hessian=TRUE): central differences of the gradient, step 1e-3, symmetrised."""
        k = par.size
        steps = np.eye(k) * _R_NDEPS
        rows = [
            (self.grad_theta(par + steps[i]) - self.grad_theta(par - steps[i])) / (2 * _R_NDEPS)
            for i in range(k)
        ]
        hess = np.vstack(rows)
        return 0.5 * (hess + hess.T)


@dataclass(frozen=True)
class OrdinalFit:
    """Result of `svyolr`.

    Attributes
    ----------
    coefficients : pandas.Series
        Slopes ``beta``, named as R names them (``"tiertwo_tier"``).
    zeta : pandas.Series
        Cut points, named ``"1|2"``, ``"2|3"``, ...
    vcov : pandas.DataFrame
        Design-based covariance of ``(beta, zeta)``.
    se : pandas.Series
        Square roots of its diagonal.
    deviance : float
        ``2 * (negative weighted log-likelihood) / mean(weights)``, as R reports.
    df_residual : float
        Design df minus the number of slopes (R's ``df.residual``).
    n : int
        Rows used.
    converged : bool
        Whether the optimiser met its tolerance.
    terms : dict
        Term label -> the names of its slopes, for `pipeline.survey.glm.wald_test`.
    influence : numpy.ndarray or None
        ``(design rows, slopes + cut points)`` influence values, zero outside the fit (None when held
        as `collapsed`).
    collapsed : CollapsedInfluence or None
        The same influence values on covariate patterns (``influence=False`` on a large design).
    """

    coefficients: pd.Series
    zeta: pd.Series
    vcov: pd.DataFrame
    se: pd.Series
    deviance: float
    df_residual: float
    n: int
    converged: bool
    terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    influence: np.ndarray | None = field(default=None, repr=False)
    collapsed: CollapsedInfluence | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return coefficients, cut points and SEs as plain values."""
        return {
            "coefficients": self.coefficients.to_dict(),
            "zeta": self.zeta.to_dict(),
            "se": self.se.to_dict(),
            "deviance": self.deviance,
            "df_residual": self.df_residual,
            "n": self.n,
            "converged": self.converged,
        }


def _newton(
    problem: _Problem, beta: np.ndarray, zeta: np.ndarray, max_iter: int = 100
) -> tuple[np.ndarray, float]:
    # Newton steps in (beta, zeta), where the negative log-likelihood is convex, halving a step
    # until it lowers the objective and keeps the cut points ordered. Near the maximum the full
    # step is taken and convergence is quadratic; it stops when the gradient reaches its rounding
    # floor (no step shrinks it further), which is where R lands when run to convergence.
    pc = beta.size
    par = np.concatenate([beta, zeta])
    value, grad = problem.value_and_grad(beta, zeta)
    best = float(np.max(np.abs(grad)))
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(problem.hessian_in_zeta(par[:pc], par[pc:]), grad)
        except np.linalg.LinAlgError:
            break
        scale = 1.0
        for _ in range(40):
            trial = par - scale * step
            trial_value, trial_grad = problem.value_and_grad(trial[:pc], trial[pc:])
            # Near the maximum the objective is flat to rounding: a step that does not raise it
            # beyond that is judged by the gradient below.
            if trial_value <= value + 1e-13 * abs(value):
                break
            scale /= 2
        else:
            break
        size = float(np.max(np.abs(trial_grad)))
        if not np.isfinite(size) or (size >= best and trial_value >= value):
            break
        par, value, grad, best = trial, trial_value, trial_grad, size
        if best < 1e-11 * max(1.0, float(problem.w.sum())):
            break
    return par, best


def _model_matrix(frame: pd.DataFrame, predictors: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    mm = model_matrix(frame, predictors, intercept=False)
    return mm.x, list(mm.names)


def svyolr(
    design: PreparedDesign,
    response: str,
    predictors: Sequence[str] = (),
    *,
    domain: ArrayLike | None = None,
    hessian: Literal["r", "analytic"] = "r",
    start: OrdinalFit | None = None,
    df_adjust: bool = False,
    influence: bool = True,
) -> OrdinalFit:
    """Weighted proportional-odds regression with design-based SEs (R: ``svyolr``).

    R equivalent: ``svyolr(factor(response) ~ p1 + p2, des)``. Rows with the response or a
    predictor missing are dropped from the fit but keep their place in the design. Categorical
    predictors (non-numeric, boolean or pandas categorical) get treatment contrasts against the
    first level (sorted, or the categorical's order); the response's levels are its sorted
    values, or a categorical's order.

    Parameters
    ----------
    design
        The prepared design.
    response
        Column of the ordinal outcome (three or more levels).
    predictors
        Terms: predictor columns and ``"a:b"`` interactions (see `pipeline.survey.terms`); no
        intercept (the cut points play its part).
    domain
        Boolean mask or column for a subpopulation (R: ``svyolr(..., subset(des, d))``).
    hessian
        ``"r"`` (default) inverts the Hessian R uses, ``optim``'s central-difference Hessian of
        the analytic gradient with step 1e-3 in R's ``(beta, log-spacing)`` parametrisation;
        ``"analytic"`` uses the exact Hessian. The SEs differ by up to about 1e-6 relative.
    start
        A previous fit to start from (a warm start across items or imputations): its slopes
        and cut points are used when the names match, else the null model's cut points.
    df_adjust
        As `pipeline.survey.glm.svyglm`: the covariance (and the influence values) times
        ``degf / df_residual``; ``False`` matches R's ``svyolr``.
    influence
        Keep the ``(design rows, coefficients)`` influence values. ``False`` lets a large design
        (`COLLAPSE_MIN_ROWS` rows or more, no domain) fit its cells from the predictors' patterns kept
        beside the design and take the variance from PSU sums of the rows' weights by response level
        (`pipeline.survey.collapsed`): the same numbers to rounding.

    Returns
    -------
    OrdinalFit
        Coefficients, cut points, design-based covariance and SEs.
    """
    frame = design.data
    dom = design.mask(domain)
    y_raw = frame[response]
    present = dom & y_raw.notna().to_numpy()
    for name in term_columns(predictors):
        present &= coded_column(design, name).present
    # A plain numeric response is coded with numpy: pandas' categorical machinery is most of a small
    # survey's fit time (the same codes, levels sorted).
    numeric = isinstance(y_raw.dtype, np.dtype) and y_raw.dtype.kind in "iuf"
    if not numeric and not influence and domain is None and design.n >= COLLAPSE_MIN_ROWS:
        # A nullable numeric response (pandas' Int64, Float64) the same way, as floats: the same codes
        # and level labels, without pandas' per-value work on a large survey's rows.
        kind = y_raw.dtype
        if pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind):
            y_raw = pd.Series(y_raw.to_numpy(dtype=float, na_value=np.nan))
            numeric = True
    if isinstance(y_raw.dtype, pd.CategoricalDtype):
        levels = list(y_raw.cat.categories)
    elif numeric:
        levels = np.unique(y_raw.to_numpy()[present]).tolist()
    else:
        levels = sorted(y_raw[present].unique().tolist())
    if len(levels) < 3:
        raise SurveyDesignError("the response needs three or more levels")
    if numeric:
        y = np.searchsorted(np.asarray(levels), y_raw.to_numpy()[present]).astype(np.int64) + 1
    else:
        y = pd.Categorical(y_raw[present], categories=levels).codes.astype(np.int64) + 1
    empty = [
        lev for lev, k in zip(levels, np.bincount(y, minlength=len(levels) + 1)[1:], strict=True) if k == 0
    ]
    if empty:
        # An empty category puts two cut points at the same place: no finite maximum.
        raise SurveyDesignError(f"response level(s) {empty} have no observations in the fit")
    # The predictors' columns are coded once per design (pipeline.survey.terms), then taken at the rows.
    fitted_rows = np.flatnonzero(present)
    row_weights = design.weights[present]
    patterns = (
        _large_design_patterns(design, fitted_rows, predictors) if not influence and domain is None else None
    )
    if patterns is not None:
        # The predictors' distinct patterns over the design (kept beside it for every fit of these
        # terms), each with one row in the model matrix; the cells are (pattern, response level).
        design_patterns_, seen, local = patterns
        mm = pattern_model_matrix(design, design_patterns_, seen, predictors, intercept=False)
        names, k_levels = list(mm.names), len(levels)
        cell_code, cell_ids = pd.factorize(local * k_levels + (y - 1))
        pattern = cell_code.astype(np.int64)
        problem = _Problem(
            x=mm.x[cell_ids // k_levels],
            y=(cell_ids % k_levels + 1).astype(np.int64),
            w=np.bincount(pattern, weights=row_weights, minlength=cell_ids.size),
            q=k_levels - 1,
        )
        pc = mm.x.shape[1]
    else:
        mm = design_model_matrix(design, fitted_rows, predictors, intercept=False)
        x, names = mm.x, list(mm.names)
        # The likelihood and its derivatives depend on the rows only through the summed weight of each
        # distinct (predictors, response) pattern: with categorical predictors a few dozen patterns stand
        # for thousands of rows, and the fit runs on those. Row scores are the pattern's unit score times
        # the row's weight.
        cells, pattern = distinct_rows(np.column_stack([x, y.astype(float)]))
        if cells.shape[0] < x.shape[0]:
            cell_weights = np.bincount(pattern, weights=row_weights, minlength=cells.shape[0])
            problem = _Problem(
                x=cells[:, :-1], y=cells[:, -1].astype(np.int64), w=cell_weights, q=len(levels) - 1
            )
        else:
            pattern = None
            problem = _Problem(x=x, y=y, w=row_weights, q=len(levels) - 1)
        pc = x.shape[1]

    zeta_names = [f"{level_label(a)}|{level_label(b)}" for a, b in itertools.pairwise(levels)]
    if start is not None and list(start.coefficients.index) == names and list(start.zeta.index) == zeta_names:
        beta0, zeta0 = start.coefficients.to_numpy(), start.zeta.to_numpy()
    else:
        # The null model's cut points (weighted cumulative logits); the likelihood is concave
        # in (beta, zeta), so any interior start reaches the same maximum.
        counts = np.bincount(y, weights=row_weights, minlength=len(levels) + 1)[1:]
        cum = np.cumsum(counts)[:-1] / counts.sum()
        beta0, zeta0 = np.zeros(pc), np.log(cum / (1 - cum))
    fitted, grad_max = _newton(problem, beta0, zeta0)
    converged = bool(grad_max < 1e-6)
    if not converged:
        warnings.warn(
            f"svyolr did not converge (largest gradient {grad_max:.2g}); check for separation",
            RuntimeWarning,
            stacklevel=2,
        )
    par = np.concatenate([fitted[:pc], problem._theta(fitted[pc:])])

    zeta = fitted[pc:]
    # Covariance of (beta, theta) from the chosen Hessian, then the delta method to zeta,
    # exactly as R: Vm = A H^-1 A', influence = U_zeta Vm.
    h_theta = problem.hessian_r(par) if hessian == "r" else problem.hessian_theta(par)
    amat = np.eye(pc + problem.q)
    amat[pc:, pc:] = problem.jacobian(par[pc:])
    vm = amat @ np.linalg.pinv(h_theta) @ amat.T
    design_df = design.degf(present)
    df_residual = design_df - pc
    adjust = np.sqrt(df_adjustment(design_df, df_residual)) if df_adjust else 1.0
    collapsed = None
    var = None
    if patterns is not None:
        # Each row's influence is its weight times its cell's unit score through the sandwich: a
        # one-hot weight per response level, and loadings per (covariate pattern, level).
        design_patterns_, seen, _ = patterns
        unit = problem.scores(par) / problem.w[:, None]
        loadings = np.zeros((design_patterns_.count, len(levels), pc + problem.q))
        loadings[np.flatnonzero(seen)[cell_ids // k_levels], cell_ids % k_levels, :] = (unit @ vm) * adjust
        q = np.zeros((fitted_rows.size, len(levels)))
        q[np.arange(fitted_rows.size), y - 1] = row_weights
        collapsed = CollapsedInfluence(design, design_patterns_, fitted_rows, q, loadings)
        var = collapsed_variance(collapsed)
        infl = None
        if var is None:
            infl = collapsed.dense()
            collapsed = None
    else:
        infl = np.zeros((design.n, pc + problem.q))
        if pattern is None:
            infl[present] = problem.scores(par) @ vm
        else:
            unit = problem.scores(par) / problem.w[:, None]  # each pattern's score per unit of weight
            infl[present] = (unit @ vm)[pattern] * row_weights[:, None]
        if df_adjust:
            infl *= adjust
    if var is None:
        var = design.variance(infl, present)

    all_names = names_index(tuple(names + zeta_names))
    return OrdinalFit(
        coefficients=pd.Series(par[:pc], index=names_index(tuple(names)), dtype=float),
        zeta=pd.Series(zeta, index=names_index(tuple(zeta_names))),
        vcov=pd.DataFrame(var, index=all_names, columns=all_names),
        se=pd.Series(np.sqrt(np.diag(var)), index=all_names),
        deviance=float(2 * problem.nll(par) / row_weights.mean()),
        df_residual=df_residual,
        n=int(present.sum()),
        converged=converged,
        terms={t: tuple(names[i] for i in cols) for t, cols in mm.assign.items()},
        influence=infl,
        collapsed=collapsed,
    )


def _large_design_patterns(
    design: PreparedDesign, fitted_rows: np.ndarray, predictors: Sequence[str]
) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """The predictors' patterns over a large design, which patterns the fitted rows show and each
    row's position among those; None for a small design or when more than half the rows are distinct."""
    if design.n < COLLAPSE_MIN_ROWS:
        return None
    patterns = design_patterns(design, term_columns(predictors))
    code = patterns.code[fitted_rows]
    seen = np.bincount(code, minlength=patterns.count) > 0
    if int(seen.sum()) > fitted_rows.size // 2:
        return None
    return patterns, seen, (np.cumsum(seen) - 1)[code]
