"""Numbers and headers for people: how the report and the spreadsheets show the analysis tables.

The analysis tables keep full precision and snake_case names, for machines. Readers get percentages
with fixed decimals, intervals written "52% (46% to 58%)", differences in percentage points, p-values
that never print as 0, and headers in words. Every formatter returns "" for a missing value (a
suppressed or untested cell), never "nan" or "None".
"""

from __future__ import annotations

import math
from typing import Any

# A minus sign, not a hyphen, so negative numbers read (and are announced by screen readers) as numbers.
MINUS = "\u2212"
# What each analysis-table column means to a reader, in a few words. Columns missing here fall back to
# their name with underscores as spaces (a test lists every published column, so none is forgotten).
COLUMN_HEADERS: dict[str, str] = {
    "favourable_sign": "Favourable direction (+1: agreeing is favourable; -1: a reverse-worded item)",
    "inference": "Inference (descriptive: the LSPs of 2008 in the frame; analytic: partnerships in general)",
    "data": "Data",
    "instrument": "Respondents",
    "item": "Variable",
    "item_label": "Question",
    "element": "7S element code",
    "element_label": "7S element",
    "measure": "Measure",
    "group": "Breakdown",
    "level": "Group",
    "weighting": "Weighting",
    "n": "Respondents (n)",
    "estimate": "Estimate",
    "se": "Standard error",
    "ci_low": "95% CI lower",
    "ci_high": "95% CI upper",
    "deff": "Design effect",
    "test": "Test",
    "statistic": "Test statistic",
    "df": "Degrees of freedom",
    "df2": "Denominator degrees of freedom",
    "p": "p-value",
    "p_fdr": "p-value, FDR-adjusted",
    "fdr_family": "FDR family",
    "effect_name": "Effect size measure",
    "effect_size": "Effect size",
    "effect_ci_low": "Effect size 95% CI lower",
    "effect_ci_high": "Effect size 95% CI upper",
    "n_a": "n, first group",
    "n_b": "n, second group",
    "n_smaller_group": "n, smaller group",
    "suppressed": "Suppressed (reason)",
    "definition": "Maturity definition",
    "primary": "Primary definition",
    "same_direction_as_primary": "Same direction as primary",
    "significant_fdr": "Significant after FDR control",
    "p_baseline": "Baseline proportion",
    "alpha": "Significance level",
    "power": "Power",
    "minimum_detectable_difference": "Minimum detectable difference",
    "published_id": "Published item",
    "quantity_key": "Quantity key",
    "quantity": "Quantity",
    "variable": "Variable",
    "published": "Published (Audit Commission)",
    "published_value": "Published value (%)",
    "value_basis": "Basis of published value",
    "bounds": "Bounds from the wording (%)",
    "unweighted_estimate": "Unweighted estimate (%)",
    "difference": "Difference from published (points)",
    "published_in_ci": "Published value inside our 95% CI",
    "status": "Status",
    "reason": "Reason",
    "items": "Items",
    "reversed_items": "Reversed items",
    "n_items": "Number of items",
    "n_complete": "Complete answers (n)",
}
# Where one column name means different things in different tables.
TABLE_HEADERS: dict[str, dict[str, str]] = {"scale_reliability": {"alpha": "Cronbach's alpha"}}
INSTRUMENT_NAMES = {"coordinator": "LSP coordinators", "partner": "Board partners"}


def header(column: str, table: str | None = None) -> str:
    """The reader's name for a column of an analysis table (``table`` without ``.csv``)."""
    named = TABLE_HEADERS.get(table or "", {}).get(column) or COLUMN_HEADERS.get(column)
    if named:
        return named
    # Upper-case the first letter only: str.capitalize would also lower-case the rest ("JKn" -> "Jkn").
    text = column.replace("_", " ")
    return text[:1].upper() + text[1:]


def missing(value: Any) -> bool:
    """True for None, NaN and empty text: a cell with nothing to show."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip() == ""
    try:
        return bool(value != value)  # pandas NA / NaT
    except (TypeError, ValueError):
        return False


def _signed(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def number(value: Any, decimals: int = 1) -> str:
    """A number with fixed decimals and a true minus sign; integers without decimals."""
    if missing(value):
        return ""
    if isinstance(value, bool):
        return yes_no(value)
    value = float(value)
    if value.is_integer() and decimals == 0:
        return _signed(f"{value:,.0f}")
    return _signed(f"{value:,.{decimals}f}")


def count(value: Any) -> str:
    """A whole count, with thousands separators."""
    return "" if missing(value) else _signed(f"{float(value):,.0f}")


def percent(proportion: Any, decimals: int = 0) -> str:
    """A proportion (0-1) as a percentage: 0.5547 -> "55%"."""
    return "" if missing(proportion) else number(100 * float(proportion), decimals) + "%"


def percent_ci(estimate: Any, low: Any, high: Any, decimals: int = 0) -> str:
    """A proportion with its interval: "52% (46% to 58%)"; the interval is left out when missing."""
    if missing(estimate):
        return ""
    if missing(low) or missing(high):
        return percent(estimate, decimals)
    return f"{percent(estimate, decimals)} ({percent(low, decimals)} to {percent(high, decimals)})"


def points_ci(difference: Any, low: Any, high: Any, decimals: int = 1) -> str:
    """A difference of proportions in percentage points with its interval: "−3.2 (−6.8 to 0.4)"."""
    if missing(difference):
        return ""
    text = number(100 * float(difference), decimals)
    if missing(low) or missing(high):
        return text
    return f"{text} ({number(100 * float(low), decimals)} to {number(100 * float(high), decimals)})"


def value_ci(estimate: Any, low: Any, high: Any, decimals: int = 2) -> str:
    """Any other estimate (a mean, an odds ratio) with its interval."""
    if missing(estimate):
        return ""
    text = number(estimate, decimals)
    if missing(low) or missing(high):
        return text
    return f"{text} ({number(low, decimals)} to {number(high, decimals)})"


def p_value(p: Any) -> str:
    """A p-value as readers expect it: three decimals, "<0.001" below that, never 0."""
    if missing(p):
        return ""
    p = float(p)
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def p_statement(p: Any, name: str = "p") -> str:
    """A p-value in a sentence: "p = 0.012" or "p < 0.001"."""
    text = p_value(p)
    if not text:
        return ""
    return f"{name} {text[0]} {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def yes_no(value: Any) -> str:
    """True/False (or their text) as Yes/No."""
    if missing(value):
        return ""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return "Yes" if lowered == "true" else "No"
        return value
    return "Yes" if bool(value) else "No"


def instrument_name(instrument: Any) -> str:
    return INSTRUMENT_NAMES.get(str(instrument), str(instrument))


def is_proportion_measure(measure: Any) -> bool:
    """Measures whose estimate is a proportion (the rest are means or values)."""
    text = str(measure)
    return text in ("agree", "dont_know", "positive", "selected", "yes") or text.startswith("share:")
