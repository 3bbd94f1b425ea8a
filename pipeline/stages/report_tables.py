"""Tables for people: the records the report draws, and how a data frame becomes one.

A ``Table`` holds formatted text only (pipeline.study.display does the formatting), its caption and which
columns hold numbers; the report's one template macro (``templates/macros.html.j2``, ``table``) draws
every table, so no section assembles HTML in Python and every cell is escaped the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.study import display
from pipeline.study.names import words


@dataclass(frozen=True)
class Row:
    """One table row: the first cell heads the row; ``id`` makes it a link target."""

    cells: tuple[str, ...]
    id: str | None = None


@dataclass(frozen=True)
class Table:
    """A table for people: formatted text only, with its caption and which columns hold numbers."""

    id: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    numeric: tuple[bool, ...] = ()
    note: str = ""
    # Columns whose cells are code (file paths, module names): drawn as code, as a programmer reads them.
    code: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if any(len(row.cells) != len(self.headers) for row in self.rows):
            raise ValueError(f"table {self.id}: every row needs {len(self.headers)} cells")
        if self.numeric and len(self.numeric) != len(self.headers):
            raise ValueError(f"table {self.id}: numeric flags do not match the headers")


NUMERIC_FORMATTERS = {display.number, display.count, display.p_value, display.percent}


def text(value: Any) -> str:
    return "" if display.missing(value) else str(value)


def numeric(formatter: Callable[[Any], str]) -> Callable[[Any], str]:
    """Mark a formatter's column as numbers (right-aligned)."""
    formatter.numeric = True  # type: ignore[attr-defined]
    return formatter


def decimals(places: int) -> Callable[[Any], str]:
    return numeric(lambda value: display.number(value, places))


def frame_table(
    frame: pd.DataFrame,
    table_id: str,
    caption: str,
    columns: dict[str, Callable[[Any], str]],
    table_name: str | None = None,
    note: str = "",
    headers: dict[str, str] | None = None,
) -> Table:
    """Any data frame, each column through its formatter, headers in words."""
    headers = headers or {}
    formatters = list(columns.values())
    rows = tuple(
        Row(tuple(format_(value) for format_, value in zip(formatters, values, strict=True)))
        for values in frame[list(columns)].itertuples(index=False, name=None)
    )
    return Table(
        id=table_id,
        caption=caption,
        headers=tuple(headers.get(c) or display.header(c, table_name) for c in columns),
        rows=rows,
        numeric=tuple(
            columns[c] in NUMERIC_FORMATTERS or getattr(columns[c], "numeric", False) for c in columns
        ),
        note=note,
    )


def formatter_for(values: pd.Series, places: int = 3) -> Callable[[Any], str]:
    """A column's formatter from what it holds: whole numbers as counts, other numbers with ``places``
    fixed decimals, p-values as p-values (by name, in ``column_formatters``), the rest as words."""
    present = values.dropna()
    if values.dtype == bool or (len(present) and present.map(lambda v: isinstance(v, bool)).all()):
        return display.yes_no
    if pd.api.types.is_numeric_dtype(values):
        if len(present) and (present.astype(float) % 1 == 0).all():
            return display.count
        return decimals(places)
    return words


def auto_table(
    frame: pd.DataFrame,
    table_id: str,
    caption: str,
    places: int = 3,
    headers: dict[str, str] | None = None,
    note: str = "",
    table_name: str | None = None,
) -> Table:
    """A data frame as a table with every column formatted by what it holds (``formatter_for``); columns
    named ``p`` or ``p_*`` as p-values. Headers come from ``display.header`` unless ``headers`` names them."""
    columns: dict[str, Callable[[Any], str]] = {}
    for column in frame.columns:
        name = str(column)
        is_p = name == "p" or name.startswith("p_")
        columns[name] = display.p_value if is_p else formatter_for(frame[column], places)
    return frame_table(frame.rename(columns=str), table_id, caption, columns, table_name, note, headers or {})
