"""Recompute every case of ``fixtures/r_reference.json`` with the engine, beside R's numbers.

Shared by the tests and runnable on its own to print the largest relative difference from R per
estimator (the table in ``docs/survey_engine.md``)::

    PYTHONPATH=. .venv/bin/python tests/survey/survey_r_cases.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.survey import (
    SurveyDesign,
    domain_difference,
    p_adjust_bh,
    svyby_mean,
    svychisq,
    svyciprop,
    svymean,
    svyolr,
    svytotal,
)
from pipeline.survey.design import PreparedDesign

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = FIXTURES / "r_reference.json"
RTOL = 1e-6

# The designs make_fixtures.R declares, key for key.
DESIGNS: dict[str, tuple[str, SurveyDesign]] = {
    "coord_strat": ("coordinators", SurveyDesign(strata="authority_type", fpc="N_h")),
    "coord_unw": ("coordinators", SurveyDesign()),
    "part_clus": (
        "partners",
        SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type", fpc="N_h"),
    ),
    "part_unw": ("partners", SurveyDesign(cluster="lsp_id")),
    # The study's analytic partner design (pipeline/study/designs.py): PSUs with replacement, no fpc.
    "part_wr": ("partners", SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type")),
    # The study's descriptive partner design: two stages, LSPs without replacement.
    "part_2stage": (
        "partners",
        SurveyDesign(
            weights="w",
            cluster="lsp_id",
            subcluster="respondent_id",
            strata="authority_type",
            fpc="N_h",
            lonely_psu="adjust",
        ),
    ),
}
for _rule in ("adjust", "average", "certainty", "remove", "fail"):
    DESIGNS[f"lonely_{_rule}"] = (
        "lonely",
        SurveyDesign(weights="w", cluster="psu", strata="stratum", fpc="N_h", lonely_psu=_rule),
    )


def r_number(x: Any) -> float:
    """Decode the JSON's numbers, where R's non-finite values are strings."""
    if isinstance(x, str):
        return {"Inf": np.inf, "-Inf": -np.inf, "NaN": np.nan, "NA": np.nan}[x]
    return float(x)


def r_vector(x: Any) -> np.ndarray:
    """Decode a number or list of numbers (jsonlite unboxes length-one vectors)."""
    items = x if isinstance(x, list) else [x]
    return np.array([r_number(v) for v in items])


def as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


@cache
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


@cache
def dataset(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}.csv")


@cache
def prepared(key: str) -> PreparedDesign:
    name, design = DESIGNS[key]
    return design.prepare(dataset(name))


def cases(*kinds: str) -> list[dict[str, Any]]:
    return [c for c in reference()["cases"] if c["kind"] in kinds]


def case_id(case: dict[str, Any]) -> str:
    keys = (
        "design",
        "var",
        "by",
        "level",
        "row",
        "col",
        "a",
        "b",
        "response",
        "predictors",
        "control",
        "conf_level",
    )
    parts = [str(case["kind"])]
    for k in keys:
        if case.get(k) is not None:
            v = case[k]
            parts.append("+".join(map(str, v)) if isinstance(v, list) else str(v))
    return "-".join(parts)


def _domain(design: PreparedDesign, case: dict[str, Any]) -> np.ndarray | None:
    if case.get("by") is None or case.get("level") is None:
        return None
    return (design.data[case["by"]] == case["level"]).to_numpy()


Pairs = dict[str, tuple[np.ndarray, np.ndarray]]


def _mean(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    dom = _domain(d, case)
    m = svymean(d, case["var"], domain=dom)
    mr = svymean(d, case["var"], domain=dom, deff="replace")
    return {
        "estimate": (m.estimate, case["estimate"]),
        "se": (m.se, case["se"]),
        "deff": (m.deff, case["deff"]),
        "deff_replace": (mr.deff, case["deff_replace"]),
        "n": (m.n, case["n"]),
    }


def _total(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    t = svytotal(d, case["var"], domain=_domain(d, case))
    return {"estimate": (t.estimate, case["estimate"]), "se": (t.se, case["se"])}


def _by_cov(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    res = svyby_mean(d, case["var"], case["by"])
    levels = as_list(case["levels"])
    k = len(levels)
    cov = res.cov.loc[levels, levels].to_numpy()
    return {
        "estimate": (res.table.loc[levels, "estimate"].to_numpy(), case["estimate"]),
        # R's vcov is column-major in the JSON.
        "cov": (cov.T.ravel(), case["cov"]) if k > 1 else (cov.ravel(), case["cov"]),
    }


def _ciprop(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    ci = svyciprop(d, case["var"], domain=_domain(d, case), level=case["conf_level"])
    return {
        "estimate": (ci.estimate, case["estimate"]),
        "se": (ci.se, case["se"]),
        "ci_low": (ci.ci_low, case["ci_low"]),
        "ci_high": (ci.ci_high, case["ci_high"]),
        "df": (ci.df, case["df"]),
    }


def _ciprop_svyby(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    rows = [
        svyciprop(d, case["var"], domain=(d.data[case["by"]] == lev).to_numpy(), level=case["conf_level"])
        for lev in as_list(case["levels"])
    ]
    return {
        "estimate": (np.array([r.estimate for r in rows]), case["estimate"]),
        "ci_low": (np.array([r.ci_low for r in rows]), case["ci_low"]),
        "ci_high": (np.array([r.ci_high for r in rows]), case["ci_high"]),
    }


def _chisq(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    t = svychisq(d, case["row"], case["col"], domain=_domain(d, case))
    return {
        "f": (t.f, case["f"]),
        "ndf": (t.ndf, case["ndf"]),
        "ddf": (t.ddf, case["ddf"]),
        "p_f": (t.p_f, case["p_f"]),
        "pearson": (t.pearson, case["pearson"]),
        "df_chisq": (t.df_chisq, case["df_chisq"]),
        "p_chisq": (t.p_chisq, case["p_chisq"]),
    }


def _diff(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    r = domain_difference(d, case["var"], case["by"], case["a"], case["b"])
    return {
        "estimate": (r.estimate, case["estimate"]),
        "se": (r.se, case["se"]),
        "ci_low": (r.ci_low, case["ci_low"]),
        "ci_high": (r.ci_high, case["ci_high"]),
        "t": (r.t, case["t"]),
        "t_df": (r.t_df, case["t_df"]),
        "p_t": (r.p_t, case["p_t"]),
    }


def _olr(case: dict[str, Any]) -> Pairs:
    d = prepared(case["design"])
    fit = svyolr(d, case["response"], as_list(case["predictors"]))
    names = as_list(case["names"])
    coef = pd.concat([fit.coefficients, fit.zeta])
    return {
        "coef": (coef.loc[names].to_numpy(), case["coef"]),
        "se": (fit.se.loc[names].to_numpy(), case["se"]),
        "deviance": (fit.deviance, case["deviance"]),
        "df_residual": (fit.df_residual, case["df_residual"]),
    }


def _bh(case: dict[str, Any]) -> Pairs:
    return {"adjusted": (p_adjust_bh(r_vector(case["p"])), case["adjusted"])}


COMPUTE: dict[str, Callable[[dict[str, Any]], Pairs]] = {
    "mean": _mean,
    "total": _total,
    "by_cov": _by_cov,
    "ciprop": _ciprop,
    "ciprop_svyby": _ciprop_svyby,
    "chisq": _chisq,
    "diff": _diff,
    "olr": _olr,
    "bh": _bh,
}


def compare(case: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return ``{quantity: (engine values, R values)}`` as float arrays for one case."""
    pairs = COMPUTE[case["kind"]](case)
    return {
        k: (np.atleast_1d(np.asarray(ours, dtype=float)), r_vector(theirs))
        for k, (ours, theirs) in pairs.items()
    }


