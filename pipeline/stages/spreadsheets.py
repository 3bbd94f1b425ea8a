"""Spreadsheets stage: every published table as an accessible .xlsx and .ods workbook.

Follows the Government Analysis Function's guidance for releasing statistics in spreadsheets: a cover
sheet first (with the synthetic-data warning when the data are synthetic), a contents sheet, a notes
sheet, then one table per sheet with its title in cell A1, no merged cells, no blank rows inside a table,
headers in words and marked as headers (an Excel table's header row; ODS ``table-header-rows``), numbers
stored as numbers, and shorthand instead of blank cells: [c] for a cell suppressed to protect
respondents, [z] where a value does not apply (a test with no estimate, an interval not computed).

The .xlsx is written by gptables (the Analysis Function's own package); the .ods, with the same sheets
and text, by the standard library's ElementTree (odfpy, which reads it back in the tests, is too slow to
write 180,000 cells). Both are byte-identical across reruns: fixed document dates and zip timestamps.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path, run_stage
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.study import display
from pipeline.study.respondents import check_table_instruments

log = logging.getLogger("pipeline.stages.spreadsheets")

WORKBOOK_STEM = "lsp_survey_tables"
TITLE = "Working better together? Reproducing the 2008 survey of Local Strategic Partnerships: tables"
SUPPRESSED, NOT_APPLICABLE = "[c]", "[z]"
# Documents carry no date of the run: the same inputs give the same bytes.
FIXED_DATE = dt.datetime(2009, 4, 1, tzinfo=dt.UTC)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
INSTRUCTIONS = (
    "This worksheet contains one table. Some cells refer to notes, which can be found on the notes worksheet."
)
LEGEND = [f"{SUPPRESSED} = suppressed to protect respondents", f"{NOT_APPLICABLE} = not applicable"]


@dataclass(frozen=True)
class PublishedTable:
    """One analysis table as a sheet: its file, sheet name, title and what it holds."""

    name: str
    sheet: str
    title: str
    description: str
    notes: tuple[str, ...] = ()


PUBLISHED_TABLES: tuple[PublishedTable, ...] = (
    PublishedTable(
        "estimates",
        "Table_1",
        "Estimates: every item by respondent type, weighting and breakdown",
        "Proportions, means and shares with standard errors, 95% confidence intervals and design effects.",
        ("note1", "note2", "note3", "note4"),
    ),
    PublishedTable(
        "comparisons",
        "Table_2",
        "Comparisons: tier, maturity and respondent type, with tests and FDR control",
        "Differences between groups with 95% confidence intervals, design-based tests, raw and FDR-adjusted "
        "p-values and effect sizes.",
        ("note1", "note2", "note3", "note4", "note5"),
    ),
    PublishedTable(
        "maturity_sensitivity",
        "Table_3",
        "Maturity sensitivity: every maturity comparison under each definition of maturity",
        "The maturity differences rerun under each alternative definition, against the primary definition.",
        ("note1", "note3", "note5", "note6"),
    ),
    PublishedTable(
        "power",
        "Table_4",
        "Power: the smallest difference each comparison could detect",
        "Minimum detectable difference in a proportion at 80% power and the 5% level, given the achieved "
        "group sizes and the median design effect.",
        ("note1",),
    ),
    PublishedTable(
        "scale_reliability",
        "Table_5",
        "Scale reliability: Cronbach's alpha of each 7S scale",
        "The items of each 7S scale, the reverse-worded ones, complete answers and Cronbach's alpha.",
        ("note1",),
    ),
    PublishedTable(
        "published_vs_reproduced",
        "Table_6",
        "Published against reproduced: each published number beside this pipeline's estimate",
        "The Audit Commission's published values (percentages) beside our weighted estimate and its 95% "
        "confidence interval; numbers that cannot be reproduced give their reason.",
        ("note1", "note7"),
    ),
    PublishedTable(
        "primary_tests",
        "Table_7",
        "Primary tests: the two pre-specified headline tests, adjusted and marginal",
        "The adjusted tier and maturity effects on the overall 7S score (analytic: partnerships in "
        "general) beside the marginal differences (descriptive: the 388 LSPs of 2008).",
        ("note1",),
    ),
    PublishedTable(
        "models",
        "Table_8",
        "Models: adjusted tier and maturity effects on every 7S scale and item",
        "Design-based regressions of each outcome on tier and maturity with deprivation, LAA round and "
        "region; estimates, intervals, tests and FDR-adjusted p-values.",
        ("note1",),
    ),
    PublishedTable(
        "model_tests",
        "Table_9",
        "Model tests: interactions and joint tests across the seven scales",
        "Tier by maturity interactions and joint Wald tests of the seven scale effects.",
        ("note1",),
    ),
    PublishedTable(
        "partner_imputation",
        "Table_10",
        "Partners: adjusted effects with the LSP's maturity multiply imputed",
        "Complete cases against multiple imputation (Rubin's rules), weighting partners and weighting LSPs.",
        ("note1",),
    ),
    PublishedTable(
        "cfa_fit",
        "Table_11",
        "Measurement: confirmatory factor analysis of the 7S structure",
        "Fit of the seven-, two- and one-factor models and invariance between coordinators and partners.",
        ("note1",),
    ),
    PublishedTable(
        "nonresponse_frame_comparison",
        "Table_12",
        "Nonresponse: respondents against the frame",
        "The frame's shares, response rates and respondents' shares, unweighted and weighted, with tests.",
        ("note1",),
    ),
    PublishedTable(
        "nonresponse_propensity",
        "Table_13",
        "Nonresponse: response propensity model",
        "Logistic regression of response on the frame variables, with likelihood-ratio tests.",
        ("note1",),
    ),
    PublishedTable(
        "nonresponse_r_indicators",
        "Table_14",
        "Nonresponse: R-indicators",
        "Representativeness indicators of response, overall and partial by frame variable.",
        ("note1",),
    ),
    PublishedTable(
        "weight_diagnostics",
        "Table_15",
        "Weights: diagnostics of each weighting",
        "Range, coefficient of variation, Kish design effect, g-weights, trimming and merged cells of "
        "each weighting.",
        ("note1",),
    ),
    PublishedTable(
        "weighting_sensitivity",
        "Table_16",
        "Weighting sensitivity: the 7S scale means and differences under each weighting",
        "Levels and tier, maturity and respondent-type differences of the seven scale means under every "
        "weighting.",
        ("note1",),
    ),
    PublishedTable(
        "weighting_se_ratios",
        "Table_17",
        "Replicate-weight standard errors against linearisation",
        "JKn and bootstrap standard errors over linearised standard errors of the scale means.",
        ("note1",),
    ),
)


def notes(config: Config) -> pd.DataFrame:
    """The notes sheet: every note a table refers to."""
    synthetic = (
        "Synthetic data: every number comes from the project's synthetic survey, not from the Audit "
        "Commission's 2008 survey; no estimate here is the Audit Commission's."
        if config.synthetic_data
        else "Data: the survey exports named in the report's provenance section."
    )
    rows = [
        ("note1", synthetic),
        (
            "note2",
            "Weighted rows: coordinators weighted N_h/n_h by authority type (describing the 388 LSPs); "
            "partners "
            "weighted N_h/m_h with the LSP as primary sampling unit. Unweighted rows are raw shares of "
            "respondents, kept as a sensitivity analysis.",
        ),
        (
            "note3",
            f"Cells resting on fewer than {config.min_cell} respondents are suppressed and shown as [c]; the "
            "suppressed column says why.",
        ),
        (
            "note4",
            "95% confidence intervals: logit scale with t quantiles on the design degrees of freedom for "
            "proportions (R svyciprop method logit).",
        ),
        (
            "note5",
            "FDR: Benjamini-Hochberg false-discovery-rate adjustment within each family of tests (one "
            "comparison, population, test and weighting).",
        ),
        (
            "note6",
            f"Primary maturity definition: {config.maturity_primary}; the alternatives are rerun here.",
        ),
        (
            "note7",
            "Published values are the Audit Commission's (Working better together?, 2009); where the report "
            "gives wording rather than a number, the bounds column gives the range the wording allows.",
        ),
    ]
    return pd.DataFrame(rows, columns=["Note number", "Note text"])


def sheet_frame(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The table as a sheet shows it: headers in words, booleans as Yes/No, no blank cell."""
    # An empty string is as blank as a missing value (the tables in memory use both).
    shown = table.replace(r"^\s*$", float("nan"), regex=True)
    suppressed = (
        shown["suppressed"].notna() & shown["suppressed"].astype(str).str.strip().ne("")
        if "suppressed" in shown
        else pd.Series(False, index=shown.index)
    )
    columns: list[tuple[str, pd.Series]] = []
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_bool_dtype(values) or set(values.dropna().astype(str)) <= {"True", "False"}:
            values = values.map(display.yes_no, na_action="ignore")
        filled = values.astype(object).where(values.notna(), None)
        marker = pd.Series(NOT_APPLICABLE, index=shown.index, dtype=object).where(~suppressed, SUPPRESSED)
        columns.append((display.header(column, name), filled.where(filled.notna(), marker)))
    headers = [header for header, _ in columns]
    repeated = sorted({header for header in headers if headers.count(header) > 1})
    if repeated:
        raise PipelineError(f"{name}: two columns share a header: {', '.join(repeated)}")
    return pd.DataFrame(dict(columns))


