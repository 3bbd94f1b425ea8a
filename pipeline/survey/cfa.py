"""Confirmatory factor analysis by maximum likelihood, single- and multi-group (R: lavaan's ``cfa()``).

Matches lavaan 0.6 with ``estimator = "ML"`` (normal-theory ML on the covariance matrix, divisor N),
``missing = "listwise"``, marker-item identification (each factor's first loading fixed at 1) and
``group.equal`` for measurement invariance: ``configural`` (every parameter free per group), ``metric``
(equal loadings) and ``scalar`` (equal loadings and intercepts; factor means free in every group but
the first). Fit measures are lavaan's: chi-squared (``N_g`` times the ML discrepancy, summed over
groups), df, CFI and TLI against the independence model, RMSEA (times sqrt(groups)).

As lavaan, the fit does not bound variances: a solution may be *inadmissible*, with a negative residual
variance (a Heywood case) or a latent covariance matrix that is not positive definite (lavaan warns "the
covariance matrix of the latent variables is not positive definite"). `fit_cfa` checks every group's
solution for both (`Admissibility`) and says so: such a fit's chi-squared is that of a point outside the
parameter space, and comparisons built on it (the invariance tests) rest on it.

The reference values are in tests/survey/fixtures/lavaan_cfa.json (tests/survey/r/make_cfa_fixture.R).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

INVARIANCE = ("configural", "metric", "scalar")
# A residual variance or latent eigenvalue below this (relative to the largest item variance) counts as
# negative: an exact zero on the boundary is admissible, rounding below it is not a Heywood case.
ADMISSIBILITY_TOL = 1e-8


class CFAError(ValueError):
    """A CFA that cannot be fitted (a group with no more complete cases than items)."""


@dataclass(frozen=True)
class Admissibility:
    """Whether one group's solution lies inside the parameter space."""

    group: str
    smallest_residual_variance: float
    smallest_latent_eigenvalue: float
    heywood_items: tuple[str, ...]

    @property
    def latent_positive_definite(self) -> bool:
        return self.smallest_latent_eigenvalue > 0

    @property
    def admissible(self) -> bool:
        return not self.heywood_items and self.latent_positive_definite

    def problems(self) -> list[str]:
        """One phrase per problem, for a reader."""
        out = []
        if self.heywood_items:
            out.append(
                f"{self.group}: negative residual variance (Heywood case) of {', '.join(self.heywood_items)} "
                f"(smallest {self.smallest_residual_variance:.3g}); the residual covariance is not positive "
                "definite"
            )
        if not self.latent_positive_definite:
            out.append(
                f"{self.group}: latent covariance matrix not positive definite (smallest eigenvalue "
                f"{self.smallest_latent_eigenvalue:.2g})"
            )
        return out


@dataclass(frozen=True)
class CFAFit:
    """Fit of one (multi-group) CFA."""

    model: str
    level: str
    chisq: float
    df: int
    p: float
    cfi: float
    tli: float
    rmsea: float
    n: int
    groups: int
    converged: bool
    loadings: dict[str, np.ndarray]
    admissibility: tuple[Admissibility, ...] = ()

    @property
    def admissible(self) -> bool:
        """No group has a Heywood case or a non-positive-definite latent covariance."""
        return all(a.admissible for a in self.admissibility)

    def problems(self) -> list[str]:
        return [p for a in self.admissibility for p in a.problems()]


