"""Multiple-comparison adjustment of p-values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def p_adjust_bh(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg false discovery rate adjustment (R: ``p.adjust(p, method="BH")``).

    The adjusted value of the ``i``-th smallest of ``m`` p-values is
    ``min(1, min_{j >= i} m p_(j) / j)``. Missing values (NaN) stay missing and do not count in
    ``m``, as in R.

    Parameters
    ----------
    p
        Unadjusted p-values in any order.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.
    """
    arr = np.asarray(p, dtype=float)
    out = np.full(arr.shape, np.nan)
    ok = ~np.isnan(arr)
    vals = arr[ok]
    m = vals.size
    if m == 0:
        return out
    order = np.argsort(-vals, kind="stable")  # largest first, as R's order(decreasing=TRUE)
    ranks = np.arange(m, 0, -1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(m / ranks * vals[order]))
    result = np.empty(m)
    result[order] = adjusted
    out[ok] = result
    return out
