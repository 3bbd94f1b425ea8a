"""Spreadsheets stage: accessible .xlsx and .ods, read back with openpyxl and an ODS reader (odfpy)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.stages import spreadsheets
from pipeline.stages.spreadsheets import (
    NOT_APPLICABLE,
    PUBLISHED_TABLES,
    SUPPRESSED,
    sheet_frame,
    write_workbooks,
)
from pipeline.study import display
from tests.toy_survey import toy_analysis

SHEETS = ["Cover", "Contents", "Notes", *[spec.sheet for spec in PUBLISHED_TABLES]]


@pytest.fixture(scope="module")
def tables():
    # The toy analysis' real tables, cut short: the layout is what is tested here, not the size.
    _, full = toy_analysis(seed=7, tier_shift=1.0)
    # The later stages' tables (models, measurement, nonresponse) from the report tests' fixtures.
    fixtures = Path(__file__).parent / "fixtures" / "report_tables"
    for path in sorted(fixtures.glob("*.csv")):
        full.setdefault(path.stem, pd.read_csv(path, keep_default_na=False, na_values=[""]))
    cut = {spec.name: full[spec.name].head(40).reset_index(drop=True) for spec in PUBLISHED_TABLES}
    estimates = cut["estimates"].copy()
    estimates["suppressed"] = estimates["suppressed"].astype(object)
    estimates.loc[3, ["estimate", "ci_low", "ci_high"]] = float("nan")
    estimates.loc[3, "suppressed"] = "fewer than 5 respondents"
    cut["estimates"] = estimates
    return cut


@pytest.fixture(scope="module")
def workbooks(config, tables, tmp_path_factory):
    return write_workbooks(tables, config, tmp_path_factory.mktemp("sheets"))


def test_the_xlsx_has_cover_contents_notes_then_one_table_per_sheet(workbooks, tables):
    book = openpyxl.load_workbook(workbooks["xlsx"])
    assert book.sheetnames == SHEETS
    for sheet in book.worksheets:
        assert not sheet.merged_cells.ranges, sheet.title
    for spec in PUBLISHED_TABLES:
        sheet = book[spec.sheet]
        assert sheet["A1"].value.startswith(spec.title)
        assert list(sheet.tables) == [spec.name]  # one table, marked as an Excel table with a header row
        table = sheet.tables[spec.name]
        assert table.headerRowCount in (None, 1)
        first_row = int(table.ref.split(":")[0].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        headers = [cell.value for cell in sheet[first_row]][: len(tables[spec.name].columns)]
        assert headers == [display.header(c, spec.name) for c in tables[spec.name].columns]
        last_row = int(table.ref.split(":")[1].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        assert last_row - first_row == len(tables[spec.name])
        for row in sheet.iter_rows(min_row=first_row + 1, max_row=last_row, values_only=True):
            assert all(value is not None and value != "" for value in row), row


def test_the_cover_warns_that_the_data_are_synthetic(workbooks, config):
    assert config.synthetic_data
    cover = openpyxl.load_workbook(workbooks["xlsx"])["Cover"]
    text = " ".join(str(cell.value) for row in cover.iter_rows() for cell in row if cell.value)
    assert "SYNTHETIC DATA" in text and "No estimate here is the Audit Commission's" in text
    ods_cover = pd.read_excel(workbooks["ods"], engine="odf", sheet_name="Cover", header=None)
    assert "SYNTHETIC DATA" in " ".join(ods_cover[0].astype(str))


def test_numbers_stay_numbers_and_gaps_are_shorthand(workbooks, tables):
    sheet = openpyxl.load_workbook(workbooks["xlsx"])["Table_1"]
    rows = list(sheet.iter_rows(values_only=True))
    header_row = next(i for i, row in enumerate(rows) if row[0] == display.header("data"))
    body = rows[header_row + 1 :]
    estimate = rows[header_row].index(display.header("estimate"))
    assert isinstance(body[0][estimate], float)
    assert body[3][estimate] == SUPPRESSED
    p_column = rows[header_row].index(display.header("p"))
    assert body[0][p_column] == NOT_APPLICABLE  # an estimate row has no test


def test_the_ods_holds_the_same_sheets_with_header_rows_marked(workbooks, tables):
    sheets = pd.read_excel(workbooks["ods"], engine="odf", sheet_name=None, header=None)
    assert list(sheets) == SHEETS
    for spec in PUBLISHED_TABLES:
        frame = sheets[spec.sheet]
        assert str(frame.iloc[0, 0]).startswith(spec.title)
        header_row = next(
            i
            for i in range(len(frame))
            if frame.iloc[i, 0] == display.header(tables[spec.name].columns[0], spec.name)
        )
        headers = list(frame.iloc[header_row, : len(tables[spec.name].columns)])
        assert headers == [display.header(c, spec.name) for c in tables[spec.name].columns]
        assert len(frame) - header_row - 1 == len(tables[spec.name])
    with zipfile.ZipFile(workbooks["ods"]) as archive:
        assert archive.namelist()[0] == "mimetype"
        assert archive.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        content = archive.read("content.xml").decode()
    assert content.count("<table:table-header-rows>") == len(PUBLISHED_TABLES) + 2  # tables, contents, notes
    assert "covered-table-cell" not in content and "number-columns-spanned" not in content  # nothing merged


def test_rebuilding_gives_the_same_bytes(config, tables, workbooks, tmp_path):
    again = write_workbooks(tables, config, tmp_path)
    for suffix, path in workbooks.items():
        assert again[suffix].read_bytes() == path.read_bytes(), suffix


def test_a_missing_table_is_one_clear_error(config, tables, tmp_path):
    partial = {name: table for name, table in tables.items() if name != "power"}
    with pytest.raises(PipelineError, match="no table power"):
        write_workbooks(partial, config, tmp_path)


def test_booleans_read_yes_and_no_and_headers_are_words(tables):
    frame = sheet_frame(tables["published_vs_reproduced"], "published_vs_reproduced")
    column = display.header("published_in_ci")
    assert set(frame[column]) <= {"Yes", "No", NOT_APPLICABLE}
    assert not any("_" in str(c) for c in frame.columns)


def _sheet_as_csv(frame: pd.DataFrame, csv: pd.DataFrame, name: str) -> pd.DataFrame:
    """A table sheet read with header=None, back to the CSV's columns, markers as missing."""
    first = display.header(csv.columns[0], name)
    header_row = next(i for i in range(len(frame)) if frame.iloc[i, 0] == first)
    body = frame.iloc[header_row + 1 :, : len(csv.columns)].reset_index(drop=True)
    body.columns = list(csv.columns)
    return body.replace({SUPPRESSED: None, NOT_APPLICABLE: None})


