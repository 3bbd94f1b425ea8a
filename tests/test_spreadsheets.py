"""Spreadsheets stage: the .xlsx and .ods read back (streamed, held equal to openpyxl's and odfpy's
readings) and held to the Analysis Function's spreadsheet checklist (tests/workbook_checklist.py), every
table the report shows a sheet of both, numbers as the report shows them, and each check shown to fail on
a workbook with that fault planted."""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from pipeline.core.errors import PipelineError
from pipeline.stages import spreadsheets
from pipeline.stages.spreadsheets import build_book, note_texts, write_workbooks
from pipeline.stages.spreadsheets_analysis import Labels, analysis_sheet
from pipeline.stages.spreadsheets_book import NOT_APPLICABLE, SUPPRESSED, Book
from pipeline.stages.spreadsheets_report import report_sheet
from pipeline.study import display
from pipeline.study.outputs import WORKBOOK_TABLES
from tests import workbook_checklist as checklist
from tests.toy_survey import toy_analysis

COUNTS = {"lsps": 388, "coordinator": 191, "partner": 282}


def _record(
    table_id: str,
    caption: str,
    headers: list[str],
    rows: list[list[str]],
    numeric: list[bool],
    code: list[bool] | None = None,
    page: str = "report.html",
) -> dict:
    return {
        "page": page,
        "section": "Maturity",
        "id": table_id,
        "caption": caption,
        "headers": headers,
        "rows": rows,
        "numeric": numeric,
        "code": code or [False] * len(headers),
        "note": "Weighted.",
    }


# Report tables as the report writes them (formats of pipeline.study.display), one of each kind of cell.
DIFFERENCES = _record(
    "table-maturity-scales",
    "Maturity: share scoring each 7S scale positively, more mature against less mature LSPs",
    [
        "Item",
        "Respondents",
        "More mature (95% CI)",
        "Difference, points (95% CI)",
        "n (each group)",
        "p-value",
    ],
    [
        ["Style scale", "LSP coordinators", "52% (46% to 58%)", "−3.2 (−6.8 to 0.4)", "95 and 87", "<0.001"],
        [
            "Steering scale",
            "LSP coordinators",
            "",
            "suppressed (fewer than 5 respondents)",
            "95 and 87",
            "0.012",
        ],
    ],
    [False, False, True, True, True, True],
)
MIXED = _record(
    "table-published",
    "Published numbers beside this pipeline's weighted estimates",
    ["Quantity", "Our estimate, % (95% CI)", "Coverage, % (MC SE)", "n"],
    [
        ["coordinators agreeing", "56% (51% to 61%)", "94.5 (1.6)", "1,185"],
        ["tier gap in agreeing", "−11.5 points", "93.0 (1.8)", "185"],
    ],
    [False, True, True, True],
)
PROVENANCE = _record(
    "table-inputs",
    "Input files of this run",
    ["File", "Rows"],
    [["data/raw/synthetic_coordinator_survey_2008.csv", "191"]],
    [False, True],
    code=[True, False],
    page="technical_annex.html",
)


def test_an_estimate_with_its_interval_becomes_three_numeric_columns_with_units_in_the_headers():
    frame = report_sheet(DIFFERENCES).frame
    assert list(frame.columns) == [
        "Item",
        "Respondents",
        "More mature (%)",
        "More mature, 95% CI lower (%)",
        "More mature, 95% CI upper (%)",
        "Difference (percentage points)",
        "Difference, 95% CI lower (percentage points)",
        "Difference, 95% CI upper (percentage points)",
        "n, first group",
        "n, second group",
        "p-value",
    ]
    first, second = frame.to_dict("records")
    assert (first["More mature (%)"], first["More mature, 95% CI upper (%)"]) == (52, 58)
    assert (
        first["Difference (percentage points)"] == -3.2
        and first["Difference, 95% CI upper (percentage points)"] == 0.4
    )
    assert (first["n, first group"], first["n, second group"]) == (95, 87)
    assert first["p-value"] == "<0.001" and second["p-value"] == 0.012
    # An empty cell is not applicable; a suppressed one is [c] in every column it splits into.
    assert second["More mature (%)"] == NOT_APPLICABLE
    assert {second[c] for c in frame.columns if c.startswith("Difference")} == {SUPPRESSED}


def test_a_column_mixing_units_gains_a_unit_column_and_a_value_with_its_se_two_columns():
    frame = report_sheet(MIXED).frame
    assert list(frame.columns) == [
        "Quantity",
        "Our estimate",
        "Our estimate: unit",
        "Our estimate, 95% CI lower",
        "Our estimate, 95% CI upper",
        "Coverage (%)",
        "Coverage, Monte Carlo standard error (%)",
        "n",
    ]
    assert list(frame["Our estimate: unit"]) == ["percentage", "percentage points"]
    assert list(frame["Our estimate"]) == [56, -11.5]
    assert list(frame["Our estimate, 95% CI lower"]) == [51, NOT_APPLICABLE]
    assert list(frame["n"]) == [1185, 185]
    assert list(frame["Coverage, Monte Carlo standard error (%)"]) == [1.6, 1.8]


