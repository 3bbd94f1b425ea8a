"""The engine's large-survey paths give the numbers of the plain ones: model matrices from coded columns,
calibration on collapsed patterns, variance plans that do not keep their designs alive."""

import gc
import weakref

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, svymean
from pipeline.survey import patterns as patterns_module
from pipeline.survey.calibration import calibrate, calibration_factors
from pipeline.survey.domains import variance_plan
from pipeline.survey.glm import svyglm
from pipeline.survey.terms import design_model_matrix, model_matrix

ROWS = 3_000  # above patterns.COLLAPSE_MIN_ROWS and domains.MIN_ROWS


def _survey(seed: int = 7) -> pd.DataFrame:
    """Clustered, stratified rows whose calibration cells repeat (a few patterns, many rows)."""
    rng = np.random.default_rng(seed)
    psus = 600
    psu = rng.integers(0, psus, ROWS)
    stratum = psu % 3
    cell = psu % 7  # constant within a PSU: the calibration unit nests in it
    return pd.DataFrame(
        {
            "psu": psu,
            "stratum": stratum,
            "w": 10.0 + stratum,
            "cell": cell,
            "region": pd.Series(np.array(["north", "south", "east", "west"])[(psu // 2) % 4], dtype=object),
            "tier": pd.Categorical(np.where(psu % 2 == 0, "single", "multi"), categories=["single", "multi"]),
            "score": np.where(rng.random(ROWS) < 0.05, np.nan, rng.normal(3.0, 1.0, ROWS)),
            "x": rng.normal(size=ROWS),
        }
    )


def test_design_model_matrix_is_model_matrix_of_the_rows():
    data = _survey()
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    terms = ["tier", "region", "x", "tier:region"]
    # Rows without one region: R drops its column, and so must the coded path.
    rows = np.flatnonzero(data["region"].ne("west").to_numpy())
    for chosen in (np.arange(ROWS), rows):
        coded = design_model_matrix(design, chosen, terms, intercept=True)
        plain = model_matrix(data.iloc[chosen].reset_index(drop=True), terms, intercept=True)
        assert coded.names == plain.names
        assert coded.assign == plain.assign
        np.testing.assert_array_equal(coded.x, plain.x)


def _calibrated(collapse: bool, monkeypatch) -> tuple:
    if not collapse:
        monkeypatch.setattr(patterns_module, "COLLAPSE_MIN_ROWS", 10**9)
    data = _survey()
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    x = np.column_stack(
        [np.ones(ROWS), (data["cell"] == 1).to_numpy(float), (data["cell"] == 2).to_numpy(float)]
    )
    totals = np.array([40_000.0, 6_000.0, 5_500.0])
    calibrated, _ = calibrate(design, x, totals, calfun="raking", epsilon=1e-12, df_adjust="leverage")
    return calibrated, svymean(calibrated, "score"), svyglm(calibrated, "score", ["tier", "region"])


def test_calibration_on_patterns_gives_the_weights_and_variances_of_the_rows(monkeypatch):
    collapsed, mean, fit = _calibrated(True, monkeypatch)
    assert patterns_module.row_patterns(np.column_stack([_survey()["cell"].to_numpy(float)])) is not None
    plain, plain_mean, plain_fit = _calibrated(False, monkeypatch)
    np.testing.assert_allclose(collapsed.weights, plain.weights, rtol=1e-12)
    assert mean.estimate == pytest.approx(plain_mean.estimate, rel=1e-12)
    assert mean.se == pytest.approx(plain_mean.se, rel=1e-9)
    np.testing.assert_allclose(fit.vcov.to_numpy(), plain_fit.vcov.to_numpy(), rtol=1e-9, atol=1e-15)


def test_calibration_factors_with_replicate_weights_on_patterns(monkeypatch):
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(ROWS), rng.integers(0, 2, ROWS), rng.integers(0, 2, ROWS)]).astype(float)
    weights = rng.uniform(1.0, 3.0, ROWS)
    totals = np.array([7_000.0, 3_600.0, 3_300.0])
    found = patterns_module.row_patterns(x)
    assert found is not None and found[0].shape[0] == 4
    g, _ = calibration_factors(x, weights, totals, calfun="raking", epsilon=1e-12, patterns=found)
    monkeypatch.setattr(patterns_module, "COLLAPSE_MIN_ROWS", 10**9)
    g_rows, _ = calibration_factors(x, weights, totals, calfun="raking", epsilon=1e-12)
    np.testing.assert_allclose(g, g_rows, rtol=1e-12)
    np.testing.assert_allclose(x.T @ (weights * g), totals, rtol=1e-11)


def test_a_variance_plan_does_not_keep_its_design_alive():
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(_survey())
    assert variance_plan(design) is not None
    alive = weakref.ref(design)
    del design
    gc.collect()
    assert alive() is None


def test_with_data_shares_the_plan_and_gives_the_same_variance():
    data = _survey()
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    other = design.with_data(data.assign(score2=data["score"] * 2))
    assert variance_plan(other) is variance_plan(design)
    assert svymean(other, "score2").se == pytest.approx(2 * svymean(design, "score").se, rel=1e-12)
    with pytest.raises(ValueError):
        design.with_data(data.iloc[:10])
