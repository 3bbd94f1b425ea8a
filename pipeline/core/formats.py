"""What a survey export is, taken from its bytes rather than its name.

Offices rename files, survey tools write HTML under an .xls name and people zip what they send. Ingest
asks ``sniff`` what the bytes are, reads them in that format (recording where it differs from the name
or the configuration), unwraps a gzip file or a one-file zip first, and refuses anything else with one
line: what the file seems to be, what is supported, and how to convert it.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
import zlib
from dataclasses import dataclass

SUPPORTED = (
    "supported: CSV or tab-delimited text (UTF-8, Windows-1252, or UTF-16/32 with a byte-order mark; "
    "also as .gz or a one-file .zip), Excel .xlsx/.xls, OpenDocument .ods, SPSS .sav/.zsav/.por, Stata .dta"
)
# Formats ingest reads, by the name config.yaml uses.
READABLE = ("csv", "xlsx", "xls", "ods", "sav", "dta", "por")
TEXT_BOMS = (
    # UTF-32 first: its little-endian BOM begins with UTF-16's.
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
)
_ENCRYPTED_OLE = "EncryptedPackage".encode("utf-16-le")
_WORD_OLE = "WordDocument".encode("utf-16-le")
_XLS_OLE = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are: a readable format (or a container to open), else why not and what to do."""

    format: str | None  # one of READABLE, "gzip", "zip", or None when the file cannot be read
    what: str  # what the file seems to be, in words
    advice: str = ""  # how to convert it, for a file that cannot be read


def _unsupported(what: str, advice: str) -> Sniffed:
    return Sniffed(None, what, advice)


def _is_stata(head: bytes) -> bool:
    if head.startswith(b"<stata_dta>"):
        return True  # Stata 13 and later (format 117-119)
    # Stata 2-12 (formats 102-115): version byte, byte order 1 or 2, file type 1, a zero byte.
    return len(head) >= 4 and 102 <= head[0] <= 115 and head[1] in (1, 2) and head[2] == 1 and head[3] == 0


def _sniff_zip(data: bytes) -> Sniffed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return _unsupported("a damaged zip archive", "export or zip the file again")
    if "[Content_Types].xml" in names:
        if any(name.startswith("xl/") for name in names):
            return Sniffed("xlsx", "an Excel .xlsx workbook")
        if any(name.startswith("word/") for name in names):
            return _unsupported("a Word document", "export the survey data, not the report, as .xlsx or CSV")
        return _unsupported("an Office document that is not a workbook", "save the data as .xlsx or CSV")
    if "mimetype" in names:
        mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
        if mimetype == "application/vnd.oasis.opendocument.spreadsheet":
            return Sniffed("ods", "an OpenDocument .ods spreadsheet")
        return _unsupported(
            f"an OpenDocument file that is not a spreadsheet ({mimetype})", "save the data as .ods or CSV"
        )
    members = [name for name in names if not name.endswith("/") and not name.startswith("__MACOSX/")]
    if len(members) == 1:
        return Sniffed("zip", f"a zip archive holding {members[0]}")
    if not members:
        return _unsupported("an empty zip archive", "zip the export itself")
    shown = ", ".join(members[:3]) + (", ..." if len(members) > 3 else "")
    return _unsupported(
        f"a zip archive of {len(members)} files ({shown})",
        "unzip it and list each export in dataset.inputs",
    )


def _sniff_ole(data: bytes) -> Sniffed:
    # The directory of an OLE compound file names its streams in UTF-16.
    if _ENCRYPTED_OLE in data:
        return _unsupported(
            "a password-protected Excel workbook",
            "open it in Excel, remove the password (File > Info > Protect Workbook) and save as .xlsx",
        )
    if _WORD_OLE in data:
        return _unsupported("an old Word .doc document", "export the survey data as .xlsx or CSV")
    if any(name in data for name in _XLS_OLE):
        return Sniffed("xls", "an old Excel .xls workbook")
    return _unsupported(
        "an OLE compound file that is not an Excel workbook", "open it where it was made and save as .xlsx"
    )


