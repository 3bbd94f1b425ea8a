"""Property-based tests: random corruptions of valid exports never crash the pipeline nor lose a row.

Each example starts from the valid rows the bad-input corpus uses (the first coordinators and partners of
the synthetic exports), corrupts them at random (cells set to random text, numbers or nothing; rows
deleted or duplicated; the file cut short; re-encoded as UTF-8 with a BOM or Windows-1252) and runs
ingest and validate in-process. The other readers get the same treatment: .xls and .ods workbooks,
Stata, compressed SPSS and portable files, gzip and zip containers, and UTF-16/UTF-32 text with a BOM.
Whatever happens:
  * a failure is a PipelineError with one line naming the file, never another exception;
  * ingest keeps every non-blank record of the file (counted here independently of ingest);
  * validate reconciles every file: read = valid + rejected, each ingested row is valid or rejected
    (never both), and every reject names the file, the row, the column and the check.

derandomize=True makes the examples the same on every run; the example counts keep the file fast.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import string
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import InputFile
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.readers.text import decode_text
from pipeline.stages.ingest import IngestResult, ingest
from pipeline.stages.validate import validate
from pipeline.study.frame import read_frame
from tests.bad_inputs.make_corpus import (
    _xls,
    coordinator_records,
    csv_text,
    label_codes,
    partner_records,
    xlsx_bytes,
)
from tests.fixtures.survey_exports import (
    por_names,
    write_dta_export,
    write_ods_export,
    write_por_export,
    write_sav_export,
)

SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,  # nothing written to .hypothesis/
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
# Characters a person or a spreadsheet might put in a cell; all of them exist in Windows-1252. No "=",
# which openpyxl would write as a formula.
ALPHABET = string.ascii_letters + string.digits + " ,;|\t\n\r\"'-.£éüñ’“”–\u00a0"
INTERESTING = (
    "",
    " ",
    "DK",
    "-9",
    "-8",
    "-1",
    "99",
    "7",
    "0",
    "Agreee",
    "STRONGLY AGREE",
    "Don’t know",
    "N/A",
    "Not applicable",
    "1,200",
    "1 200",
    "12.5",
    "045",
    "C0001",
    "P0001",
    "22UH",
    "ZZZZ",
    "09",
    '"',
    ",",
    "\n",
    "Yes",
    "Selected",
    "Under £50,000",
    "4 - Agree",
    "Agree (4)",
    "2 - Agree",
    "18,0",
    "Durham",
    "Epping Forest District Council",
    "Newcastle",
)
# Only in text exports: characters a workbook cannot hold.
TEXT_ONLY = ("Agree\x1f", "1\x072", "\x00", "x" * 140_000)
TEXT_CELLS = st.one_of(
    st.sampled_from(INTERESTING),
    st.text(alphabet=ALPHABET, max_size=12),
    st.integers(-20, 3000).map(str),
)


@cache
def _codebook() -> Codebook:
    return load_codebook(PROJECT_ROOT / "data/raw/codebook.yaml")


@cache
def _frame() -> pd.DataFrame:
    return read_frame(PROJECT_ROOT / "data/raw/lsp_frame_2008.csv")


@cache
def _base(instrument: str) -> tuple[tuple[str, ...], ...]:
    records = coordinator_records() if instrument == "coordinator" else partner_records()
    return tuple(tuple(record) for record in records)


@dataclass(frozen=True)
class Export:
    """One corrupted export: its bytes, how to read it and how many rows ingest must keep."""

    name: str
    instrument: str
    format: str
    data: bytes
    expected_rows: int
    options: dict[str, Any] = field(default_factory=dict)


@st.composite
def _rows_and_cells(
    draw: st.DrawFn, instrument: str, cells: st.SearchStrategy, min_rows: int = 0
) -> list[list]:
    """The base records with random rows deleted or duplicated and random data cells replaced."""
    header, *body = [list(record) for record in _base(instrument)]
    for operation, position in draw(
        st.lists(st.tuples(st.sampled_from(["delete", "duplicate"]), st.integers(0, 99)), max_size=3)
    ):
        position %= len(body)
        if operation == "duplicate":
            body.insert(position + 1, list(body[position]))
        elif len(body) > min_rows:
            del body[position]
        if not body:
            break
    for row, column, value in draw(
        st.lists(st.tuples(st.integers(0, 99), st.integers(0, len(header) - 1), cells), max_size=6)
    ):
        if body:
            body[row % len(body)][column] = value
    return [header, *body]


def _blank(cells: list[Any]) -> bool:
    return not any(str(cell).strip() for cell in cells)


@st.composite
def csv_exports(draw: st.DrawFn, instrument: str) -> Export:
    """A corrupted CSV export, re-encoded and perhaps cut short, with the rows ingest must keep."""
    records = draw(_rows_and_cells(instrument, st.one_of(TEXT_CELLS, st.sampled_from(TEXT_ONLY))))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    line_ending = draw(st.sampled_from(["\n", "\r\n"]))
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    data = b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b""
    spans = []  # the byte range of each record
    for record in records:
        # Written with CRLF so that every cell holding a CR or LF is quoted, then given its own ending.
        chunk = (csv_text([record], delimiter=delimiter, line_ending="\r\n")[:-2] + line_ending).encode(codec)
        spans.append((len(data), len(data) + len(chunk)))
        data += chunk
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    if cut is not None:
        data = data[:cut]
    expected = 0
    for record, (start, end) in zip(records[1:], spans[1:], strict=True):
        if end <= len(data):
            expected += not _blank(record)
        elif start < len(data):
            expected += _partial_record_kept(data, start, delimiter)
    return Export(f"{instrument}.csv", instrument, "csv", data, expected)


def _partial_record_kept(data: bytes, start: int, delimiter: str) -> int:
    """1 if the cut-off last record still holds a non-blank cell (decoded as ingest decodes the file)."""
    try:
        text, encoding = decode_text(Path("export.csv"), data, None)
    except PipelineError:
        return 0  # ingest refuses the file: there is no row count to compare
    codec = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "windows-1252": "cp1252"}[encoding]
    tail = text[len(data[:start].decode(codec)) :]
    parsed = csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter)
    return int(any(not _blank(record) for record in parsed))


EXCEL_CELLS = st.one_of(
    TEXT_CELLS,
    st.integers(-20, 3000),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.none(),
)
SAV_NUMBERS = st.one_of(
    st.sampled_from([-9.0, -8.0, -1.0, 0.0, 1.0, 2.0, 5.0, 6.0, 99.0, 2.5, math.nan]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)


@st.composite
def xlsx_exports(draw: st.DrawFn) -> Export:
    """A partner workbook with random cells (text, numbers, empty) and random rows deleted or copied."""
    records = draw(_rows_and_cells("partner", EXCEL_CELLS))
    records = [["" if value is None else value for value in record] for record in records]
    data = xlsx_bytes([("responses", records)])
    expected = sum(not _blank(record) for record in records[1:])
    return Export("partner.xlsx", "partner", "xlsx", data, expected)


@st.composite
def sav_exports(draw: st.DrawFn) -> Export:
    """A coordinator SPSS file with random numeric codes and random text in the id and text columns."""
    codebook = _codebook()
    codes = label_codes(codebook, [list(r) for r in _base("coordinator")], "coordinator")
    names = list(codes)
    n = len(codes[names[0]])
    order = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n + 2))  # deletions and copies
    columns = {name: [codes[name][i] for i in order] for name in names}
    for row, column, text, number in draw(
        st.lists(st.tuples(st.integers(0, 99), st.sampled_from(names), TEXT_CELLS, SAV_NUMBERS), max_size=6)
    ):
        values = columns[column]
        values[row % len(values)] = text if codebook[column].is_text else number
    for name in names:
        if not codebook[name].is_text:
            columns[name] = [float(value) for value in columns[name]]
    with tempfile.TemporaryDirectory() as folder:
        path = write_sav_export(Path(folder) / "c.sav", codebook, "coordinator", pd.DataFrame(columns))
        data = path.read_bytes()
    return Export("coordinator.sav", "coordinator", "sav", data, len(order))


@st.composite
def old_workbook_exports(draw: st.DrawFn) -> Export:
    """A partner workbook as old Excel .xls or OpenDocument .ods, with random cells and rows."""
    kind = draw(st.sampled_from(["xls", "ods"]))
    records = draw(_rows_and_cells("partner", EXCEL_CELLS))
    records = [["" if value is None else value for value in record] for record in records]
    if kind == "xls":
        data = _xls(records)
    else:
        with tempfile.TemporaryDirectory() as folder:
            frame = pd.DataFrame(records[1:], columns=records[0])
            data = write_ods_export(Path(folder) / "partner.ods", frame).read_bytes()
    expected = sum(not _blank(record) for record in records[1:])
    return Export(f"partner.{kind}", "partner", kind, data, expected)


ASCII_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ,;.-'", max_size=12)


@st.composite
def statistics_exports(draw: st.DrawFn) -> Export:
    """A coordinator file as Stata .dta, compressed SPSS .zsav or SPSS portable .por, random codes."""
    kind = draw(st.sampled_from(["dta", "zsav", "por"]))
    codebook = _codebook()
    codes = label_codes(codebook, [list(r) for r in _base("coordinator")], "coordinator")
    names = list(codes)
    n = len(codes[names[0]])
    order = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n + 2))
    columns = {name: [codes[name][i] for i in order] for name in names}
    texts = ASCII_TEXT if kind == "por" else TEXT_CELLS  # a portable file holds printable ASCII only
    for row, column, text, number in draw(
        st.lists(st.tuples(st.integers(0, 99), st.sampled_from(names), texts, SAV_NUMBERS), max_size=6)
    ):
        values = columns[column]
        values[row % len(values)] = text if codebook[column].is_text else number
    for name in names:
        if not codebook[name].is_text:
            columns[name] = [float(value) for value in columns[name]]
    frame = pd.DataFrame(columns)
    options: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"c.{kind}"
        if kind == "dta":
            write_dta_export(path, codebook, "coordinator", frame)
        elif kind == "zsav":
            write_sav_export(path, codebook, "coordinator", frame, compress=True)
        else:
            write_por_export(path, codebook, "coordinator", frame)
            options["column_map"] = por_names(codebook, "coordinator")
        data = path.read_bytes()
    file_format = "sav" if kind == "zsav" else kind
    return Export(f"coordinator.{kind}", "coordinator", file_format, data, len(order), options)


@st.composite
def wrapped_text_exports(draw: st.DrawFn) -> Export:
    """A coordinator CSV compressed (gzip, one-file zip) or written as UTF-16/UTF-32 with a BOM."""
    records = draw(_rows_and_cells("coordinator", TEXT_CELLS))
    wrapping = draw(st.sampled_from(["gzip", "zip", "utf-16", "utf-32"]))
    delimiter = draw(st.sampled_from([",", "\t"]))
    text = csv_text(records, delimiter=delimiter, line_ending="\r\n")
    expected = sum(not _blank(record) for record in records[1:])
    if wrapping in ("utf-16", "utf-32"):
        return Export("coordinator.txt", "coordinator", "csv", text.encode(wrapping), expected)
    raw = text.encode("utf-8")
    if wrapping == "gzip":
        return Export("coordinator.csv.gz", "coordinator", "csv", gzip.compress(raw, mtime=0), expected)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("coordinator.csv", raw)
    return Export("coordinator.zip", "coordinator", "csv", buffer.getvalue(), expected)


# ------------------------------------------------------------------------------------------ the property


def _ingest_one(export: Export, folder: Path) -> tuple[IngestResult | None, str]:
    path = folder / export.name
    path.write_bytes(export.data)
    label = relative_to_root(path)
    spec = InputFile(path=path, instrument=export.instrument, format=export.format, **export.options)
    try:
        result = ingest([spec], _codebook(), _frame())
    except PipelineError as error:
        message = str(error)
        assert message.startswith(f"{label}: ") and "\n" not in message and "\r" not in message, message
        event(f"{export.format}: ingest refused the file")
        return None, label
    rows = result.responses[export.instrument]
    assert len(rows) == export.expected_rows, "ingest lost or invented a row"
    assert rows["source_row"].is_unique and rows["source_row"].notna().all()
    assert set(rows["source_file"]) <= {label}
    return result, label


def check_pipeline_keeps_every_row(exports: list[Export]) -> None:
    """Ingest each export, then validate those ingest accepted; assert no crash and no lost row."""
    codebook = _codebook()
    with tempfile.TemporaryDirectory() as folder:
        results = [_ingest_one(export, Path(folder)) for export in exports]
    accepted = [
        (export, result, label) for export, (result, label) in zip(exports, results, strict=True) if result
    ]
    if not accepted:
        return
    responses = {}
    for instrument in codebook.instruments:
        tables = [result.responses[instrument] for _, result, _ in accepted]
        responses[instrument] = pd.concat(tables, ignore_index=True)
    expected_files = {
        entry["path"]: (entry["instrument"], entry["rows"])
        for _, result, _ in accepted
        for entry in result.inputs
    }
    try:
        outcome = validate(responses, _frame(), codebook, expected_files)
    except PipelineError as error:
        assert "\n" not in str(error)
        event("validate refused")
        return
    rejected = outcome.rejected
    event(f"validated {len(accepted)} file(s), {'some' if len(rejected) else 'no'} rows rejected")
    assert rejected["file"].ne("").all() and rejected["row"].notna().all()
    assert rejected["column"].ne("").all() and rejected["check"].ne("").all()
    for export, result, label in accepted:
        counts = outcome.report["files"][label]
        read_rows = set(result.responses[export.instrument]["source_row"])
        assert counts["read"] == len(read_rows) == export.expected_rows
        assert counts["read"] == counts["valid"] + counts["rejected"]
        valid = outcome.valid[export.instrument]
        valid_rows = set(valid.loc[valid["source_file"] == label, "source_row"])
        rejected_rows = set(rejected.loc[rejected["file"] == label, "row"])
        assert not valid_rows & rejected_rows
        assert valid_rows | rejected_rows == read_rows
        assert (len(valid_rows), len(rejected_rows)) == (counts["valid"], counts["rejected"])


@settings(max_examples=25, **SETTINGS)
@given(coordinator=csv_exports("coordinator"), partner=csv_exports("partner"))
def test_corrupted_csv_exports_never_crash_or_lose_a_row(coordinator: Export, partner: Export) -> None:
    check_pipeline_keeps_every_row([coordinator, partner])


@settings(max_examples=10, **SETTINGS)
@given(coordinator=sav_exports(), partner=xlsx_exports())
def test_corrupted_excel_and_spss_exports_never_crash_or_lose_a_row(
    coordinator: Export, partner: Export
) -> None:
    check_pipeline_keeps_every_row([coordinator, partner])


@settings(max_examples=8, **SETTINGS)
@given(coordinator=statistics_exports(), partner=old_workbook_exports())
def test_corrupted_xls_ods_dta_zsav_and_por_exports_never_crash_or_lose_a_row(
    coordinator: Export, partner: Export
) -> None:
    check_pipeline_keeps_every_row([coordinator, partner])


@settings(max_examples=8, **SETTINGS)
@given(coordinator=wrapped_text_exports(), partner=csv_exports("partner"))
def test_compressed_and_wide_unicode_exports_never_crash_or_lose_a_row(
    coordinator: Export, partner: Export
) -> None:
    check_pipeline_keeps_every_row([coordinator, partner])
