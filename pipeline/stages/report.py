"""Report stage: analysis/report.html, the study as a statistics publication a reviewer can check.

In the order of the argument: the synthetic banner, the key findings (each with its estimate, 95% CI, n
and test, linked to its figure and table row), who answered, the 7S profile, maturity, tier, the
report's own charts redrawn, published against reproduced, methods, quality and limitations,
sensitivity, the outputs and the provenance of the run.

A section is one template, ``pipeline/templates/sections/<id>.html.j2``, plus one context function
``(ReportInputs) -> dict`` and one ``Section`` in ``SECTIONS``, which also names the figures the section
shows: figures are numbered in that order. Tables are built here as ``Table`` records of formatted
text (pipeline.study.display) and drawn by one template macro; no HTML is assembled in Python.

Figures are embedded at screen resolution (the 300-dpi PNG downscaled deterministically), each linking to
its 300-dpi PNG, SVG and CSV in figures/. Nothing depends on the time of the run: the same inputs give
the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import FOLDER_KEYS, Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_bytes, write_text
from pipeline.core.paths import PROJECT_ROOT, WEIGHTING_VALIDATION_RESULTS, relative_to_root
from pipeline.stages import report_inference
from pipeline.stages.report_tables import Row, Table, decimals, frame_table, numeric, text
from pipeline.study import display
from pipeline.study import outputs as registered
from pipeline.study.outcomes import BINARY_MEASURES

log = logging.getLogger("pipeline.stages.report")

TITLE = "Working better together? Reproducing the 2008 survey of Local Strategic Partnerships"
SYNTHETIC_HEAD = "Synthetic data: not the Audit Commission's figures."
SYNTHETIC_BANNER = (
    "The Audit Commission never published the survey's microdata: every number in this "
    "report comes from the project's synthetic survey, a seeded model calibrated to the report's published "
    "figures. No estimate here is the Audit Commission's; the published values are quoted only beside ours "
    "for comparison."
)
DICTIONARY_NAME = "data_dictionary.html"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# The figure stage draws at 300 dpi; the page shows each figure at 110 dpi, sharp at its natural size on
# a screen and light enough that 25 figures stay well under 3 MB.
SOURCE_DPI, SCREEN_DPI = 300, 110
ALPHA = 0.05
# The analysis tables, then those the inference sections read (a name two of them read is read once).
TABLE_NAMES = tuple(
    dict.fromkeys(
        (
            "estimates",
            "comparisons",
            "maturity_sensitivity",
            "power",
            "scale_reliability",
            "published_vs_reproduced",
            *report_inference.PRIMARY_TABLES,
            *report_inference.NONRESPONSE_TABLES,
        )
    )
)
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


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FigureEntry:
    """One figure as the page shows it."""

    name: str
    title: str
    description: str
    caption: tuple[tuple[str, str], ...]
    image: str
    width: int
    height: int
    links: tuple[tuple[str, str], ...]
    rows: int
    number: int = 0

    @property
    def anchor(self) -> str:
        return f"figure-{self.name}"

    @property
    def label(self) -> str:
        return f"Figure {self.number}"

    @property
    def alt(self) -> str:
        return f"{self.label}: {self.title}. {self.description}"


@dataclass(frozen=True)
class Finding:
    """A key finding: one sentence, the evidence behind it, and where to check it."""

    sentence: str
    evidence: str
    figure: FigureEntry | None
    row_href: str
    row_label: str
    detail: str = ""


@dataclass
class ReportInputs:
    """Everything a section may draw on."""

    config: Config
    codebook: Codebook
    tables: dict[str, pd.DataFrame]
    manifests: dict[str, dict]
    figures: dict[str, FigureEntry]
    outputs: pd.DataFrame = field(default_factory=pd.DataFrame)
    links: dict[str, str] = field(default_factory=dict)

    def figure(self, name: str) -> FigureEntry | None:
        return self.figures.get(name)


@dataclass(frozen=True)
class Section:
    """One section of the report: its template is ``sections/<id>.html.j2``.

    ``figures`` are the figure names it shows, in order; ``{element}`` expands to every 7S element of the
    codebook. ``context`` returns what the template needs besides ``inputs``, ``section`` and ``figures``.
    """

    id: str
    title: str
    context: Callable[[ReportInputs], dict[str, Any]]
    figures: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        return f"sections/{self.id}.html.j2"

    def figure_names(self, codebook: Codebook) -> list[str]:
        names = []
        for pattern in self.figures:
            if "{element}" in pattern:
                names += [pattern.format(element=element) for element in codebook.elements]
            else:
                names.append(pattern)
        return names


# ------------------------------------------------------------------------------------ table helpers


def _slug(*parts: object) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


def _weighted(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["weighting"] == "weighted"]


def _estimate_text(measure: object, estimate: object, low: object, high: object) -> str:
    if display.is_proportion_measure(measure):
        return display.percent_ci(estimate, low, high)
    return display.value_ci(estimate, low, high)


def _suppressed(value: object) -> str:
    return "" if display.missing(value) else f"suppressed ({value})"


def _lookup(estimates: pd.DataFrame) -> dict[tuple, pd.Series]:
    keyed = _weighted(estimates)
    return {
        (r.instrument, r.item, r.measure, r.group, r.level): r
        for r in keyed[
            ["instrument", "item", "measure", "group", "level", "n", "estimate", "ci_low", "ci_high"]
        ].itertuples(index=False)
    }


def row_id(kind: str, instrument: object, item: object, measure: object) -> str:
    """The anchor of a table row: a finding links to it."""
    return f"row-{_slug(kind, instrument, item, measure)}"


def difference_table(
    inputs: ReportInputs, group: str, measures: Iterable[str], table_id: str, caption: str
) -> Table:
    """Both groups' estimates, the difference with its CI, the n and the test, one row per item."""
    level, first, second = CONTRASTS[group]
    estimates = _lookup(inputs.tables["estimates"])
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
                    "" if a is None else _estimate_text(r.measure, a.estimate, a.ci_low, a.ci_high),
                    "" if b is None else _estimate_text(r.measure, b.estimate, b.ci_low, b.ci_high),
                    difference or _suppressed(r.suppressed),
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


