"""The normal, t, chi-squared and F functions the engine and the stages use, straight from scipy.special.

Importing ``scipy.stats`` costs about 0.8 CPU-s per process (it builds every distribution and test at
import), more than some stages spend on their work, and each stage runs in its own process. These are the
special functions scipy.stats' own methods call for the same arguments (``t.sf(x, df)`` is
``stdtr(df, -x)``, ``chi2.sf`` is ``chdtrc``, ``f.sf`` is ``fdtrc``, ``norm.ppf`` is ``ndtri``), so the
numbers are the same to the last bit; tests/survey/test_survey_distributions.py checks that, edges included.
Used as ``from pipeline.survey import distributions as stats`` so call sites read as before.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special


def _survival_on_half_line(x: ArrayLike, value: ArrayLike) -> ArrayLike:
    """``value`` inside the support (0, inf); 1 at or below 0 and 0 at infinity, as scipy.stats sets them."""
    x = np.asarray(x, dtype=float)
    result = np.where(x <= 0, 1.0, np.where(x == np.inf, 0.0, value))
    return result[()] if result.ndim == 0 else result


class norm:
    @staticmethod
    def cdf(x: ArrayLike) -> ArrayLike:
        return special.ndtr(x)

    @staticmethod
    def sf(x: ArrayLike) -> ArrayLike:
        return special.ndtr(np.negative(x))

    @staticmethod
    def ppf(q: ArrayLike) -> ArrayLike:
        return special.ndtri(q)


class t:
    @staticmethod
    def sf(x: ArrayLike, df: ArrayLike) -> ArrayLike:
        return _valid_df(special.stdtr(df, np.negative(x)), df)

    @staticmethod
    def ppf(q: ArrayLike, df: ArrayLike) -> ArrayLike:
        q = np.asarray(q, dtype=float)
        # The ends of the support at 0 and 1 exactly, as scipy.stats sets them (stdtrit gives the reverse).
        value = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, special.stdtrit(df, q)))
        return _valid_df(value[()] if value.ndim == 0 else value, df)


class chi2:
    @staticmethod
    def sf(x: ArrayLike, df: ArrayLike) -> ArrayLike:
        return _valid_df(_survival_on_half_line(x, special.chdtrc(df, x)), df)


class f:
    @staticmethod
    def sf(x: ArrayLike, dfn: ArrayLike, dfd: ArrayLike) -> ArrayLike:
        return _valid_df(_valid_df(_survival_on_half_line(x, special.fdtrc(dfn, dfd, x)), dfn), dfd)


def _valid_df(value: ArrayLike, df: ArrayLike) -> ArrayLike:
    """NaN where the degrees of freedom are not positive, as scipy.stats returns."""
    df = np.asarray(df, dtype=float)
    if np.all(df > 0):
        return value
    result = np.where(df > 0, value, np.nan)
    return result[()] if result.ndim == 0 else result
