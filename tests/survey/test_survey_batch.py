"""The vectorised estimators give what the one-at-a-time estimators give (those are checked against R)."""

import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, domain_difference, svyciprop, svymean
from pipeline.survey.batch import batch_differences, batch_means, logit_intervals
from pipeline.survey.calibration import calibrate
from pipeline.survey.domains import variance_plan

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


# ------------------------------------------- domain rows only (pipeline.survey.domains), calibrated designs


def _indicators(data: pd.DataFrame) -> np.ndarray:
    """Authority type and region indicators, and a numeric column, as calibration variables."""
    types = pd.get_dummies(data["authority_type"].astype(str)).to_numpy(dtype=float)
    regions = pd.get_dummies(data["region"].astype(str), drop_first=True).to_numpy(dtype=float)
    return np.column_stack([types, regions, data["item_ord"].fillna(3).to_numpy(dtype=float)])


def _calibrated(design, unit=None, rows=None, **options):
    """Calibrated to totals 3% off the sample's, so every g-weight moves."""
    x = _indicators(design.data)
    if unit is not None:  # constant within a unit: the unit's means
        x = pd.DataFrame(x).groupby(design.data[unit].to_numpy()).transform("mean").to_numpy()
    in_rows = np.ones(design.n, dtype=bool) if rows is None else rows
    # One row per unit when calibrating units.
    first = in_rows if unit is None else ~design.data[unit].duplicated().to_numpy() & in_rows
    totals = x[first].T @ design.weights[first] * np.linspace(0.98, 1.02, x.shape[1])
    x = np.where(in_rows[:, None], x, 0.0)
    return calibrate(design, x, totals, unit=unit, rows=rows, epsilon=1e-12, **options)[0]


def _coordinator_lsps(coordinators: pd.DataFrame, partners: pd.DataFrame) -> pd.Series:
    """Each partner's LSP renamed to a coordinator's LSP of the same authority type (shared PSUs)."""
    renamed = {}
    for kind, lsps in partners.groupby("authority_type")["lsp_id"]:
        targets = coordinators.loc[coordinators["authority_type"] == kind, "lsp_id"].tolist()
        for k, lsp in enumerate(dict.fromkeys(lsps)):
            renamed[lsp] = targets[k % len(targets)]
    return partners["lsp_id"].map(renamed)


def _calibrated_designs():
    coordinators = pd.read_csv(FIXTURES / "coordinators.csv")
    partners = pd.read_csv(FIXTURES / "partners.csv").assign(score=lambda d: d["item_ord"] * 2)
    # Several partners in most LSPs, and LSPs with a single partner (uncentred under "adjust").
    two_stage = SurveyDesign(
        weights="w",
        cluster="lsp_id",
        subcluster="respondent_id",
        strata="authority_type",
        fpc="N_h",
        lonely_psu="adjust",
    ).prepare(partners)
    both = pd.concat(
        [
            coordinators.assign(w=coordinators["N_h"] / 40, respondent_id=coordinators["lsp_id"]),
            partners.assign(lsp_id=_coordinator_lsps(coordinators, partners)),
        ],
        ignore_index=True,
    )
    respondents = SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type").prepare(both)
    is_coordinator = np.arange(both.shape[0]) < coordinators.shape[0]
    respondents = _calibrated(respondents, rows=is_coordinator, calfun="raking")
    respondents = _calibrated(respondents, unit="lsp_id", rows=~is_coordinator, df_adjust="leverage")
    return {
        "calibrated rows, unit fpc": _calibrated(
            SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators),
            calfun="raking",
            df_adjust="leverage",
            unit_fpc=True,
        ),
        "calibrated by LSP, two stages": _calibrated(
            two_stage, unit="lsp_id", calfun="raking", df_adjust="leverage", unit_fpc=True
        ),
        "two calibrations, shared PSUs": respondents,
        "two stages, uncalibrated": two_stage,
    }


