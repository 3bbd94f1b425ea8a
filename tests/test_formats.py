"""Every export format ingest reads gives the same tidy tables as the committed CSV, XLSX and SAV exports.

The committed synthetic exports (data/raw: the coordinators as CSV and SAV, the partners as XLSX) are
ingested once; their answers are then written in each other format (or the same bytes compressed or
re-encoded), ingested again, and compared cell for cell. Only the source file differs. Where a format
cannot hold something (an SPSS portable file has 8-character upper-case names and ASCII text), the
test says what it changes on both sides.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.codebook import Codebook
from pipeline.core.paths import PROJECT_ROOT
from pipeline.readers.labels import KIND_NO_VALUE_LABELS
from pipeline.readers.table import KIND_FORMAT
from pipeline.stages.ingest import ingest
from tests.fixtures.survey_exports import (
    input_file,
    por_names,
    to_labels,
    write_dta_export,
    write_ods_export,
    write_por_export,
    write_sav_export,
    write_xls_export,
)

RAW = PROJECT_ROOT / "data/raw"
COORDINATOR_CSV = RAW / "synthetic_coordinator_survey_2008.csv"
COORDINATOR_SAV = RAW / "synthetic_coordinator_survey_2008.sav"
PARTNER_XLSX = RAW / "synthetic_partner_survey_2008.xlsx"
SOURCE = ["source_file", "source_row"]


def _read(path: Path, instrument: str, codebook: Codebook, frame: pd.DataFrame | None = None, **options):
    return ingest([input_file(path, instrument, **options)], codebook, frame)


@pytest.fixture(scope="module")
def reference(codebook: Codebook, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tidy tables of the committed exports (rows, codes as text; source columns dropped)."""
    coordinators = _read(COORDINATOR_CSV, "coordinator", codebook, frame)
    partners = _read(PARTNER_XLSX, "partner", codebook, frame, sheet="responses")
    sav = _read(COORDINATOR_SAV, "coordinator", codebook, frame)
    tables = {
        "coordinator": coordinators.responses["coordinator"],
        "partner": partners.responses["partner"],
        "coordinator_sav": sav.responses["coordinator"],
    }
    # The committed CSV and SAV agree already: the reference is one table per instrument.
    pd.testing.assert_frame_equal(
        tables["coordinator"].drop(columns="source_file"),
        tables["coordinator_sav"].drop(columns="source_file"),
    )
    return tables


def _codes(table: pd.DataFrame, codebook: Codebook, instrument: str) -> pd.DataFrame:
    """A tidy table back as codes (ints; ids and free text as text, "" for empty)."""
    columns = {}
    for variable in codebook.for_instrument(instrument):
        values = table[variable.name]
        columns[variable.name] = (
            values.fillna("").astype(object) if variable.is_text else values.astype(int).astype(object)
        )
    return pd.DataFrame(columns)


def _same(result, reference: pd.DataFrame, instrument: str) -> None:
    got = result.responses[instrument]
    assert len(got) == len(reference)
    pd.testing.assert_frame_equal(
        got.drop(columns="source_file").reset_index(drop=True),
        reference.drop(columns="source_file").reset_index(drop=True),
    )


