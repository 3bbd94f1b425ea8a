"""The workbook as .xlsx, through gptables (the Analysis Function's own package): cover, contents with a
link to each sheet, notes, one Excel table per sheet, and the document's metadata.

gptables numbers notes in the order the sheets first refer to them, as ``Book`` does. xlsxwriter cannot
set the document's language, so it is written into ``docProps/core.xml`` afterwards (the archive rewritten
entry by entry, timestamps kept: the same inputs give the same bytes).

gptables composes a format dictionary for every cell in a pandas frame of dictionaries, looks a format up
by each cell's sorted dictionary as it writes it, and measures every cell's width alone: about 3 of the
4.6 CPU-s the workbook's 220,000 cells took, on the cold build's busiest stretch. ``_Worksheet`` keeps
its every step and check but composes each column's two formats (header row, data rows) once, writes
plain text and numbers with them directly and measures each distinct value of a column once: the same
formats in the same order, the same cells and widths, the same bytes (tests/test_spreadsheets.py writes a
workbook both ways and compares them).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from math import ceil
from pathlib import Path
from typing import Any

from pipeline.core.io import atomic_path
from pipeline.stages.spreadsheets_book import BLANK_TEXT, FIXED_DATE, INSTRUCTIONS, Book, has_blank_text

CONTENTS_LABEL, NOTES_LABEL = "Contents", "Notes"


def _with_language(data: bytes, language: str) -> bytes:
    """The .xlsx archive with ``dc:language`` in its core properties."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "docProps/core.xml":
                content = content.replace(
                    b"</cp:coreProperties>",
                    f"<dc:language>{language}</dc:language></cp:coreProperties>".encode(),
                )
            target.writestr(info, content)
    return buffer.getvalue()


