"""Minimum detectable difference: a closed-form case, consistency with the power function, and
a Monte Carlo check with and without clustering."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.survey import minimum_detectable_difference, power_two_proportions


def test_closed_form_case():
    # (1.959964 + 0.841621) * sqrt(0.25 * (1/100 + 1/100)) = 0.198102
    mdd = minimum_detectable_difference(100, 100)
    expected = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * np.sqrt(0.25 * 0.02)
    assert mdd == pytest.approx(expected, rel=1e-14)
    assert mdd == pytest.approx(0.1981020, abs=1e-7)


def test_design_effect_inflates_by_its_square_root_and_sizes_are_symmetric():
    base = minimum_detectable_difference(60, 131)
    assert minimum_detectable_difference(60, 131, deff=2.25) == pytest.approx(1.5 * base)
    assert minimum_detectable_difference(131, 60) == pytest.approx(base)
    assert minimum_detectable_difference(60, 131, p=0.3) < base


def test_baseline_version_solves_the_power_equation():
    d = minimum_detectable_difference(80, 110, deff=1.4, baseline=0.3)
    assert power_two_proportions(0.3 + d, 0.3, 80, 110, deff=1.4) == pytest.approx(0.8, abs=1e-9)
    assert np.isnan(minimum_detectable_difference(3, 3, baseline=0.9))


def test_power_at_no_difference_is_alpha():
    assert power_two_proportions(0.4, 0.4, 50, 70, alpha=0.05) == pytest.approx(0.05, rel=1e-12)


def _simulated_power(p_a, p_b, clusters, size, icc, deff, reps, rng):
    # Beta-binomial clusters: intra-cluster correlation icc, so deff = 1 + (size - 1) icc.
    def sample(p):
        if icc == 0:
            return rng.binomial(clusters * size, p, reps) / (clusters * size)
        k = 1 / icc - 1
        cluster_p = rng.beta(p * k, (1 - p) * k, (reps, clusters))
        return rng.binomial(size, cluster_p).sum(axis=1) / (clusters * size)

    n = clusters * size
    a, b = sample(p_a), sample(p_b)
    pooled = (a + b) / 2
    z = (a - b) / np.sqrt(deff * pooled * (1 - pooled) * (2 / n))
    return float(np.mean(np.abs(z) > stats.norm.ppf(0.975)))


@pytest.mark.parametrize(("size", "icc"), [(1, 0.0), (4, 1 / 6)])
def test_simulated_power_at_the_mdd_is_the_target(size, icc):
    rng = np.random.default_rng(20080401)
    clusters = 240 // size
    deff = 1 + (size - 1) * icc
    d = minimum_detectable_difference(240, 240, deff=deff, baseline=0.35)
    power = _simulated_power(0.35 + d, 0.35, clusters, size, icc, deff, 20_000, rng)
    # Monte Carlo SE is 0.003; the normal approximation itself is good to about 0.01 here.
    assert power == pytest.approx(0.8, abs=0.02)
