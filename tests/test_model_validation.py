"""Model validation: one simulated survey end to end, and the summary's arithmetic on known rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.checks import model_validation as mv
from pipeline.core.codebook import load_codebook
from pipeline.core.config import load_config
from pipeline.study.frame import read_frame
from pipeline.study.targets import load_targets
from pipeline.synthetic.simulate import calibrated_parameters


def test_one_simulation_fits_every_effect_on_sample_and_census():
    config = load_config()
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    effects = mv.SCENARIOS["tier_null_confounded"]
    params = calibrated_parameters(frame, codebook, load_targets(config.published_targets), effects)
    items = ("scs_shared_vision", "council_dominates")
    rows = pd.DataFrame(
        mv.simulate_once(frame, codebook, config, params, effects, np.random.SeedSequence(3), items)
    )
    assert set(rows["instrument"]) == {"coordinator", "partner"}
    assert set(rows["outcome"]) == {mv.OVERALL, *items}
    assert len(rows) == 2 * 3 * 2
    assert ((rows["ci_low"] < rows["estimate"]) & (rows["estimate"] < rows["ci_high"])).all()
    overall = rows[rows["outcome"] == mv.OVERALL]
    assert overall["marginal_p"].notna().all()
    # The census fit is the population's own coefficient, not the sample's.
    assert not np.allclose(overall["census"], overall["estimate"])


def test_summary_counts_rejections_coverage_and_exaggeration():
    rows = []
    for simulation in range(4):
        for effect, estimate, p in (
            ("tier", 0.1 * simulation, 0.01 if simulation == 3 else 0.5),
            ("maturity", 0.4, 0.01),
        ):
            rows.append(
                {
                    "scenario": "tier_null_confounded",
                    "simulation": simulation,
                    "instrument": "coordinator",
                    "outcome": mv.OVERALL,
                    "family": "gaussian",
                    "effect": effect,
                    "census": 0.0 if effect == "tier" else 0.2,
                    "estimate": estimate,
                    "se": 0.1,
                    "ci_low": estimate - 0.15,
                    "ci_high": estimate + 0.15,
                    "p": p,
                    "marginal_estimate": estimate,
                    "marginal_p": 0.01,
                }
            )
    summary = mv.summarise(pd.DataFrame(rows)).set_index("effect")
    assert summary.loc["tier", "rejection_adjusted"] == pytest.approx(0.25)
    assert summary.loc["tier", "rejection_marginal_descriptive"] == pytest.approx(1.0)
    # CIs of 0, 0.1, 0.2, 0.3 +- 0.15 cover a truth of 0 twice.
    assert summary.loc["tier", "coverage_adjusted"] == pytest.approx(0.5)
    assert summary.loc["tier", "effect_is_zero"]
    assert summary.loc["maturity", "exaggeration_ratio"] == pytest.approx(2.0)
    assert summary.loc["maturity", "power"] == pytest.approx(1.0)
    assert summary.loc["maturity", "coverage_adjusted"] == 0.0
