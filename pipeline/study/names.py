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
    r"(?P<variables>[\w|]+): (?P<cell>[\w|+]+) \((?P<n>\d+) respondents?\) merged with (?P<into>[\w|+]+) "
    r"\((?P<m>\d+)\)(?P<why> so that the (?P<value>\w+) total of (?P<of>\w+) can be met)?"
)
# A numeric total within a cell that no positive weights could meet, left out of the calibration.
_NOT_CALIBRATED = re.compile(
    r"(?P<margin>[\w|]+):(?P<value>\w+): (?P<cell>[\w|+]+) total (?P<total>[\d.e+-]+) not calibrated "
    r"\(its respondents reach (?P<low>[\d.e+-]+) to (?P<high>[\d.e+-]+)\)"
)
_NUMERIC_WORDS = {
    "imd_score": "IMD score",
    "pct_most_deprived": "share of most-deprived LSOAs",
    "lsoa_count": "LSOA count",
}
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


# The frame variables (pipeline.study.weighting.FRAME_VARIABLES) by the names a reader knows them by.
FRAME_VARIABLE_NAMES = {
    "authority_type": "Authority type",
    "tier": "Tier",
    "region": "Region",
    "laa_round": "LAA round",
    "imd_score": "Deprivation score (IMD 2007)",
    "imd_band": "Deprivation band (IMD 2007 score, thirds)",
    "pct_most_deprived": "Neighbourhoods in England's most deprived 10% (%)",
    "lsoa_count": "Neighbourhoods (LSOAs) in the area",
    "case_study": "Audit Commission case-study LSP",
}
# The weightings (config weighting.primary and its alternatives) by short names for table cells.
WEIGHTING_NAMES = {
    "raking": "Raking",
    "type_only": "Type-only",
    "linear": "Linear calibration",
    "logit": "Logit calibration",
    "unweighted": "Unweighted",
    "weighted": "Weighted",
}
# Levels whose words alone do not say what they are.
LEVEL_NAMES = {"single": "Single-tier", "multi": "Multi-tier", "all": "All"}


def variable_name(variable: Any) -> str:
    """A frame variable by its name: "imd_band" -> "Deprivation band (IMD 2007 score, thirds)"."""
    if display.missing(variable):
        return ""
    text = str(variable)
    return FRAME_VARIABLE_NAMES.get(text) or capital(words(text))


def level_name(level: Any) -> str:
    """A coded level, capitalised: "single" -> "Single-tier", "london_borough" -> "London borough"."""
    if display.missing(level):
        return ""
    return LEVEL_NAMES.get(str(level)) or capital(level_words(str(level)))


def capital(text: str) -> str:
    """The first letter upper-cased, the rest as written ("LAA round" stays, "jKn" is not lowered)."""
    return text[:1].upper() + text[1:]


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
    """The weighting's merged sparse cells and uncalibrated numeric totals
    (``weight_diagnostics.merged_cells``) as sentences."""
    if display.missing(cells):
        return []

    def cell_words(cell: str) -> str:
        # Merged levels ("1_least_deprived+2_middle") read "least deprived and middle".
        return ", ".join(
            " and ".join(level_words(part) for part in level.split("+")) for level in cell.split("|")
        )

    out = []
    for match in _MERGED.finditer(str(cells)):
        n = int(match["n"])
        why = ""
        if match["why"]:
            value = _NUMERIC_WORDS.get(match["value"], match["value"])
            why = f", so that positive weights can meet the {value} total of {level_words(match['of'])}"
        out.append(
            f"{capital(cell_words(match['cell']))} ({n} respondent{'s' if n != 1 else ''}) merged with "
            f"{cell_words(match['into'])} ({match['m']}){why}"
        )
    for match in _NOT_CALIBRATED.finditer(str(cells)):
        value = _NUMERIC_WORDS.get(match["value"], match["value"])
        out.append(
            f"{capital(cell_words(match['cell']))}: the {value} total ({float(match['total']):g}) is not "
            f"calibrated: positive weights on its respondents reach only {float(match['low']):g} to "
            f"{float(match['high']):g}"
        )
    return out