@pytest.mark.parametrize("name", list(_calibrated_designs()))
def test_domain_rows_alone_give_the_zero_padded_variance(name, monkeypatch):
    design = _calibrated_designs()[name]
    values = design.data[OUTCOMES].to_numpy(dtype=float)
    tiers = design.data["tier"].astype(str).to_numpy()
    a, b = np.unique(tiers)[:2]
    domains = (None, tiers == a, tiers == b)
    # The one-at-a-time estimators over every row (the fixtures are below MIN_ROWS: no plan) ...
    means = [[svymean(design, column, domain=domain) for column in OUTCOMES] for domain in domains]
    differences = [domain_difference(design, column, tiers, a, b) for column in OUTCOMES]
    # ... against the batch estimators on the domain's rows (plans made afresh, without the size floor).
    monkeypatch.setattr("pipeline.survey.domains.MIN_ROWS", 0)
    monkeypatch.setattr("pipeline.survey.domains._PLANS", weakref.WeakKeyDictionary())
    assert variance_plan(design) is not None
    for domain, expected_means in zip(domains, means, strict=True):
        batch = batch_means(design, values, domain)
        for j, expected in enumerate(expected_means):
            assert batch.estimate[j] == pytest.approx(expected.estimate, rel=1e-12)
            assert batch.se[j] == pytest.approx(expected.se, rel=1e-10)
            assert batch.df == expected.df
    difference = batch_differences(design, values, tiers == a, tiers == b)
    for j, expected in enumerate(differences):
        assert difference.se[j] == pytest.approx(expected.se, rel=1e-10)
        assert difference.t_df[j] == expected.t_df


def test_designs_outside_the_shortcut_have_no_plan(monkeypatch):
    monkeypatch.setattr("pipeline.survey.domains.MIN_ROWS", 0)
    assert variance_plan(_designs()["lonely adjust"]) is None  # a stratum with one PSU


