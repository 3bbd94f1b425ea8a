"""The metamorphic harness: what survey offices, spreadsheets and other programs do to an export, applied to
the committed clean exports, and the one rule of docs/ingest_validate.md checked cell by cell.

The rule: every answer of the validated data equals what the clean file says under the codebook, or
carries a repair line naming its row and column (or a whole-column line: ``column_absent``,
``value_labels_recoded``), or its row is rejected with a reason, or the run stops with one line naming the
file (and the row and column where there is one). A row-level note (a padded short row) or a file-level
warning (a value label worded differently) does not account for a changed answer.

Each transformation class also has the one outcome it must have (``equal``, ``repaired``, ``rejected``,
``stop``), so a mechanism that starts refusing good files fails here too. The clean base is the first 40
respondents of the committed coordinator CSV and partner workbook; every case runs ingest and validate
in-process (the module takes a few seconds).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import string
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import InputFile
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.stages.ingest import IngestResult, ingest
from pipeline.stages.validate import ingest_rejections, validate
from pipeline.study.frame import read_frame
from tests.bad_inputs.make_corpus import csv_text, label_codes, xlsx_bytes

RAW = PROJECT_ROOT / "data/raw"
ROWS = 40
# Lines that change every answer of a column, and say how.
COLUMN_LINES = {"column_absent", "value_labels_recoded"}
SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, database=None)
Records = list[list[str]]


def coordinator_records() -> Records:
    text = (RAW / "synthetic_coordinator_survey_2008.csv").read_text(encoding="utf-8")
    return [list(record) for record in csv.reader(io.StringIO(text, newline=""))][: ROWS + 1]


def partner_records() -> Records:
    import openpyxl

    workbook = openpyxl.load_workbook(RAW / "synthetic_partner_survey_2008.xlsx", read_only=True)
    try:
        rows = workbook["responses"].iter_rows(min_row=1, max_row=ROWS + 1, values_only=True)
        return [["" if value is None else str(value) for value in row] for row in rows]
    finally:
        workbook.close()


# ------------------------------------------------------------------------------------------ the rule


@dataclass
class Run:
    """One export through ingest and validate: the tidy table, the lines, the rejected rows, or the stop."""

    label: str
    table: pd.DataFrame | None = None
    repairs: pd.DataFrame | None = None
    rejected: set[int] = field(default_factory=set)
    stop: str | None = None


def run(tmp: Path, name: str, data: bytes, instrument: str, codebook, frame, **options: Any) -> Run:
    path = tmp / name
    path.write_bytes(data)
    formats = {
        ".csv": "csv",
        ".gz": "csv",
        ".txt": "csv",
        ".xlsx": "xlsx",
        ".sav": "sav",
        ".dta": "dta",
        ".ods": "ods",
    }
    spec = InputFile(path=path, instrument=instrument, format=formats[path.suffix], **options)
    label = relative_to_root(path)
    try:
        result: IngestResult = ingest([spec], codebook)
        entry = result.inputs[0]
        validation = validate(
            result.responses,
            frame,
            codebook,
            {entry["path"]: (entry["instrument"], entry["rows"])},
            ingest_rejections(result.inputs),
        )
    except PipelineError as error:
        return Run(label, stop=str(error))
    rejected = validation.rejected
    return Run(
        label,
        result.responses[instrument],
        result.repairs,
        set(rejected.loc[rejected["file"].eq(label), "row"].astype(int)),
    )


def violations(clean: Run, changed: Run, codebook: Codebook, instrument: str) -> list[str]:
    """Every answer that differs from the clean export without a line, a rejection or a stop."""
    if changed.stop is not None:
        lines = changed.stop.splitlines()
        ok = len(lines) == 1 and lines[0].startswith(changed.label) and "Traceback" not in changed.stop
        return [] if ok else [f"the stop is not one line naming the file: {changed.stop!r}"]
    assert clean.table is not None and changed.table is not None and changed.repairs is not None
    repairs = changed.repairs
    cell_lines = {
        (int(row), column)
        for row, column in repairs.loc[
            repairs["row"].notna() & repairs["column"].ne(""), ["row", "column"]
        ].itertuples(index=False)
    }
    column_lines = set(repairs.loc[repairs["row"].isna() & repairs["kind"].isin(COLUMN_LINES), "column"])
    before = clean.table.set_index("respondent_id")
    after = changed.table.set_index("respondent_id")
    found = []
    if not after.index.is_unique:
        found.append("respondent ids repeated")
    lost = before.index.difference(after.index)
    found += [f"respondent {respondent} lost" for respondent in lost]
    for column in codebook.columns(instrument):
        if column == "respondent_id":
            continue
        old = before[column].reindex(after.index).astype("string").fillna("<NA>")
        new = after[column].astype("string").fillna("<NA>")
        for respondent in old.index[old.ne(new) & after.index.isin(before.index)]:
            row = int(after.loc[respondent, "source_row"])
            if row in changed.rejected or (row, column) in cell_lines or column in column_lines:
                continue
            found.append(f"row {row} {column}: {old[respondent]!r} became {new[respondent]!r} silently")
    return found


def outcome(clean: Run, changed: Run) -> str:
    """stop, rejected (rows the clean export does not lose), repaired (an answer differs) or equal."""
    if changed.stop is not None:
        return "stop"
    if changed.rejected - clean.rejected:
        return "rejected"
    before = clean.table.set_index("respondent_id").drop(columns=["source_file", "source_row"])
    after = changed.table.set_index("respondent_id").drop(columns=["source_file", "source_row"])
    after = after.reindex(before.index)
    same = before.astype("string").fillna("<NA>").eq(after.astype("string").fillna("<NA>")).all().all()
    return "equal" if same else "repaired"


# ------------------------------------------------------------------------------------------ transformations


def _csv(records: Records, **options: Any) -> bytes:
    return csv_text(records, **options).encode("utf-8")


def _column(records: Records, name: str) -> int:
    return records[0].index(name)


def _sav(
    codebook: Codebook,
    records: Records,
    recode: dict[str, dict[int, int]],
    relabel: dict[str, dict[int, str]] | None = None,
    kind: str = "sav",
) -> bytes:
    """An SPSS (or Stata, ``kind="dta"``) export of the records' codes; ``recode`` gives columns coded
    otherwise, labelled so; ``relabel`` rewords labels (by file code)."""
    import numpy as np
    import pyreadstat

    codes = label_codes(codebook, records, "coordinator")
    data, value_labels, missing_ranges = {}, {}, {}
    for variable in codebook.for_instrument("coordinator"):
        column = pd.Series(codes[variable.name])
        if variable.is_text:
            data[variable.name] = column.replace("", None).astype(object)
            continue
        mapping = recode.get(variable.name, {})
        column = column.map(lambda code, mapping=mapping: mapping.get(code, code))
        data[variable.name] = column.astype(float).where(column != -9, np.nan)
        labels = variable.allowed_codes if variable.is_coded else variable.missing
        value_labels[variable.name] = {
            float(mapping.get(code, code)): label for code, label in labels.items()
        }
        for code, label in (relabel or {}).get(variable.name, {}).items():
            value_labels[variable.name][float(code)] = label
        user_missing = [float(code) for code in variable.missing if code != -9]
        if user_missing:
            missing_ranges[variable.name] = user_missing
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export.{kind}"
        if kind == "dta":  # Stata has no user-missing codes; labels are keyed by whole numbers
            labels = {
                name: {int(code): text for code, text in codes.items()}
                for name, codes in value_labels.items()
            }
            pyreadstat.write_dta(pd.DataFrame(data), str(path), variable_value_labels=labels)
        else:
            pyreadstat.write_sav(
                pd.DataFrame(data),
                str(path),
                variable_value_labels=value_labels,
                missing_ranges=missing_ranges,
            )
        return path.read_bytes()


def _merged_workbook(records: Records, column: str) -> bytes:
    """The partner workbook with three cells of one column that hold the same answer merged (Excel keeps
    the first cell's value and empties the others)."""
    import openpyxl

    position = _column(records, column)
    body = [record[position] for record in records[1:]]
    start = next(i for i in range(len(body) - 2) if body[i] == body[i + 1] == body[i + 2] != "")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([("responses", records)])))
    sheet = workbook["responses"]
    letter = openpyxl.utils.get_column_letter(position + 1)
    sheet.merge_cells(f"{letter}{start + 2}:{letter}{start + 4}")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _merged_ods(records: Records, column: str) -> bytes:
    """The partner sheet as OpenDocument with three cells of one column that hold the same answer merged
    (LibreOffice keeps the first value; the covered cells are empty)."""
    position = _column(records, column)
    body = [record[position] for record in records[1:]]
    start = next(i for i in range(len(body) - 2) if body[i] == body[i + 1] == body[i + 2] != "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.ods"
        frame = pd.DataFrame(records[1:], columns=records[0])
        frame.replace("", None).to_excel(path, engine="odf", index=False, sheet_name="responses")
        source = zipfile.ZipFile(path)
        content = source.read("content.xml").decode("utf-8")
        rows = list(re.finditer(r"<table:table-row\b.*?</table:table-row>", content, re.DOTALL))
        cell = re.compile(r"<table:table-cell\b[^>]*?(?:/>|>.*?</table:table-cell>)", re.DOTALL)
        pieces, last = [], 0
        for offset, found in enumerate(rows[start + 1 : start + 4]):
            row_cells = list(cell.finditer(found[0]))
            target = row_cells[position]
            text = found[0]
            if offset == 0:
                merged = target[0].replace(
                    "<table:table-cell", '<table:table-cell table:number-rows-spanned="3"', 1
                )
            else:
                merged = "<table:covered-table-cell/>"
            new_row = text[: target.start()] + merged + text[target.end() :]
            pieces += [content[last : found.start()], new_row]
            last = found.end()
        content = "".join(pieces) + content[last:]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as target_zip:
            for item in source.infolist():
                payload = content.encode("utf-8") if item.filename == "content.xml" else source.read(item)
                target_zip.writestr(item, payload)
        return buffer.getvalue()


def _cut_inside_last_number(records: Records) -> bytes:
    """The export cut inside the last record's forum_size, with no line end (an interrupted copy)."""
    text = csv_text(records)
    last_start = text.rstrip("\n").rfind("\n") + 1
    position = _column(records, "forum_size")
    prefix = ",".join(records[-1][:position]) if '"' not in text[last_start:] else None
    assert prefix is not None and len(records[-1][position]) >= 2
    return text[: last_start + len(prefix) + 2].encode("utf-8")  # the comma and the first digit


def _mixed_encoding(records: Records) -> bytes:
    """UTF-8, but one row's research budget band written by a Windows-1252 program ("Under £50,000")."""
    position = _column(records, "research_budget_band")
    row = next(i for i, record in enumerate(records) if "£" in record[position] and i > 5)
    lines = csv_text(records).encode("utf-8").split(b"\n")
    lines[row] = lines[row].decode("utf-8").encode("cp1252")
    return b"\n".join(lines)


@dataclass(frozen=True)
class Case:
    """One transformation class: what it does, the file it makes, the outcome it must have."""

    name: str
    what: str
    expected: str  # equal | repaired | rejected | stop
    make: Callable[[Codebook, Records, Records], tuple[str, bytes, str]]  # -> file name, bytes, instrument
    options: dict[str, Any] = field(default_factory=dict)
    stop_names: str = ""  # a pattern the stop line must hold (the row and column, the sheet, ...)


def _likert_block(codebook: Codebook) -> list[str]:
    return [v.name for v in codebook.for_instrument("coordinator") if v.type == "likert5"][:6]


CASES = [
    # ----------------------------------------------------------------- the nine classes of issue 21
    Case(
        "1 wrong sheet",
        "a workbook whose first sheet is a log (respondent id, LSP id, date received, reminder sent)",
        "equal",
        lambda cb, c, p: (
            "partners.xlsx",
            xlsx_bytes(
                [
                    (
                        "log",
                        [["respondent_id", "lsp_id", "date_received", "reminder_sent"]]
                        + [[r[0], r[1], "2008-01-15", "no"] for r in p[1:]],
                    ),
                    ("responses", p),
                ]
            ),
            "partner",
        ),
    ),
    Case(
        "1b two sheets alike",
        "a workbook holding the responses twice (a copy made before editing), no sheet configured",
        "stop",
        lambda cb, c, p: ("partners.xlsx", xlsx_bytes([("responses", p), ("responses (2)", p)]), "partner"),
        stop_names=r"sheets 'responses' and 'responses \(2\)' match .*equally well .*41 of 41",
    ),
    Case(
        "1c no sheet matches",
        "a workbook of the log and a sheet holding only the ids, no sheet configured",
        "stop",
        lambda cb, c, p: (
            "partners.xlsx",
            xlsx_bytes(
                [
                    ("log", [["respondent_id", "date_received"]] + [[r[0], "2008-01-15"] for r in p[1:]]),
                    ("ids", [r[:2] for r in p]),
                ]
            ),
            "partner",
        ),
        stop_names=r"no sheet's header holds half of the partner columns .*'log' 1 of 41, 'ids' 2 of 41",
    ),
    Case(
        "2 question columns absent",
        "three Likert columns deleted and information_shared renamed 'Information shared'",
        "repaired",
        lambda cb, c, p: (
            "coordinators.csv",
            _csv(
                [
                    ["Information shared" if h == "information_shared" else h for h in r] if i == 0 else r
                    for i, r in enumerate(
                        _drop(c, ["leaders_competent", "meetings_strategic", "council_dominates"])
                    )
                ]
            ),
            "coordinator",
        ),
    ),
    Case(
        "2b question columns absent, absence an error",
        "the same export with require_every_column: true",
        "stop",
        lambda cb, c, p: ("coordinators.csv", _csv(_drop(c, ["information_shared"])), "coordinator"),
        options={"require_every_column": True},
        stop_names=r"column information_shared \(.*\) is absent",
    ),
    Case(
        "3a value labels reversed (SPSS)",
        "a Likert block coded 1 = Strongly agree ... 5 = Strongly disagree, labelled so",
        "equal",
        lambda cb, c, p: (
            "coordinators.sav",
            _sav(cb, c, {name: {k: 6 - k for k in range(1, 6)} for name in _likert_block(cb)}),
            "coordinator",
        ),
    ),
    Case(
        "3b categories coded from 0 (SPSS)",
        "development_stage and chair_type coded 0, 1, ... with labels matching the codebook's categories",
        "equal",
        lambda cb, c, p: (
            "coordinators.sav",
            _sav(
                cb,
                c,
                {name: {k: k - 1 for k in cb[name].codes} for name in ("development_stage", "chair_type")},
            ),
            "coordinator",
        ),
    ),
    Case(
        "3d value labels reversed (Stata)",
        "the reversed Likert block in a Stata .dta",
        "equal",
        lambda cb, c, p: (
            "coordinators.dta",
            _sav(cb, c, {name: {k: 6 - k for k in range(1, 6)} for name in _likert_block(cb)}, kind="dta"),
            "coordinator",
        ),
    ),
    Case(
        "3c value labels that name no category (SPSS)",
        "the reversed block with one label reworded ('Agree a lot'): the codes cannot be read by label",
        "stop",
        lambda cb, c, p: (
            "coordinators.sav",
            _sav(
                cb,
                c,
                {name: {k: 6 - k for k in range(1, 6)} for name in _likert_block(cb)},
                {_likert_block(cb)[0]: {1: "Agree a lot"}},
            ),
            "coordinator",
        ),
        stop_names=r"column \w+: code 1 is labelled 'Agree a lot', which names none",
    ),
    Case(
        "4 merged cells",
        "three cells of one partner column merged in the data area",
        "stop",
        lambda cb, c, p: ("partners.xlsx", _merged_workbook(p, "information_shared"), "partner"),
        options={"sheet": "responses"},
        stop_names=r"sheet 'responses' cells [A-Z]+\d+:[A-Z]+\d+ .*merged",
    ),
    Case(
        "4b merged cells, filling allowed",
        "the same workbook with fill_merged_cells: true",
        "equal",
        lambda cb, c, p: ("partners.xlsx", _merged_workbook(p, "information_shared"), "partner"),
        options={"sheet": "responses", "fill_merged_cells": True},
    ),
    Case(
        "4c merged cells (OpenDocument)",
        "three cells of one partner column merged in an .ods sheet",
        "stop",
        lambda cb, c, p: ("partners.ods", _merged_ods(p, "information_shared"), "partner"),
        options={"sheet": "responses"},
        stop_names=r"sheet 'responses' cells [A-Z]+\d+:[A-Z]+\d+ .*merged",
    ),
    Case(
        "5 cut file",
        "the last record ends inside forum_size with no line end",
        "rejected",
        lambda cb, c, p: ("coordinators.csv", _cut_inside_last_number(c), "coordinator"),
    ),
    Case(
        "6 mixed encodings",
        "a UTF-8 file with one row written in Windows-1252",
        "stop",
        lambda cb, c, p: ("coordinators.csv", _mixed_encoding(c), "coordinator"),
        stop_names=r"row \d+ column research_budget_band: byte 0xa3 .*rest of the file is UTF-8",
    ),
    Case(
        "6b Windows-1252 throughout",
        "the whole file in Windows-1252, no encoding configured",
        "stop",
        lambda cb, c, p: ("coordinators.csv", csv_text(c).encode("cp1252"), "coordinator"),
        stop_names=r"row \d+ column \w+: byte 0x[0-9a-f]{2} .*set encoding: windows-1252",
    ),
    Case(
        "6c Windows-1252, configured",
        "the same file with encoding: windows-1252",
        "equal",
        lambda cb, c, p: ("coordinators.csv", csv_text(c).encode("cp1252"), "coordinator"),
        options={"encoding": "windows-1252"},
    ),
    Case(
        "8 empty instrument (ingest's part)",
        "a header-only export: no answers to read, 0 rows ingested and 0 = 0 + 0 validated",
        "equal",
        lambda cb, c, p: ("coordinators.csv", _csv(c[:1]), "coordinator"),
    ),
    # ----------------------------------------------------------------- what else programs do to a file
    Case(
        "BOM",
        "UTF-8 with a byte-order mark (Excel's CSV UTF-8)",
        "equal",
        lambda cb, c, p: ("coordinators.csv", b"\xef\xbb\xbf" + _csv(c), "coordinator"),
    ),
    Case(
        "CRLF line ends",
        "Windows line ends",
        "equal",
        lambda cb, c, p: ("coordinators.csv", _csv(c, line_ending="\r\n"), "coordinator"),
    ),
    Case(
        "CR line ends",
        "classic Mac line ends",
        "equal",
        lambda cb, c, p: ("coordinators.csv", _csv(c, line_ending="\r"), "coordinator"),
    ),
    Case(
        "trailing blank rows",
        "empty lines and lines of delimiters after the data",
        "equal",
        lambda cb, c, p: (
            "coordinators.csv",
            _csv(c) + b"\n" + b"," * (len(c[0]) - 1) + b"\n\n",
            "coordinator",
        ),
    ),
    Case(
        "header case and spaces",
        "every header upper-cased with spaces around it",
        "equal",
        lambda cb, c, p: (
            "coordinators.csv",
            _csv([[f" {h.upper()} " for h in c[0]], *c[1:]]),
            "coordinator",
        ),
    ),
    Case(
        "title rows",
        "two title rows above the header (a report-style export)",
        "equal",
        lambda cb, c, p: (
            "coordinators.csv",
            _csv([["LSP survey 2008: coordinators"], ["exported 1 March 2008"], *c]),
            "coordinator",
        ),
    ),
    Case(
        "every cell quoted",
        "a mail-merge or database export quoting every cell, numbers included",
        "equal",
        lambda cb, c, p: (
            "coordinators.csv",
            "".join(",".join('"' + x.replace('"', '""') + '"' for x in r) + "\n" for r in c).encode(),
            "coordinator",
        ),
    ),
    Case(
        "numbers re-saved as decimals",
        "counts and years written 18.0, 1998.0 (a re-save through a statistics program)",
        "equal",
        lambda cb, c, p: ("coordinators.csv", _csv(_map_numbers(cb, c, lambda x: f"{x}.0")), "coordinator"),
    ),
    Case(
        "thousands separators",
        "years written 1,998 (a spreadsheet's number format)",
        "equal",
        lambda cb, c, p: (
            "coordinators.csv",
            _csv(_map_numbers(cb, c, lambda x: f"{int(x):,}" if int(x) >= 1000 else x)),
            "coordinator",
        ),
    ),
    Case(
        "semicolons and decimal commas",
        "a European spreadsheet's CSV: semicolon delimited, counts as 18,0",
        "equal",
        lambda cb, c, p: (
            "coordinators.csv",
            _csv(_map_numbers(cb, c, lambda x: f"{x},0"), delimiter=";"),
            "coordinator",
        ),
    ),
    Case(
        "codes with labels",
        "a survey tool's 'values and labels' export: '4 - Agree'",
        "equal",
        lambda cb, c, p: ("coordinators.csv", _csv(_codes_and_labels(cb, c)), "coordinator"),
    ),
    Case(
        "labels upper-cased",
        "every label in capitals (a mail merge's formatting)",
        "equal",
        lambda cb, c, p: ("coordinators.csv", _csv(_upper_labels(cb, c)), "coordinator"),
    ),
    Case(
        "gzip",
        "the export compressed for e-mail",
        "equal",
        lambda cb, c, p: ("coordinators.csv.gz", gzip.compress(_csv(c), mtime=0), "coordinator"),
    ),
    Case(
        "UTF-16 tab text",
        "Excel's 'Unicode Text': UTF-16 with a BOM, tab separated",
        "equal",
        lambda cb, c, p: ("coordinators.txt", csv_text(c, delimiter="\t").encode("utf-16"), "coordinator"),
    ),
]


def _drop(records: Records, names: list[str]) -> Records:
    keep = [i for i, name in enumerate(records[0]) if name not in names]
    return [[record[i] for i in keep] for record in records]


def _map_numbers(codebook: Codebook, records: Records, change: Callable[[str], str]) -> Records:
    numeric = {v.name for v in codebook.for_instrument("coordinator") if v.is_numeric}
    header = records[0]
    return [header] + [
        [change(x) if header[i] in numeric and re.fullmatch(r"\d+", x) else x for i, x in enumerate(r)]
        for r in records[1:]
    ]


def _codes_and_labels(codebook: Codebook, records: Records) -> Records:
    header = records[0]
    out = [header]
    for record in records[1:]:
        cells = []
        for name, cell in zip(header, record, strict=True):
            variable = codebook[name]
            codes = {label: code for code, label in variable.codes.items()} if variable.is_coded else {}
            cells.append(f"{codes[cell]} - {cell}" if cell in codes else cell)
        out.append(cells)
    return out


def _upper_labels(codebook: Codebook, records: Records) -> Records:
    header = records[0]
    coded = {v.name for v in codebook.for_instrument("coordinator") if v.is_coded}
    return [header] + [[x.upper() if header[i] in coded else x for i, x in enumerate(r)] for r in records[1:]]


@pytest.fixture(scope="module")
def base(codebook, frame, tmp_path_factory) -> dict[str, Any]:
    """The clean exports (first 40 respondents) and what ingest and validate make of them."""
    tmp = tmp_path_factory.mktemp("clean")
    coordinators, partners = coordinator_records(), partner_records()
    return {
        "records": (coordinators, partners),
        "coordinator": run(tmp, "clean.csv", _csv(coordinators), "coordinator", codebook, frame),
        "partner": run(
            tmp,
            "clean.xlsx",
            xlsx_bytes([("responses", partners)]),
            "partner",
            codebook,
            frame,
            sheet="responses",
        ),
    }


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_answer_is_equal_repaired_rejected_or_stopped(case: Case, base, codebook, frame, tmp_path):
    coordinators, partners = base["records"]
    name, data, instrument = case.make(codebook, coordinators, partners)
    changed = run(tmp_path, name, data, instrument, codebook, frame, **case.options)
    clean = base[instrument]
    if case.name.startswith("8 "):
        assert changed.stop is None and len(changed.table) == 0
        return
    assert violations(clean, changed, codebook, instrument) == []
    assert outcome(clean, changed) == case.expected, changed.stop
    if case.stop_names:
        assert re.search(case.stop_names, changed.stop), changed.stop


def test_the_classes_of_issue_21_are_covered():
    names = {case.name.split()[0] for case in CASES}
    assert {"1", "2", "3a", "3b", "4", "5", "6", "8"} <= names and len(CASES) >= 15


def test_7_a_duplicated_config_key_is_refused(tmp_path):
    """Class 7: `inputs:` given twice (a block pasted below the first) stops the run naming the key."""
    from pipeline.core.config import DEFAULT_CONFIG, load_config

    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    block = text[text.index("  inputs:") : text.index("\n\n", text.index("  inputs:"))]
    partners_only = "\n".join(line for line in block.splitlines() if "coordinator" not in line)
    copy = tmp_path / "config.yaml"
    copy.write_text(text.replace(block, block + "\n" + partners_only), encoding="utf-8")
    with pytest.raises(PipelineError) as refused:
        load_config(copy)
    message = str(refused.value)
    assert "inputs" in message and "given twice" in message and "\n" not in message


# ------------------------------------------------------------------------------------------ with hypothesis


@SETTINGS
@given(
    order=st.permutations(range(1, ROWS + 1)), columns=st.permutations(range(len(coordinator_records()[0])))
)
def test_rows_and_columns_in_any_order_read_the_same(order, columns, tmp_path_factory):
    """A re-sort or a column shuffle in a spreadsheet changes no answer (matched by respondent)."""
    codebook, frame = load_codebook(RAW / "codebook.yaml"), _frame()
    records = coordinator_records()
    shuffled = [[records[r][c] for c in columns] for r in [0, *order]]
    tmp = tmp_path_factory.mktemp("order")
    clean = _clean_coordinators(tmp_path_factory)
    changed = run(tmp, "shuffled.csv", _csv(shuffled), "coordinator", codebook, frame)
    assert violations(clean, changed, codebook, "coordinator") == []
    assert outcome(clean, changed) == "equal"


@SETTINGS
@given(
    cuts=st.lists(
        st.tuples(
            st.integers(1, ROWS), st.sampled_from(["forum_size", "leaders_competent", "development_stage"])
        ),
        min_size=1,
        max_size=4,
    ),
    junk=st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=6),
)
def test_damaged_cells_are_repaired_or_rejected_never_silently_read(cuts, junk, tmp_path_factory):
    """Cells overwritten with junk: each is rejected by validate (never read as another answer)."""
    codebook, frame = load_codebook(RAW / "codebook.yaml"), _frame()
    records = [list(record) for record in coordinator_records()]
    for row, column in cuts:
        records[row][records[0].index(column)] = junk
    tmp = tmp_path_factory.mktemp("junk")
    clean = _clean_coordinators(tmp_path_factory)
    changed = run(tmp, "junk.csv", _csv(records), "coordinator", codebook, frame)
    assert violations(clean, changed, codebook, "coordinator") == []


_FRAME_CACHE: list[pd.DataFrame] = []
_CLEAN_CACHE: list[Run] = []


def _clean_coordinators(tmp_path_factory) -> Run:
    """The clean coordinator export through ingest and validate, once."""
    if not _CLEAN_CACHE:
        tmp = tmp_path_factory.mktemp("clean")
        codebook = load_codebook(RAW / "codebook.yaml")
        _CLEAN_CACHE.append(
            run(tmp, "clean.csv", _csv(coordinator_records()), "coordinator", codebook, _frame())
        )
    return _CLEAN_CACHE[0]


def _frame() -> pd.DataFrame:
    """The frame, read once (hypothesis tests cannot take module fixtures)."""
    if not _FRAME_CACHE:
        _FRAME_CACHE.append(read_frame(RAW / "lsp_frame_2008.csv"))
    return _FRAME_CACHE[0]
