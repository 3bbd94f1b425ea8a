"""svyolr beyond the R comparison: Hessian choice, level order, domains and misuse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import survey_r_cases as rc

from pipeline.survey import SurveyDesignError, svyolr


def test_r_numeric_and_analytic_hessians_agree_closely():
    design = rc.prepared("part_clus")
    a = svyolr(design, "item_ord", ["tier", "region"])
    b = svyolr(design, "item_ord", ["tier", "region"], hessian="analytic")
    pd.testing.assert_series_equal(a.coefficients, b.coefficients)
    # R's finite-difference Hessian is off by O(1e-3 ** 2): SEs move by < 1e-6 relative.
    np.testing.assert_allclose(a.se, b.se, rtol=1e-6)
    assert not np.allclose(a.se, b.se, rtol=1e-12, atol=0)


def test_reversing_the_response_negates_the_model():
    design = rc.prepared("coord_strat")
    frame = design.data.assign(
        ord_rev=pd.Categorical(design.data["item_ord"], categories=[5.0, 4.0, 3.0, 2.0, 1.0])
    )
    rev_design = rc.DESIGNS["coord_strat"][1].prepare(frame)
    a = svyolr(design, "item_ord", ["tier", "region"])
    b = svyolr(rev_design, "ord_rev", ["tier", "region"])
    np.testing.assert_allclose(b.coefficients, -a.coefficients, rtol=1e-8)
    np.testing.assert_allclose(b.zeta.to_numpy(), -a.zeta.to_numpy()[::-1], rtol=1e-8)
    np.testing.assert_allclose(b.se.iloc[:3], a.se.iloc[:3], rtol=1e-6)
    assert list(b.zeta.index) == ["5|4", "4|3", "3|2", "2|1"]


def test_names_follow_r():
    fit = svyolr(rc.prepared("part_clus"), "item_ord", ["tier", "role"])
    assert list(fit.coefficients.index) == ["tiertwo_tier", "rolepublic", "rolevoluntary"]
    assert list(fit.zeta.index) == ["1|2", "2|3", "3|4", "4|5"]
    assert fit.converged
    assert fit.n == rc.dataset("partners")["item_ord"].notna().sum()
    json.dumps(fit.to_dict())


def test_domain_fit_uses_only_domain_rows_for_the_estimates():
    design = rc.prepared("part_clus")
    frame = design.data
    dom = (frame["tier"] == "two_tier").to_numpy()
    within = svyolr(design, "item_ord", ["role"], domain=dom)
    alone = svyolr(
        rc.DESIGNS["part_clus"][1].prepare(frame[dom].reset_index(drop=True)), "item_ord", ["role"]
    )
    np.testing.assert_allclose(within.coefficients, alone.coefficients, rtol=1e-8)
    # Same strata and PSUs here (tier is a union of strata), so the SEs agree too.
    np.testing.assert_allclose(within.se, alone.se, rtol=1e-8)


def test_binary_response_is_refused():
    with pytest.raises(SurveyDesignError, match="three or more"):
        svyolr(rc.prepared("coord_strat"), "item_bin", ["tier"])


def test_empty_response_level_is_refused_and_unused_predictor_levels_are_dropped():
    design = rc.prepared("coord_strat")
    frame = design.data
    with_gap = frame.assign(
        ord_cat=pd.Categorical(frame["item_ord"], categories=[1.0, 2.0, 2.5, 3.0, 4.0, 5.0]),
        tier_cat=pd.Categorical(frame["tier"], categories=["single_tier", "none", "two_tier"]),
    )
    gap_design = rc.DESIGNS["coord_strat"][1].prepare(with_gap)
    with pytest.raises(SurveyDesignError, match="no observations"):
        svyolr(gap_design, "ord_cat", ["tier"])
    a = svyolr(gap_design, "item_ord", ["tier_cat"])
    b = svyolr(design, "item_ord", ["tier"])
    np.testing.assert_allclose(a.coefficients.to_numpy(), b.coefficients.to_numpy())
    assert list(a.coefficients.index) == ["tier_cattwo_tier"]


@pytest.mark.parametrize("hessian", ["r", "analytic"])
def test_fitting_on_distinct_patterns_equals_fitting_on_every_row(monkeypatch, hessian):
    # svyolr fits on the summed weights of each distinct (predictors, response) pattern; forcing one
    # pattern per row gives the row-level fit, which must agree to rounding.
    from pipeline.survey import olr

    design = rc.prepared("part_clus")
    pooled = svyolr(design, "item_ord", ["tier", "role"], hessian=hessian)
    monkeypatch.setattr(olr, "distinct_rows", lambda rows: (rows, np.arange(len(rows))))
    by_row = svyolr(design, "item_ord", ["tier", "role"], hessian=hessian)
    np.testing.assert_allclose(pooled.coefficients, by_row.coefficients, rtol=1e-10)
    np.testing.assert_allclose(pooled.zeta, by_row.zeta, rtol=1e-10)
    np.testing.assert_allclose(pooled.se, by_row.se, rtol=1e-8)
    np.testing.assert_allclose(pooled.influence, by_row.influence, rtol=1e-8, atol=1e-14)
    assert pooled.deviance == pytest.approx(by_row.deviance, rel=1e-12)
