"""Validate stage: check every ingested row against the codebook schemas and the sampling frame.

Each row either passes every check and goes to ``valid_<instrument>.parquet`` (codes as Int64) or is
rejected as a whole, with one line per failure in ``rejected.csv``. Nothing is lost: for every input
file, rows read = rows valid + rows rejected, which is logged and enforced.

Checks beyond the generated schemas (pipeline/study/schemas.py), all vectorised:
  duplicate_submission                 an exact copy of an earlier row (every codebook column equal):
                                       the first is kept, the copies rejected
  duplicate_respondent_id_conflicting  one respondent_id on rows with different answers: all rejected
  lsp_in_frame                         lsp_id is not an LSP of the sampling frame
  one_coordinator_per_lsp              a later coordinator row for an LSP that already has one
                                       (the earliest row, in input order, is kept)
  routing                              a routed item answered although its asked_if condition fails,
                                       or "not applicable" although the condition holds
Three failures are renamed to say why the value is wrong:
  control_character    an allowed_codes or integer failure whose value holds a control character
  code_label_disagree  an allowed_codes failure on "4 - Disagree": a code and a label that disagree
  lsp_name_ambiguous   an lsp_in_frame failure on an authority name that several LSPs have

A broken frame (an unknown authority type, a missing tier) is not a row problem: it stops the run.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv, write_json, write_parquet
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.study.frame import read_frame
from pipeline.study.labels import split_code_and_label
from pipeline.study.lsp_names import AuthorityNames
from pipeline.study.respondents import read_instrument_table, refuse_empty_instruments
from pipeline.study.schemas import (
    ensure_validation_enabled,
    failures,
    no_failures,
    response_schema,
    valid_cells,
)

log = logging.getLogger("pipeline.stages.validate")
# The reconciliation lines read "validate: <file>: read N = valid V + rejected R" (the logging format
# puts the logger name first).
reconcile_log = logging.getLogger("validate")

REJECTED_COLUMNS = ["file", "row", "respondent_id", "instrument", "column", "check", "value"]
SOURCE_COLUMNS = ["source_file", "source_row"]
# Instruments answered once per LSP (the codebook's coordinator unit: "one coordinator per LSP").
ONE_PER_LSP = ("coordinator",)
_OPERATORS = {"==": operator.eq, ">=": operator.ge}


@dataclass(frozen=True)
class ValidationResult:
    """Valid rows per instrument, one line per failure, and the counts that reconcile them."""

    valid: dict[str, pd.DataFrame]
    rejected: pd.DataFrame
    report: dict[str, Any]


def _prepare(table: pd.DataFrame, codebook: Codebook, instrument: str, name: str) -> pd.DataFrame:
    """The ingested table with every column as text (source_row as Int64) and a 0..n-1 index."""
    missing = [c for c in [*codebook.columns(instrument), *SOURCE_COLUMNS] if c not in table]
    if missing:
        raise PipelineError(
            f"{name}: column {missing[0]} is missing; run `{rebuild_command('ingest')}` again"
        )
    columns = [*codebook.columns(instrument), "source_file"]
    prepared = table[columns].astype("string")
    prepared["source_row"] = pd.to_numeric(table["source_row"]).astype("Int64")
    return prepared.reset_index(drop=True)


def _lines(mask: pd.Series, table: pd.DataFrame, column: str, check: str) -> pd.DataFrame:
    """Failure lines (index, column, check, value) for the rows where ``mask`` holds."""
    hits = mask[mask.fillna(False).astype(bool)].index
    return pd.DataFrame(
        {
            "index": pd.array(hits, dtype="Int64"),
            "column": pd.array([column] * len(hits), dtype="string"),
            "check": pd.array([check] * len(hits), dtype="string"),
            "value": table.loc[hits, column].astype("string").to_numpy(),
        }
    )


def routing_failures(table: pd.DataFrame, codebook: Codebook, instrument: str) -> list[pd.DataFrame]:
    """Routed items inconsistent with their condition (only where both cells hold allowed codes)."""
    lines = []
    for variable in codebook.for_instrument(instrument):
        condition = variable.asked_if_parts()
        if condition is None:
            continue
        controller_name, op, value = condition
        controller: Variable = codebook[controller_name]
        answer = pd.to_numeric(
            table[controller_name].where(
                table[controller_name].isin([str(code) for code in controller.codes])
            ),
            errors="coerce",
        )
        known = answer.notna()  # a substantive answer; "don't know" or "not answered" says nothing
        holds = known & _OPERATORS[op](answer, value).fillna(False)
        fails = known & ~holds
        item = table[variable.name]
        # Only cells the schema accepts: a bad cell is reported once, by the schema.
        item_valid = valid_cells(item, variable)
        answered = item_valid & ~item.isin(["-1", "-9"]).fillna(False)
        not_applicable = item.eq("-1").fillna(False)
        lines.append(_lines((fails & answered) | (holds & not_applicable), table, variable.name, "routing"))
    return lines


_CONTROL_CHARACTER = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"


def _named_reasons(found: pd.DataFrame) -> pd.DataFrame:
    """Schema failures renamed where the value shows why: a control character, a code-label clash."""
    value_checks = found["check"].isin(["allowed_codes", "integer"])
    if not value_checks.any():
        return found
    found = found.copy()
    values = found["value"].astype("string")
    control = value_checks & values.str.contains(_CONTROL_CHARACTER, regex=True).fillna(False)
    found.loc[control, "check"] = "control_character"
    coded = found["check"].eq("allowed_codes")
    clash = coded & values.map(lambda v: isinstance(v, str) and split_code_and_label(v) is not None)
    found.loc[clash.fillna(False).astype(bool), "check"] = "code_label_disagree"
    return found


def row_failures(
    table: pd.DataFrame,
    codebook: Codebook,
    instrument: str,
    frame_ids: pd.Index,
    names: AuthorityNames | None = None,
) -> pd.DataFrame:
    """Every failure of every row of one instrument's prepared table, as (index, column, check, value)."""
    answers = codebook.columns(instrument)
    duplicate = table[answers].duplicated(keep="first")
    lines = [_lines(duplicate, table, "respondent_id", "duplicate_submission")]
    # The schema sees each submission once, so a repeated respondent_id left means conflicting answers.
    # A table of no rows (an instrument the inputs lack) has no cell to fail, and _prepare has given it
    # every column as text: pandera would find nothing, at the cost of checking every column (~15 ms).
    schema = response_schema(codebook, instrument)
    found = failures(schema, table[~duplicate]) if len(table) else no_failures()
    if found["index"].isna().any():
        structural = found[found["index"].isna()].iloc[0]
        raise PipelineError(
            f"responses_{instrument}: {structural['column']}: {structural['check']} "
            f"({structural['value']}); run `{rebuild_command('ingest')}` again"
        )
    conflicting = found["check"].eq("field_uniqueness") & found["column"].eq("respondent_id")
    found.loc[conflicting, "check"] = "duplicate_respondent_id_conflicting"
    lines.append(_named_reasons(found))
    lsp = table["lsp_id"]
    # get_indexer on the unique ids: Series.isin on Arrow strings converts every frame id to a scalar
    # (2.6 s against 0.2 s for a 100,000-row frame).
    in_frame = pd.Series(frame_ids.drop_duplicates().get_indexer(lsp.astype(object)) >= 0, index=lsp.index)
    not_in_frame = _lines(lsp.notna() & ~in_frame, table, "lsp_id", "lsp_in_frame")
    if len(not_in_frame) and names is not None:
        ambiguous = {value for value in not_in_frame["value"].unique() if names.match(str(value)).ambiguous}
        not_in_frame.loc[not_in_frame["value"].isin(ambiguous), "check"] = "lsp_name_ambiguous"
    lines.append(not_in_frame)
    if instrument in ONE_PER_LSP:
        # Copies already rejected as duplicate submissions do not count as a second coordinator.
        first_submissions = lsp.where(~duplicate)
        later = first_submissions.notna() & first_submissions.duplicated(keep="first")
        lines.append(_lines(later, table, "lsp_id", "one_coordinator_per_lsp"))
    lines += routing_failures(table, codebook, instrument)
    combined = pd.concat([line for line in lines if len(line)] or lines[:1], ignore_index=True)
    return combined.astype({"index": "Int64", "column": "string", "check": "string", "value": "string"})


