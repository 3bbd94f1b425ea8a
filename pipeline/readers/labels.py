"""Value labels of a file of codes (SPSS, Stata): compared with the codebook, and read by label where
they say the file codes a column differently.

A column is read by code when its labels, wherever they name a codebook category, name the category of
the same code: labels worded differently are listed (``sav_value_label_differs`` and the like). When a
label names another code's category (a Likert block coded in reverse, categories coded from 0), the
codes cannot be read as they are: the column is read by label if every code in it has a label naming
exactly one codebook category, one code per category, with one ``value_labels_recoded`` line giving the
mapping; otherwise the run stops naming the column, the code and its label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from pipeline.core.codebook import Codebook, Variable
from pipeline.core.errors import PipelineError
from pipeline.core.paths import relative_to_root
from pipeline.readers.table import RawTable, repair
from pipeline.study.labels import normalise_label

KIND_SAV_LABEL = "sav_value_label_differs"
KIND_SAV_LABEL_EXTRA = "sav_value_label_not_in_codebook"
KIND_SAV_LABEL_ABSENT = "sav_value_label_absent"
KIND_NO_VALUE_LABELS = "value_labels_absent"  # a .sav/.dta/.por with no value labels at all (POR has none)
KIND_RECODED = "value_labels_recoded"  # a column read by its labels: the code mapping, once per column


def _codes_in(values: pd.Series) -> list[int]:
    """The distinct whole-number codes of a column of code text ("" is system-missing)."""
    found = set()
    for value in values.dropna().unique():
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            found.add(int(text))
    return sorted(found)


def _by_label(
    variable: Variable, labels: dict[int, str], present: list[int], file_label: str
) -> dict[int, int] | None:
    """The file code -> codebook code mapping the labels give, or None where they agree with the codes.

    Raises where the labels contradict the codes but do not identify every code present.
    """
    categories: dict[str, list[int]] = {}
    for code, label in variable.allowed_codes.items():
        categories.setdefault(normalise_label(label), []).append(code)
    named = {
        code: categories[normalise_label(label)][0]
        for code, label in labels.items()
        if len(categories.get(normalise_label(label), [])) == 1
    }
    if all(code == target for code, target in named.items()):
        return None
    moved = next(code for code, target in named.items() if code != target)
    why = (
        f"its label {labels[moved]!r} for code {moved} is the codebook's code {named[moved]}, so the "
        "codes cannot be read as they are"
    )
    for code in present:
        if code not in labels:
            raise PipelineError(
                f"{file_label}: column {variable.name}: code {code} has no value label, and {why}; "
                "label every code in the export, or recode the column to the codebook's codes"
            )
        if code not in named:
            raise PipelineError(
                f"{file_label}: column {variable.name}: code {code} is labelled {labels[code]!r}, which "
                f"names none of the codebook's categories ({_categories(variable)}), and {why}; "
                "relabel or recode the column in the export"
            )
    targets: dict[int, int] = {}
    for code in present:
        if named[code] in targets:
            raise PipelineError(
                f"{file_label}: column {variable.name}: codes {targets[named[code]]} and {code} are both "
                f"labelled {labels[code]!r}; recode the column in the export"
            )
        targets[named[code]] = code
    return {code: named[code] for code in present}


def _categories(variable: Variable) -> str:
    return ", ".join(f"{code}={label}" for code, label in variable.allowed_codes.items())


def read_by_label(table: RawTable, codebook: Codebook) -> RawTable:
    """The table with every column whose labels contradict its codes read by label, and the lines.

    Columns read by code get the label comparison lines of ``sav_label_disagreements``.
    """
    if table.value_labels is None:
        return table
    file_label = relative_to_root(table.path)
    cells = table.cells
    recoded: list[dict[str, Any]] = []
    by_code: list[Variable] = []
    for variable in codebook.for_instrument(table.instrument):
        labels = table.value_labels.get(variable.name) or {}
        mapping = None
        if variable.is_coded and labels and variable.name in cells:
            present = _codes_in(cells[variable.name])
            mapping = _by_label(variable, labels, present, file_label)
        if mapping is None:
            by_code.append(variable)
            continue
        text = {str(code): str(target) for code, target in mapping.items()}
        if cells is table.cells:
            cells = cells.copy()
        column = cells[variable.name].astype(str).str.strip()
        cells[variable.name] = column.map(text).where(column.isin(list(text)), cells[variable.name])
        recoded.append(
            repair(
                file_label,
                "",
                variable.name,
                "; ".join(f"{code}={labels[code]}" for code in sorted(mapping)),
                "; ".join(f"{code}->{target}" for code, target in sorted(mapping.items())),
                KIND_RECODED,
            )
        )
    notes = sav_label_disagreements(file_label, table.value_labels, by_code)
    return RawTable(
        table.path,
        table.instrument,
        cells,
        table.rows,
        table.details,
        [*table.repairs, *recoded, *notes],
        table.value_labels,
        table.rejected_rows,
    )


def sav_label_disagreements(
    file_label: str, value_labels: dict[str, dict[int, str]], variables: Iterable[Variable]
) -> list[dict[str, Any]]:
    """Every code whose .sav value label differs from the codebook's (the codes are what count).

    A file with no value labels at all (a .por, or a file saved without them) gets one line, not one
    per code.
    """
    if not any(value_labels.values()):
        return [repair(file_label, "", "", "", "", KIND_NO_VALUE_LABELS)]
    records = []
    for variable in variables:
        if not variable.is_coded and not variable.is_numeric:
            continue
        labels = value_labels.get(variable.name, {})
        expected = variable.allowed_codes if variable.is_coded else variable.missing
        if variable.is_numeric and not labels:
            continue  # counts and years need no value labels
        for code in sorted(set(labels) | set(expected)):
            file_text, codebook_text = labels.get(code), expected.get(code)
            if file_text == codebook_text:
                continue
            if codebook_text is None:
                kind = KIND_SAV_LABEL_EXTRA
            elif file_text is None:
                kind = KIND_SAV_LABEL_ABSENT
            else:
                kind = KIND_SAV_LABEL
            records.append(
                repair(
                    file_label,
                    "",
                    variable.name,
                    "" if file_text is None else f"{code}={file_text}",
                    "" if codebook_text is None else f"{code}={codebook_text}",
                    kind,
                )
            )
    return records
