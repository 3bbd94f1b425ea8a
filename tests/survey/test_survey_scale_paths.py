"""The engine's large-survey paths give the numbers of the plain ones: model matrices from coded columns,
calibration on collapsed patterns, variance plans that do not keep their designs alive."""

import gc
import weakref

import numpy as np
import pandas as pd
import pytest

from pipeline.survey import SurveyDesign, svymean
from pipeline.survey import patterns as patterns_module
from pipeline.survey.calibration import calibrate, calibration_factors
from pipeline.survey.domains import variance_plan
from pipeline.survey.glm import svyglm
from pipeline.survey.terms import design_model_matrix, model_matrix

ROWS = 3_000  # above patterns.COLLAPSE_MIN_ROWS and domains.MIN_ROWS


def _survey(seed: int = 7) -> pd.DataFrame:
    """Clustered, stratified rows whose calibration cells repeat (a few patterns, many rows)."""
    rng = np.random.default_rng(seed)
    psus = 600
    psu = rng.integers(0, psus, ROWS)
    stratum = psu % 3
    cell = psu % 7  # constant within a PSU: the calibration unit nests in it
    return pd.DataFrame(
        {
            "psu": psu,
            "stratum": stratum,
            "w": 10.0 + stratum,
            "cell": cell,
            "region": pd.Series(np.array(["north", "south", "east", "west"])[(psu // 2) % 4], dtype=object),
            "tier": pd.Categorical(np.where(psu % 2 == 0, "single", "multi"), categories=["single", "multi"]),
            "score": np.where(rng.random(ROWS) < 0.05, np.nan, rng.normal(3.0, 1.0, ROWS)),
            "x": rng.normal(size=ROWS),
        }
    )


def test_design_model_matrix_is_model_matrix_of_the_rows():
    data = _survey()
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    terms = ["tier", "region", "x", "tier:region"]
    # Rows without one region: R drops its column, and so must the coded path.
    rows = np.flatnonzero(data["region"].ne("west").to_numpy())
    for chosen in (np.arange(ROWS), rows):
        coded = design_model_matrix(design, chosen, terms, intercept=True)
        plain = model_matrix(data.iloc[chosen].reset_index(drop=True), terms, intercept=True)
        assert coded.names == plain.names
        assert coded.assign == plain.assign
        np.testing.assert_array_equal(coded.x, plain.x)


def _calibrated(collapse: bool, monkeypatch) -> tuple:
    if not collapse:
        monkeypatch.setattr(patterns_module, "COLLAPSE_MIN_ROWS", 10**9)
    data = _survey()
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    x = np.column_stack(
        [np.ones(ROWS), (data["cell"] == 1).to_numpy(float), (data["cell"] == 2).to_numpy(float)]
    )
    totals = np.array([40_000.0, 6_000.0, 5_500.0])
    calibrated, _ = calibrate(design, x, totals, calfun="raking", epsilon=1e-12, df_adjust="leverage")
    return calibrated, svymean(calibrated, "score"), svyglm(calibrated, "score", ["tier", "region"])


def test_calibration_on_patterns_gives_the_weights_and_variances_of_the_rows(monkeypatch):
    collapsed, mean, fit = _calibrated(True, monkeypatch)
    assert patterns_module.row_patterns(np.column_stack([_survey()["cell"].to_numpy(float)])) is not None
    plain, plain_mean, plain_fit = _calibrated(False, monkeypatch)
    np.testing.assert_allclose(collapsed.weights, plain.weights, rtol=1e-12)
    assert mean.estimate == pytest.approx(plain_mean.estimate, rel=1e-12)
    assert mean.se == pytest.approx(plain_mean.se, rel=1e-9)
    np.testing.assert_allclose(fit.vcov.to_numpy(), plain_fit.vcov.to_numpy(), rtol=1e-9, atol=1e-15)


def test_calibration_factors_with_replicate_weights_on_patterns(monkeypatch):
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(ROWS), rng.integers(0, 2, ROWS), rng.integers(0, 2, ROWS)]).astype(float)
    weights = rng.uniform(1.0, 3.0, ROWS)
    totals = np.array([7_000.0, 3_600.0, 3_300.0])
    found = patterns_module.row_patterns(x)
    assert found is not None and found[0].shape[0] == 4
    g, _ = calibration_factors(x, weights, totals, calfun="raking", epsilon=1e-12, patterns=found)
    monkeypatch.setattr(patterns_module, "COLLAPSE_MIN_ROWS", 10**9)
    g_rows, _ = calibration_factors(x, weights, totals, calfun="raking", epsilon=1e-12)
    np.testing.assert_allclose(g, g_rows, rtol=1e-12)
    np.testing.assert_allclose(x.T @ (weights * g), totals, rtol=1e-11)


def test_a_variance_plan_does_not_keep_its_design_alive():
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(_survey())
    assert variance_plan(design) is not None
    alive = weakref.ref(design)
    del design
    gc.collect()
    assert alive() is None


def test_with_data_shares_the_plan_and_gives_the_same_variance():
    data = _survey()
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    other = design.with_data(data.assign(score2=data["score"] * 2))
    assert variance_plan(other) is variance_plan(design)
    assert svymean(other, "score2").se == pytest.approx(2 * svymean(design, "score").se, rel=1e-12)
    with pytest.raises(ValueError):
        design.with_data(data.iloc[:10])


def test_rao_scott_on_text_labels_is_the_test_on_their_sorted_codes():
    """svychisq factorises text labels itself (missing and out-of-domain rows left out): the same test
    as on numeric codes in the labels' sorted order."""
    from pipeline.survey import svychisq

    data = _survey()
    rng = np.random.default_rng(11)
    labels = np.array(["single", "multi", None, "mixed"], dtype=object)[rng.integers(0, 4, ROWS)]
    order = {"mixed": 0.0, "multi": 1.0, "single": 2.0}
    codes = np.array([order.get(label, np.nan) for label in labels])
    rows = np.floor(data["score"].to_numpy())
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    domain = data["x"].to_numpy() > -1.0
    for within in (None, domain):
        text = svychisq(design, rows, labels, domain=within)
        numeric = svychisq(design, rows, codes, domain=within)
        assert text.cols == ("mixed", "multi", "single")
        for field in ("f", "ndf", "ddf", "p_f", "pearson", "p_chisq"):
            assert getattr(text, field) == getattr(numeric, field)
        assert (text.n_total, text.design_df) == (numeric.n_total, numeric.design_df)


def test_population_rows_slice_the_instruments_blocks_and_select_others():
    """Each instrument's rows as the base holds them: a slice where they are one block, else selected."""
    from pipeline.study.designs import population_rows

    rng = np.random.default_rng(5)
    kinds = np.where(rng.random(50) < 0.4, "coordinator", "partner")
    base = pd.DataFrame(
        {
            "respondent_type": kinds,
            "score": pd.array(np.where(rng.random(50) < 0.2, np.nan, rng.random(50)), dtype="Float64"),
        }
    )
    for table in (base, base.sort_values("respondent_type", kind="stable", ignore_index=True)):
        found = population_rows(table)
        for name in ("coordinator", "partner"):
            expected = table[table["respondent_type"] == name].reset_index(drop=True)
            pd.testing.assert_frame_equal(found[name], expected)
        pd.testing.assert_frame_equal(found["respondents"], table.reset_index(drop=True))


def test_estimates_and_differences_in_column_blocks_are_those_of_one_pass(monkeypatch):
    """The study reads outcomes a block of columns at a time at scale: each outcome's numbers are those
    of one call over every column (estimates: exactly; differences: to the last bits of a sum)."""
    from pipeline.study import estimation
    from pipeline.study.outcomes import Outcome
    from pipeline.survey.batch import batch_means_by_domain

    data = _survey()
    rng = np.random.default_rng(9)
    columns = 70  # three engine blocks, the last one short
    outcomes = []
    for j in range(columns):
        name = f"y{j}"
        binary = j % 2 == 0
        values = (rng.random(ROWS) < 0.3 + 0.005 * j).astype(float) if binary else rng.normal(j, 1.0, ROWS)
        data[name] = pd.array(np.where(rng.random(ROWS) < 0.1, np.nan, values), dtype="Float64")
        outcomes.append(Outcome(name, name, None, "agree" if binary else "mean", name, binary, ("x",)))
    design = SurveyDesign(weights="w", cluster="psu", strata="stratum").prepare(data)
    tier = data["tier"].astype(str).to_numpy(dtype=object)
    masks = {"all": {"all": np.ones(ROWS, dtype=bool)}, "tier": {t: tier == t for t in ("single", "multi")}}
    blocked = estimation._batch_means_by_domain(design, data, outcomes, masks, "weighted", "design")
    matrix = data[[o.column for o in outcomes]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    for (group, level), found in blocked.items():
        levels = list(masks[group])
        code = np.full(ROWS, -1)
        for index, mask in enumerate(masks[group].values()):
            code[mask] = index
        whole = batch_means_by_domain(design, matrix, code, len(levels), deff="srswor")[levels.index(level)]
        for field in ("estimate", "se", "n", "pop_size", "deff", "df_per_column"):
            np.testing.assert_array_equal(getattr(found, field), getattr(whole, field))
        assert found.df == whole.df
    whole = estimation.differences(design, outcomes, tier, "multi", "single")
    monkeypatch.setattr(estimation, "LARGE_CELLS", 0)
    blocks = estimation.differences(design, outcomes, tier, "multi", "single")
    assert list(blocks.columns) == list(whole.columns) and len(blocks) == columns
    numeric = whole.select_dtypes("number").columns
    np.testing.assert_allclose(blocks[numeric].to_numpy(float), whole[numeric].to_numpy(float), rtol=1e-12)
    pd.testing.assert_frame_equal(blocks.drop(columns=numeric), whole.drop(columns=numeric))


def test_rao_scott_codes_many_small_whole_numbers_by_counting_them_as_by_sorting(monkeypatch):
    """Above a size, answer codes are coded by counting: the levels and codes sorting gives."""
    from pipeline.survey import chisq

    rng = np.random.default_rng(13)
    dom = rng.random(ROWS) < 0.8
    for values in (
        np.where(rng.random(ROWS) < 0.1, np.nan, rng.integers(1, 6, ROWS).astype(float)),
        rng.integers(0, 3, ROWS) * 2,  # integers, levels 0, 2, 4
        np.where(rng.random(ROWS) < 0.1, np.nan, rng.integers(0, 4, ROWS) + 0.5),  # not whole: sorted
    ):
        counted = chisq._coded(values, dom)
        monkeypatch.setattr(chisq, "_COUNT_ROWS", 10**9)
        sorted_ = chisq._coded(values, dom)
        monkeypatch.undo()
        assert counted[0] == sorted_[0]
        np.testing.assert_array_equal(counted[1], sorted_[1])


@pytest.mark.parametrize("collapse", [True, False])
def test_leverage_in_blocks_is_the_sum_of_squares_of_every_rows_singular_vector_row(collapse, monkeypatch):
    """weighted_leverage (a block of rows at a time, no rows x columns matrix) is, bit for bit, each row's
    sum of squares of its weighted_svd row over the rank: with and without patterns, over many blocks."""
    rng = np.random.default_rng(5)
    x = np.column_stack(
        [np.ones(ROWS), rng.integers(0, 3, ROWS), rng.integers(0, 2, ROWS), rng.integers(0, 2, ROWS)]
    ).astype(float)
    x[:, 3] = x[:, 0] - x[:, 2]  # collinear: the rank is below the columns
    weights = rng.uniform(1.0, 3.0, ROWS)
    found = patterns_module.row_patterns(x) if collapse else None
    assert (found is not None) == collapse
    u, s = patterns_module.weighted_svd(x, weights, found)
    rank = int(np.sum(s > s[0] * max(x.shape) * np.finfo(float).eps))
    assert rank == 3
    expected = np.sum(u[:, :rank] ** 2, axis=1)
    monkeypatch.setattr(patterns_module, "_BLOCK_ROWS", 37)  # many blocks, the last one short
    found_leverage = patterns_module.weighted_leverage(x, weights, found, lambda s: rank)
    np.testing.assert_array_equal(found_leverage, expected)
    assert found_leverage.sum() == pytest.approx(rank)