def typed_valid(table: pd.DataFrame, codebook: Codebook, instrument: str) -> pd.DataFrame:
    """Valid rows with codes as Int64 (missing codes kept negative), ids and free text as string."""
    columns = {}
    # The columns' arrays, cast without a Series around each, and a new 0..n-1 index: the same table as
    # casting each column as a Series and dropping the index, at half the cost (~4 ms an instrument).
    for variable in codebook.for_instrument(instrument):
        values = table[variable.name].array
        columns[variable.name] = (
            # Every cell passed its schema, so it is integer text; a direct cast is ~10x to_numeric.
            values.astype("string") if variable.is_text else values.astype("Int64")
        )
    columns["source_file"] = table["source_file"].array.astype("string")
    columns["source_row"] = table["source_row"].array.astype("Int64")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(table)))


def validate(
    responses: Mapping[str, pd.DataFrame],
    frame: pd.DataFrame,
    codebook: Codebook,
    expected_files: Mapping[str, tuple[str, int]] | None = None,
    rejected_by_ingest: Mapping[str, Mapping[int, tuple[str, str, str]]] | None = None,
) -> ValidationResult:
    """Split every ingested row into valid or rejected, checking the schemas, the frame and routing.

    ``expected_files`` (path -> (instrument, rows), from the ingest manifest) lists files that may have
    no rows at all, so they still get a reconciliation line, and cross-checks the row counts.
    ``rejected_by_ingest`` (path -> row -> (column, check, value), from the manifest's ``rejected_rows``)
    are rows ingest read but found unusable (a truncated last record): each is rejected with that line.
    ``frame`` comes from ``pipeline.study.frame.read_frame``, which has checked it against its schema.
    """
    ensure_validation_enabled()
    frame_ids = pd.Index(frame["lsp_id"].astype(str))
    names = AuthorityNames(frame)
    valid: dict[str, pd.DataFrame] = {}
    rejected_parts: list[pd.DataFrame] = []
    files: dict[str, dict[str, Any]] = {}
    for instrument in codebook.instruments:
        if instrument not in responses:
            raise PipelineError(
                f"no ingested table for instrument {instrument}; run `{rebuild_command('ingest')}` again"
            )
        table = _prepare(responses[instrument], codebook, instrument, f"responses_{instrument}")
        found = row_failures(table, codebook, instrument, frame_ids, names)
        if rejected_by_ingest:
            found = pd.concat([found, _ingest_lines(table, rejected_by_ingest)], ignore_index=True)
        bad = pd.Series(False, index=table.index)
        bad[found["index"].astype(int).unique()] = True
        valid[instrument] = typed_valid(table[~bad], codebook, instrument)
        positions = found["index"].astype(int).to_numpy()
        rejected_parts.append(
            pd.DataFrame(
                {
                    "file": table["source_file"].to_numpy()[positions],
                    "row": table["source_row"].to_numpy()[positions],
                    "respondent_id": table["respondent_id"].to_numpy()[positions],
                    "instrument": instrument,
                    "column": found["column"].to_numpy(),
                    "check": found["check"].to_numpy(),
                    "value": found["value"].to_numpy(),
                }
            )
        )
        counts = pd.DataFrame({"file": table["source_file"], "bad": bad}).groupby("file", sort=True)["bad"]
        for file, read in counts.size().items():
            files[str(file)] = {
                "instrument": instrument,
                "read": int(read),
                "rejected": int(counts.sum()[file]),
            }
    for path, (instrument, rows) in (expected_files or {}).items():
        entry = files.setdefault(path, {"instrument": instrument, "read": 0, "rejected": 0})
        if entry["read"] != rows:
            raise PipelineError(
                f"{path}: the manifest says {rows} rows were ingested but the responses hold "
                f"{entry['read']}; run `{rebuild_command('ingest')}` again"
            )
    rejected = _sorted_rejected(rejected_parts)
    report = _report(files, valid, rejected)
    return ValidationResult(valid, rejected, report)


