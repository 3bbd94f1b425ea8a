"""Rows collapsed into their distinct patterns, for computations that depend on a row only through its
values and a weight (calibration: `pipeline.survey.calibration`).

A sum over rows of a function of the row's values, weighted, is the same sum over the distinct rows with
their weights summed; a weighted least-squares basis has the same cross-product from the patterns. Below
`COLLAPSE_MIN_ROWS` rows, or when most rows are distinct, nothing is collapsed, so small surveys (and
surveys whose rows are unique, such as a numeric variable that differs for every unit) are computed on
their rows exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

# Below this many rows the rows are used as they are (the bundled survey's 191 coordinators).
COLLAPSE_MIN_ROWS = 2_000
# Rows per block where a result is worked out a block of rows at a time (`weighted_leverage`).
_BLOCK_ROWS = 65_536


def distinct_rows(x: np.ndarray, most: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of ``x`` (in first-seen order) and each row's index among them; None as soon as
    there are more than `most` of them. Hash-based, a column at a time (a sort of the rows, as
    ``np.unique(axis=0)`` does, took seconds at 200,000 rows)."""
    n = x.shape[0]
    key = np.zeros(n, dtype=np.int64)
    groups = 1
    for column in np.asarray(x, dtype=float).T:
        # + 0.0 makes -0.0 and 0.0 one value; each fold stays below n**2.
        codes, uniques = pd.factorize(column + 0.0, use_na_sentinel=False)
        key, folded = pd.factorize(key * len(uniques) + codes)
        groups = len(folded)
        if most is not None and groups > most:
            return None
    first = np.full(groups, n, dtype=np.int64)
    np.minimum.at(first, key, np.arange(n))
    return np.asarray(x)[first], key.astype(np.int64)


def row_patterns(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of ``x`` and each row's pattern, or None below `COLLAPSE_MIN_ROWS` rows or when
    more than half the rows are distinct (nothing worth collapsing)."""
    if x.shape[0] < COLLAPSE_MIN_ROWS:
        return None
    return distinct_rows(x, x.shape[0] // 2)


def weighted_svd(
    x: np.ndarray, weights: np.ndarray, patterns: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors (one row per row of `x`) and singular values of ``x * sqrt(weights)``.

    With `patterns` (`row_patterns` of `x`) the SVD is of the patterns weighted by their summed weights,
    which has the same cross-product; each row's singular-vector row is its pattern's times
    ``sqrt(weight / pattern weight)``.
    """
    if patterns is None:
        u, s, _ = np.linalg.svd(x * np.sqrt(weights)[:, None], full_matrices=False)
        return u, s
    u, s, pattern_weights = _pattern_svd(weights, patterns)
    return _expanded(u, weights, pattern_weights, patterns[1]), s


def weighted_leverage(
    x: np.ndarray,
    weights: np.ndarray,
    patterns: tuple[np.ndarray, np.ndarray] | None,
    rank: Callable[[np.ndarray], int],
) -> np.ndarray:
    """Each row's sum of squares of its `weighted_svd` row over the first ``rank(s)`` singular vectors
    (its leverage in the weighted least-squares fit on `x`), worked out a block of rows at a time: the
    same products and sums, without the rows x columns matrix of every row's singular-vector row."""
    if patterns is None:
        u, s = weighted_svd(x, weights, None)
        pattern_weights = code = None
    else:
        u, s, pattern_weights = _pattern_svd(weights, patterns)
        code = patterns[1]
    r = rank(s)
    blocks = []
    for start in range(0, x.shape[0], _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        rows = u[block] if code is None else _expanded(u, weights[block], pattern_weights, code[block])
        blocks.append(np.sum(rows[:, :r] ** 2, axis=1))
    return np.concatenate(blocks) if blocks else np.zeros(0)


def _pattern_svd(
    weights: np.ndarray, patterns: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    distinct, code = patterns
    pattern_weights = np.bincount(code, weights=weights, minlength=distinct.shape[0])
    u, s, _ = np.linalg.svd(distinct * np.sqrt(pattern_weights)[:, None], full_matrices=False)
    return u, s, pattern_weights


def _expanded(
    u: np.ndarray, weights: np.ndarray, pattern_weights: np.ndarray, code: np.ndarray
) -> np.ndarray:
    """The rows' singular-vector rows: each its pattern's times ``sqrt(weight / pattern weight)``, scaled
    in place (one rows x columns array, not two; the same products)."""
    expanded = u[code]
    expanded *= np.sqrt(weights / pattern_weights[code])[:, None]
    return expanded
