"""Models of a large survey fitted on their covariate patterns, with the variance from PSU sums of the
residuals (pipeline/survey/collapsed.py), give the numbers of the plain fits on every row."""

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign
from pipeline.survey.calibration import calibrate
from pipeline.survey.collapsed import design_patterns
from pipeline.survey.glm import joint_covariance, svyglm
from pipeline.survey.olr import svyolr

ROWS = 3_000  # above patterns.COLLAPSE_MIN_ROWS and domains.MIN_ROWS
TERMS = ["tier", "region", "x", "tier:region"]


def _survey(seed: int = 11) -> pd.DataFrame:
    """Respondents clustered in 700 areas; the covariates are the area's (one pattern per PSU)."""
    rng = np.random.default_rng(seed)
    areas = 700
    psu = rng.integers(0, areas, ROWS)
    area_x = np.round(rng.normal(size=areas), 1)  # a numeric covariate with repeated values
    score = 3.0 + 0.3 * (psu % 2) - 0.2 * area_x[psu] + rng.normal(0.0, 1.0, ROWS)
    return pd.DataFrame(
        {
            "psu": psu,
            "respondent": np.arange(ROWS),
            "stratum": psu % 3,
            "population": np.array([900.0, 950.0, 1000.0])[psu % 3],
            "w": 10.0 + psu % 3,
            "cell": psu % 7,
            "region": pd.Series(np.array(["north", "south", "east", "west"])[(psu // 2) % 4], dtype=object),
            "tier": pd.Categorical(np.where(psu % 2 == 0, "single", "multi"), categories=["single", "multi"]),
            "x": area_x[psu],
            "score": np.where(rng.random(ROWS) < 0.05, np.nan, score),
            "agree": np.where(rng.random(ROWS) < 0.05, np.nan, (score > 3.1).astype(float)),
            "level": np.clip(np.round(score), 1, 5),
        }
    )


DESIGNS = {
    "one row per PSU": SurveyDesign(weights="w", strata="stratum"),
    "clustered": SurveyDesign(weights="w", cluster="psu", strata="stratum"),
    "unweighted, clustered": SurveyDesign(cluster="psu"),
    "two stages with fpc": SurveyDesign(
        weights="w",
        cluster="psu",
        subcluster="respondent",
        strata="stratum",
        fpc="population",
        lonely_psu="adjust",
    ),
}


def _prepared(name: str, calibrated: bool):
    data = _survey()
    design = DESIGNS[name].prepare(data)
    if not calibrated:
        return design
    x = np.column_stack(
        [np.ones(ROWS), (data["cell"] == 1).to_numpy(float), (data["cell"] == 2).to_numpy(float)]
    )
    scale = 1.0 if DESIGNS[name].weights else 10.0
    totals = np.array([40_000.0, 6_000.0, 5_500.0]) / scale
    # Calibrated at area level (each area once), as the study's partners are at LSP level.
    unit = None if DESIGNS[name].cluster is None else data["psu"].to_numpy()
    totals = totals if unit is None else totals / 4
    return calibrate(design, x, totals, calfun="raking", epsilon=1e-12, df_adjust="leverage", unit=unit)[0]


def _assert_same_fit(collapsed, plain) -> None:
    assert list(collapsed.coefficients.index) == list(plain.coefficients.index)
    np.testing.assert_allclose(collapsed.coefficients, plain.coefficients, rtol=1e-10, atol=1e-12)
    scale = np.abs(plain.vcov.to_numpy()).max()
    np.testing.assert_allclose(
        collapsed.vcov.to_numpy(), plain.vcov.to_numpy(), rtol=1e-9, atol=1e-12 * scale
    )
    assert collapsed.df_residual == plain.df_residual
    assert collapsed.n == plain.n


@pytest.mark.parametrize("name", list(DESIGNS))
@pytest.mark.parametrize("calibrated", [False, True])
@pytest.mark.parametrize(("family", "response"), [("gaussian", "score"), ("quasibinomial", "agree")])
@pytest.mark.parametrize("df_adjust", [False, True])
def test_svyglm_on_patterns_is_svyglm_on_rows(name, calibrated, family, response, df_adjust):
    design = _prepared(name, calibrated)
    plain = svyglm(design, response, TERMS, family=family, df_adjust=df_adjust)
    collapsed = svyglm(design, response, TERMS, family=family, df_adjust=df_adjust, influence=False)
    assert collapsed.influence is None and collapsed.collapsed is not None
    _assert_same_fit(collapsed, plain)
    np.testing.assert_allclose(collapsed.collapsed.dense(), plain.influence, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(DESIGNS))
@pytest.mark.parametrize("calibrated", [False, True])
@pytest.mark.parametrize("df_adjust", [False, True])
def test_svyolr_on_patterns_is_svyolr_on_rows(name, calibrated, df_adjust):
    design = _prepared(name, calibrated)
    terms = ["tier", "region", "x"]
    plain = svyolr(design, "level", terms, hessian="analytic", df_adjust=df_adjust)
    collapsed = svyolr(design, "level", terms, hessian="analytic", df_adjust=df_adjust, influence=False)
    assert collapsed.influence is None and collapsed.collapsed is not None
    _assert_same_fit(collapsed, plain)
    np.testing.assert_allclose(collapsed.zeta, plain.zeta, rtol=1e-10)
    np.testing.assert_allclose(collapsed.collapsed.dense(), plain.influence, rtol=1e-9, atol=1e-12)


def test_a_level_without_fitted_rows_drops_its_column_as_on_rows():
    data = _survey()
    # No respondent of the west answered: R drops the region's column, the pattern path too.
    data.loc[data["region"].eq("west"), "score"] = np.nan
    design = DESIGNS["clustered"].prepare(data)
    plain = svyglm(design, "score", TERMS)
    collapsed = svyglm(design, "score", TERMS, influence=False)
    assert not any("west" in name for name in collapsed.coefficients.index)
    _assert_same_fit(collapsed, plain)


def test_rows_of_two_patterns_in_one_psu_use_the_dense_variance():
    data = _survey()
    data["x"] = np.round(np.random.default_rng(2).normal(size=ROWS), 1)  # varies within a PSU
    design = DESIGNS["clustered"].prepare(data)
    assert design_patterns(design, ("tier", "region", "x")).psu_pattern is None
    plain = svyglm(design, "score", TERMS)
    collapsed = svyglm(design, "score", TERMS, influence=False)
    assert collapsed.collapsed is None and collapsed.influence is not None
    _assert_same_fit(collapsed, plain)


def test_rows_that_do_not_collapse_are_fitted_on_rows():
    data = _survey()
    data["x"] = np.random.default_rng(3).normal(size=ROWS)  # every row its own pattern
    design = DESIGNS["one row per PSU"].prepare(data)
    plain = svyglm(design, "score", TERMS)
    collapsed = svyglm(design, "score", TERMS, influence=False)
    assert collapsed.collapsed is None
    _assert_same_fit(collapsed, plain)


def test_a_small_design_is_fitted_exactly_as_before():
    data = _survey().iloc[:500].reset_index(drop=True)
    design = DESIGNS["clustered"].prepare(data)
    for fit in (svyglm, lambda *a, **k: svyolr(*a, hessian="analytic", **k)):
        response = "level" if fit is not svyglm else "score"
        plain, other = (
            fit(design, response, ["tier", "x"]),
            fit(design, response, ["tier", "x"], influence=False),
        )
        assert other.collapsed is None
        assert plain.coefficients.equals(other.coefficients) and plain.vcov.equals(other.vcov)


@pytest.mark.parametrize("calibrated", [False, True])
def test_joint_covariance_of_fits_on_patterns_is_that_of_their_stacked_rows(calibrated):
    data = _survey()
    rng = np.random.default_rng(5)
    data["score2"] = np.where(rng.random(ROWS) < 0.1, np.nan, data["score"] + rng.normal(size=ROWS))
    design = _prepared("clustered", calibrated).with_data(data)
    responses = ["score", "score2", "agree"]
    plain = [svyglm(design, r, TERMS, df_adjust=True) for r in responses]
    collapsed = [svyglm(design, r, TERMS, df_adjust=True, influence=False) for r in responses]
    columns = [1, 1, 2]
    stacked = np.column_stack([fit.influence[:, k] for fit, k in zip(plain, columns, strict=True)])
    expected = design.variance(stacked, np.any(stacked != 0, axis=1))
    np.testing.assert_allclose(joint_covariance(design, collapsed, columns), expected, rtol=1e-9)
    np.testing.assert_allclose(joint_covariance(design, plain, columns), expected, rtol=1e-12)


def test_a_nullable_integer_response_gives_the_levels_and_fit_of_the_plain_path():
    data = _survey()
    data["level"] = data["level"].astype("Int64").where(data["score"].notna())
    design = DESIGNS["clustered"].prepare(data)
    plain = svyolr(design, "level", ["tier", "x"], hessian="analytic")
    collapsed = svyolr(design, "level", ["tier", "x"], hessian="analytic", influence=False)
    assert list(collapsed.zeta.index) == list(plain.zeta.index) == ["1|2", "2|3", "3|4", "4|5"]
    _assert_same_fit(collapsed, plain)
