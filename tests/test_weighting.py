"""The study's weightings and the nonresponse stage: margins met, merges recorded, config checked,
partner weights at LSP level, R-indicators on known propensities, respondents-vs-frame counts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core.config import load_config
from pipeline.core.errors import PipelineError
from pipeline.stages.nonresponse import (
    _codes,
    frame_comparison,
    propensity_model,
    r_indicators_of,
    replicate_check_survey,
    response_indicators,
    se_ratios,
)
from pipeline.study.designs import design_columns, prepare_designs
from pipeline.study.outcomes import outcome_columns
from pipeline.study.weighting import (
    calibrate_population,
    calibration_inputs,
    calibrator,
    collapse_sparse_cells,
    collapse_unattainable_totals,
    frame_variables,
    primary_weighted_base,
    weight_diagnostics,
)
from pipeline.survey import svymean
from tests.toy_survey import toy_analysis


@pytest.fixture(scope="module")
def data(frame, codebook):
    base = toy_analysis(seed=7, tier_shift=1.0)[0]
    return outcome_columns(design_columns(base, frame), codebook)[0]


@pytest.fixture(scope="module")
def type_only(data):
    return prepare_designs(data, "weighted")


def test_frame_variables_never_read_the_blank_columns(frame):
    blank = ("nrf_area", "population_2007", "imd2007_rank", "urban_rural_class")
    scrambled = frame.assign(**{c: "999" for c in blank})
    pd.testing.assert_frame_equal(frame_variables(frame), frame_variables(scrambled))


def test_imd_bands_are_tertiles_of_the_frame(frame):
    counts = frame_variables(frame)["imd_band"].value_counts()
    assert sorted(counts.tolist()) == [129, 129, 130]


@pytest.mark.parametrize("method", ["raking", "linear"])
def test_calibrated_coordinator_weights_meet_every_uncollapsed_margin(type_only, frame, config, method):
    design, diagnostics = calibrate_population(
        type_only["coordinator"], "coordinator", frame_variables(frame), config.weighting, method
    )
    fv = frame_variables(frame).set_index("lsp_id")
    rows = design.data["lsp_id"].astype(str)
    for margin in (["region"], ["laa_round"], ["authority_type"]):
        weighted = pd.Series(design.weights).groupby(fv.loc[rows, margin[0]].to_numpy()).sum()
        expected = fv[margin[0]].value_counts()
        np.testing.assert_allclose(weighted.loc[expected.index], expected.to_numpy(), rtol=1e-9)
    assert diagnostics[0].converged and diagnostics[0].weight_total == pytest.approx(388)


def test_partner_weights_are_one_per_lsp_and_sum_to_the_frame(type_only, frame, config):
    design, _ = calibrate_population(
        type_only["partner"], "partner", frame_variables(frame), config.weighting, "raking"
    )
    per_lsp = pd.Series(design.weights).groupby(design.data["lsp_id"].to_numpy())
    assert (per_lsp.max() == per_lsp.min()).all()
    assert per_lsp.first().sum() == pytest.approx(388, rel=1e-9)


NUMERIC_MARGINS = (
    ("authority_type", "imd_band"),
    ("authority_type", "imd_score"),
    ("region",),
    ("laa_round",),
)


@pytest.mark.parametrize("method", ["raking", "linear", "logit"])
@pytest.mark.parametrize("population", ["coordinator", "partner"])
def test_numeric_margins_meet_the_frames_score_total_within_each_type(
    type_only, frame, config, method, population
):
    spec = replace(config.weighting, margins=NUMERIC_MARGINS, bounds=(0.2, 5.0))
    fv = frame_variables(frame)
    design, diagnostics = calibrate_population(type_only[population], population, fv, spec, method)
    units = design.data.assign(_w=design.weights).drop_duplicates("lsp_id")
    score = fv.set_index("lsp_id").loc[units["lsp_id"].astype(str), ["imd_score", "authority_type"]]
    weighted = (
        pd.Series(units["_w"].to_numpy() * score["imd_score"].to_numpy())
        .groupby(score["authority_type"].to_numpy())
        .sum()
    )
    expected = fv.groupby("authority_type")["imd_score"].sum()
    np.testing.assert_allclose(weighted.loc[expected.index], expected.to_numpy(), rtol=1e-9)
    # The counts of the band margin are still met where no cell was merged.
    assert diagnostics[0].converged
    bands = replace(spec, margins=(("authority_type", "imd_band"), ("region",), ("laa_round",)))
    band_only, _ = calibrate_population(type_only[population], population, fv, bands, "raking")
    assert not np.allclose(band_only.weights, design.weights)


def test_numeric_margin_columns_are_accepted_by_the_config(tmp_path):
    raw = yaml.safe_load(load_config().source.read_text(encoding="utf-8"))
    raw["weighting"]["margins"] = [["authority_type", "imd_score"], ["region"], ["pct_most_deprived"]]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_config(path).weighting.margins[-1] == ("pct_most_deprived",)


def test_calibration_changes_estimates_and_their_variance(type_only, frame, config):
    calibrated = calibrator(frame, config.weighting, "raking")(dict(type_only.by_population))
    a = svymean(type_only["coordinator"], "scale_strategy")
    b = svymean(calibrated["coordinator"], "scale_strategy")
    assert a.estimate != pytest.approx(b.estimate, rel=1e-6)
    assert len(calibrated["coordinator"].calibrations) == 1
    assert calibrated["respondents"].calibrations and len(calibrated["respondents"].calibrations) == 2


def test_type_only_is_the_design_weights(type_only, frame, config):
    design, _ = calibrate_population(
        type_only["coordinator"], "coordinator", frame_variables(frame), config.weighting, "type_only"
    )
    assert design is type_only["coordinator"]


def test_sparse_cells_are_merged_with_a_neighbour_and_recorded():
    sample = pd.DataFrame({"a": ["x"] * 6 + ["y"] * 6, "b": ["1"] * 5 + ["2"] + ["1", "2", "3"] * 2})
    population = pd.DataFrame({"a": ["x"] * 9 + ["y"] * 9, "b": (["1", "2", "3"] * 3) * 2})
    s_cells, p_cells, merges = collapse_sparse_cells(sample, population, ["a", "b"], 2)
    # x|3 (no respondent) joins its neighbour x|2 (one); that cell is still sparse and joins x|1. The y
    # cells, with two respondents each, stay apart.
    assert set(p_cells) == {"x|1+2+3", "y|1", "y|2", "y|3"}
    assert len(merges) == 2 and "x|3 (0 respondents) merged with x|2 (1)" in merges[0]
    counts = s_cells.value_counts()
    assert (counts.reindex(sorted(set(p_cells)), fill_value=0) >= 2).all()


def test_an_unattainable_score_total_merges_nested_cells_then_is_given_up():
    # Type x: bands x|1 and x|2 of four LSPs each, score total 15 + 38 = 53; type y: one band, total 10.
    population = pd.DataFrame(
        {
            "type": ["x"] * 8 + ["y"] * 4,
            "band": ["x|1"] * 4 + ["x|2"] * 4 + ["y|1"] * 4,
            "score": [1.0, 2, 3, 9, 5, 6, 7, 20, 1.0, 2, 3, 4],
        }
    )
    # Respondents: band x|1 scores 1 and 2, band x|2 scores 5 and 6: the most positive weights can reach
    # is 4 * 2 + 4 * 6 = 32, short of the frame's 53. Merged, the cell reaches 8 * 6 = 48: still short,
    # so the total of x is given up. Type y's total, 10, lies within 4 * 1 .. 4 * 3: kept.
    units = pd.DataFrame(
        {
            "type": ["x"] * 4 + ["y"] * 2,
            "band": ["x|1", "x|1", "x|2", "x|2", "y|1", "y|1"],
            "score": [1.0, 2, 5, 6, 1, 3],
        }
    )
    sample_fine, pop_fine, merges, dropped = collapse_unattainable_totals(
        units, population, "type", "score", "band"
    )
    assert set(pop_fine) == {"x|1+2", "y|1"} and set(sample_fine) == {"x|1+2", "y|1"}
    assert merges == ["band: x|1 (2 respondents) merged with x|2 (2) so that the score total of x can be met"]
    assert [cell for cell, _ in dropped] == ["x"] and "53 not calibrated" in dropped[0][1]
    # A respondent with score 9 in band x|2 makes the merged cell reach 8 * 9 = 72 > 53: merged, kept.
    reachable = units.assign(score=[1.0, 2, 5, 9, 1, 3])
    _, pop_fine, merges, dropped = collapse_unattainable_totals(
        reachable, population, "type", "score", "band"
    )
    assert set(pop_fine) == {"x|1+2", "y|1"} and len(merges) == 1 and dropped == []
    # Attainable as it stands: nothing changes.
    easy = units.assign(score=[1.0, 9, 5, 20, 1, 3])
    _, pop_fine, merges, dropped = collapse_unattainable_totals(easy, population, "type", "score", "band")
    assert pop_fine.tolist() == population["band"].tolist() and merges == [] and dropped == []


def test_calibration_inputs_leave_out_a_total_no_positive_weights_can_meet(type_only, frame, config):
    """The type x score total of a type whose respondents all lie below its mean score is left out (raking
    could not converge: no positive weights meet it), and the diagnostics say so."""
    design = type_only["coordinator"]
    frame_vars = frame_variables(frame)
    lsps = design.data["lsp_id"].astype(str)
    scores = lsps.map(frame_vars.set_index("lsp_id")["imd_score"])
    london = lsps.map(frame_vars.set_index("lsp_id")["authority_type"]).eq("london_borough")
    mean = frame_vars.loc[frame_vars["authority_type"].eq("london_borough"), "imd_score"].mean()
    keep = (~london | (scores < mean)).to_numpy()
    assert keep.sum() < design.n and (london & (scores < mean)).sum() >= 5
    spec = replace(config.weighting, margins=(("authority_type", "imd_score"), ("region",)))
    x, totals, merges = calibration_inputs(design, keep, frame_vars, spec)
    full, full_totals, _ = calibration_inputs(design, np.ones(design.n, bool), frame_vars, spec)
    assert x.shape[1] == full.shape[1] - 1 and totals.size == full_totals.size - 1
    assert any("authority_type:imd_score: london_borough total" in line for line in merges)


def test_primary_weighted_base_carries_the_designs_weights(data, frame, config):
    base = primary_weighted_base(data, frame, config.weighting)
    designs = prepare_designs(data, "weighted", calibrate=calibrator(frame, config.weighting))
    coordinators = base["respondent_type"].eq("coordinator").to_numpy()
    np.testing.assert_allclose(base.loc[coordinators, "weight"], designs["coordinator"].weights, rtol=1e-12)
    np.testing.assert_allclose(base["design_weight"], data["weight"])


def test_weight_diagnostics_cover_every_weighting(type_only, frame, config):
    table = weight_diagnostics(type_only.by_population, frame, config.weighting)
    assert set(table["weighting"]) == {"type_only", *config.weighting.methods}
    assert (table["kish_deff"] >= 1).all()
    type_rows = table[table["weighting"] == "type_only"]
    assert np.allclose(type_rows[["g_min", "g_max"]], 1.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"primary": "ipf"}, "weighting method 'ipf'"),
        ({"margins": [["authority_type", "nrf_area"]]}, "margin column 'nrf_area'"),
        ({"primary": "logit", "bounds": None}, "bounds are required"),
        ({"bounds": [1.2, 2.0]}, "0 <= lower < 1 < upper"),
        ({"min_cell_respondents": 0}, "min_cell_respondents"),
        ({"variance_df_adjustment": "hc3"}, "true, false or leverage"),
    ],
)
def test_bad_weighting_config_gives_one_clear_message(tmp_path, change, message):
    raw = yaml.safe_load(load_config().source.read_text(encoding="utf-8"))
    raw["weighting"].update(change)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(PipelineError, match=message):
        load_config(path)


# ---------------------------------------------------------------------------- the nonresponse stage


def test_r_indicator_is_one_for_constant_propensities_and_falls_with_spread(frame):
    indicators = response_indicators(pd.DataFrame({"respondent_type": [], "lsp_id": []}), frame)
    codes, levels = _codes(indicators)
    flat = r_indicators_of(np.full(len(indicators), 0.5), codes, levels)
    assert flat[0] == pytest.approx(1.0) and np.nanmax(np.abs(flat[3:])) == pytest.approx(0.0)
    by_type = indicators["authority_type"].map({"county": 0.9}).fillna(0.4).to_numpy()
    spread = r_indicators_of(by_type, codes, levels)
    s = by_type.std(ddof=1)
    assert spread[0] == pytest.approx(1 - 2 * s)
    # All of that variation is between authority types: the unconditional partial R-indicator of type is
    # the whole standard deviation.
    assert spread[3] == pytest.approx(s)


def test_frequency_weights_give_the_r_indicators_and_fit_of_the_rows_they_stand_for(frame):
    # A bootstrap replicate is run on the distinct LSP patterns with the number of times each was drawn:
    # that must equal the computation on the drawn rows themselves.
    from pipeline.stages.nonresponse import MODEL_VARIABLES, _logit_fit, _model_matrix

    indicators = response_indicators(pd.DataFrame({"respondent_type": [], "lsp_id": []}), frame)
    rng = np.random.default_rng(5)
    indicators["coordinator"] = (rng.random(len(indicators)) < 0.5).astype(float)
    codes, levels = _codes(indicators)
    x, _ = _model_matrix(indicators, MODEL_VARIABLES)
    y = indicators["coordinator"].to_numpy()
    take = rng.integers(0, len(y), len(y))
    beta_rows, _, loglik_rows = _logit_fit(x[take], y[take])
    counts = np.bincount(take, minlength=len(y)).astype(float)
    beta_counts, _, loglik_counts = _logit_fit(x, y, counts)
    np.testing.assert_allclose(beta_counts, beta_rows, rtol=1e-8, atol=1e-10)
    assert loglik_counts == pytest.approx(loglik_rows, rel=1e-12)
    rho = 1 / (1 + np.exp(-(x @ beta_rows)))
    by_rows = r_indicators_of(rho[take], codes[take], levels)
    by_counts = r_indicators_of(rho, codes, levels, counts)
    np.testing.assert_allclose(by_counts, by_rows, rtol=1e-10, atol=1e-12)


def test_frame_comparison_counts_the_frame_and_the_respondents(data, frame, config, type_only):
    indicators = response_indicators(data, frame)
    table = frame_comparison(indicators, type_only, config.min_cell)
    types = table[(table["instrument"] == "coordinator") & (table["variable"] == "authority_type")]
    assert types["frame_lsps"].sum() == 388
    responding = data.loc[data["respondent_type"] == "coordinator", "lsp_id"].nunique()
    assert types["responding_lsps"].sum() == responding
    # Type-only weights reproduce the frame's type shares exactly.
    np.testing.assert_allclose(types["weighted_pct"], types["frame_pct"], rtol=1e-9)


def test_propensity_model_tests_response_beyond_type(data, frame):
    table = propensity_model(response_indicators(data, frame))
    tests = table[table["term"] == "(model)"]
    assert len(tests) == 4 and tests["p"].between(0, 1).all()
    assert (tests["df"] > 0).all()


def test_primary_weighting_is_calibrated_in_the_shipped_config(config):
    assert config.weighting.primary == "raking"
    assert ("authority_type", "imd_band") in config.weighting.margins
    assert replace(config.weighting, primary="type_only").describe().startswith("post-stratified")


def test_report_section_states_the_weighting_and_shows_the_nonresponse_tables(
    tmp_path, frame, config, codebook
):
    from pipeline.core.io import write_csv
    from pipeline.core.paths import INFORMATIVE_NONRESPONSE_RESULTS, WEIGHTING_VALIDATION_RESULTS
    from pipeline.stages import report_inference
    from pipeline.stages.nonresponse import nonresponse
    from pipeline.stages.report import read_table
    from pipeline.stages.report_tables import Table

    base, analysis_tables = toy_analysis(seed=7, tier_shift=1.0)
    tables = nonresponse(base, frame, codebook, config)
    assert {t["data"].iloc[0] for t in tables.values()} == {"SYNTHETIC"}
    # As the report stage reads them: written, then read back from CSV.
    read = {}
    for name, table in {**tables, "comparisons": analysis_tables["comparisons"]}.items():
        write_csv(table, tmp_path / f"{name}.csv")
        read[name] = read_table(tmp_path / f"{name}.csv")
    read["weighting_validation"] = read_table(WEIGHTING_VALIDATION_RESULTS)
    read["informative_nonresponse"] = read_table(INFORMATIVE_NONRESPONSE_RESULTS)
    section = report_inference.nonresponse(read, config)
    assert "raked to the frame margins" in section["weighting"]
    # The two variance corrections of the configuration are stated (R's calibrate() makes neither).
    assert "degrees of freedom" in section["variance_corrections"]
    assert "1 - 1/weight" in section["variance_corrections"]
    assert len(section["r_indicators"]) == 2 and all("R = " in s for s in section["r_indicators"])
    assert section["largest_change"].startswith(
        "The largest change calibration makes to a headline difference (synthetic data)"
    )
    tables_shown = [v for v in section.values() if isinstance(v, Table)]
    assert len(tables_shown) == 9 and all(t.rows for t in tables_shown)
    # The committed weighting-validation results and the maturity-driven sensitivity statement.
    assert "Still significant" in section["statement"].headers
    assert section["validated_on"].startswith("The primary weighting was validated on")
    for table in tables_shown:
        for row in table.rows:
            assert not any(cell in ("True", "False", "nan") for cell in row.cells), (table.id, row)
    ratios = tables["weighting_se_ratios"]
    assert ratios["ratio_jkn"].between(0.7, 1.5).all() and ratios["ratio_bootstrap"].between(0.7, 1.5).all()


def test_replicate_check_runs_on_a_seeded_subsample_of_the_frame_above_the_configured_size(
    frame, config, codebook
):
    base = toy_analysis(seed=7, tier_shift=1.0)[0]
    whole = replicate_check_survey(base, frame, config.weighting)
    assert whole[0] is base and whole[1] is frame  # the bundled frame is checked whole
    spec = replace(config.weighting, replicate_check_max_lsps=200, bootstrap_replicates=50)
    kept, subsample = replicate_check_survey(base, frame, spec)
    again = replicate_check_survey(base, frame, spec)
    assert len(subsample) == 200 and subsample["lsp_id"].is_unique
    assert subsample["lsp_id"].tolist() == again[1]["lsp_id"].tolist()  # seeded
    assert set(kept["lsp_id"].astype(str)) <= set(subsample["lsp_id"].astype(str))
    assert len(kept) == base["lsp_id"].astype(str).isin(set(subsample["lsp_id"].astype(str))).sum()
    # A survey of the same design over the subsample: its weights come from the subsample's frame.
    data, outcomes = outcome_columns(design_columns(kept, subsample), codebook)
    table = se_ratios(data, outcomes, subsample, replace(config, weighting=spec))
    assert table["replicates_bootstrap"].between(25, 50).all()  # small cells empty in some replicates
    assert table["ratio_bootstrap"].between(0.5, 2.0).all()


def test_validation_summary_sets_the_root_mean_square_se_beside_the_mean_se():
    """Hand computation: one item, errors -1, 0, 1 (SD 1), SEs 0.5, 1 and 1.5 in the three surveys.

    The target's SE / SD uses the model SE (Morris et al. 2019), the root of the mean variance,
    sqrt((0.25 + 1 + 2.25) / 3) = 1.0801; the extra column the mean SE (1.0); the SE's CV is its SD (0.5)
    over its mean (1.0)."""
    from pipeline.checks.weighting_validation import summarise

    results = pd.DataFrame(
        {
            "scenario": "s",
            "weighting": "raking",
            "margins": "m",
            "instrument": "coordinator",
            "quantity": "level",
            "item": "a",
            "simulation": [0, 1, 2],
            "estimate": [0.0, 1.0, 2.0],
            "error": [-1.0, 0.0, 1.0],
            "se": [0.5, 1.0, 1.5],
            "covered": 1.0,
            "reject_true": 0.0,
        }
    )
    row = summarise(results).iloc[0]
    assert row["se_ratio"] == pytest.approx(np.sqrt(3.5 / 3), abs=1e-4)
    assert row["se_ratio_mc_se"] == pytest.approx(np.sqrt(3.5 / 3) / 2, abs=1e-4)
    assert row["mean_se_ratio"] == pytest.approx(1.0)
    assert row["se_cv"] == pytest.approx(0.5)


def test_validated_on_sets_the_mean_se_ratio_beside_a_missed_se_ratio(config):
    from pipeline.checks.weighting_validation import primary_weighting
    from pipeline.stages.report_inference import validated_on

    spec = config.weighting
    label = primary_weighting(spec).label
    row = {
        "scenario": "gradient_by_type",
        "weighting": spec.primary,
        "margins": label,
        "instrument": "coordinator",
        "simulations": 1000,
        "coverage": 0.955,
        "coverage_mc_se": 0.004,
        "mean_bias_pp": -0.2,
        "se_ratio": 0.941,
        "se_ratio_mc_se": 0.021,
        "meets_targets": False,
        "failed_draws": 1,
        "collapsed_draws": 35,
    }
    validation = pd.DataFrame(
        [row | {"quantity": "tier difference", "mean_se_ratio": 0.902}, row | {"quantity": "level"}]
    )
    text = validated_on(validation, spec)
    assert "tier difference under gradient by type: SE / SD 0.941 (MC SE 0.021; mean SE / SD 0.902)" in text
    # A row of a run without the column (NaN after the concat) names the target's ratio alone.
    assert "level under gradient by type: SE / SD 0.941 (MC SE 0.021)" in text
    # The failed sample is one of the 1,001 drawn (the simulations count the 1,000 estimated).
    assert "could not calibrate: 1 of 1001;" in text


def test_the_stages_weightings_are_designs_for_each_weighting_and_their_diagnostics(
    data, frame, config, type_only
):
    # The nonresponse stage calibrates one set of type-only designs once per weighting (`Weightings`):
    # the same weights and variances as preparing and calibrating each table's designs, the same
    # weight diagnostics, and the frame comparison on the primary weights by LSP gives the same table.
    from pipeline.stages.nonresponse import Weightings, designs_for

    weightings = Weightings(type_only, frame, config.weighting)
    for method in (*config.weighting.methods, "type_only"):
        shared, alone = weightings(method), designs_for(data, frame, config.weighting, method, None)
        for population in ("coordinator", "partner", "respondents"):
            np.testing.assert_array_equal(shared[population].weights, alone[population].weights)
            y = shared[population].data["scale_strategy"].astype("Float64").to_numpy(float, na_value=np.nan)
            assert svymean(shared[population], y).se == svymean(alone[population], y).se
    pd.testing.assert_frame_equal(
        weightings.diagnostics(), weight_diagnostics(type_only.by_population, frame, config.weighting)
    )
    indicators = response_indicators(data, frame)
    primary = designs_for(data, frame, config.weighting, config.weighting.primary, None)
    pd.testing.assert_frame_equal(
        frame_comparison(indicators, None, config.min_cell, weightings.primary_unit_weights),
        frame_comparison(indicators, primary, config.min_cell),
    )


def test_the_propensity_models_columns_are_the_level_dummies_that_add_rank(data, frame):
    # The dummies come from level codes and the rank from hash-found patterns: the same columns as
    # comparing each level's text and sorting every row (np.unique(axis=0)).
    from pipeline.stages.nonresponse import MODEL_VARIABLES, _model_matrix

    indicators = response_indicators(data, frame)
    x, names = _model_matrix(indicators, MODEL_VARIABLES)
    columns, plain_names = [np.ones(len(indicators))], ["(intercept)"]
    for variable in MODEL_VARIABLES:
        text = indicators[variable].astype(str)
        for level in sorted(text.unique())[1:]:
            columns.append(text.eq(level).to_numpy(dtype=float))
            plain_names.append(f"{variable}={level}")
    plain = np.column_stack(columns)
    patterns, keep = np.unique(plain, axis=0), []
    for j in range(plain.shape[1]):
        if np.linalg.matrix_rank(patterns[:, [*keep, j]]) == len(keep) + 1:
            keep.append(j)
    assert names == [plain_names[j] for j in keep]
    np.testing.assert_array_equal(x, plain[:, keep])


def test_the_frame_variables_come_from_their_declared_source_columns_alone(frame):
    """A stage may hold the frame's FRAME_SOURCE_COLUMNS alone (the models stage does): the frame
    variables from them are those from the whole frame."""
    from pipeline.study.weighting import FRAME_SOURCE_COLUMNS, frame_variables

    assert set(FRAME_SOURCE_COLUMNS) < set(frame.columns)
    pd.testing.assert_frame_equal(frame_variables(frame[list(FRAME_SOURCE_COLUMNS)]), frame_variables(frame))
