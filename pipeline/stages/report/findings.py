"""The key findings: each a rule over the tables that returns plain sentences, their uncertainty, the
caveats that apply and links that name what they point at.

Three rules keep the findings honest, whatever numbers the tables hold:

- a finding about tier or maturity starts from the pre-specified primary test (adjusted, analytic) and
  says how the unadjusted gaps relate to it: where the two disagree, it says which holds and why;
- caveats are attached by rule, never by hand: a scale whose Cronbach's alpha is below
  ``RELIABILITY_THRESHOLD`` for those respondents, a group smaller than ``SMALL_N``, or a difference whose
  significance or sign changes under another weighting in the weighting-sensitivity table;
- every count ("N of M") is counted here from the table the sentence links to, and every link carries the
  names its target must show (``Link.names``), which tests/test_report_crossrefs.py checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.stages.report.inputs import ANNEX_PAGE, MAIN_PAGE, ReportInputs
from pipeline.stages.report.tables import (
    CONTRASTS,
    DIFFERENCE_TEST,
    GROUP_NAMES,
    lookup,
    row_id,
    weighted,
)
from pipeline.study import display

if TYPE_CHECKING:
    from pipeline.stages.report.embed import FigureEntry

ALPHA = 0.05
# Below this Cronbach's alpha a scale's items do not hang together well (the quality section says so too).
RELIABILITY_THRESHOLD = 0.6
# A group smaller than this gives an interval too wide to read much into.
SMALL_N = 30
# The primary-tests table row of each headline, on the annex.
PRIMARY_ROW = "row-primary-{headline}"


@dataclass(frozen=True)
class Link:
    """A cross-reference: its text names its target; ``names`` are what the target must show."""

    text: str
    href: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """A key finding: what we found in plain words, how sure we are, what qualifies it, where to check."""

    sentence: str
    uncertainty: str
    detail: str = ""
    caveats: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()


def figure_link(figure: FigureEntry | None, names: tuple[str, ...], page: str = MAIN_PAGE) -> list[Link]:
    """A link to a figure, its text the figure's number and headline, from a page of the release."""
    if figure is None:
        return []
    href = ("" if figure.page == page else figure.page) + "#" + figure.anchor
    return [Link(f"{figure.label}: {figure.heading}", href, names)]


def in_text(instrument: str) -> str:
    """Respondents as a sentence names them mid-way: "LSP coordinators", "board partners"."""
    name = display.instrument_name(instrument)
    return name if name.startswith("LSP") else name[:1].lower() + name[1:]


def points(difference: object, low: object, high: object) -> str:
    """A difference of shares in words: "−21.6 percentage points (95% CI −34.2 to −9.0)"."""
    return (
        f"{display.number(100 * float(difference), 1)} percentage points (95% CI "
        f"{display.number(100 * float(low), 1)} to {display.number(100 * float(high), 1)})"
    )


def scale_count(count: int, total: int) -> str:
    """ "all 7 scales" or "5 of the 7 scales": a count of the 7S scales, as counted from the table."""
    return f"all {total} scales" if count == total else f"{count} of the {total} scales"


def _element_name(item_label: object) -> str:
    return str(item_label).removesuffix(" scale")


def _alpha(inputs: ReportInputs, instrument: str, element: str) -> float | None:
    table = inputs.tables["scale_reliability"]
    rows = table[(table["instrument"] == instrument) & (table["element"] == element)]
    if rows.empty or display.missing(rows["alpha"].iloc[0]):
        return None
    return float(rows["alpha"].iloc[0])


def reliability_caveat(inputs: ReportInputs, instrument: str, element: str, label: str) -> list[str]:
    """The caveat a scale below the reliability threshold carries, for these respondents."""
    alpha = _alpha(inputs, instrument, element)
    if alpha is None or alpha >= RELIABILITY_THRESHOLD:
        return []
    who = in_text(instrument)
    return [
        f"The {label.lower()} scale is less reliable than the others for {who}: its items do not hang "
        f"together well (Cronbach's alpha {display.number(alpha, 2)}, below {RELIABILITY_THRESHOLD}), so "
        "read this result with the scale's items."
    ]


