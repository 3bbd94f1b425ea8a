"""Calibration on continuous totals against R's survey package (fixtures/r_calibration_numeric.json).

The JSON is written by ``r/make_numeric_calibration_fixtures.R``; R is not needed here. A numeric column
in a margin of `margin_matrix` calibrates its total within the margin's cells: ``[authority_type,
imd_score]`` is R's ``~authority_type * imd_score``, ``[imd_score]`` R's ``~imd_score``. Weights,
estimates and SEs agree within ``rtol=1e-6`` for linear, raking and logit (bounded) calibration of the
coordinator design (one stage, stratified, fpc), LSP-level calibration of the partner design (R: the
one-row-per-LSP design, partner means as ``svyratio``), and row-level calibration of the two-stage
partner design.
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
from pipeline.survey.calibration import CalibrationError, calibrate, margin_matrix

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RTOL = 1e-6
NUMERIC = {"imd_score"}
WITHIN = [["authority_type", "imd_score"], ["region"]]
OVERALL = [["authority_type"], ["region"], ["imd_score"]]


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "r_calibration_numeric.json").read_text())


def cases(kind: str, design: str) -> list[dict]:
    return [c for c in reference()["cases"] if c["kind"] == kind and c["design"] == design]


def case_id(case: dict) -> str:
    return "-".join(str(case.get(k)) for k in ("calibration", "y", "domain") if k in case)


@cache
def scores() -> pd.Series:
    return pd.read_csv(FIXTURES / "lsp_scores.csv", dtype={"lsp_id": str}).set_index("lsp_id")["imd_score"]


@cache
def population() -> pd.DataFrame:
    """One row per frame LSP; each carries its type's mean score, so the type totals are R's."""
    cells = pd.DataFrame(reference()["population"])
    return cells.loc[cells.index.repeat(cells["count"].astype(int))].reset_index(drop=True)


def _options(name: str) -> dict:
    calfun = name.split("_")[-1]
    if calfun == "logit":
        return {"calfun": "logit", "bounds": tuple(reference()["bounds"])}
    return {"calfun": calfun}


@cache
def coordinator_design(name: str):
    data = pd.read_csv(FIXTURES / "coordinators.csv")
    data["imd_score"] = data["lsp_id"].map(scores())
    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(data)
    margins = OVERALL if name.startswith("overall") else WITHIN
    x, totals, _ = margin_matrix(design.data, population(), margins, numeric=NUMERIC)
    return calibrate(design, x, totals, **_options(name))[0]


def _partners() -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / "partners.csv").sort_values(["lsp_id", "respondent_id"], kind="stable")
    return data.assign(imd_score=data["lsp_id"].map(scores())).reset_index(drop=True)


@cache
def partner_lsp_design(name: str):
    design = SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type").prepare(_partners())
    x, totals, _ = margin_matrix(design.data, population(), WITHIN, numeric=NUMERIC)
    return calibrate(design, x, totals, unit="lsp_id", **_options(name))[0]


@cache
def two_stage_design(name: str):
    design = SurveyDesign(
        weights="w",
        cluster="lsp_id",
        subcluster="respondent_id",
        strata="authority_type",
        fpc="N_h",
        lonely_psu="adjust",
    ).prepare(_partners())
    # R's ~authority_type * imd_score as indicator and score-within-type columns (the same column space).
    x, _, labels = margin_matrix(
        design.data, population(), [["authority_type", "imd_score"]], numeric=NUMERIC
    )
    r_totals = dict(zip(*reference()["partner_totals"].values(), strict=True))
    types = sorted(design.data["authority_type"].unique())
    counts = [r_totals["(Intercept)"] - sum(r_totals[f"authority_type{t}"] for t in types[1:])]
    counts += [r_totals[f"authority_type{t}"] for t in types[1:]]
    score = [r_totals["imd_score"] - sum(r_totals[f"authority_type{t}:imd_score"] for t in types[1:])]
    score += [r_totals[f"authority_type{t}:imd_score"] for t in types[1:]]
    assert labels[: len(types)] == [f"authority_type={t}" for t in types]
    return calibrate(design, x, np.array(counts + score), **_options(name))[0]


def _domain(design, case):
    return None if case["domain"] is None else (design.data["tier"] == case["domain"]).to_numpy()


def test_fixture_csvs_are_the_ones_r_saw():
    for name, digest in reference()["csv_md5"].items():
        assert hashlib.md5((FIXTURES / name).read_bytes()).hexdigest() == digest, name


def test_numeric_margin_columns_are_totals_within_cells():
    data = pd.DataFrame({"t": ["a", "a", "b"], "s": [1.0, 2.0, 5.0]})
    frame = pd.DataFrame({"t": ["a", "a", "b", "b"], "s": [1.0, 3.0, 4.0, 6.0]})
    x, totals, labels = margin_matrix(data, frame, [["t", "s"], ["s"]], numeric={"s"})
    assert labels == ["t=a", "t=b", "t:s=a", "t:s=b", "all=all", "s"]
    np.testing.assert_array_equal(totals, [2, 2, 4, 10, 4, 14])
    np.testing.assert_array_equal(x[:, 2:4], [[1, 0], [2, 0], [0, 5]])
    with pytest.raises(CalibrationError, match="missing or non-numeric"):
        margin_matrix(data.assign(s=[1.0, np.nan, 2.0]), frame, [["s"]], numeric={"s"})


@pytest.mark.parametrize("case", cases("weights", "coord_strat"), ids=case_id)
def test_coordinator_weights_match_r(case):
    design = coordinator_design(case["calibration"])
    np.testing.assert_array_equal(design.data["lsp_id"], case["lsp_id"])
    np.testing.assert_allclose(design.weights, case["weights"], rtol=RTOL)


@pytest.mark.parametrize("case", cases("mean", "coord_strat"), ids=case_id)
def test_coordinator_means_and_ses_match_r(case):
    design = coordinator_design(case["calibration"])
    est = svymean(design, case["y"], domain=_domain(design, case))
    np.testing.assert_allclose([est.estimate, est.se], [case["estimate"], case["se"]], rtol=RTOL)


@pytest.mark.parametrize("case", cases("weights", "partner_lsp"), ids=case_id)
def test_partner_lsp_level_weights_match_r(case):
    design = partner_lsp_design(case["calibration"])
    by_lsp = pd.Series(design.weights, index=design.data["lsp_id"]).groupby(level=0).first()
    np.testing.assert_allclose(by_lsp.loc[case["lsp_id"]].to_numpy(), case["weights"], rtol=RTOL)


@pytest.mark.parametrize("case", cases("mean", "partner_lsp"), ids=case_id)
def test_partner_means_match_r_ratio_of_lsp_totals(case):
    design = partner_lsp_design(case["calibration"])
    est = svymean(design, case["y"], domain=_domain(design, case))
    np.testing.assert_allclose([est.estimate, est.se], [case["estimate"], case["se"]], rtol=RTOL)


@pytest.mark.parametrize("case", cases("weights", "part_2stage"), ids=case_id)
def test_two_stage_partner_row_weights_match_r(case):
    design = two_stage_design(case["calibration"])
    by_row = pd.Series(design.weights, index=design.data["respondent_id"])
    np.testing.assert_allclose(by_row.loc[case["respondent_id"]].to_numpy(), case["weights"], rtol=RTOL)


@pytest.mark.parametrize("case", cases("mean", "part_2stage"), ids=case_id)
def test_two_stage_partner_means_and_ses_match_r(case):
    design = two_stage_design(case["calibration"])
    est = svymean(design, case["y"], domain=_domain(design, case))
    np.testing.assert_allclose([est.estimate, est.se], [case["estimate"], case["se"]], rtol=RTOL)


def test_logit_bounds_bind_and_hold():
    # Otherwise the logit cases would test nothing beyond unbounded calibration.
    low, high = reference()["bounds"]
    data = pd.read_csv(FIXTURES / "coordinators.csv")
    g = (
        coordinator_design("within_logit").weights
        / SurveyDesign(strata="authority_type", fpc="N_h").prepare(data).weights
    )
    assert low < g.min() and g.max() < high
    assert g.min() < 0.8 or g.max() > 1.3


def test_leverage_correction_is_none_when_calibrating_to_the_strata_alone():
    # Each unit's leverage on its stratum's count is 1/n_h: the factor is 1, the variance R's.
    data = pd.read_csv(FIXTURES / "coordinators.csv")
    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(data)
    x, totals, _ = margin_matrix(design.data, population(), [["authority_type"]])
    plain = calibrate(design, x, totals)[0]
    leverage = calibrate(design, x, totals, df_adjust="leverage")[0]
    a, b = svymean(plain, "score"), svymean(leverage, "score")
    assert a.se == pytest.approx(b.se, rel=1e-12)


def test_leverage_correction_averages_near_the_uniform_factor_and_weights_high_leverage_units():
    data = pd.read_csv(FIXTURES / "coordinators.csv")
    data["imd_score"] = data["lsp_id"].map(scores())
    base = SurveyDesign(strata="authority_type", fpc="N_h").prepare(data)
    x, totals, _ = margin_matrix(base.data, population(), WITHIN, numeric=NUMERIC)
    plain = svymean(calibrate(base, x, totals)[0], "score").se
    uniform = svymean(calibrate(base, x, totals, df_adjust=True)[0], "score").se
    leverage = svymean(calibrate(base, x, totals, df_adjust="leverage")[0], "score").se
    assert plain < leverage
    # Not the uniform factor, but of its size: both correct for the same constraints.
    assert leverage / plain == pytest.approx(uniform / plain, rel=0.05)
    assert leverage != pytest.approx(uniform, rel=1e-6)