class _Problem:
    """ML discrepancy of a multi-group CFA with marker identification and optional equalities."""

    def __init__(
        self, factors: dict[str, list[str]], groups: Sequence[pd.DataFrame], level: str, items: list[str]
    ) -> None:
        self.items = items
        self.p = len(items)
        self.k = len(factors)
        index = {name: j for j, name in enumerate(items)}
        self.free_loadings = []  # (item, factor) positions of free loadings
        self.markers = []
        for f, members in enumerate(factors.values()):
            self.markers.append((index[members[0]], f))
            self.free_loadings += [(index[i], f) for i in members[1:]]
        self.groups = len(groups)
        self.n = np.array([len(g) for g in groups], dtype=float)
        self.s = [np.cov(g[items].to_numpy().T, bias=True) for g in groups]
        self.m = [g[items].to_numpy().mean(axis=0) for g in groups]
        self.level = level
        self.tril = np.tril_indices(self.k)
        shared_loadings = level in ("metric", "scalar")
        self.layout: list[tuple[str, int]] = []  # (block, group or -1 for shared)
        sizes = {"L": len(self.free_loadings), "P": len(self.tril[0]), "T": self.p, "nu": self.p, "a": self.k}
        self.sizes = sizes
        if shared_loadings:
            self.layout.append(("L", -1))
        for g in range(self.groups):
            if not shared_loadings:
                self.layout.append(("L", g))
            self.layout += [("P", g), ("T", g)]
        if level == "scalar":
            self.layout.append(("nu", -1))
            self.layout += [("a", g) for g in range(1, self.groups)]

    def size(self) -> int:
        return sum(self.sizes[b] for b, _ in self.layout)

    def unpack(self, theta: np.ndarray) -> list[dict[str, np.ndarray]]:
        parts: dict[tuple[str, int], np.ndarray] = {}
        at = 0
        for block, g in self.layout:
            parts[(block, g)] = theta[at : at + self.sizes[block]]
            at += self.sizes[block]
        out = []
        for g in range(self.groups):
            lam = np.zeros((self.p, self.k))
            for j, f in self.markers:
                lam[j, f] = 1.0
            values = parts.get(("L", g), parts.get(("L", -1)))
            for (j, f), v in zip(self.free_loadings, values, strict=True):
                lam[j, f] = v
            phi = np.zeros((self.k, self.k))
            phi[self.tril] = parts[("P", g)]
            phi = phi + np.tril(phi, -1).T
            if self.level == "scalar":
                nu = parts[("nu", -1)]
                alpha = parts[("a", g)] if g > 0 else np.zeros(self.k)
            else:
                nu, alpha = self.m[g], np.zeros(self.k)
            out.append({"lambda": lam, "phi": phi, "theta": parts[("T", g)], "nu": nu, "alpha": alpha})
        return out

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        total = 0.0
        grads: dict[tuple[str, int], np.ndarray] = {key: np.zeros(self.sizes[key[0]]) for key in self.layout}
        for g, par in enumerate(self.unpack(theta)):
            lam, phi = par["lambda"], par["phi"]
            sigma = lam @ phi @ lam.T + np.diag(par["theta"])
            # The implied covariance must be positive definite (a positive determinant is not enough: two
            # negative eigenvalues give one, and a discrepancy below the saturated model's).
            try:
                root = np.linalg.cholesky(sigma)
            except np.linalg.LinAlgError:
                return 1e10, np.zeros_like(theta)
            logdet = 2 * float(np.sum(np.log(np.diag(root))))
            inv = np.linalg.inv(sigma)
            d = self.m[g] - (par["nu"] + lam @ par["alpha"])
            s = self.s[g]
            weight = self.n[g]
            total += weight * (logdet + np.trace(s @ inv) + d @ inv @ d)
            # d/dSigma of log|S| + tr(S S^-1) + d'S^-1 d, and d/dmu.
            grad_sigma = weight * (inv - inv @ (s + np.outer(d, d)) @ inv)
            grad_mu = weight * (-2 * inv @ d)
            g_lam = 2 * grad_sigma @ lam @ phi + np.outer(grad_mu, par["alpha"])
            g_phi = lam.T @ grad_sigma @ lam
            g_phi = 2 * g_phi - np.diag(np.diag(g_phi))
            lkey = ("L", g) if ("L", g) in grads else ("L", -1)
            grads[lkey] += np.array([g_lam[j, f] for j, f in self.free_loadings])
            grads[("P", g)] += g_phi[self.tril]
            grads[("T", g)] += np.diag(grad_sigma)
            if self.level == "scalar":
                grads[("nu", -1)] += grad_mu
                if g > 0:
                    grads[("a", g)] += lam.T @ grad_mu
        return total, np.concatenate([grads[key] for key in self.layout])

    def start(self) -> np.ndarray:
        parts = []
        for block, g in self.layout:
            group = max(g, 0)
            if block == "L":
                parts.append(np.ones(self.sizes["L"]))
            elif block == "P":
                phi = np.zeros((self.k, self.k))
                for j, f in self.markers:
                    phi[f, f] = 0.5 * self.s[group][j, j]
                parts.append(phi[self.tril])
            elif block == "T":
                parts.append(0.5 * np.diag(self.s[group]))
            elif block == "nu":
                parts.append(np.mean(self.m, axis=0))
            else:
                parts.append(np.zeros(self.k))
        return np.concatenate(parts)

    def saturated(self) -> float:
        return float(sum(n * (np.linalg.slogdet(s)[1] + self.p) for n, s in zip(self.n, self.s, strict=True)))

    def independence(self) -> tuple[float, int]:
        chisq = sum(
            n * (np.sum(np.log(np.diag(s))) - np.linalg.slogdet(s)[1])
            for n, s in zip(self.n, self.s, strict=True)
        )
        return float(chisq), self.groups * self.p * (self.p - 1) // 2


