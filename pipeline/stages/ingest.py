"""Ingest stage: read every survey export into one tidy text table per instrument, recording every repair.

The format readers (``pipeline/readers``: delimited text, workbooks, SPSS and Stata) turn each export into
text cells under codebook headers. This stage *translates*: labels become codebook codes (as text),
obvious formatting slips are repaired and written to ``ingest_repairs.csv``, and anything it cannot
translate is passed through unchanged so that the validate stage rejects it with its original value. It
never drops a respondent and never guesses a code (docs/ingest_validate.md states the rule).

Structural problems (missing file, wrong file type, missing required column, duplicated header, a
delimiter that leaves a single column) stop the run with one line naming the file and what to do.

Outputs (in ``processed_dir``):
  responses_<instrument>.parquet  every codebook column as pandas "string", plus source_file/source_row
  ingest_repairs.csv              file,row,column,original,repaired,kind — one line per repair or warning
  manifest.json                   what was read (sizes, hashes, encodings, row counts) and by which code
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import Config, InputFile, parse_stage_arguments, path_option, stage_parser
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json, write_parquet
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.readers import RawTable, read_input
from pipeline.study.labels import normalise_label, split_code_and_label
from pipeline.study.lsp_names import AuthorityNames
from pipeline.study.respondents import refuse_empty_instruments

log = logging.getLogger("pipeline.stages.ingest")

REPAIR_COLUMNS = ["file", "row", "column", "original", "repaired", "kind"]
SOURCE_COLUMNS = ["source_file", "source_row"]
MANIFEST_PACKAGES = (
    "pandas",
    "numpy",
    "pandera",
    "pyarrow",
    "pyreadstat",
    "openpyxl",
    "python-calamine",
    "scipy",
    "statsmodels",
    "plotnine",
)

# Translation kinds: every translation that is not an exact label (or, for a file of codes, an exact code).
KIND_NORMALISED = "label_normalised"  # case, spacing or curly quotes differed from the codebook label
KIND_SENTINEL = "missing_sentinel"  # "DK", "n/a" and the like, mapped to the codebook's missing code
KIND_CODE_NOT_LABEL = "code_not_label"  # a label column held the numeric code itself
KIND_NUMBER_TEXT = "number_text"  # " 12 ", "1,200", "12.0" for a count or year
KIND_BLANK = "whitespace_only"  # a cell of spaces: not answered
KIND_ID_WHITESPACE = "id_whitespace"
KIND_CODE_AND_LABEL = "code_and_label"  # "4 - Agree" where 4 is Agree in the codebook
KIND_DECIMAL_COMMA = "decimal_comma"  # "18,0" in a semicolon file (the decimal comma convention)
KIND_LSP_FROM_NAME = "lsp_id_from_name"  # the LSP named by its authority, matched once in the frame
KIND_LSP_NAME_UNMATCHED = "lsp_name_unmatched"  # a name matching no LSP or several: repaired lists candidates
# C0 and C1 control characters other than tab and line breaks: no answer label holds one.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DECIMAL_COMMA_INTEGER = re.compile(r"(?P<sign>-?)(?P<digits>\d+),0+")
_INTEGER = re.compile(r"-?\d+")
# Integers as people type them: surrounding spaces, thousands separated by commas or spaces, "12.0".
_LOOSE_INTEGER = re.compile(r"(?P<sign>-?)(?P<digits>\d{1,3}(?:[, ]\d{3})+|\d+)(?:\.0+)?")
# Shorthand for "don't know" / "not applicable" seen in survey exports (compared after normalising).
SENTINELS = {
    -8: ("dk", "d/k", "don't know", "dont know", "do not know", "not known", "unknown"),
    -1: ("n/a", "not applicable"),
    -9: ("not answered", "no answer", "no response"),
}


@dataclass(frozen=True)
class IngestResult:
    """The tidy tables per instrument, every repair or warning, and the manifest entries of the inputs."""

    responses: dict[str, pd.DataFrame]
    repairs: pd.DataFrame
    inputs: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------ translating


def _coded_translation(value: str, variable: Variable, source_is_codes: bool) -> tuple[str, str | None]:
    """Translate one distinct cell value of a coded column to a code (as text) and the repair kind."""
    allowed = variable.allowed_codes
    if value == "":
        return ("-9", None) if -9 in allowed else (value, None)
    exact = {label: str(code) for code, label in allowed.items()}
    if value in exact:
        return exact[value], None
    if _CONTROL.search(value):
        return value, None  # a control character is never normalised away: validate rejects the cell
    if _INTEGER.fullmatch(value) and int(value) in allowed:
        # A .sav holds codes; a label export holding a bare code is accepted but recorded.
        return str(int(value)), (
            None if source_is_codes and str(int(value)) == value else KIND_CODE_NOT_LABEL
        )
    folded = normalise_label(value)
    if folded == "":
        return ("-9", KIND_BLANK) if -9 in allowed else (value, None)
    normalised = {normalise_label(label): str(code) for code, label in allowed.items()}
    if folded in normalised:
        return normalised[folded], KIND_NORMALISED
    for code, spellings in SENTINELS.items():
        if code in variable.missing and folded in spellings:
            return str(code), KIND_SENTINEL
    both = split_code_and_label(value)
    if both is not None:
        code, label = both
        if code in allowed and normalise_label(label) == normalise_label(allowed[code]):
            return str(code), KIND_CODE_AND_LABEL
        # Code and label disagree (or name no answer): left as written for validate to reject.
    return value, None


def _numeric_translation(
    value: str, variable: Variable, decimal_comma: bool = False
) -> tuple[str, str | None]:
    """Translate one distinct cell of a count or year: an integer, a missing label, or left as it is.

    ``decimal_comma``: the file writes decimals with a comma (a semicolon-delimited export), so
    "18,0" is 18 and "1,998" is not a whole number.
    """
    if value == "":
        return "-9", None
    if _INTEGER.fullmatch(value):
        canonical = str(int(value))
        return canonical, (None if canonical == value else KIND_NUMBER_TEXT)
    if _CONTROL.search(value):
        return value, None
    if decimal_comma:
        european = _DECIMAL_COMMA_INTEGER.fullmatch(value.strip())
        if european:
            return str(int(european["sign"] + european["digits"])), KIND_DECIMAL_COMMA
        if "," in value:
            return value, None
    missing_labels = {label: str(code) for code, label in variable.missing.items()}
    if value in missing_labels:
        return missing_labels[value], None
    stripped = value.strip()
    if stripped == "":
        return "-9", KIND_BLANK
    loose = _LOOSE_INTEGER.fullmatch(stripped)
    if loose:
        digits = re.sub(r"[, ]", "", loose["digits"])
        return str(int(loose["sign"] + digits)), KIND_NUMBER_TEXT
    folded = normalise_label(value)
    normalised = {normalise_label(label): str(code) for code, label in variable.missing.items()}
    if folded in normalised:
        return normalised[folded], KIND_NORMALISED
    for code, spellings in SENTINELS.items():
        if code in variable.missing and folded in spellings:
            return str(code), KIND_SENTINEL
    return value, None


def translate_column(
    values: pd.Series, variable: Variable, source_is_codes: bool = False, decimal_comma: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Codes (as text) for one column and the repair kind of each cell (<NA> where nothing was repaired).

    Works on the distinct values and maps them back, so the cost does not grow with the row count.
    """
    codes, kinds = _translated(values, variable, source_is_codes, decimal_comma)
    if kinds is None:
        kinds = pd.Series(
            pd.NA, index=values.index, dtype="string", name=None if variable.is_text else values.name
        )
    return codes, kinds