def test_code_columns_stay_text_and_are_named():
    sheet = report_sheet(PROVENANCE)
    assert sheet.code_columns == ("File",)
    assert sheet.frame["File"].tolist() == ["data/raw/synthetic_coordinator_survey_2008.csv"]


@pytest.fixture(scope="module")
def tables():
    # The toy analysis' real tables, cut short: the layout is what is tested here, not the size.
    _, cached = toy_analysis(seed=7, tier_shift=1.0)
    full = dict(cached)  # toy_analysis caches its tables: adding to them would change other tests' input
    # The later stages' tables (models, measurement, nonresponse) from the report tests' fixtures.
    fixtures = Path(__file__).parent / "fixtures" / "report_tables"
    for path in sorted(fixtures.glob("*.csv")):
        full.setdefault(path.stem, pd.read_csv(path, keep_default_na=False, na_values=[""]))
    cut = {name: full[name].head(40).reset_index(drop=True) for name in WORKBOOK_TABLES}
    estimates = cut["estimates"].copy()
    estimates["suppressed"] = estimates["suppressed"].astype(object)
    estimates.loc[3, ["estimate", "ci_low", "ci_high"]] = float("nan")
    estimates.loc[3, "suppressed"] = "fewer than 5 respondents"
    cut["estimates"] = estimates
    return cut


@pytest.fixture(scope="module")
def book(config, codebook, tables) -> Book:
    return build_book([DIFFERENCES, MIXED, PROVENANCE], tables, config, codebook, COUNTS)


@pytest.fixture(scope="module")
def workbooks(book, tmp_path_factory):
    return write_workbooks(book, tmp_path_factory.mktemp("sheets"))


@pytest.fixture(scope="module")
def read_back(workbooks):
    return {suffix: checklist.read(path) for suffix, path in workbooks.items()}


def _checks(book: checklist.ReadBook, config) -> dict[str, list[str]]:
    code_headers = {h for r in (DIFFERENCES, MIXED, PROVENANCE) for h in report_sheet(r).code_columns}
    return checklist.checklist(
        book,
        synthetic=config.synthetic_data,
        release=config.release,
        min_cell=config.min_cell,
        code_headers=code_headers,
    )


@pytest.mark.parametrize("suffix", ["xlsx", "ods"])
def test_both_formats_pass_every_check_of_the_checklist(read_back, config, suffix):
    problems = _checks(read_back[suffix], config)
    assert problems == {name: [] for name in problems}


def test_the_sheets_are_the_report_tables_then_the_registry_tables(book, read_back):
    titles = [sheet.title for sheet in book.sheets]
    assert titles[:3] == [DIFFERENCES["caption"], MIXED["caption"], PROVENANCE["caption"]]
    assert [sheet.table_name.split("_", 1)[1] for sheet in book.sheets[3:]] == list(WORKBOOK_TABLES)
    for read in read_back.values():
        assert list(read.sheets) == ["Cover", "Contents", "Notes", *[s.name for s in book.sheets]]


def test_the_ods_is_at_parity_with_the_xlsx(read_back):
    xlsx, ods = read_back["xlsx"], read_back["ods"]
    assert list(xlsx.sheets) == list(ods.sheets)
    for name, sheet in xlsx.sheets.items():
        other = ods.sheets[name]
        assert sheet.cell(1, 1) == other.cell(1, 1), name  # title and note references
        if name == "Cover":
            continue
        assert sheet.tables == other.tables, name  # the same table, by name and range
        # Every header and cell, numbers as numbers (the .xlsx keeps 15 significant digits, as Excel does).
        headers, body = sheet.table()
        assert (headers, len(body)) == (other.table()[0], len(other.table()[1])), name
        expected = [[pytest.approx(v, rel=1e-14) if isinstance(v, float) else v for v in row] for row in body]
        assert other.table()[1] == expected, name
    for key in ("title", "subject", "creator", "language", *checklist.RELEASE_FIELDS):
        assert xlsx.metadata[key] == ods.metadata[key], key


def test_notes_are_numbered_by_first_reference_and_the_weighting_note_follows_the_config(book, config):
    numbers = [number for number, _ in book.notes]
    assert numbers == list(range(1, len(numbers) + 1))
    first_seen = []
    for sheet in book.sheets:
        first_seen += [n for n in sheet.notes if n not in first_seen]
    assert first_seen == numbers
    weighting = note_texts(config, COUNTS)["weighting"]
    assert "raked to the frame margins" in weighting and "N_h/n_h" not in weighting
    assert "388 LSPs" in weighting  # the count given, not typed: see the next test