@pytest.mark.parametrize("name", list(_calibrated_designs()))
def test_domain_rows_alone_give_the_whole_covariance_matrix(name, monkeypatch):
    design = _calibrated_designs()[name]
    values = design.data[OUTCOMES].fillna(0).to_numpy(dtype=float)
    tiers = design.data["tier"].astype(str).to_numpy()
    influence = np.where((tiers == tiers[0])[:, None], values - values.mean(axis=0), 0.0)
    zero_padded = design.variance(influence)  # below MIN_ROWS: every row
    monkeypatch.setattr("pipeline.survey.domains.MIN_ROWS", 0)
    monkeypatch.setattr("pipeline.survey.domains._PLANS", weakref.WeakKeyDictionary())
    np.testing.assert_allclose(design.variance(influence), zero_padded, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", list(_calibrated_designs()))
def test_rao_scott_from_cell_counts_is_the_zero_padded_test(name, monkeypatch):
    """svychisq on a large design (the covariance from weighted cell counts by PSU and calibration
    pattern) and svychisq_many (one column variable, many row variables) give the test on every row."""
    from pipeline.survey import svychisq
    from pipeline.survey.chisq import svychisq_many

    design = _calibrated_designs()[name]
    tiers = design.data["tier"].astype(str).to_numpy(dtype=object)
    constant = np.where(design.data["item_ord"].notna(), 1.0, np.nan)
    rows = [design.data["item_ord"].to_numpy(float), design.data["item_bin"].to_numpy(float), constant]
    # The one-at-a-time test over every row (the fixtures are below MIN_ROWS: no plan) ...
    expected = [svychisq(design, row, tiers) for row in rows[:2]]
    with pytest.raises(Exception, match="two observed levels"):
        svychisq(design, constant, tiers)
    # ... against the tests from the rows' cell counts (plans made afresh, without the size floor).
    monkeypatch.setattr("pipeline.survey.domains.MIN_ROWS", 0)
    monkeypatch.setattr("pipeline.survey.domains._PLANS", weakref.WeakKeyDictionary())
    assert variance_plan(design) is not None
    many = svychisq_many(design, rows, tiers)
    assert many[2] is None
    singles = [svychisq(design, row, tiers) for row in rows[:2]]
    for found, single, want in zip(many[:2], singles, expected, strict=True):
        for test in (found, single):
            for field in ("f", "ndf", "ddf", "p_f", "pearson", "p_chisq"):
                assert getattr(test, field) == pytest.approx(getattr(want, field), rel=1e-10)
            assert (test.n_total, test.design_df, test.rows, test.cols) == (
                want.n_total,
                want.design_df,
                want.rows,
                want.cols,
            )


@pytest.mark.parametrize("name", list(_calibrated_designs()))
@pytest.mark.parametrize("deff", ["srswor", "replace"])
def test_means_of_every_domain_from_one_pass_are_svymean_in_each(name, deff, monkeypatch):
    """batch_means_by_domain (one pass of sums by PSU, pattern and domain) gives svymean in each domain,
    rows in no domain left out; as batch_means on the design's rows where there is no plan."""
    from pipeline.survey.batch import batch_means_by_domain

    design = _calibrated_designs()[name]
    values = design.data[OUTCOMES].to_numpy(dtype=float)
    values[:, 2] += 1000.0  # far from zero: the sums of squares must not lose digits
    levels, code = np.unique(design.data["tier"].astype(str).to_numpy(), return_inverse=True)
    code = np.where(np.arange(design.n) % 7 == 0, -1, code)  # rows in no domain
    domains = [code == d for d in range(levels.size)]
    plain = batch_means_by_domain(design, values, code, levels.size, deff=deff)
    expected = [[svymean(design, values[:, j], domain=mask, deff=deff) for j in range(3)] for mask in domains]
    monkeypatch.setattr("pipeline.survey.domains.MIN_ROWS", 0)
    monkeypatch.setattr("pipeline.survey.domains._PLANS", weakref.WeakKeyDictionary())
    assert variance_plan(design) is not None
    found = batch_means_by_domain(design, values, code, levels.size, deff=deff)
    for d, mask in enumerate(domains):
        one = batch_means(design, values, mask, deff=deff)
        for batch in (found[d], plain[d]):
            for j, want in enumerate(expected[d]):
                assert batch.estimate[j] == pytest.approx(want.estimate, rel=1e-12)
                assert batch.se[j] == pytest.approx(want.se, rel=1e-10)
                assert batch.deff[j] == pytest.approx(want.deff, rel=1e-10, nan_ok=True)
                assert batch.df == want.df
            np.testing.assert_array_equal(batch.n, one.n)
            np.testing.assert_allclose(batch.pop_size, one.pop_size, rtol=1e-12)
            np.testing.assert_array_equal(batch.df_per_column, one.df_per_column)


@pytest.mark.parametrize("name", list(_calibrated_designs()))
def test_a_plan_centred_a_few_psus_at_a_time_is_the_plan_centred_at_once(name, monkeypatch):
    """The plan centres its PSUs x rank matrix a block at a time (in place where it can): the same
    numbers, bit for bit, as one block."""
    import pipeline.survey.domains as domains

    design = _calibrated_designs()[name]
    monkeypatch.setattr(domains, "MIN_ROWS", 0)
    whole = domains._build(design)
    monkeypatch.setattr(domains, "_PSU_BLOCK", 3)
    blocks = domains._build(design)
    assert whole is not None and blocks is not None
    if not whole.entries:  # uncalibrated: nothing to centre
        assert blocks.gram is None and blocks.projected is None
        return
    np.testing.assert_array_equal(blocks.gram, whole.gram)
    np.testing.assert_array_equal(blocks.projected.values, whole.projected.values)
    if whole.projected.code is not None:
        np.testing.assert_array_equal(blocks.projected.code, whole.projected.code)