def _classes() -> tuple[type, type]:
    """gptables' workbook and worksheet with the fast table writer (made on first use: gptables imports
    pandas and xlsxwriter, which a stage that never writes a workbook need not load)."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _make_classes()
    return _CLASSES


_CLASSES: tuple[type, type] | None = None


def _make_classes() -> tuple[type, type]:
    import pandas as pd
    from gptables.core.wrappers import GPWorkbook, GPWorksheet
    from xlsxwriter.utility import cell_autofit_width
    from xlsxwriter.workbook import Workbook

    class _Worksheet(GPWorksheet):
        """gptables' worksheet; a table's formats composed per column rather than per cell."""

        def _parse_table_urls(self, gptable: Any) -> None:
            # gptables turns a cell reading "[text](url)" into a link by a regular expression over every
            # cell; only a text holding "](" can match it, and lists and dictionaries are searched inside.
            def parse(value: object) -> object:
                if isinstance(value, str) and "](" not in value:
                    return value
                return self._replace_url_in_attr(value)

            gptable.table = gptable.table.map(parse)

        def _write_table_elements(self, pos: list, gptable: Any, auto_width: bool) -> list:
            if gptable.additional_formatting:  # not used by the workbook: gptables' own way
                return super()._write_table_elements(pos, gptable, auto_width)
            # gptables' checks, as it makes them (blank text is a missing cell). Where no text is blank the
            # replacement changes nothing (no value, no column type): pandas' regex pass over every cell
            # is made only where there is something to replace.
            if has_blank_text(gptable.table):
                gptable.table = gptable.table.replace({BLANK_TEXT.pattern: None}, regex=True)
            table = gptable.table
            if table.isna().to_numpy().all():
                raise ValueError(f"{gptable.table_name} contains only null or whitespace cells.")
            if table.isna().all(axis=1).any():
                raise ValueError(f"Empty or null row found in {gptable.table_name}.")
            if table.isna().to_numpy().any():
                warnings.warn(f"Empty or null cell found in {gptable.table_name}.", stacklevel=2)
            if table.astype("string").melt()["value"].str.contains("^[^a-zA-Z0-9]*$").any():
                raise ValueError(f"Cell found in {gptable.table_name} containing only special characters.")
            theme = self.theme
            pos = [gptable.data_range[0], 0]
            data = pd.DataFrame(table, copy=True)
            data.loc[-1] = data.columns
            data.index = data.index + 1
            data = data.sort_index()
            columns = data.shape[1]
            # Each column's header-row and data-row format, composed in gptables' order: theme formats,
            # index levels, then the alignment gptables infers from the column's values.
            heading: list[dict] = [{} for _ in range(columns)]
            body: list[dict] = [{} for _ in range(columns)]
            for column in range(columns):
                heading[column].update(theme.column_heading_format)
                if column >= gptable.index_levels:
                    body[column].update(theme.data_format)
            levels = [theme.index_1_format, theme.index_2_format, theme.index_3_format]
            for level, column in gptable.index_columns.items():
                body[column].update(levels[level - 1])
            alignments = pd.DataFrame([[{} for _ in range(columns)]], columns=data.columns)
            self._apply_column_alignments(data, alignments, list(gptable.index_columns.values()))
            for column, alignment in enumerate(alignments.iloc[0].tolist()):
                heading[column].update(alignment)
                body[column].update(alignment)
            rows = data.to_numpy().tolist()
            self._write_table_cells(pos, rows, heading, body)
            if auto_width:
                self._set_column_widths(self._table_widths(rows, heading, body))
            self._mark_data_as_worksheet_table(gptable, pd.DataFrame([heading]))
            return [pos[0] + len(rows), 0]

        def _write_table_cells(
            self, pos: list, rows: list[list], heading: list[dict], body: list[dict]
        ) -> None:
            """gptables' ``_write_array``: each cell as ``_smart_write`` writes it, a column's format looked
            up once per row kind (first looked up where gptables first does, so numbered in its order)."""
            workbook = self._workbook
            made: dict[tuple[int, int], Any] = {}
            # xlsxwriter's ``write`` converts an A1 reference and dispatches on the value's type: with row
            # and column numbers and no handler of its own for a type, a plain str or a number goes
            # straight to the method ``write`` would choose (the same checks of the text, the same cell).
            direct = not self.write_handlers
            as_text, as_number = self._write_token_as_string, self._write_number
            for index, values in enumerate(rows):
                kind = min(index, 1)
                formats = heading if kind == 0 else body
                row = pos[0] + index
                for column, value in enumerate(values):
                    if isinstance(value, str | int | float):
                        cell_format = made.get((kind, column))
                        if cell_format is None:
                            cell_format = made[kind, column] = workbook.add_format(formats[column])
                        if value != value:  # NaN, as pd.isna: a blank cell
                            self.write_blank(row, pos[1] + column, None, cell_format)
                        elif direct and value.__class__ is str:
                            as_text(value, row, pos[1] + column, value, cell_format)
                        elif direct and value.__class__ in (int, float):
                            as_number(row, pos[1] + column, value, cell_format)
                        else:
                            self.write(row, pos[1] + column, value, cell_format)
                    else:  # links, lists, rich text, None: gptables' own dispatch
                        self._smart_write(row, pos[1] + column, value, formats[column])

        def _table_widths(self, rows: list[list], heading: list[dict], body: list[dict]) -> list[int]:
            """gptables' ``_calculate_column_widths``: the widest cell of each column, each distinct value
            (of its type: 1 and 1.0 are written differently) measured once."""

            def width(value: object, cell_format: dict) -> int:
                line = self._get_longest_line(value)
                return ceil(cell_autofit_width(line) * self._get_scaling_factor(cell_format, line))

            widths = []
            for column, values in enumerate(zip(*rows, strict=True)):
                widest = width(values[0], heading[column])
                try:
                    distinct = [
                        value for _, value in set(zip(map(type, values[1:]), values[1:], strict=True))
                    ]
                except TypeError:  # links and lists in the contents sheet: every cell
                    distinct = list(values[1:])
                for value in distinct:
                    widest = max(widest, width(value, body[column]))
                widths.append(widest)
            return widths

    class _Workbook(GPWorkbook):
        """gptables' workbook, its worksheets ``_Worksheet``."""

        def add_worksheet(self, name: str | None = None, gridlines: str = "hide_all") -> Any:
            worksheet = Workbook.add_worksheet(self, name, _Worksheet)
            worksheet.theme = self.theme
            worksheet._workbook = self
            worksheet.hide_gridlines({"show_all": 0, "hide_printed": 1, "hide_all": 2}[gridlines])
            return worksheet

    return _Workbook, _Worksheet