def test_every_published_table_is_a_sheet_of_the_built_workbooks(built_project: Path):
    folder = built_project / "analysis"
    # Read back by calamine, a reader independent of the writers (openpyxl for xlsx, odfpy for ods) and
    # a tenth of their time.
    xlsx = pd.read_excel(
        folder / f"{spreadsheets.WORKBOOK_STEM}.xlsx", engine="calamine", sheet_name=None, header=None
    )
    ods = pd.read_excel(
        folder / f"{spreadsheets.WORKBOOK_STEM}.ods", engine="calamine", sheet_name=None, header=None
    )
    for spec in PUBLISHED_TABLES:
        csv = pd.read_csv(folder / "tables" / f"{spec.name}.csv")
        for book in (xlsx, ods):
            sheet = _sheet_as_csv(book[spec.sheet], csv, spec.name)
            assert len(sheet) == len(csv), spec.name
            for column in csv.columns:
                if pd.api.types.is_numeric_dtype(csv[column]) and not pd.api.types.is_bool_dtype(csv[column]):
                    got = pd.to_numeric(sheet[column], errors="raise").to_numpy(dtype=float)
                    assert got == pytest.approx(csv[column].to_numpy(dtype=float), nan_ok=True, rel=1e-12), (
                        column
                    )


test_every_published_table_is_a_sheet_of_the_built_workbooks = pytest.mark.slow(
    test_every_published_table_is_a_sheet_of_the_built_workbooks
)