def _cover_lines(config: Config) -> tuple[list[str], list[str]]:
    intro = [
        "Tables from a reproducible analysis of the Audit Commission's 2007-08 survey of Local Strategic "
        "Partnerships: 388 LSPs, one per principal council in England; 191 coordinators and 282 board "
        "partners answered.",
    ]
    if config.synthetic_data:
        intro.insert(
            0,
            "WARNING: SYNTHETIC DATA. The survey's microdata were never published. Every number in this "
            "workbook comes from the project's synthetic survey, a seeded model calibrated to the report's "
            "published figures. No estimate here is the Audit Commission's.",
        )
    about = [
        "This workbook has a contents sheet, a notes sheet and one table per sheet. Each table starts in "
        "cell "
        "A1 with its title; the header row names every column.",
        "Shorthand: [c] suppressed to protect respondents (fewer than "
        f"{config.min_cell} answers); [z] not applicable.",
        "Proportions are between 0 and 1; percentages are marked as such in the column header.",
        "Coordinators' answers describe the 388 LSPs of 2008 (descriptive estimates); partners' answers "
        "describe board partners.",
        "Source: Audit Commission LSP survey, 2008 (reconstructed); built by the pipeline's make all.",
    ]
    release = config.release
    if release:
        about += [
            f"Published: {release['date']}.",
            f"Status: {release['status']}.",
            f"Contact: {release['contact']}.",
            f"Next update: {release['next_update']}.",
        ]
    else:
        about.append("Status: not a release (the configuration has no release block).")
    return intro, about