# ------------------------------------------------------------------------------------ key findings


def _best_and_worst(inputs: ReportInputs, instrument: str) -> Finding | None:
    estimates = _weighted(inputs.tables["estimates"])
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
    comparisons = _weighted(inputs.tables["comparisons"])
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
    estimates = _lookup(inputs.tables["estimates"])
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
    comparisons = _weighted(inputs.tables["comparisons"])
    rows = comparisons[
        (comparisons["item"] == "members_challenge_performance")
        & (comparisons["group"] == "respondent_type")
        & (comparisons["test"] == DIFFERENCE_TEST)
        & (comparisons["measure"] == "agree")
    ].dropna(subset=["estimate"])
    estimates = _lookup(inputs.tables["estimates"])
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


# ------------------------------------------------------------------------------- section contexts


def who_answered(inputs: ReportInputs) -> dict[str, Any]:
    validation = inputs.manifests.get("validation", {})
    files = sorted(validation.get("files", {}).items())
    reconciliation = Table(
        id="table-rows-read",
        caption="Rows read from each survey export and where each ended up",
        headers=("File", "Respondents", "Rows read", "Valid", "Rejected"),
        rows=tuple(
            Row(
                (
                    file,
                    display.instrument_name(counts.get("instrument", "")),
                    display.count(counts.get("read")),
                    display.count(counts.get("valid")),
                    display.count(counts.get("rejected")),
                )
            )
            for file, counts in files
        ),
        numeric=(False, False, True, True, True),
        note=(
            "Every row read is either valid or in data/processed/rejected.csv with its file, row, column "
            "and check."
        ),
    )
    response = inputs.tables.get("coverage")
    coverage = None
    if response is not None:
        by_type = response[response["breakdown"] == "authority_type"]
        coverage = Table(
            id="table-response",
            caption="Response by authority type: LSPs in the frame, LSPs responding and respondents",
            headers=(
                "Authority type",
                "Respondents",
                "LSPs in frame",
                "LSPs responding",
                "Respondents (n)",
                "Response rate",
            ),
            rows=tuple(
                Row(
                    (
                        str(r.level).replace("_", " ").capitalize(),
                        display.instrument_name(r.instrument),
                        display.count(r.lsps_in_frame),
                        display.count(r.lsps_responding) or _suppressed(r.suppressed),
                        display.count(r.respondents),
                        display.percent(r.response_rate),
                    )
                )
                for r in by_type.itertuples(index=False)
            ),
            numeric=(False, False, True, True, True, True),
            note=(
                "Partners: LSPs with at least one responding board partner. Counts of 1 to "
                f"{inputs.config.min_cell - 1} are suppressed."
            ),
        )
    return {"reconciliation": reconciliation, "coverage": coverage}


def primary_tests(inputs: ReportInputs) -> dict[str, Any]:
    """The two pre-specified primary tests first: adjusted effects (analytic), beside the marginal ones."""
    return report_inference.primary_tests(inputs.tables)


def nonresponse(inputs: ReportInputs) -> dict[str, Any]:
    """Respondents against the frame, R-indicators, the weighting used and what it changes."""
    return report_inference.nonresponse(inputs.tables, inputs.config)


