"""Analyse stage: the design is wired in, comparisons find a planted effect, disclosure and FDR hold."""

import numpy as np
import pandas as pd
import pytest

from pipeline.study.designs import design_columns
from pipeline.study.disclosure import suppress
from pipeline.study.outcomes import outcome_columns
from pipeline.survey import p_adjust_bh
from tests.toy_survey import toy_analysis

# Its costly fixtures are session-scoped and one worker runs the whole module: they are computed once
# (a module-scoped fixture is torn down and rebuilt whenever the worker interleaves another module).
pytestmark = pytest.mark.xdist_group("analyse")

TIER_SHIFT = 1.0


@pytest.fixture(scope="session")
def base():
    return toy_analysis(seed=7, tier_shift=TIER_SHIFT)[0]


@pytest.fixture(scope="session")
def tables():
    return toy_analysis(seed=7, tier_shift=TIER_SHIFT)[1]


def test_coordinator_weights_post_stratify_to_the_frame(base, frame):
    weighted = design_columns(base, frame)
    coordinators = weighted[weighted["respondent_type"] == "coordinator"]
    totals = coordinators.groupby("authority_type")["weight"].sum()
    expected = frame["authority_type"].value_counts()
    expected = expected.sort_index().astype(float)
    pd.testing.assert_series_equal(totals.sort_index(), expected, check_names=False)


@pytest.fixture(scope="session")
def type_only_tables(base, frame, codebook, config):
    """The analysis under the type-only weighting (the designs' own N_h/n_h weights, no calibration)."""
    from dataclasses import replace

    from pipeline.stages.analyse import analyse

    return analyse(
        base, frame, codebook, replace(config, weighting=replace(config.weighting, primary="type_only"))
    )


def test_weighted_proportion_and_se_match_a_hand_computation(type_only_tables, base, frame, codebook):
    """Stratified SRSWOR, by plain pandas: the ratio estimator and its linearised variance."""
    tables = type_only_tables
    item = "members_challenge_performance"
    data, _ = outcome_columns(design_columns(base, frame), codebook)
    coordinators = data[data["respondent_type"] == "coordinator"].copy()
    y = coordinators[f"{item}__agree"].astype(float)
    observed = y.notna()
    w = coordinators["weight"].where(observed, 0.0)
    estimate = (w * y.fillna(0)).sum() / w.sum()
    coordinators["z"] = (w * (y.fillna(0) - estimate) / w.sum()).where(observed, 0.0)
    variance = 0.0
    for _, stratum in coordinators.groupby("authority_type"):
        n_h, big_n = len(stratum), stratum["lsp_population"].iloc[0]
        variance += (1 - n_h / big_n) * n_h / (n_h - 1) * ((stratum["z"] - stratum["z"].mean()) ** 2).sum()
    row = tables["estimates"].query(
        "instrument == 'coordinator' and item == @item and measure == 'agree' and group == 'all' "
        "and weighting == 'weighted'"
    )
    assert len(row) == 1
    assert row["estimate"].iloc[0] == pytest.approx(estimate, rel=1e-9)
    assert row["se"].iloc[0] == pytest.approx(np.sqrt(variance), rel=1e-9)
    assert row["n"].iloc[0] == observed.sum()
    assert row["ci_low"].iloc[0] < estimate < row["ci_high"].iloc[0]


def test_unweighted_estimate_is_the_raw_share(tables, base):
    item = "members_challenge_performance"
    coordinators = base[base["respondent_type"] == "coordinator"]
    codes = coordinators[item].astype("Float64")
    answered = codes[codes.between(1, 5)]
    row = tables["estimates"].query(
        "instrument == 'coordinator' and item == @item and measure == 'agree' and group == 'all' "
        "and weighting == 'unweighted'"
    )
    assert row["estimate"].iloc[0] == pytest.approx(float(answered.isin([4, 5]).mean()), rel=1e-12)
    assert np.isfinite(row["deff"].iloc[0])


def test_planted_tier_effect_is_found_after_fdr(tables, codebook):
    comparisons = tables["comparisons"]
    tier = comparisons.query(
        "instrument == 'coordinator' and group == 'tier' and weighting == 'weighted' "
        "and test == 'difference (design-based t)' and measure == 'agree'"
    )
    assert len(tier) == len(codebook.likert_items("coordinator"))
    assert (tier["estimate"] < 0).all()  # multi-tier coordinators were pushed towards disagreement
    assert (tier["p_fdr"] < 0.05).mean() > 0.8
    # No effect was planted for partners: few of their tier differences survive FDR control.
    partners = comparisons.query(
        "instrument == 'partner' and group == 'tier' and weighting == 'weighted' "
        "and test == 'difference (design-based t)' and measure == 'agree'"
    )
    assert (partners["p_fdr"] < 0.05).mean() < 0.2