# ---------------------------------------------------------------------------------------------- xlsx


def write_xlsx(sheets: dict[PublishedTable, pd.DataFrame], config: Config, target: Path) -> None:
    """The workbook through gptables: cover, contents, notes, one Excel table per sheet."""
    import gptables

    intro, about = _cover_lines(config)
    cover = gptables.Cover(title=TITLE, intro=intro, about=about, contact=None)
    gp_sheets = {}
    for spec, frame in sheets.items():
        references = "".join(f"$${note}$$" for note in spec.notes)
        gp_sheets[spec.sheet] = gptables.GPTable(
            table=frame.astype(
                object
            ),  # gptables writes its header into the frame: object keeps dtypes quiet
            table_name=spec.name,
            title=f"{spec.title} {references}".strip(),
            subtitles=[spec.description],
            instructions=INSTRUCTIONS,
            source="Source: Audit Commission LSP survey, 2008 (reconstructed)",
            legend=LEGEND,
            index_columns={},
        )
    with atomic_path(target) as temporary:
        workbook = gptables.produce_workbook(
            filename=str(temporary),
            sheets=gp_sheets,
            cover=cover,
            notes_table=notes(config),
            contentsheet_options={"title": "Contents"},
            auto_width=True,
        )
        workbook.set_properties({"title": TITLE, "created": FIXED_DATE.replace(tzinfo=None)})
        workbook.close()