def fit_cfa(
    factors: dict[str, list[str]], data: pd.DataFrame, level: str, group: str | None, model: str
) -> CFAFit:
    """Fit one CFA by ML: single group when `group` is None, else multi-group at the invariance `level`.

    Parameters
    ----------
    factors
        Factor -> its items (columns of `data`); the first item is the factor's marker.
    data
        Complete cases (lavaan's listwise deletion is the caller's).
    level
        ``"single group"`` or one of `INVARIANCE`.
    group
        Column naming each row's group, or None for one group (groups in sorted order).
    model
        The model's name, for messages and the result.

    Returns
    -------
    CFAFit
        Fit measures, convergence and every group's `Admissibility`.

    Raises
    ------
    CFAError
        When a group has no more complete cases than items.
    """
    items = [i for members in factors.values() for i in members]
    named = [("all", data)] if group is None else list(data.groupby(group, sort=True))
    groups = [rows for _, rows in named]
    if any(len(g) <= len(items) for g in groups):
        raise CFAError(f"CFA {model}: a group has no more complete cases than items ({len(items)})")
    problem = _Problem(factors, groups, level if group is not None else "configural", items)
    result = optimize.minimize(
        problem.value_and_grad,
        problem.start(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-9},
    )
    result = optimize.minimize(
        problem.value_and_grad, result.x, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 5000}
    )
    chisq = float(result.fun - problem.saturated())
    moments = problem.groups * (problem.p * (problem.p + 1) // 2 + problem.p)
    free = problem.size() + (0 if problem.level == "scalar" else problem.groups * problem.p)
    df = moments - free
    base_chisq, base_df = problem.independence()
    cfi = 1 - max(chisq - df, 0) / max(chisq - df, base_chisq - base_df, 1e-300)
    tli = ((base_chisq / base_df) - (chisq / df)) / ((base_chisq / base_df) - 1)
    n = int(problem.n.sum())
    solution = problem.unpack(result.x)
    rmsea = float(np.sqrt(max(chisq - df, 0) / (df * n)) * np.sqrt(problem.groups))
    return CFAFit(
        model=model,
        level=level,
        chisq=chisq,
        df=int(df),
        p=float(stats.chi2.sf(chisq, df)),
        cfi=float(cfi),
        tli=float(tli),
        rmsea=rmsea,
        n=n,
        groups=problem.groups,
        converged=bool(np.max(np.abs(result.jac)) < 1e-3 * n),
        loadings={k: v["lambda"] for k, v in zip(("g1", "g2"), solution, strict=False)},
        admissibility=tuple(
            admissibility(str(name), par, items, problem.s[g])
            for g, ((name, _), par) in enumerate(zip(named, solution, strict=True))
        ),
    )


def admissibility(
    group: str, parameters: dict[str, np.ndarray], items: list[str], sample_cov: np.ndarray
) -> Admissibility:
    """Check one group's solution: residual variances and the latent covariance's eigenvalues."""
    scale = float(np.max(np.diag(sample_cov)))
    theta = parameters["theta"]
    eigenvalues = np.linalg.eigvalsh(parameters["phi"])
    heywood = tuple(item for item, v in zip(items, theta, strict=True) if v < -ADMISSIBILITY_TOL * scale)
    smallest = float(eigenvalues.min())
    return Admissibility(
        group=group,
        smallest_residual_variance=float(theta.min()),
        smallest_latent_eigenvalue=smallest if abs(smallest) > ADMISSIBILITY_TOL * scale else 0.0,
        heywood_items=heywood,
    )
