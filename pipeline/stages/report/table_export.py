"""The tables the release's two pages show, written for the spreadsheets stage (``report_tables.json``).

The spreadsheets hold every table the report shows. Stages exchange data only through their files, so the
report writes each table it drew, as drawn: its page, section, caption, headers, cells (formatted text,
the numbers as the reader sees them), which columns hold numbers or code, and its note. Which tables a page
shows is read from the page itself (every ``<table id=...>`` in the rendered HTML, in page order), so a
table a section builds but its template does not draw is not exported, and one it draws cannot be missed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.stages.report.inputs import ReportInputs
from pipeline.stages.report.sections import SECTIONS, section_contexts
from pipeline.stages.report_tables import Table

TABLE_ID = re.compile(r'<table id="([^"]+)"')
# Beside the two pages; declared in the output registry (pipeline.study.outputs.publication.REPORT_TABLES).
REPORT_TABLES_NAME = "report_tables.json"


def _tables_in(value: Any) -> Iterator[Table]:
    """Every ``Table`` in a section's context, however deep in lists and dicts."""
    if isinstance(value, Table):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tables_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tables_in(item)


def page_tables(
    inputs: ReportInputs, page: str, html: str, contexts: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The tables one rendered page shows, in the order it shows them, each as a JSON-ready record;
    ``contexts`` are the page's section contexts the page was rendered from, if at hand."""
    if contexts is None:
        contexts = section_contexts(inputs, page)
    built: dict[str, tuple[str, Table]] = {}
    for section in (s for s in SECTIONS if s.page == page):
        for table in _tables_in(contexts[section.id]):
            built.setdefault(table.id, (section.title, table))
    records = []
    for table_id in dict.fromkeys(TABLE_ID.findall(html)):
        if table_id not in built:
            raise PipelineError(f"{page}: table {table_id} is drawn by no section's context")
        section, table = built[table_id]
        records.append(
            {
                "page": page,
                "section": section,
                "id": table.id,
                "caption": table.caption,
                "headers": list(table.headers),
                "rows": [list(row.cells) for row in table.rows],
                "numeric": list(table.numeric) or [False] * len(table.headers),
                "code": list(table.code) or [False] * len(table.headers),
                "note": table.note,
            }
        )
    return records


def report_tables(
    inputs: ReportInputs,
    pages: dict[str, str],
    contexts: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> str:
    """Every table of the given rendered pages (page name -> HTML) as the JSON text of the file;
    ``contexts``, by page, the section contexts they were rendered from."""
    contexts = contexts or {}
    tables = [
        record
        for page, html in pages.items()
        for record in page_tables(inputs, page, html, contexts.get(page))
    ]
    return json.dumps({"tables": tables}, ensure_ascii=False, indent=1) + "\n"
