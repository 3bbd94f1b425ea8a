"""The workbook as .xlsx, through gptables (the Analysis Function's own package): cover, contents with a
link to each sheet, notes, one Excel table per sheet, and the document's metadata.

gptables numbers notes in the order the sheets first refer to them, as ``Book`` does. xlsxwriter cannot
set the document's language, so it is written into ``docProps/core.xml`` afterwards (the archive rewritten
entry by entry, timestamps kept: the same inputs give the same bytes).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pipeline.core.io import atomic_path
from pipeline.stages.spreadsheets_book import FIXED_DATE, INSTRUCTIONS, Book


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


def write_xlsx(book: Book, target: Path) -> None:
    """Write ``book`` as an accessible .xlsx at ``target``."""
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
    with atomic_path(target) as temporary:
        workbook = gptables.produce_workbook(
            filename=str(temporary),
            sheets=sheets,
            cover=cover,
            notes_table=notes,
            contentsheet_options={"title": "Contents"},
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
