"""The engine's distribution functions (pipeline/survey/distributions.py) give exactly scipy.stats' numbers.

They replace ``scipy.stats`` to save its import in every stage process, so they must agree with it to the
bit, at the edges of each support and for degrees of freedom that are zero, negative, infinite or missing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pipeline.survey import distributions

POINTS = [-np.inf, -50.0, -3.2, -1e-12, 0.0, 1e-12, 0.3, 1.96, 7.5, 40.0, np.inf, np.nan]
PROBABILITIES = [0.0, 1e-300, 1e-9, 0.025, 0.5, 0.975, 1 - 1e-12, 1.0, np.nan, 1.5, -0.1]
DEGREES = [0.0, -1.0, 0.5, 1.0, 2.5, 7.0, 190.0, 1e6, np.inf, np.nan]


def _same(ours, theirs) -> bool:
    return np.array_equal(np.asarray(ours, float), np.asarray(theirs, float), equal_nan=True)


@pytest.mark.parametrize("x", POINTS)
def test_normal(x):
    assert _same(distributions.norm.cdf(x), scipy_stats.norm.cdf(x))
    assert _same(distributions.norm.sf(x), scipy_stats.norm.sf(x))


@pytest.mark.parametrize("q", PROBABILITIES)
def test_normal_and_t_quantiles(q):
    assert _same(distributions.norm.ppf(q), scipy_stats.norm.ppf(q))
    for df in DEGREES:
        assert _same(distributions.t.ppf(q, df), scipy_stats.t.ppf(q, df)), df


@pytest.mark.parametrize("df", DEGREES)
def test_t_chi2_and_f_tails(df):
    for x in POINTS:
        assert _same(distributions.t.sf(x, df), scipy_stats.t.sf(x, df)), x
        assert _same(distributions.chi2.sf(x, df), scipy_stats.chi2.sf(x, df)), x
        for dfd in DEGREES:
            assert _same(distributions.f.sf(x, df, dfd), scipy_stats.f.sf(x, df, dfd)), (x, dfd)


def test_arrays_broadcast_as_scipy_stats():
    x = np.array(POINTS)
    for df in (np.full(len(POINTS), 3.0), np.array([d for d, _ in zip(itertools.cycle(DEGREES), POINTS)])):
        assert _same(distributions.t.sf(x, df), scipy_stats.t.sf(x, df))
        assert _same(distributions.chi2.sf(x, df), scipy_stats.chi2.sf(x, df))
        assert _same(distributions.f.sf(x, df, 20.0), scipy_stats.f.sf(x, df, 20.0))
    q = np.array([0.0, 0.025, 0.975, 1.0])
    assert _same(distributions.t.ppf(q, 4.0), scipy_stats.t.ppf(q, 4.0))
