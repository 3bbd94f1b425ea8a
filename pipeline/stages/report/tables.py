"""Table helpers the sections and findings share: row anchors, lookups, the two-group difference table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.stages.report_tables import Row, Table
from pipeline.study import display

if TYPE_CHECKING:
    from pipeline.stages.report.inputs import ReportInputs

DIFFERENCE_TEST = "difference (design-based t)"
# The groups compared, as analyse labels them: (comparison level, first group, second group).
CONTRASTS = {
    "tier": ("multi-tier minus single-tier", "multi", "single"),
    "maturity": ("more mature minus less mature", "more mature", "less mature"),
}
MEASURE_NAMES = {"agree": "Agree", "yes": "Yes", "selected": "Selected", "positive": "Scale positive"}
GROUP_NAMES = {
    "multi": "Multi-tier",
    "single": "Single-tier",
    "more mature": "More mature",
    "less mature": "Less mature",
}


def slug(*parts: object) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


def weighted(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["weighting"] == "weighted"]


def estimate_text(measure: object, estimate: object, low: object, high: object) -> str:
    if display.is_proportion_measure(measure):
        return display.percent_ci(estimate, low, high)
    return display.value_ci(estimate, low, high)


def suppressed_text(value: object) -> str:
    return "" if display.missing(value) else f"suppressed ({value})"


def lookup(estimates: pd.DataFrame) -> dict[tuple, pd.Series]:
    keyed = weighted(estimates)
    return {
        (r.instrument, r.item, r.measure, r.group, r.level): r
        for r in keyed[
            ["instrument", "item", "measure", "group", "level", "n", "estimate", "ci_low", "ci_high"]
        ].itertuples(index=False)
    }


def row_id(kind: str, instrument: object, item: object, measure: object) -> str:
    """The anchor of a table row: a finding links to it."""
    return f"row-{slug(kind, instrument, item, measure)}"


def difference_table(
    inputs: ReportInputs, group: str, measures: Iterable[str], table_id: str, caption: str
) -> Table:
    """Both groups' estimates, the difference with its CI, the n and the test, one row per item."""
    level, first, second = CONTRASTS[group]
    estimates = lookup(inputs.tables["estimates"])
    comparisons = inputs.tables["comparisons"]
    rows = comparisons[
        (comparisons["weighting"] == "weighted")
        & (comparisons["group"] == group)
        & (comparisons["level"] == level)
        & (comparisons["test"] == DIFFERENCE_TEST)
        & comparisons["measure"].isin(list(measures))
    ]
    out = []
    for r in rows.itertuples(index=False):
        a = estimates.get((r.instrument, r.item, r.measure, group, first))
        b = estimates.get((r.instrument, r.item, r.measure, group, second))
        proportion = display.is_proportion_measure(r.measure)
        difference = (
            display.points_ci(r.estimate, r.ci_low, r.ci_high)
            if proportion
            else display.value_ci(r.estimate, r.ci_low, r.ci_high)
        )
        out.append(
            Row(
                (
                    str(r.item_label),
                    display.instrument_name(r.instrument),
                    "" if a is None else estimate_text(r.measure, a.estimate, a.ci_low, a.ci_high),
                    "" if b is None else estimate_text(r.measure, b.estimate, b.ci_low, b.ci_high),
                    difference or suppressed_text(r.suppressed),
                    f"{display.count(r.n_a)} and {display.count(r.n_b)}",
                    display.p_value(r.p),
                    display.p_value(r.p_fdr),
                ),
                id=row_id(group, r.instrument, r.item, r.measure),
            )
        )
    unit = "points" if all(display.is_proportion_measure(m) for m in measures) else "difference"
    return Table(
        id=table_id,
        caption=caption,
        headers=(
            "Item",
            "Respondents",
            f"{GROUP_NAMES[first]} (95% CI)",
            f"{GROUP_NAMES[second]} (95% CI)",
            f"Difference, {unit} (95% CI)",
            "n (each group)",
            "p-value",
            "p-value, FDR-adjusted",
        ),
        rows=tuple(out),
        numeric=(False, False, True, True, True, True, True, True),
        note=(
            f"Weighted; {GROUP_NAMES[first].lower()} minus {GROUP_NAMES[second].lower()}. "
            "Test: design-based t test "
            "(df = PSUs minus strata). FDR: Benjamini-Hochberg within each family of tests."
        ),
    )
