"""The analysis tables as sheets a reader can use: labels not codes, one unit per column or a unit column.

The analysis CSVs keep codes and proportions for machines. Their sheets show every code by its name (an
item by its question, an element by its 7S name, a category share by the category, a frame level in
words: ``pipeline.study.names``), drop the columns that only repeat a label as a code (``item`` beside
``item_label``) or identify a record (``published_id``, ``quantity_key``), and put every number in a unit
the header names: where one column mixes units (an estimate that is a percentage on one row and a mean
score on the next) a "Unit" column says which, and proportions become percentages, as the report shows
them. Full precision is kept: these sheets are for reuse.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.core.weighting_spec import METHOD_LABELS
from pipeline.study import display
from pipeline.study.names import level_words, merged_in_words, words

# Columns that repeat a label beside it as a code, or identify a record rather than describe it.
CODE_TWINS = {"item": "item_label", "outcome": "outcome_label", "element": "element_label"}
IDENTIFIERS = ("published_id", "quantity_key")
# The estimate's columns scaled with it when a row's estimate is a proportion.
ESTIMATE_COLUMNS = ("estimate", "se", "ci_low", "ci_high")
# Measures in words (a category share is named by its category, from the codebook).
MEASURES = {
    "agree": "Agree (agree or strongly agree)",
    "dont_know": "Don't know",
    "mean": "Mean score",
    "positive": "Scale positive (mean score 3.5 or more)",
    "selected": "Selected",
    "yes": "Yes",
    "value": "Value",
}
LEVELS = {"single": "Single-tier", "multi": "Multi-tier", "all": "All"}
# Weightings by what they do (the report's words for them), not their config names.
WEIGHTINGS = {
    **{method: words(label[:1].upper() + label[1:]) for method, label in METHOD_LABELS.items()},
    "weighted": "Weighted (primary weighting)",
}
# Columns whose values are proportions, shown as percentages, by table (the header gains its unit).
PERCENT_COLUMNS = {
    "power": {"p_baseline": "Baseline proportion (%)", "power": "Power (%)"},
}
POINT_COLUMNS = {
    "power": {"minimum_detectable_difference": "Minimum detectable difference (percentage points)"},
}
# Headers (with their units) where the column's own name says too little.
HEADERS = {
    "nonresponse_frame_comparison": {
        "frame_lsps": "LSPs in the frame",
        "responding_lsps": "LSPs responding",
        "response_rate": "Response rate (%)",
        "frame_pct": "Share of the frame (%)",
        "respondent_pct": "Share of respondents, unweighted (%)",
        "weighted_pct": "Share of respondents, weighted (%)",
    },
    "published_vs_reproduced": {
        "estimate": "Our estimate",
        "ci_low": "Our estimate, 95% CI lower",
        "ci_high": "Our estimate, 95% CI upper",
        "unweighted_estimate": "Our unweighted estimate",
        "difference": "Difference from published",
        "variable": "Question",
    },
    "weighting_sensitivity": {
        "item": "Scale",
        "estimate": "Estimate (1 to 5 scale points)",
        "change_from_type_only": "Change from type-only weights (1 to 5 scale points)",
        "primary": "Primary weighting",
    },
    "weighting_se_ratios": {
        "item": "Scale",
        "estimate": "Mean score (1 to 5)",
        "se_linearised": "Standard error, linearised",
        "se_jkn": "Standard error, JKn jackknife",
        "ratio_jkn": "JKn over linearised standard error",
        "replicates_jkn": "JKn replicates",
        "se_bootstrap": "Standard error, bootstrap",
        "ratio_bootstrap": "Bootstrap over linearised standard error",
        "replicates_bootstrap": "Bootstrap replicates",
    },
    "primary_tests": {"estimate": "Adjusted difference (1 to 5 scale points)"},
    "primary_tests_by_weighting": {
        "estimate": "Difference (1 to 5 scale points)",
        "primary": "Primary weighting",
    },
    "partner_imputation": {"estimate": "Adjusted difference (1 to 5 scale points)"},
    "models": {"scale": "Unit of the estimate"},
    "model_tests": {"scale": "Unit of the estimate"},
    "nonresponse_propensity": {
        "term": "Term",
        "odds_ratio": "Odds ratio",
        "or_ci_low": "Odds ratio, 95% CI lower",
        "or_ci_high": "Odds ratio, 95% CI upper",
        "estimate": "Log odds",
    },
    "weight_diagnostics": {
        "population": "Respondents",
        "units": "Units (LSPs)",
        "weight_total": "Sum of the weights",
        "weight_min": "Smallest weight",
        "weight_max": "Largest weight",
        "weight_ratio": "Largest over smallest weight",
        "weight_cv": "Coefficient of variation of the weights",
        "kish_deff": "Kish design effect",
        "g_min": "Smallest g-weight",
        "g_max": "Largest g-weight",
        "trimmed": "Weights trimmed",
        "iterations": "Iterations",
        "converged": "Converged",
        "merged_cells": "Sparse cells merged",
        "primary": "Primary weighting",
    },
}
_IDENTIFIER_ONLY = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)+$")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def text_in_words(value: Any) -> Any:
    """Any text cell for a reader: a bare code as its words, codes inside a sentence as words."""
    if not isinstance(value, str):
        return value
    return _text_in_words(value)


# The analysis sheets repeat a few thousand distinct texts in some 60,000 cells: each is put in words once.
@functools.cache
def _text_in_words(value: str) -> str:
    if _IDENTIFIER_ONLY.match(value):
        return _capital(level_words(value))
    if " | " in value:  # an FDR family: its parts, each in words
        return ", ".join(text_in_words(part.strip()) for part in value.split("|") if part.strip())
    if "=" in value and _IDENTIFIER_ONLY.match(value.split("=")[0]):  # a model term: variable=level
        variable, level = value.split("=", 1)
        return f"{_capital(level_words(variable))}: {level_words(level)}"
    for code, name in display.INSTRUMENT_NAMES.items():
        value = value.replace(f"{code}: ", f"{name}: ")
    return words(value)


class Labels:
    """Names for the analysis tables' codes, from the codebook and the tables' own label columns."""

    def __init__(self, codebook: Codebook, tables: dict[str, pd.DataFrame]) -> None:
        self.codebook = codebook
        self.items: dict[str, str] = {v.name: v.label for v in codebook.variables}
        for table in tables.values():
            for code, label in (("item", "item_label"), ("outcome", "outcome_label")):
                if {code, label} <= set(table.columns):
                    pairs = table[[code, label]].dropna().drop_duplicates()
                    self.items.update(zip(pairs[code].astype(str), pairs[label].astype(str), strict=True))

    def item(self, code: Any) -> Any:
        return self.items.get(str(code), text_in_words(code)) if isinstance(code, str) else code

    def item_list(self, codes: Any) -> Any:
        """A space-separated list of variables as their labels, separated by semicolons."""
        if not isinstance(codes, str):
            return codes
        return "; ".join(self.item(code) for code in codes.split())

    def measure(self, measure: Any, item: Any) -> Any:
        text = str(measure)
        if text.startswith("share:"):
            code = int(text.split(":")[1])
            variable = self.codebook.by_name.get(str(item))
            category = variable.codes.get(code) if variable else None
            return f"Share answering: {category}" if category else f"Share answering category {code}"
        return MEASURES.get(text, text_in_words(measure))


def percentage(proportions: pd.Series) -> pd.Series:
    """Proportions as percentages, without the binary noise of the multiplication (0.0873015460 * 100
    is 8.730154599999999): 12 significant digits, more than any estimate here carries."""
    return (proportions * 100).map(lambda v: float(f"{v:.12g}"), na_action="ignore")


def _estimate_units(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Proportion rows of a table with a ``measure`` column as percentages, with a unit column."""
    proportion = table["measure"].map(display.is_proportion_measure)
    difference = name in ("comparisons", "maturity_sensitivity")
    scaled = table.copy()
    for column in (c for c in ESTIMATE_COLUMNS if c in scaled):
        scaled[column] = scaled[column].where(~proportion, percentage(scaled[column]))
    mean = table["measure"].eq("mean") | table["item"].astype(str).str.startswith("scale_")
    if difference:
        unit = proportion.map({True: "percentage points", False: "difference in mean score (1 to 5)"})
    else:
        unit = pd.Series("value (as the question asks)", index=table.index).where(
            ~mean, "mean score (1 to 5)"
        )
        unit = unit.where(~proportion, "percentage")
    scaled.insert(list(scaled.columns).index("measure") + 1, "unit", unit)
    return scaled


