"""The measurement stage's CFA against lavaan (fixtures/lavaan_cfa.json, from r/make_cfa_fixture.R)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.config import load_config
from pipeline.stages.measurement import INVARIANCE, fit_cfa, structures

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "lavaan_cfa.json").read_text())
ITEMS = pd.read_csv(FIXTURES / "cfa_items.csv")
TOL = 1e-6


@pytest.fixture(scope="module")
def models():
    return structures(load_codebook(load_config().codebook))


def test_fixture_is_from_the_committed_data_and_structures(models):
    assert hashlib.md5((FIXTURES / "cfa_items.csv").read_bytes()).hexdigest() == REFERENCE["meta"]["csv_md5"]
    lines = (FIXTURES / "cfa_models.txt").read_text().splitlines()
    written = dict(line.split("\t") for line in lines)
    assert set(written) == set(models)
    for name, factors in models.items():
        assert written[name] == "; ".join(f"{f} =~ {' + '.join(items)}" for f, items in factors.items())


@pytest.mark.parametrize("case", REFERENCE["fits"], ids=lambda c: f"{c['model']}-{c['level']}")
def test_cfa_fit_matches_lavaan(case, models):
    group = None if case["level"] == "single group" else "group"
    fit = fit_cfa(models[case["model"]], ITEMS, case["level"], group, case["model"])
    assert fit.converged and case["converged"]
    assert fit.df == case["df"]
    for measure in ("chisq", "cfi", "tli", "rmsea"):
        assert getattr(fit, measure) == pytest.approx(case[measure], rel=TOL), measure


def test_invariance_levels_are_nested():
    assert INVARIANCE == ("configural", "metric", "scalar")
    dfs = [c["df"] for c in REFERENCE["fits"] if c["level"] in INVARIANCE]
    assert dfs == sorted(dfs)
