"""Measurement stage: the CFA table, its admissibility column, and the report's sentence on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.stages.measurement import structures
from pipeline.stages.report_inference import cfa_admissibility

FIXTURES = Path(__file__).resolve().parent / "survey" / "fixtures"


def test_the_engines_lavaan_structures_are_the_codebooks(codebook):
    # tests/survey reads the three structures from cfa_models.txt so the engine's tests stand alone.
    written = dict(line.split("\t") for line in (FIXTURES / "cfa_models.txt").read_text().splitlines())
    models = structures(codebook)
    assert set(written) == set(models)
    for name, factors in models.items():
        assert written[name] == "; ".join(f"{f} =~ {' + '.join(items)}" for f, items in factors.items())


@pytest.mark.slow
def test_every_fit_carries_its_admissibility(built_project):
    # The measurement stage's own table from the run's shared build (tests/built_project.py), where both
    # kinds of fit occur (the partner group's latent covariance is not positive definite, as lavaan finds).
    # Fitting the CFAs again on tests/toy_survey.py's random answers, which have no factor structure, kept
    # the optimiser busy for minutes of CPU (L-BFGS-B, then BFGS, on an ill-conditioned problem).
    table = pd.read_csv(built_project / "analysis/tables/cfa_fit.csv")
    assert table["admissible"].dtype == bool
    assert table["admissibility"].str.len().gt(0).all()
    ok = table["admissible"]
    assert ok.any() and not ok.all()
    assert table.loc[ok, "admissibility"].str.startswith("admissible").all()
    assert not table.loc[~ok, "admissibility"].str.startswith("admissible").any()


def _table(admissible: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "level": ["single group", "configural", "metric"],
            "groups": [1, 2, 2],
            "n_complete_cases": [115, 115, 115],
            "admissible": admissible,
            "admissibility": [
                "admissible: residual variances positive, latent covariance positive definite"
                if ok
                else "partner: latent covariance matrix not positive definite (smallest eigenvalue -0.037)"
                for ok in admissible
            ],
        }
    )


def test_report_says_what_the_invariance_conclusion_rests_on():
    assert cfa_admissibility(_table([True, True, True])).startswith("Every fit is admissible")
    sentence = cfa_admissibility(_table([True, False, False]))
    # Instruments by name, not code; each inadmissible level with its reason and eigenvalue.
    expected = "configural fit, Board partners: latent covariance matrix not positive definite (smallest"
    assert expected in sentence and "eigenvalue -0.037)" in sentence
    assert "no conclusion about coordinator-partner invariance" in sentence
    assert "single group" not in sentence