def test_the_weighting_note_and_counts_come_from_the_config_and_the_data(config):
    other = {"lsps": 400, "coordinator": 10, "partner": 20}
    type_only = dataclasses.replace(
        config, weighting=dataclasses.replace(config.weighting, primary="type_only")
    )
    texts = note_texts(type_only, other)
    assert "400 LSPs" in texts["weighting"] and "388" not in texts["weighting"]
    assert "post-stratified by authority type only" in texts["weighting"]
    assert "raked" not in texts["weighting"]
    intro, _, _ = spreadsheets._cover(config, other)
    assert "400 LSPs" in intro[-1] and "10 coordinators and 20 board partners" in intro[-1]


def test_analysis_tables_show_labels_not_codes_and_one_unit_per_column(codebook, tables):
    labels = Labels(codebook, tables)
    shown, _ = analysis_sheet("estimates", tables["estimates"], labels, 5)
    assert "item" not in shown.columns  # the question's words (item_label) stay; its variable name goes
    assert set(shown["element"].dropna()) <= set(codebook.elements.values())
    proportion = tables["estimates"]["measure"].map(display.is_proportion_measure)
    assert set(shown.loc[proportion, "unit"]) == {"percentage"}
    row = tables["estimates"][proportion].index[0]
    assert shown.loc[row, "estimate"] == pytest.approx(100 * tables["estimates"].loc[row, "estimate"])
    assert not shown["measure"].str.contains(r"share:|_", regex=True).any()
    power, power_headers = analysis_sheet("power", tables["power"], labels, 5)
    assert (
        power_headers["minimum_detectable_difference"] == "Minimum detectable difference (percentage points)"
    )
    assert power["minimum_detectable_difference"].iloc[0] == pytest.approx(
        100 * tables["power"]["minimum_detectable_difference"].iloc[0]
    )
    weights, _ = analysis_sheet("weight_diagnostics", tables["weight_diagnostics"], labels, 5)
    merged = " ".join(weights["merged_cells"].dropna())
    assert "|" not in merged and not re.search(r"\((?:[1-4]|0) respondents?\)", merged)


def test_rebuilding_gives_the_same_bytes(book, workbooks, tmp_path):
    again = write_workbooks(book, tmp_path)
    for suffix, path in workbooks.items():
        assert again[suffix].read_bytes() == path.read_bytes(), suffix


def test_the_xlsx_is_the_bytes_gptables_own_produce_workbook_writes(book, workbooks, tmp_path):
    """spreadsheets_xlsx writes a table's cells with per-column formats, not gptables' per-cell ones: the
    same workbook to the byte, for the book and for a sheet of every kind of cell (1 and 1.0 and True, a
    number as text, NaN, None, a blank string, a link, a long line, an index-like first number column)."""
    import numpy as np

    from pipeline.stages.spreadsheets_xlsx import write_xlsx

    slow = tmp_path / "gptables.xlsx"
    write_xlsx(book, slow, fast=False)
    assert slow.read_bytes() == workbooks["xlsx"].read_bytes()
    odd = pd.DataFrame(
        {
            "Count": [1, 2, 3, 4, 5, 6],
            "Mixed": [1, 1.0, True, "1", np.int64(7), 2.5],
            "With gaps": [float("nan"), None, "  ", "a", "[z]", "b"],
            "Link (text)": ["[the report](https://example.org/report)", "x", "y", "z", "w", "v"],
            "Long": ["A long line\nand a LONGER SECOND LINE in capitals", "café", "straße", "-1.5", "x", "y"],
        }
    ).astype(object)
    sheet = dataclasses.replace(book.sheets[0], frame=odd)
    odd_book = dataclasses.replace(book, sheets=[sheet, *book.sheets[1:3]])
    both = [tmp_path / "fast.xlsx", tmp_path / "slow.xlsx"]
    with pytest.warns(UserWarning, match="Empty or null cell"):
        write_xlsx(odd_book, both[0])
        write_xlsx(odd_book, both[1], fast=False)
    assert both[0].read_bytes() == both[1].read_bytes()


def test_a_missing_table_is_one_clear_error(config, codebook, tables):
    partial = {name: table for name, table in tables.items() if name != "power"}
    with pytest.raises(PipelineError, match="no table power"):
        build_book([], partial, config, codebook, COUNTS)


# ----------------------------------------------------------------------- every check can fail


def _rewrite_zip(path: Path, member: str, change) -> None:
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            archive.writestr(info, change(data) if info.filename == member else data)


