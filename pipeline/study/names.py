"""Codes in words: what a reader sees in place of a column name, a coded level or a weighting's cell.

The report's tables and the spreadsheets both show the analysis tables' codes through these functions,
so a level reads the same on the page and in the workbook ("shire_district" -> "Shire district",
"1_least_deprived" -> "least deprived", ``authority_type|imd_band: ...`` -> a sentence).
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.study import display

_IDENTIFIER = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
# Frame variables and symbols by the names a reader knows them by.
_NAMES = {
    "imd_band": "deprivation band",
    "imd_score": "deprivation score",
    "laa_round": "LAA round",
    "N_h/m_h": "N(h)/m(h)",
    "N_h/n_h": "N(h)/n(h)",
}
# File references a sentence carries in brackets for programmers: "(models.csv, primary_tests.csv)".
_FILE_REFERENCE = re.compile(r"\s*\((?:[\w./-]+\.(?:csv|md|py|json)(?:, |; )?)+\)|[\w./-]+\.(?:md|csv); ")
# A config key cited for programmers: "(config models.primary)".
_CONFIG_REFERENCE = re.compile(r"\s*\(config [\w.<>]+\)")
_MERGED = re.compile(
    r"(?P<variables>[\w|]+): (?P<cell>[\w|]+) \((?P<n>\d+) respondents?\) merged with (?P<into>[\w|]+) "
    r"\((?P<m>\d+)\)"
)
# Words that keep their capitals when a code is read out.
_PROPER = {
    "london": "London",
    "laa": "LAA",
    "lsp": "LSP",
    "lsps": "LSPs",
    "cpa": "CPA",
    "imd": "IMD",
    "jkn": "JKn",
}


def words(value: Any) -> str:
    """Text for a reader: identifiers such as ``authority_type`` read as words, flags as Yes or No."""
    if display.missing(value):
        return ""
    if isinstance(value, bool) or str(value) in ("True", "False"):
        return display.yes_no(value)
    return _IDENTIFIER.sub(lambda m: m.group(0).replace("_", " "), prose(str(value)))


def prose(value: str) -> str:
    """A sentence for a reader: known codes by their names, bracketed file references left out."""
    for code, name in _NAMES.items():
        value = value.replace(code, name)
    return _CONFIG_REFERENCE.sub("", _FILE_REFERENCE.sub("", value))


def level_words(level: str) -> str:
    """A coded level in words: "1_least_deprived" -> "least deprived", "london_borough" -> "London
    borough"."""
    name = re.sub(r"^\d+_", "", str(level)).replace("_", " ")
    return " ".join(_PROPER.get(word, word) for word in name.split(" "))


def merged_in_words(cells: Any) -> list[str]:
    """The weighting's merged sparse cells (``weight_diagnostics.merged_cells``) as sentences."""
    if display.missing(cells):
        return []
    out = []
    for match in _MERGED.finditer(str(cells)):
        cell = ", ".join(level_words(level) for level in match["cell"].split("|"))
        into = ", ".join(level_words(level) for level in match["into"].split("|"))
        n = int(match["n"])
        out.append(
            f"{cell[:1].upper() + cell[1:]} ({n} respondent{'s' if n != 1 else ''}) merged with {into} "
            f"({match['m']})"
        )
    return out