def _ingest_lines(
    table: pd.DataFrame, rejected_by_ingest: Mapping[str, Mapping[int, tuple[str, str, str]]]
) -> pd.DataFrame:
    """Failure lines (index, column, check, value) for the rows ingest rejected."""
    lines = []
    for file, rows in rejected_by_ingest.items():
        for row, (column, check, value) in rows.items():
            where = table.index[
                table["source_file"].eq(file).fillna(False) & table["source_row"].eq(int(row))
            ]
            lines += [(int(index), column, check, value) for index in where]
    return pd.DataFrame(lines, columns=["index", "column", "check", "value"]).astype(
        {"index": "Int64", "column": "string", "check": "string", "value": "string"}
    )


def ingest_rejections(inputs: list[dict[str, Any]]) -> dict[str, dict[int, tuple[str, str, str]]]:
    """The rows ingest rejected, per file, from the manifest's input entries."""
    return {
        entry["path"]: {int(row): tuple(line) for row, line in entry["rejected_rows"].items()}
        for entry in inputs
        if entry.get("rejected_rows")
    }


def _sorted_rejected(parts: list[pd.DataFrame]) -> pd.DataFrame:
    rejected = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REJECTED_COLUMNS)
    rejected = rejected.astype({c: "string" for c in REJECTED_COLUMNS if c != "row"})
    rejected["row"] = rejected["row"].astype("Int64")
    rejected = rejected.fillna({c: "" for c in REJECTED_COLUMNS if c != "row"})
    return rejected.sort_values(
        ["file", "row", "column", "check", "value"], kind="stable", ignore_index=True
    )[REJECTED_COLUMNS]


