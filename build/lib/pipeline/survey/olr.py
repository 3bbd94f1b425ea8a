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
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import expit

from pipeline.survey.design import PreparedDesign, SurveyDesignError
from pipeline.survey.estimators import ArrayLike

# R's svyolr puts the outer cut points at -100 and 100 rather than at infinity.
_OUTER = 100.0
# optim()'s default step (control$ndeps) for its finite-difference Hessian.
_R_NDEPS = 1e-3


def _dlogis(z: np.ndarray) -> np.ndarray:
    p = expit(z)
    return p * (1 - p)


def _label(value: Any) -> str:
    # R's factor() labels 1.0 as "1": format whole floats without the decimal part.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Problem:
    x: np.ndarray  # (n, pc) predictors without intercept
    y: np.ndarray  # (n,) category codes 1 .. K
    w: np.ndarray  # (n,) weights
    q: int  # K - 1 cut points

    def _zeta(self, theta: np.ndarray) -> np.ndarray:
        return np.cumsum(np.concatenate([theta[:1], np.exp(theta[1:])]))

    def _pieces(self, par: np.ndarray) -> tuple[np.ndarray, ...]:
        pc = self.x.shape[1]
        beta, theta = par[:pc], par[pc:]
        gamm = np.concatenate([[-_OUTER], self._zeta(theta), [_OUTER]])
        eta = self.x @ beta
        upper = gamm[self.y] - eta
        lower = gamm[self.y - 1] - eta
        pr = expit(upper) - expit(lower)
        return eta, upper, lower, pr

    def nll(self, par: np.ndarray) -> float:
        pr = self._pieces(par)[3]
        if np.any(pr <= 0):
            return float("inf")
        return float(-(self.w @ np.log(pr)))

    def scores(self, par: np.ndarray) -> np.ndarray:
        """Per-row gradient of the negative log-likelihood w.r.t. (beta, zeta) (R: gmini)."""
        _, upper, lower, pr = self._pieces(par)
        p1, p2 = _dlogis(upper), _dlogis(lower)
        cols = np.arange(1, self.q + 1)[None, :]
        y1 = (cols == self.y[:, None]).astype(float)
        y2 = (cols == (self.y - 1)[:, None]).astype(float)
        g_beta = self.x * (self.w * (p1 - p2) / pr)[:, None]
        g_zeta = -(y1 * p1[:, None] - y2 * p2[:, None]) * (self.w / pr)[:, None]
        return np.hstack([g_beta, g_zeta])

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d zeta / d theta for zeta = cumsum(theta_1, exp(theta_2), ...)."""
        return np.tril(np.ones((self.q, self.q))) * np.concatenate([[1.0], np.exp(theta[1:])])

    def grad_theta(self, par: np.ndarray) -> np.ndarray:
        """Gradient in the (beta, theta) parametrisation R optimises in (R: gmin)."""
        pc = self.x.shape[1]
        g = self.scores(par).sum(axis=0)
        return np.concatenate([g[:pc], g[pc:] @ self.jacobian(par[pc:])])

    def hessian_zeta(self, par: np.ndarray) -> np.ndarray:
        """Analytic Hessian of the negative log-likelihood in (beta, zeta)."""
        pc = self.x.shape[1]
        _, upper, lower, pr = self._pieces(par)
        p1, p2 = _dlogis(upper), _dlogis(lower)
        # d p1 / d upper for the logistic density: p1 (1 - 2 F(upper)).
        d1 = p1 * (1 - 2 * expit(upper))
        d2 = p2 * (1 - 2 * expit(lower))
        cols = np.arange(1, self.q + 1)[None, :]
        y1 = (cols == self.y[:, None]).astype(float)
        y2 = (cols == (self.y - 1)[:, None]).astype(float)
        # d log pr / d eta and d log pr / d zeta per row; then second derivatives.
        a_eta = -(p1 - p2) / pr
        a_zeta = (y1 * p1[:, None] - y2 * p2[:, None]) / pr[:, None]
        # Second derivatives of pr itself.
        pr_ee = d1 - d2
        pr_ze = -(y1 * d1[:, None] - y2 * d2[:, None])
        pr_zz_diag = y1 * d1[:, None] - y2 * d2[:, None]
        w = self.w
        h_ee = w * (pr_ee / pr - a_eta**2)  # d2 log pr / d eta2
        h_ze = w[:, None] * (pr_ze / pr[:, None] - a_zeta * a_eta[:, None])
        h_bb = -(self.x.T * h_ee) @ self.x
        # eta = x beta, so d/d beta = x d/d eta.
        h_bz = -(self.x.T @ h_ze)
        h_zz = -(a_zeta * w[:, None]).T @ (-a_zeta)
        h_zz -= np.diag((w[:, None] * pr_zz_diag / pr[:, None]).sum(axis=0))
        hess = np.zeros((pc + self.q, pc + self.q))
        hess[:pc, :pc] = h_bb
        hess[:pc, pc:] = h_bz
        hess[pc:, :pc] = h_bz.T
        hess[pc:, pc:] = h_zz
        return hess

    def hessian_theta(self, par: np.ndarray) -> np.ndarray:
        """Analytic Hessian in (beta, theta): chain rule through zeta(theta)."""
        pc = self.x.shape[1]
        a = np.eye(pc + self.q)
        a[pc:, pc:] = self.jacobian(par[pc:])
        hess = a.T @ self.hessian_zeta(par) @ a
        g_zeta = self.scores(par).sum(axis=0)[pc:]
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
    """

    coefficients: pd.Series
    zeta: pd.Series
    vcov: pd.DataFrame
    se: pd.Series
    deviance: float
    df_residual: float
    n: int
    converged: bool

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


