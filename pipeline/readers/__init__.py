"""Format readers: one module per family of formats, each turning an export's bytes into a ``RawTable``
of text cells under codebook headers, with the lines that say what was repaired on the way.

A new format is one module with a ``read_<format>_input(spec, codebook, data)`` function and one entry in
``READERS`` (and its signature in ``pipeline/core/formats.py``'s ``sniff``). The ingest stage translates
the cells (labels to codes) and writes the provenance.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.config import InputFile
from pipeline.core.formats import Sniffed, looks_like_utf16_without_bom, sniff, unreadable_message, unwrap
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.readers.statistics import read_dta_input, read_por_input, read_sav_input
from pipeline.readers.table import KIND_FORMAT, RawTable, fail, read_bytes, repair
from pipeline.readers.text import read_csv_input
from pipeline.readers.workbook import read_calamine_input, read_xlsx_input

READERS = {
    "csv": read_csv_input,
    "xlsx": read_xlsx_input,
    "xls": read_calamine_input,
    "ods": read_calamine_input,
    "sav": read_sav_input,
    "dta": read_dta_input,
    "por": read_por_input,
}


def read_input(spec: InputFile, codebook: Codebook) -> RawTable:
    """Read one configured export in the format its bytes have (a .gz or one-file .zip opened first).

    Where the content is another format than the configured one (a renamed file), the content wins and
    a ``format_from_content`` line says so; a file no reader takes is one line saying what it seems to
    be, what is supported and how to convert it.
    """
    path = spec.path
    if not path.exists():
        raise fail(
            path, f"not found; check dataset.inputs in config.yaml or run `{rebuild_command('synthetic')}`"
        )
    data = read_bytes(path)
    if not data:
        raise fail(path, "is empty; export the survey again")
    container: dict[str, Any] = {}
    found = sniff(data)
    if found.format in ("gzip", "zip"):
        try:
            data, member = unwrap(data, found.format)
        except ValueError as error:
            raise fail(path, unreadable_message(str(error), "compress the export again")) from None
        container = {"compression": found.format}
        if found.format == "zip":
            container["member"] = member
        if not data:
            raise fail(path, f"holds an empty file ({member}); export the survey again")
        found = sniff(data)
        if found.format in ("gzip", "zip"):
            raise fail(
                path,
                unreadable_message(
                    f"{found.what} inside a compressed file", "decompress it once and use that"
                ),
            )
    if found.format is None and spec.encoding and looks_like_utf16_without_bom(data[:8192]):
        found = Sniffed("csv", "text in the configured encoding")
    if found.format is None:
        raise fail(path, unreadable_message(found.what, found.advice))
    table = READERS[found.format](spec, codebook, data)
    notes = []
    if found.format != spec.format:
        notes.append(repair(relative_to_root(path), "", "", spec.format, found.format, KIND_FORMAT))
    if not notes and not container:
        return table
    details = {**table.details, **container}
    return RawTable(
        table.path,
        table.instrument,
        table.cells,
        table.rows,
        details,
        notes + table.repairs,
        table.value_labels,
        table.rejected_rows,
    )