# ----------------------------------------------------------------------------------------------- ods


ODF_NAMESPACES = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}
ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{ODF_NAMESPACES[prefix]}}}{local}"


def _ods_cell(row: Any, value: object, style: str | None = None) -> None:
    from xml.etree.ElementTree import SubElement

    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        value = display.yes_no(value)
    if isinstance(value, int | float):
        text = repr(value)
        cell = SubElement(
            row, _q("table:table-cell"), {_q("office:value-type"): "float", _q("office:value"): text}
        )
    else:
        text = "" if value is None else str(value)
        cell = SubElement(row, _q("table:table-cell"), {_q("office:value-type"): "string"})
    if style:
        cell.set(_q("table:style-name"), style)
    SubElement(cell, _q("text:p")).text = text


def write_ods(sheets: dict[PublishedTable, pd.DataFrame], config: Config, target: Path) -> None:
    """The same workbook as OpenDocument (ODF 1.2): cover, contents, notes, one table per sheet, header
    rows marked with ``table:table-header-rows``.

    Written with the standard library's ElementTree: odfpy (the reader pandas uses, and the tests) takes
    over a minute for the 180,000 cells; this takes seconds and writes the same structure.
    """
    from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

    for prefix, uri in ODF_NAMESPACES.items():
        register_namespace(prefix, uri)
    content = Element(_q("office:document-content"), {_q("office:version"): "1.2"})
    styles = SubElement(content, _q("office:automatic-styles"))
    for name, properties in (
        ("heading", {"fo:font-weight": "bold"}),
        ("title", {"fo:font-weight": "bold", "fo:font-size": "14pt"}),
    ):
        style = SubElement(
            styles, _q("style:style"), {_q("style:name"): name, _q("style:family"): "table-cell"}
        )
        SubElement(style, _q("style:text-properties"), {_q(k): v for k, v in properties.items()})
    wide = SubElement(
        styles, _q("style:style"), {_q("style:name"): "wide", _q("style:family"): "table-column"}
    )
    SubElement(wide, _q("style:table-column-properties"), {_q("style:column-width"): "6in"})
    spreadsheet = SubElement(SubElement(content, _q("office:body")), _q("office:spreadsheet"))

    def sheet(name: str, preamble: list[tuple[str, str | None]], frame: pd.DataFrame | None = None) -> None:
        table = SubElement(spreadsheet, _q("table:table"), {_q("table:name"): name})
        if frame is None:
            SubElement(table, _q("table:table-column"), {_q("table:style-name"): "wide"})
        for text, style in preamble:
            _ods_cell(SubElement(table, _q("table:table-row")), text, style)
        if frame is None:
            return
        header = SubElement(SubElement(table, _q("table:table-header-rows")), _q("table:table-row"))
        for column in frame.columns:
            _ods_cell(header, str(column), "heading")
        for record in frame.itertuples(index=False):
            row = SubElement(table, _q("table:table-row"))
            for value in record:
                _ods_cell(row, value)

    intro, about = _cover_lines(config)
    sheet("Cover", [(TITLE, "title")] + [(line, None) for line in intro + about])
    contents = pd.DataFrame(
        [("Notes", "Notes")] + [(spec.sheet, spec.title) for spec in sheets],
        columns=["Sheet name", "Table description"],
    )
    sheet("Contents", [("Contents", "title"), ("This worksheet contains one table.", None)], contents)
    sheet("Notes", [("Notes", "title"), ("This worksheet contains one table.", None)], notes(config))
    for spec, frame in sheets.items():
        references = " ".join(f"[{note}]" for note in spec.notes)
        preamble = [
            (f"{spec.title} {references}", "title"),
            (spec.description, None),
            (INSTRUCTIONS, None),
            *[(line, None) for line in LEGEND],
            ("Source: Audit Commission LSP survey, 2008 (reconstructed)", None),
        ]
        sheet(spec.sheet, preamble, frame)

    manifest = Element(_q("manifest:manifest"), {_q("manifest:version"): "1.2"})
    for path, media in (("/", ODS_MIMETYPE), ("content.xml", "text/xml")):
        entry = SubElement(
            manifest,
            _q("manifest:file-entry"),
            {_q("manifest:full-path"): path, _q("manifest:media-type"): media},
        )
        if path == "/":
            entry.set(_q("manifest:version"), "1.2")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in (
            (
                "mimetype",
                ODS_MIMETYPE.encode("ascii"),
                zipfile.ZIP_STORED,
            ),  # first and stored, as ODF requires
            (
                "META-INF/manifest.xml",
                tostring(manifest, encoding="UTF-8", xml_declaration=True),
                zipfile.ZIP_DEFLATED,
            ),
            ("content.xml", tostring(content, encoding="UTF-8", xml_declaration=True), zipfile.ZIP_DEFLATED),
        ):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    with atomic_path(target) as temporary:
        temporary.write_bytes(buffer.getvalue())