def merged_cells_text(cells: Any, min_cell: int) -> str:
    """The weighting's merged cells in words, a count under ``min_cell`` never shown."""

    def protect(match: re.Match) -> str:
        return (
            match[0]
            if int(match[1]) >= min_cell
            else f"(fewer than {min_cell}{' respondents' if match[2] else ''})"
        )

    return "; ".join(re.sub(r"\((\d+)( respondents?)?\)", protect, cell) for cell in merged_in_words(cells))


def analysis_sheet(
    name: str, table: pd.DataFrame, labels: Labels, min_cell: int
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table with codes as names and units in place, and the headers the sheet gives its columns."""
    shown = table.copy()
    headers = dict(HEADERS.get(name, {}))
    if (
        "measure" in shown
        and "estimate" in shown
        and name in ("estimates", "comparisons", "maturity_sensitivity")
    ):
        shown = _estimate_units(shown, name)
        headers["unit"] = "Unit of the estimate, its standard error and interval"
    if name == "published_vs_reproduced":
        # Published values are percentages; "only a direction" rows compare a difference, in points.
        direction = shown["value_basis"].eq("direction")
        unit = (
            pd.Series("percentage", index=shown.index)
            .where(~direction, "percentage points")
            .where(shown["estimate"].notna())
        )
        shown.insert(list(shown.columns).index("estimate"), "unit", unit)
        headers["unit"] = "Unit of our estimate and its difference"
    for column, header in PERCENT_COLUMNS.get(name, {}).items():
        shown[column] = percentage(shown[column])
        headers[column] = header
    for column, header in POINT_COLUMNS.get(name, {}).items():
        shown[column] = percentage(shown[column])
        headers[column] = header
    if "measure" in shown:
        items = shown["item"] if "item" in shown else pd.Series(None, index=shown.index)
        shown["measure"] = [labels.measure(m, i) for m, i in zip(shown["measure"], items, strict=True)]
    for code, label in CODE_TWINS.items():
        if code in shown and label in shown:
            shown = shown.drop(columns=code)
    shown = shown.drop(columns=[c for c in IDENTIFIERS if c in shown])
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if column in ("instrument", "population"):
            shown[column] = values.map(display.instrument_name, na_action="ignore")
        elif column in ("item", "outcome", "variable"):
            shown[column] = values.map(labels.item, na_action="ignore")
        elif column == "element":
            shown[column] = values.map(lambda e: labels.codebook.elements.get(str(e), e), na_action="ignore")
        elif column in ("items", "reversed_items"):
            shown[column] = values.map(labels.item_list, na_action="ignore")
        elif column == "merged_cells":
            shown[column] = values.map(lambda m: merged_cells_text(m, min_cell), na_action="ignore")
        elif column == "weighting":
            shown[column] = values.map(lambda v: WEIGHTINGS.get(str(v), text_in_words(v)), na_action="ignore")
        elif column == "group":
            shown[column] = values.map(lambda v: _capital(level_words(v)), na_action="ignore")
        elif column == "level":
            shown[column] = values.map(lambda v: LEVELS.get(str(v), text_in_words(v)), na_action="ignore")
        else:
            shown[column] = values.map(text_in_words, na_action="ignore")
    if "element" in shown:
        headers.setdefault("element", "7S element")
    return shown, headers