def test_every_likert_item_gets_each_test(tables, codebook):
    weighted = tables["comparisons"].query("weighting == 'weighted' and measure == 'agree'")
    tests = weighted.groupby(["instrument", "group", "item"])["test"].agg(frozenset)
    expected = {"difference (design-based t)", "Rao-Scott F", "proportional-odds regression (Wald z)"}
    assert set(tests) == {frozenset(expected)}
    coordinator_items = {v.name for v in codebook.likert_items("coordinator")}
    assert set(tests.loc["coordinator", "tier"].index) == coordinator_items
    odds = weighted[weighted["test"].str.startswith("proportional-odds")]
    assert (odds["effect_name"] == "odds ratio").all()
    assert np.allclose(odds["effect_size"], np.exp(odds["estimate"]))


def test_fdr_is_benjamini_hochberg_within_each_family(tables):
    comparisons = tables["comparisons"]
    for _, family in comparisons.groupby("fdr_family"):
        published = family["p"].notna()
        assert (family.loc[published, "p_fdr"] >= family.loc[published, "p"] - 1e-12).all()
    # Suppression blanks p-values after adjustment, so recompute on a family with nothing suppressed.
    complete = [f for _, f in comparisons.groupby("fdr_family") if f["p"].notna().all()]
    assert complete
    family = complete[0]
    np.testing.assert_allclose(family["p_fdr"], p_adjust_bh(family["p"].to_numpy()), rtol=1e-9)


def test_no_published_cell_rests_on_fewer_than_five(tables, config):
    for name in ("estimates", "comparisons", "maturity_sensitivity"):
        table = tables[name]
        base = table["n_smaller_group"] if "n_smaller_group" in table else table["n"]
        published = table["estimate"].notna()
        assert (base[published] >= config.min_cell).all(), name
        assert table.loc[table["suppressed"].ne(""), "estimate"].isna().all(), name


def test_secondary_suppression_hides_a_level_recoverable_from_the_total():
    table = pd.DataFrame(
        {
            "item": ["q"] * 4,
            "level": ["all", "a", "b", "c"],
            "n": [30, 3, 12, 15],
            "estimate": [0.5, 0.2, 0.4, 0.7],
        }
    )
    result = suppress(table, 5, ["estimate"], ["item"])
    assert result["suppressed"].tolist()[1].startswith("primary")
    assert result["suppressed"].tolist()[2].startswith("secondary")
    assert result["estimate"].isna().tolist() == [False, True, True, False]


def test_every_definition_is_in_the_sensitivity_table(tables, config):
    sensitivity = tables["maturity_sensitivity"]
    assert set(sensitivity["definition"]) == set(config.maturity_definitions)
    assert sensitivity.loc[sensitivity["primary"], "definition"].eq(config.maturity_primary).all()


def test_outputs_say_synthetic_and_hold_no_ids(tables, config, codebook):
    assert config.synthetic_data
    for name, table in tables.items():
        assert table["data"].eq("SYNTHETIC").all(), name
        assert not set(codebook.unpublishable()) & set(table.columns), name


def test_power_table_gives_a_detectable_difference_for_each_comparison(tables):
    power = tables["power"]
    assert set(power["group"]) == {"tier", "maturity"}
    assert power["minimum_detectable_difference"].between(0.05, 0.6).all()


def test_every_published_number_has_a_row(tables, config, base):
    import json

    published = tables["published_vs_reproduced"]
    ids = {entry["id"] for entry in json.loads(config.published_figures.read_text(encoding="utf-8"))}
    assert set(published["published_id"]) == ids
    compared = published[(published["status"] == "compared") & (published["value_basis"] != "direction")]
    assert len(compared) >= 10
    assert compared["estimate"].between(0, 100).all()
    assert (compared["ci_low"] <= compared["estimate"]).all()
    assert (compared["estimate"] <= compared["ci_high"]).all()
    numeric = compared["published_value"].notna()
    np.testing.assert_allclose(
        compared.loc[numeric, "difference"],
        compared.loc[numeric, "estimate"] - compared.loc[numeric, "published_value"],
    )
    directions = published[published["value_basis"] == "direction"]
    assert set(directions["quantity_key"]) == {"multi_tier_direction", "maturity_direction"}
    tier = directions.set_index("quantity_key").loc["multi_tier_direction"]
    # n is the distinct respondents behind the differences, not each difference's n summed.
    assert (directions["n"] == base["respondent_type"].isin(["coordinator", "partner"]).sum()).all()
    assert tier["estimate"] < 0 and tier["published_in_ci"]  # the toy survey's planted tier effect