def small_n_caveat(*sizes: object) -> list[str]:
    counted = [int(n) for n in sizes if not display.missing(n)]
    if not counted or min(counted) >= SMALL_N:
        return []
    return [
        f"It rests on only {display.count(min(counted))} respondents in the smaller group, so its interval "
        "is wide."
    ]


WEIGHTING_NAMES = {
    "raking": "raking to the frame",
    "type_only": "authority type only",
    "linear": "linear calibration",
    "unweighted": "no weights",
}


def weighting_caveat(inputs: ReportInputs, instrument: str, item: str, group: str) -> list[str]:
    """Whether the difference's sign or significance changes under another weighting of the sensitivity
    table (the nonresponse stage's weighting_sensitivity.csv); empty when it holds under every one."""
    table = inputs.tables.get("weighting_sensitivity")
    needed = {"instrument", "item", "quantity", "weighting", "ci_low", "ci_high", "estimate", "primary"}
    if table is None or not needed <= set(table.columns):
        return []
    rows = table[
        (table["instrument"] == instrument)
        & (table["item"] == item)
        & table["quantity"].astype(str).str.startswith(f"{group} difference")
    ].dropna(subset=["estimate", "ci_low", "ci_high"])
    primary = rows[rows["primary"].map(display.yes_no) == "Yes"]
    if primary.empty:
        return []
    base = primary.iloc[0]

    def verdict(r: Any) -> tuple[int, bool]:
        return (1 if r["estimate"] > 0 else -1), bool(r["ci_low"] > 0 or r["ci_high"] < 0)

    changed = [
        str(r["weighting"])
        for _, r in rows.iterrows()
        if r["weighting"] != base["weighting"] and verdict(r) != verdict(base)
    ]
    if not changed:
        return []
    names = ", ".join(WEIGHTING_NAMES.get(w, w.replace("_", " ")) for w in changed)
    return [f"It depends on the weighting: under {names} its sign or its significance changes."]


def _covariates(estimand: str, effect: str) -> str:
    """The other terms of the adjusted model, in the estimand's own words ("maturity, deprivation, ...")."""
    match = re.search(r"(?:at the same|of the same) (.+?), in partnerships", estimand)
    return match.group(1) if match else f"the other factors of the {effect} model"


def _scale_gaps(inputs: ReportInputs, group: str, instrument: str) -> pd.DataFrame:
    level, _, _ = CONTRASTS[group]
    comparisons = weighted(inputs.tables["comparisons"])
    return comparisons[
        (comparisons["group"] == group)
        & (comparisons["level"] == level)
        & (comparisons["test"] == DIFFERENCE_TEST)
        & (comparisons["measure"] == "positive")
        & (comparisons["instrument"] == instrument)
    ].dropna(subset=["estimate"])


def _primary_row(inputs: ReportInputs, headline: str) -> pd.Series | None:
    primary = inputs.tables.get("primary_tests")
    if primary is None:
        return None
    rows = primary[(primary["headline"] == headline) & primary["estimate"].notna()]
    return None if rows.empty else rows.iloc[0]


def _interval(estimate: object, low: object, high: object, places: int = 2) -> str:
    return (
        f"{display.number(estimate, places)} (95% CI {display.number(low, places)} to "
        f"{display.number(high, places)})"
    )


