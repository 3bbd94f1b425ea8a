"""Each figure's title states its finding, computed from the figure's own plotted numbers (its CSV), so a
title can never say more than the chart shows. The figure stage draws it as the chart's title (the chart's
name moves to the subtitle) and writes it into the SVG's metadata; the report heads the figure with that
title, so the picture and the page say the same thing from one rule. A figure without a rule, or whose
numbers do not support a plain statement (a suppressed cell, a missing group: the rule returns ``None``),
keeps the chart's own title.

Every rule reads only columns the figure registry declares for that figure (pipeline.study.outputs), as the
CSV holds them (``as_written``).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.study import display

INSTRUMENT_NAMES = {"coordinator": "coordinators", "partner": "partners"}


def _percent(value: float) -> str:
    return f"{display.number(value, 0)}%"


def _count_phrase(count: int, total: int) -> str:
    return f"all {total}" if count == total else f"{count} of {total}"


def maturity_profile(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
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


def forest(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
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


def coverage(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
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


def nonresponse(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
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


def published(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    if plotted.empty:
        return None
    inside = int((plotted["published_in_ci"].map(display.yes_no) == "Yes").sum())
    return f"Our 95% interval meets {_count_phrase(inside, len(plotted))} published survey numbers"


def _respondent_gap(plotted: pd.DataFrame, what: str) -> str | None:
    overall = plotted[(plotted["group"] == "all")].dropna(subset=["estimate"])
    by = {r.instrument: r for r in overall.itertuples(index=False)}
    if set(by) != set(INSTRUMENT_NAMES):
        return None
    coordinators, partners = by["coordinator"], by["partner"]
    higher, lower = (
        (coordinators, partners) if coordinators.estimate > partners.estimate else (partners, coordinators)
    )
    # "More often" only where the two 95% intervals are apart: a gap inside them is not claimed.
    apart = higher.ci_low > lower.ci_high
    return (
        f"{what}: coordinators {_percent(100 * coordinators.estimate)}, partners "
        f"{_percent(100 * partners.estimate)}"
        + (f" ({INSTRUMENT_NAMES[higher.instrument]} more often)" if apart else " (the intervals overlap)")
    )


def challenge(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    return _respondent_gap(plotted, "Agree that members challenge each other's performance")


def financial_influence(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    return _respondent_gap(plotted, "Agree that the LSP influences financial resources")


def support_costs_known(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    return _respondent_gap(plotted, "Know the support team's costs")


def barriers(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    rows = plotted[plotted["instrument"] == "coordinator"].dropna(subset=["estimate"])
    if rows.empty:
        return None
    top = rows.loc[rows["estimate"].idxmax()]
    barrier = str(top["item_label"]).removeprefix("Barrier: ")
    return f"Coordinators' most-selected barrier: {barrier} ({_percent(100 * top['estimate'])} selected it)"


# How each compared group's levels read in a sentence, first the level the comparison is about (as the
# analysis's comparisons order them: pipeline.study.outcomes.COMPARISON_LEVELS).
GROUP_PHRASES = {
    "tier": (("multi", "multi-tier areas"), ("single", "single-tier areas")),
    "maturity": (("more mature", "more mature LSPs"), ("less mature", "less mature LSPs")),
}


def likert(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    """The items on which the first level of the comparison agrees more (or less) often than the other:
    agreement is the share of substantive answers above the scale's middle, as the bars draw it."""
    rows = plotted[plotted["suppressed"].isna()] if "suppressed" in plotted else plotted
    rows = rows[rows["category"].astype(str).str.fullmatch(r"\d+")]
    if rows.empty or len(set(rows["group"])) != 1 or len(set(rows["element"])) != 1:
        return None
    phrases = GROUP_PHRASES.get(str(rows["group"].iloc[0]))
    if phrases is None:
        return None
    (first, first_phrase), (other, _) = phrases
    codes = sorted(rows["category"].astype(int).unique())
    middle = codes[len(codes) // 2]
    agree = rows[rows["category"].astype(int) > middle]
    shares = agree.pivot_table(
        index=["instrument", "item"], columns="group_level", values="percentage", aggfunc="sum"
    )
    if not {first, other} <= set(shares.columns):
        return None
    shares = shares.dropna(subset=[first, other])
    if shares.empty:
        return None
    ahead = shares[first] > shares[other]
    direction = "more" if 2 * int(ahead.sum()) >= len(shares) else "less"
    leaning = ahead if direction == "more" else shares[first] < shares[other]
    element = str(rows["element"].iloc[0])
    label = codebook.elements.get(element, element) if codebook is not None else element
    counts = {
        name: _count_phrase(int(own.sum()), len(own))
        for instrument, name in INSTRUMENT_NAMES.items()
        if len(own := leaning[leaning.index.get_level_values("instrument") == instrument])
    }
    if len(set(counts.values())) == 1:
        said = f"{next(iter(counts.values()))} items ({' and '.join(counts)}"
    else:
        said = " and ".join(f"{count} items ({name})" for name, count in counts.items()).removesuffix(")")
    return f"{label}: {first_phrase} agree {direction} often on {said}; unadjusted)"


CHARACTERISTICS = {"authority_type": "authority type", "tier": "tier", "region": "region"}


def case_studies(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    """Where the case-study LSPs differ most from the frame, by share of LSPs."""
    shares = plotted.pivot_table(
        index=["characteristic", "level"], columns="population", values="percent", aggfunc="first"
    )
    totals = plotted.groupby("population")["total"].first()
    if shares.shape[1] != 2 or len(totals) != 2:
        return None
    cases, frame = sorted(shares.columns, key=lambda population: totals[population])
    gaps = (shares[cases] - shares[frame]).dropna()
    gaps = gaps[[characteristic in CHARACTERISTICS for characteristic, _ in gaps.index]]
    if gaps.empty:
        return None
    characteristic, level = gaps.abs().idxmax()
    shown = {"single": "single-tier", "multi": "multi-tier"}.get(level, str(level).replace("_", " "))
    among_cases, among_all = shares.loc[(characteristic, level), [cases, frame]]
    return (
        f"The case studies are not typical: {shown} LSPs are {_percent(among_cases)} of the "
        f"{int(totals[cases])} case-study LSPs but {_percent(among_all)} of all {int(totals[frame])}"
    )


def resources_mapped(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    """Every answer's share among coordinators overall, largest first."""
    rows = plotted[(plotted["group"] == "all")].dropna(subset=["estimate"])
    if rows.empty or len(set(rows["instrument"])) != 1:
        return None
    rows = rows.sort_values("estimate", ascending=False, kind="stable")
    answers = [f"{str(r.panel).lower()} {_percent(100 * r.estimate)}" for r in rows.itertuples(index=False)]
    name = INSTRUMENT_NAMES.get(str(rows["instrument"].iloc[0]), "respondents")
    return f"{rows['item_label'].iloc[0]}? {name.capitalize()}: " + ", ".join(answers)


def support_team_composition(plotted: pd.DataFrame, codebook: Any = None) -> str | None:
    """Each question's share answering yes among coordinators overall."""
    rows = plotted[(plotted["group"] == "all")].dropna(subset=["estimate"])
    if rows.empty or len(set(rows["instrument"])) != 1:
        return None
    name = INSTRUMENT_NAMES.get(str(rows["instrument"].iloc[0]), "respondents")
    parts = [
        f"{str(r.item_label)[:1].lower()}{str(r.item_label)[1:]} {_percent(100 * r.estimate)}"
        for r in rows.itertuples(index=False)
    ]
    return f"Support teams, per cent of {name} answering yes: " + "; ".join(parts)


RULES: dict[str, Callable[[pd.DataFrame, Any], str | None]] = {
    "maturity_profile": maturity_profile,
    "forest": forest,
    "coverage": coverage,
    "nonresponse": nonresponse,
    "published": published,
    "challenge": challenge,
    "financial_influence": financial_influence,
    "support_costs_known": support_costs_known,
    "barriers": barriers,
    "case_studies": case_studies,
    "resources_mapped": resources_mapped,
    "support_team_composition": support_team_composition,
}
# The Likert figures (likert_<element>_<group>) share one rule, as they share one module.
LIKERT_PREFIX = "likert_"


def as_written(table: pd.DataFrame) -> pd.DataFrame:
    """A figure's plotted numbers as its CSV holds them and the report reads them (blank cells missing),
    so the title drawn in the figure is the one its published numbers give."""
    text = table.to_csv(index=False, lineterminator="\n")
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


def figure_title(
    name: str, plotted: pd.DataFrame, declared: tuple[str, ...] = (), codebook: Any = None
) -> str | None:
    """The title that states what figure ``name`` shows, or None to keep the chart's own title: where no
    rule applies, or the plotted numbers lack a column the registry declares for the figure."""
    rule = likert if name.startswith(LIKERT_PREFIX) else RULES.get(name)
    if rule is None or not set(declared) <= set(plotted.columns):
        return None
    return rule(plotted, codebook)


def wrapped(title: str, width_inches: float) -> str:
    """The title broken into lines that fit a chart ``width_inches`` wide (the theme's 10-point bold)."""
    return "\n".join(textwrap.wrap(title, width=max(40, int(width_inches * 11))))
