"""Chart headings that state the finding, each computed from the chart's own plotted numbers (its CSV),
so a heading can never say more than the chart shows. A figure without a rule keeps the chart's title.

Every rule reads only columns the figure registry declares for that figure (pipeline.study.outputs) and
returns ``None`` when the numbers do not support a plain statement (a suppressed cell, a missing group).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from pipeline.study import display

INSTRUMENT_NAMES = {"coordinator": "coordinators", "partner": "partners"}


def _percent(value: float) -> str:
    return f"{display.number(value, 0)}%"


def _count_phrase(count: int, total: int) -> str:
    return f"all {total}" if count == total else f"{count} of {total}"


def maturity_profile(plotted: pd.DataFrame) -> str | None:
    rows = plotted[plotted["suppressed"].isna()] if "suppressed" in plotted else plotted
    parts = []
    for instrument, name in INSTRUMENT_NAMES.items():
        own = rows[rows["instrument"] == instrument].pivot_table(
            index="item", columns="level", values="estimate", aggfunc="first"
        )
        if not {"more mature", "less mature"} <= set(own.columns) or own.empty:
            return None
        ahead = int((own["more mature"] > own["less mature"]).sum())
        parts.append(f"{_count_phrase(ahead, len(own))} ({name})")
    return "More mature LSPs have the higher mean score on 7S scales: " + " and ".join(parts)


def forest(plotted: pd.DataFrame) -> str | None:
    parts = []
    for group, pattern, sign in (
        ("tier", "multi-tier areas agree less often on", -1),
        ("maturity", "more mature LSPs agree more often on", 1),
    ):
        rows = plotted[(plotted["group"] == group)].dropna(subset=["estimate"])
        if rows.empty:
            return None
        leaning = (rows["estimate"] * sign) > 0
        significant = leaning & (rows["significant_fdr"].map(display.yes_no) == "Yes")
        parts.append(
            f"{pattern} {int(leaning.sum())} of {len(rows)} items ({int(significant.sum())} significantly)"
        )
    return "Unadjusted item gaps: " + "; ".join(parts)


def coverage(plotted: pd.DataFrame) -> str | None:
    rows = plotted[plotted["breakdown"] == "authority_type"]
    if rows.empty or rows["lsps_responding"].isna().any():
        return None
    rates = rows.groupby("instrument")[["lsps_responding", "lsps_in_frame"]].sum()
    if set(rates.index) != set(INSTRUMENT_NAMES):
        return None
    share = 100 * rates["lsps_responding"] / rates["lsps_in_frame"]
    return (
        f"Coordinators answered for {_percent(share['coordinator'])} of the "
        f"{int(rates.loc['coordinator', 'lsps_in_frame'])} LSPs, and at least one board partner answered "
        f"in {_percent(share['partner'])}"
    )


def nonresponse(plotted: pd.DataFrame) -> str | None:
    rows = plotted.dropna(subset=["response_rate"])
    if rows.empty:
        return None
    coordinators = rows[rows["instrument"] == "coordinator"]
    if coordinators.empty:
        return None
    return (
        f"Coordinators' response ranged from {_percent(coordinators['response_rate'].min())} to "
        f"{_percent(coordinators['response_rate'].max())} across the groups the weighting uses "
        f"(overall {_percent(coordinators['overall_rate'].iloc[0])})"
    )


def published(plotted: pd.DataFrame) -> str | None:
    if plotted.empty:
        return None
    inside = int((plotted["published_in_ci"].map(display.yes_no) == "Yes").sum())
    return f"Our 95% interval meets {_count_phrase(inside, len(plotted))} published survey numbers"


def _respondent_gap(plotted: pd.DataFrame, what: str) -> str | None:
    overall = plotted[(plotted["group"] == "all")].dropna(subset=["estimate"])
    by = {r.instrument: r.estimate for r in overall.itertuples(index=False)}
    if set(by) != set(INSTRUMENT_NAMES):
        return None
    more = "coordinators" if by["coordinator"] > by["partner"] else "partners"
    return (
        f"{what}: coordinators {_percent(100 * by['coordinator'])}, partners "
        f"{_percent(100 * by['partner'])}"
        + ("" if abs(by["coordinator"] - by["partner"]) < 0.005 else f" ({more} more often)")
    )


def challenge(plotted: pd.DataFrame) -> str | None:
    return _respondent_gap(plotted, "Agree that members challenge each other's performance")


def financial_influence(plotted: pd.DataFrame) -> str | None:
    return _respondent_gap(plotted, "Agree that the LSP influences financial resources")


def support_costs_known(plotted: pd.DataFrame) -> str | None:
    return _respondent_gap(plotted, "Know the support team's costs")


def barriers(plotted: pd.DataFrame) -> str | None:
    rows = plotted[plotted["instrument"] == "coordinator"].dropna(subset=["estimate"])
    if rows.empty:
        return None
    top = rows.loc[rows["estimate"].idxmax()]
    barrier = str(top["item_label"]).removeprefix("Barrier: ")
    return f"Coordinators' most-selected barrier: {barrier} ({_percent(100 * top['estimate'])} selected it)"


RULES: dict[str, Callable[[pd.DataFrame], str | None]] = {
    "maturity_profile": maturity_profile,
    "forest": forest,
    "coverage": coverage,
    "nonresponse": nonresponse,
    "published": published,
    "challenge": challenge,
    "financial_influence": financial_influence,
    "support_costs_known": support_costs_known,
    "barriers": barriers,
}


def figure_headline(name: str, plotted: pd.DataFrame, declared: tuple[str, ...] = ()) -> str | None:
    """The heading that states what figure ``name`` shows, or None to keep the chart's own title: where
    no rule applies, or the plotted numbers lack a column the registry declares for the figure."""
    rule = RULES.get(name)
    if rule is None or not set(declared) <= set(plotted.columns):
        return None
    return rule(plotted)