def seven_s_profile(inputs: ReportInputs) -> dict[str, Any]:
    estimates = _weighted(inputs.tables["estimates"])
    overall = estimates[estimates["group"] == "all"]
    reliability = {
        (r.instrument, r.element): r.alpha for r in inputs.tables["scale_reliability"].itertuples(index=False)
    }
    positive = overall[overall["measure"] == "positive"]
    means = {(r.instrument, r.item): r for r in overall[overall["measure"] == "mean"].itertuples(index=False)}
    rows = []
    for r in positive.itertuples(index=False):
        mean = means.get((r.instrument, r.item))
        rows.append(
            Row(
                (
                    str(r.item_label).removesuffix(" scale"),
                    display.instrument_name(r.instrument),
                    display.percent_ci(r.estimate, r.ci_low, r.ci_high) or _suppressed(r.suppressed),
                    "" if mean is None else display.value_ci(mean.estimate, mean.ci_low, mean.ci_high),
                    display.count(r.n),
                    display.number(reliability.get((r.instrument, r.element)), 2),
                ),
                id=row_id("profile", r.instrument, r.item, "positive"),
            )
        )
    scales = Table(
        id="table-7s-profile",
        caption="The 7S scales: share of respondents scoring each element positively, and the mean score",
        headers=(
            "7S element",
            "Respondents",
            "Positive, % (95% CI)",
            "Mean score, 1-5 (95% CI)",
            "n",
            "Cronbach's alpha",
        ),
        rows=tuple(rows),
        numeric=(False, False, True, True, True, True),
        note="Weighted. A scale counts as positive at a mean of 3.5 or more on the five-point scale.",
    )
    agree = overall[overall["measure"] == "agree"]
    items = Table(
        id="table-7s-items",
        caption="Every agree/disagree item: share agreeing (codes 4-5) among substantive answers",
        headers=("Item", "7S element", "Respondents", "Agree, % (95% CI)", "n"),
        rows=tuple(
            Row(
                (
                    str(r.item_label),
                    inputs.codebook.elements.get(r.element, str(r.element)),
                    display.instrument_name(r.instrument),
                    display.percent_ci(r.estimate, r.ci_low, r.ci_high) or _suppressed(r.suppressed),
                    display.count(r.n),
                ),
                id=row_id("agree", r.instrument, r.item, "agree"),
            )
            for r in agree.itertuples(index=False)
        ),
        numeric=(False, False, False, True, True),
        note="Weighted; coordinators describe the 388 LSPs, partners describe board partners.",
    )
    return {"scales": scales, "item_table": items}


def maturity(inputs: ReportInputs) -> dict[str, Any]:
    return {
        "scales": difference_table(
            inputs,
            "maturity",
            ["positive"],
            "table-maturity-scales",
            "Maturity: share scoring each 7S scale positively, more mature against less mature LSPs",
        ),
        "item_table": difference_table(
            inputs,
            "maturity",
            ["agree"],
            "table-maturity-items",
            "Maturity: share agreeing with each item, more mature against less mature LSPs",
        ),
        "definition": inputs.config.maturity_primary,
    }


def tier(inputs: ReportInputs) -> dict[str, Any]:
    return {
        "scales": difference_table(
            inputs,
            "tier",
            ["positive"],
            "table-tier-scales",
            "Tier: share scoring each 7S scale positively, multi-tier against single-tier areas",
        ),
        "item_table": difference_table(
            inputs,
            "tier",
            ["agree"],
            "table-tier-items",
            "Tier: share agreeing with each item, multi-tier against single-tier areas",
        ),
    }


def report_charts(inputs: ReportInputs) -> dict[str, Any]:
    return {}


def _bounds_text(bounds: Any, direction_only: bool) -> str:
    """A published range ("0-50", "-100-0") in words; for a direction, the sign it asks for."""
    match = re.fullmatch(
        r"\s*(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)\s*", "" if display.missing(bounds) else str(bounds)
    )
    if not match:
        return ""
    low, high = (float(v) for v in match.groups())
    if direction_only:
        return "a negative difference" if high <= 0 else "a positive difference"
    return f"range {display.number(low, 0)}% to {display.number(high, 0)}%"


