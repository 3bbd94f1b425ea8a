"""Calibration and replicate weights against R's survey package (fixtures/r_calibration.json).

The JSON is written by ``r/make_calibration_fixtures.R``; R is not needed here. Weights, estimates and
SEs agree within ``rtol=1e-6`` for postStratify, rake, calibrate (linear, raking, bounded linear and
logit, trimmed raking, a joint type x region margin), LSP-level calibration of the partner design,
JKn (plain and recalibrated per replicate) and the bootstrap on R's own replicate factors. The seeded
bootstrap of this engine cannot draw R's replicates: its SE with 4000 replicates is compared with
R's 4000-replicate SE at 5%.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, svymean
from pipeline.survey.calibration import (
    CalibrationError,
    calibrate,
    calibration_factors,
    margin_matrix,
    post_stratify,
    rake,
)
from pipeline.survey.replicate import bootstrap, given, jackknife, replicate_mean

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RTOL = 1e-6
Y = ("item_bin", "item_ord", "score")


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "r_calibration.json").read_text())


def cases(kind: str) -> list[dict]:
    return [c for c in reference()["cases"] if c["kind"] == kind]


def case_id(case: dict) -> str:
    return "-".join(str(case.get(k)) for k in ("design", "calibration", "y", "domain") if k in case)


@cache
def population() -> pd.DataFrame:
    cells = pd.DataFrame(reference()["population"])
    return cells.loc[cells.index.repeat(cells["count"].astype(int))].reset_index(drop=True)


@cache
def coordinators() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "coordinators.csv")


@cache
def partners() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "partners.csv").sort_values(["lsp_id", "respondent_id"], kind="stable")


MAIN = [["authority_type"], ["region"]]
JOINT = [["authority_type", "region"]]


def _counts(column: str) -> dict[str, float]:
    return population()[column].value_counts().astype(float).to_dict()


def coordinator_design(name: str):
    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators())
    data = design.data
    if name == "none":
        return design
    if name == "post_stratify":
        return post_stratify(design, "region", _counts("region"))[0]
    if name == "rake":
        return rake(design, ["authority_type", "region"], [_counts("authority_type"), _counts("region")])[0]
    margins = JOINT if name.startswith("joint") else MAIN
    x, totals, _ = margin_matrix(data, population(), margins)
    options = {
        "linear": {},
        "raking": {"calfun": "raking"},
        "linear_bounded": {"bounds": (0.96, 1.075)},
        "logit_bounded": {"calfun": "logit", "bounds": (0.96, 1.075)},
        "raking_bounded": {"calfun": "raking", "bounds": (0.967, 1.082)},
        "raking_trimmed": {"calfun": "raking", "trim": (0.97, 1.08)},
        "joint_linear": {},
        "joint_raking": {"calfun": "raking"},
    }[name]
    return calibrate(design, x, totals, **options)[0]


def partner_design(name: str):
    design = SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type").prepare(
        partners().reset_index(drop=True)
    )
    if name == "none":
        return design
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    calfun = "raking" if name == "raking" else "linear"
    return calibrate(design, x, totals, calfun=calfun, unit="lsp_id")[0]


def _domain(design, case):
    return None if case["domain"] is None else (design.data["tier"] == case["domain"]).to_numpy()


def test_fixture_csvs_are_the_ones_r_saw():
    for name, digest in reference()["csv_md5"].items():
        assert hashlib.md5((FIXTURES / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("case", [c for c in cases("weights") if c["design"] == "coord_strat"], ids=case_id)
def test_coordinator_calibrated_weights_match_r(case):
    np.testing.assert_allclose(coordinator_design(case["calibration"]).weights, case["weights"], rtol=RTOL)


@pytest.mark.parametrize("case", [c for c in cases("mean") if c["design"] == "coord_strat"], ids=case_id)
def test_coordinator_calibrated_means_and_ses_match_r(case):
    design = coordinator_design(case["calibration"])
    est = svymean(design, case["y"], domain=_domain(design, case))
    np.testing.assert_allclose([est.estimate, est.se], [case["estimate"], case["se"]], rtol=RTOL)


@pytest.mark.parametrize(
    "case",
    [c for c in cases("weights") if c["design"] == "partner_lsp"],
    ids=case_id,
)
def test_partner_lsp_level_weights_match_r(case):
    design = partner_design(case["calibration"])
    by_lsp = pd.Series(design.weights, index=design.data["lsp_id"]).groupby(level=0).first()
    np.testing.assert_allclose(by_lsp.loc[case["lsp_id"]].to_numpy(), case["weights"], rtol=RTOL)


@pytest.mark.parametrize(
    "case",
    [c for c in cases("mean") if c["design"] == "partner_lsp"],
    ids=case_id,
)
def test_partner_means_match_r_ratio_of_lsp_totals(case):
    design = partner_design(case["calibration"])
    est = svymean(design, case["y"], domain=_domain(design, case))
    np.testing.assert_allclose([est.estimate, est.se], [case["estimate"], case["se"]], rtol=RTOL)


def _replicates(name: str):
    design = coordinator_design("none")
    if name == "bootstrap50":
        factors = next(iter(cases("bootstrap_factors")))
        return given(design, np.column_stack(factors["factors"]), factors["scale"], factors["rscales"])
    reps = jackknife(design, "JKn")
    if name == "jkn":
        return reps
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    calfun = "raking" if name == "jkn_raking" else "linear"
    full = coordinator_design("raking" if calfun == "raking" else "linear").weights
    return reps.recalibrated(lambda w: calibration_factors(x, w, totals, calfun=calfun)[0], full)


@pytest.mark.parametrize("case", cases("replicate_mean"), ids=case_id)
def test_replicate_means_and_ses_match_r(case):
    reps = _replicates(case["calibration"])
    design = coordinator_design("none")
    est = replicate_mean(reps, design.data[case["y"]].to_numpy(float), _domain(design, case))
    np.testing.assert_allclose([est.estimate, est.se], [case["estimate"], case["se"]], rtol=RTOL)


@pytest.mark.parametrize("case", cases("bootstrap_mc_se"), ids=lambda c: c["y"])
def test_seeded_bootstrap_se_is_rs_within_monte_carlo_error(case):
    design = coordinator_design("none")
    reps = bootstrap(design, replicates=case["replicates"], seed=1)
    est = replicate_mean(reps, design.data[case["y"]].to_numpy(float))
    # With 4000 replicates each SE has a Monte Carlo error near 1/sqrt(2 * 4000) = 1.1%.
    assert est.se == pytest.approx(case["se"], rel=0.05)


def test_every_calibration_is_covered_by_the_fixture():
    names = {c["calibration"] for c in cases("mean")}
    assert {"post_stratify", "rake", "linear", "raking", "linear_bounded", "logit_bounded"} <= names
    assert {"jkn", "jkn_linear", "jkn_raking", "bootstrap50"} <= {
        c["calibration"] for c in cases("replicate_mean")
    }


def test_bounds_and_trimming_in_the_fixture_bind():
    # Otherwise the bounded and trimmed cases would test nothing beyond unbounded calibration.
    design = coordinator_design("none")
    for name, (low, high) in {"linear_bounded": (0.96, 1.075), "raking_bounded": (0.967, 1.082)}.items():
        g = coordinator_design(name).weights / design.weights
        assert np.sum(np.isclose(g, low) | np.isclose(g, high)) >= 10, name
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    assert calibrate(design, x, totals, calfun="raking", trim=(0.97, 1.08))[1].trimmed > 0


def test_calibration_changes_the_se_not_just_the_weights():
    # Post-stratifying on region must reduce the SE of a variable related to region below what the
    # same weights would give without the calibration's residuals.
    cal = coordinator_design("linear")
    plain = SurveyDesign(strata="authority_type", fpc="N_h", weights="weight").prepare(
        coordinators().assign(weight=cal.weights)
    )
    assert svymean(cal, "score").estimate == pytest.approx(svymean(plain, "score").estimate, rel=1e-12)
    assert svymean(cal, "score").se != pytest.approx(svymean(plain, "score").se, rel=1e-3)


@pytest.mark.parametrize("calfun", ["linear", "raking"])
def test_the_df_adjustment_scales_rs_variance_by_units_less_strata_over_units_less_constraints(calfun):
    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators())
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    as_r = calibrate(design, x, totals, calfun=calfun)[0]
    adjusted = calibrate(design, x, totals, calfun=calfun, df_adjust=True)[0]
    np.testing.assert_array_equal(adjusted.weights, as_r.weights)
    m = design.n
    strata = coordinators()["authority_type"].nunique()
    indicators = pd.get_dummies(coordinators()["authority_type"]).to_numpy(float)
    rank = np.linalg.matrix_rank(np.hstack([x, indicators]))
    # authority type and region margins: the type indicators are in x, so r = rank(x) > H.
    assert rank == np.linalg.matrix_rank(x) and rank > strata
    factor = (m - strata) / (m - rank)
    for y in Y:
        assert svymean(adjusted, y).estimate == svymean(as_r, y).estimate
        assert svymean(adjusted, y).se ** 2 == pytest.approx(factor * svymean(as_r, y).se ** 2, rel=1e-12)


def test_the_df_adjustment_at_lsp_level_counts_lsps_not_partners():
    design = SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type").prepare(
        partners().reset_index(drop=True)
    )
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    as_r = calibrate(design, x, totals, unit="lsp_id")[0]
    adjusted = calibrate(design, x, totals, unit="lsp_id", df_adjust=True)[0]
    lsps = design.data.drop_duplicates("lsp_id")
    ux = x[lsps.index.to_numpy()]
    m, strata = len(lsps), lsps["authority_type"].nunique()
    factor = (m - strata) / (m - np.linalg.matrix_rank(ux))
    for y in ("item_bin", "item_ord"):
        assert svymean(adjusted, y).se ** 2 == pytest.approx(factor * svymean(as_r, y).se ** 2, rel=1e-12)


def test_the_df_adjustment_refuses_more_constraints_than_units():
    # One coordinator per joint cell: 15 units, 15 constraints, nothing left to estimate a variance from.
    few = coordinators().groupby(["authority_type", "region"]).head(1).reset_index(drop=True)
    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(few)
    x, totals, _ = margin_matrix(design.data, population(), JOINT)
    with pytest.raises(CalibrationError):
        calibrate(design, x, totals, df_adjust=True)


def test_the_unit_fpc_is_the_strata_fpc_under_the_design_weights_and_one_minus_one_over_w_after():
    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators())
    # Calibrating to the strata counts alone leaves the weights N_h/n_h: the two corrections agree.
    strata_only, totals, _ = margin_matrix(design.data, population(), [["authority_type"]])
    same = calibrate(design, strata_only, totals, unit_fpc=True)[0]
    as_r = calibrate(design, strata_only, totals)[0]
    for y in Y:
        assert svymean(same, y).se == pytest.approx(svymean(as_r, y).se, rel=1e-10)
    # After calibration to type and region, each unit's correction is 1 - 1/w: the variance is the
    # stratified one of the residualised influence values scaled by sqrt((1 - 1/w) / (1 - n_h/N_h)).
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    calibrated = calibrate(design, x, totals)[0]
    own = calibrate(design, x, totals, unit_fpc=True)[0]
    data = coordinators()
    n_h = data.groupby("authority_type")["authority_type"].transform("size").to_numpy(float)
    scale = np.sqrt((1 - 1 / calibrated.weights) / (1 - n_h / data["N_h"].to_numpy(float)))
    for y in ("score",):  # complete, so the influence values are simple to write out
        values = data[y].to_numpy(float)
        influence = calibrated.weights * (values - svymean(calibrated, y).estimate) / calibrated.weights.sum()
        residual = calibrated.calibrated_influence(influence[:, None])[:, 0] * scale
        frame = pd.DataFrame({"h": data["authority_type"], "z": residual, "N": data["N_h"]})
        expected = sum(
            (1 - len(g) / g["N"].iloc[0]) * len(g) / (len(g) - 1) * ((g["z"] - g["z"].mean()) ** 2).sum()
            for _, g in frame.groupby("h")
        )
        assert svymean(own, y).se ** 2 == pytest.approx(expected, rel=1e-10)
        assert svymean(own, y).se != pytest.approx(svymean(calibrated, y).se, rel=1e-3)


def test_the_unit_fpc_leaves_a_design_without_an_fpc_alone():
    design = SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type").prepare(
        partners().reset_index(drop=True)
    )
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    as_r = calibrate(design, x, totals, unit="lsp_id")[0]
    own = calibrate(design, x, totals, unit="lsp_id", unit_fpc=True)[0]
    assert svymean(own, "item_bin").se == svymean(as_r, "item_bin").se


def test_calibrated_weights_meet_the_margins():
    cal = coordinator_design("joint_raking")
    totals = (
        pd.Series(cal.weights).groupby([coordinators()["authority_type"], coordinators()["region"]]).sum()
    )
    expected = population().groupby(["authority_type", "region"]).size()
    np.testing.assert_allclose(totals.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-6)


def test_empty_population_cell_is_a_clear_error():
    design = coordinator_design("none")
    frame = pd.concat(
        [population(), pd.DataFrame({"authority_type": ["county"], "region": ["east"], "count": [1]})]
    )
    with pytest.raises(CalibrationError, match="has no respondent"):
        margin_matrix(design.data, frame, [["region"]])


def test_infeasible_bounds_fail_loudly():
    design = coordinator_design("none")
    x, totals, _ = margin_matrix(design.data, population(), JOINT)
    with pytest.raises(CalibrationError, match="did not converge"):
        calibrate(design, x, totals, calfun="logit", bounds=(0.99, 1.01))


def test_bootstrap_is_reproducible_by_seed():
    design = coordinator_design("none")
    a = bootstrap(design, replicates=20, seed=7).replicates
    assert np.array_equal(a, bootstrap(design, replicates=20, seed=7).replicates)
    assert not np.array_equal(a, bootstrap(design, replicates=20, seed=8).replicates)


def test_bootstrap_counts_draws_and_reuse_recalibrates_in_place_to_the_same_numbers():
    """The memory-saving paths (float32 draw counts, replicates expanded by row blocks, recalibration over
    the replicates' own array, replicate means by column blocks) give the straightforward computation's
    numbers exactly."""
    from pipeline.survey import replicate

    design = coordinator_design("none")
    reps = bootstrap(design, replicates=70, seed=7)  # more than one block of replicate_mean's columns
    counts = reps.replicates / design.weights[:, None]
    assert np.array_equal(counts, np.round(counts))  # whole numbers of draws per PSU
    x, totals, _ = margin_matrix(design.data, population(), MAIN)
    full = coordinator_design("linear").weights

    def g(w):
        return calibration_factors(x, w, totals, calfun="linear")[0]

    expected = np.column_stack([reps.replicates[:, r] * g(reps.replicates[:, r]) for r in range(70)])
    fresh = reps.recalibrated(g, full)
    assert np.array_equal(fresh.replicates, expected)
    reused = bootstrap(design, replicates=70, seed=7).recalibrated(g, full, reuse=True)
    assert np.array_equal(reused.replicates, expected)
    y = design.data["item_bin"].to_numpy(float)
    present = ~np.isnan(y)
    rw = np.where(present[:, None], expected, 0.0)
    thetas = (rw * np.where(present, y, 0.0)[:, None]).sum(axis=0) / rw.sum(axis=0)
    assert replicate.REPLICATE_BLOCK < 70
    assert replicate_mean(reused, y).se == float(np.sqrt(reused.variance(thetas)[0, 0]))


def _coordinators_twice():
    """Two copies of the coordinators in one design, each with the coordinator design's own weights: the
    first copy's rows are the coordinator design's units, as a design of both instruments holds them."""
    alone = SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators())
    both = pd.concat([coordinators().assign(w=alone.weights)] * 2, ignore_index=True)
    first = np.arange(len(both)) < len(coordinators())
    return alone, SurveyDesign(weights="w", strata="authority_type").prepare(both), first


def test_x_of_the_calibrated_rows_alone_is_x_over_every_row():
    _, both, first = _coordinators_twice()
    x, totals, _ = margin_matrix(coordinators(), population(), MAIN)
    everywhere = np.zeros((both.n, x.shape[1]))
    everywhere[first] = x
    from_rows = calibrate(both, x, totals, calfun="raking", rows=first, df_adjust="leverage")[0]
    from_all = calibrate(both, everywhere, totals, calfun="raking", rows=first, df_adjust="leverage")[0]
    np.testing.assert_array_equal(from_rows.weights, from_all.weights)
    for y in Y:
        assert svymean(from_rows, y).se == svymean(from_all, y).se
    with pytest.raises(CalibrationError, match="x has"):
        calibrate(both, x[:-1], totals, rows=first)


def test_the_same_units_calibrated_again_reuse_the_solution_while_a_design_holds_its_basis(monkeypatch):
    """The all-respondents design calibrates each instrument's units with that instrument's weights: its
    calibration is the instrument design's solution (the same numbers as solving again, one shared basis),
    and the table of solutions never keeps a basis alive by itself."""
    import gc

    from pipeline.survey import calibration

    monkeypatch.setattr(calibration, "_SOLVED", {})
    alone, both, first = _coordinators_twice()
    x, totals, _ = margin_matrix(coordinators(), population(), MAIN)
    options = {"calfun": "raking", "df_adjust": "leverage", "unit_fpc": True}
    instrument = calibrate(alone, x, totals, **options)[0]
    shared = calibrate(both, x, totals, rows=first, **options)[0]
    assert np.shares_memory(instrument.calibrations[-1].basis, shared.calibrations[-1].basis)
    monkeypatch.setattr(calibration, "_SOLVED", {})
    solved_again = calibrate(both, x, totals, rows=first, **options)[0]
    assert not np.shares_memory(solved_again.calibrations[-1].basis, shared.calibrations[-1].basis)
    np.testing.assert_array_equal(shared.weights, solved_again.weights)
    for name in ("basis", "scale", "unit_scale"):
        np.testing.assert_array_equal(
            getattr(shared.calibrations[-1], name), getattr(solved_again.calibrations[-1], name)
        )
    for y in Y:
        assert svymean(shared, y).se == svymean(solved_again, y).se
    # The weighting changed the weights, so a calibration of the first copy with them is a new solve.
    again = calibrate(shared, x, totals, rows=first, **options)[0]
    assert not np.shares_memory(again.calibrations[-1].basis, shared.calibrations[-1].basis)
    kept = list(calibration._SOLVED.values())
    del instrument, shared, solved_again, again
    gc.collect()
    assert kept and all(basis() is None for basis, _ in kept)
