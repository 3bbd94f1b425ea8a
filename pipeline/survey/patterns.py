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

# Below this many rows the rows are used as they are (the bundled survey's 191 coordinators).
COLLAPSE_MIN_ROWS = 2_000


def row_patterns(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of ``x`` and each row's pattern, or None below `COLLAPSE_MIN_ROWS` rows or when
    more than half the rows are distinct (nothing worth collapsing)."""
    if x.shape[0] < COLLAPSE_MIN_ROWS:
        return None
    distinct, code = np.unique(x, axis=0, return_inverse=True)
    if distinct.shape[0] > x.shape[0] // 2:
        return None
    return distinct, code.reshape(-1).astype(np.int64)


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
    return u[code] * np.sqrt(weights / pattern_weights[code])[:, None], s
