"""Influence values on collapsed covariate patterns, and their design-based variance without a rows x
coefficients matrix (the models of a large survey: `pipeline.survey.glm`, `pipeline.survey.olr`).

A regression of a survey's outcomes on area-level covariates (tier, maturity, deprivation, LAA round and
region are one value per LSP) sees a few hundred distinct covariate rows, however many respondents there
are. Its influence values then have the form ``infl_i = sum_k q_ik U[p(i), k]``: a few numbers per row
(``q``: the row's weighted residual for a GLM, its weight on its response level for a proportional-odds
fit) times loadings shared by every row of its pattern ``p(i)`` (``A^-1 x_p``, or the pattern's unit
score times the sandwich). `CollapsedInfluence` holds them in that form, and `collapsed_variance` gives
``PreparedDesign.variance`` of the dense matrix from PSU sums of ``q`` alone, when each PSU's rows share
one pattern (true whenever the covariates are constant within a PSU: respondents clustered in their
LSP, or one row per PSU). With the design's variance plan (`pipeline.survey.domains.variance_plan`,
whose terms it reads), PSU totals are ``a = U_p Q`` (``Q`` the PSU's sum of ``q``), so

- the stratum part ``sum_h s_h sum_PSU (a - m_h)(a - m_h)'`` over all ``n_h`` PSUs is
  ``sum_p U_p' (sum_{PSU of p} s_h Q Q') U_p - sum_h s_h n_h m_h m_h'``, with ``m_h = sum_p U_p' T_hp / n_h``;
- a one-row PSU's uncentred part and a second stage's within-PSU part are sums of ``Q Q'`` and
  ``q q'`` by pattern the same way;
- a calibration's coefficients and their cross-product with the PSU totals are sums of ``q`` (or ``Q``)
  by (basis pattern, covariate pattern), met with the basis once per group.

The sums are the same as the dense path's, in another order (agreement to rounding, about 1e-12
relative). Where a condition fails (no plan, a PSU with rows of two patterns) `collapsed_variance`
returns None and the caller uses the dense influence values.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.survey.design import PreparedDesign
from pipeline.survey.terms import ModelMatrix, is_factor, model_matrix, term_columns


@dataclass(frozen=True, eq=False)
class DesignPatterns:
    """The distinct value combinations of some columns over a design's rows.

    ``code`` is each row's pattern (``-1`` where a column is missing), ``first`` each pattern's first
    row, ``psu_pattern`` each PSU's pattern (``-1`` for a PSU without a complete row), or None when a
    PSU has rows of two patterns.
    """

    columns: tuple[str, ...]
    code: np.ndarray
    first: np.ndarray
    psu_pattern: np.ndarray | None
    _groups: dict = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return int(self.first.size)


_PATTERNS: weakref.WeakKeyDictionary[PreparedDesign, dict[tuple[str, ...], DesignPatterns]] = (
    weakref.WeakKeyDictionary()
)


def design_patterns(design: PreparedDesign, columns: Sequence[str]) -> DesignPatterns:
    """`DesignPatterns` of `columns` of ``design.data`` (built once per design and kept beside it)."""
    key = tuple(columns)
    by_columns = _PATTERNS.setdefault(design, {})
    if key not in by_columns:
        by_columns[key] = _patterns(design, key)
    return by_columns[key]


# Each design's columns as integer codes (-1 where missing) and their number of values, coded on first use.
_CODES: weakref.WeakKeyDictionary[PreparedDesign, dict[str, tuple[np.ndarray, int]]] = (
    weakref.WeakKeyDictionary()
)


def column_codes(design: PreparedDesign, name: str) -> tuple[np.ndarray, int]:
    """A column of ``design.data`` as integer codes of its distinct values (``-1`` where missing) and
    how many values there are (kept beside the design)."""
    by_name = _CODES.setdefault(design, {})
    if name not in by_name:
        series = design.data[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes, levels = series.cat.codes.to_numpy().astype(np.int64), len(series.cat.categories)
        elif is_factor(series):
            codes, uniques = pd.factorize(series)
            codes, levels = codes.astype(np.int64), len(uniques)
        else:
            # + 0.0 makes -0.0 and 0.0 one value; NaN is missing (-1).
            codes, uniques = pd.factorize(series.to_numpy(dtype=float, na_value=np.nan) + 0.0)
            codes, levels = codes.astype(np.int64), len(uniques)
        by_name[name] = (codes, max(levels, 1))
    return by_name[name]


def share_column_codes(source: PreparedDesign, target: PreparedDesign, names: Sequence[str]) -> None:
    """Give `target` (the same rows as `source`, some columns replaced) `source`'s codes of the columns
    `names`, which it shares (an imputation changes one column of a design: the others need no coding)."""
    by_name = _CODES.setdefault(target, {})
    for name in names:
        by_name[name] = column_codes(source, name)


def _patterns(design: PreparedDesign, columns: tuple[str, ...]) -> DesignPatterns:
    n = design.n
    folded = np.zeros(n, dtype=np.int64)
    present = np.ones(n, dtype=bool)
    for name in columns:
        codes, levels = column_codes(design, name)
        present &= codes >= 0
        # Each fold stays below n * levels.
        folded = pd.factorize(folded * levels + np.maximum(codes, 0))[0].astype(np.int64)
    rows = np.flatnonzero(present)
    code = np.full(n, -1, dtype=np.int64)
    dense = pd.factorize(folded[rows])[0].astype(np.int64)
    code[rows] = dense
    count = int(dense.max()) + 1 if dense.size else 0
    first = np.zeros(count, dtype=np.int64)
    # Reversed, so each pattern's last write is its first row.
    first[dense[::-1]] = rows[::-1]
    psus = design.psu_stratum.size
    psu_pattern = np.full(psus, -1, dtype=np.int64)
    psu_pattern[design.psu[rows][::-1]] = dense[::-1]
    constant = bool(np.all(psu_pattern[design.psu[rows]] == dense))
    return DesignPatterns(columns, code, first, psu_pattern if constant else None)


def pattern_model_matrix(
    design: PreparedDesign,
    patterns: DesignPatterns,
    seen: np.ndarray,
    terms: Sequence[str],
    *,
    intercept: bool,
) -> ModelMatrix:
    """The model matrix of one row of each `seen` pattern (a boolean per pattern): the rows fitted have
    those levels, so their matrix has these columns (R drops a level no fitted row has)."""
    columns = design.data.columns.get_indexer(term_columns(terms))
    # Rows and columns in one take: the design's other columns (a fit's design holds every item) stay.
    rows = design.data.iloc[patterns.first[seen], columns]
    return model_matrix(rows.reset_index(drop=True), terms, intercept=intercept)


@dataclass(frozen=True, eq=False)
class CollapsedInfluence:
    """Influence values ``infl[rows[i]] = q[i] @ loadings[pattern of rows[i]]``, zero on other rows.

    ``q`` is ``(len(rows), K)``, ``loadings`` ``(patterns, K, d)`` over every pattern of `patterns`.
    """

    design: PreparedDesign
    patterns: DesignPatterns
    rows: np.ndarray
    q: np.ndarray
    loadings: np.ndarray

    @property
    def width(self) -> int:
        return int(self.loadings.shape[2])

    def dense(self) -> np.ndarray:
        """The ``(design rows, d)`` influence matrix."""
        out = np.zeros((self.design.n, self.width))
        at = self.patterns.code[self.rows]
        for k in range(self.q.shape[1]):
            out[self.rows] += self.q[:, k : k + 1] * self.loadings[at, k, :]
        return out

    def take(self, columns: Sequence[int]) -> CollapsedInfluence:
        """The influence of some of the coefficients only."""
        return CollapsedInfluence(
            self.design, self.patterns, self.rows, self.q, np.ascontiguousarray(self.loadings[:, :, columns])
        )


def stack(parts: Sequence[CollapsedInfluence]) -> CollapsedInfluence:
    """Several fits' influence side by side (the same design and patterns): their joint variance."""
    first = parts[0]
    if any(p.design is not first.design or p.patterns is not first.patterns for p in parts):
        raise ValueError("stacked influence must share the design and its patterns")
    rows = np.unique(np.concatenate([p.rows for p in parts]))
    widths_k = [p.q.shape[1] for p in parts]
    widths_d = [p.width for p in parts]
    q = np.zeros((rows.size, sum(widths_k)))
    loadings = np.zeros((first.patterns.count, sum(widths_k), sum(widths_d)))
    k0 = d0 = 0
    for part, k, d in zip(parts, widths_k, widths_d, strict=True):
        q[np.searchsorted(rows, part.rows), k0 : k0 + k] = part.q
        loadings[:, k0 : k0 + k, d0 : d0 + d] = part.loadings
        k0, d0 = k0 + k, d0 + d
    return CollapsedInfluence(first.design, first.patterns, rows, q, loadings)


