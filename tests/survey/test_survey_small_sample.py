"""Bell-McCaffrey degrees of freedom: the closed forms they reduce to, calibration's effect on them, and
the estimators' option (R's degrees of freedom stay the default, so the R fixtures are untouched)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, domain_difference
from pipeline.survey.batch import batch_differences, batch_means
from pipeline.survey.calibration import calibrate
from pipeline.survey.small_sample import bell_mccaffrey_df, mean_coefficients, variance_matrix


def _stratified(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = {"a": (8, 30), "b": (25, 60), "c": (40, 200)}
    rows = []
    for stratum, (n, population) in sizes.items():
        for i in range(n):
            rows.append({"h": stratum, "id": f"{stratum}{i}", "N": population, "x": rng.normal()})
    data = pd.DataFrame(rows)
    data["w"] = data["N"] / data.groupby("h")["id"].transform("count")
    data["y"] = (rng.random(len(data)) < 0.4).astype(float)
    return data


def test_simple_random_sample_has_n_minus_one():
    data = pd.DataFrame({"y": np.arange(12.0), "w": 1.0})
    design = SurveyDesign(weights="w").prepare(data)
    df = bell_mccaffrey_df(design, mean_coefficients(design, np.ones((12, 1), dtype=bool)))
    assert df[0] == pytest.approx(11.0, rel=1e-12)


def test_stratified_mean_has_satterthwaites_closed_form():
    data = _stratified()
    design = SurveyDesign(weights="w", strata="h", fpc="N").prepare(data)
    df = bell_mccaffrey_df(design, mean_coefficients(design, np.ones((len(data), 1), dtype=bool)))[0]
    # Equal unit variances: the stratum terms a_h = (N_h / N)^2 (1 - n_h / N_h) / n_h, each on n_h - 1 df.
    counts = data.groupby("h").agg(n=("id", "size"), N=("N", "first"))
    a = (counts["N"] / counts["N"].sum()) ** 2 * (1 - counts["n"] / counts["N"]) / counts["n"]
    assert df == pytest.approx(a.sum() ** 2 / (a**2 / (counts["n"] - 1)).sum(), rel=1e-10)
    assert df < len(data) - 3


def test_the_variance_matrix_reproduces_the_designs_variance():
    data = _stratified()
    design = SurveyDesign(weights="w", strata="h", fpc="N").prepare(data)
    x = np.column_stack([np.ones(len(data)), data["x"]])
    totals = np.array([290.0, 5.0])
    calibrated, _ = calibrate(design, x, totals, calfun="raking", df_adjust="leverage")
    influence = np.random.default_rng(1).normal(size=(len(data), 3))
    matrix = variance_matrix(calibrated)
    np.testing.assert_allclose(influence.T @ matrix @ influence, calibrated.variance(influence), rtol=1e-10)


def test_a_high_leverage_unit_lowers_the_degrees_of_freedom():
    data = _stratified()
    design = SurveyDesign(weights="w", strata="h", fpc="N").prepare(data)
    everyone = np.ones((len(data), 1), dtype=bool)
    plain = bell_mccaffrey_df(design, mean_coefficients(design, everyone))[0]
    # One LSP far out on the calibration variable nearly fits its total alone.
    x = np.column_stack([np.ones(len(data)), data["x"].where(data.index != 0, 25.0)])
    calibrated, _ = calibrate(design, x, np.array([290.0, 300.0]), calfun="linear", df_adjust="leverage")
    assert bell_mccaffrey_df(calibrated, mean_coefficients(calibrated, everyone))[0] < plain


def test_estimators_default_to_rs_degrees_of_freedom_and_agree_on_bell_mccaffrey():
    data = _stratified()
    design = SurveyDesign(weights="w", strata="h", fpc="N").prepare(data)
    group = data["h"].eq("a") | data.index.isin(range(40, 60))
    r_like = domain_difference(design, "y", group.to_numpy(), True, False)
    assert r_like.t_df == design.degf() - 1
    single = domain_difference(design, "y", group.to_numpy(), True, False, df="bell_mccaffrey")
    batch = batch_differences(
        design, data[["y"]].to_numpy(), group.to_numpy(), (~group).to_numpy(), df="bell_mccaffrey"
    )
    assert single.t_df == pytest.approx(batch.t_df[0], rel=1e-12) and single.t_df < r_like.t_df
    assert single.ci_low == pytest.approx(batch.ci_low[0], rel=1e-12)
    assert single.ci_high - single.ci_low > r_like.ci_high - r_like.ci_low  # a t quantile, not 1.96
    means = batch_means(design, data[["y"]].to_numpy(), df="bell_mccaffrey")
    assert means.df == design.degf() and 1 <= means.df_per_column[0] < design.degf()
    with pytest.raises(ValueError):
        batch_means(design, data[["y"]].to_numpy(), df="satterthwaite")