def _broken_xlsx_path(path: Path, tmp_path: Path, breakings) -> Path:
    """A copy of the .xlsx saved by openpyxl with each of ``breakings`` done to it, in order."""
    workbook = openpyxl.load_workbook(path)
    for breaking in breakings:
        breaking(workbook)
    target = tmp_path / "broken.xlsx"
    workbook.save(target)
    return target


def _planted_ods(path: Path, tmp_path: Path, changes: list[tuple[str, str, str]]) -> Path:
    """A copy of the .ods with each (member, old, new) replacement made once, in order."""
    target = tmp_path / "broken.ods"
    target.write_bytes(path.read_bytes())
    for member, old, new in changes:

        def change(data: bytes, old: str = old, new: str = new) -> bytes:
            text = data.decode("utf-8")
            assert old in text, old
            return text.replace(old, new, 1).encode("utf-8")

        _rewrite_zip(target, member, change)
    return target


def _broken_ods(path: Path, tmp_path: Path, member: str, old: str, new: str) -> checklist.ReadBook:
    return checklist.read(_planted_ods(path, tmp_path, [(member, old, new)]))


@dataclasses.dataclass
class _XlsxParts:
    """An .xlsx's XML members by name, to plant a fault in as text (``_planted_xlsx``), and the clean
    workbook as read back (where its tables start, its headers, its titles)."""

    xml: dict[str, str]
    clean: checklist.ReadBook

    def sheet(self, name: str) -> str:
        """The member holding sheet ``name`` (xlsxwriter numbers them in the workbook's order)."""
        return f"xl/worksheets/sheet{list(self.clean.sheets).index(name) + 1}.xml"

    def table_start(self, name: str) -> int:
        return next(iter(self.clean.sheets[name].tables.values()))[0]

    def set_cell(self, name: str, reference: str, value: object) -> None:
        """Cell ``reference`` of sheet ``name`` holding ``value`` (None: nothing; text: an inline string;
        else a number), its style kept."""
        member = self.sheet(name)
        xml = self.xml[member]
        found = re.search(rf'<c r="{reference}"(?P<attributes>[^>]*?)(?:/>|>.*?</c>)', xml, re.DOTALL)
        assert found, (name, reference)
        style = re.search(r' s="\d+"', found["attributes"])
        style = style[0] if style else ""
        if value is None:
            cell = f'<c r="{reference}"{style}/>'
        elif isinstance(value, str):
            cell = f'<c r="{reference}"{style} t="inlineStr"><is><t>{escape(value)}</t></is></c>'
        else:
            cell = f'<c r="{reference}"{style}><v>{value}</v></c>'
        self.xml[member] = xml[: found.start()] + cell + xml[found.end() :]

    def replace(self, member: str, old: str, new: str) -> None:
        assert old in self.xml[member], (member, old)
        self.xml[member] = self.xml[member].replace(old, new, 1)


