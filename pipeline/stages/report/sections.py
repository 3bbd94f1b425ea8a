"""The report's sections: each one template, ``pipeline/templates/sections/<id>.html.j2``, one context
function ``(ReportInputs) -> dict`` and one ``Section`` in ``SECTIONS``, which also names the figures the
section shows (figures are numbered in that order); and the page that renders them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline import __version__
from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.core.paths import relative_to_root
from pipeline.stages import report_inference
from pipeline.stages.report.findings import RELIABILITY_THRESHOLD, key_findings
from pipeline.stages.report.inputs import (
    ANNEX_PAGE,
    ANNEX_TITLE,
    DICTIONARY_NAME,
    MAIN_PAGE,
    SYNTHETIC_BANNER,
    SYNTHETIC_HEAD,
    TITLE,
    ReportInputs,
    environment,
)
from pipeline.stages.report.tables import MEASURE_NAMES, difference_table, row_id, suppressed_text, weighted
from pipeline.stages.report_tables import Row, Table, decimals, frame_table, numeric, text, words
from pipeline.study import display
from pipeline.study.outcomes import BINARY_MEASURES


@dataclass(frozen=True)
class Section:
    """One section of the report: its template is ``sections/<id>.html.j2``.

    ``figures`` are the figure names it shows, in order; ``{element}`` expands to every 7S element of the
    codebook. ``context`` returns what the template needs besides ``inputs``, ``section`` and ``figures``;
    ``page_context``, if any, what only the rendered page needs (never a table: report-tables, which
    makes the tables without rendering the page, does not compute it).
    """

    id: str
    title: str
    context: Callable[[ReportInputs], dict[str, Any]]
    figures: tuple[str, ...] = ()
    page: str = MAIN_PAGE
    page_context: Callable[[ReportInputs], dict[str, Any]] | None = None

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


def who_answered(inputs: ReportInputs) -> dict[str, Any]:
    validation = inputs.manifests.get("validation", {})
    files = sorted(validation.get("files", {}).items())
    reconciliation = Table(
        id="table-rows-read",
        caption="Rows read from each survey export and where each ended up",
        headers=("File", "Respondents", "Rows read", "Valid", "Rejected"),
        code=(True, False, False, False, False),
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
            "Every row read is either valid or listed, with its file, row, column and check, in the "
            "processed data's rejects file (rejected.csv)."
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
                        display.count(r.lsps_responding) or suppressed_text(r.suppressed),
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
    estimates = weighted(inputs.tables["estimates"])
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
                    display.percent_ci(r.estimate, r.ci_low, r.ci_high) or suppressed_text(r.suppressed),
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
                    display.percent_ci(r.estimate, r.ci_low, r.ci_high) or suppressed_text(r.suppressed),
                    display.count(r.n),
                ),
                id=row_id("agree", r.instrument, r.item, "agree"),
            )
            for r in agree.itertuples(index=False)
        ),
        numeric=(False, False, False, True, True),
        note=f"Weighted; coordinators describe the {inputs.frame_lsps} LSPs, partners describe board "
        "partners.",
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
        "definition": inputs.config.maturity_primary.replace("_", " ") + " definition",
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


def published_label(published_id: object) -> str:
    """A published number's id in words: "para58_challenge_by_cpa" -> "Paragraph 58: challenge by CPA"."""
    name = str(published_id)
    for code, words_for in (("para", "Paragraph "), ("fig", "Figure "), ("figure", "Figure ")):
        if name.startswith(code) and name[len(code) : len(code) + 1].isdigit():
            number, _, rest = name[len(code) :].partition("_")
            rest = rest.replace("_", " ").replace("cpa", "CPA").replace("laa", "LAA").replace("lsp", "LSP")
            return f"{words_for}{number}: {rest}"
    return name.replace("_", " ")


def published(inputs: ReportInputs) -> dict[str, Any]:
    table = inputs.tables["published_vs_reproduced"]
    compared = table[table["status"] == "compared"]
    rows = []
    for r in compared.itertuples(index=False):
        direction_only = str(r.reason).startswith("only a direction")
        bounds = _bounds_text(r.bounds, direction_only)
        if display.missing(r.published_value) and bounds:
            published_text = f"{words(r.published)} ({bounds})"
        else:
            published_text = words(r.published)
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
                    words(r.reason),
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
        {"id": published_label(r.published_id), "reason": words(r.reason), "status": words(r.status)}
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
        code=(False, False, True),
        rows=tuple(
            Row((name.capitalize(), words(spec.get("label")), text(spec.get("r_equivalent"))))
            for name, spec in weighted.items()
        ),
    )
    deff = designs.get("design_effect", {})
    deff_text = (
        "; ".join(f"{name}: {rule}" for name, rule in deff.items()) if isinstance(deff, dict) else text(deff)
    )
    inference = [
        words(
            f"{kind.capitalize()} (designs {spec.get('designs', '')}): {spec.get('population', '')}; serves "
            f"{spec.get('serves', '')}; because {spec.get('reason', '')}."
        )
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
    return {
        "reliability": reliability,
        "power": power_table,
        "min_cell": inputs.config.min_cell,
        "threshold": RELIABILITY_THRESHOLD,
        "reconciliation": who_answered(inputs)["reconciliation"],
    }


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
        code=(True, False, True, True),
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
        code=(True, False, True),
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
    }


