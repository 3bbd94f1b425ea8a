"""Rubin's rules (pipeline/survey/mi.py) against mitools (r/make_mitools_fixture.R writes the fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.survey.mi import pool_rubin

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "r_mitools.json").read_text())
TOL = 1e-10


def _df(value) -> float:
    return np.inf if value == "Inf" else float(value)


@pytest.mark.parametrize(
    "case", REFERENCE["cases"], ids=lambda c: f"m{c['m']}-df{c['df_complete']}-{c['estimates'][0]:.4f}"
)
def test_pooling_matches_mitools(case):
    pooled = pool_rubin(
        np.array(case["estimates"]), np.array(case["variances"]), _df(case["df_complete"]), rule="mitools"
    )
    assert pooled.estimate == pytest.approx(case["estimate"], rel=TOL)
    assert pooled.se**2 == pytest.approx(case["variance"], rel=TOL)
    assert pooled.df == pytest.approx(case["df"], rel=1e-9)
    assert pooled.fmi == pytest.approx(case["missinfo"], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: f"m{c['m']}-df{c['df_complete']}")
def test_barnard_rubin_differs_from_mitools_only_in_the_observed_df(case):
    args = (np.array(case["estimates"]), np.array(case["variances"]), _df(case["df_complete"]))
    ours, theirs = pool_rubin(*args), pool_rubin(*args, rule="mitools")
    assert ours.se == theirs.se and ours.lambda_ == theirs.lambda_
    if np.isinf(_df(case["df_complete"])):
        assert ours.df == theirs.df and ours.fmi == theirs.fmi
    else:
        # 1 - lambda = W / (W + (1 + 1/m) B) is below mitools' W / (W + B): fewer observed df.
        assert ours.df <= theirs.df


def test_rubins_rules_by_hand():
    estimates = np.array([1.0, 1.2, 0.8, 1.1])
    variances = np.array([0.04, 0.05, 0.04, 0.03])
    pooled = pool_rubin(estimates, variances, df_complete=100.0)
    w, b = 0.04, np.var(estimates, ddof=1)
    total = w + 1.25 * b
    assert pooled.estimate == pytest.approx(1.025)
    assert pooled.se == pytest.approx(np.sqrt(total))
    lam = 1.25 * b / total
    riv = 1.25 * b / w
    df_old = 3 / lam**2
    df_obs = 101 / 103 * 100 * (1 - lam)
    df = 1 / (1 / df_old + 1 / df_obs)
    assert pooled.df == pytest.approx(df)
    assert pooled.lambda_ == pytest.approx(lam) and pooled.riv == pytest.approx(riv)
    assert pooled.fmi == pytest.approx((riv + 2 / (df + 3)) / (riv + 1))
    assert pooled.fmi > pooled.lambda_
    same = pool_rubin(np.ones(5), np.full(5, 0.04), df_complete=50.0)
    assert same.se == pytest.approx(0.2) and same.df == pytest.approx(51 / 53 * 50)
    assert same.lambda_ == 0


def test_one_imputation_is_refused():
    with pytest.raises(ValueError, match="two or more"):
        pool_rubin(np.array([1.0]), np.array([0.1]))
