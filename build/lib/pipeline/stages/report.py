"""Report stage: one self-contained HTML file a reviewer can read and check, number by number.

analysis/report.html holds, in order: a banner when the data are synthetic; the headline findings; the
methods (designs, weights, maturity definitions, tests, false-discovery-rate control, disclosure rule);
the published-versus-reproduced table; every figure beside the numbers it plots; the sensitivity results;
an index of every output with the stage and function that made it and the sha256 of its inputs; and the
provenance of the run (input hashes, code version, package versions, configuration).

Figures are embedded as PNG data URIs, so the file opens anywhere with no other file beside it. Nothing in
it depends on the time of the run: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path

import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, sha256_file, write_text
from pipeline.core.paths import relative_to_root
from pipeline.study import outputs
from pipeline.study.vocabulary import INSTRUMENTS

log = logging.getLogger("pipeline.stages.report")

SYNTHETIC_BANNER = (
    "Synthetic data. The Audit Commission never published the survey's microdata: every number in this "
    "report comes from the project's synthetic survey, a seeded model calibrated to the report's published "
    "figures. No estimate here is the Audit Commission's; the published values are quoted only beside ours "
    "for comparison."
)
STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1em;
       color: #1a1a1a; line-height: 1.45; }
.banner { background: #fff3cd; border: 2px solid #b8860b; padding: 0.8em 1em; font-weight: bold; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #eef; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #333; }
details { margin-bottom: 1em; }
nav ul { columns: 2; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _escape(value: object) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value))


def _format_cell(value: object) -> tuple[str, bool]:
    if isinstance(value, float):
        if pd.isna(value):
            return "", True
        return (f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"), True
    if isinstance(value, int | bool):
        return str(value), not isinstance(value, bool)
    return _escape(value), False


def html_table(table: pd.DataFrame, columns: list[str] | None = None, max_rows: int | None = None) -> str:
    """A plain HTML table; numbers right-aligned with four significant digits."""
    shown = table if columns is None else table[[c for c in columns if c in table.columns]]
    if max_rows is not None:
        shown = shown.head(max_rows)
    head = "".join(f"<th>{_escape(c)}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for value in record:
            text, numeric = _format_cell(value.item() if hasattr(value, "item") else value)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise PipelineError(f"{relative_to_root(path)}: not found; run `make all` to build it")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def headline_findings(comparisons: pd.DataFrame, estimates: pd.DataFrame) -> list[str]:
    """Plain-language statements computed from the comparison table (weighted, FDR-controlled)."""
    findings = []
    differences = comparisons[
        (comparisons["weighting"] == "weighted")
        & (comparisons["test"] == "difference (design-based t)")
        & (comparisons["measure"] == "agree")
    ]
    for group, wording in (
        ("tier", "multi-tier LSPs below single-tier LSPs"),
        ("maturity", "more mature LSPs ahead of less mature ones"),
    ):
        for instrument in INSTRUMENTS:
            rows = differences[(differences["group"] == group) & (differences["instrument"] == instrument)]
            tested = rows["estimate"].notna()
            if not tested.any():
                continue
            positive = rows["estimate"] > 0
            favourable = ~positive if group == "tier" else positive
            significant = rows["p_fdr"] < 0.05
            findings.append(
                f"{instrument.capitalize()}s, {group}: on {int((favourable & tested).sum())} of "
                f"{int(tested.sum())} Likert items the difference points to {wording}; "
                f"{int((significant & tested).sum())} differences are significant after false-discovery-rate "
                f"control (Benjamini-Hochberg, 5%), {int((significant & favourable).sum())} of them in that "
                "direction."
            )
    scales = estimates[
        (estimates["weighting"] == "weighted")
        & (estimates["measure"] == "positive")
        & (estimates["group"] == "all")
    ]
    for instrument in INSTRUMENTS:
        rows = scales[scales["instrument"] == instrument].dropna(subset=["estimate"])
        if len(rows):
            best, worst = rows.loc[rows["estimate"].idxmax()], rows.loc[rows["estimate"].idxmin()]
            findings.append(
                f"{instrument.capitalize()}s are most positive about {best['item_label']} "
                f"({100 * best['estimate']:.0f}%) and least about {worst['item_label']} "
                f"({100 * worst['estimate']:.0f}%)."
            )
    return findings


def methods_section(config: Config, analysis_manifest: dict, codebook: Codebook) -> str:
    designs = analysis_manifest.get("designs", {})
    weighted = designs.get("weighted", {})
    design_rows = "".join(
        f"<tr><td>{_escape(name)}</td><td>{_escape(spec.get('label', ''))}</td>"
        f"<td><code>{_escape(spec.get('r_equivalent', ''))}</code></td></tr>"
        for name, spec in weighted.items()
    )
    alternatives = ", ".join(f"<code>{_escape(a)}</code>" for a in config.maturity_alternatives)
    elements = ", ".join(_escape(label) for label in codebook.elements.values())
    return f"""