# ------------------------------------------------------------------------------------------- stage


def published_sheets(tables: dict[str, pd.DataFrame]) -> dict[PublishedTable, pd.DataFrame]:
    """Every published table, as its sheet shows it."""
    missing = [spec.name for spec in PUBLISHED_TABLES if spec.name not in tables]
    if missing:
        raise PipelineError(f"no table {', '.join(missing)}: run `{rebuild_command('analyse')}` first")
    return {spec: sheet_frame(tables[spec.name], spec.name) for spec in PUBLISHED_TABLES}


def write_workbooks(tables: dict[str, pd.DataFrame], config: Config, out_dir: Path) -> dict[str, Path]:
    """Write ``lsp_survey_tables.xlsx`` and ``.ods`` into ``out_dir``."""
    sheets = published_sheets(tables)
    paths = {suffix: out_dir / f"{WORKBOOK_STEM}.{suffix}" for suffix in ("xlsx", "ods")}
    write_xlsx(sheets, config, paths["xlsx"])
    write_ods(sheets, config, paths["ods"])
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--tables", "{analysis_dir}/tables", "the analysis tables")
    path_option(parser, "--out", "{analysis_dir}", "the folder the two workbooks are written to")
    arguments, config = parse_stage_arguments(parser, argv)
    tables = {}
    for spec in PUBLISHED_TABLES:
        path = arguments.tables / f"{spec.name}.csv"
        if not path.exists():
            raise PipelineError(
                f"{relative_to_root(path)}: not found; run `{rebuild_command('all')}` to build it"
            )
        tables[spec.name] = pd.read_csv(path, keep_default_na=False, na_values=[""])
        if spec.name == "estimates":
            check_table_instruments(tables[spec.name], relative_to_root(path))
    paths = write_workbooks(tables, config, arguments.out)
    for path in paths.values():
        log.info("wrote %s (%d sheets of tables)", relative_to_root(path), len(PUBLISHED_TABLES))


if __name__ == "__main__":
    run_stage("spreadsheets", main)