def _sniff_text_kind(head: bytes) -> Sniffed | None:
    """Text formats that are not delimited data (HTML, XML spreadsheets, RTF, JSON)."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<table", b"<meta")):
        return _unsupported(
            "an HTML page (a web export saved under a spreadsheet name?)",
            "open it in Excel or LibreOffice and save as .xlsx or CSV",
        )
    if start.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head:
            return _unsupported(
                "an Excel 2003 XML spreadsheet", "open it in Excel or LibreOffice and save as .xlsx"
            )
        return _unsupported("an XML document", "export the survey data as CSV or .xlsx")
    if start.startswith(b"{\\rtf"):
        return _unsupported("an RTF document", "export the survey data as CSV or .xlsx")
    if start.startswith((b"{", b"[")) and re.match(rb"[\[{]\s*[\[{\"]", start):
        return _unsupported("a JSON file", "export the responses as CSV from the survey tool")
    return None


_BINARY_SIGNATURES = (
    (b"%PDF", "a PDF", "export the survey data, not a printed report, as CSV or .xlsx"),
    (b"\x89PNG", "a PNG image", "export the survey data as CSV or .xlsx"),
    (b"\xff\xd8\xff", "a JPEG image", "export the survey data as CSV or .xlsx"),
    (b"GIF8", "a GIF image", "export the survey data as CSV or .xlsx"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it, or compress the export as .zip or .gz"),
    (b"Rar!", "a RAR archive", "extract it, or compress the export as .zip or .gz"),
    (b"BZh", "a bzip2 file", "decompress it (bunzip2), or compress the export as .gz"),
    (b"\xfd7zXZ\x00", "an xz file", "decompress it (unxz), or compress the export as .gz"),
    (b"SQLite format 3\x00", "an SQLite database", "export the responses table as CSV"),
    (b"PAR1", "a Parquet file", "write the responses as CSV"),
    (b"\x00\x00\x00\x0cjP", "a JPEG 2000 image", "export the survey data as CSV or .xlsx"),
    (b"\x00\x01\x00\x00Standard Jet DB", "an Access .mdb database", "export the responses table as CSV"),
    (b"\x00\x01\x00\x00Standard ACE DB", "an Access .accdb database", "export the responses table as CSV"),
)


def looks_like_utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when every other byte is NUL (text of Latin characters), else None."""
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def sniff(data: bytes) -> Sniffed:
    """What the bytes of an export are (the file name plays no part)."""
    head = data[:8192]
    for bom, _ in TEXT_BOMS:
        if head.startswith(bom):
            return Sniffed("csv", "text with a byte-order mark")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _sniff_ole(data)
    if head.startswith(b"\x1f\x8b"):
        return Sniffed("gzip", "a gzip-compressed file")
    if head.startswith((b"$FL2", b"$FL3")):
        return Sniffed("sav", "an SPSS .sav file" if head.startswith(b"$FL2") else "an SPSS .zsav file")
    if _is_stata(head):
        return Sniffed("dta", "a Stata .dta file")
    if b"SPSSPORT" in head[:1024]:
        return Sniffed("por", "an SPSS portable .por file")
    for magic, what, advice in _BINARY_SIGNATURES:
        if head.startswith(magic):
            return _unsupported(what, advice)
    text_kind = _sniff_text_kind(head)
    if text_kind is not None:
        return text_kind
    encoding = looks_like_utf16_without_bom(head)
    if encoding is not None:
        return _unsupported(
            f"{encoding.upper()} text without a byte-order mark",
            f"set encoding: {encoding} for this input in config.yaml",
        )
    # Text holds almost no control bytes; a binary file of an unknown kind holds many.
    control = sum(head.count(bytes([byte])) for byte in (*range(0, 9), 11, 12, *range(14, 32), 127))
    if head and control > len(head) // 10:
        return _unsupported(
            "a binary file of a kind ingest does not know", "check the path, or export the data again"
        )
    return Sniffed("csv", "text")


def unwrap(data: bytes, container: str) -> tuple[bytes, str]:
    """The bytes inside a gzip file or a one-file zip, and the name of what is inside."""
    if container == "gzip":
        try:
            return gzip.decompress(data), "(gzip content)"
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"a damaged gzip file ({error})") from None
    archive = zipfile.ZipFile(io.BytesIO(data))
    (member,) = [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")]
    try:
        return archive.read(member), member
    except RuntimeError as error:  # an encrypted member
        raise ValueError(f"a zip archive whose file {member} cannot be extracted ({error})") from None
    except (zipfile.BadZipFile, zlib.error, OSError) as error:
        raise ValueError(f"a damaged zip archive ({error})") from None


def unreadable_message(what: str, advice: str) -> str:
    """The one line for a file ingest cannot read: what it seems to be, what is supported, what to do."""
    return f"seems to be {what}, which ingest cannot read ({SUPPORTED}); {advice}"