<h2 id="methods">Methods</h2>
<p><b>Populations.</b> Coordinators' answers describe the {388} LSPs in England (one coordinator answers for
each LSP); partners' answers describe board partners, who are clustered within their LSPs.</p>
<p><b>Designs.</b> Each design is declared once (<code>pipeline/study/designs.py</code>) and used by every
estimate; subgroup estimates keep the whole design (rows are never dropped before the variance is computed).
Variances are linearised (Taylor series); the engine (<code>pipeline/survey</code>) is checked against R's
<code>survey</code> package to 1e-6 relative.</p>
<table><thead><tr><th>population</th><th>design</th><th>R equivalent</th></tr></thead>
<tbody>{design_rows}</tbody></table>
<p><b>Weights.</b> Coordinators weigh N<sub>h</sub>/n<sub>h</sub>: the respondents of each authority type are
post-stratified to the frame's count of that type, with the finite population correction
n<sub>h</sub>/N<sub>h</sub> (191 of 388 LSPs answered). Partners weigh N<sub>h</sub>/m<sub>h</sub>, with
m<sub>h</sub> the LSPs of type h with a partner respondent; the LSP is the primary sampling unit, taken
as drawn with replacement (no finite population correction: partners are a subsample of each board, and an
LSP-level correction made 95% intervals cover only 86% in the method-validation study).
Unweighted results (raw shares of
respondents, what the report appears to show) are kept as a labelled sensitivity analysis.</p>
<p><b>Estimates.</b> Proportions agreeing (codes 4-5 of the five-point scale) among respondents who gave a
substantive answer; "don't know" is its own share among those asked. 95% intervals for proportions on the
logit scale with t quantiles on the design degrees of freedom (R: <code>svyciprop(method="logit")</code>).
Design effects: {_escape(analysis_manifest.get("designs", {}).get("design_effect", ""))}.</p>
<p><b>7S scales.</b> One scale per element ({elements}): the mean of the element's items asked of both
instruments, reverse-worded items flipped, given at least half the items; Cronbach's alpha per scale and
instrument. A scale counts as positive at a mean of 3.5 or more.</p>
<p><b>Maturity.</b> The report never defines maturity. Primary definition:
<code>{_escape(config.maturity_primary)}</code>;
alternatives rerun in the sensitivity table: {alternatives} (see <code>docs/maturity.md</code>).</p>
<p><b>Tests.</b> Differences between groups with a design-based t test (df = PSUs minus strata minus 1);
Rao-Scott adjusted chi-square (F form with its two degrees of freedom); proportional-odds regression of each
Likert item on tier and maturity together with design-based sandwich standard errors (R: <code>svyolr</code>);
coordinators against partners in a combined design clustered by LSP. Effect sizes: differences in proportion,
standardised mean differences, odds ratios, each with its 95% interval. Benjamini-Hochberg
false-discovery-rate adjustment within each family of tests (one comparison, population, test and
weighting); raw and adjusted p-values are both shown.</p>
<p><b>Disclosure control.</b> No published cell rests on fewer than {config.min_cell} respondents: such cells
are suppressed before anything is written, with secondary suppression where a margin would reveal them,
and the reason recorded in the <code>suppressed</code> column. No respondent id and no free text is
published.</p>
"""


def describe_code_version(version: dict) -> str:
    """The release and commit in words (the manifest's ``code_version``), never a Python repr."""
    release = f"lsp-survey-rap {version.get('version', __version__)}"
    commit = version.get("commit", "unknown")
    if commit == "unknown":
        return f"{release}, outside git (commit unknown)"
    state = " with uncommitted changes" if version.get("dirty") else ""
    return f"{release}, commit {commit}{state}"


def figure_sections(figures_dir: Path, synthetic: bool) -> str:
    """Every figure (PNG embedded) beside its plotted numbers and caption."""
    parts = []
    for png in sorted(figures_dir.glob("*.png")):
        name = png.stem
        data_path, caption_path = png.with_suffix(".csv"), figures_dir / f"{name}.caption.txt"
        if not data_path.exists():
            raise PipelineError(f"{relative_to_root(png)} has no data file beside it ({data_path.name})")
        caption = caption_path.read_text(encoding="utf-8").strip() if caption_path.exists() else name
        if synthetic and "synthetic" not in caption.lower():
            caption += " Synthetic data."
        encoded = base64.b64encode(png.read_bytes()).decode("ascii")
        data = _read_csv(data_path)
        parts.append(
            f'<figure id="figure-{_escape(name)}"><h3>{_escape(name)}</h3>'
            f'<img alt="{_escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{_escape(caption)}</figcaption></figure>"
            f"<details><summary>Numbers plotted ({len(data)} rows, "
            f"<code>figures/{_escape(data_path.name)}</code>)"
            f"</summary>{html_table(data)}</details>"
        )
    return "\n".join(parts)


def render_report(
    config: Config,
    codebook: Codebook,
    tables: dict[str, pd.DataFrame],
    manifests: dict[str, dict],
    figures_html: str,
    output_index: pd.DataFrame,
) -> str:
    """The whole report as one HTML string."""
    estimates, comparisons = tables["estimates"], tables["comparisons"]
    published = tables["published_vs_reproduced"]
    banner = (
        f'<p class="banner" id="synthetic-banner">{_escape(SYNTHETIC_BANNER)}</p>'
        if config.synthetic_data
        else ""
    )
    findings = "".join(f"<li>{_escape(f)}</li>" for f in headline_findings(comparisons, estimates))
    validation = manifests.get("validation", {})
    reconciliation = "".join(
        f"<li><code>{_escape(file)}</code>: read {counts.get('read')} = valid {counts.get('valid')} "
        f"+ rejected "
        f"{counts.get('rejected')}</li>"
        for file, counts in sorted(validation.get("files", {}).items())
    )
    sensitivity = tables["maturity_sensitivity"]
    agreement = (
        sensitivity.groupby(["instrument", "definition"], sort=False)
        .agg(
            comparisons=("estimate", lambda s: int(s.notna().sum())),
            same_direction_as_primary=("same_direction_as_primary", lambda s: int(s.astype(bool).sum())),
            significant_after_fdr=("significant_fdr", lambda s: int(s.astype(bool).sum())),
        )
        .reset_index()
    )
    weighting = _weighting_sensitivity(estimates)
    ingest = manifests.get("ingest", {})
    provenance_inputs = pd.DataFrame(
        [
            {"input": item.get("path"), "rows": item.get("rows"), "sha256": item.get("sha256")}
            for item in ingest.get("inputs", [])
        ]
    )
    packages = pd.DataFrame(sorted(ingest.get("packages", {}).items()), columns=["package", "version"])
    config_text = config.source.read_text(encoding="utf-8")
    title = "Working better together? Reproducing the 2008 LSP survey analysis"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
{banner}
<h1>{_escape(title)}</h1>
<p>A reproducible analysis of the Audit Commission's 2007-08 survey of Local Strategic Partnerships: 388 LSPs,
one per principal council in England; 191 LSP coordinators and 282 board partners answered (Audit Commission,
<i>Working better together? Managing local strategic partnerships</i>, April 2009). Built by
<code>make all</code>; every number traces to a table in <code>analysis/tables/</code> or a figure's CSV in
<code>figures/</code>.</p>
<nav><ul>
<li><a href="#findings">Findings</a></li><li><a href="#methods">Methods</a></li>
<li><a href="#published">Published against reproduced</a></li><li><a href="#figures">Figures</a></li>
<li><a href="#sensitivity">Sensitivity</a></li><li><a href="#power">Power</a></li>
<li><a href="#reliability">Scale reliability</a></li><li><a href="#index">Output index</a></li>
<li><a href="#provenance">Provenance</a></li></ul></nav>
<h2 id="findings">Findings</h2><ul>{findings}</ul>
<p>Rows read and accounted for:</p><ul>{reconciliation}</ul>
{methods_section(config, manifests.get("analysis", {}), codebook)}
<h2 id="published">Published against reproduced</h2>
<p>Every number the report publishes from the survey, beside our estimate and its 95% interval. "In interval"
says whether the published value lies inside our interval. Entries the data cannot reproduce say why.</p>
{html_table(published)}
<h2 id="figures">Figures</h2>
{figures_html}
<h2 id="sensitivity">Sensitivity</h2>
<h3>Maturity definitions</h3>
<p>The maturity difference of every proportion under each definition (weighted): how many point the same way
as under the primary definition, and how many are significant after FDR control.</p>
{html_table(agreement)}
<details><summary>Every maturity comparison under every definition ({len(sensitivity)} rows)</summary>
{
        html_table(
            sensitivity,
            [
                "instrument",
                "definition",
                "item_label",
                "measure",
                "n_a",
                "n_b",
                "estimate",
                "ci_low",
                "ci_high",
                "p",
                "p_fdr",
                "same_direction_as_primary",
                "suppressed",
            ],
        )
    }</details>
<h3>Weighted against unweighted</h3>
<p>Overall proportions with the design weights and as raw shares of respondents (the report's apparent
method); the largest differences first.</p>
{html_table(weighting, max_rows=25)}
<h2 id="power">Power</h2>
<p>The smallest difference in a proportion the comparisons could detect with 80% power at the 5% level,
given the achieved group sizes and the median design effect: a non-significant difference smaller than this
is not evidence of no difference.</p>
{html_table(tables["power"])}
<h2 id="reliability">Scale reliability</h2>
{html_table(tables["scale_reliability"])}
<h2 id="index">Output index</h2>
{html_table(output_index)}
<h2 id="provenance">Provenance</h2>
<p>Code: {_escape(describe_code_version(ingest.get("code_version", {})))}</p>
{html_table(provenance_inputs)}
<details><summary>Package versions</summary>{html_table(packages)}</details>
<details><summary>Configuration (<code>{_escape(relative_to_root(config.source))}</code>)</summary>
<pre>{_escape(config_text)}</pre></details>
</body></html>
"""


def _weighting_sensitivity(estimates: pd.DataFrame) -> pd.DataFrame:
    overall = estimates[
        (estimates["group"] == "all") & estimates["measure"].isin(["agree", "yes", "selected", "positive"])
    ]
    pivot = overall.pivot_table(
        index=["instrument", "item_label", "measure"], columns="weighting", values="estimate", aggfunc="first"
    ).reset_index()
    if {"weighted", "unweighted"} <= set(pivot.columns):
        pivot["difference"] = pivot["weighted"] - pivot["unweighted"]
        pivot = pivot.reindex(pivot["difference"].abs().sort_values(ascending=False, kind="stable").index)
    pivot.columns.name = None
    return pivot


def output_index(config: Config, codebook: Codebook) -> pd.DataFrame:
    """Each table and figure as the output registry declares it: the stage and function that made it, and
    its inputs (the analysis base with its sha256, so a reader can tell which data it came from)."""
    folders = {
        key: relative_to_root(getattr(config, key))
        for key in ("processed_dir", "analysis_dir", "figures_dir")
    }
    base = config.processed_dir / "analysis_base.parquet"
    base_hash = sha256_file(base) if base.exists() else "missing"
    paths = {output.name: outputs.relative_path(output, folders) for output in outputs.tables(codebook)}
    paths["frame"] = relative_to_root(config.frame)

    def described(inputs: tuple[str, ...]) -> str:
        shown = []
        for name in inputs:
            path = paths.get(name, name)
            shown.append(f"{path} (sha256 {base_hash[:16]}…)" if name == "analysis_base" else path)
        return "; ".join(shown)

    rows = [
        {
            "output": paths[output.name],
            "stage": output.stage,
            "made by": output.maker,
            "inputs": described(output.inputs),
        }
        for output in outputs.tables(codebook)
        if output.location == "tables"
    ]
    for figure in outputs.figures(codebook):
        rows.append(
            {
                "output": f"{folders['figures_dir']}/{figure.name}.png, .svg, .csv, .caption.txt",
                "stage": "figures",
                "made by": figure.maker,
                "inputs": described(tuple(outputs.FIGURE_INPUT_OUTPUTS[name] for name in figure.inputs)),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--tables", "{analysis_dir}/tables", "the analysis tables")
    path_option(parser, "--figures", "{figures_dir}", "the figures")
    path_option(parser, "--out", "{analysis_dir}/report.html", "where to write the report")
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)
    names = [
        "estimates",
        "comparisons",
        "maturity_sensitivity",
        "power",
        "scale_reliability",
        "published_vs_reproduced",
    ]
    tables = {name: _read_csv(arguments.tables / f"{name}.csv") for name in names}
    manifests = {}
    for key, path in (
        ("ingest", config.processed_dir / "manifest.json"),
        ("validation", config.processed_dir / "validation_report.json"),
        ("analysis", config.analysis_dir / "manifest.json"),
    ):
        manifests[key] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    figures_html = figure_sections(arguments.figures, config.synthetic_data)
    report = render_report(config, codebook, tables, manifests, figures_html, output_index(config, codebook))
    write_text(arguments.out, report)
    log.info(
        "wrote %s: %d figures, %d kB",
        relative_to_root(arguments.out),
        figures_html.count("<figure "),
        len(report) // 1024,
    )


if __name__ == "__main__":
    run_stage("report", main)