def published(inputs: ReportInputs) -> dict[str, Any]:
    table = inputs.tables["published_vs_reproduced"]
    compared = table[table["status"] == "compared"]
    rows = []
    for r in compared.itertuples(index=False):
        direction_only = str(r.reason).startswith("only a direction")
        bounds = _bounds_text(r.bounds, direction_only)
        if display.missing(r.published_value) and bounds:
            published_text = f"{r.published} ({bounds})"
        else:
            published_text = str(r.published)
        if display.missing(r.estimate):
            estimate = ""
        elif direction_only:
            estimate = f"{display.number(r.estimate, 1)} points"
        else:
            estimate = (
                f"{display.number(r.estimate, 0)}% "
                f"({display.number(r.ci_low, 0)}% to {display.number(r.ci_high, 0)}%)"
            )
        rows.append(
            Row(
                (
                    str(r.quantity),
                    published_text,
                    estimate,
                    display.count(r.n),
                    display.yes_no(r.published_in_ci) or "not checked: no number or range published",
                    text(r.reason),
                ),
                id=row_id("published", r.published_id, r.quantity_key, ""),
            )
        )
    comparable = Table(
        id="table-published",
        caption="Published numbers beside this pipeline's weighted estimates",
        headers=(
            "Quantity",
            "Published (Audit Commission)",
            "Our estimate, % (95% CI)",
            "n",
            "Published value inside our CI",
            "Note",
        ),
        rows=tuple(rows),
        numeric=(False, False, True, True, False, False),
        note=(
            "Where the report gives wording rather than a number, the check is whether our interval meets "
            "the "
            "range the wording allows; where it gives only a direction, whether our difference has that sign."
        ),
    )
    apart = table[table["status"] != "compared"]
    not_reproducible = [
        {"id": str(r.published_id).replace("_", " "), "reason": text(r.reason), "status": text(r.status)}
        for r in apart.itertuples(index=False)
    ]
    return {"comparable": comparable, "not_reproducible": not_reproducible}


def methods(inputs: ReportInputs) -> dict[str, Any]:
    designs = inputs.manifests.get("analysis", {}).get("designs", {})
    weighted = designs.get("weighted", {})
    design_table = Table(
        id="table-designs",
        caption="Survey designs used for every weighted estimate",
        headers=("Population", "Design", "R equivalent"),
        rows=tuple(
            Row((name.capitalize(), text(spec.get("label")), text(spec.get("r_equivalent"))))
            for name, spec in weighted.items()
        ),
    )
    deff = designs.get("design_effect", {})
    deff_text = (
        "; ".join(f"{name}: {rule}" for name, rule in deff.items()) if isinstance(deff, dict) else text(deff)
    )
    inference = [
        f"{kind.capitalize()} (designs {spec.get('designs', '')}): {spec.get('population', '')}; serves "
        f"{spec.get('serves', '')}; because {spec.get('reason', '')}."
        for kind, spec in designs.get("inference", {}).items()
    ]
    return {
        "design_table": design_table,
        "inference": inference,
        "design_effect": deff_text,
        "elements": list(inputs.codebook.elements.values()),
        "maturity_primary": inputs.config.maturity_primary,
        "maturity_alternatives": list(inputs.config.maturity_alternatives),
        "min_cell": inputs.config.min_cell,
    }


def quality(inputs: ReportInputs) -> dict[str, Any]:
    reliability = frame_table(
        inputs.tables["scale_reliability"],
        "table-reliability",
        "Internal consistency of the 7S scales (Cronbach's alpha)",
        {
            "element_label": text,
            "instrument": display.instrument_name,
            "n_items": display.count,
            "n_complete": display.count,
            "alpha": decimals(2),
        },
        table_name="scale_reliability",
    )
    power = inputs.tables["power"]
    power_table = frame_table(
        power,
        "table-power",
        "Smallest difference in a proportion detectable with 80% power at the 5% level",
        {
            "instrument": display.instrument_name,
            "group": lambda v: str(v).capitalize(),
            "n_a": display.count,
            "n_b": display.count,
            "deff": decimals(2),
            "p_baseline": display.percent,
            "minimum_detectable_difference": numeric(lambda v: display.number(100 * float(v), 1) + " points"),
        },
        table_name="power",
        headers={
            "p_baseline": "Baseline proportion",
            "minimum_detectable_difference": "Minimum detectable difference",
        },
    )
    return {"reliability": reliability, "power": power_table, "min_cell": inputs.config.min_cell}