def _translated(
    values: pd.Series, variable: Variable, source_is_codes: bool, decimal_comma: bool
) -> tuple[pd.Series, pd.Series | None]:
    """As ``translate_column``, with None for the kinds of a column where no cell was repaired (most
    columns of most exports): tidy then builds no column of <NA> kinds only to find none set."""
    values = values.astype(object)
    if variable.is_text:
        text = values.where(values.notna(), "").astype(str)
        kinds = None
        if variable.type == "id":
            stripped = text.str.strip()
            padded = stripped.ne(text) & stripped.ne("")
            if padded.any():
                kinds = pd.Series(pd.NA, index=values.index, dtype="string").mask(padded, KIND_ID_WHITESPACE)
            text = stripped
        return text.mask(text.eq(""), pd.NA).astype("string"), kinds
    # Translate each distinct value once, then take the results by position: no dictionary lookup per
    # cell (Series.map) and no conversion of a Python object per cell (astype), which grew faster than
    # the row count (docs/benchmarks.md).
    # An empty cell (None or NaN from some readers) is translated as "": factorising marks it -1, which
    # takes the translation of a "" appended to the distinct values (no pass over the cells to fill it).
    positions, distinct = pd.factorize(values)
    distinct = list(distinct)
    if positions.size and positions.min() < 0:
        positions = np.where(positions < 0, len(distinct), positions)
        distinct.append("")
    if variable.is_numeric:
        translations = [_numeric_translation(value, variable, decimal_comma) for value in distinct]
    else:
        translations = [_coded_translation(value, variable, source_is_codes) for value in distinct]
    codes = pd.array([code for code, _ in translations], dtype="string").take(positions)
    codes_column = pd.Series(codes, index=values.index, name=values.name)
    # A distinct value with a kind is one that some cell holds: the column has a repair.
    if all(kind is None for _, kind in translations):
        return codes_column, None
    kinds = pd.array([kind for _, kind in translations], dtype="string").take(positions)
    return codes_column, pd.Series(kinds, index=values.index, name=values.name)


