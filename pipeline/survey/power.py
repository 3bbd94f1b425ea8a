"""Power and minimum detectable difference for comparing two domain proportions.

Both use the normal approximation to the two-sided Wald test of ``p_a - p_b``, with each domain's
sample size shrunk to its effective size ``n / deff``. A design effect below 1 (for instance from
a large finite population correction) is allowed.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from pipeline.survey import distributions as stats


def _check(n_a: float, n_b: float, deff: float, alpha: float) -> None:
    if n_a <= 0 or n_b <= 0:
        raise ValueError("domain sizes must be positive")
    if deff <= 0:
        raise ValueError("deff must be positive")
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie in (0, 1)")


def power_two_proportions(
    p_a: float, p_b: float, n_a: float, n_b: float, *, deff: float = 1.0, alpha: float = 0.05
) -> float:
    """Power of the two-sided test of ``p_a = p_b`` at true proportions `p_a`, `p_b`.

    ``power = Phi((|d| - z sigma0) / sigma1) + Phi((-|d| - z sigma0) / sigma1)`` with
    ``d = p_a - p_b``, ``z = z_{1 - alpha/2}``, ``sigma0^2 = deff pbar (1 - pbar)(1/n_a + 1/n_b)``
    (pooled ``pbar``, the null) and ``sigma1^2 = deff (p_a q_a / n_a + p_b q_b / n_b)``.

    Parameters
    ----------
    p_a, p_b
        True proportions in the two domains.
    n_a, n_b
        Respondents in each domain.
    deff
        Design effect applied to both domains.
    alpha
        Two-sided significance level.

    Returns
    -------
    float
        Probability of rejecting the null.
    """
    _check(n_a, n_b, deff, alpha)
    z = stats.norm.ppf(1 - alpha / 2)
    pbar = (n_a * p_a + n_b * p_b) / (n_a + n_b)
    sigma0 = np.sqrt(deff * pbar * (1 - pbar) * (1 / n_a + 1 / n_b))
    sigma1 = np.sqrt(deff * (p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b))
    d = abs(p_a - p_b)
    if sigma1 == 0:
        return float(d > z * sigma0)
    return float(stats.norm.cdf((d - z * sigma0) / sigma1) + stats.norm.cdf((-d - z * sigma0) / sigma1))


def minimum_detectable_difference(
    n_a: float,
    n_b: float,
    *,
    deff: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    p: float = 0.5,
    baseline: float | None = None,
) -> float:
    """Smallest difference between two domain proportions detectable with the given power.

    Without `baseline` (the usual planning figure), the closed form
    ``MDD = (z_{1 - alpha/2} + z_{power}) sqrt(deff p (1 - p) (1/n_a + 1/n_b))``, which is largest,
    so most cautious, at ``p = 0.5``. With `baseline` the proportion of domain ``b`` is fixed at
    that value and the difference ``d > 0`` solving ``power_two_proportions(baseline + d,
    baseline, ...) = power`` is returned (``nan`` if no difference up to ``1 - baseline`` is
    detectable with that power).

    Parameters
    ----------
    n_a, n_b
        Respondents in each domain.
    deff
        Design effect applied to both domains.
    alpha
        Two-sided significance level.
    power
        Required power.
    p
        Proportion assumed in both domains for the closed form.
    baseline
        Proportion of domain ``b`` for the exact (numerical) version.

    Returns
    -------
    float
        The minimum detectable difference on the proportion scale.
    """
    _check(n_a, n_b, deff, alpha)
    if not 0 < power < 1:
        raise ValueError("power must lie in (0, 1)")
    if baseline is None:
        z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
        return float(z * np.sqrt(deff * p * (1 - p) * (1 / n_a + 1 / n_b)))

    def gap(d: float) -> float:
        return power_two_proportions(baseline + d, baseline, n_a, n_b, deff=deff, alpha=alpha) - power

    upper = 1 - baseline - 1e-12
    if gap(upper) < 0:
        return float("nan")
    return float(optimize.brentq(gap, 1e-12, upper, xtol=1e-12))
