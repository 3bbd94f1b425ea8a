"""The report's tables as sheets: each table as the report shows it, one measure per column, numbers as
numbers.

The report writes every table it draws to ``report_tables.json`` as formatted text (the numbers rounded as
the page shows them). A sheet keeps those numbers, but a cell holding an estimate with its interval,
"52% (46% to 58%)", becomes three numeric columns, the unit moves from the cells to the header ("(%)",
"(percentage points)"), a value with its Monte Carlo SE, "94.5 (1.6)", becomes two, and "95 and 87" (the
two groups' n) becomes two counts. The formats read here are exactly those ``pipeline.study.display``
writes; a cell in no such format stays text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.study import display

SUPPRESSED, NOT_APPLICABLE = "[c]", "[z]"
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
_UNIT = r"(%| points| pp)?"
SINGLE = re.compile(rf"^(?P<value>{_NUMBER}){_UNIT}$")
INTERVAL = re.compile(rf"^(?P<value>{_NUMBER})(%)? \((?P<low>{_NUMBER})%? to (?P<high>{_NUMBER})%?\)$")
WITH_SE = re.compile(rf"^(?P<value>{_NUMBER}) \((?P<se>{_NUMBER})\)$")
PAIR = re.compile(rf"^(?P<first>{_NUMBER}) and (?P<second>{_NUMBER})$")
# A p-value below 0.001, as display.p_value writes it: kept as the report shows it.
P_BELOW = "<0.001"
UNIT_NAMES = {"%": "%", "points": "percentage points", "pp": "percentage points"}
# A header's unit after its name ("Positive, % (95% CI)", "Mean score, 1-5 (95% CI)", "Mean bias, pp").
_HEADER_UNIT = re.compile(r"^(?P<name>.*?),\s*(?P<unit>%|points|pp|1-5)$")


@dataclass(frozen=True)
class ReportSheet:
    """One report table as a sheet: where the report shows it and its cells, typed."""

    id: str
    page: str
    section: str
    caption: str
    note: str
    frame: pd.DataFrame
    # Columns whose cells are names of files, modules or packages, shown as written (the report draws
    # them as code); every other text cell is words.
    code_columns: tuple[str, ...] = ()


def number(text: str) -> int | float:
    """A number as ``display`` writes it (thousands separators, a true minus sign) as a number."""
    value = float(text.replace(",", ""))
    return int(value) if re.fullmatch(r"-?\d[\d,]*", text) else value


def _plain(cell: str) -> str:
    return cell.replace(display.MINUS, "-").strip()


def _unit(cell: str) -> str | None:
    """The unit a formatted cell carries ("%", "percentage points"), or None."""
    found = re.search(r"(%|\bpoints|\bpp)(?:\s*\(|$)", cell)
    return UNIT_NAMES[found.group(1)] if found else None


def _split_header(header: str) -> tuple[str, str | None, str]:
    """(name, unit, what the brackets said) of a report header: "Positive, % (95% CI)" -> ("Positive",
    "%", "95% CI")."""
    bracket = ""
    found = re.fullmatch(r"(?P<head>.*?)\s*\((?P<bracket>95% CI|MC SE|each group)\)", header)
    if found:
        header, bracket = found["head"], found["bracket"]
    unit_match = _HEADER_UNIT.fullmatch(header)
    if unit_match:
        unit = unit_match["unit"]
        return unit_match["name"], "1 to 5" if unit == "1-5" else UNIT_NAMES[unit], bracket
    if header.endswith(" %"):  # "Frame %", "Coordinators: response %"
        return header.removesuffix(" %"), "%", bracket
    return header, None, bracket


def _with_unit(name: str, unit: str | None) -> str:
    return f"{name} ({unit})" if unit else name


def _column(header: str, cells: list[str], numeric: bool) -> list[tuple[str, list[Any]]]:
    """One report column as one or more sheet columns: (header, values)."""
    plain = [_plain(c) for c in cells]
    suppressed = [c.startswith("suppressed") for c in plain]

    def marker(i: int) -> str:
        return SUPPRESSED if suppressed[i] else NOT_APPLICABLE

    filled = [c for c, s in zip(plain, suppressed, strict=True) if c and not s]
    name, header_unit, bracket = _split_header(header)
    readable = (SINGLE, INTERVAL, WITH_SE, PAIR)
    is_number = [c == P_BELOW or any(p.match(c) for p in readable) for c in filled]
    if not numeric or not filled or not all(is_number):
        # Text: the cell as the report shows it; an empty or suppressed cell as its marker.
        return [(header, [c if c and not suppressed[i] else marker(i) for i, c in enumerate(plain)])]
    units = {_unit(c) for c in filled} - {None}
    mixed = len(units) > 1
    unit = None if mixed else (next(iter(units)) if units else header_unit)
    parts: list[tuple[str, list[Any]]]
    if any(PAIR.match(c) for c in filled):
        parts = [(f"{name}, first group", []), (f"{name}, second group", [])]
        for i, cell in enumerate(plain):
            found = PAIR.match(cell)
            parts[0][1].append(number(found["first"]) if found else marker(i))
            parts[1][1].append(number(found["second"]) if found else marker(i))
        return parts
    if any(WITH_SE.match(c) for c in filled) and bracket == "MC SE":
        parts = [(_with_unit(name, unit), []), (_with_unit(f"{name}, Monte Carlo standard error", unit), [])]
        for i, cell in enumerate(plain):
            found = WITH_SE.match(cell) or SINGLE.match(cell)
            parts[0][1].append(number(found["value"]) if found else marker(i))
            se = found.groupdict().get("se") if found else None
            parts[1][1].append(number(se) if se else marker(i))
        return parts
    shown_unit = None if mixed else unit
    if any(INTERVAL.match(c) for c in filled):
        parts = [
            (_with_unit(name, shown_unit), []),
            (_with_unit(f"{name}, 95% CI lower", shown_unit), []),
            (_with_unit(f"{name}, 95% CI upper", shown_unit), []),
        ]
        for i, cell in enumerate(plain):
            found = INTERVAL.match(cell)
            single = SINGLE.match(cell)
            parts[0][1].append(number((found or single)["value"]) if (found or single) else marker(i))
            parts[1][1].append(number(found["low"]) if found else marker(i))
            parts[2][1].append(number(found["high"]) if found else marker(i))
    else:
        parts = [(_with_unit(name, shown_unit), [])]
        for i, cell in enumerate(plain):
            single = SINGLE.match(cell)
            parts[0][1].append(number(single["value"]) if single else cell or marker(i))
    if mixed:
        # Two units in one report column (a percentage beside a difference in points): a unit column.
        unit_words = {"%": "percentage", "percentage points": "percentage points"}
        parts.insert(
            1, (f"{name}: unit", [unit_words.get(_unit(c) or "", marker(i)) for i, c in enumerate(plain)])
        )
    return parts


def report_sheet(record: dict[str, Any]) -> ReportSheet:
    """One table of ``report_tables.json`` as a sheet's frame."""
    headers, rows = record["headers"], record["rows"]
    columns: list[tuple[str, list[Any]]] = []
    code_columns = []
    for index, header in enumerate(headers):
        cells = [row[index] for row in rows]
        parts = _column(header, cells, bool(record["numeric"][index]) and not record["code"][index])
        columns += parts
        if record["code"][index]:
            code_columns += [part for part, _ in parts]
    frame = pd.DataFrame({header: pd.Series(values, dtype=object) for header, values in columns})
    if len(frame.columns) != len(columns):
        raise ValueError(f"table {record['id']}: two columns share a header")
    return ReportSheet(
        id=record["id"],
        page=record["page"],
        section=record["section"],
        caption=record["caption"],
        note=record["note"],
        frame=frame,
        code_columns=tuple(code_columns),
    )
