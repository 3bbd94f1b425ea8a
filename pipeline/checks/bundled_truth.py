"""The bundled synthetic survey's truth against its estimates: for every Likert item, the population's
tier and maturity differences (data/raw/synthetic_truth_2008.json) beside the weighted difference and 95%
CI of comparisons.csv. Part of the method validation (pipeline/checks/methods_validation.py), which also
takes its expected differences from `truth_differences`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.config import Config
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.study.vocabulary import INSTRUMENTS

log = logging.getLogger("pipeline.checks.methods_validation")

# (instrument, comparison). Partners' maturity is the maturity of their LSP as its coordinator reports
# it, so in a sample it is known only where that coordinator answered; it is validated all the same,
# because comparisons.csv reports it.
COMPARISONS = (
    ("coordinator", "tier"),
    ("coordinator", "maturity"),
    ("partner", "tier"),
    ("partner", "maturity"),
)
KEYS = ["instrument", "comparison", "item"]
DIFFERENCE_TEST = "difference (design-based t)"
# The truth file keys of each comparison: (breakdown, level a, level b), a minus b.
TRUTH_GROUPS = {
    "tier": ("by_tier", "multi", "single"),
    "maturity": ("by_maturity_development_stage", "more mature", "less mature"),
}


def truth_differences(truth: dict[str, Any], config: Config) -> pd.DataFrame:
    """The generator's population differences per Likert item (from synthetic_truth_2008.json).

    The truth file's maturity groups are the development-stage definition; under another primary
    definition comparisons.csv splits differently, so maturity is then left out.
    """
    rows = []
    population = truth["population_likert_agree"]
    for instrument, comparison in COMPARISONS:
        if comparison == "maturity" and config.maturity_primary != "development_stage":
            continue
        breakdown, a, b = TRUTH_GROUPS[comparison]
        for item, values in population[instrument].items():
            groups = values[breakdown]
            if a in groups and b in groups:
                rows.append(
                    {
                        "instrument": instrument,
                        "comparison": comparison,
                        "item": item,
                        "truth": groups[a] - groups[b],
                    }
                )
    return pd.DataFrame(rows, columns=[*KEYS, "truth"])


def truth_vs_estimate(truth: dict[str, Any], comparisons: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Each item's true population difference beside the analysis's weighted estimate and 95% CI, in
    percentage points, and whether the CI holds the truth (NaN where the estimate is suppressed)."""
    chosen = comparisons[
        comparisons["weighting"].eq("weighted")
        & comparisons["test"].eq(DIFFERENCE_TEST)
        & comparisons["measure"].eq("agree")
        & comparisons["instrument"].isin(INSTRUMENTS)
        & comparisons["group"].isin(list(TRUTH_GROUPS))
    ].rename(columns={"group": "comparison"})
    estimates = chosen[[*KEYS, "item_label", "estimate", "se", "ci_low", "ci_high", "n_a", "n_b"]]
    joined = truth_differences(truth, config).merge(estimates, on=KEYS, how="left", validate="one_to_one")
    present = joined["estimate"].notna()
    inside = (joined["ci_low"] <= joined["truth"]) & (joined["truth"] <= joined["ci_high"])
    table = pd.DataFrame(
        {
            "instrument": joined["instrument"],
            "comparison": joined["comparison"],
            "item": joined["item"],
            "item_label": joined["item_label"],
            "truth_pp": 100 * joined["truth"],
            "estimate_pp": 100 * joined["estimate"],
            "ci_low_pp": 100 * joined["ci_low"],
            "ci_high_pp": 100 * joined["ci_high"],
            "error_pp": 100 * (joined["estimate"] - joined["truth"]),
            "se_pp": 100 * joined["se"],
            "n_a": joined["n_a"],
            "n_b": joined["n_b"],
            "truth_in_ci": inside.astype("boolean").where(present),
        }
    )
    return table


def truth_vs_estimate_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per instrument and comparison (and overall): items, mean truth and estimate, CI coverage."""

    def measures(rows: pd.DataFrame) -> dict[str, float]:
        known = rows["truth_in_ci"].dropna().astype(bool)
        return {
            "n_items": len(rows),
            "n_estimated": len(known),
            "mean_truth_pp": float(rows["truth_pp"].mean()),
            "mean_estimate_pp": float(rows["estimate_pp"].mean()),
            "mean_error_pp": float(rows["error_pp"].mean()),
            "truth_in_ci": int(known.sum()),
            "coverage": float(known.mean()) if len(known) else float("nan"),
        }

    rows = [
        {"instrument": instrument, "comparison": comparison} | measures(group)
        for (instrument, comparison), group in table.groupby(["instrument", "comparison"], sort=False)
    ]
    rows.append({"instrument": "all", "comparison": "all"} | measures(table))
    return pd.DataFrame(rows)


def bundled_truth_vs_estimate(
    config: Config, truth_path: Path, comparisons_path: Path
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
    """The truth-vs-estimate table of the bundled survey, its summary and a note; None when impossible."""
    if not config.synthetic_data:
        return None, None, "The inputs are not the synthetic survey, so there is no truth to compare with."
    if not comparisons_path.exists():
        message = (
            f"{relative_to_root(comparisons_path)} is missing: run `{rebuild_command('analyse')}` first, "
            "then rerun this validation."
        )
        log.warning(message)
        return None, None, message
    if not truth_path.exists():
        message = f"{relative_to_root(truth_path)} is missing: run `{rebuild_command('synthetic')}`."
        log.warning(message)
        return None, None, message
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    if truth.get("seed") != config.synthetic_seed:
        log.warning("%s: seed %s, config says %s", truth_path.name, truth.get("seed"), config.synthetic_seed)
    table = truth_vs_estimate(truth, pd.read_csv(comparisons_path), config)
    note = (
        f"Truth: `{relative_to_root(truth_path)}` (seed {truth.get('seed')}), the population's proportion "
        "agreeing in expectation over the answering noise. Estimate: the weighted difference and 95% CI of "
        f'`{relative_to_root(comparisons_path)}` (test "{DIFFERENCE_TEST}", measure agree).'
    )
    if config.maturity_primary != "development_stage":
        note += " The truth file's maturity groups are development stages, so maturity is not compared."
    return table, truth_vs_estimate_summary(table), note