def headline_finding(inputs: ReportInputs, group: str) -> Finding | None:
    """Tier or maturity: the primary test first, then the unadjusted scale gaps, reconciled."""
    primary = _primary_row(inputs, group)
    gaps = _scale_gaps(inputs, group, "coordinator" if primary is None else str(primary["instrument"]))
    if primary is None or gaps.empty:
        return None
    instrument = str(primary["instrument"])
    who = display.instrument_name(instrument)
    _, first, second = CONTRASTS[group]
    where = "LSPs" if group == "maturity" else "areas"
    a, b = f"{GROUP_NAMES[first].lower()} {where}", f"{GROUP_NAMES[second].lower()} {where}"
    held = _covariates(str(primary["estimand"]), group)
    adjusted_clear = primary["p"] < ALPHA
    higher = "higher" if primary["estimate"] > 0 else "lower"
    marginal_clear = primary["marginal_p"] < ALPHA
    marginal_higher = "higher" if primary["marginal_estimate"] > 0 else "lower"
    if adjusted_clear:
        sentence = (
            f"{who} in {a} rate their partnership {higher} overall than those in {b}, and the gap holds "
            f"with {held} held equal."
        )
    else:
        sentence = (
            f"With {held} held equal, {in_text(instrument)} in {a} and {b} rate their partnership about "
            "the same overall: the difference is too small to tell from zero."
        )
    uncertainty = (
        f"Adjusted difference in the overall 7S score (1-5 scale): "
        f"{_interval(primary['estimate'], primary['ci_low'], primary['ci_high'])}, "
        f"{display.p_statement(primary['p'])}, n = {display.count(primary['n'])} {in_text(instrument)}; the "
        "pre-specified primary test, about partnerships in general."
    )
    top = gaps.loc[gaps["estimate"].abs().idxmax()]
    ahead = int((gaps["estimate"] > 0).sum()) if group == "maturity" else int((gaps["estimate"] < 0).sum())
    significant = int(((gaps["p_fdr"] < ALPHA) & ((gaps["estimate"] > 0) == (group == "maturity"))).sum())
    pattern = f"{GROUP_NAMES[first].lower()} LSPs ahead" if group == "maturity" else "multi-tier areas behind"
    element = _element_name(top["item_label"])
    unadjusted = (
        f"Unadjusted, the gap is {_interval(primary['marginal_estimate'], primary['marginal_ci_low'], primary['marginal_ci_high'])} "  # noqa: E501
        f"({display.p_statement(primary['marginal_p'])}), and "
        f"{scale_count(ahead, len(gaps))} put "
        f"{pattern} ({significant} of them significantly after FDR control); the largest is on "
        f"{element.lower()}, {points(top['estimate'], top['ci_low'], top['ci_high'])} in the share scoring "
        "it positively."
    )
    if adjusted_clear == marginal_clear and higher == marginal_higher:
        reconcile = "Adjusted and unadjusted results agree."
    elif marginal_clear and not adjusted_clear:
        reconcile = (
            "Which holds: the adjusted result, for whether "
            f"{'tier' if group == 'tier' else 'maturity'} itself goes with higher ratings. The unadjusted "
            f"gaps are real for the LSPs of 2008 but go with how {a} differ in {held}, not with "
            f"{'tier' if group == 'tier' else 'maturity'} alone."
        )
    else:
        reconcile = (
            "Which holds: the adjusted result, because it compares like with like; the unadjusted gap mixes "
            f"the {group} difference with differences in {held}."
        )
    label = str(top["item_label"])
    caveats = [
        *reliability_caveat(inputs, instrument, str(top["element"]), element),
        *small_n_caveat(primary.get("n_smaller_group"), top["n_a"], top["n_b"]),
        *weighting_caveat(inputs, instrument, str(top["item"]), group),
    ]
    likert = inputs.figure(f"likert_{top['element']}_{group}")
    links = [
        Link(
            f"Primary tests table, row: {group} ({in_text(instrument)})",
            f"{ANNEX_PAGE}#{PRIMARY_ROW.format(headline=group)}",
            (f"{group.capitalize()}",),
        ),
        Link(
            f"{group.capitalize()} table, row: {element} ({in_text(instrument)})",
            "#" + row_id(group, instrument, top["item"], "positive"),
            (_element_name(label), who),
        ),
        *figure_link(likert, (element,)),
        *(
            figure_link(inputs.figure("maturity_profile"), (element,))
            if group == "maturity"
            else figure_link(inputs.figure("forest"), (CONTRASTS["tier"][0],))
        ),
    ]
    return Finding(
        sentence=sentence,
        uncertainty=uncertainty,
        detail=f"{unadjusted} {reconcile}",
        caveats=tuple(caveats),
        links=tuple(links),
    )


