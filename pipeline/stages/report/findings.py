"""The key findings: each a rule over the tables that returns one sentence, its evidence and its links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.stages.report.inputs import ReportInputs
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

SOURCE_DPI, SCREEN_DPI = 300, 110
ALPHA = 0.05


@dataclass(frozen=True)
class Finding:
    """A key finding: one sentence, the evidence behind it, and where to check it."""

    sentence: str
    evidence: str
    figure: FigureEntry | None
    row_href: str
    row_label: str
    detail: str = ""


def _best_and_worst(inputs: ReportInputs, instrument: str) -> Finding | None:
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
    return Finding(
        sentence=(
            f"{who} were most positive about {best['item_label'].removesuffix(' scale').lower()} and least "
            f"positive about {worst['item_label'].removesuffix(' scale').lower()}."
        ),
        evidence=(
            "Scoring the scale positively: "
            f"{display.percent_ci(best['estimate'], best['ci_low'], best['ci_high'])}"
            f" (n = {display.count(best['n'])}) against "
            f"{display.percent_ci(worst['estimate'], worst['ci_low'], worst['ci_high'])} "
            f"(n = {display.count(worst['n'])}); weighted, descriptive estimates, no test."
        ),
        figure=inputs.figure(f"likert_{best['element']}_tier"),
        row_href="#" + row_id("profile", instrument, best["item"], "positive"),
        row_label="7S profile table",
    )


def _largest_difference(inputs: ReportInputs, group: str, instrument: str) -> Finding | None:
    level, first, second = CONTRASTS[group]
    comparisons = weighted(inputs.tables["comparisons"])
    rows = comparisons[
        (comparisons["group"] == group)
        & (comparisons["level"] == level)
        & (comparisons["test"] == DIFFERENCE_TEST)
        & (comparisons["measure"] == "positive")
        & (comparisons["instrument"] == instrument)
    ].dropna(subset=["estimate"])
    if rows.empty:
        return None
    top = rows.loc[rows["estimate"].abs().idxmax()]
    estimates = lookup(inputs.tables["estimates"])
    a = estimates.get((instrument, top["item"], "positive", group, first))
    b = estimates.get((instrument, top["item"], "positive", group, second))
    items = comparisons[
        (comparisons["group"] == group)
        & (comparisons["level"] == level)
        & (comparisons["test"] == DIFFERENCE_TEST)
        & (comparisons["measure"] == "agree")
        & (comparisons["instrument"] == instrument)
    ].dropna(subset=["estimate"])
    ahead = (items["estimate"] > 0) if group == "maturity" else (items["estimate"] < 0)
    significant = items["p_fdr"] < ALPHA
    likelier = "more" if top["estimate"] > 0 else "less"
    element = str(top["item_label"]).removesuffix(" scale").lower()
    who = display.instrument_name(instrument)
    where = "LSPs" if group == "maturity" else "areas"
    shares = ""
    if a is not None and b is not None:
        shares = (
            f"{GROUP_NAMES[first]} {display.percent_ci(a.estimate, a.ci_low, a.ci_high)}, "
            f"{GROUP_NAMES[second].lower()} {display.percent_ci(b.estimate, b.ci_low, b.ci_high)}; "
        )
    significant_text = "significant" if top["p_fdr"] < ALPHA else "not significant"
    pattern = "more mature LSPs ahead" if group == "maturity" else "multi-tier areas behind"
    return Finding(
        sentence=(
            f"{who} in {GROUP_NAMES[first].lower()} {where} were {likelier} likely to score {element} "
            f"positively than those in {GROUP_NAMES[second].lower()} {where}."
        ),
        detail=(
            f"The largest {group} difference among the seven 7S scales. Of the {len(items)} agree/disagree "
            f"items, {int(ahead.sum())} point to {pattern}, {int((ahead & significant).sum())} of them "
            "significantly after FDR control."
        ),
        evidence=(
            f"{shares}difference "
            f"{display.points_ci(top['estimate'], top['ci_low'], top['ci_high'])} percentage "
            f"points (n = {display.count(top['n_a'])} and {display.count(top['n_b'])}); design-based t test "
            f"{display.p_statement(top['p'])}, FDR-adjusted {display.p_statement(top['p_fdr'])} "
            f"({significant_text} at 5%)."
        ),
        figure=inputs.figure("maturity_profile" if group == "maturity" else "forest"),
        row_href="#" + row_id(group, instrument, top["item"], "positive"),
        row_label=f"{group.capitalize()} table",
    )


def _challenge(inputs: ReportInputs) -> Finding | None:
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
    return Finding(
        sentence=(
            "Board partners were less likely than coordinators to agree that LSP members challenge each "
            "other's performance (report paragraph 57)."
            if r["estimate"] < 0
            else "Board partners were at least as likely as coordinators to agree that LSP members challenge "
            "each other's performance (report paragraph 57)."
        ),
        evidence=(
            f"Partners {display.percent_ci(partners.estimate, partners.ci_low, partners.ci_high)} "
            f"(n = {display.count(partners.n)}), coordinators "
            f"{display.percent_ci(coordinators.estimate, coordinators.ci_low, coordinators.ci_high)} "
            f"(n = {display.count(coordinators.n)}); difference "
            f"{display.points_ci(r['estimate'], r['ci_low'], r['ci_high'])} points; "
            "design-based t test in the "
            f"combined design clustered by LSP, {display.p_statement(r['p'])}, FDR-adjusted "
            f"{display.p_statement(r['p_fdr'])}."
        ),
        figure=inputs.figure("challenge"),
        row_href="#" + row_id("published", "para57_challenge_by_respondent", "challenge_partners", ""),
        row_label="Published against reproduced table",
    )


def _published_agreement(inputs: ReportInputs) -> Finding | None:
    published = inputs.tables["published_vs_reproduced"]
    compared = published[published["status"] == "compared"]
    percentages = compared[compared["published_value"].notna() & compared["estimate"].notna()]
    if percentages.empty:
        return None
    inside = percentages["published_in_ci"].map(display.yes_no) == "Yes"
    first = percentages.iloc[0]
    return Finding(
        sentence=(
            f"{int(inside.sum())} of the {len(percentages)} percentages the Audit Commission published "
            "from the "
            "survey lie inside our 95% confidence interval."
        ),
        evidence=(
            f"For example, {first['quantity']}: published {first['published']}, our estimate "
            f"{display.number(first['estimate'], 0)}% ({display.number(first['ci_low'], 0)}% to "
            f"{display.number(first['ci_high'], 0)}%), n = {display.count(first['n'])}. "
            f"{int((published['status'] != 'compared').sum())} further published numbers cannot be "
            "reproduced from "
            "survey data and are listed with their reasons; the published values are the Audit Commission's, "
            "the estimates are this pipeline's (weighted, 95% CI on the logit scale)."
        ),
        figure=inputs.figure("published"),
        row_href="#" + row_id("published", first["published_id"], first["quantity_key"], ""),
        row_label="Published against reproduced table",
    )


def key_findings(inputs: ReportInputs) -> dict[str, Any]:
    findings = [
        _largest_difference(inputs, "maturity", "coordinator"),
        _largest_difference(inputs, "tier", "coordinator"),
        _largest_difference(inputs, "tier", "partner"),
        _best_and_worst(inputs, "coordinator"),
        _best_and_worst(inputs, "partner"),
        _challenge(inputs),
        _published_agreement(inputs),
    ]
    return {"findings": [f for f in findings if f is not None]}
