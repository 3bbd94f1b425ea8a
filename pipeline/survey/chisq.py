"""Rao-Scott adjusted Pearson chi-square test for a two-way table (R: ``svychisq``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.survey import distributions as stats
from pipeline.survey.design import PreparedDesign, SurveyDesignError
from pipeline.survey.domains import variance_plan
from pipeline.survey.estimators import ArrayLike, weighted_means


@dataclass(frozen=True)
class RaoScottTest:
    """Result of `svychisq`.

    Attributes
    ----------
    f : float
        Second-order Rao-Scott F statistic, ``pearson / trace(Delta)``.
    ndf, ddf : float
        Its numerator and denominator df: ``d0 = trace(Delta)^2 / trace(Delta^2)`` and
        ``d0 * design_df``.
    p_f : float
        Upper tail of F(ndf, ddf) at `f`.
    pearson : float
        Pearson's X^2 of the weighted table rescaled to `n_total` (R prints this as
        "X-squared" for ``statistic="Chisq"``; it is not itself adjusted).
    df_chisq : int
        ``(r - 1)(c - 1)``.
    p_chisq : float
        First-order Rao-Scott p-value: ``pearson / mean(eigenvalues of Delta)`` against
        chi-square(df_chisq) (R: ``statistic="Chisq"``).
    design_df : int
        PSUs minus strata of the rows in the domain (R's ``nu``).
    n_total : int
        Rows in the domain, including rows with either variable missing (R's ``N``).
    rows, cols : tuple
        Levels of the two variables.
    """

    f: float
    ndf: float
    ddf: float
    p_f: float
    pearson: float
    df_chisq: int
    p_chisq: float
    design_df: int
    n_total: int
    rows: tuple[Any, ...]
    cols: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)


# Above this many observed values, whole numbers from 0 below _COUNT_LEVELS are coded by counting them.
_COUNT_ROWS = 2_000
_COUNT_LEVELS = 1_000


def _coded(values: np.ndarray, dom: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """The sorted levels observed in the domain and each row's level code (-1: missing or outside)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf":
        # Plain numbers with numpy: pandas' categoricals cost more than the test at a few hundred rows.
        observed = dom & ~np.isnan(values) if values.dtype.kind == "f" else dom.copy()
        seen = values[observed]
        if seen.size > _COUNT_ROWS and seen.min() >= 0 and seen.max() < _COUNT_LEVELS:
            whole = seen.astype(np.int64)
            if np.array_equal(whole, seen):
                # Small whole numbers (answer codes, scores): counted, not sorted; the same levels.
                present_levels = np.flatnonzero(np.bincount(whole, minlength=1))
                lookup = np.full(present_levels[-1] + 1, -1, dtype=np.int64)
                lookup[present_levels] = np.arange(present_levels.size)
                codes = np.full(values.size, -1, dtype=np.int64)
                codes[observed] = lookup[whole]
                return present_levels.astype(values.dtype).tolist(), codes
        levels = np.unique(seen)
        codes = np.full(values.size, -1, dtype=np.int64)
        codes[observed] = np.searchsorted(levels, seen)
        return levels.tolist(), codes
    # Labels (text): factorised as they are. A Series of them became an Arrow string column and a
    # categorical for every test, a pass over every row each time (minutes at Place-Survey size).
    found, uniques = pd.factorize(np.asarray(values, dtype=object))  # missing: -1
    found = np.where(dom, found, -1)
    seen = np.flatnonzero(np.bincount(found[found >= 0], minlength=len(uniques)))
    order = sorted(range(seen.size), key=lambda i: uniques[seen[i]])  # sorted, as R's levels
    recode = np.full(len(uniques), -1, dtype=np.int64)
    recode[seen[order]] = np.arange(seen.size)
    codes = np.where(found >= 0, recode[np.maximum(found, 0)], -1)
    return [uniques[seen[i]] for i in order], codes


def svychisq(
    design: PreparedDesign, row: ArrayLike, col: ArrayLike, *, domain: ArrayLike | None = None
) -> RaoScottTest:
    """Rao-Scott test of independence for ``row`` x ``col`` (R: ``svychisq(~row + col, des)``).

    With ``p`` the vector of estimated cell proportions (rows with either variable missing left
    out), ``V`` its linearised covariance, ``D = diag(p)`` and ``C`` the interaction columns of
    the saturated model made orthogonal to the main effects, R computes
    ``Delta = (C' D^-1 C / N)^-1 (C' D^-1 V D^-1 C)``; ``F = X^2 / tr(Delta)`` on
    ``(d0, d0 nu)`` df is ``statistic="F"``, and ``X^2 / mean(eig(Delta))`` on chi-square
    ``(r-1)(c-1)`` is the p-value of ``statistic="Chisq"``.

    Parameters
    ----------
    design
        The prepared design.
    row, col
        Column names or arrays of the two categorical variables.
    domain
        Boolean mask or column for a subpopulation (R: ``svychisq(~a + b, subset(des, d))``).

    Returns
    -------
    RaoScottTest
        Statistics, df and p-values.
    """
    dom = design.mask(domain)
    rows, ri = _coded(design.column(row), dom)
    cols, ci = _coded(design.column(col), dom)
    return _rao_scott(design, rows, ri, cols, ci, dom, int(dom.sum()), design.psu_minus_strata(dom))


def svychisq_many(
    design: PreparedDesign, rows: Iterable[ArrayLike], col: ArrayLike
) -> list[RaoScottTest | None]:
    """`svychisq` of each of `rows` against the one column variable `col`, over the whole design.

    `rows` is read once, in order: a generator lets a caller make each variable's values only when its
    test comes (the memory of one variable, not of all).

    The column variable is coded once, and the design's domain counts once, for all the tests; each
    test is then a pass of weighted cell counts over its rows (on a large design, `pipeline.survey.domains`,
    the covariance comes from those counts by PSU and calibration pattern, never from a rows x cells
    matrix). ``None`` where `svychisq` would raise `SurveyDesignError` (a variable with fewer than two
    observed levels); otherwise each result is `svychisq`'s, to rounding.
    """
    dom = np.ones(design.n, dtype=bool)
    cols, ci = _coded(design.column(col), dom)
    nu = design.psu_minus_strata(None)
    results: list[RaoScottTest | None] = []
    for row in rows:
        levels, ri = _coded(design.column(row), dom)
        try:
            results.append(_rao_scott(design, levels, ri, cols, ci, dom, design.n, nu))
        except SurveyDesignError:
            results.append(None)
    return results


def _rao_scott(
    design: PreparedDesign,
    rows: list[Any],
    ri: np.ndarray,
    cols: list[Any],
    ci: np.ndarray,
    dom: np.ndarray,
    n_total: int,
    nu: int,
) -> RaoScottTest:
    """The test from the two variables' level codes (-1: missing or outside the domain)."""
    nr, nc = len(rows), len(cols)
    if nr < 2 or nc < 2:
        raise SurveyDesignError("each variable needs at least two observed levels")
    present = dom & (ri >= 0) & (ci >= 0)

    # Cells in R's interaction() order: the row variable varies fastest.
    plan = variance_plan(design)
    if plan is None:
        cell = np.where(present, ri + nr * ci, -1)
        indicators = (cell[:, None] == np.arange(nr * nc)[None, :]).astype(float)
        p_hat, infl, _ = weighted_means(design, indicators, present)
        v = design.variance(infl, present)
    else:
        # Large designs: weighted cell counts of the present rows, by PSU and calibration pattern.
        positions = np.flatnonzero(present)
        cell = ri[positions] + nr * ci[positions]
        weights = design.weights[positions]
        total_w = float(weights.sum())
        if total_w == 0:
            raise SurveyDesignError("the domain has no observed rows")
        p_hat = np.bincount(cell, weights=weights, minlength=nr * nc) / total_w
        v = plan.cell_covariance(positions, weights, cell, nr * nc, p_hat, total_w)

    # Main-effects and interaction columns of the saturated model over the nr x nc cells.
    grid_r = np.tile(np.arange(nr), nc)
    grid_c = np.repeat(np.arange(nc), nr)
    main = np.column_stack(
        [np.ones(nr * nc)]
        + [(grid_r == i).astype(float) for i in range(1, nr)]
        + [(grid_c == j).astype(float) for j in range(1, nc)]
    )
    inter = np.column_stack(
        [(grid_r == i) & (grid_c == j) for j in range(1, nc) for i in range(1, nr)]
    ).astype(float)
    cmat = inter - main @ np.linalg.lstsq(main, inter, rcond=None)[0]

    inv_p = np.divide(1.0, p_hat, out=np.zeros_like(p_hat), where=p_hat != 0)
    denom = cmat.T @ (inv_p[:, None] / n_total * cmat)
    numr = (cmat * inv_p[:, None]).T @ v @ (inv_p[:, None] * cmat)
    delta = np.linalg.solve(denom, numr)
    tr = float(np.trace(delta))
    d0 = tr**2 / float(np.trace(delta @ delta))

    # Pearson X^2 on the weighted table rescaled to n_total (R: svytable(Ntotal = N)).
    table = p_hat.reshape(nc, nr).T * n_total
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = float(((table - expected) ** 2 / expected).sum())
    f_stat = pearson / tr
    df_chisq = (nr - 1) * (nc - 1)
    return RaoScottTest(
        f=f_stat,
        ndf=d0,
        ddf=d0 * nu,
        p_f=float(stats.f.sf(f_stat, d0, d0 * nu)),
        pearson=pearson,
        df_chisq=df_chisq,
        p_chisq=float(stats.chi2.sf(pearson / (tr / delta.shape[0]), df_chisq)),
        design_df=nu,
        n_total=n_total,
        rows=tuple(rows),
        cols=tuple(cols),
    )