def _polish(problem: _Problem, par: np.ndarray, steps: int = 8) -> tuple[np.ndarray, float]:
    # Trust-region methods stop once function values stop changing in floating point, which
    # leaves parameters good to about sqrt(machine eps). Newton steps on the gradient alone
    # carry on to the gradient's own rounding floor; a step is kept only if it shrinks the
    # gradient.
    grad = problem.grad_theta(par)
    best = float(np.max(np.abs(grad)))
    for _ in range(steps):
        try:
            trial = par - np.linalg.solve(problem.hessian_theta(par), grad)
        except np.linalg.LinAlgError:
            break
        trial_grad = problem.grad_theta(trial)
        size = float(np.max(np.abs(trial_grad)))
        if not np.isfinite(size) or size >= best:
            break
        par, grad, best = trial, trial_grad, size
    return par, best


def _model_matrix(frame: pd.DataFrame, predictors: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    cols: list[np.ndarray] = []
    names: list[str] = []
    for name in predictors:
        s = frame[name]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            # Treatment contrasts against the first level, R's default for a factor.
            # Levels are those seen in the rows fitted, as R's model.matrix() builds them; an
            # unused categorical level would be an all-zero, unidentifiable column.
            seen = set(s.dropna().unique().tolist())
            cats = (
                [c for c in s.cat.categories if c in seen]
                if isinstance(s.dtype, pd.CategoricalDtype)
                else sorted(seen)
            )
            for level in cats[1:]:
                cols.append((s == level).to_numpy(dtype=float))
                names.append(f"{name}{_label(level)}")
        else:
            cols.append(s.to_numpy(dtype=float))
            names.append(name)
    x = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
    return x, names


def svyolr(
    design: PreparedDesign,
    response: str,
    predictors: Sequence[str] = (),
    *,
    domain: ArrayLike | None = None,
    hessian: Literal["r", "analytic"] = "r",
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
        Predictor columns; no intercept (the cut points play its part).
    domain
        Boolean mask or column for a subpopulation (R: ``svyolr(..., subset(des, d))``).
    hessian
        ``"r"`` (default) inverts the Hessian R uses, ``optim``'s central-difference Hessian of
        the analytic gradient with step 1e-3 in R's ``(beta, log-spacing)`` parametrisation;
        ``"analytic"`` uses the exact Hessian. The SEs differ by up to about 1e-6 relative.

    Returns
    -------
    OrdinalFit
        Coefficients, cut points, design-based covariance and SEs.
    """
    frame = design.data
    dom = design.mask(domain)
    y_raw = frame[response]
    present = dom & y_raw.notna().to_numpy()
    for name in predictors:
        present &= frame[name].notna().to_numpy()
    if isinstance(y_raw.dtype, pd.CategoricalDtype):
        levels = list(y_raw.cat.categories)
    else:
        levels = sorted(y_raw[present].unique().tolist())
    if len(levels) < 3:
        raise SurveyDesignError("the response needs three or more levels")
    y = pd.Categorical(y_raw[present], categories=levels).codes.astype(np.int64) + 1
    empty = [
        lev for lev, k in zip(levels, np.bincount(y, minlength=len(levels) + 1)[1:], strict=True) if k == 0
    ]
    if empty:
        # An empty category puts two cut points at the same place: no finite maximum.
        raise SurveyDesignError(f"response level(s) {empty} have no observations in the fit")
    x, names = _model_matrix(frame.loc[present], predictors)
    problem = _Problem(x=x, y=y, w=design.weights[present], q=len(levels) - 1)
    pc = x.shape[1]

    # Start from the null model's cut points (weighted cumulative logits); the likelihood is
    # concave in (beta, zeta), so any interior start reaches the same maximum.
    counts = np.bincount(y, weights=problem.w, minlength=len(levels) + 1)[1:]
    cum = np.cumsum(counts)[:-1] / counts.sum()
    zeta0 = np.log(cum / (1 - cum))
    start = np.concatenate([np.zeros(pc), zeta0[:1], np.log(np.diff(zeta0))])
    res = optimize.minimize(
        problem.nll,
        start,
        jac=problem.grad_theta,
        hess=problem.hessian_theta,
        method="trust-exact",
        options={"gtol": 1e-10, "maxiter": 500},
    )
    par, grad_max = _polish(problem, res.x)
    converged = bool(grad_max < 1e-6)
    if not converged:
        warnings.warn(
            f"svyolr did not converge (largest gradient {grad_max:.2g}); check for separation",
            RuntimeWarning,
            stacklevel=2,
        )

    zeta = problem._zeta(par[pc:])
    # Covariance of (beta, theta) from the chosen Hessian, then the delta method to zeta,
    # exactly as R: Vm = A H^-1 A', influence = U_zeta Vm.
    h_theta = problem.hessian_r(par) if hessian == "r" else problem.hessian_theta(par)
    amat = np.eye(pc + problem.q)
    amat[pc:, pc:] = problem.jacobian(par[pc:])
    vm = amat @ np.linalg.pinv(h_theta) @ amat.T
    infl = np.zeros((design.n, pc + problem.q))
    infl[present] = problem.scores(par) @ vm
    var = design.variance(infl, present)

    zeta_names = [f"{_label(a)}|{_label(b)}" for a, b in itertools.pairwise(levels)]
    all_names = names + zeta_names
    return OrdinalFit(
        coefficients=pd.Series(par[:pc], index=names, dtype=float),
        zeta=pd.Series(zeta, index=zeta_names),
        vcov=pd.DataFrame(var, index=all_names, columns=all_names),
        se=pd.Series(np.sqrt(np.diag(var)), index=all_names),
        deviance=float(2 * problem.nll(par) / problem.w.mean()),
        df_residual=design.degf(present) - pc,
        n=int(present.sum()),
        converged=converged,
    )
