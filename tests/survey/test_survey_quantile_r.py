"""Design-based quantiles and their Woodruff intervals against R's ``svyquantile`` (survey 4.1-1).

The R values come from ``fixtures/r_quantiles.json`` (written by ``r/make_quantile_fixtures.R``); R is
not needed here. Every case uses svyquantile's defaults, which the fixture records from the installed
version (``interval.type = "mean"``, ``qrule = "math"``): quantiles, interval ends, SEs and df agree
within ``rtol=1e-6`` on the coordinators' stratified, unweighted and raked designs and the partners'
two-stage, with-replacement and clustered designs, whole and by tier.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, svyquantile
from pipeline.survey.calibration import calibrate, margin_matrix
from pipeline.survey.quantile import weighted_quantile_math

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RTOL = 1e-6


@cache
def reference() -> dict:
    return json.loads((FIXTURES / "r_quantiles.json").read_text())


def r_vector(values) -> np.ndarray:
    items = values if isinstance(values, list) else [values]
    return np.array([np.nan if v in ("NaN", "NA") else float(v) for v in items])


@cache
def coordinators() -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / "coordinators.csv")
    row = np.arange(1, len(data) + 1)
    return data.assign(spread=data["score"] * 1.7 + data["item_ord"] * 0.31 + (row % 11) / 23)


@cache
def partners() -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / "partners.csv")
    row = np.arange(1, len(data) + 1)
    return data.assign(spread=data["item_ord"] * 1.3 + (row % 17) / 29)


def _raking_population() -> pd.DataFrame:
    types = ["county", "london_borough", "metropolitan_district", "shire_district", "unitary"]
    counts = [9, 12, 13, 7, 12, 14, 8, 14, 14, 70, 80, 88, 12, 15, 20]
    cells = pd.DataFrame(
        {"authority_type": np.repeat(types, 3), "region": ["midlands", "north", "south"] * 5, "count": counts}
    )
    return cells.loc[cells.index.repeat(cells["count"])].reset_index(drop=True)


@cache
def design(key: str):
    """The designs make_quantile_fixtures.R declares, key for key."""
    if key.startswith("coord"):
        prepared = SurveyDesign(**({} if key == "coord_unw" else {"strata": "authority_type", "fpc": "N_h"}))
        prepared = prepared.prepare(coordinators())
        if key == "coord_raking":
            x, totals, _ = margin_matrix(
                prepared.data, _raking_population(), [["authority_type"], ["region"]]
            )
            prepared = calibrate(prepared, x, totals, calfun="raking")[0]
        return prepared
    declared = {
        "part_2stage": SurveyDesign(
            weights="w",
            cluster="lsp_id",
            subcluster="respondent_id",
            strata="authority_type",
            fpc="N_h",
            lonely_psu="adjust",
        ),
        "part_wr": SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type", lonely_psu="adjust"),
        "part_clus": SurveyDesign(
            weights="w", cluster="lsp_id", strata="authority_type", fpc="N_h", lonely_psu="adjust"
        ),
    }[key]
    return declared.prepare(partners())


def case_id(case: dict) -> str:
    return f"{case['design']}-{case['var']}-{case['domain']}"


def test_fixture_csvs_are_the_ones_r_saw():
    for name, digest in reference()["meta"]["csv_md5"].items():
        assert hashlib.md5((FIXTURES / name).read_bytes()).hexdigest() == digest, name


def test_the_fixture_used_the_installed_versions_defaults_that_the_engine_implements():
    meta = reference()["meta"]
    assert (meta["interval_type_default"], meta["qrule_default"]) == ("mean", "math")
    assert meta["survey_version"].startswith("4.")


@pytest.mark.parametrize("case", reference()["cases"], ids=case_id)
def test_quantiles_intervals_ses_and_df_match_r(case):
    prepared = design(case["design"])
    domain = None if case["domain"] == "NA" else (prepared.data["tier"] == case["domain"]).to_numpy()
    ours = svyquantile(prepared, case["var"], case["p"], domain=domain)
    for quantity in ("quantile", "ci_low", "ci_high", "se"):
        np.testing.assert_allclose(
            [getattr(row, quantity) for row in ours],
            r_vector(case[quantity]),
            rtol=RTOL,
            equal_nan=True,
            err_msg=f"{case_id(case)}: {quantity}",
        )
    assert {row.df for row in ours} == {float(case["df"])}


def test_the_continuous_cases_fall_between_values_so_the_rule_is_exercised():
    spread = [c for c in reference()["cases"] if c["var"] == "spread"]
    distinct = {round(v, 9) for c in spread for v in r_vector(c["quantile"])}
    assert len(distinct) > 25


def test_the_quantile_rule_takes_the_lower_value_only_on_an_exact_share():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    weights = np.ones(4)
    assert weighted_quantile_math(values, weights, 0.5) == 2.0  # cumulative share 0.5 exactly
    assert weighted_quantile_math(values, weights, 0.51) == 3.0
    # R's quirk kept: at p = 0 no share is at most 0, survey:::last() gives position 1, and the share
    # there is not 0, so the rule takes the value above it.
    assert weighted_quantile_math(values, weights, 0.0) == 2.0
    # A zero weight is dropped first (kept, its zero share would make 1 the exact answer at p = 0).
    assert weighted_quantile_math(values, np.array([0.0, 1.0, 1.0, 1.0]), 0.0) == 3.0
