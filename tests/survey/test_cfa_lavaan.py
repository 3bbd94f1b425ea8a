"""The engine's CFA (pipeline/survey/cfa.py) against lavaan (fixtures/lavaan_cfa.json, r/make_cfa_fixture.R).

The data are the complete cases of the bundled survey's 26 shared 7S items; the three structures are read
from fixtures/cfa_models.txt in lavaan syntax (the measurement stage's test holds that file to the
codebook's structures), so these tests need nothing outside the engine. Fit measures agree within 1e-6;
the admissibility checks (smallest latent covariance eigenvalue, smallest residual variance per group)
within 1e-4 relative or 1e-5 absolute (item variances are near 1): lavaan's parameters are converged to
about that under its default tolerances (the largest difference, 6e-7 on an eigenvalue of 0.003, is 2e-4
relative).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.survey.cfa import INVARIANCE, CFAError, fit_cfa

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "lavaan_cfa.json").read_text())
ITEMS = pd.read_csv(FIXTURES / "cfa_items.csv")
TOL = 1e-6
PARAMETER_TOL = 1e-4
PARAMETER_ATOL = 1e-5


def lavaan_models() -> dict[str, dict[str, list[str]]]:
    """The structures of cfa_models.txt: ``name<TAB>f1 =~ a + b; f2 =~ c + d``."""
    models = {}
    for line in (FIXTURES / "cfa_models.txt").read_text().splitlines():
        name, syntax = line.split("\t")
        factors = (part.split("=~") for part in syntax.split(";"))
        models[name] = {f.strip(): [i.strip() for i in items.split("+")] for f, items in factors}
    return models


MODELS = lavaan_models()


def _fit(case):
    group = None if case["level"] == "single group" else "group"
    return fit_cfa(MODELS[case["model"]], ITEMS, case["level"], group, case["model"])


def test_fixture_is_from_the_committed_data():
    assert hashlib.md5((FIXTURES / "cfa_items.csv").read_bytes()).hexdigest() == REFERENCE["meta"]["csv_md5"]
    assert set(MODELS) == {c["model"] for c in REFERENCE["fits"]}


@pytest.mark.parametrize("case", REFERENCE["fits"], ids=lambda c: f"{c['model']}-{c['level']}")
def test_cfa_fit_matches_lavaan(case):
    fit = _fit(case)
    assert fit.converged and case["converged"]
    assert fit.df == case["df"]
    for measure in ("chisq", "cfi", "tli", "rmsea"):
        assert getattr(fit, measure) == pytest.approx(case[measure], rel=TOL), measure


@pytest.mark.parametrize("case", REFERENCE["fits"], ids=lambda c: f"{c['model']}-{c['level']}")
def test_admissibility_matches_lavaan(case):
    fit = _fit(case)
    assert fit.admissible == case["post_check"]
    ours = {a.group: a for a in fit.admissibility}
    for theirs in case["admissibility"]:
        group = ours[theirs["group"]]
        for quantity in ("smallest_latent_eigenvalue", "smallest_residual_variance"):
            expected = pytest.approx(theirs[quantity], rel=PARAMETER_TOL, abs=PARAMETER_ATOL)
            assert getattr(group, quantity) == expected, quantity


def test_the_partner_groups_latent_covariance_is_not_positive_definite():
    # lavaan: "covariance matrix of latent variables is not positive definite" in every invariance fit.
    for case in REFERENCE["fits"]:
        if case["level"] not in INVARIANCE:
            continue
        fit = _fit(case)
        partner = next(a for a in fit.admissibility if a.group == "partner")
        assert not partner.latent_positive_definite and not partner.heywood_items
        assert partner.smallest_latent_eigenvalue == pytest.approx(
            min(g["smallest_latent_eigenvalue"] for g in case["admissibility"]), rel=PARAMETER_TOL
        )
        assert "partner: latent covariance matrix not positive definite" in fit.problems()[0]


def test_a_heywood_case_is_found():
    # One factor whose first item has a standardised loading of 1.13: the covariance matrix the data are
    # made to have exactly, loadings x loadings' + residual variances, gives that item a residual variance
    # of 1 - 1.13^2 < 0, and ML (which does not bound variances, as lavaan) recovers it.
    loadings = np.array([1.13, 0.7, 0.7, 0.7])
    target = np.outer(loadings, loadings) + np.diag(1 - loadings**2)
    noise = np.random.default_rng(3).standard_normal((300, 4))
    noise -= noise.mean(axis=0)
    # Whiten, then colour: the sample covariance (divisor n, as ML uses) is exactly the target.
    white = noise @ np.linalg.inv(np.linalg.cholesky(np.cov(noise.T, bias=True)).T)
    data = pd.DataFrame(white @ np.linalg.cholesky(target).T, columns=["x0", "x1", "x2", "x3"])
    fit = fit_cfa({"f": ["x1", "x0", "x2", "x3"]}, data, "single group", None, "toy")
    (group,) = fit.admissibility
    assert fit.chisq == pytest.approx(0, abs=1e-6)
    assert not fit.admissible and group.latent_positive_definite
    assert group.heywood_items == ("x0",)
    assert group.smallest_residual_variance == pytest.approx(1 - 1.13**2, rel=1e-5)
    assert "Heywood" in fit.problems()[0]


def test_invariance_levels_are_nested():
    assert INVARIANCE == ("configural", "metric", "scalar")
    dfs = [c["df"] for c in REFERENCE["fits"] if c["level"] in INVARIANCE]
    assert dfs == sorted(dfs)


def test_too_few_complete_cases_is_refused():
    with pytest.raises(CFAError, match="no more complete cases than items"):
        fit_cfa(MODELS["one factor"], ITEMS.head(20), "single group", None, "one factor")