def configuration_shown(inputs: ReportInputs) -> dict[str, Any]:
    """The configuration file, whole, as the provenance section shows it: the page's alone (no table
    holds it), so the tables made without the page do not depend on every byte of config.yaml."""
    return {
        "config_path": relative_to_root(inputs.config.source),
        "config_text": inputs.config.source.read_text(encoding="utf-8"),
    }


# The main page first (findings, then the headline sections), then the technical annex; figures are
# numbered in this order across both pages.
SECTIONS: tuple[Section, ...] = (
    Section("findings", "Key findings", key_findings),
    Section("who-answered", "Who answered", who_answered, ("coverage",)),
    Section("seven-s", "The 7S profile", seven_s_profile),
    Section("maturity", "Maturity", maturity, ("maturity_profile", "likert_{element}_maturity")),
    Section("tier", "Single-tier and multi-tier areas", tier, ("forest", "likert_{element}_tier")),
    Section(
        "report-charts",
        "The 2009 report's own charts, redrawn",
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
    Section("primary", "Primary tests and models", primary_tests, page=ANNEX_PAGE),
    Section("nonresponse", "Nonresponse and weighting", nonresponse, ("nonresponse",), page=ANNEX_PAGE),
    Section("methods", "Methods", methods, page=ANNEX_PAGE),
    Section("quality", "Measurement and quality", quality, ("case_studies",), page=ANNEX_PAGE),
    Section("sensitivity", "Sensitivity", sensitivity, page=ANNEX_PAGE),
    Section("outputs", "Outputs and data dictionary", outputs, page=ANNEX_PAGE),
    Section("provenance", "Provenance", provenance, page=ANNEX_PAGE, page_context=configuration_shown),
)
PAGE_HEADINGS = {MAIN_PAGE: TITLE, ANNEX_PAGE: ANNEX_TITLE}


def release_metadata(config: Config) -> list[tuple[str, str]]:
    """The release's date, status, contact and next update, from config.yaml's ``release`` block."""
    release = config.release
    if not release:
        return [("Status", "Not a release: a run of the pipeline (config.yaml has no release block)")]
    return [
        ("Published", str(release["date"])),
        ("Status", str(release["status"])),
        ("Contact", str(release["contact"])),
        ("Next update", str(release["next_update"])),
    ]


def section_contexts(inputs: ReportInputs, page: str) -> dict[str, dict[str, Any]]:
    """Each section's context on one page, by section id: the stage computes them once for the page and
    the export of its tables (pipeline.stages.report.table_export)."""
    return {section.id: section.context(inputs) for section in SECTIONS if section.page == page}


def render_page(inputs: ReportInputs, page: str, contexts: dict[str, dict[str, Any]] | None = None) -> str:
    """One page of the release (``MAIN_PAGE`` or ``ANNEX_PAGE``) as an HTML string; ``contexts`` are the
    page's ``section_contexts`` if already computed."""
    if contexts is None:
        contexts = section_contexts(inputs, page)
    rendered = []
    for section in (s for s in SECTIONS if s.page == page):
        figures = [inputs.figures[n] for n in section.figure_names(inputs.codebook) if n in inputs.figures]
        shown_only = section.page_context(inputs) if section.page_context else {}
        rendered.append({"section": section, "figures": figures, **contexts[section.id], **shown_only})
    heading = PAGE_HEADINGS[page]
    files = inputs.manifests.get("validation", {}).get("files", {})
    answered = {
        instrument: sum(int(c.get("valid") or 0) for c in files.values() if c.get("instrument") == instrument)
        for instrument in ("coordinator", "partner")
    }
    elements = list(inputs.codebook.elements.values())
    lede = (
        f"{display.count(answered['coordinator'])} coordinators and {display.count(answered['partner'])} "
        "board partners of England's Local Strategic Partnerships (LSPs) answered the Audit Commission's "
        f"2007-08 survey. The 7S are the report's {len(elements)} themes of a well-run partnership: "
        f"{', '.join(e.lower() for e in elements[:-1])} and {elements[-1].lower()}."
    )
    title = ("Synthetic data: " if inputs.config.synthetic_data else "") + heading
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            heading=heading,
            page=page,
            main_page=MAIN_PAGE,
            annex_page=ANNEX_PAGE,
            dictionary=DICTIONARY_NAME,
            release=release_metadata(inputs.config),
            lede=lede,
            synthetic=inputs.config.synthetic_data,
            banner_head=SYNTHETIC_HEAD,
            banner=SYNTHETIC_BANNER,
            sections=rendered,
            figures=[f for f in inputs.figures.values() if f.page == page],
            inputs=inputs,
        )
    )


def render_report(inputs: ReportInputs) -> str:
    """The main page: findings first, then the headline sections."""
    return render_page(inputs, MAIN_PAGE)


def render_annex(inputs: ReportInputs) -> str:
    """The technical annex: primary tests and models, weighting, methods, quality, provenance."""
    return render_page(inputs, ANNEX_PAGE)