def test_published_quantity_uses_its_domain_and_codes(tables, base):
    """80% of county, metropolitan and London coordinators (para 57): the unweighted share by hand."""
    row = (
        tables["published_vs_reproduced"]
        .set_index("quantity_key")
        .loc["challenge_coordinators_county_met_london"]
    )
    coordinators = base[
        (base["respondent_type"] == "coordinator")
        & base["authority_type"].isin(["county", "metropolitan_district", "london_borough"])
    ]
    codes = coordinators["members_challenge_performance"].astype("Float64")
    answered = codes[codes.between(1, 5)]
    assert row["n"] == len(answered)
    assert row["unweighted_estimate"] == pytest.approx(100 * answered.isin([4, 5]).mean(), rel=1e-12)


def test_compact_outcome_columns_hold_the_float_columns_values(base, frame, codebook):
    """``outcome_columns(compact=True)`` (the analyse stage's) stores indicators as nullable boolean and
    Likert scores as Int8: read through ``astype("Float64")``, as the estimators read them, every column
    is the Float64 column exactly, missing where it is missing."""
    weighted = design_columns(base, frame)
    plain, outcomes = outcome_columns(weighted, codebook)
    compact, compact_outcomes = outcome_columns(weighted, codebook, compact=True)
    assert compact_outcomes == outcomes
    columns = list(dict.fromkeys(o.column for o in outcomes if o.column in plain.columns))
    columns += [o.ordinal for o in outcomes if o.ordinal]
    dtypes = {str(compact[c].dtype) for c in dict.fromkeys(columns)}
    assert dtypes == {"boolean", "Int8", "Float64"}
    for column in dict.fromkeys(columns):
        pd.testing.assert_series_equal(compact[column].astype("Float64"), plain[column].astype("Float64"))
    scores = [o.ordinal for o in outcomes if o.ordinal]
    assert {str(compact[c].dtype) for c in scores} == {"Int8"}
    indicators = [o.column for o in outcomes if o.is_proportion]
    assert {str(compact[c].dtype) for c in indicators} == {"boolean"}


def test_compact_scores_stay_float_where_they_are_not_small_whole_numbers():
    from pipeline.study.outcomes import _small_integers

    assert str(_small_integers(pd.Series([1.0, 5.0, None], dtype="Float64")).dtype) == "Int8"
    for values in ([1.5, 2.0, None], [1.0, 300.0], [-200.0, 1.0]):
        kept = _small_integers(pd.Series(values, dtype="Float64"))
        assert str(kept.dtype) == "Float64"
        pd.testing.assert_series_equal(kept, pd.Series(values, dtype="Float64"))


def test_compact_outcome_columns_change_no_estimate_or_test(base, frame, codebook, config):
    """Estimates, differences, Rao-Scott tests and proportional-odds fits over the compact columns are the
    Float64 columns' to the bit (a Likert item's three measures, a yes/no, a share and a scale)."""
    from pipeline.study.designs import population_rows, prepare_designs
    from pipeline.study.estimation import comparisons, estimates
    from pipeline.study.weighting import calibrator

    weighted = design_columns(base, frame)
    results = []
    for compact in (False, True):
        data, outcomes = outcome_columns(weighted, codebook, compact=compact)
        likert = next(o.item for o in outcomes if o.measure == "agree")
        choice = next(o.item for o in outcomes if o.measure.startswith("share:"))
        kept = [o for o in outcomes if o.item in (likert, choice) or o.measure in ("yes", "positive")]
        weigh = calibrator(frame, config.weighting)
        designs = prepare_designs(data, "weighted", population_rows(data), weigh)
        results.append((estimates(designs, kept, config), comparisons(designs, kept, config)))
    (plain_estimates, plain_comparisons), (compact_estimates, compact_comparisons) = results
    assert set(plain_comparisons["test"]) == {
        "difference (design-based t)",
        "Rao-Scott F",
        "proportional-odds regression (Wald z)",
    }
    pd.testing.assert_frame_equal(compact_estimates, plain_estimates)
    pd.testing.assert_frame_equal(compact_comparisons, plain_comparisons)
