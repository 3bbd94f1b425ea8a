"""Internal consistency of a multi-item scale: Cronbach's alpha.

``alpha = k / (k - 1) * (1 - sum of item variances / variance of the total)`` over the respondents who
answered every item (listwise, as R's ``psych::alpha`` "raw_alpha" with ``use = "complete.obs"``),
variances with divisor ``n - 1``. Unweighted: it describes how the items hang together in the answers.
Checked against R (the covariance-matrix form, ``k / (k - 1) * (1 - tr(C) / sum(C))``) in
tests/survey/fixtures/r_alpha.json (tests/survey/r/make_alpha_fixture.R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cronbach_alpha(items: pd.DataFrame | np.ndarray) -> tuple[float, int]:
    """Cronbach's alpha over the respondents who answered every item, and how many they are.

    Parameters
    ----------
    items
        One column per item, one row per respondent; missing answers as NA (NaN in a float matrix,
        which skips building a frame: the same rows, the same numbers).

    Returns
    -------
    alpha : float
        NaN with fewer than two complete respondents or two items.
    n_complete : int
        Respondents who answered every item.
    """
    if isinstance(items, pd.DataFrame):
        complete = items.dropna().to_numpy(dtype=float)
    else:
        # Column-major, as a frame's values come out, so numpy's sums add in the same order: the same bits.
        values = np.asarray(items, dtype=float)
        complete = np.asfortranarray(values[~np.isnan(values).any(axis=1)])
    n_complete, n_items = complete.shape
    if n_complete < 2 or n_items < 2:
        return float("nan"), n_complete
    item_variance = complete.var(axis=0, ddof=1).sum()
    total_variance = complete.sum(axis=1).var(ddof=1)
    return float(n_items / (n_items - 1) * (1 - item_variance / total_variance)), n_complete