def sensitivity(inputs: ReportInputs) -> dict[str, Any]:
    table = inputs.tables["maturity_sensitivity"]
    agreement = (
        table.groupby(["instrument", "definition"], sort=False)
        .agg(
            comparisons=("estimate", lambda s: int(s.notna().sum())),
            same=("same_direction_as_primary", lambda s: int((s.map(display.yes_no) == "Yes").sum())),
            significant=("significant_fdr", lambda s: int((s.map(display.yes_no) == "Yes").sum())),
        )
        .reset_index()
    )
    definitions = Table(
        id="table-maturity-definitions",
        caption="Maturity differences under each definition of maturity, against the primary definition",
        headers=(
            "Respondents",
            "Maturity definition",
            "Comparisons",
            "Same direction as primary",
            "Significant after FDR",
        ),
        rows=tuple(
            Row(
                (
                    display.instrument_name(r.instrument),
                    str(r.definition).replace("_", " "),
                    display.count(r.comparisons),
                    display.count(r.same),
                    display.count(r.significant),
                )
            )
            for r in agreement.itertuples(index=False)
        ),
        numeric=(False, False, True, True, True),
        note=f"Weighted; primary definition: {inputs.config.maturity_primary.replace('_', ' ')}.",
    )
    estimates = inputs.tables["estimates"]
    overall = estimates[(estimates["group"] == "all") & estimates["measure"].isin(BINARY_MEASURES)]
    pivot = overall.pivot_table(
        index=["instrument", "item_label", "measure"], columns="weighting", values="estimate", aggfunc="first"
    ).reset_index()
    weighting = None
    if {"weighted", "unweighted"} <= set(pivot.columns):
        pivot["difference"] = pivot["weighted"] - pivot["unweighted"]
        pivot = pivot.reindex(
            pivot["difference"].abs().sort_values(ascending=False, kind="stable").index
        ).head(25)
        weighting = Table(
            id="table-weighting",
            caption="Weighted against unweighted shares: the 25 largest differences",
            headers=("Item", "Respondents", "Measure", "Weighted", "Unweighted", "Difference, points"),
            rows=tuple(
                Row(
                    (
                        str(r.item_label),
                        display.instrument_name(r.instrument),
                        MEASURE_NAMES.get(str(r.measure), str(r.measure)),
                        display.percent(r.weighted, 1),
                        display.percent(r.unweighted, 1),
                        display.number(100 * r.difference, 1),
                    )
                )
                for r in pivot.itertuples(index=False)
            ),
            numeric=(False, False, False, True, True, True),
            note="Unweighted shares are raw shares of respondents, what the 2009 report appears to show.",
        )
    return {"definitions": definitions, "weighting": weighting}


def outputs(inputs: ReportInputs) -> dict[str, Any]:
    index = inputs.outputs
    table = Table(
        id="table-outputs",
        caption="Every output: the stage and function that made it, and its inputs",
        headers=("Output", "Stage", "Made by", "Inputs"),
        rows=tuple(Row(tuple(text(v) for v in r)) for r in index.itertuples(index=False)),
    )
    return {"index": table, "links": inputs.links}


def describe_code_version(version: dict) -> str:
    """The release and commit in words (the manifest's ``code_version``), never a Python repr."""
    release = f"lsp-survey-rap {version.get('version', __version__)}"
    commit = version.get("commit", "unknown")
    if commit in (None, "", "unknown"):
        return f"{release}, outside git (commit unknown)"
    state = " with uncommitted changes" if version.get("dirty") else ""
    return f"{release}, commit {commit}{state}"


def provenance(inputs: ReportInputs) -> dict[str, Any]:
    ingest = inputs.manifests.get("ingest", {})
    code = describe_code_version(ingest.get("code_version", {}) or {})
    inputs_table = Table(
        id="table-inputs",
        caption="Input files of this run",
        headers=("File", "Rows", "SHA-256"),
        rows=tuple(
            Row((text(item.get("path")), display.count(item.get("rows")), text(item.get("sha256"))))
            for item in ingest.get("inputs", [])
        ),
        numeric=(False, True, False),
    )
    packages = Table(
        id="table-packages",
        caption="Package versions",
        headers=("Package", "Version"),
        rows=tuple(Row((name, text(v))) for name, v in sorted(ingest.get("packages", {}).items())),
    )
    return {
        "code_version": code,
        "python": text(ingest.get("python")),
        "inputs_table": inputs_table,
        "packages": packages,
        "config_path": relative_to_root(inputs.config.source),
        "config_text": inputs.config.source.read_text(encoding="utf-8"),
    }


