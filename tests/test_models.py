"""Models stage: primary tests, adjusted effects, joint and interaction tests, imputation, direction."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core.config import DEFAULT_CONFIG, load_config
from pipeline.core.errors import PipelineError
from pipeline.stages import models as m
from pipeline.stages import models_fit as fitting
from pipeline.stages import models_imputation as imputation
from pipeline.stages import models_spec as spec
from pipeline.stages import report_inference
from pipeline.stages.derive import derive
from pipeline.study.designs import ANALYTIC_DESIGNS, DESIGNS, narrow, population_rows
from pipeline.study.direction import add_direction, favourable_signs
from pipeline.study.weighting import primary_weighting
from pipeline.survey.glm import svyglm
from tests.toy_survey import toy_validated

# Its costly fixtures are session-scoped and one worker runs the whole module: they are computed once
# (a module-scoped fixture is torn down and rebuilt whenever the worker interleaves another module).
pytestmark = pytest.mark.xdist_group("models")

TIER_SHIFT = 1.0


@pytest.fixture(scope="session")
def config():
    return dataclasses.replace(load_config(), imputations=3)


@pytest.fixture(scope="session")
def base(config, codebook, frame):
    validated = toy_validated(codebook, frame, seed=11, tier_shift=TIER_SHIFT)
    return derive(validated, frame, codebook, config)[0]


@pytest.fixture(scope="session")
def result(base, frame, codebook, config):
    return m.models(base, frame, codebook, config)


@pytest.fixture(scope="session")
def data(base, frame, codebook, config):
    return spec.model_data(base, frame, codebook, config)


def test_one_primary_test_per_headline_with_its_estimand(result):
    primary = result["tables"]["primary_tests"]
    assert list(primary["headline"]) == ["tier", "maturity"]
    assert (primary["inference"] == "analytic").all()
    assert (primary["marginal_inference"] == "descriptive").all()
    assert primary["estimand"].str.contains("partnerships in general").all()
    assert (primary["data"] == "SYNTHETIC").all()
    # The toy survey pushes every multi-tier coordinator's Likert answer down by a point.
    tier = primary.iloc[0]
    assert tier["estimate"] < -0.3 and tier["p"] < 0.001
    assert tier["ci_low"] < tier["estimate"] < tier["ci_high"]


def test_primary_rows_are_the_adjusted_overall_score_and_not_under_fdr(result):
    table = result["tables"]["models"]
    primary = table[table["role"] == "primary"]
    assert set(primary["effect"]) == {"tier", "maturity"}
    assert (primary["outcome"] == spec.OVERALL).all() and (primary["model"] == "adjusted").all()
    assert primary["p_fdr"].isna().all()
    secondary = table[table["role"] == "secondary"]
    assert (secondary["model"] == "adjusted").all()
    assert secondary["p_fdr"].notna().all()
    assert (secondary["p_fdr"] >= secondary["p"] - 1e-12).all()
    assert table.loc[table["role"] == "supporting", "p_fdr"].isna().all()


def test_marginal_model_is_the_weighted_difference_of_means(data):
    coordinators = population_rows(data)["coordinator"]
    design = narrow(DESIGNS["coordinator"], coordinators, [spec.OVERALL, "tier"])
    fit = svyglm(design, spec.OVERALL, ["tier"])
    rows = design.data[spec.OVERALL].notna()
    w = design.weights
    multi = (design.data["tier"] == "multi") & rows
    single = (design.data["tier"] == "single") & rows
    expected = np.average(design.data.loc[multi, spec.OVERALL], weights=w[multi]) - np.average(
        design.data.loc[single, spec.OVERALL], weights=w[single]
    )
    assert fit.coefficients["tiermulti"] == pytest.approx(expected, rel=1e-10)


def test_analytic_design_only_widens_the_intervals(data):
    coordinators = population_rows(data)["coordinator"]
    columns = [spec.OVERALL, *spec.ADJUSTED_TERMS]
    descriptive = svyglm(
        narrow(DESIGNS["coordinator"], coordinators, columns), spec.OVERALL, spec.ADJUSTED_TERMS
    )
    analytic = svyglm(
        narrow(ANALYTIC_DESIGNS["coordinator"], coordinators, columns), spec.OVERALL, spec.ADJUSTED_TERMS
    )
    pd.testing.assert_series_equal(descriptive.coefficients, analytic.coefficients)
    assert (analytic.se > descriptive.se).all()


def test_joint_test_of_one_scale_is_the_square_of_its_t(data):
    coordinators = population_rows(data)["coordinator"]
    design = narrow(ANALYTIC_DESIGNS["coordinator"], coordinators, ["scale_style", *spec.ADJUSTED_TERMS])
    fit = svyglm(design, "scale_style", spec.ADJUSTED_TERMS)
    joint = fitting.joint_test(design, {"scale_style": fit}, "tier")
    t = fit.coefficients["tiermulti"] / fit.se["tiermulti"]
    assert joint["statistic"] == pytest.approx(t**2, rel=1e-10)
    assert joint["df"] == 1 and joint["df2"] == fit.df_residual


def test_interaction_is_tested_on_every_outcome(result):
    tests = result["tables"]["model_tests"]
    interaction = tests[tests["effect"] == "tier x maturity"]
    assert interaction["df"].eq(1).all()
    assert {spec.OVERALL} <= set(interaction["outcome"])
    joint = tests[tests["outcome"] == "joint_7s"]
    assert len(joint) == 4 and joint["df"].eq(7).all()


def test_direction_comes_from_the_codebook(codebook, result):
    signs = favourable_signs(codebook)
    reverse = {v.name for v in codebook.variables if v.reverse}
    assert reverse and all(signs[name] == -1 for name in reverse)
    assert all(signs[f"scale_{e}"] == 1 for e in codebook.elements)
    table = pd.DataFrame({"item": [*sorted(reverse), "scale_style", "has_support_team"], "measure": "agree"})
    table.loc[len(table) - 2, "measure"] = "mean"
    signed = add_direction(table, codebook)
    assert list(signed["favourable_sign"].iloc[:-1]) == [-1.0] * len(reverse) + [1.0]
    assert np.isnan(signed["favourable_sign"].iloc[-1])
    models = result["tables"]["models"]
    rows = models[models["outcome"].isin(reverse)]
    assert (rows["favourable_sign"] == -1).all()
    np.testing.assert_allclose(rows["favourable_estimate"], -rows["estimate"])


def test_imputation_fills_only_unknown_maturity_and_is_seeded(data, config):
    populations = population_rows(data)
    coordinators, partners = populations["coordinator"], populations["partner"]
    first, record = imputation.impute_maturity(coordinators, partners, 3, seed=5)
    again, _ = imputation.impute_maturity(coordinators, partners, 3, seed=5)
    other, _ = imputation.impute_maturity(coordinators, partners, 3, seed=6)
    known = partners["maturity"].notna()
    for completed in first:
        pd.testing.assert_series_equal(
            completed[known].astype(str), partners.loc[known, "maturity"].astype(str), check_names=False
        )
    assert all(a.equals(b) for a, b in zip(first, again, strict=True))
    assert not all(a.equals(b) for a, b in zip(first, other, strict=True))
    assert record["lsps_imputed"] > 0 and record["partners_with_imputed_maturity"] > 0
    assert first[0].notna().sum() > known.sum()


def test_partner_results_with_and_without_imputation_by_weighting(result):
    partner = result["tables"]["partner_imputation"]
    overall = partner[partner["outcome"] == spec.OVERALL]
    assert len(overall) == 8
    assert set(overall["weighting"]) == {"partners", "LSPs"}
    complete = overall[overall["imputations"] == 0]
    imputed = overall[overall["imputations"] == 3]
    assert (imputed["n"].to_numpy() > complete["n"].to_numpy()).all()
    assert (complete[["lambda", "fraction_missing_information"]] == 0).all().all()
    assert (imputed["lambda"] > 0).all()
    # The fraction of missing information adds the uncertainty of the between variance to lambda.
    assert (imputed["fraction_missing_information"] > imputed["lambda"]).all()


def test_lsp_weighting_counts_each_lsp_once_and_keeps_the_calibration(data, frame, config):
    partners = population_rows(data)["partner"]
    weigh = primary_weighting(frame, config)
    by_partner = narrow(ANALYTIC_DESIGNS["partner"], partners, [spec.OVERALL], weigh, "partner")
    by_lsp = imputation.counting_lsps_once(by_partner)
    per_lsp = pd.Series(by_lsp.weights).groupby(by_lsp.data["lsp_id"].to_numpy()).sum()
    first = pd.Series(by_partner.weights).groupby(by_partner.data["lsp_id"].to_numpy()).first()
    np.testing.assert_allclose(per_lsp, first.loc[per_lsp.index])
    # Each LSP once sums to the frame's LSPs (the calibration's totals), and its residuals still apply.
    assert by_lsp.calibrations == by_partner.calibrations and len(by_lsp.calibrations) == 1
    assert by_lsp.weights.sum() == pytest.approx(len(frame), rel=1e-9)


@pytest.fixture(scope="session")
def type_only_result(base, frame, codebook, config):
    spec = dataclasses.replace(config.weighting, primary="type_only", alternatives=("raking", "linear"))
    return m.models(base, frame, codebook, dataclasses.replace(config, weighting=spec))


@pytest.mark.parametrize("table", ["primary_tests", "models", "model_tests", "partner_imputation"])
def test_every_model_table_follows_the_primary_weighting(result, type_only_result, config, table):
    assert config.weighting.primary == "raking"
    primary, type_only = result["tables"][table], type_only_result["tables"][table]
    statistics = primary.select_dtypes("number").drop(columns=["n", "n_a", "n_b"], errors="ignore")
    other = type_only[statistics.columns]
    assert statistics.shape == other.shape
    # The estimates (the test statistics of model_tests) move with the weights, not only the SEs.
    moved = "estimate" if "estimate" in statistics else "statistic"
    assert not np.allclose(statistics[moved], other[moved], equal_nan=True, rtol=1e-9)


def test_primary_tests_are_the_calibrated_fits(result, data, frame, config):
    from pipeline.study.weighting import calibrate_population, frame_variables

    coordinators = population_rows(data)["coordinator"]
    plain = narrow(
        ANALYTIC_DESIGNS["coordinator"],
        coordinators,
        [spec.OVERALL, *spec.ADJUSTED_TERMS, "lsp_id", "respondent_type"],
    )
    calibrated, _ = calibrate_population(
        plain, "coordinator", frame_variables(frame), config.weighting, "raking"
    )
    fit = svyglm(calibrated, spec.OVERALL, spec.ADJUSTED_TERMS, df_adjust=config.model_df_adjustment)
    primary = result["tables"]["primary_tests"].set_index("headline")
    for effect in ("tier", "maturity"):
        name = spec.EFFECTS[effect][1]
        assert primary.loc[effect, "estimate"] == pytest.approx(fit.coefficients[name], rel=1e-12)
        assert primary.loc[effect, "se"] == pytest.approx(fit.se[name], rel=1e-12)
    # And the descriptive marginal column is on the calibrated descriptive design too.
    marginal = fitting.marginal_differences(
        DESIGNS["coordinator"], coordinators, primary_weighting(frame, config), "coordinator"
    )
    np.testing.assert_allclose(
        primary["marginal_estimate"], marginal.set_index("effect").loc[primary.index, "estimate"]
    )
    uncalibrated = fitting.marginal_differences(DESIGNS["coordinator"], coordinators, None, "coordinator")
    assert not np.allclose(
        primary["marginal_estimate"], uncalibrated.set_index("effect").loc[primary.index, "estimate"]
    )


def test_weighting_sensitivity_of_the_primary_tests(result, type_only_result, config):
    table = result["tables"]["primary_tests_by_weighting"]
    assert list(dict.fromkeys(table["weighting"])) == ["raking", "type_only", "linear", "unweighted"]
    assert table.loc[table["primary"], "weighting"].eq("raking").all()
    primary = result["tables"]["primary_tests"].set_index("headline")
    rows = table[table["primary"] & table["instrument"].eq("coordinator")].set_index(["quantity", "headline"])
    for effect in ("tier", "maturity"):
        assert rows.loc[("adjusted (analytic)", effect), "estimate"] == pytest.approx(
            primary.loc[effect, "estimate"]
        )
        assert rows.loc[("marginal (descriptive)", effect), "estimate"] == pytest.approx(
            primary.loc[effect, "marginal_estimate"]
        )
    # The type-only rows are a type-only run's primary tests; change_from_type_only is measured from them.
    other = type_only_result["tables"]["primary_tests"].set_index("headline")
    type_only = table[table["weighting"].eq("type_only") & table["instrument"].eq("coordinator")]
    type_only = type_only.set_index(["quantity", "headline"])
    for effect in ("tier", "maturity"):
        assert type_only.loc[("adjusted (analytic)", effect), "estimate"] == pytest.approx(
            other.loc[effect, "estimate"]
        )
    assert (type_only["change_from_type_only"] == 0).all()


def test_report_section_leads_with_the_primary_tests(result):
    fits = json.loads((Path("tests/survey/fixtures/lavaan_cfa.json")).read_text())["fits"]
    tables = {**result["tables"], "cfa_fit": pd.DataFrame(fits).assign(n_complete_cases=115)}
    section = report_inference.primary_tests(tables)
    headlines = section["headlines"]
    assert [h["headline"] for h in headlines][:2] == ["Tier", "Maturity"]
    assert all(h["estimand"] and h["result"] and h["marginal"] for h in headlines)
    assert "p" in headlines[0]["result"] and "n = " in headlines[0]["marginal"]
    cfa = section["cfa"]
    assert [row.cells[0] for row in cfa.rows].count("seven factors") == 4
    assert any(row.cells[1] == "scalar" for row in cfa.rows)
    # Tables for people: no identifier or raw float reaches a cell.
    for table in (section["tests"], section["counts"], section["partner"], cfa):
        for row in table.rows:
            assert not any(re.fullmatch(r"-?\d+\.\d{4,}", cell) for cell in row.cells), (table.id, row)
            assert not any(re.search(r"\b[a-z]+_[a-z_]+\b", cell) for cell in row.cells), (table.id, row)
    counts = section["counts"]
    assert {row.cells[0] for row in counts.rows} <= {"LSP coordinators", "Board partners"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "overall"}, "outcome must be one of"),
        ({"instrument": "chair"}, "instrument must be"),
        ({"extra": 1}, "unknown key"),
    ],
)
def test_primary_test_config_is_validated(tmp_path, change, message):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["models"]["primary"]["tier"].update(change)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineError, match=message):
        load_config(path)


def test_imputations_must_allow_a_between_variance(tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["models"]["imputations"] = 1
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineError, match="from 2 to 1000"):
        load_config(path)


def test_the_joint_tests_read_the_same_numbers_from_fits_reduced_to_the_effects(data):
    # fit_instrument keeps the adjusted scale fits reduced to the effects' coefficients
    # (`effects_only`): the joint tests over them equal those over the full fits.
    partners = population_rows(data)["partner"]
    scales = [f"scale_{e}" for e in ("strategy", "style", "steering")]
    design = narrow(ANALYTIC_DESIGNS["partner"], partners, [*scales, *spec.ADJUSTED_TERMS])
    fits = {s: svyglm(design, s, spec.ADJUSTED_TERMS) for s in scales}
    reduced = {s: fitting.effects_only(f) for s, f in fits.items()}
    for fit in reduced.values():
        assert list(fit.coefficients.index) == [spec.EFFECTS[e][1] for e in spec.EFFECTS]
        assert fit.influence.shape[1] == len(spec.EFFECTS)
    for effect in spec.EFFECTS:
        assert fitting.joint_test(design, reduced, effect) == fitting.joint_test(design, fits, effect)


def test_the_stages_populations_are_each_instruments_rows_with_the_columns_it_reads(data, codebook):
    populations = m.model_populations(data, codebook)
    full = population_rows(data)
    assert set(populations) == {"coordinator", "partner"}
    for instrument, rows in populations.items():
        pd.testing.assert_frame_equal(rows, full[instrument][list(rows.columns)])
        outcomes = [o.column for o in spec.model_outcomes(codebook, instrument)]
        assert {*outcomes, "tier", "maturity", *spec.COVARIATES, "lsp_id"} <= set(rows.columns)


def test_the_answers_left_on_disk_change_no_table(result, base, frame, codebook, config):
    """The stage reads the base without the answers no model reads (`unmodelled_answers`): every table
    is the one computed from the whole base."""
    unread = spec.unmodelled_answers(codebook)
    assert unread and set(unread) < set(base.columns)
    assert not set(unread) & {v.name for v in codebook.variables if v.type in spec.MODELLED_TYPES}
    assert {"lsp_id", "respondent_id"}.isdisjoint(unread)
    narrowed = m.models(base.drop(columns=unread), frame, codebook, config)
    for name in m.TABLE_NAMES:
        pd.testing.assert_frame_equal(narrowed["tables"][name], result["tables"][name])