def partner_tier(inputs: ReportInputs) -> Finding | None:
    """Partners' largest tier gap: descriptive, and said to be unadjusted."""
    gaps = _scale_gaps(inputs, "tier", "partner")
    if gaps.empty:
        return None
    top = gaps.loc[gaps["estimate"].abs().idxmax()]
    element = _element_name(top["item_label"])
    behind = int((gaps["estimate"] < 0).sum())
    likelier = "less" if top["estimate"] < 0 else "more"
    primary = _primary_row(inputs, "tier")
    detail = "Unadjusted and descriptive: it describes board partners in 2008, not an effect of tier."
    if primary is not None:
        found = (
            "finds a tier difference" if primary["p"] < ALPHA else "cannot tell a tier difference from zero"
        )
        detail = (
            f"Unadjusted and descriptive. The primary tier test, on {primary['instrument']}s' answers with "
            f"{_covariates(str(primary['estimand']), 'tier')} held equal, {found}; so this gap describes "
            "board partners in 2008 rather than an effect of tier."
        )
    caveats = [
        *reliability_caveat(inputs, "partner", str(top["element"]), element),
        *small_n_caveat(top["n_a"], top["n_b"]),
        *weighting_caveat(inputs, "partner", str(top["item"]), "tier"),
    ]
    return Finding(
        sentence=(
            f"Board partners in multi-tier areas were {likelier} likely than those in single-tier areas to "
            f"score {element.lower()} positively; they were behind on {scale_count(behind, len(gaps))}."
        ),
        uncertainty=(
            f"Difference {points(top['estimate'], top['ci_low'], top['ci_high'])}, "
            f"n = {display.count(top['n_a'])} and {display.count(top['n_b'])}, "
            f"{display.p_statement(top['p'])}, FDR-adjusted {display.p_statement(top['p_fdr'])}."
        ),
        detail=detail,
        caveats=tuple(caveats),
        links=(
            Link(
                f"Tier table, row: {element} (board partners)",
                "#" + row_id("tier", "partner", top["item"], "positive"),
                (element, "Board partners"),
            ),
            *figure_link(inputs.figure(f"likert_{top['element']}_tier"), (element,)),
        ),
    )


def best_and_worst(inputs: ReportInputs, instrument: str) -> Finding | None:
    estimates = weighted(inputs.tables["estimates"])
    scales = estimates[
        (estimates["measure"] == "positive")
        & (estimates["group"] == "all")
        & (estimates["instrument"] == instrument)
    ].dropna(subset=["estimate"])
    if scales.empty:
        return None
    best, worst = scales.loc[scales["estimate"].idxmax()], scales.loc[scales["estimate"].idxmin()]
    who = display.instrument_name(instrument)
    best_name, worst_name = _element_name(best["item_label"]), _element_name(worst["item_label"])
    caveats = [
        *reliability_caveat(inputs, instrument, str(best["element"]), best_name),
        *reliability_caveat(inputs, instrument, str(worst["element"]), worst_name),
    ]
    return Finding(
        sentence=(
            f"{who} were most positive about {best_name.lower()} and least positive about "
            f"{worst_name.lower()}."
        ),
        uncertainty=(
            f"Share scoring the scale positively: {best_name.lower()} "
            f"{display.percent_ci(best['estimate'], best['ci_low'], best['ci_high'])} "
            f"(n = {display.count(best['n'])}), {worst_name.lower()} "
            f"{display.percent_ci(worst['estimate'], worst['ci_low'], worst['ci_high'])} "
            f"(n = {display.count(worst['n'])}); weighted estimates for 2008, no test."
        ),
        caveats=tuple(caveats),
        links=(
            Link(
                f"7S profile table, row: {best_name} ({in_text(instrument)})",
                "#" + row_id("profile", instrument, best["item"], "positive"),
                (best_name, who),
            ),
            Link(
                f"7S profile table, row: {worst_name} ({in_text(instrument)})",
                "#" + row_id("profile", instrument, worst["item"], "positive"),
                (worst_name, who),
            ),
            *figure_link(inputs.figure(f"likert_{best['element']}_tier"), (best_name,)),
            *figure_link(inputs.figure(f"likert_{worst['element']}_tier"), (worst_name,)),
        ),
    )