def relative_difference(ours: np.ndarray, theirs: np.ndarray, floor: float = 0.0) -> float:
    """Largest ``|ours - R| / max(|R|, floor)`` over finite pairs (absolute where both are 0)."""
    both = np.isfinite(ours) & np.isfinite(theirs)
    if not both.any():
        return 0.0
    diff = np.abs(ours[both] - theirs[both])
    scale = np.maximum(np.abs(theirs[both]), floor)
    return float(np.max(np.where(scale > 0, diff / np.where(scale > 0, scale, 1), diff)))


def table_of_differences(control: str = "tight") -> pd.DataFrame:
    """Largest relative and absolute difference from R per estimator and quantity.

    Covariance entries use the floor the tests use (1e-12 of the matrix's largest entry), so
    R's rounding noise around exact zeros does not count as a relative difference.
    """
    rows = []
    for case in reference()["cases"]:
        if case["kind"] not in COMPUTE or case.get("control", control) != control:
            continue
        for quantity, (ours, theirs) in compare(case).items():
            floor = 1e-12 * float(np.nanmax(np.abs(theirs))) if quantity == "cov" else 0.0
            both = np.isfinite(ours) & np.isfinite(theirs)
            rows.append(
                {
                    "kind": case["kind"],
                    "quantity": quantity,
                    "max_rel_diff": relative_difference(ours, theirs, floor),
                    "max_abs_diff": float(np.max(np.abs(ours[both] - theirs[both]), initial=0.0)),
                }
            )
    out = pd.DataFrame(rows).groupby(["kind", "quantity"], sort=False)
    return out.agg(
        max_rel_diff=("max_rel_diff", "max"),
        max_abs_diff=("max_abs_diff", "max"),
        cases=("max_rel_diff", "size"),
    ).reset_index()


if __name__ == "__main__":
    pd.set_option("display.width", 120)
    print(table_of_differences().to_string(index=False))
    olr_default = table_of_differences("default")
    print("\nsvyolr against R's default optimiser tolerance:")
    print(olr_default[olr_default["kind"] == "olr"].to_string(index=False))
