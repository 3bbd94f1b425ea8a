"""Pooling multiply imputed estimates by Rubin's rules (R: ``mitools::MIcombine``, ``mice::pool``).

For ``m`` imputations of one scalar estimate with complete-data variances ``U_i``:

- ``W`` = mean of ``U_i`` (within), ``B`` = variance of the estimates (between, divisor ``m - 1``),
  ``T = W + (1 + 1/m) B`` (total), the pooled SE ``sqrt(T)``;
- ``riv`` = ``(1 + 1/m) B / W``, the relative increase in variance due to nonresponse;
- ``lambda`` = ``(1 + 1/m) B / T``, the proportion of the total variance due to the missing data;
- degrees of freedom: Rubin's (1987) ``df_old = (m - 1) / lambda^2``, with Barnard and Rubin's (1999)
  small-sample correction for a complete-data df ``df_com``: ``df_obs = (df_com + 1) / (df_com + 3) *
  df_com * (1 - lambda)`` and ``df = 1 / (1 / df_old + 1 / df_obs)``. mitools writes ``df_obs`` with
  ``W / (W + B)`` in place of ``1 - lambda = W / (W + (1 + 1/m) B)`` (``rule="mitools"``);
- the fraction of missing information ``fmi = (riv + 2 / (df + 3)) / (riv + 1)``, with the pooled df of
  the rule (mitools' ``missinfo``; mice's ``fmi``). It is not ``lambda``: it adds the uncertainty of ``B``
  itself, ``2 / (df + 3)``, and so is larger for few imputations or few df.

Checked against mitools in tests/survey/fixtures/r_mitools.json (tests/survey/r/make_mitools_fixture.R).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from pipeline.survey.estimators import t_quantile

DfRule = Literal["barnard_rubin", "mitools"]


@dataclass(frozen=True)
class PooledEstimate:
    """One estimate pooled over imputations, with its diagnostics under their standard names."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p: float
    within: float
    between: float
    riv: float
    lambda_: float
    fmi: float
    imputations: int

    def to_dict(self) -> dict[str, float]:
        """The table's fields: estimate to p, ``lambda`` and ``fraction_missing_information``."""
        return {
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "statistic": self.statistic,
            "df": self.df,
            "p": self.p,
            "lambda": self.lambda_,
            "fraction_missing_information": self.fmi,
        }


def pool_rubin(
    estimates: np.ndarray,
    variances: np.ndarray,
    df_complete: float = np.inf,
    *,
    level: float = 0.95,
    rule: DfRule = "barnard_rubin",
) -> PooledEstimate:
    """Pool one scalar estimate over imputations by Rubin's rules (R: ``MIcombine(..., df.complete=)``).

    Parameters
    ----------
    estimates, variances
        The ``m >= 2`` complete-data estimates and their variances (SE squared).
    df_complete
        The complete-data df (a survey regression's design df); ``inf`` gives Rubin's (1987) df.
    level
        Confidence level of the t interval.
    rule
        ``"barnard_rubin"`` (Barnard and Rubin 1999, as mice) or ``"mitools"`` (mitools' ``df_obs``).

    Returns
    -------
    PooledEstimate
        The pooled estimate, SE, t interval and test on the pooled df, and ``riv``, ``lambda`` and the
        fraction of missing information.
    """
    estimates = np.asarray(estimates, dtype=float)
    variances = np.asarray(variances, dtype=float)
    m = estimates.size
    if m < 2 or variances.size != m:
        raise ValueError("Rubin's rules need two or more imputations, each with its variance")
    qbar, w, b = float(estimates.mean()), float(variances.mean()), float(estimates.var(ddof=1))
    t = w + (1 + 1 / m) * b
    riv = (1 + 1 / m) * b / w if w > 0 else np.inf
    lam = (1 + 1 / m) * b / t if t > 0 else 0.0
    # (m - 1) (1 + 1/riv)^2, written with lambda = riv / (1 + riv).
    df_old = (m - 1) / lam**2 if lam > 0 else np.inf
    if np.isfinite(df_complete):
        kept = (1 - lam) if rule == "barnard_rubin" else w / (w + b)
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * kept
        df = 1 / (1 / df_old + 1 / df_obs)
    else:
        df = df_old
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = float(np.sqrt(t))
    q = t_quantile(level, df)
    return PooledEstimate(
        estimate=qbar,
        se=se,
        ci_low=qbar - q * se,
        ci_high=qbar + q * se,
        statistic=qbar / se,
        df=float(df),
        p=float(2 * stats.t.sf(abs(qbar / se), df)),
        within=w,
        between=b,
        riv=float(riv),
        lambda_=float(lam),
        fmi=float(fmi),
        imputations=m,
    )