def challenge(inputs: ReportInputs) -> Finding | None:
    comparisons = weighted(inputs.tables["comparisons"])
    rows = comparisons[
        (comparisons["item"] == "members_challenge_performance")
        & (comparisons["group"] == "respondent_type")
        & (comparisons["test"] == DIFFERENCE_TEST)
        & (comparisons["measure"] == "agree")
    ].dropna(subset=["estimate"])
    estimates = lookup(inputs.tables["estimates"])
    coordinators = estimates.get(("coordinator", "members_challenge_performance", "agree", "all", "all"))
    partners = estimates.get(("partner", "members_challenge_performance", "agree", "all", "all"))
    if rows.empty or coordinators is None or partners is None:
        return None
    r = rows.iloc[0]
    clear = r["p_fdr"] < ALPHA
    if r["estimate"] < 0 and clear:
        sentence = (
            "Board partners were less likely than coordinators to agree that members challenge each other's "
            "performance, as the 2009 report found."
        )
    elif r["estimate"] < 0:
        sentence = (
            "Board partners were a little less likely than coordinators to agree that members challenge "
            "each other's performance, but the gap is too small to tell from zero."
        )
    else:
        sentence = (
            "Board partners were at least as likely as coordinators to agree that members challenge each "
            "other's performance, unlike the 2009 report."
        )
    return Finding(
        sentence=sentence,
        uncertainty=(
            f"Partners {display.percent_ci(partners.estimate, partners.ci_low, partners.ci_high)} "
            f"(n = {display.count(partners.n)}), coordinators "
            f"{display.percent_ci(coordinators.estimate, coordinators.ci_low, coordinators.ci_high)} "
            f"(n = {display.count(coordinators.n)}); difference "
            f"{points(r['estimate'], r['ci_low'], r['ci_high'])}, "
            f"{display.p_statement(r['p'])}, FDR-adjusted {display.p_statement(r['p_fdr'])}."
        ),
        caveats=tuple(
            [
                *small_n_caveat(coordinators.n, partners.n),
                *weighting_caveat(inputs, "partner", "members_challenge_performance", "respondent_type"),
            ]
        ),
        links=(
            Link(
                "Published against reproduced table, row: partners agreeing members challenge",
                "#" + row_id("published", "para57_challenge_by_respondent", "challenge_partners", ""),
                ("partners agreeing that LSP members challenge",),
            ),
            *figure_link(inputs.figure("challenge"), ("Members challenge each other's performance",)),
        ),
    )


def published_agreement(inputs: ReportInputs) -> Finding | None:
    """How many published numbers our intervals meet, counted from the figure's own plotted rows."""
    plotted = inputs.tables.get("published_plotted")
    if plotted is None or plotted.empty:
        return None
    inside = int((plotted["published_in_ci"].map(display.yes_no) == "Yes").sum())
    table = inputs.tables["published_vs_reproduced"]
    apart = int((table["status"] != "compared").sum())
    first = plotted.iloc[0]
    return Finding(
        sentence=(
            f"Our 95% confidence interval meets {inside} of the {len(plotted)} published survey numbers "
            "the Audit Commission gave as a percentage or a range."
        ),
        uncertainty=(
            f"For example, {first['quantity']}: published {first['published']}, our estimate "
            f"{display.number(first['estimate'], 0)}% ({display.number(first['ci_low'], 0)}% to "
            f"{display.number(first['ci_high'], 0)}%), n = {display.count(first['n'])}. "
            f"{apart} further published numbers cannot be reproduced from survey data; their reasons are "
            "listed. The published values are the Audit Commission's; the estimates are this pipeline's."
        ),
        links=(
            Link(
                "Published against reproduced table",
                "#table-published",
                (str(first["quantity"]),),
            ),
            *figure_link(inputs.figure("published"), (str(first["quantity"]),)),
        ),
    )


def key_findings(inputs: ReportInputs) -> dict[str, Any]:
    findings = [
        headline_finding(inputs, "maturity"),
        headline_finding(inputs, "tier"),
        partner_tier(inputs),
        best_and_worst(inputs, "coordinator"),
        best_and_worst(inputs, "partner"),
        challenge(inputs),
        published_agreement(inputs),
    ]
    return {
        "findings": [f for f in findings if f is not None],
        "threshold": RELIABILITY_THRESHOLD,
    }
