"""Statistics packages' files: SPSS .sav/.zsav and portable .por, Stata .dta (codes with value labels)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.core.config import InputFile
from pipeline.readers.labels import read_by_label
from pipeline.readers.table import RawTable, apply_header_fixes, fail, read_bytes


def read_sav_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read an SPSS .sav or .zsav file as codes (user-missing codes kept), with its value labels."""
    head = (read_bytes(spec.path) if data is None else data)[:4]
    if not head:
        raise fail(spec.path, "is empty; export the survey again")
    if head not in (b"$FL2", b"$FL3"):
        raise fail(spec.path, "is not an SPSS .sav file; check the path and format")
    return _read_statistics_file(spec, codebook, data, "sav")


def read_dta_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read a Stata .dta file as codes, with its value labels."""
    return _read_statistics_file(spec, codebook, data, "dta")


def read_por_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read an SPSS portable .por file as codes (the format has upper-case names and no value labels here)."""
    return _read_statistics_file(spec, codebook, data, "por")


_STATISTICS_NAMES = {"sav": "SPSS", "dta": "Stata", "por": "SPSS portable"}


def _read_statistics_file(spec: InputFile, codebook: Codebook, data: bytes | None, kind: str) -> RawTable:
    import pyreadstat  # only these readers need it

    path = spec.path
    readers = {
        # user_missing=True keeps -8/-9 declared as user-missing instead of turning them into NaN.
        # A configured encoding overrides the one the file declares (old Stata files declare none).
        "sav": lambda p: pyreadstat.read_sav(
            p, user_missing=True, apply_value_formats=False, encoding=spec.encoding
        ),
        "dta": lambda p: pyreadstat.read_dta(
            p, user_missing=True, apply_value_formats=False, encoding=spec.encoding
        ),
        "por": lambda p: pyreadstat.read_por(p, apply_value_formats=False),  # ASCII by definition
    }
    try:
        if data is None:
            frame, meta = readers[kind](str(path))
        else:
            # pyreadstat reads from a path: what came out of a .gz or .zip goes through a temporary file.
            with tempfile.TemporaryDirectory() as folder:
                copy = Path(folder) / f"export.{kind}"
                copy.write_bytes(data)
                frame, meta = readers[kind](str(copy))
    except Exception as error:  # pyreadstat raises several unrelated types for a damaged file
        raise fail(
            path, f"cannot be read as {_STATISTICS_NAMES[kind]} ({type(error).__name__}: {error})"
        ) from None
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            columns[name] = [_sav_number_text(value) for value in values.tolist()]
        else:
            columns[name] = ["" if value is None else str(value) for value in values.tolist()]
    cells = pd.DataFrame(columns, columns=list(frame.columns), dtype=object)
    value_labels = {
        name: {int(code): str(label) for code, label in labels.items() if float(code).is_integer()}
        for name, labels in (meta.variable_value_labels or {}).items()
    }
    # A .sav has no header row in a sheet; rows are numbered as if it had one, like the CSV it replaces.
    rows = list(range(2, len(cells) + 2))
    details = {"format": kind, "encoding": meta.file_encoding}
    table = RawTable(path, spec.instrument, cells, rows, details, [], value_labels)
    return read_by_label(apply_header_fixes(spec, codebook, table), codebook)


def _sav_number_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # system-missing
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
