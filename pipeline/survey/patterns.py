"""Rows collapsed into their distinct patterns, for computations that depend on a row only through its
values and a weight (calibration: `pipeline.survey.calibration`).

A sum over rows of a function of the row's values, weighted, is the same sum over the distinct rows with
their weights summed; a weighted least-squares basis has the same cross-product from the patterns. Below
`COLLAPSE_MIN_ROWS` rows, or when most rows are distinct, nothing is collapsed, so small surveys (and
surveys whose rows are unique, such as a numeric variable that differs for every unit) are computed on
their rows exactly as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Below this many rows the rows are used as they are (the bundled survey's 191 coordinators).
COLLAPSE_MIN_ROWS = 2_000


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
    distinct, code = patterns
    pattern_weights = np.bincount(code, weights=weights, minlength=distinct.shape[0])
    u, s, _ = np.linalg.svd(distinct * np.sqrt(pattern_weights)[:, None], full_matrices=False)
    # Scaled in place: one rows x columns array, not two (the same products).
    expanded = u[code]
    expanded *= np.sqrt(weights / pattern_weights[code])[:, None]
    return expanded, s
