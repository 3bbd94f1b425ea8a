"""svyglm, svyolr with covariates and interactions, and Wald tests against R (fixtures/r_models.json).

The fixture is written by tests/survey/r/make_model_fixtures.R; the tests never run R.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
import survey_r_cases as rc

from pipeline.survey import SurveyDesign, SurveyDesignError
from pipeline.survey import olr as olr_module
from pipeline.survey.glm import svyglm, term_test, wald_test
from pipeline.survey.olr import svyolr

REFERENCE = rc.FIXTURES / "r_models.json"
TOL = 1e-6


@cache
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


def coordinators_with_weights() -> pd.DataFrame:
    d = rc.dataset("coordinators")
    return d.assign(w=d["N_h"] / d.groupby("authority_type")["lsp_id"].transform("size"))


@cache
def design(key: str):
    if key == "coord_strat":
        return rc.prepared("coord_strat")
    if key == "coord_analytic":
        return SurveyDesign(weights="w", strata="authority_type").prepare(coordinators_with_weights())
    return rc.prepared(key)


def cases(kind: str) -> list[dict[str, Any]]:
    return [c for c in reference()["cases"] if c["kind"] == kind]


def case_id(case: dict[str, Any]) -> str:
    return "-".join([case["design"], case.get("family", "olr"), case["response"], "+".join(case["terms"])])


def close(ours, theirs, tol: float = TOL) -> None:
    np.testing.assert_allclose(np.asarray(ours, dtype=float), rc.r_vector(theirs), rtol=tol, atol=1e-10)


def test_fixture_is_from_the_committed_csvs():
    for name, digest in reference()["meta"]["csv_md5"].items():
        assert hashlib.md5((rc.FIXTURES / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("case", cases("svyglm"), ids=case_id)
def test_svyglm_matches_r(case):
    fit = svyglm(design(case["design"]), case["response"], case["terms"], family=case["family"])
    names = rc.as_list(case["names"])
    assert list(fit.coefficients.index) == names
    close(fit.coefficients, case["coef"])
    close(fit.se, case["se"])
    # R's vcov is column-major in the JSON; it is symmetric, so order does not matter.
    close(fit.vcov.to_numpy().ravel(), case["vcov"])
    ci = fit.confint()
    close(ci["ci_low"], case["ci_low"])
    close(ci["ci_high"], case["ci_high"])
    close(fit.p_values(), case["p"])
    assert fit.df_residual == rc.r_number(case["df_residual"])
    assert fit.n == case["n"]
    for test in case["tests"]:
        wt = term_test(fit, test["term"])
        close(wt.statistic, test["f"])
        assert wt.ndf == test["ndf"] and wt.ddf == test["ddf"]
        close(wt.p, test["p"])


@pytest.mark.parametrize("case", cases("svyolr"), ids=case_id)
def test_svyolr_with_covariates_matches_r(case):
    fit = svyolr(design(case["design"]), case["response"], case["terms"])
    names = rc.as_list(case["names"])
    coef = pd.concat([fit.coefficients, fit.zeta])
    assert list(coef.index) == names
    # Within 1e-6 relative to each coefficient, or to the largest one for a coefficient near
    # zero: R's BFGS stops with gradients near 3e-6 (see the next test), the engine's Newton
    # at rounding level, and a coefficient of 0.078 then differs by 1e-7.
    r_coef = rc.r_vector(case["coef"])
    np.testing.assert_allclose(coef.to_numpy(), r_coef, rtol=TOL, atol=TOL * np.max(np.abs(r_coef)))
    close(fit.se.loc[names], case["se"])
    close(fit.deviance, case["deviance"])
    assert fit.df_residual == case["df_residual"]
    for test in case["tests"]:
        wt = wald_test(fit.coefficients, fit.vcov, fit.terms[test["term"]], fit.df_residual)
        close(wt.statistic, test["f"])
        assert wt.ndf == test["ndf"] and wt.ddf == test["ddf"]
        close(wt.p, test["p"])


def test_where_svyolr_differs_most_from_r_r_is_the_less_converged():
    (case,) = [c for c in cases("svyolr") if c["design"] == "part_wr" and "tier:role" in c["terms"]]
    d = design("part_wr")
    fit = svyolr(d, case["response"], case["terms"])
    present = d.data[case["response"]].notna().to_numpy()
    x, _ = olr_module._model_matrix(d.data.loc[present], case["terms"])
    y = d.data.loc[present, case["response"]].to_numpy().astype(int)
    problem = olr_module._Problem(x=x, y=y, w=d.weights[present], q=4)
    r = rc.r_vector(case["coef"])
    pc = x.shape[1]
    grad_r = np.abs(problem.value_and_grad(r[:pc], r[pc:])[1]).max()
    grad_ours = np.abs(problem.value_and_grad(fit.coefficients.to_numpy(), fit.zeta.to_numpy())[1]).max()
    assert grad_ours < 1e-8 < grad_r
    assert problem.nll_zeta(fit.coefficients.to_numpy(), fit.zeta.to_numpy()) <= problem.nll_zeta(
        r[:pc], r[pc:]
    )


def test_every_design_and_family_is_covered():
    seen = {(c["design"], c.get("family", "olr")) for c in reference()["cases"]}
    for key in ("coord_strat", "coord_analytic", "part_wr"):
        for family in ("gaussian", "quasibinomial", "olr"):
            assert (key, family) in seen
    assert any(":" in t for c in reference()["cases"] for t in c["terms"])


def test_dropping_the_fpc_widens_only_the_standard_errors():
    strat = svyglm(design("coord_strat"), "score", ["tier", "region"])
    analytic = svyglm(design("coord_analytic"), "score", ["tier", "region"])
    pd.testing.assert_series_equal(strat.coefficients, analytic.coefficients, rtol=1e-10)
    assert (analytic.se > strat.se * 1.05).all()


def test_warm_start_reaches_the_same_fit():
    d = design("part_wr")
    cold = svyolr(d, "item_ord", ["tier", "role", "region"])
    other = svyolr(d, "item_ord", ["tier", "role", "region"], domain=(d.data["region"] != "north").to_numpy())
    warm = svyolr(d, "item_ord", ["tier", "role", "region"], start=other)
    np.testing.assert_allclose(warm.coefficients, cold.coefficients, rtol=1e-10)
    np.testing.assert_allclose(warm.se, cold.se, rtol=1e-9)


def test_gaussian_svyglm_is_weighted_least_squares():
    d = design("coord_strat")
    fit = svyglm(d, "score", ["tier"])
    frame = d.data
    single = frame["tier"] == "single_tier"
    w = d.weights
    mean_single = np.average(frame.loc[single, "score"], weights=w[single])
    mean_two = np.average(frame.loc[~single, "score"], weights=w[~single])
    np.testing.assert_allclose(fit.coefficients["(Intercept)"], mean_single, rtol=1e-12)
    np.testing.assert_allclose(fit.coefficients["tiertwo_tier"], mean_two - mean_single, rtol=1e-12)


def test_misuse_is_refused():
    d = design("coord_strat")
    with pytest.raises(SurveyDesignError, match="main effect"):
        svyglm(d, "score", ["tier:region"])
    with pytest.raises(SurveyDesignError, match=r"\[0, 1\]"):
        svyglm(d, "score", ["tier"], family="quasibinomial")
    with pytest.raises(SurveyDesignError, match="family"):
        svyglm(d, "score", ["tier"], family="poisson")
    with pytest.raises(SurveyDesignError, match="rank-deficient"):
        svyglm(d.design.prepare(d.data.assign(t2=d.data["tier"])), "score", ["tier", "t2"])
    fit = svyglm(d, "score", ["tier"])
    with pytest.raises(SurveyDesignError, match="not in the model"):
        term_test(fit, "region")


@pytest.mark.parametrize("family", ["gaussian", "quasibinomial", "ordinal"])
def test_the_df_adjustment_scales_the_covariance_by_design_df_over_residual_df(family):
    d = design("coord_analytic")
    terms = ["tier", "region"]
    if family == "ordinal":
        as_r, adjusted = (svyolr(d, "item_ord", terms, df_adjust=a) for a in (False, True))
    else:
        response = "score" if family == "gaussian" else "item_bin"
        as_r, adjusted = (svyglm(d, response, terms, family=family, df_adjust=a) for a in (False, True))
    present = np.any(as_r.influence != 0, axis=1)
    factor = d.degf(present) / as_r.df_residual
    # Region has three levels and tier two: every fit spends its coefficients from the same PSUs.
    assert factor > 1 and adjusted.df_residual == as_r.df_residual
    np.testing.assert_array_equal(adjusted.coefficients, as_r.coefficients)
    np.testing.assert_allclose(adjusted.vcov.to_numpy(), factor * as_r.vcov.to_numpy(), rtol=1e-12)
    # Tests built from the influence values (the stacked joint test) see the same covariance.
    np.testing.assert_allclose(
        d.variance(adjusted.influence, present), adjusted.vcov.to_numpy(), rtol=1e-12, atol=1e-15
    )


def test_the_df_adjustment_refuses_a_fit_with_no_residual_df():
    few = coordinators_with_weights().groupby("authority_type").head(3).reset_index(drop=True)
    noise = np.random.default_rng(4).standard_normal((len(few), 10))
    few = few.assign(**{f"x{j}": noise[:, j] for j in range(10)})
    d = SurveyDesign(weights="w", strata="authority_type").prepare(few)
    # 15 PSUs in 5 strata: 10 design df; an intercept and 10 slopes leave none for the residuals.
    terms = [f"x{j}" for j in range(10)]
    assert svyglm(d, "score", terms).df_residual == 0
    with pytest.raises(SurveyDesignError, match="too many coefficients"):
        svyglm(d, "score", terms, df_adjust=True)
