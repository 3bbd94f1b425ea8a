"""The design record and its preparation: checks, derived weights, df and lonely-PSU rules."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import survey_r_cases as rc

from pipeline.survey import SurveyDesign, SurveyDesignError, svyciprop, svymean
from pipeline.survey.batch import batch_means


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


# ---- two-stage designs (a second stage drawn with replacement) -------------------------------------


def _two_stage_frame() -> pd.DataFrame:
    # Stratum a: PSUs 1 (three units), 2 (one unit); stratum b: PSUs 3 (two units), 4 (two units).
    return pd.DataFrame(
        {
            "h": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "psu": [1, 1, 1, 2, 3, 3, 4, 4],
            "unit": [1, 2, 3, 4, 5, 6, 7, 8],
            "N": [6, 6, 6, 6, 5, 5, 5, 5],
            "w": [3.0, 3.0, 3.0, 3.0, 2.5, 2.5, 2.5, 2.5],
            "y": [1.0, 4.0, 2.0, 3.0, 0.0, 5.0, 2.0, 2.0],
        }
    )


def _two_stage(rule: str = "adjust") -> SurveyDesign:
    return SurveyDesign(weights="w", cluster="psu", subcluster="unit", strata="h", fpc="N", lonely_psu=rule)


def _by_hand(frame: pd.DataFrame, x: np.ndarray, lone_uncentred: bool) -> float:
    """Textbook two-stage variance of a total with influence values x: between-PSU part with the
    first-stage fpc, plus each PSU's within variance (units with replacement) times n_h / N_h."""
    total = 0.0
    for _, stratum in frame.assign(x=x).groupby("h"):
        n_h, big_n = stratum["psu"].nunique(), stratum["N"].iloc[0]
        z = stratum.groupby("psu")["x"].sum()
        total += (1 - n_h / big_n) * n_h / (n_h - 1) * ((z - z.mean()) ** 2).sum()
        for _, psu in stratum.groupby("psu"):
            m = len(psu)
            if m == 1:
                total += (n_h / big_n) * float(psu["x"].iloc[0]) ** 2 if lone_uncentred else 0.0
            else:
                total += (n_h / big_n) * m / (m - 1) * ((psu["x"] - psu["x"].mean()) ** 2).sum()
    return total


@pytest.mark.parametrize(("rule", "uncentred"), [("adjust", True), ("certainty", False), ("remove", False)])
def test_two_stage_variance_is_the_textbook_formula(rule, uncentred):
    frame = _two_stage_frame()
    design = _two_stage(rule).prepare(frame)
    x = frame["w"].to_numpy() * (frame["y"].to_numpy() - 2.0)
    assert design.variance(x)[0, 0] == pytest.approx(_by_hand(frame, x, uncentred), rel=1e-13)


def test_two_stage_with_every_psu_taken_is_a_sample_stratified_by_psu():
    # With n_h = N_h the first stage adds nothing and each PSU is a stratum of units drawn with
    # replacement: the one-stage design with PSUs as strata and no fpc gives the same variance.
    frame = _two_stage_frame().assign(N=2)
    x = frame["w"].to_numpy() * (frame["y"].to_numpy() - 2.0)
    two = _two_stage().prepare(frame).variance(x)
    by_psu = SurveyDesign(weights="w", strata="psu", lonely_psu="adjust").prepare(frame).variance(x)
    assert two[0, 0] == pytest.approx(by_psu[0, 0], rel=1e-13)


def test_second_stage_needs_clusters_and_an_fpc():
    with pytest.raises(SurveyDesignError, match="needs first-stage clusters and an fpc"):
        SurveyDesign(cluster="psu", subcluster="unit")
    with pytest.raises(SurveyDesignError, match="needs first-stage clusters and an fpc"):
        SurveyDesign(fpc="N", subcluster="unit")


@pytest.mark.parametrize("rule", ["fail", "average"])
def test_a_psu_with_one_second_stage_unit_is_refused_where_r_stops_or_gives_nan(rule):
    with pytest.raises(SurveyDesignError, match="single second-stage unit"):
        _two_stage(rule).prepare(_two_stage_frame())


def test_two_stage_record_names_both_stages():
    design = _two_stage()
    assert design.r_call("d") == (
        "svydesign(ids = ~psu + unit, strata = ~h, fpc = ~N, weights = ~w, data = d)"
    )
    assert "two-stage" in design.to_dict()["variance"]


def test_batch_variances_of_a_two_stage_design_equal_the_exact_ones():
    design = rc.prepared("part_2stage")
    values = design.data[["item_bin", "item_ord"]].to_numpy(float)
    batch = batch_means(design, values)
    for j, column in enumerate(("item_bin", "item_ord")):
        assert batch.se[j] == pytest.approx(svymean(design, column).se, rel=1e-12)


def test_replicates_of_a_two_stage_design_treat_its_psus_as_drawn_with_replacement():
    from pipeline.survey.replicate import bootstrap, jackknife, replicate_mean

    two = rc.prepared("part_2stage")
    with_replacement = rc.prepared("part_wr")
    y = two.data["item_bin"].to_numpy(float)
    for make in (lambda d: jackknife(d, "JKn"), lambda d: bootstrap(d, 50, seed=3)):
        se_two = replicate_mean(make(two), y).se
        assert se_two == pytest.approx(replicate_mean(make(with_replacement), y).se, rel=1e-12)