def _csv_records(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_xls_reads_like_the_xlsx(tmp_path, codebook, frame, reference):
    labels = to_labels(codebook, "partner", _codes(reference["partner"], codebook, "partner"))
    path = write_xls_export(tmp_path / "partners.xls", labels)
    result = _read(path, "partner", codebook, frame)
    assert result.inputs[0]["format"] == "xls"
    _same(result, reference["partner"], "partner")
    assert result.repairs.empty


def test_ods_reads_like_the_xlsx(tmp_path, codebook, frame, reference):
    labels = to_labels(codebook, "partner", _codes(reference["partner"], codebook, "partner"))
    path = write_ods_export(tmp_path / "partners.ods", labels)
    result = _read(path, "partner", codebook, frame)
    assert result.inputs[0]["format"] == "ods"
    _same(result, reference["partner"], "partner")
    assert result.repairs.empty


def test_dta_reads_like_the_sav(tmp_path, codebook, frame, reference):
    codes = _codes(reference["coordinator"], codebook, "coordinator")
    path = write_dta_export(tmp_path / "coordinators.dta", codebook, "coordinator", codes)
    result = _read(path, "coordinator", codebook, frame)
    assert result.inputs[0]["format"] == "dta"
    _same(result, reference["coordinator"], "coordinator")
    assert result.repairs.empty  # the value labels agree with the codebook


def test_zsav_reads_like_the_sav(tmp_path, codebook, frame, reference):
    codes = _codes(reference["coordinator"], codebook, "coordinator")
    path = write_sav_export(tmp_path / "coordinators.zsav", codebook, "coordinator", codes, compress=True)
    assert path.read_bytes()[:4] == b"$FL3"
    result = _read(path, "coordinator", codebook, frame)
    assert result.inputs[0]["format"] == "sav"
    _same(result, reference["coordinator"], "coordinator")
    assert result.repairs.empty


def _ascii(text: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", text)


def test_por_reads_like_the_sav_under_short_names(tmp_path, codebook, frame, reference):
    # A portable file holds 8-character upper-case names and printable ASCII: the comments are
    # folded to ASCII on both sides, and column_map gives the codebook names back.
    expected = reference["coordinator"].copy()
    expected["comments"] = expected["comments"].map(_ascii, na_action="ignore").astype("string")
    codes = _codes(expected, codebook, "coordinator")
    path = write_por_export(tmp_path / "coordinators.por", codebook, "coordinator", codes)
    column_map = por_names(codebook, "coordinator")
    result = _read(path, "coordinator", codebook, frame, column_map=column_map)
    assert result.inputs[0]["format"] == "por"
    _same(result, expected, "coordinator")
    # POR files as pyreadstat writes them carry no value labels: one line says so, not one per code.
    assert result.repairs[["column", "kind"]].to_numpy().tolist() == [["", KIND_NO_VALUE_LABELS]]


def test_gzip_csv_reads_like_the_csv(tmp_path, codebook, frame, reference):
    path = tmp_path / "coordinators.csv.gz"
    path.write_bytes(gzip.compress(COORDINATOR_CSV.read_bytes(), mtime=0))
    result = _read(path, "coordinator", codebook, frame)
    assert result.inputs[0]["compression"] == "gzip"
    _same(result, reference["coordinator"], "coordinator")
    assert result.repairs.empty


def test_one_file_zip_reads_like_the_csv(tmp_path, codebook, frame, reference):
    path = tmp_path / "coordinators.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/coordinators.csv", COORDINATOR_CSV.read_bytes())
    result = _read(path, "coordinator", codebook, frame)
    assert result.inputs[0]["member"] == "export/coordinators.csv"
    _same(result, reference["coordinator"], "coordinator")


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-16", "\t"), ("utf-16", ","), ("utf-32", "\t")])
def test_unicode_text_with_a_bom_reads_like_the_csv(
    tmp_path, codebook, frame, reference, encoding, delimiter
):
    # Excel's "Unicode Text" is UTF-16 with a byte-order mark, tab separated.
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(_csv_records(COORDINATOR_CSV))
    path = tmp_path / "coordinators.txt"
    path.write_bytes(buffer.getvalue().encode(encoding))  # Python's utf-16/utf-32 codecs write the BOM
    result = _read(path, "coordinator", codebook, frame)
    assert result.inputs[0]["encoding"] == encoding
    _same(result, reference["coordinator"], "coordinator")


def test_a_renamed_file_is_read_by_its_content_and_the_name_is_recorded(tmp_path, codebook, frame, reference):
    path = tmp_path / "partners.csv"
    path.write_bytes(PARTNER_XLSX.read_bytes())
    result = _read(path, "partner", codebook, frame)
    _same(result, reference["partner"], "partner")
    # No sheet configured: the workbook's 'responses' sheet is chosen by content (its 'about' sheet
    # matches no codebook column), and recorded.
    assert result.repairs[["original", "repaired", "kind"]].to_numpy().tolist() == [
        ["csv", "xlsx", KIND_FORMAT],
        ["'responses' 41 of 41, 'about' 0 of 41", "responses", "sheet_chosen_by_content"],
    ]


def _workbook_with_cell(cell_xml: bytes) -> bytes:
    """The corpus workbook with the formula cell D3 replaced by the given XML."""
    source = zipfile.ZipFile(PROJECT_ROOT / "tests/bad_inputs/xlsx_uncalculated_formula.xlsx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<c r="D3">.*?</c>', cell_xml, data, count=1)
            target.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("cell", "uncalculated"),
    [
        (b'<c r="D3" t="str"><f>IF(1=1,"Agree","")</f><v>Agree</v></c>', False),  # as Excel saves it
        (b'<c r="D3" t="str"><f>""</f><v></v></c>', False),  # a text formula whose result is empty
        (b'<c r="D3"><f>1+1</f><v>2</v></c>', False),
        (b'<c r="D3"><f>1+1</f></c>', True),  # never calculated
        (b'<c r="D3"><f>1+1</f><v /></c>', True),  # as openpyxl writes a formula
    ],
)
def test_formula_cells_with_a_stored_result_are_read_and_those_without_refused(tmp_path, cell, uncalculated):
    from pipeline.core.errors import PipelineError
    from pipeline.readers.workbook import _uncalculated_formula

    data = _workbook_with_cell(cell)
    assert (_uncalculated_formula(data, "responses") == "D3") is uncalculated
    if uncalculated:
        path = tmp_path / "partners.xlsx"
        path.write_bytes(data)
        with pytest.raises(PipelineError, match=r"cell D3 \(row 3\): a formula with no stored result"):
            ingest([input_file(path, "partner")], _codebook())


def _codebook() -> Codebook:
    from pipeline.core.codebook import load_codebook

    return load_codebook(RAW / "codebook.yaml")
