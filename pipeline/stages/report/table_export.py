"""The ``report-tables`` command: the tables the release's two pages show, computed once from the analysis
tables and written to ``report_tables.json`` for the report and the spreadsheets.

The spreadsheets hold every table the report shows. Stages exchange data only through their files, so this
command writes each table the pages draw, as drawn: its page, section, caption, headers, cells (formatted
text, the numbers as the reader sees them), which columns hold numbers or code, and its note. No table rests
on a figure, so it runs beside the figure stage, and the spreadsheets wait for neither the figures nor the
pages. Which tables a page shows is read from its section templates, in page order (``drawn_parts``: every
``m.table(part.x)`` and ``m.collapsible(part.x, ...)``), without rendering the page, so this stage reads
only the config keys its tables rest on (the configuration text the page shows is the page's alone). The
report stage renders the pages and stops if the tables they draw (every ``<table id=...>`` in the HTML)
are not, record for record, the ones in the file (``check_report_tables``): a table a section builds but
its template does not draw is not exported, one it draws cannot be missed, and a page and its workbooks
cannot disagree.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import nodes

from pipeline.core.codebook import load_codebook
from pipeline.core.config import parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.stages.report.build import read_inputs
from pipeline.stages.report.inputs import ANNEX_PAGE, MAIN_PAGE, ReportInputs, environment
from pipeline.stages.report.sections import SECTIONS, section_contexts
from pipeline.stages.report_tables import Table

log = logging.getLogger("pipeline.stages.report.table_export")

TABLE_ID = re.compile(r'<table id="([^"]+)"')
# The macros of pipeline/templates/macros.html.j2 that draw a table, the table their first argument.
TABLE_MACROS = ("table", "collapsible")
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


def drawn_parts(template: str) -> list[str]:
    """What a section template draws as tables, in its order: the ``part`` keys of its ``m.table(part.x)``
    and ``m.collapsible(part.x, ...)`` calls. A table macro called on anything else stops the run: the
    tables are found here, without rendering the page."""
    env = environment()
    source = env.loader.get_source(env, template)[0]
    names = []
    for call in env.parse(source).find_all(nodes.Call):
        macro = call.node
        if not (isinstance(macro, nodes.Getattr) and macro.attr in TABLE_MACROS):
            continue
        argument = call.args[0] if call.args else None
        if not (
            isinstance(argument, nodes.Getattr)
            and isinstance(argument.node, nodes.Name)
            and argument.node.name == "part"
        ):
            raise PipelineError(
                f"pipeline/templates/{template}: a table drawn from something other than part.<name>; "
                f"draw each table as m.{macro.attr}(part.<name>) so report-tables finds it"
            )
        names.append(argument.attr)
    return names


def drawn_table_ids(page: str, contexts: dict[str, dict[str, Any]]) -> list[str]:
    """The ids of the tables a page draws, in page order, from its section templates and contexts (a
    context value left None is a table the template does not draw: ``{% if part.x %}``)."""
    ids = []
    for section in (s for s in SECTIONS if s.page == page):
        context = contexts[section.id]
        for name in drawn_parts(section.template):
            value = context.get(name)
            if value is None:
                continue
            if not isinstance(value, Table):
                raise PipelineError(f"section {section.id}: part.{name} is drawn as a table but is not one")
            ids.append(value.id)
    return ids


def page_tables(
    inputs: ReportInputs,
    page: str,
    html: str | None = None,
    contexts: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The tables one page shows, in the order it shows them, each as a JSON-ready record: those of the
    rendered ``html`` if given, else those its section templates draw (``drawn_table_ids``); ``contexts``
    are the page's section contexts, if at hand."""
    if contexts is None:
        contexts = section_contexts(inputs, page)
    built: dict[str, tuple[str, Table]] = {}
    for section in (s for s in SECTIONS if s.page == page):
        for table in _tables_in(contexts[section.id]):
            built.setdefault(table.id, (section.title, table))
    shown = TABLE_ID.findall(html) if html is not None else drawn_table_ids(page, contexts)
    records = []
    for table_id in dict.fromkeys(shown):
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
    pages: dict[str, str | None],
    contexts: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> str:
    """Every table of the given pages (page name -> its rendered HTML, or None: the tables its templates
    draw) as the JSON text of the file; ``contexts``, by page, the section contexts, if at hand."""
    contexts = contexts or {}
    tables = [
        record
        for page, html in pages.items()
        for record in page_tables(inputs, page, html, contexts.get(page))
    ]
    return json.dumps({"tables": tables}, ensure_ascii=False, indent=1) + "\n"


def check_report_tables(
    inputs: ReportInputs,
    pages: dict[str, str],
    contexts: dict[str, dict[str, dict[str, Any]]],
    path: Path,
) -> None:
    """Stop unless the tables the rendered ``pages`` draw are the ones in ``path`` (report_tables.json),
    in the same order, cell for cell."""
    if not path.exists():
        raise PipelineError(
            f"{relative_to_root(path)}: not found; run `{rebuild_command('report-tables')}` to build it"
        )
    written = json.loads(path.read_text(encoding="utf-8"))["tables"]
    drawn = [
        record for page, html in pages.items() for record in page_tables(inputs, page, html, contexts[page])
    ]
    if drawn == written:
        return
    differ = next(
        (
            f"table {a['id']} ({a['page']})" if b is None else f"table {b['id']} ({b['page']})"
            for a, b in zip(drawn + [None] * len(written), written + [None] * len(drawn), strict=False)
            if a != b
        ),
        "the tables",
    )
    raise PipelineError(
        f"{relative_to_root(path)}: {differ} is not as the page draws it; "
        f"run `{rebuild_command('report-tables')}` to rebuild it"
    )


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("The tables the release's two pages show, for the report and the spreadsheets")
    path_option(parser, "--tables", "{analysis_dir}/tables", "the analysis tables")
    path_option(
        parser, "--processed", "{processed_dir}", "the analysis base and the ingest and validation manifests"
    )
    path_option(
        parser,
        "--out",
        "{analysis_dir}/" + REPORT_TABLES_NAME,
        "where to write the tables (beside the pages: their links are relative to its folder)",
    )
    arguments, config = parse_stage_arguments(parser, argv)
    inputs = read_inputs(
        config, load_codebook(config.codebook), arguments.tables, arguments.processed, arguments.out.parent
    )
    contexts = {page: section_contexts(inputs, page) for page in (MAIN_PAGE, ANNEX_PAGE)}
    text = report_tables(inputs, dict.fromkeys(contexts), contexts)
    write_text(arguments.out, text)
    log.info(
        "wrote %s: %d tables the report shows",
        relative_to_root(arguments.out),
        len(json.loads(text)["tables"]),
    )