SECTIONS: tuple[Section, ...] = (
    Section("primary", "Primary tests", primary_tests),
    Section("findings", "Key findings", key_findings),
    Section("who-answered", "Who answered", who_answered, ("coverage",)),
    Section("nonresponse", "Nonresponse and weighting", nonresponse, ("nonresponse",)),
    Section("seven-s", "The 7S profile", seven_s_profile),
    Section("maturity", "Maturity", maturity, ("maturity_profile", "likert_{element}_maturity")),
    Section("tier", "Single-tier and multi-tier areas", tier, ("forest", "likert_{element}_tier")),
    Section(
        "report-charts",
        "The report's own charts, redrawn",
        report_charts,
        (
            "challenge",
            "financial_influence",
            "barriers",
            "support_costs_known",
            "resources_mapped",
            "support_team_composition",
        ),
    ),
    Section("published", "Published against reproduced", published, ("published",)),
    Section("methods", "Methods", methods),
    Section("quality", "Quality and limitations", quality, ("case_studies",)),
    Section("sensitivity", "Sensitivity", sensitivity),
    Section("outputs", "Outputs and data dictionary", outputs),
    Section("provenance", "Provenance", provenance),
)
# One sentence per figure saying what the chart shows: with the title it is the figure's alt text.
FIGURE_DESCRIPTIONS = {
    "nonresponse": "Bars give the share of the frame's LSPs that responded, coordinators and LSPs sending "
    "board partners, at each level of the frame variables the weighting uses, beside the overall rate.",
    "coverage": "Bars give the per cent of the 388 LSPs with a responding coordinator and with at least one "
    "responding board partner, by authority type and by region.",
    "likert_{element}_tier": "Diverging bars give the weighted per cent of each answer, from strongly "
    "disagree to strongly agree, for every {element_label} item, single-tier against multi-tier areas, with "
    "don't know beside them.",
    "likert_{element}_maturity": "Diverging bars give the weighted per cent of each answer, from strongly "
    "disagree to strongly agree, for every {element_label} item, more mature against less mature LSPs, with "
    "don't know beside them.",
    "challenge": "Points with 95% intervals give the weighted per cent agreeing that members challenge each "
    "other's performance, coordinators against partners and by authority type.",
    "financial_influence": "Points with 95% intervals give the weighted per cent agreeing that the LSP "
    "influences financial resources, coordinators against partners.",
    "barriers": "Points with 95% intervals give the weighted per cent selecting each barrier to success, "
    "coordinators and partners.",
    "support_costs_known": "Points with 95% intervals give the weighted per cent saying the support team's "
    "costs are known, coordinators and partners.",
    "resources_mapped": "Points with 95% intervals give the weighted share of each answer on whether the "
    "area's resources have been mapped, overall and by authority type.",
    "support_team_composition": "Points with 95% intervals give the weighted per cent answering yes to the "
    "support-team questions, overall and by authority type.",
    "forest": "Each point is a difference in the per cent agreeing with one item, with its 95% interval: "
    "multi-tier minus single-tier and more mature minus less mature; filled points are significant after "
    "FDR control.",
    "maturity_profile": "Points with 95% intervals give the mean score of each 7S scale for more mature and "
    "less mature LSPs, coordinators and partners.",
    "case_studies": "Bars compare the share of the 17 case-study LSPs and of all 388 LSPs in each authority "
    "type, tier, region and deprivation quintile.",
    "published": "Each published number is drawn beside this pipeline's estimate and its 95% interval.",
}


# ------------------------------------------------------------------------------------------ figures


def _svg_title(svg: Path) -> str | None:
    head = svg.read_text(encoding="utf-8")[:4000]
    match = re.search(r"<dc:title>(.*?)</dc:title>", head, re.DOTALL)
    if not match:
        return None
    import html as html_module

    return " ".join(html_module.unescape(match.group(1)).split())


# Downscaling is most of the report's time; the result depends only on the source bytes and these
# settings, so it is kept in make's bookkeeping folder, keyed by both, and a rebuild redoes only the
# figures that changed. Change SCREEN_VERSION with the method.
SCREEN_VERSION = 1
SCREEN_CACHE = PROJECT_ROOT / ".make" / "screen"


def _downscale(source_bytes: bytes) -> tuple[bytes, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(source_bytes)) as source:
        image = source.convert("RGB")
    width = max(1, round(image.width * SCREEN_DPI / SOURCE_DPI))
    height = max(1, round(image.height * SCREEN_DPI / SOURCE_DPI))
    small = image.resize((width, height), Image.Resampling.LANCZOS)
    small = small.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), width, height


def screen_png(png: Path, cache: Path | None = SCREEN_CACHE) -> tuple[bytes, int, int]:
    """The 300-dpi PNG at screen resolution: resampled, 256 colours, no dithering, so it is deterministic."""
    source_bytes = png.read_bytes()
    key = hashlib.sha256(f"{SCREEN_VERSION}:{SOURCE_DPI}:{SCREEN_DPI}:".encode() + source_bytes).hexdigest()
    cached = None if cache is None else cache / f"{key}.png"
    if cached is not None and cached.is_file():
        data = cached.read_bytes()
        width, height = struct.unpack(">II", data[16:24])  # the PNG header's IHDR size
        return data, width, height
    data, width, height = _downscale(source_bytes)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(cached, data)
        except OSError as error:  # a read-only checkout still builds the report, only slower
            log.debug("screen-image cache not written: %s", error)
    return data, width, height


def _caption_lines(text: str) -> tuple[tuple[str, str], ...]:
    lines = []
    for line in text.strip().splitlines():
        label, colon, rest = line.partition(":")
        lines.append((label.strip(), rest.strip()) if colon and len(label) < 40 else ("", line.strip()))
    return tuple(lines)


def _description(name: str, codebook: Codebook) -> str:
    if name in FIGURE_DESCRIPTIONS:
        return FIGURE_DESCRIPTIONS[name]
    for element, label in codebook.elements.items():
        for pattern in ("likert_{element}_tier", "likert_{element}_maturity"):
            if name == pattern.format(element=element):
                return FIGURE_DESCRIPTIONS[pattern].format(element_label=label.lower())
    raise PipelineError(f"figure {name} has no description: add one to FIGURE_DESCRIPTIONS in {__name__}")


