"""The workbook both formats write: its sheets, cover, notes and document metadata, decided once.

The .xlsx (``spreadsheets_xlsx``) and the .ods (``spreadsheets_ods``) are two renderings of one ``Book``,
so they cannot drift apart: the same sheet names, titles, note numbers, table names, cells and metadata.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import pandas as pd

SUPPRESSED, NOT_APPLICABLE = "[c]", "[z]"
MARKERS = {
    SUPPRESSED: "suppressed to protect respondents",
    NOT_APPLICABLE: "not applicable (no value of this kind for the row: a test with no estimate, an interval "
    "not computed, a column that does not apply)",
}
INSTRUCTIONS = (
    "This worksheet contains one table. Some cells refer to notes, which can be found on the notes worksheet."
)
# Documents carry no date of the run: the same inputs give the same bytes.
FIXED_DATE = dt.datetime(2009, 4, 1, tzinfo=dt.UTC)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
LANGUAGE = "en-GB"
# Text a cell shows as blank (gptables' pattern): such a cell is a missing value.
BLANK_TEXT = re.compile(r"^\s*$")


def has_blank_text(table: pd.DataFrame) -> bool:
    """Whether any text cell of ``table`` matches ``BLANK_TEXT`` as pandas' regex replace tests a cell
    (text only, searched). Where none does, that replacement changes nothing, no value and no column's
    type, and its pass over every cell can be skipped."""
    search = BLANK_TEXT.search
    for _, values in table.items():
        if values.dtype.kind in "biufcmM":  # numbers and dates hold no text
            continue
        if any(isinstance(value, str) and search(value) for value in values.tolist()):
            return True
    return False


@dataclass(frozen=True)
class Sheet:
    """One table on its own sheet: its title in A1, what it shows, its notes and its cells."""

    name: str  # the sheet's name: Table_1, Table_2, ...
    table_name: str  # the name of its table range (an Excel table; an ODS database range)
    title: str
    description: str
    source: str
    frame: pd.DataFrame
    notes: tuple[int, ...] = ()
    # Columns whose cells are names of files, modules or packages, shown as written.
    code_columns: tuple[str, ...] = ()

    @property
    def title_with_notes(self) -> str:
        """The title as cell A1 shows it, note references after it: "Title [note 1][note 3]"."""
        return f"{self.title} " + "".join(f"[note {n}]" for n in self.notes) if self.notes else self.title

    def legend(self) -> list[str]:
        """The shorthand this sheet's cells use, each explained."""
        used = {value for column in self.frame.columns for value in self.frame[column] if value in MARKERS}
        return [f"{marker} = {meaning}" for marker, meaning in MARKERS.items() if marker in used]


@dataclass(frozen=True)
class Book:
    """The whole workbook: cover, contents (made from the sheets), notes, then one table per sheet."""

    title: str
    subject: str
    creator: str
    cover_intro: list[str]
    cover_about: list[str]
    notes: list[tuple[int, str]]
    sheets: list[Sheet]
    keywords: str = ""
    # Release metadata (date, status, contact, next update) as document properties.
    properties: dict[str, str] = field(default_factory=dict)
    language: str = LANGUAGE
