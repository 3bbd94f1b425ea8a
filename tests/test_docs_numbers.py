"""Numbers the docs state about the bundled survey, recomputed from a `make all` build.

docs/weighting.md states the calibrated variance's df factor (m - H) / (m - r) per instrument,
docs/models.md the models' df factor and the primary tests under type-only and raking weights: each is
recomputed here from the design and the built tables, so a change of data, margins or weighting that
moves them fails until the prose follows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import load_config
from pipeline.stages import models_spec as m
from pipeline.study.designs import design_columns, prepare_designs
from pipeline.study.frame import read_frame
from pipeline.study.weighting import calibrator

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _fraction(numerator: int, denominator: int, places: int) -> str:
    return f"{numerator}/{denominator} = {numerator / denominator:.{places}f}"


def test_weighting_doc_states_the_calibration_df_factor_of_the_design(built_project):
    config = load_config()
    frame = read_frame(config.frame)
    base = pd.read_parquet(built_project / "data" / "processed" / "analysis_base.parquet")
    designs = prepare_designs(
        design_columns(base, frame), "weighted", None, calibrator(frame, config.weighting)
    )
    text = " ".join((DOCS / "weighting.md").read_text().split())
    for population in ("coordinator", "partner"):
        entry = designs[population].calibrations[-1]
        units = entry.rows_per_unit.size
        # (m - H) / (m - r): r the rank of the calibration variables with the stratum indicators (the
        # uniform factor; weighting.variance_df_adjustment: leverage averages about it LSP by LSP).
        first = pd.Series(np.arange(entry.unit.size)).groupby(entry.unit).first().to_numpy()
        unit_strata = designs[population].stratum[entry.rows][first]
        levels = np.unique(unit_strata)
        strata = levels.size
        indicators = (unit_strata[:, None] == levels[None, :]).astype(float)
        constraints = int(np.linalg.matrix_rank(np.hstack([entry.basis, indicators])))
        if config.weighting.variance_df_adjustment is True:
            assert entry.inflation == pytest.approx((units - strata) / (units - constraints), rel=1e-12)
        stated = _fraction(units - strata, units - constraints, 3)
        assert stated in text, f"{population}: docs/weighting.md should say {stated}"
        assert f"{units} LSPs, {strata} types, {constraints} constraints" in text


def test_models_doc_states_the_model_df_factor(built_project):
    table = pd.read_csv(built_project / "analysis" / "tables" / "models.csv")
    text = " ".join((DOCS / "models.md").read_text().split())
    coefficients = 13  # intercept, tier, maturity, deprivation, LAA round, eight region contrasts
    rows = table[
        (table["outcome"] == m.OVERALL) & (table["model"] == "adjusted") & (table["effect"] == "tier")
    ]
    coordinator = rows[rows["instrument"] == "coordinator"].iloc[0]
    residual = int(coordinator["df"])
    assert _fraction(residual + coefficients - 1, residual, 2) in text
    partner = pd.read_csv(built_project / "analysis" / "tables" / "partner_imputation.csv")
    complete = partner[(partner["imputations"] == 0) & (partner["outcome"] == m.OVERALL)].iloc[0]
    residual = int(complete["df"])
    assert _fraction(residual + coefficients - 1, residual, 2) in text


def test_models_doc_states_the_primary_tests_under_both_weightings(built_project):
    config = load_config()
    assert config.weighting.primary == "raking"
    tables = built_project / "analysis" / "tables"
    primary = pd.read_csv(tables / "primary_tests.csv").set_index("headline")
    sensitivity = pd.read_csv(tables / "primary_tests_by_weighting.csv")
    type_only = sensitivity[
        sensitivity["weighting"].eq("type_only") & sensitivity["instrument"].eq("coordinator")
    ]
    type_only = type_only.set_index(["quantity", "headline"])
    text = " ".join((DOCS / "models.md").read_text().split())
    for headline in ("tier", "maturity"):
        adjusted = type_only.loc[("adjusted (analytic)", headline)]
        assert (
            f"| {headline}, adjusted (analytic) | {adjusted['estimate']:.4f} (SE {adjusted['se']:.4f}" in text
        )
        assert f"{primary.loc[headline, 'estimate']:.4f} (SE {primary.loc[headline, 'se']:.4f}" in text
        marginal = type_only.loc[("marginal (descriptive)", headline), "estimate"]
        raking = primary.loc[headline, "marginal_estimate"]
        assert f"| {headline}, marginal (descriptive) | {marginal:.4f} | {raking:.4f} |" in text


def test_weighting_doc_shows_the_validation_csv_as_it_stands():
    """docs/weighting.md's validation table is the committed CSV's, row for row (validate-weighting
    writes both; a hand edit of either fails here)."""
    from pipeline.checks.weighting_validation import DOC_TABLE_END, DOC_TABLE_START, doc_table
    from pipeline.core.paths import WEIGHTING_VALIDATION_RESULTS

    text = (DOCS / "weighting.md").read_text()
    shown = text.split(DOC_TABLE_START, 1)[1].split(DOC_TABLE_END, 1)[0].strip()
    summary = pd.read_csv(WEIGHTING_VALIDATION_RESULTS)
    assert shown == doc_table(summary, load_config().weighting)
    # Every scenario and weighting of the CSV has its rows (one per instrument).
    assert shown.count("\n") - 1 == len(summary.drop_duplicates(["scenario", "margins", "instrument"]))