def _planted_xlsx(path: Path, tmp_path: Path, clean: checklist.ReadBook, plants) -> Path:
    """A copy of the .xlsx with each of ``plants`` made to its XML, in order (a fault planted as an edit of
    the file's text, as ``_planted_ods`` does: no openpyxl load and save of the whole workbook)."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        parts = _XlsxParts({info.filename: archive.read(info).decode("utf-8") for info in infos}, clean)
    for plant in plants:
        plant(parts)
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(target, "w") as archive:
        for info in infos:
            archive.writestr(info, parts.xml[info.filename].encode("utf-8"))
    return target


def _merge(parts: _XlsxParts) -> None:
    member = parts.sheet("Table_1")
    parts.replace(
        member, "</sheetData>", '</sheetData><mergeCells count="1"><mergeCell ref="A8:B8"/></mergeCells>'
    )


def _blank(parts: _XlsxParts) -> None:
    parts.set_cell("Table_1", f"C{parts.table_start('Table_1') + 1}", None)


def _colour(parts: _XlsxParts) -> None:
    # A red solid fill added to the styles, and C9 given a copy of its style with that fill.
    styles = parts.xml["xl/styles.xml"]
    fills = int(re.search(r'<fills count="(\d+)">', styles)[1])
    styles = styles.replace(f'<fills count="{fills}">', f'<fills count="{fills + 1}">', 1).replace(
        "</fills>",
        '<fill><patternFill patternType="solid"><fgColor rgb="FFFF0000"/></patternFill></fill></fills>',
        1,
    )
    cell_styles = re.search(r'<cellXfs count="(\d+)">(.*?)</cellXfs>', styles, re.DOTALL)
    formats = re.findall(r"<xf [^>]*?(?:/>|>.*?</xf>)", cell_styles[2], re.DOTALL)
    xml = parts.xml[parts.sheet("Table_1")]
    style = int(re.search(r'<c r="C9"[^>]*? s="(\d+)"', xml)[1])
    red = re.sub(r'fillId="\d+"', f'fillId="{fills}" applyFill="1"', formats[style], count=1)
    count = int(cell_styles[1])
    parts.xml["xl/styles.xml"] = styles.replace(
        cell_styles[0], f'<cellXfs count="{count + 1}">{cell_styles[2]}{red}</cellXfs>', 1
    )
    parts.xml[parts.sheet("Table_1")] = re.sub(r'(<c r="C9"[^>]*? s=")\d+"', rf'\g<1>{count}"', xml, count=1)


def _text_number(parts: _XlsxParts) -> None:
    parts.set_cell("Table_3", f"B{parts.table_start('Table_3') + 1}", "191")


def _code(parts: _XlsxParts) -> None:
    parts.set_cell("Table_2", "A7", "shire_district")


def _shorthand(parts: _XlsxParts) -> None:
    parts.set_cell("Table_3", f"B{parts.table_start('Table_3') + 1}", "[x]")


def _link(parts: _XlsxParts) -> None:
    parts.replace(
        parts.sheet("Contents"),
        '<hyperlink ref="A4" location="\'Table_1\'!A1"',
        '<hyperlink ref="A4" location="\'Nowhere\'!A1"',
    )


def _unmarked(parts: _XlsxParts) -> None:
    member = parts.sheet("Table_2")
    parts.xml[member], found = re.subn(
        r"<tableParts .*?</tableParts>", "", parts.xml[member], flags=re.DOTALL
    )
    assert found == 1


def _note(parts: _XlsxParts) -> None:
    parts.set_cell("Table_1", "A1", parts.clean.sheets["Table_1"].cell(1, 1) + "[note 99]")


def _metadata(parts: _XlsxParts) -> None:
    parts.replace("docProps/core.xml", "<dc:language>en-GB</dc:language>", "")
    custom = parts.xml["docProps/custom.xml"]
    parts.xml["docProps/custom.xml"], found = re.subn(
        r'<property [^>]*name="Next update">.*?</property>', "", custom
    )
    assert found == 1


def _small_n(parts: _XlsxParts) -> None:
    headers, _ = parts.clean.sheets["Table_2"].table()
    column = get_column_letter(headers.index("n") + 1)
    parts.set_cell("Table_2", f"{column}{parts.table_start('Table_2') + 1}", 3)


XLSX_FAULTS = {
    "no merged cells": _merge,
    "no blank cells in tables": _blank,
    "no colour": _colour,
    "numbers stored as numbers": _text_number,
    "no codes": _code,
    "shorthand explained": _shorthand,
    "contents links every sheet": _link,
    "one table per sheet, title in A1": _unmarked,
    "notes numbered and referred to": _note,
    "metadata": _metadata,
    "no cell under the minimum": _small_n,
}


@pytest.mark.parametrize("check", list(XLSX_FAULTS))
def test_each_check_fails_on_an_xlsx_with_its_fault_planted(workbooks, read_back, config, tmp_path, check):
    broken = checklist.read(
        _planted_xlsx(workbooks["xlsx"], tmp_path, read_back["xlsx"], [XLSX_FAULTS[check]])
    )
    problems = _checks(broken, config)
    assert problems[check], check
    # The fault is this check's alone (a merge also blanks the cells it covers): every other check passes.
    also = {"no merged cells": {"no blank cells in tables"}}.get(check, set())
    assert {
        name: found for name, found in problems.items() if found and name != check and name not in also
    } == {}


# Cell shapes the stage's writer never makes but an .xlsx may hold, for the readers' comparison: a boolean,
# text and theme colours, a fill on an empty cell, a linked cell with a fill, a link to a web address (no
# location: the cell is then judged by its colour), a border alone, an exponent and a large whole number.
def _xlsx_shapes(workbook) -> None:
    from openpyxl.styles import Border, Color, Font, PatternFill, Side

    sheet = workbook["Cover"]
    sheet["H1"].value = True
    sheet["H2"].value, sheet["H2"].font = "green", Font(color="FF00FF00")
    sheet["H3"].value, sheet["H3"].font = "theme", Font(color=Color(theme=1))
    sheet["H4"].fill = PatternFill("solid", fgColor="FF0000FF")
    sheet["H5"].value, sheet["H5"].fill = "linked", PatternFill("solid", fgColor="FF0000FF")
    sheet["H5"].hyperlink = "#'Notes'!A1"
    sheet["H5"].hyperlink.location = "'Notes'!A1"
    sheet["H6"].value, sheet["H6"].hyperlink = "web", "https://example.org/"
    sheet["H6"].fill = PatternFill("solid", fgColor="FF0000FF")
    sheet["H7"].value, sheet["H7"].border = "framed", Border(left=Side(style="thin"))
    sheet["H8"].value, sheet["H9"].value = 1e-05, 12345678901234


def _same(read: checklist.ReadBook, reference: checklist.ReadBook) -> None:
    """Equal, and of the same types and order too (1 == 1.0 == True, but a check may tell them apart)."""
    assert read == reference
    assert repr(read) == repr(reference)


def test_the_streaming_xlsx_reader_reads_what_openpyxl_reads(workbooks, read_back, tmp_path):
    """The checks read every .xlsx with ``read_xlsx`` (streamed); openpyxl's workbook, cell by cell, is the
    reference. Equal (values, types and order) on the clean workbook (xlsxwriter's); on it with every
    planted fault of XLSX_FAULTS but the merge at once, and an empty inline text, so each fault the checks
    look for is read as openpyxl reads it; and on that workbook saved again by openpyxl with every cell
    shape of _xlsx_shapes (openpyxl writes inline strings, its own styles and links). What the streamed
    reader does not read (a merge, a formula, a date, a link on an empty cell) it refuses, and
    ``read_xlsx`` reads it with openpyxl."""
    _same(checklist.read_xlsx_with_openpyxl(workbooks["xlsx"]), read_back["xlsx"])

    def empty_text(parts: _XlsxParts) -> None:  # an inline string with an empty text, inside a row
        parts.set_cell("Table_4", f"A{parts.table_start('Table_4') + 1}", "")

    faults = [plant for check, plant in XLSX_FAULTS.items() if check != "no merged cells"]
    planted = _planted_xlsx(workbooks["xlsx"], tmp_path / "planted", read_back["xlsx"], [*faults, empty_text])
    fast = checklist.read_xlsx_streamed(planted)
    _same(fast, checklist.read_xlsx_with_openpyxl(planted))
    assert fast.sheets["Table_1"].coloured == ["C9"] and "Nowhere" in fast.sheets["Contents"].links.values()
    resaved = _broken_xlsx_path(planted, tmp_path, [_xlsx_shapes])
    fast = checklist.read_xlsx_streamed(resaved)
    _same(fast, checklist.read_xlsx_with_openpyxl(resaved))
    # As openpyxl reads them: a theme colour has no rgb, so H3 does not count.
    assert fast.sheets["Cover"].coloured == ["H2", "H4", "H6"]
    assert fast.sheets["Cover"].links["linked"] == "Notes" and "web" not in fast.sheets["Cover"].links
    # (Planted together, some faults hide others: each check failing on its own fault is the test above.)

    def merged(sheet) -> None:
        sheet["A1"], sheet["B1"] = "a", "b"
        sheet.merge_cells("A1:B1")

    def formula(sheet) -> None:
        sheet["A1"] = "=1+1"

    def date(sheet) -> None:
        sheet["A1"] = pd.Timestamp("2008-04-01").to_pydatetime()

    def link_on_empty(sheet) -> None:
        sheet["A1"] = "a"  # and a link on A2, which has no cell (openpyxl makes one, the link its value)

    for name, shape in (("merged", merged), ("formula", formula), ("date", date), ("empty", link_on_empty)):
        workbook = openpyxl.Workbook()
        shape(workbook.active)
        path = tmp_path / f"{name}.xlsx"
        workbook.save(path)
        if shape is link_on_empty:
            _rewrite_zip(
                path,
                "xl/worksheets/sheet1.xml",
                lambda xml: xml.replace(
                    b"<pageMargins",
                    b'<hyperlinks><hyperlink ref="A2" location="Sheet!A1" /></hyperlinks><pageMargins',
                ),
            )
        with pytest.raises(checklist.NotStreamable):
            checklist.read_xlsx_streamed(path)
            pytest.fail(name)
        _same(checklist.read_xlsx(path), checklist.read_xlsx_with_openpyxl(path))
    assert checklist.read_xlsx(path).sheets["Sheet"].rows == [["a"], ["Sheet!A1"]]


ODS_FAULTS = {
    "no merged cells": (
        "content.xml",
        "<table:table-cell ",
        '<table:table-cell table:number-columns-spanned="2" ',
    ),
    "contents links every sheet": ("content.xml", 'xlink:href="#Table_1.A1"', 'xlink:href="#Nowhere.A1"'),
    # Table_2's range moved onto Table_1: one sheet with two tables, one with none.
    "one table per sheet, title in A1": ("content.xml", "'Table_2'.A", "'Table_1'.A"),
    "notes numbered and referred to": (
        "content.xml",
        '<table:table-cell office:value-type="float" office:value="1"><text:p>1</text:p>',
        '<table:table-cell office:value-type="string"><text:p>note 1</text:p>',
    ),
    "metadata": ("meta.xml", "<dc:language>en-GB</dc:language>", ""),
    "no colour": ("content.xml", 'fo:font-weight="bold" />', 'fo:font-weight="bold" fo:color="#ff0000" />'),
    "no codes": ("content.xml", "<text:p>Style scale</text:p>", "<text:p>scale_style</text:p>"),
}


@pytest.mark.parametrize("check", list(ODS_FAULTS))
def test_each_check_fails_on_an_ods_with_its_fault_planted(workbooks, config, tmp_path, check):
    member, old, new = ODS_FAULTS[check]
    broken = _broken_ods(workbooks["ods"], tmp_path, member, old, new)
    assert _checks(broken, config)[check], check


# Cell shapes the stage's writer never makes but an .ods may hold, for the readers' comparison: a covered
# (merged-over) cell, a cell repeated across columns with its text in spans, a space element and two
# paragraphs, a percentage (text to both readers), and a cell coloured by a style in styles.xml.
ODS_SHAPES = [
    (
        "META-INF/manifest.xml",
        "</manifest:manifest>",
        '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml" />'
        "</manifest:manifest>",
    ),
    (
        "content.xml",
        "</table:table-row>",
        '<table:covered-table-cell /><table:table-cell table:number-columns-repeated="3" '
        'office:value-type="string"><text:p>a<text:span>b</text:span><text:s />c</text:p><text:p>d</text:p>'
        '</table:table-cell><table:table-cell office:value-type="percentage" office:value="0.5">'
        '<text:p>50%</text:p></table:table-cell><table:table-cell table:style-name="red" '
        'office:value-type="float" office:value="0.25"><text:p>0.25</text:p></table:table-cell>'
        "</table:table-row>",
    ),
]
STYLES_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-styles '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2">'
    '<office:styles><style:style style:name="red" style:family="table-cell">'
    '<style:table-cell-properties fo:background-color="#ff0000" /></style:style></office:styles>'
    "</office:document-styles>"
)


def test_the_streaming_ods_reader_reads_what_odfpy_reads(workbooks, read_back, config, tmp_path):
    """The checks read every .ods with ``read_ods`` (expat, streamed); odfpy's document model is the
    reference. Equal on the clean workbook, and on one with every planted fault of ODS_FAULTS and every
    cell shape of ODS_SHAPES at once, so each fault the checks look for is read as odfpy reads it."""
    _same(checklist.read_ods_with_odfpy(workbooks["ods"]), read_back["ods"])
    planted = _planted_ods(workbooks["ods"], tmp_path, [*ODS_FAULTS.values(), *ODS_SHAPES])
    with zipfile.ZipFile(planted, "a") as archive:
        archive.writestr("styles.xml", STYLES_XML)
    fast, reference = checklist.read_ods(planted), checklist.read_ods_with_odfpy(planted)
    _same(fast, reference)
    cover = fast.sheets["Cover"]
    assert cover.rows[0][1:] == [None, "abc\nd", "abc\nd", "abc\nd", "50%", 0.25]
    # Merged: the spanned cell of ODS_FAULTS and the covered cell; coloured by styles.xml's style alone.
    assert cover.merged == ["Cover row 1"] * 2 and cover.coloured == ["Cover row 1"]
    found = {name for name, problems in _checks(fast, config).items() if problems}
    assert found >= set(ODS_FAULTS), set(ODS_FAULTS) - found


def test_the_cover_check_fails_without_the_release_or_the_synthetic_warning(read_back, config):
    cover = read_back["xlsx"]
    other_release = {**config.release, "next_update": "March 2031"}
    assert checklist.check_cover_contents_notes_first(cover, True, other_release) == [
        "the cover has no next_update"
    ]
    assert checklist.check_metadata(cover, other_release) == [
        "document property 'Next update' is 'None planned: the survey was run once, in 2007-08', not the "
        "release's"
    ]


# --------------------------------------------------------------------------- the built workbooks


def _shown_tables(analysis: Path) -> list[tuple[str, str]]:
    """(page, caption) of every table the rendered report pages show."""
    shown = []
    for page in ("report.html", "technical_annex.html"):
        html = (analysis / page).read_text(encoding="utf-8")
        for caption in re.findall(r'<caption id="[^"]+">(.*?)</caption>', html, re.DOTALL):
            shown.append((page, caption.replace("&#39;", "'").replace("&amp;", "&").replace("&quot;", '"')))
    return shown


@pytest.fixture(scope="module")
def built_books(built_project: Path):
    folder = built_project / "analysis"
    return {
        suffix: checklist.read(folder / f"{spreadsheets.WORKBOOK_STEM}.{suffix}")
        for suffix in ("xlsx", "ods")
    }


@pytest.mark.slow
@pytest.mark.xdist_group("built_project")
@pytest.mark.parametrize("suffix", ["xlsx", "ods"])
def test_the_built_workbooks_pass_the_checklist_and_hold_every_table_the_report_shows(
    built_project, built_books, config, suffix
):
    book = built_books[suffix]
    records = json.loads((built_project / "analysis" / "report_tables.json").read_text(encoding="utf-8"))[
        "tables"
    ]
    code_headers = {h for record in records for h in report_sheet(record).code_columns}
    problems = checklist.checklist(
        book,
        synthetic=config.synthetic_data,
        release=config.release,
        min_cell=config.min_cell,
        code_headers=code_headers,
    )
    assert problems == {name: [] for name in problems}
    # Every table either page shows (read from the pages themselves) is a sheet titled by its caption.
    titles = [checklist.title_of(sheet) for sheet in checklist.table_sheets(book)]
    shown = _shown_tables(built_project / "analysis")
    assert len(shown) >= 30
    assert [caption for _, caption in shown] == titles[: len(shown)]
    # Then every analysis table the registry lists for the workbooks, every row.
    sheets = checklist.table_sheets(book)[len(shown) :]
    assert [next(iter(s.tables)).split("_", 1)[1] for s in sheets] == list(WORKBOOK_TABLES)
    for name, sheet in zip(WORKBOOK_TABLES, sheets, strict=True):
        csv = pd.read_csv(built_project / "analysis" / "tables" / f"{name}.csv")
        assert len(sheet.table()[1]) == len(csv), name


@pytest.mark.slow
@pytest.mark.xdist_group("built_project")
def test_numbers_are_as_the_report_shows_them_with_units_in_the_headers(built_project, built_books):
    records = json.loads((built_project / "analysis" / "report_tables.json").read_text(encoding="utf-8"))[
        "tables"
    ]
    xlsx = built_books["xlsx"]
    sheets = checklist.table_sheets(xlsx)
    number = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
    for record, sheet in zip(records, sheets, strict=False):
        headers, body = sheet.table()
        for index, column in enumerate(record["headers"]):
            cells = [row[index] for row in record["rows"]]
            if record["numeric"][index] and any(c.endswith("%") or "% (" in c for c in cells):
                # A percentage column: its header says (%), or a unit column beside it says which rows are.
                assert any("(%)" in h or h.endswith(": unit") for h in headers), (sheet.name, column)
        for shown, row in zip(record["rows"], body, strict=True):
            values = {round(v, 6) for v in row if isinstance(v, int | float)}
            for cell, is_number in zip(shown, record["numeric"], strict=True):
                if not is_number or cell.startswith("suppressed") or cell == "<0.001":
                    continue
                for token in number.findall(cell.replace(display.MINUS, "-")):
                    assert round(float(token.replace(",", "")), 6) in values, (sheet.name, cell)
    # The example: the minimum detectable difference is 22.3 points, as the report says, not 0.2227.
    power = next(s for s in sheets if checklist.title_of(s).startswith("Smallest difference in a proportion"))
    headers, body = power.table()
    column = headers.index("Minimum detectable difference (percentage points)")
    csv = pd.read_csv(built_project / "analysis" / "tables" / "power.csv")
    assert [row[column] for row in body] == [round(100 * v, 1) for v in csv["minimum_detectable_difference"]]


def test_ods_content_is_written_exactly_as_elementtree_serialises_it():
    """content.xml is written as text (pipeline.stages.spreadsheets_ods): parsed and serialised again by
    ElementTree it is the same bytes, escapes, empty elements, links and namespace declarations included."""
    from xml.etree.ElementTree import fromstring, register_namespace, tostring

    import pandas as pd

    from pipeline.stages.spreadsheets_ods import NAMESPACES, _Writer

    writer = _Writer()
    writer.sheet(
        "Cover", [("Title & <more> \"quoted\" 'too'", "title"), ("", None), ("line\nbreak\ttab", None)]
    )
    frame = pd.DataFrame(
        {
            "Sheet name": ["Table_1", "Table & 2", None],
            "Count": [1, 2, 3],
            "Share": [0.25, float("nan"), 1e-12],
            "Flag": [True, False, True],
        }
    )
    writer.sheet("Contents", [("Contents", "title")], frame, "contents_table", {"Table_1": "#Table_1.A1"})
    writer.sheet('Table & "2" <b>', [("Notes", "title")], frame.iloc[:0], "empty_table")
    content = writer.content_xml()
    for prefix, uri in NAMESPACES.items():
        register_namespace(prefix, uri)
    assert b'xlink:href="#Table_1.A1"' in content and b"<text:p />" in content
    assert tostring(fromstring(content), encoding="UTF-8", xml_declaration=True) == content
