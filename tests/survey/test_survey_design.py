"""The design record and its preparation: checks, derived weights, df and lonely-PSU rules."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import survey_r_cases as rc

from pipeline.survey import SurveyDesign, SurveyDesignError, svyciprop, svymean


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h": ["a", "a", "a", "b", "b", "b"],
            "psu": [1, 1, 2, 3, 4, 4],
            "N": [5, 5, 5, 2, 2, 2],
            "w": [2.5, 2.5, 2.5, 1.0, 1.0, 1.0],
            "y": [1.0, 0.0, 1.0, 0.0, 1.0, np.nan],
        }
    )


def test_design_record_is_frozen_and_serialisable():
    design = SurveyDesign(weights="w", cluster="psu", strata="h", fpc="N", label="test")
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.weights = "other"  # type: ignore[misc]
    record = json.loads(json.dumps(design.to_dict()))
    assert record["lonely_psu"] == "fail"
    assert record["df_rule"] == "degf"
    assert record["r_equivalent"] == (
        "svydesign(ids = ~psu, strata = ~h, fpc = ~N, weights = ~w, data = data)"
    )


def test_r_calls_of_the_lsp_designs():
    assert rc.DESIGNS["coord_strat"][1].r_call("d") == (
        "svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d)"
    )
    assert rc.DESIGNS["part_unw"][1].r_call("p") == "svydesign(ids = ~lsp_id, data = p)"


@pytest.mark.parametrize("kwargs", [{"lonely_psu": "drop"}, {"df_rule": "residual"}])
def test_unknown_rules_are_refused(kwargs):
    with pytest.raises(SurveyDesignError):
        SurveyDesign(**kwargs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="w"), "not in the data"),
        (lambda f: f.assign(h=[None, "a", "a", "b", "b", "b"]), "missing values"),
        (lambda f: f.assign(psu=[1, 1, 2, 2, 4, 4]), "not nested"),
        (lambda f: f.assign(N=[5, 6, 5, 2, 2, 2]), "varies within a stratum"),
        (lambda f: f.assign(N=[1, 1, 1, 2, 2, 2]), "at least the number of PSUs"),
        (lambda f: f.assign(w=[2.5, 0.0, 2.5, 1.0, 1.0, 1.0]), "positive and finite"),
    ],
)
def test_prepare_refuses_inconsistent_data(change, message):
    design = SurveyDesign(weights="w", cluster="psu", strata="h", fpc="N")
    with pytest.raises(SurveyDesignError, match=message):
        design.prepare(change(_frame()))


def test_weights_default_as_in_r():
    coord = rc.prepared("coord_strat")
    assert coord.weights.sum() == pytest.approx(388.0, rel=1e-12)
    shire = (coord.data["authority_type"] == "shire_district").to_numpy()
    np.testing.assert_allclose(coord.weights[shire], 238 / 110)
    assert np.all(rc.prepared("coord_unw").weights == 1.0)


def test_partner_weights_are_frame_over_responding_lsps():
    part = rc.prepared("part_clus")
    frame = part.data
    m_h = frame.groupby("authority_type")["lsp_id"].nunique()
    expected = frame["N_h"] / frame["authority_type"].map(m_h)
    np.testing.assert_allclose(part.weights, expected.to_numpy(), rtol=1e-15)


def test_design_degrees_of_freedom():
    assert rc.prepared("coord_strat").degf() == 191 - 5
    assert rc.prepared("coord_unw").degf() == 191 - 1
    assert rc.prepared("part_clus").degf() == 150 - 5
    assert rc.prepared("part_unw").degf() == 150 - 1
    coord = rc.prepared("coord_strat")
    single = (coord.data["tier"] == "single_tier").to_numpy()
    assert coord.degf(single) == single.sum() - 3  # three single-tier authority types


def test_infinite_df_rule_gives_normal_intervals():
    frame = rc.dataset("coordinators")
    design = SurveyDesign(strata="authority_type", fpc="N_h", df_rule="infinite").prepare(frame)
    ci = svyciprop(design, "item_bin")
    assert ci.df == np.inf
    p, se = ci.estimate, ci.se
    half = 1.959963984540054 * se / (p * (1 - p))
    lo = 1 / (1 + np.exp(-(np.log(p / (1 - p)) - half)))
    assert ci.ci_low == pytest.approx(lo, rel=1e-12)


def test_fully_enumerated_stratum_adds_no_variance():
    frame = _frame().assign(N=[5, 5, 5, 2, 2, 2])
    design = SurveyDesign(weights="w", cluster="psu", strata="h", fpc="N").prepare(frame)
    only_b = (frame["h"] == "b").to_numpy()
    m = svymean(design, "y", domain=only_b)  # stratum b: 2 of 2 PSUs sampled
    assert m.se == 0.0


def test_lonely_rules_order_variances():
    # Same data, four rules: "adjust" adds the lonely PSU's squared total, "average" inflates
    # the rest by strata / contributing strata, "certainty" and "remove" ignore it.
    frame = rc.dataset("lonely")
    se = {}
    for rule in ("adjust", "average", "certainty", "remove"):
        d = SurveyDesign(weights="w", cluster="psu", strata="stratum", fpc="N_h", lonely_psu=rule).prepare(
            frame
        )
        se[rule] = svymean(d, "x").se
    assert se["certainty"] == se["remove"]
    assert se["adjust"] > se["certainty"]
    assert se["average"] ** 2 == pytest.approx(se["certainty"] ** 2 * 4 / 3, rel=1e-12)


def test_column_and_mask_inputs():
    design = SurveyDesign(weights="w", cluster="psu", strata="h").prepare(_frame())
    by_name = svymean(design, "y").estimate
    by_array = svymean(design, _frame()["y"].to_numpy()).estimate
    assert by_name == by_array
    with pytest.raises(SurveyDesignError, match="rows"):
        svymean(design, [1.0, 2.0])
    with pytest.raises(SurveyDesignError, match="boolean"):
        svymean(design, "y", domain=["x"] * 6)
