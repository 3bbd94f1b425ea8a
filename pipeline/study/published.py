"""Every number the report published from the survey, beside our estimate of the same quantity.

The mapping from a published number to a quantity of our data (instrument, codebook variable, the codes
counted, the domain) is declared once, in data/raw/published_targets.yaml; the synthetic generator is
calibrated to the same file. Entries the data cannot reproduce keep their reason, so the table lists every
entry of published_figures.json.

Our estimate is the design-weighted proportion with its logit interval; the unweighted share of
respondents (closer to what the report appears to have computed) is shown beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.study import targets
from pipeline.study.designs import StudyDesigns
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.survey import SurveyDesignError, svyciprop

COLUMNS = [
    "data",
    "published_id",
    "quantity_key",
    "quantity",
    "instrument",
    "variable",
    "published",
    "published_value",
    "value_basis",
    "bounds",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "unweighted_estimate",
    "difference",
    "published_in_ci",
    "status",
    "reason",
]


def load_targets(path: Path) -> list[dict[str, Any]]:
    """The published-figure entries with their quantities (or the reason there is none), as the one reader
    of the targets file (`pipeline.study.targets`) checked them."""
    return list(targets.load_targets(path).figures)


def quantity_domain(
    data: pd.DataFrame, quantity: dict[str, Any], codebook: Codebook
) -> tuple[pd.Series, pd.Series]:
    """The domain (rows counted in the base) and the 0/1 event indicator of one published quantity."""
    variable = codebook[quantity["variable"]]
    codes = data[variable.name].astype("Float64")
    domain = data["respondent_type"].eq(quantity["instrument"])
    if quantity.get("authority_types"):
        domain &= data["authority_type"].isin(quantity["authority_types"])
    if quantity.get("condition"):
        name, _, value = str(quantity["condition"]).partition("==")
        domain &= data[name.strip()].astype("Float64").eq(int(value))
    substantive = codes.isin(list(variable.codes))
    event = codes.isin(list(quantity["event"])).astype("Float64").where(substantive)
    return domain.fillna(False).astype(bool), event


def _published_number(quantity: dict[str, Any]) -> float | None:
    """The published percentage, when the report gives a number (not wording, not an assumption)."""
    value = quantity.get("value")
    if quantity.get("value_basis") == "published" and isinstance(value, int | float):
        return float(value)
    return None


def _direction_row(
    published_id: str,
    quantity: dict[str, Any],
    comparisons: pd.DataFrame,
    codebook: Codebook,
    respondents: int,
) -> dict[str, Any]:
    """A published direction with no number: the mean weighted difference over favourably worded items.

    The group compared is named in the quantity's key (tier or maturity). ``respondents``: the distinct
    respondents of both instruments behind the differences (summing each difference's n would count every
    respondent once per item).
    """
    group = "tier" if "tier" in quantity["key"] else "maturity"
    favourable = {
        v.name for v in codebook.likert_items() if not v.reverse and set(v.instruments) > {"partner"}
    }
    differences = comparisons[
        (comparisons["group"] == group)
        & (comparisons["weighting"] == "weighted")
        & (comparisons["test"] == "difference (design-based t)")
        & (comparisons["measure"] == "agree")
        & comparisons["item"].isin(favourable)
        & comparisons["instrument"].isin(list(INSTRUMENTS))
    ]
    estimate = 100 * float(differences["estimate"].mean())
    low, high = quantity.get("bounds") or (-100, 100)
    return {
        "published_id": published_id,
        "quantity_key": quantity["key"],
        "quantity": " ".join(str(quantity["quantity"]).split()),
        "instrument": "both",
        "published": quantity["published"],
        "value_basis": "direction",
        "bounds": f"{low}-{high}",
        "n": respondents,
        "estimate": estimate,
        "published_in_ci": bool(low <= estimate <= high),
        "status": "compared",
        "reason": f"only a direction was published: mean of {len(differences)} {group} differences in "
        "comparisons.csv (both instruments, favourably worded items); the sign is compared",
    }


def published_vs_reproduced(
    targets: list[dict[str, Any]],
    designs: dict[str, StudyDesigns],
    codebook: Codebook,
    synthetic: bool,
    min_cell: int,
    comparisons: pd.DataFrame,
) -> pd.DataFrame:
    """One row per published quantity (or per entry the data cannot reproduce), estimated in the design
    of the quantity's instrument, by weighting ("weighted" and "unweighted" keys of ``designs``)."""
    rows = []
    for entry in targets:
        if entry.get("status") != "target":
            rows.append(
                {
                    "published_id": entry["id"],
                    "status": entry.get("status", "not a target"),
                    "reason": " ".join(str(entry.get("reason", "")).split()),
                }
            )
            continue
        for quantity in entry["quantities"]:
            if quantity.get("method") == "direction":
                respondents = sum(designs["weighted"][instrument].n for instrument in INSTRUMENTS)
                rows.append(_direction_row(entry["id"], quantity, comparisons, codebook, respondents))
                continue
            row = {
                "published_id": entry["id"],
                "quantity_key": quantity["key"],
                "quantity": " ".join(str(quantity["quantity"]).split()),
                "instrument": quantity["instrument"],
                "variable": quantity["variable"],
                "published": quantity["published"],
                "published_value": _published_number(quantity) or np.nan,
                "value_basis": quantity.get("value_basis"),
                "bounds": "" if not quantity.get("bounds") else "-".join(str(b) for b in quantity["bounds"]),
                "status": "compared",
                "reason": ""
                if _published_number(quantity) is not None
                else "the report gives wording, not a number: the estimate is checked against the wording's "
                "bounds",
            }
            estimates = {}
            for weighting, study_designs in designs.items():
                design = study_designs[quantity["instrument"]]
                domain, event = quantity_domain(design.data, quantity, codebook)
                values = event.to_numpy(dtype=float, na_value=np.nan)
                try:
                    estimates[weighting] = svyciprop(design, values, domain=domain.to_numpy())
                except SurveyDesignError:
                    estimates[weighting] = None
            weighted = estimates["weighted"]
            if weighted is None or weighted.n < min_cell:
                n = 0 if weighted is None else weighted.n
                row |= {
                    "status": "suppressed",
                    "reason": f"fewer than {min_cell} respondents in the domain ({n})",
                }
                rows.append(row)
                continue
            row |= {
                "n": weighted.n,
                "estimate": 100 * weighted.estimate,
                "ci_low": 100 * weighted.ci_low,
                "ci_high": 100 * weighted.ci_high,
                "unweighted_estimate": 100 * estimates["unweighted"].estimate,
            }
            if _published_number(quantity) is not None:
                row["difference"] = row["estimate"] - quantity["value"]
                row["published_in_ci"] = bool(row["ci_low"] <= quantity["value"] <= row["ci_high"])
            elif quantity.get("bounds"):
                low, high = quantity["bounds"]
                row["published_in_ci"] = bool(low <= row["estimate"] <= high)
            rows.append(row)
    table = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in table:
            table[column] = np.nan
    table["data"] = "SYNTHETIC" if synthetic else "survey"
    return table[COLUMNS]