def load_figures(
    figures_dir: Path, report_dir: Path, codebook: Codebook, synthetic: bool
) -> dict[str, FigureEntry]:
    """Every figure in ``figures_dir``, numbered in the order the sections show them."""
    order = [name for section in SECTIONS for name in section.figure_names(codebook)]
    on_disk = sorted(png.stem for png in figures_dir.glob("*.png"))
    unplaced = sorted(set(on_disk) - set(order))
    if unplaced:
        raise PipelineError(
            f"figures {', '.join(unplaced)} are in no report section: "
            f"name them in a Section of {__name__}.SECTIONS"
        )
    entries = {}
    for name in [n for n in order if n in on_disk]:
        png = figures_dir / f"{name}.png"
        data, svg, caption_path = (
            png.with_suffix(".csv"),
            png.with_suffix(".svg"),
            figures_dir / f"{name}.caption.txt",
        )
        if not data.exists():
            raise PipelineError(f"{relative_to_root(png)} has no data file beside it ({data.name})")
        title = (_svg_title(svg) if svg.exists() else None) or name.replace("_", " ").capitalize()
        caption = caption_path.read_text(encoding="utf-8") if caption_path.exists() else ""
        lines = _caption_lines(caption)
        if synthetic and "synthetic" not in caption.lower():
            lines += (("Synthetic data", "not the Audit Commission's figures"),)
        image, width, height = screen_png(png)
        links = [("PNG, 300 dpi", png), ("SVG", svg), ("numbers plotted, CSV", data)]
        entries[name] = FigureEntry(
            name=name,
            title=title,
            description=_description(name, codebook),
            caption=lines,
            image="data:image/png;base64," + base64.b64encode(image).decode("ascii"),
            width=width,
            height=height,
            links=tuple(
                (label, Path(os.path.relpath(path.resolve(), report_dir.resolve())).as_posix())
                for label, path in links
                if path.exists()
            ),
            rows=sum(1 for _ in data.open(encoding="utf-8")) - 1,
            number=len(entries) + 1,
        )
    return entries


# -------------------------------------------------------------------------------------- rendering


def environment() -> jinja2.Environment:
    """The report's templates: autoescaped, and an undefined name is an error, never an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(inputs: ReportInputs) -> str:
    """The whole report as one HTML string."""
    rendered = []
    for section in SECTIONS:
        figures = [inputs.figures[n] for n in section.figure_names(inputs.codebook) if n in inputs.figures]
        rendered.append({"section": section, "figures": figures, **section.context(inputs)})
    title = ("Synthetic data: " if inputs.config.synthetic_data else "") + TITLE
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            heading=TITLE,
            synthetic=inputs.config.synthetic_data,
            banner_head=SYNTHETIC_HEAD,
            banner=SYNTHETIC_BANNER,
            sections=rendered,
            figures=list(inputs.figures.values()),
            inputs=inputs,
        )
    )


def _folders(config: Config) -> dict[str, str]:
    return {key: relative_to_root(getattr(config, key)) for key in FOLDER_KEYS}


def _registered_files(codebook: Codebook) -> tuple[registered.Output, ...]:
    return (
        *registered.tables(codebook),
        registered.REPORT,
        registered.DATA_DICTIONARY,
        *registered.SPREADSHEETS,
    )


def output_index(config: Config, codebook: Codebook) -> pd.DataFrame:
    """Every output from the registry (pipeline.study.outputs): the stage and function that made it and
    what it is made from; a figure's four files are one row."""
    folders = _folders(config)
    paths = {output.name: registered.relative_path(output, folders) for output in _registered_files(codebook)}
    paths |= {"tables": f"{folders['analysis_dir']}/tables/", "figures": f"{folders['figures_dir']}/"}

    def where(name: str) -> str:
        # Registered outputs by their path, raw inputs by the configured file they name.
        if name in paths:
            return paths[name]
        configured = getattr(config, name.rpartition(".")[2], None)
        if isinstance(configured, Path):
            return relative_to_root(configured)
        if isinstance(configured, tuple) and all(hasattr(item, "path") for item in configured):
            return ", ".join(relative_to_root(item.path) for item in configured)
        return name

    rows = [
        {
            "output": paths[output.name],
            "stage": output.stage,
            "made by": output.maker,
            "inputs": ", ".join(where(name) for name in output.inputs),
        }
        for output in _registered_files(codebook)
    ]
    for figure in registered.figures(codebook):
        rows.append(
            {
                "output": f"{folders['figures_dir']}/{figure.name}.{{png,svg,csv,caption.txt}}",
                "stage": "figures",
                "made by": figure.maker,
                "inputs": ", ".join(where(registered.FIGURE_INPUT_OUTPUTS[i]) for i in figure.inputs),
            }
        )
    return pd.DataFrame(rows, columns=["output", "stage", "made by", "inputs"])