def produce_workbook(filename: str, sheets: dict[str, Any], cover: Any, notes_table: Any) -> Any:
    """``gptables.produce_workbook`` as the workbook calls it (cover, a contents sheet titled "Contents",
    a notes sheet, every column auto-width, gridlines hidden), on ``_Workbook``."""
    workbook_class, _ = _classes()
    workbook = workbook_class(filename, options={})
    cover_sheet = workbook.add_worksheet(cover.cover_label, gridlines="hide_all")
    cover_sheet.write_cover(cover)
    contents = workbook.make_table_of_contents(sheets, title=CONTENTS_LABEL)
    workbook._update_annotations(sheets)
    notes = workbook.make_notesheet(notes_table)
    for label, gptable in {CONTENTS_LABEL: contents, NOTES_LABEL: notes, **sheets}.items():
        worksheet = workbook.add_worksheet(label, gridlines="hide_all")
        worksheet.write_gptable(gptable, True, workbook._annotations)
    return workbook


def gptables_sheets(book: Book) -> tuple[Any, dict[str, Any], Any]:
    """The book's cover, sheets and notes table as gptables objects."""
    import gptables
    import pandas as pd

    cover = gptables.Cover(title=book.title, intro=book.cover_intro, about=book.cover_about, contact=None)
    sheets = {}
    for sheet in book.sheets:
        references = "".join(f"$$note{n}$$" for n in sheet.notes)
        sheets[sheet.name] = gptables.GPTable(
            # gptables writes its header into the frame: object keeps dtypes quiet
            table=sheet.frame.astype(object),
            table_name=sheet.table_name,
            title=f"{sheet.title} {references}" if references else sheet.title,
            subtitles=[sheet.description],
            instructions=INSTRUCTIONS,
            source=sheet.source,
            legend=sheet.legend(),
            index_columns={},
        )
    notes = pd.DataFrame(
        [(f"note{number}", text) for number, text in book.notes], columns=["Note number", "Note text"]
    )
    return cover, sheets, notes


def write_xlsx(book: Book, target: Path, *, fast: bool = True) -> None:
    """Write ``book`` as an accessible .xlsx at ``target`` (``fast=False``: through gptables'
    ``produce_workbook`` itself, which the tests compare the fast path's bytes with)."""
    import gptables

    cover, sheets, notes = gptables_sheets(book)
    with atomic_path(target) as temporary:
        if fast:
            workbook = produce_workbook(str(temporary), sheets, cover, notes)
        else:
            workbook = gptables.produce_workbook(
                filename=str(temporary),
                sheets=sheets,
                cover=cover,
                notes_table=notes,
                contentsheet_options={"title": CONTENTS_LABEL},
                auto_width=True,
            )
        workbook.set_properties(
            {
                "title": book.title,
                "subject": book.subject,
                "author": book.creator,
                "keywords": book.keywords,
                "status": book.properties.get("Status", ""),
                "comments": "; ".join(f"{k}: {v}" for k, v in book.properties.items()),
                "created": FIXED_DATE.replace(tzinfo=None),
            }
        )
        for name, value in book.properties.items():
            workbook.set_custom_property(name, value)
        workbook.close()
        temporary.write_bytes(_with_language(temporary.read_bytes(), book.language))