def tidy(
    table: RawTable, codebook: Codebook, names: AuthorityNames | None = None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The tidy text table of one export (every codebook column of its instrument) and its repairs.

    ``names`` (the frame's authority names) lets an export that names LSPs instead of coding them
    through: a name matching one LSP becomes its lsp_id, recorded; any other name is kept for validate
    to reject, with the candidates in the repairs log.
    """
    file_label = relative_to_root(table.path)
    source_is_codes = table.details["format"] in ("sav", "dta", "por")
    decimal_comma = table.details.get("delimiter") == "semicolon"
    rows = pd.Series(table.rows, index=table.cells.index, dtype="Int64")
    columns: dict[str, pd.Series] = {}
    repairs: list[pd.DataFrame] = []
    for variable in codebook.for_instrument(table.instrument):
        if variable.name in table.cells:
            raw = table.cells[variable.name]
        else:
            # An optional column absent from the export: every respondent left it unanswered.
            raw = pd.Series("", index=table.cells.index, dtype=object)
        codes, kinds = _translated(raw, variable, source_is_codes, decimal_comma)
        notes: dict[str, str] = {}
        if variable.name == "lsp_id" and names is not None:
            if kinds is None:
                kinds = pd.Series(pd.NA, index=raw.index, dtype="string")
            codes, kinds, notes = _lsp_ids_from_names(codes, kinds, names)
        columns[variable.name] = codes
        if kinds is None:
            continue  # nothing repaired in this column
        repaired = kinds.notna()
        if repaired.any():
            repaired_text = codes[repaired].fillna("")
            if notes:
                unmatched = kinds[repaired].eq(KIND_LSP_NAME_UNMATCHED).fillna(False)
                repaired_text = repaired_text.mask(unmatched, repaired_text.map(notes))
            repairs.append(
                pd.DataFrame(
                    {
                        "file": file_label,
                        "row": rows[repaired].to_numpy(),
                        "column": variable.name,
                        "original": raw[repaired].astype(str).to_numpy(),
                        "repaired": repaired_text.to_numpy(),
                        "kind": kinds[repaired].to_numpy(),
                    }
                )
            )
    tidy_table = pd.DataFrame(columns, index=table.cells.index)
    tidy_table["source_file"] = pd.Series(file_label, index=tidy_table.index, dtype="string")
    tidy_table["source_row"] = rows
    records = list(table.repairs)
    for frame in repairs:
        records += frame.to_dict("records")
    return tidy_table.reset_index(drop=True), records


def _lsp_ids_from_names(
    codes: pd.Series, kinds: pd.Series, names: AuthorityNames
) -> tuple[pd.Series, pd.Series, dict[str, str]]:
    """lsp_id cells that are authority names: the LSP where one matches, else the name, with a note.

    The note of a name not matched says what a person should look at (the candidates, or none).
    """
    distinct = [value for value in codes.dropna().unique() if names.looks_like_name(str(value))]
    notes: dict[str, str] = {}
    if not distinct:
        return codes, kinds, notes
    codes, kinds = codes.copy(), kinds.copy()
    for value in distinct:
        found = names.match(str(value))
        where = codes.eq(value).fillna(False)
        if found.lsp_id is not None:
            codes[where] = found.lsp_id
            kinds[where] = KIND_LSP_FROM_NAME
        else:
            # Not repaired: the "repaired" text holds what a person should look at.
            kinds[where] = KIND_LSP_NAME_UNMATCHED
            if found.ambiguous:
                notes[str(value)] = f"not repaired: names several LSPs: {found.describe()}"
            elif found.candidates:
                notes[str(value)] = f"not repaired: no LSP of this name; similar: {found.describe()}"
            else:
                notes[str(value)] = "not repaired: no LSP of this name in the frame"
    return codes, kinds, notes


def empty_responses(codebook: Codebook, instrument: str) -> pd.DataFrame:
    """A tidy table with no rows: every codebook column as text, plus the source columns."""
    # Empty arrays, not empty Series: the same frame (a RangeIndex of none, the same dtypes) at a quarter
    # of the cost, paid for every instrument an export set lacks.
    columns = {name: pd.array([], dtype="string") for name in [*codebook.columns(instrument), "source_file"]}
    columns["source_row"] = pd.array([], dtype="Int64")
    return pd.DataFrame(columns, index=pd.RangeIndex(0))


def sort_repairs(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Repairs in a fixed order: file, then row (file-level notes first), column, kind, original."""
    frame = pd.DataFrame(records, columns=REPAIR_COLUMNS)
    frame = frame.astype({c: "string" for c in REPAIR_COLUMNS if c != "row"})
    frame["row"] = pd.to_numeric(frame["row"].replace("", pd.NA)).astype("Int64")
    frame = frame.fillna({c: "" for c in REPAIR_COLUMNS if c != "row"})
    return frame.sort_values(
        ["file", "row", "column", "kind", "original", "repaired"], na_position="first", kind="stable"
    ).reset_index(drop=True)


def ingest(
    inputs: Sequence[InputFile],
    codebook: Codebook,
    frame: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
) -> IngestResult:
    """Read every input and build one tidy table per instrument (several inputs are stacked).

    With the sampling ``frame`` (or a function reading it, called only when needed), an lsp_id written
    as the authority's name is matched to its LSP.
    """
    per_instrument: dict[str, list[pd.DataFrame]] = {name: [] for name in codebook.instruments}
    records: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    names = AuthorityNames(frame) if frame is not None else None
    for spec in inputs:
        table = read_input(spec, codebook)
        tidy_table, repairs = tidy(table, codebook, names)
        per_instrument[spec.instrument].append(tidy_table)
        records += repairs
        manifest.append(
            {
                "path": relative_to_root(spec.path),
                "instrument": spec.instrument,
                "size_bytes": spec.path.stat().st_size,
                "sha256": sha256_file(spec.path),
                **table.details,
                "rows": len(tidy_table),
                "repairs": len(repairs),
                **(
                    {"rejected_rows": {str(row): list(line) for row, line in table.rejected_rows.items()}}
                    if table.rejected_rows
                    else {}
                ),
            }
        )
        log.info(
            "read %s (%s): %d rows, %d repairs or warnings",
            relative_to_root(spec.path),
            ", ".join(
                f"{key} {value}" for key, value in table.details.items() if not key.startswith("columns_")
            ),
            len(tidy_table),
            len(repairs),
        )
    responses = {}
    for instrument, tables in per_instrument.items():
        if tables:
            responses[instrument] = pd.concat(tables, ignore_index=True)
        else:
            responses[instrument] = empty_responses(codebook, instrument)
    return IngestResult(responses, sort_repairs(records), manifest)


# ------------------------------------------------------------------------------------------ manifest


def code_version(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The release (``pipeline.__version__``), the git commit of the code and whether the work tree differs
    from it (commit "unknown" outside git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"version": __version__, "commit": "unknown", "dirty": None}
    return {"version": __version__, "commit": commit, "dirty": bool(status.strip())}


def package_versions(names: Iterable[str] = MANIFEST_PACKAGES) -> dict[str, str]:
    """Installed versions from package metadata (nothing heavy is imported)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_manifest(result: IngestResult, codebook: Codebook, frame: Path | None = None) -> dict[str, Any]:
    """Everything needed to tell whether two runs read the same inputs with the same code (no timestamps)."""
    references = [codebook.path] + ([frame] if frame is not None else [])
    return {
        "inputs": result.inputs,
        "reference_files": [
            {"path": relative_to_root(path), "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}
            for path in references
            if path.exists()
        ],
        "responses": {name: len(table) for name, table in sorted(result.responses.items())},
        "repairs": len(result.repairs),
        "code_version": code_version(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def write_outputs(result: IngestResult, manifest: dict[str, Any], out_dir: Path) -> None:
    for instrument, table in sorted(result.responses.items()):
        target = out_dir / f"responses_{instrument}.parquet"
        write_parquet(table, target)
        log.info("wrote %s: %d rows", relative_to_root(target), len(table))
    write_csv(result.repairs, out_dir / "ingest_repairs.csv")
    log.info(
        "wrote %s: %d repairs or warnings",
        relative_to_root(out_dir / "ingest_repairs.csv"),
        len(result.repairs),
    )
    write_json(out_dir / "manifest.json", manifest)
    log.info("wrote %s", relative_to_root(out_dir / "manifest.json"))


def _instrument_source(config: Config, instrument: str) -> str:
    """Where an instrument's rows came from, for the empty-instrument error: its exports, or the config."""
    files = [relative_to_root(spec.path) for spec in config.inputs if spec.instrument == instrument]
    if files:
        return ", ".join(files)
    return f"{relative_to_root(config.source)} (dataset.inputs lists no {instrument} export)"


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--out-dir", "{processed_dir}", "where to write the tidy tables and the manifest")
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)

    def frame() -> pd.DataFrame:
        # The one frame reader (it imports pandera), called only for an export that names an LSP.
        from pipeline.study.frame import read_frame

        return read_frame(config.frame)

    result = ingest(config.inputs, codebook, frame)
    refuse_empty_instruments(
        {instrument: len(table) for instrument, table in result.responses.items()},
        lambda instrument: _instrument_source(config, instrument),
    )
    write_outputs(result, build_manifest(result, codebook, config.frame), arguments.out_dir)


if __name__ == "__main__":
    run_stage("ingest", main)
