"""Delimited text (CSV, tab, semicolon, pipe): strict decoding, the delimiter, quoting, truncation."""

from __future__ import annotations

import csv
import gc
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
    """Decode a CSV: the configured encoding, else the byte-order mark's, else strictly UTF-8.

    Text that is not UTF-8 is returned with the offending bytes as surrogates (``surrogateescape``) and
    the encoding ``"utf-8"``: the caller names the first one by its row and column
    (``refuse_undecodable``). There is never a silent fallback to another encoding for the whole file.
    """
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
        return data.decode("utf-8", "surrogateescape"), "utf-8"


_UNDECODED = re.compile("[\udc80-\udcff]")


def refuse_undecodable(path: Path, data: bytes, records: list[list[str]], header: list[str]) -> None:
    """Stop at the first byte that is not UTF-8, naming its row, column and byte, and suggesting the encoding.

    A file that is Windows-1252 throughout gets ``encoding: windows-1252`` as the advice; a UTF-8 file with
    one row in another encoding (a row pasted from another program) is named as such, since no one
    encoding reads the whole file.
    """
    for index, record in enumerate(records):
        for position, cell in enumerate(record):
            found = _UNDECODED.search(cell)
            if found is None:
                continue
            byte = ord(found[0]) - 0xDC00
            name = header[position].strip() if position < len(header) else ""
            where = f"row {index + 1} column {name or f'number {position + 1}'}: byte 0x{byte:02x}"
            offset = data.find(cell.encode("utf-8", "surrogateescape"))
            offset_text = f" (file offset {offset + found.start()})" if offset >= 0 else ""
            try:
                as_1252 = bytes([byte]).decode("cp1252")
            except UnicodeDecodeError:
                as_1252 = None
            other_utf8 = any(ord(ch) > 0x7F and not 0xDC80 <= ord(ch) <= 0xDCFF for ch in _non_ascii(records))
            if as_1252 is not None and other_utf8:
                advice = (
                    "the rest of the file is UTF-8, so this row was written in another encoding "
                    f"(Windows-1252 would read {as_1252!r}); correct it in the export and save as UTF-8"
                )
            elif as_1252 is not None and _decodes(data, "cp1252"):
                advice = (
                    f"the file seems to be Windows-1252 (where it reads {as_1252!r}); set encoding: "
                    "windows-1252 for this input in config.yaml"
                )
            else:
                advice = "set the file's encoding for this input in config.yaml, or export it as UTF-8"
            raise fail(path, f"{where}{offset_text} is not UTF-8; {advice}")


def _non_ascii(records: list[list[str]]) -> str:
    return "".join(cell for record in records for cell in record if not cell.isascii())


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _parse_csv(text: str, delimiter: str, limit: int | None = None) -> list[list[str]]:
    # newline="" keeps quoted newlines inside a cell; the csv module accepts \n, \r\n and \r endings.
    # The field limit is lifted so that an over-long cell is named by its row and column afterwards.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    # Equal cells share one string: a survey export repeats a few hundred labels, and a string object per
    # cell held 1.5 GB for the partner file at 1000 times the bundled survey (0.2 GB shared). The
    # cyclic garbage collector is paused while the records are built: each record is a new list, and the
    # collections it triggered rescanned every record made so far (half the parsing time at that size).
    shared: dict[str, str] = {}
    share = shared.setdefault
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [[share(cell, cell) for cell in record] for record in itertools.islice(reader, limit)]
    except csv.Error as error:
        raise PipelineError(f"cannot be parsed as CSV ({error})") from None
    finally:
        if collecting:
            gc.enable()


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
    if encoding == "utf-8" and not text.isascii() and _UNDECODED.search(text):
        refuse_undecodable(path, data, records, records[header_index])
    details = {"format": "csv", "encoding": encoding, "delimiter": DELIMITER_NAMES[delimiter]}
    details["header_row"] = header_index + 1
    return records_to_table(spec, codebook, records, header_index, details, unterminated=bool(separator))


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
