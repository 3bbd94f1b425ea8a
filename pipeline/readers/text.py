"""Delimited text (CSV, tab, semicolon, pipe): strict decoding, the delimiter, quoting, truncation."""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
from pathlib import Path

from pipeline.core.codebook import Codebook
from pipeline.core.config import InputFile
from pipeline.core.errors import PipelineError
from pipeline.core.formats import TEXT_BOMS, looks_like_utf16_without_bom, unreadable_message
from pipeline.readers.table import (
    HEADER_SEARCH_ROWS,
    RawTable,
    expected_headers,
    fail,
    find_header,
    header_score,
    read_bytes,
    records_to_table,
)

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Appended after a CSV's text to detect a quote left open at the end of the file (see read_csv_input).
_END_MARKER = "\x1eend of file\x1e"


def _sniff_binary(path: Path, head: bytes, expected_format: str) -> None:
    """Refuse a file whose first bytes say it is something else (a renamed zip, xls, sav or pdf)."""
    signatures = {
        b"PK\x03\x04": "a zip archive (an .xlsx workbook?)",
        b"\xd0\xcf\x11\xe0": "an old binary Excel .xls or other OLE file",
        b"$FL2": "an SPSS .sav file",
        b"$FL3": "an SPSS .zsav file",
        b"%PDF": "a PDF",
    }
    for magic, what in signatures.items():
        if head.startswith(magic):
            raise fail(
                path, f"is {what}, not {expected_format.upper()}; fix the path or set format in config"
            )
    utf16 = looks_like_utf16_without_bom(head)
    if utf16 is not None:
        raise fail(
            path,
            unreadable_message(
                f"{utf16.upper()} text without a byte-order mark", f"set encoding: {utf16} in config.yaml"
            ),
        )
    # A NUL or two in text is a damaged cell, named by its row and column later; many are a binary file.
    if head.count(b"\x00") > max(16, len(head) // 20):
        raise fail(
            path,
            unreadable_message(
                "a binary file of a kind ingest does not know", "check the path, or export the data again"
            ),
        )


def decode_text(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode a CSV: the configured encoding, else UTF-8 (with or without BOM), else Windows-1252."""
    if encoding:
        try:
            # A configured utf-16/utf-8 keeps the BOM as a character unless it names the BOM variant.
            return data.decode(encoding).removeprefix("\ufeff"), encoding
        except LookupError:
            raise fail(path, f"unknown encoding {encoding!r} in config.yaml") from None
        except UnicodeDecodeError as error:
            raise fail(
                path, f"cannot be decoded as {encoding} (byte {error.start}); fix encoding in config.yaml"
            ) from None
    for bom, name in TEXT_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name).removeprefix("\ufeff"), name
            except UnicodeDecodeError as error:
                raise fail(
                    path,
                    f"has a {name.upper()} byte-order mark but invalid {name.upper()} at byte {error.start}",
                ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        raise fail(
            path,
            f"is neither UTF-8 nor Windows-1252 (byte {error.start}); set encoding in config.yaml",
        ) from None


def _parse_csv(text: str, delimiter: str, limit: int | None = None) -> list[list[str]]:
    # newline="" keeps quoted newlines inside a cell; the csv module accepts \n, \r\n and \r endings.
    # The field limit is lifted so that an over-long cell is named by its row and column afterwards.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        return list(itertools.islice(reader, limit))
    except csv.Error as error:
        raise PipelineError(f"cannot be parsed as CSV ({error})") from None


def read_csv_input(spec: InputFile, codebook: Codebook, data: bytes | None = None) -> RawTable:
    """Read a CSV export: detect encoding and delimiter, find the header, keep cells as text."""
    path = spec.path
    data = read_bytes(path) if data is None else data
    wide = spec.encoding is not None and spec.encoding.lower().replace("_", "-").startswith(
        ("utf-16", "utf-32")
    )
    if not wide and not data.startswith(tuple(bom for bom, _ in TEXT_BOMS)):
        _sniff_binary(path, data[:8192], "csv")
    text, encoding = decode_text(path, data, spec.encoding)
    if not text.strip():
        raise fail(path, "is empty; export the survey again")
    expected = expected_headers(codebook, spec)
    # The delimiter is the one whose split of the first rows finds the most codebook column names.
    best: tuple[int, int, str] | None = None
    first_widths = []
    for delimiter in DELIMITERS:
        try:
            head = _parse_csv(text, delimiter, HEADER_SEARCH_ROWS)
        except PipelineError:
            continue
        score = max((header_score(row, expected) for row in head), default=0)
        widest = max((len(row) for row in head), default=0)
        first_widths.append(len(head[0]) if head else 0)
        candidate = (score, widest, delimiter)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None or best[1] <= 1 or (best[0] == 0 and max(first_widths, default=0) <= 1):
        raise fail(
            path,
            "every row is a single column: the delimiter is none of comma, semicolon, tab or pipe; "
            "export the file again as delimited text",
        )
    delimiter = best[2]
    try:
        # A marker record after the text shows whether the file ends inside an open quote: if it does,
        # the marker is swallowed into the last cell instead of being a record of its own.
        separator = "" if text.endswith(("\n", "\r")) else "\n"
        records = _parse_csv(text + separator + '"' + _END_MARKER, delimiter)
    except PipelineError as error:
        raise fail(path, str(error)) from None
    ends_in_quote = records[-1] != [_END_MARKER]
    if ends_in_quote:
        records[-1][-1] = records[-1][-1].removesuffix(_END_MARKER).removesuffix(separator)
    else:
        records.pop()
    header_index = find_header(records, expected, spec)
    if len(records[header_index]) <= 1:
        raise fail(
            path,
            f"the header has a single column with delimiter {DELIMITER_NAMES[delimiter]}; "
            "the file uses another delimiter: export it again",
        )
    _refuse_open_quotes(spec, codebook, records, header_index, delimiter, ends_in_quote)
    details = {"format": "csv", "encoding": encoding, "delimiter": DELIMITER_NAMES[delimiter]}
    details["header_row"] = header_index + 1
    return records_to_table(spec, codebook, records, header_index, details)


def _refuse_open_quotes(
    spec: InputFile,
    codebook: Codebook,
    records: list[list[str]],
    header_index: int,
    delimiter: str,
    ends_in_quote: bool,
) -> None:
    """Stop on a quote that is never closed: the rows after it were read into one cell and would be lost.

    Two signs: the file ends inside a quoted cell (a truncated export or a stray quote), or a cell holds
    a line break followed by what starts another record (a respondent id and the delimiter).
    """
    header = records[header_index]

    def column(position: int) -> str:
        name = header[position].strip() if position < len(header) else ""
        return name or f"number {position + 1}"

    if ends_in_quote and len(records) > header_index + 1:
        position = len(records[-1]) - 1
        raise fail(
            spec.path,
            f"row {len(records)} column {column(position)}: a quoted cell is never closed before the end "
            "of the file (the export is cut short, or a stray quote); export the file again",
        )
    id_pattern = codebook.instruments[spec.instrument]["respondent_id_pattern"]
    next_record = re.compile(
        r"[\r\n](?:" + id_pattern.removeprefix("^").removesuffix("$") + ")" + re.escape(delimiter)
    )
    for index in range(header_index + 1, len(records)):
        record = records[index]
        joined = "".join(record)
        if "\n" not in joined and "\r" not in joined:
            continue
        for position, cell in enumerate(record):
            if next_record.search(cell):
                raise fail(
                    spec.path,
                    f"row {index + 1} column {column(position)}: a quote opened in this cell is never "
                    "closed, so the rows after it were read into the cell; fix the quoting in the export",
                )
