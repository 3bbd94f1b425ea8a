"""The vectorised estimators give what the one-at-a-time estimators give (those are checked against R)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, domain_difference, svyciprop, svymean
from pipeline.survey.batch import batch_differences, batch_means, logit_intervals

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OUTCOMES = ["item_bin", "item_ord", "score"]


def _designs():
    coordinators = pd.read_csv(FIXTURES / "coordinators.csv")
    partners = pd.read_csv(FIXTURES / "partners.csv").assign(score=lambda d: d["item_ord"] * 2)
    lonely = pd.read_csv(FIXTURES / "lonely.csv").rename(
        columns={"y": "item_bin", "x": "score", "grp": "tier"}
    )
    lonely = lonely.assign(item_ord=lonely["score"].round())
    return {
        "stratified fpc": SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators),
        "clustered weighted": SurveyDesign(
            weights="w", cluster="lsp_id", strata="authority_type", fpc="N_h"
        ).prepare(partners),
        "unweighted": SurveyDesign().prepare(coordinators),
        "lonely adjust": SurveyDesign(
            weights="w", cluster="psu", strata="stratum", fpc="N_h", lonely_psu="adjust"
        ).prepare(lonely),
    }


@pytest.mark.parametrize("name", list(_designs()))
@pytest.mark.parametrize("deff", ["srswor", "replace"])
def test_batch_means_match_svymean_in_every_domain(name, deff):
    design = _designs()[name]
    values = design.data[OUTCOMES].to_numpy(dtype=float)
    tiers = design.data["tier"].astype(str).to_numpy()
    for domain in (None, *(tiers == level for level in np.unique(tiers))):
        batch = batch_means(design, values, domain, deff=deff)
        for j, column in enumerate(OUTCOMES):
            expected = svymean(design, column, domain=domain, deff=deff)
            assert batch.estimate[j] == pytest.approx(expected.estimate, rel=1e-12)
            assert batch.se[j] == pytest.approx(expected.se, rel=1e-10)
            assert batch.n[j] == expected.n
            assert batch.df == expected.df
            np.testing.assert_allclose(batch.deff[j], expected.deff, rtol=1e-10)


@pytest.mark.parametrize("name", list(_designs()))
def test_logit_intervals_match_svyciprop(name):
    design = _designs()[name]
    tiers = design.data["tier"].astype(str).to_numpy()
    for domain in (None, tiers == tiers[0]):
        batch = batch_means(design, design.data[["item_bin"]].to_numpy(dtype=float), domain)
        low, high = logit_intervals(batch.estimate, batch.se, batch.df)
        expected = svyciprop(design, "item_bin", domain=domain)
        assert low[0] == pytest.approx(expected.ci_low, rel=1e-10)
        assert high[0] == pytest.approx(expected.ci_high, rel=1e-10)


def test_logit_intervals_are_undefined_at_zero_and_one():
    low, high = logit_intervals(np.array([0.0, 1.0, 0.5]), np.array([0.0, 0.0, 0.1]), 10)
    assert np.isnan(low[:2]).all() and np.isnan(high[:2]).all()
    assert 0 < low[2] < 0.5 < high[2] < 1


@pytest.mark.parametrize("name", list(_designs()))
def test_batch_differences_match_domain_difference(name):
    design = _designs()[name]
    tiers = design.data["tier"].astype(str).to_numpy()
    a, b = np.unique(tiers)[:2]
    values = design.data[OUTCOMES].to_numpy(dtype=float)
    batch = batch_differences(design, values, tiers == a, tiers == b)
    for j, column in enumerate(OUTCOMES):
        expected = domain_difference(design, column, tiers, a, b)
        assert batch.estimate[j] == pytest.approx(expected.estimate, rel=1e-12)
        assert batch.se[j] == pytest.approx(expected.se, rel=1e-10)
        assert batch.ci_low[j] == pytest.approx(expected.ci_low, rel=1e-10)
        assert batch.t_df[j] == expected.t_df
        assert batch.p_t[j] == pytest.approx(expected.p_t, rel=1e-8)
        assert (batch.n_a[j], batch.n_b[j]) == (expected.n_a, expected.n_b)


def test_blocks_do_not_change_results(monkeypatch):
    design = _designs()["clustered weighted"]
    values = np.tile(design.data[OUTCOMES].to_numpy(dtype=float), (1, 30))
    whole = batch_means(design, values)
    monkeypatch.setattr("pipeline.survey.batch.BLOCK_COLUMNS", 7)
    blocked = batch_means(design, values)
    np.testing.assert_array_equal(whole.se, blocked.se)
