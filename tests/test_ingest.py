"""Ingest stage: label mapping and repairs, encodings, delimiters, Excel and SPSS, structural errors, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT
from pipeline.readers.labels import KIND_SAV_LABEL
from pipeline.readers.table import KIND_UNKNOWN_COLUMN
from pipeline.stages.ingest import (
    KIND_CODE_NOT_LABEL,
    KIND_NORMALISED,
    KIND_NUMBER_TEXT,
    KIND_SENTINEL,
    build_manifest,
    ingest,
    normalise_label,
    translate_column,
    write_outputs,
)
from tests.fixtures.survey_exports import (
    code_rows,
    expected_tidy,
    input_file,
    to_labels,
    write_csv_export,
    write_sav_export,
    write_xlsx_export,
)

SOURCE = ["source_file", "source_row"]


@pytest.fixture(scope="module")
def coordinator_codes(codebook, lsp_ids):
    return code_rows(codebook, "coordinator", 24, lsp_ids, seed=3)


@pytest.fixture(scope="module")
def coordinator_labels(codebook, coordinator_codes):
    return to_labels(codebook, "coordinator", coordinator_codes)


def _tidy(result, instrument="coordinator"):
    return result.responses[instrument].drop(columns=SOURCE)


# ---------------------------------------------------------------------------------- label mapping


def test_normalise_label_straightens_quotes_and_folds_case():
    assert normalise_label("  Don’t   KNOW\u00a0") == "don't know"


@pytest.mark.parametrize(
    ("cell", "code", "kind"),
    [
        ("Strongly agree", "5", None),
        ("Don't know", "-8", None),
        ("", "-9", None),
        ("  strongly   AGREE ", "5", KIND_NORMALISED),
        ("Don’t know", "-8", KIND_NORMALISED),
        ("DK", "-8", KIND_SENTINEL),
        ("4", "4", KIND_CODE_NOT_LABEL),
        ("   ", "-9", "whitespace_only"),
        ("Agreee", "Agreee", None),  # passed through unchanged: validate rejects it with its value
        ("Not applicable", "Not applicable", None),  # -1 is not allowed for this item
    ],
)
def test_likert_labels_map_to_codes(codebook, cell, code, kind):
    codes, kinds = translate_column(pd.Series([cell]), codebook["leaders_competent"])
    assert codes.tolist() == [code]
    assert kinds.tolist() == [kind if kind else pd.NA]


@pytest.mark.parametrize(
    ("cell", "code", "kind"),
    [
        ("12", "12", None),
        (" 12 ", "12", KIND_NUMBER_TEXT),
        ("1,200", "1200", KIND_NUMBER_TEXT),
        ("1 200", "1200", KIND_NUMBER_TEXT),
        ("12.0", "12", KIND_NUMBER_TEXT),
        ("Don't know", "-8", None),
        ("dk", "-8", KIND_SENTINEL),
        ("", "-9", None),
        ("about 40", "about 40", None),
        ("12.5", "12.5", None),
    ],
)
def test_counts_are_repaired_or_passed_through(codebook, cell, code, kind):
    codes, kinds = translate_column(pd.Series([cell]), codebook["forum_size"])
    assert codes.tolist() == [code]
    assert kinds.tolist() == [kind if kind else pd.NA]


def test_routed_item_accepts_not_applicable_and_na_shorthand(codebook):
    codes, kinds = translate_column(
        pd.Series(["Not applicable", "N/A", "Yes"]), codebook["support_team_partner_staff"]
    )
    assert codes.tolist() == ["-1", "-1", "1"]
    assert kinds.tolist() == [pd.NA, KIND_SENTINEL, pd.NA]


def test_ids_are_stripped_and_free_text_kept(codebook):
    ids, kinds = translate_column(pd.Series([" 09", "00BL", ""]), codebook["lsp_id"])
    assert ids.tolist() == ["09", "00BL", pd.NA]
    assert kinds.tolist() == ["id_whitespace", pd.NA, pd.NA]
    text, _ = translate_column(pd.Series(["  a, b\nc ", ""]), codebook["comments"])
    assert text.tolist() == ["  a, b\nc ", pd.NA]
    assert str(text.dtype) == "string"


def test_every_repair_is_recorded_with_file_row_and_column(tmp_path, codebook, coordinator_labels):
    labels = coordinator_labels.head(4).copy()
    labels.loc[0, "comments"] = "line one\nline two"  # a quoted newline must not shift row numbers
    labels.loc[1, "leaders_competent"] = "  agree"
    labels.loc[2, "forum_size"] = "1,200"
    labels.loc[3, "chair_type"] = "Council Leader or Elected Mayor"
    labels.loc[3, "development_stage"] = "Colaboration"
    path = write_csv_export(tmp_path / "c.csv", labels)
    result = ingest([input_file(path, "coordinator")], codebook)
    repairs = result.repairs[["row", "column", "original", "repaired", "kind"]]
    assert repairs.astype(str).to_numpy().tolist() == [
        ["3", "leaders_competent", "  agree", "4", KIND_NORMALISED],
        ["4", "forum_size", "1,200", "1200", KIND_NUMBER_TEXT],
        ["5", "chair_type", "Council Leader or Elected Mayor", "1", KIND_NORMALISED],
    ]
    assert result.responses["coordinator"]["development_stage"].tolist()[3] == "Colaboration"
    assert result.responses["coordinator"]["source_row"].tolist() == [2, 3, 4, 5]


# ---------------------------------------------------------------------------------- CSV reading


@pytest.mark.parametrize(
    ("encoding", "configured", "recorded"),
    [("utf-8", None, "utf-8"), ("utf-8-sig", None, "utf-8-sig"), ("cp1252", "windows-1252", "windows-1252")],
)
def test_encodings_are_detected(
    tmp_path, codebook, coordinator_codes, coordinator_labels, encoding, configured, recorded
):
    labels = coordinator_labels.copy()
    labels.loc[0, "comments"] = "Café in Sefton cost £1,200 — “good” value"
    path = write_csv_export(tmp_path / "c.csv", labels, encoding=encoding)
    result = ingest([input_file(path, "coordinator", encoding=configured)], codebook)
    assert result.inputs[0]["encoding"] == recorded
    expected = expected_tidy(codebook, "coordinator", coordinator_codes)
    expected.loc[0, "comments"] = "Café in Sefton cost £1,200 — “good” value"
    pd.testing.assert_frame_equal(_tidy(result), expected)


def test_text_that_is_not_utf8_stops_at_its_first_byte_and_suggests_the_encoding(
    tmp_path, codebook, coordinator_labels
):
    """No silent whole-file fallback: a Windows-1252 file needs `encoding`; a mixed file names the row."""
    labels = coordinator_labels.head(4).copy()
    labels.loc[2, "comments"] = "Zoë"
    path = write_csv_export(tmp_path / "c.csv", labels, encoding="cp1252")
    # The research budget bands hold "£", Windows-1252 byte 0xa3, from row 2 on.
    with pytest.raises(PipelineError, match=r"row 2 column research_budget_band: byte 0xa3 .*windows-1252"):
        ingest([input_file(path, "coordinator")], codebook)
    # UTF-8 throughout but one comment pasted from a Windows-1252 program.
    path = write_csv_export(tmp_path / "c.csv", labels, encoding="utf-8")
    path.write_bytes(path.read_bytes().replace("Zoë".encode(), "Zoë".encode("cp1252")))
    with pytest.raises(
        PipelineError, match=r"row 4 column comments: byte 0xeb .*the rest of the file is UTF-8"
    ):
        ingest([input_file(path, "coordinator")], codebook)


def test_configured_encoding_wins(tmp_path, codebook, coordinator_labels):
    labels = coordinator_labels.head(2).copy()
    labels.loc[0, "comments"] = "Zoë"
    path = write_csv_export(tmp_path / "c.csv", labels, encoding="latin-1")
    result = ingest([input_file(path, "coordinator", encoding="latin-1")], codebook)
    assert result.inputs[0]["encoding"] == "latin-1"
    assert result.responses["coordinator"]["comments"].iloc[0] == "Zoë"


@pytest.mark.parametrize(
    ("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
)
def test_delimiters_are_sniffed(tmp_path, codebook, coordinator_codes, coordinator_labels, delimiter, name):
    path = write_csv_export(tmp_path / "c.csv", coordinator_labels, delimiter=delimiter)
    result = ingest([input_file(path, "coordinator")], codebook)
    assert result.inputs[0]["delimiter"] == name
    pd.testing.assert_frame_equal(_tidy(result), expected_tidy(codebook, "coordinator", coordinator_codes))


def test_mixed_line_endings_and_quoted_newlines(tmp_path, codebook, coordinator_codes, coordinator_labels):
    header = coordinator_labels.head(0).to_csv(index=False, lineterminator="\n").rstrip("\n")
    records = [header] + [
        coordinator_labels.iloc[[i]].to_csv(index=False, header=False, lineterminator="\n").rstrip("\n")
        for i in range(len(coordinator_labels))
    ]
    assert any("\n" in record for record in records)  # a quoted newline inside a free-text cell
    # Records end with a mix of CRLF, LF and CR; the newline inside quotes stays a LF.
    endings = ["\r\n", "\n", "\r"]
    mixed = "".join(record + endings[i % 3] for i, record in enumerate(records))
    path = tmp_path / "c.csv"
    path.write_bytes(mixed.encode("utf-8"))
    result = ingest([input_file(path, "coordinator")], codebook)
    pd.testing.assert_frame_equal(_tidy(result), expected_tidy(codebook, "coordinator", coordinator_codes))
    # Rows are records as a spreadsheet shows them: the header is row 1.
    assert result.responses["coordinator"]["source_row"].tolist() == list(
        range(2, len(coordinator_codes) + 2)
    )


def test_header_only_gives_zero_rows(tmp_path, codebook, coordinator_labels):
    path = write_csv_export(tmp_path / "c.csv", coordinator_labels.head(0))
    result = ingest([input_file(path, "coordinator")], codebook)
    table = result.responses["coordinator"]
    assert len(table) == 0
    assert list(table.columns) == [*codebook.columns("coordinator"), *SOURCE]


def test_unknown_columns_are_left_out_and_recorded_once(tmp_path, codebook, coordinator_labels):
    labels = coordinator_labels.assign(interviewer="Jo", StartDate="2008-01-01")
    path = write_csv_export(tmp_path / "c.csv", labels)
    result = ingest([input_file(path, "coordinator")], codebook)
    unknown = result.repairs[result.repairs["kind"] == KIND_UNKNOWN_COLUMN]
    assert sorted(unknown["column"]) == ["StartDate", "interviewer"]
    assert "interviewer" not in result.responses["coordinator"]


def test_column_map_renames_export_headers(tmp_path, codebook, coordinator_codes, coordinator_labels):
    labels = coordinator_labels.rename(columns={"respondent_id": "RespID", "forum_size": "Q7"})
    path = write_csv_export(tmp_path / "c.csv", labels)
    spec = input_file(path, "coordinator", column_map={"RespID": "respondent_id", "Q7": "forum_size"})
    result = ingest([spec], codebook)
    pd.testing.assert_frame_equal(_tidy(result), expected_tidy(codebook, "coordinator", coordinator_codes))


def test_an_optional_column_missing_from_the_export_is_not_answered(tmp_path, codebook, coordinator_labels):
    path = write_csv_export(tmp_path / "c.csv", coordinator_labels.drop(columns=["forum_size"]))
    result = ingest([input_file(path, "coordinator")], codebook)
    assert set(result.responses["coordinator"]["forum_size"]) == {"-9"}


def test_several_inputs_feed_one_instrument(tmp_path, codebook, coordinator_labels):
    first = write_csv_export(tmp_path / "a.csv", coordinator_labels.head(5))
    second = write_csv_export(tmp_path / "b.csv", coordinator_labels.tail(3), delimiter=";")
    result = ingest([input_file(first, "coordinator"), input_file(second, "coordinator")], codebook)
    table = result.responses["coordinator"]
    assert len(table) == 8
    assert table["source_file"].str.rsplit("/", n=1).str[-1].tolist() == ["a.csv"] * 5 + ["b.csv"] * 3
    assert len(result.responses["partner"]) == 0  # no input: an empty table with every column


# ---------------------------------------------------------------------------------- Excel and SPSS


def test_excel_named_sheet_after_another_with_a_title_row(
    tmp_path, codebook, coordinator_codes, coordinator_labels
):
    path = write_xlsx_export(
        tmp_path / "c.xlsx",
        coordinator_labels,
        sheet="responses",
        title_rows=["LSP coordinator survey 2008", ""],
        sheets_before=("cover",),
    )
    result = ingest([input_file(path, "coordinator", sheet="responses")], codebook)
    assert result.inputs[0]["sheet"] == "responses" and result.inputs[0]["header_row"] == 3
    pd.testing.assert_frame_equal(_tidy(result), expected_tidy(codebook, "coordinator", coordinator_codes))
    assert result.responses["coordinator"]["source_row"].iloc[0] == 4  # the sheet's own row number
    by_index = ingest([input_file(path, "coordinator", sheet=1, header_row=3)], codebook)
    pd.testing.assert_frame_equal(by_index.responses["coordinator"], result.responses["coordinator"])


def test_excel_missing_sheet_is_named(tmp_path, codebook, coordinator_labels):
    path = write_xlsx_export(tmp_path / "c.xlsx", coordinator_labels, sheet="data")
    with pytest.raises(PipelineError, match="has no sheet 'responses'; sheets: data"):
        ingest([input_file(path, "coordinator", sheet="responses")], codebook)


def test_sav_value_labels_that_disagree_are_reported(tmp_path, codebook, coordinator_codes):
    overrides = {"chair_type": {1: "Council leader"}, "leaders_competent": {5: "Strongly Agree", 7: "Other"}}
    path = write_sav_export(tmp_path / "c.sav", codebook, "coordinator", coordinator_codes, overrides)
    result = ingest([input_file(path, "coordinator")], codebook)
    labels = result.repairs[result.repairs["kind"].str.startswith("sav_")]
    assert labels[["column", "original", "repaired", "kind"]].to_numpy().tolist() == [
        ["chair_type", "1=Council leader", "1=Council leader or elected mayor", KIND_SAV_LABEL],
        ["leaders_competent", "5=Strongly Agree", "5=Strongly agree", KIND_SAV_LABEL],
        ["leaders_competent", "7=Other", "", "sav_value_label_not_in_codebook"],
    ]
    # The codes are what count: the data are unchanged by the labels.
    pd.testing.assert_frame_equal(_tidy(result), expected_tidy(codebook, "coordinator", coordinator_codes))


def test_the_same_data_as_csv_xlsx_and_sav_give_identical_tables(
    tmp_path, codebook, coordinator_codes, coordinator_labels
):
    paths = [
        write_csv_export(tmp_path / "c.csv", coordinator_labels, encoding="cp1252", delimiter=";"),
        write_xlsx_export(tmp_path / "c.xlsx", coordinator_labels),
        write_sav_export(tmp_path / "c.sav", codebook, "coordinator", coordinator_codes),
    ]
    encodings = {".csv": {"encoding": "windows-1252"}}
    tables = [
        ingest([input_file(path, "coordinator", **encodings.get(path.suffix, {}))], codebook).responses[
            "coordinator"
        ]
        for path in paths
    ]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(
            table.drop(columns="source_file"), tables[0].drop(columns="source_file")
        )
    assert all((table.dtypes.drop("source_row") == "string").all() for table in tables)


# ---------------------------------------------------------------------------------- structural errors


def _empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _zip_file(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.txt", "hello")
        archive.writestr("y.txt", "world")
    return path


def _pdf_file(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n%%EOF\n")
    return path


def _html_file(path: Path) -> Path:
    path.write_bytes(b"<html><body><table><tr><td>respondent_id</td></tr></table></body></html>")
    return path


@pytest.mark.parametrize(
    ("make", "options", "message"),
    [
        (lambda d, labels: d / "absent.csv", {}, "absent.csv: not found"),
        (lambda d, labels: _zip_file(d / "c.csv"), {}, "seems to be a zip archive of 2 files (x.txt, y.txt)"),
        (lambda d, labels: _pdf_file(d / "c.xlsx"), {}, "seems to be a PDF, which ingest cannot read"),
        (lambda d, labels: _html_file(d / "c.xls"), {"format": "xls"}, "seems to be an HTML page"),
        (lambda d, labels: _empty_file(d / "c.csv"), {}, "is empty"),
        (
            lambda d, labels: write_csv_export(d / "c.csv", labels, delimiter=":"),
            {},
            "every row is a single column",
        ),
        (
            lambda d, labels: write_csv_export(d / "c.csv", labels.assign(lsp_id2=labels["lsp_id"])),
            {"column_map": {"lsp_id2": "lsp_id"}},
            "column 'lsp_id' appears more than once",
        ),
        (
            lambda d, labels: write_csv_export(d / "c.csv", labels.drop(columns="lsp_id")),
            {},
            "required column lsp_id is missing",
        ),
        (
            lambda d, labels: write_csv_export(
                d / "c.csv", labels.rename(columns=lambda c: c.upper() + "_X")
            ),
            {},
            "no header row found",
        ),
    ],
    ids=[
        "missing",
        "zip-of-two-as-csv",
        "pdf-as-xlsx",
        "html-as-xls",
        "empty",
        "wrong-delimiter",
        "dup-header",
        "no-required",
        "no-header",
    ],
)
def test_structural_problems_stop_with_one_clear_line(
    tmp_path, codebook, coordinator_labels, make, options, message
):
    path = make(tmp_path, coordinator_labels)
    with pytest.raises(PipelineError) as error:
        ingest([input_file(path, "coordinator", **options)], codebook)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_row_with_too_many_cells_is_refused_with_its_row(tmp_path, codebook, coordinator_labels):
    path = write_csv_export(tmp_path / "c.csv", coordinator_labels.head(3))
    lines = path.read_text().splitlines()
    lines[2] += ",surplus"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PipelineError, match="row 3 has"):
        ingest([input_file(path, "coordinator")], codebook)


# ---------------------------------------------------------------------------------- outputs and CLI


def test_outputs_are_byte_deterministic_and_manifest_complete(tmp_path, codebook, coordinator_labels):
    path = write_csv_export(tmp_path / "c.csv", coordinator_labels)
    digests = []
    for run in ("one", "two"):
        result = ingest([input_file(path, "coordinator")], codebook)
        write_outputs(result, build_manifest(result, codebook), tmp_path / run)
        digests.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).iterdir())})
    assert digests[0] == digests[1]
    assert set(digests[0]) == {
        "ingest_repairs.csv",
        "manifest.json",
        "responses_coordinator.parquet",
        "responses_partner.parquet",
    }
    manifest = json.loads(digests[0]["manifest.json"])
    entry = manifest["inputs"][0]
    assert {"path", "size_bytes", "sha256", "format", "encoding", "delimiter", "rows"} <= set(entry)
    assert entry["rows"] == len(coordinator_labels)
    assert {"pandas", "numpy", "pandera", "pyarrow", "pyreadstat", "openpyxl", "scipy"} <= set(
        manifest["packages"]
    )
    assert set(manifest["code_version"]) == {"version", "commit", "dirty"}
    parquet = pd.read_parquet(tmp_path / "one" / "responses_coordinator.parquet")
    assert parquet.loc[0, "lsp_id"] == coordinator_labels.loc[0, "lsp_id"]


def _run(module: str, config: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PIPELINE_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_on_a_missing_file_exits_2_with_one_line(tmp_path, write_config):
    config = write_config([{"path": str(tmp_path / "nope.csv"), "instrument": "coordinator"}])
    completed = _run("pipeline.stages.ingest", config)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "nope.csv: not found" in errors[0]
    assert len(completed.stderr.strip().splitlines()) == 1


def test_excel_table_away_from_the_top_left_corner(tmp_path, codebook, coordinator_codes, coordinator_labels):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "export"
    sheet.cell(row=1, column=2, value="Coordinator survey: all respondents")
    for offset, record in enumerate(
        [list(coordinator_labels.columns), *coordinator_labels.to_numpy().tolist()]
    ):
        for column, value in enumerate(record, start=2):  # column A left empty
            sheet.cell(row=3 + offset, column=column, value=None if value == "" else value)
    path = tmp_path / "c.xlsx"
    workbook.save(path)
    result = ingest([input_file(path, "coordinator")], codebook)
    pd.testing.assert_frame_equal(_tidy(result), expected_tidy(codebook, "coordinator", coordinator_codes))
    assert result.responses["coordinator"]["source_row"].iloc[0] == 4
    assert result.repairs.empty  # the empty margin column is not reported
