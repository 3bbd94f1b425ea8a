"""Properties that hold whatever the data: textbook formulas, invariances and edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import survey_r_cases as rc
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.survey import (
    SurveyDesign,
    domain_difference,
    p_adjust_bh,
    svyby_mean,
    svychisq,
    svyciprop,
    svymean,
    svyolr,
    svytotal,
)

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)


@st.composite
def stratified_samples(draw):
    n_strata = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_h = rng.integers(2, 12, n_strata)
    big_n = n_h + rng.integers(0, 60, n_strata)
    stratum = np.repeat(np.arange(n_strata), n_h)
    return pd.DataFrame(
        {
            "h": stratum,
            "N": big_n[stratum],
            "y": rng.normal(rng.normal(0, 2, n_strata)[stratum], 1.5),
        }
    )


@PROPERTY
@given(stratified_samples())
def test_stratified_srswor_matches_the_textbook_formula(frame):
    # Var(ybar) = sum_h W_h^2 (1 - n_h/N_h) s_h^2 / n_h, W_h = N_h / N (Cochran 5.6).
    design = SurveyDesign(strata="h", fpc="N").prepare(frame)
    m = svymean(design, "y")
    g = frame.groupby("h").agg(n=("y", "size"), N=("N", "first"), s2=("y", "var"), ybar=("y", "mean"))
    big_w = g["N"] / g["N"].sum()
    expected_mean = float((big_w * g["ybar"]).sum())
    expected_var = float((big_w**2 * (1 - g["n"] / g["N"]) * g["s2"] / g["n"]).sum())
    assert m.estimate == pytest.approx(expected_mean, rel=1e-12, abs=1e-12)
    assert m.var == pytest.approx(expected_var, rel=1e-10, abs=1e-15)


@PROPERTY
@given(st.floats(0.01, 100.0))
def test_scaling_the_weights_changes_nothing_but_the_srswor_deff(c):
    frame = rc.dataset("partners").assign(w=lambda f: f["w"] * c)
    base = rc.prepared("part_clus")
    scaled = rc.DESIGNS["part_clus"][1].prepare(frame)
    dom = (frame["role"] == "public").to_numpy()
    for a, b in [(svymean(base, "item_bin", domain=dom), svymean(scaled, "item_bin", domain=dom))]:
        assert b.estimate == pytest.approx(a.estimate, rel=1e-12)
        assert b.se == pytest.approx(a.se, rel=1e-10)
    ra = svymean(base, "item_bin", deff="replace")
    rb = svymean(scaled, "item_bin", deff="replace")
    assert rb.deff == pytest.approx(ra.deff, rel=1e-10)
    ca, cb = svyciprop(base, "item_bin"), svyciprop(scaled, "item_bin")
    assert (cb.ci_low, cb.ci_high) == pytest.approx((ca.ci_low, ca.ci_high), rel=1e-10)
    ta, tb = svychisq(base, "item_ord", "role"), svychisq(scaled, "item_ord", "role")
    assert (tb.f, tb.ndf, tb.p_f) == pytest.approx((ta.f, ta.ndf, ta.p_f), rel=1e-9)


def test_scaling_the_weights_leaves_svyolr_unchanged():
    frame = rc.dataset("partners").assign(w=lambda f: f["w"] * 7.3)
    scaled = rc.DESIGNS["part_clus"][1].prepare(frame)
    a = svyolr(rc.prepared("part_clus"), "item_ord", ["tier", "role"])
    b = svyolr(scaled, "item_ord", ["tier", "role"])
    np.testing.assert_allclose(b.coefficients, a.coefficients, rtol=1e-8)
    np.testing.assert_allclose(b.zeta, a.zeta, rtol=1e-8)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-6)


def test_domain_estimation_keeps_the_whole_design():
    # Filtering rows first would shrink n_h and the fpc: a different (wrong) SE.
    design = rc.prepared("coord_strat")
    frame = design.data
    north = (frame["region"] == "north").to_numpy()
    kept = svymean(design, "score", domain=north)
    filtered = rc.DESIGNS["coord_strat"][1].prepare(frame[north].reset_index(drop=True))
    naive = svymean(filtered, "score")
    assert kept.se != pytest.approx(naive.se, rel=1e-3)
    # The domain mean is the ratio of two totals.
    ratio = svytotal(design, frame["score"] * north).estimate / svytotal(design, north).estimate
    assert kept.estimate == pytest.approx(ratio, rel=1e-12)
    everyone = svymean(design, "score", domain=np.ones(len(frame), dtype=bool))
    assert everyone == svymean(design, "score")


def test_domain_means_covariance_is_symmetric_psd_with_the_domain_variances():
    design = rc.prepared("part_clus")
    res = svyby_mean(design, "item_bin", "role")
    cov = res.cov.to_numpy()
    np.testing.assert_allclose(cov, cov.T, rtol=0, atol=1e-18)
    assert np.linalg.eigvalsh(cov).min() > -1e-15
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), res.table["se"], rtol=1e-12)


def test_difference_of_stratum_aligned_domains_has_independent_parts():
    # Tier is a union of strata: the two domain means share no stratum, so no covariance.
    design = rc.prepared("coord_strat")
    d = domain_difference(design, "item_bin", "tier", "single_tier", "two_tier")
    a = svymean(design, "item_bin", domain=(design.data["tier"] == "single_tier").to_numpy())
    b = svymean(design, "item_bin", domain=(design.data["tier"] == "two_tier").to_numpy())
    assert d.se == pytest.approx(np.hypot(a.se, b.se), rel=1e-12)
    assert d.ci_low < d.estimate < d.ci_high


def test_proportion_of_zero_or_one_in_a_domain():
    design = rc.prepared("lonely_adjust")
    for level, value in [("g3", 1.0), ("g4", 0.0)]:
        dom = (design.data["grp"] == level).to_numpy()
        m = svymean(design, "y", domain=dom)
        assert m.estimate == value and m.se == 0.0
        assert np.isnan(m.deff)  # 0 / 0, as R
        ci = svyciprop(design, "y", domain=dom)
        assert np.isnan(ci.ci_low) and np.isnan(ci.ci_high)


def test_unweighted_design_deff_is_infinite_as_in_r():
    # N = n, so the SRSWOR variance has a zero fpc: R reports Inf; "replace" is the usable one.
    m = svymean(rc.prepared("coord_unw"), "item_bin")
    assert m.deff == np.inf
    r = svymean(rc.prepared("coord_unw"), "item_bin", deff="replace")
    assert 0.5 < r.deff < 2


@PROPERTY
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=30))
def test_bh_properties(p):
    p = np.array(p)
    adj = p_adjust_bh(p)
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(adj), ~ok)
    assert np.all(adj[ok] >= p[ok] - 1e-15) and np.all(adj[ok] <= 1)
    order = np.argsort(p[ok], kind="stable")
    assert np.all(np.diff(adj[ok][order]) >= -1e-15)
    perm = np.random.default_rng(0).permutation(p.size)
    np.testing.assert_array_equal(p_adjust_bh(p[perm]), adj[perm])


def test_independent_table_gives_zero_pearson():
    # Weighted cell shares equal to the product of margins: X^2 = F = 0, p = 1.
    frame = pd.DataFrame(
        {
            "a": ["x", "x", "y", "y"] * 6,
            "b": ["u", "v", "u", "v"] * 6,
            "h": np.repeat([0, 1, 2], 8),
        }
    )
    design = SurveyDesign(strata="h").prepare(frame)
    t = svychisq(design, "a", "b")
    assert t.pearson == pytest.approx(0.0, abs=1e-20)
    assert t.p_f == pytest.approx(1.0)


def test_estimators_handle_place_survey_sizes():
    # 200,000 rows in 20,000 PSUs (how fast is `make bench`'s business, never a timed assertion):
    # the domain mean is the weighted mean of the domain, and the test sees the planted association.
    rng = np.random.default_rng(1)
    n = 200_000
    psu = rng.integers(0, 20_000, n)
    g = rng.integers(0, 3, n)
    y = (rng.random(n) < np.where(g == 1, 0.6, 0.4)).astype(int)
    frame = pd.DataFrame({"psu": psu, "h": psu % 10, "y": y, "g": g})
    design = SurveyDesign(cluster="psu", strata="h").prepare(frame)
    mean = svymean(design, "y", domain=(frame["g"] == 1).to_numpy())
    assert mean.estimate == pytest.approx(y[g == 1].mean(), rel=1e-12)
    assert svychisq(design, "y", "g").p_f < 1e-10
