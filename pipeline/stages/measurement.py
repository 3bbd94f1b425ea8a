"""Measurement stage: is the 7S structure in the answers, and do coordinators and partners read it alike?

Confirmatory factor analysis of the 26 items the two instruments share (reverse-worded items flipped, as
the scales use them), by maximum likelihood on the items' covariance matrix, treating the five-point
answers as continuous (as lavaan's default ``estimator = "ML"``):

- structure: seven factors (one per 7S element) against two (transformational, transactional: the
  codebook's ``element_groups``; the strategy element, in neither group there, is transformational as
  the report's framework has it) and against one, fitted to coordinators and partners together;
- measurement invariance of the seven-factor model between coordinators and partners: configural (same
  structure, every parameter free per group), metric (equal loadings) and scalar (equal loadings and
  intercepts, factor means free in the partner group), each with its chi-squared difference test
  against the previous level.

Fit indices are lavaan's: chi-squared (``N_g`` times the ML discrepancy, summed over groups), df,
CFI and TLI against the independence model, RMSEA (times sqrt(groups)). Identification by marker items
(first loading of each factor fixed at 1), lavaan's default. Complete cases only (lavaan's default
``missing = "listwise"``): with 26 items and "don't know" answers, few respondents answer every item,
which the table states. The fit is unweighted: it asks whether the structure holds in the answers, not
what a population quantity is. The implementation is checked against lavaan in
tests/survey/fixtures/lavaan_cfa.json (tests/survey/r/make_cfa_fixture.R).

Output: analysis/tables/cfa_fit.csv.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv
from pipeline.core.paths import relative_to_root
from pipeline.study.scales import common_scale_items, valid_scores

log = logging.getLogger("pipeline.stages.measurement")

INVARIANCE = ("configural", "metric", "scalar")


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


def structures(codebook: Codebook) -> dict[str, dict[str, list[str]]]:
    """Factor -> items of the seven-, two- and one-factor models (items asked of both instruments)."""
    items = {e: [v.name for v in common_scale_items(codebook, e)] for e in codebook.elements}
    grouped = {e for members in codebook.element_groups.values() for e in members}
    two: dict[str, list[str]] = {}
    for group, members in codebook.element_groups.items():
        two[group] = [i for e in members for i in items[e]]
    # Elements outside the codebook's groups (strategy) belong with the transformational ones.
    two.setdefault("transformational", [])
    two["transformational"] = [i for e in codebook.elements if e not in grouped for i in items[e]] + two[
        "transformational"
    ]
    every = [i for e in codebook.elements for i in items[e]]
    return {"seven factors": items, "two factors": two, "one factor": {"general": every}}


def item_data(base: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Each respondent's scored items (reverse items flipped) and instrument, complete cases only."""
    variables = tuple(v for e in codebook.elements for v in common_scale_items(codebook, e))
    scores = valid_scores(base, variables).astype(float)
    scores = scores.assign(group=base["respondent_type"].to_numpy())
    return scores.dropna().reset_index(drop=True)


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
            sign, logdet = np.linalg.slogdet(sigma)
            if sign <= 0:
                return 1e10, np.zeros_like(theta)
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
    """Fit one CFA by ML: single group when `group` is None, else multi-group at the invariance `level`."""
    items = [i for members in factors.values() for i in members]
    groups = [data] if group is None else [rows for _, rows in data.groupby(group, sort=True)]
    if any(len(g) <= len(items) for g in groups):
        raise PipelineError(f"CFA {model}: a group has no more complete cases than items ({len(items)})")
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
        loadings={k: v["lambda"] for k, v in zip(("g1", "g2"), problem.unpack(result.x), strict=False)},
    )


def measurement(base: pd.DataFrame, codebook: Codebook, synthetic: bool) -> pd.DataFrame:
    """The CFA fit table: three structures, then the invariance levels of the seven-factor model."""
    data = item_data(base, codebook)
    models = structures(codebook)
    fits = [fit_cfa(factors, data, "single group", None, name) for name, factors in models.items()]
    fits += [fit_cfa(models["seven factors"], data, level, "group", "seven factors") for level in INVARIANCE]
    rows = []
    previous = None
    for fit in fits:
        row = {
            "data": "SYNTHETIC" if synthetic else "survey",
            "model": fit.model,
            "comparison": "structure (coordinators and partners together)"
            if fit.groups == 1
            else "invariance: coordinators vs partners",
            "level": fit.level,
            "n_complete_cases": fit.n,
            "groups": fit.groups,
            "chisq": fit.chisq,
            "df": fit.df,
            "p": fit.p,
            "cfi": fit.cfi,
            "tli": fit.tli,
            "rmsea": fit.rmsea,
            "converged": fit.converged,
        }
        if fit.groups > 1 and previous is not None and previous.groups > 1:
            delta, ddf = fit.chisq - previous.chisq, fit.df - previous.df
            row |= {
                "delta_chisq": delta,
                "delta_df": ddf,
                "p_delta": float(stats.chi2.sf(delta, ddf)),
                "delta_cfi": fit.cfi - previous.cfi,
            }
        rows.append(row)
        previous = fit
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out", "{analysis_dir}/tables/cfa_fit.csv", "where to write the fit table")
    arguments, config = parse_stage_arguments(parser, argv)
    if not arguments.base.exists():
        raise PipelineError(f"{relative_to_root(arguments.base)}: not found; run `make derive` first")
    table = measurement(
        pd.read_parquet(arguments.base), load_codebook(config.codebook), config.synthetic_data
    )
    write_csv(table.round(8), arguments.out)
    log.info("wrote %s: %d rows", relative_to_root(arguments.out), len(table))


if __name__ == "__main__":
    run_stage("measurement", main)