def data_dictionary_entries(config: Config, codebook: Codebook) -> list[dict[str, Any]]:
    """Every output with every column: its name, its header in the spreadsheets, its kind, what it means."""
    folders = _folders(config)
    entries = []
    outputs = [(output, output.columns) for output in _registered_files(codebook)]
    outputs += [
        (
            registered.Output(
                figure.name,
                "figures",
                f"{figure.name}.csv",
                "figures",
                figure.maker,
                f"the numbers figure {figure.name} plots",
            ),
            figure.columns,
        )
        for figure in registered.figures(codebook)
    ]
    for output, columns in outputs:
        path = registered.relative_path(output, folders)
        table_name = output.filename.removesuffix(".csv") if output.filename.endswith(".csv") else None
        rows = tuple(
            Row((column.name, display.header(column.name, table_name), column.kind, column.description))
            for column in columns or ()
        )
        summary = output.description
        if output.codebook_columns:
            summary += " Its columns are the codebook's variables (data/raw/codebook.yaml), one per question."
        elif not rows:
            summary += " Not a table: no columns."
        entries.append(
            {
                "id": f"output-{_slug(path)}",
                "path": path,
                "summary": f"{summary} Made by {output.maker} (stage: {output.stage}).",
                "columns": Table(
                    id=f"columns-{_slug(path)}",
                    caption=f"Columns of {path}",
                    headers=("Column", "Header in the spreadsheets", "Kind", "Description"),
                    rows=rows,
                )
                if rows
                else None,
            }
        )
    return entries


def render_data_dictionary(config: Config, codebook: Codebook, report_href: str) -> str:
    """The data dictionary page: every output column, from the registry."""
    heading = "Data dictionary: every output column"
    return (
        environment()
        .get_template("data_dictionary.html.j2")
        .render(
            title=("Synthetic data: " if config.synthetic_data else "") + heading,
            heading=heading,
            synthetic=config.synthetic_data,
            banner_head=SYNTHETIC_HEAD,
            banner=SYNTHETIC_BANNER,
            outputs=data_dictionary_entries(config, codebook),
            registry="pipeline/study/outputs.py",
            report_href=report_href,
        )
    )


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise PipelineError(f"{relative_to_root(path)}: not found; run `make all` to build it")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def build_inputs(
    config: Config, tables_dir: Path, figures_dir: Path, out: Path, processed_dir: Path | None = None
) -> ReportInputs:
    codebook = load_codebook(config.codebook)
    processed_dir = processed_dir or config.processed_dir
    tables = {name: read_table(tables_dir / f"{name}.csv") for name in TABLE_NAMES}
    if (figures_dir / "coverage.csv").exists():
        tables["coverage"] = read_table(figures_dir / "coverage.csv")
    if WEIGHTING_VALIDATION_RESULTS.exists():
        tables[report_inference.WEIGHTING_VALIDATION] = read_table(WEIGHTING_VALIDATION_RESULTS)
    manifests = {}
    for key, path in (
        ("ingest", processed_dir / "manifest.json"),
        ("validation", processed_dir / "validation_report.json"),
        ("analysis", tables_dir.parent / "manifest.json"),
    ):
        manifests[key] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    figures = load_figures(figures_dir, out.parent, codebook, config.synthetic_data)
    links = {
        label: Path(os.path.relpath(path.resolve(), out.parent.resolve())).as_posix()
        for label, path in (
            ("Every table as an accessible spreadsheet (Excel)", out.parent / "lsp_survey_tables.xlsx"),
            ("Every table as an accessible spreadsheet (OpenDocument)", out.parent / "lsp_survey_tables.ods"),
            ("Data dictionary: every column of every output", out.parent / DICTIONARY_NAME),
        )
    }
    return ReportInputs(config, codebook, tables, manifests, figures, output_index(config, codebook), links)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--tables", "{analysis_dir}/tables", "the analysis tables")
    path_option(parser, "--figures", "{figures_dir}", "the figures")
    path_option(parser, "--processed", "{processed_dir}", "the ingest and validation manifests' folder")
    path_option(parser, "--out", "{analysis_dir}/report.html", "where to write the report")
    path_option(
        parser, "--dictionary", "{analysis_dir}/" + DICTIONARY_NAME, "where to write the data dictionary"
    )
    arguments, config = parse_stage_arguments(parser, argv)
    inputs = build_inputs(config, arguments.tables, arguments.figures, arguments.out, arguments.processed)
    report = render_report(inputs)
    write_text(arguments.out, report)
    report_href = Path(
        os.path.relpath(arguments.out.resolve(), arguments.dictionary.resolve().parent)
    ).as_posix()
    write_text(arguments.dictionary, render_data_dictionary(config, inputs.codebook, report_href))
    log.info(
        "wrote %s: %d figures, %d kB",
        relative_to_root(arguments.out),
        len(inputs.figures),
        len(report) // 1024,
    )


if __name__ == "__main__":
    run_stage("report", main)