def _report(
    files: dict[str, dict[str, Any]], valid: dict[str, pd.DataFrame], rejected: pd.DataFrame
) -> dict[str, Any]:
    """Counts per file and per check; every file must reconcile (read = valid + rejected)."""
    valid_counts: dict[str, int] = {}
    for table in valid.values():
        for file, count in table["source_file"].value_counts().items():
            valid_counts[str(file)] = int(count)
    for file, entry in files.items():
        entry["valid"] = valid_counts.get(file, 0)
        if entry["read"] != entry["valid"] + entry["rejected"]:
            # Every row is either valid or rejected by construction; a gap here is a bug in this module.
            raise RuntimeError(
                f"validate: {file}: read {entry['read']} != valid {entry['valid']} "
                f"+ rejected {entry['rejected']}"
            )
    checks = {}
    for check, group in rejected.groupby("check", sort=True):
        checks[str(check)] = {
            "failures": len(group),
            "rows": int(group[["file", "row"]].drop_duplicates().shape[0]),
        }
    instruments: dict[str, dict[str, int]] = {}
    for entry in files.values():
        totals = instruments.setdefault(entry["instrument"], {"read": 0, "valid": 0, "rejected": 0})
        for key in ("read", "valid", "rejected"):
            totals[key] += entry[key]
    return {"files": dict(sorted(files.items())), "instruments": instruments, "checks": checks}


def reconciliation_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"validate: {file}: read {entry['read']} = valid {entry['valid']} + rejected {entry['rejected']}"
        for file, entry in report["files"].items()
    ]


def _all_rejected(rejected: pd.DataFrame, instrument: str, read: int) -> str:
    """Where an instrument lost every row: its file, with the first rejection's row, column and check."""
    own = rejected[rejected["instrument"] == instrument]
    if own.empty:
        return f"responses_{instrument}.parquet"
    first = own.iloc[0]
    return (
        f"{first['file']} (all {read} {instrument} rows rejected, the first at row {first['row']}, "
        f"column {first['column']}: {first['check']})"
    )


def main(argv: list[str] | None = None) -> None:
    # Refuse before reading anything: without pandera every row would pass.
    ensure_validation_enabled()
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--in-dir", "{processed_dir}", "where ingest wrote the tidy tables")
    path_option(parser, "--out-dir", "{processed_dir}", "where to write the valid rows and the rejects")
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    responses = {}
    for instrument in codebook.instruments:
        path = arguments.in_dir / f"responses_{instrument}.parquet"
        responses[instrument] = read_instrument_table(path, instrument, "ingest")
        log.info("read %s: %d rows", relative_to_root(path), len(responses[instrument]))
    expected, rejected_by_ingest = None, None
    manifest_path = arguments.in_dir / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = {entry["path"]: (entry["instrument"], entry["rows"]) for entry in manifest["inputs"]}
        rejected_by_ingest = ingest_rejections(manifest["inputs"])
    result = validate(responses, frame, codebook, expected, rejected_by_ingest)
    refuse_empty_instruments(
        {instrument: len(table) for instrument, table in result.valid.items()},
        lambda instrument: _all_rejected(result.rejected, instrument, len(responses[instrument])),
    )
    for line in reconciliation_lines(result.report):
        reconcile_log.info(line.removeprefix("validate: "))
    if manifest_path.exists():
        # The column audit travels with the counts: a question with no column is "not answered" on every
        # row of that file, which the counts alone would not show.
        for entry in manifest["inputs"]:
            absent = entry.get("columns_absent") or []
            if entry["path"] in result.report["files"]:
                result.report["files"][entry["path"]]["columns_absent"] = absent
            if absent:
                reconcile_log.warning(
                    "%s: %d codebook column(s) absent, not answered on every row: %s",
                    entry["path"],
                    len(absent),
                    ", ".join(absent),
                )
    for instrument, table in sorted(result.valid.items()):
        target = arguments.out_dir / f"valid_{instrument}.parquet"
        write_parquet(table, target)
        log.info("wrote %s: %d rows", relative_to_root(target), len(table))
    write_csv(result.rejected, arguments.out_dir / "rejected.csv")
    log.info(
        "wrote %s: %d failures", relative_to_root(arguments.out_dir / "rejected.csv"), len(result.rejected)
    )
    write_json(arguments.out_dir / "validation_report.json", result.report)
    log.info("wrote %s", relative_to_root(arguments.out_dir / "validation_report.json"))


if __name__ == "__main__":
    run_stage("validate", main)
