"""Design-based quantiles with Woodruff intervals (R: ``svyquantile`` of survey 4.x).

R's survey package rewrote ``svyquantile`` in version 4.0; the installed 4.1-1's defaults are
``interval.type = "mean"`` (Woodruff's interval) and ``qrule = "math"``, and those are what this module
computes, for a whole design or a domain of it:

- the quantile (``qrule_math``): sort the values, accumulate the weights; with ``pos`` the last position
  whose cumulative weight is at most ``p`` times the total, the quantile is the value there if that
  cumulative share equals ``p`` exactly, otherwise the next value up (the inverse of the weighted
  empirical distribution function);
- the interval (``woodruffCI``, method ``"mean"``): the design-based mean of ``y <= q`` (its SE from the
  design, calibration included), the symmetric interval ``F +/- t_df SE`` around it, and each end mapped
  back through the same quantile rule (NaN where an end falls below 0 or above 1);
- the SE R reports: the interval's width over ``2 t_df``;
- ``df``: R's ``degf`` of the design restricted to the rows with the value observed (``na.rm = TRUE``
  subsets the design before anything else, so a domain's df counts only its observed rows' PSUs).

R accumulates the weights in long double (``cumsum`` and ``sum`` use LDOUBLE); the cumulative shares here
are accumulated in ``numpy.longdouble`` too, so a share that equals ``p`` exactly in R does so here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipeline.survey.design import PreparedDesign
from pipeline.survey.estimators import ArrayLike, _numeric, svymean, t_quantile

DEFAULT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
ROUNDING = 1e-12


@dataclass(frozen=True)
class QuantileEstimate:
    """One quantile of a design's distribution with its Woodruff interval.

    Attributes
    ----------
    p : float
        The probability, e.g. 0.25 for the lower quartile.
    quantile : float
        The estimated quantile (an observed value: R's ``qrule = "math"``).
    ci_low, ci_high : float
        Interval bounds; NaN where R returns NaN (the probability interval leaves [0, 1]).
    se : float
        ``(ci_high - ci_low) / (2 t_df)``, as R reports it.
    df : float
        Degrees of freedom of the t quantile (R's ``degf`` of the observed rows of the domain).
    level : float
        Confidence level.
    n : int
        Unweighted base: rows in the domain with the value observed.
    """

    p: float
    quantile: float
    ci_low: float
    ci_high: float
    se: float
    df: float
    level: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict."""
        return asdict(self)


def weighted_quantile_math(values: np.ndarray, weights: np.ndarray, p: float) -> float:
    """R's ``qrule_math``: the inverse of the weighted empirical distribution function at `p`.

    Parameters
    ----------
    values
        The observed values (no NaN).
    weights
        Their weights; zero weights are dropped first, as R does.
    p
        Probability in [0, 1].

    Returns
    -------
    float
        An observed value.
    """
    keep = weights != 0
    x, w = values[keep], weights[keep]
    order = np.argsort(x, kind="stable")  # R's order() is stable
    x, w = x[order], w[order].astype(np.longdouble)
    cumulative = np.cumsum(w)
    total = w.sum()
    at_or_below = np.flatnonzero(cumulative <= np.longdouble(p) * total)
    pos = int(at_or_below[-1]) if at_or_below.size else 0  # survey:::last() returns 1 when none is
    next_pos = pos if pos == x.size - 1 else pos + 1
    exact = np.longdouble(p) - cumulative[pos] / total == 0
    return float(x[pos] if exact else x[next_pos])


def svyquantile(
    design: PreparedDesign,
    y: ArrayLike,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    *,
    domain: ArrayLike | None = None,
    level: float = 0.95,
) -> list[QuantileEstimate]:
    """Quantiles of `y` with Woodruff intervals, overall or in a domain.

    R: ``svyquantile(~y, des, quantiles, na.rm = TRUE)`` with the defaults ``interval.type = "mean"``,
    ``qrule = "math"``, ``alpha = 1 - level``; for a domain, on ``subset(des, d)``.

    Parameters
    ----------
    design
        The prepared design (calibrated or not).
    y
        Column name or array of numeric values; missing values are left out.
    quantiles
        Probabilities.
    domain
        Boolean mask or column for a subpopulation; ``None`` for everyone.
    level
        Confidence level.

    Returns
    -------
    list of QuantileEstimate
        One per probability, in the order given.
    """
    values = _numeric(design, y)
    observed = design.mask(domain) & ~np.isnan(values)
    df = design.degf(observed)
    crit = t_quantile(level, df)
    x, w = values[observed], design.weights[observed]
    filled = np.where(observed, values, 0.0)
    rows = []
    for p in quantiles:
        q = weighted_quantile_math(x, w, p)
        below = svymean(design, (filled <= q).astype(float), domain=observed)
        low_p, high_p = below.estimate - crit * below.se, below.estimate + crit * below.se
        # R computes a share of exactly 0 or 1 (every value above or at most q) exactly; the engine's
        # sums may land a rounding error outside [0, 1], which must not turn the end into NaN.
        low_p = 0.0 if -ROUNDING < low_p < 0 else low_p
        high_p = 1.0 if 1 < high_p < 1 + ROUNDING else high_p
        low = float("nan") if np.isnan(low_p) or low_p < 0 else weighted_quantile_math(x, w, low_p)
        high = float("nan") if np.isnan(high_p) or high_p > 1 else weighted_quantile_math(x, w, high_p)
        rows.append(
            QuantileEstimate(
                p=float(p),
                quantile=q,
                ci_low=low,
                ci_high=high,
                se=(high - low) / (2 * crit),
                df=df,
                level=level,
                n=int(observed.sum()),
            )
        )
    return rows