def _column_sums(codes: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    return np.column_stack([np.bincount(codes, values[:, k], groups) for k in range(values.shape[1])])


def _grouped(patterns: DesignPatterns, plan, name: str, outer: np.ndarray, inner: np.ndarray):
    """Group codes of (outer, pattern) pairs, kept per patterns object: (codes, outer of each, pattern of
    each)."""
    if name not in patterns._groups:
        count = patterns.count
        codes, uniques = pd.factorize(outer.astype(np.int64) * count + inner)
        patterns._groups[name] = (codes.astype(np.int64), uniques // count, uniques % count)
    return patterns._groups[name]


def collapsed_variance(influence: CollapsedInfluence) -> np.ndarray | None:
    """``influence.design.variance`` of ``influence.dense()``, from sums of ``q`` (see the module
    docstring); None where the shortcut does not apply."""
    from pipeline.survey.domains import variance_plan  # it builds on the design module

    design, patterns = influence.design, influence.patterns
    plan = variance_plan(design)
    if plan is None or patterns.psu_pattern is None:
        return None
    if plan.within_scale is not None and plan.rows_per_psu is None:
        return None
    rows, q, u = influence.rows, influence.q, influence.loadings
    count, k_width = patterns.count, q.shape[1]
    pattern = patterns.code[rows]
    psu = plan.psu[rows]
    qf = q * plan.row_factor[rows][:, None]
    psus = plan.psu_stratum.size
    # The PSUs with a complete row (every PSU of the fit is one of them), their pattern, stratum and
    # weight in the variance: the same for every fit of these patterns.
    if "psus" not in patterns._groups:
        chosen = np.flatnonzero(patterns.psu_pattern >= 0)
        stratum = plan.psu_stratum[chosen]
        weight = plan.stratum_scale[stratum]
        if plan.lone_scale is not None:
            weight = weight + plan.lone_scale[chosen]
        # Each row's PSU among the chosen ones; whether every PSU of the design is one row.
        position = np.full(psus, -1, dtype=np.int64)
        position[chosen] = np.arange(chosen.size)
        one_row = bool(np.bincount(plan.psu, minlength=psus).max() <= 1)
        patterns._groups["psus"] = (
            chosen,
            patterns.psu_pattern[chosen],
            stratum,
            weight,
            position[plan.psu],
            one_row,
        )
    chosen, psu_pattern, stratum, weight, row_position, one_row = patterns._groups["psus"]
    totals = _column_sums(row_position[rows], qf, chosen.size)
    # One row per PSU with at most one nonzero q (a proportional-odds fit's weight on its own level):
    # a PSU's Q Q' is diagonal, and the off-diagonal sums are zero.
    diagonal = k_width > 1 and one_row and int(np.count_nonzero(q, axis=1).max()) <= 1
    cross_products = np.zeros((count, k_width, k_width))
    for k in range(k_width):
        for j in range(k, k + 1 if diagonal else k_width):
            value = np.bincount(psu_pattern, weight * totals[:, k] * totals[:, j], count)
            if plan.within_scale is not None:
                # Second stage: each row against its PSU's mean over all its rows.
                within = plan.within_scale
                value = value + np.bincount(pattern, within[psu] * qf[:, k] * qf[:, j], count)
                value = value - np.bincount(
                    psu_pattern,
                    within[chosen] * totals[:, k] * totals[:, j] / plan.rows_per_psu[chosen],
                    count,
                )
            cross_products[:, k, j] = value
            cross_products[:, j, k] = value
    out = np.einsum("pkd,pkl,ple->de", u, cross_products, u, optimize=True)
    strata = plan.n_psu.size
    stratum_totals = _column_sums(stratum * count + psu_pattern, totals, strata * count)
    means = np.einsum("hpk,pkd->hd", stratum_totals.reshape(strata, count, k_width), u, optimize=True)
    means /= plan.n_psu[:, None]
    out -= (means.T * (plan.stratum_scale * plan.n_psu)) @ means
    if plan.entries:
        fitted = np.vstack(
            [
                _coefficients(patterns, plan, e, entry, rows, pattern, q, u)
                for e, entry in enumerate(plan.entries)
            ]
        )
        projected = plan.projected
        outer = chosen if projected.code is None else projected.code[chosen]
        codes, group_outer, group_pattern = _grouped(patterns, plan, "projected", outer, psu_pattern)
        sums = _column_sums(codes, totals, group_outer.size)
        cross = _basis_rows(projected)[group_outer].T @ _loaded(sums, u, group_pattern)
        out = out - cross.T @ fitted - fitted.T @ cross + fitted.T @ (plan.gram @ fitted)
    return out


def _basis_rows(grouped) -> np.ndarray:
    """The distinct rows of a plan's grouped matrix (`pipeline.survey.domains`)."""
    return grouped.values  # noqa: PD011 (a numpy array, not a pandas object)


def _loaded(sums: np.ndarray, u: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Each group's ``sums @ loadings[pattern]``: ``(groups, d)``."""
    out = np.zeros((sums.shape[0], u.shape[2]))
    for k in range(sums.shape[1]):
        out += sums[:, k : k + 1] * u[pattern, k, :]
    return out


def _coefficients(patterns, plan, index, entry, rows, pattern, q, u) -> np.ndarray:
    """One calibration's ``c = B'(unit totals / scale)`` of the influence, by (basis row, pattern)."""
    name = f"entry{index}"
    if name not in patterns._groups:
        inside = np.flatnonzero(entry.row_unit >= 0)
        unit = entry.row_unit[inside]
        basis = unit if entry.scaled_basis.code is None else entry.scaled_basis.code[unit]
        codes = np.full(entry.row_unit.size, -1, dtype=np.int64)
        valid = patterns.code[inside] >= 0
        count = patterns.count
        found, uniques = pd.factorize(basis[valid].astype(np.int64) * count + patterns.code[inside][valid])
        codes[inside[valid]] = found
        patterns._groups[name] = (codes, uniques // count, uniques % count)
    codes, group_basis, group_pattern = patterns._groups[name]
    at = codes[rows]
    inside = at >= 0
    if not inside.any():
        return np.zeros((entry.rank, u.shape[2]))
    sums = _column_sums(at[inside], q[inside], group_basis.size)
    return _basis_rows(entry.scaled_basis)[group_basis].T @ _loaded(sums, u, group_pattern)
