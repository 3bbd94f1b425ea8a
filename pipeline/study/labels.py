"""Answers written as a code and a label together ("4 - Agree", "4. Agree", "Agree (4)").

Survey tools export such cells when asked for "values and labels". Ingest accepts one when the code
and the label both name the same answer in the codebook; validate names the disagreement when they do
not (``code_label_disagree``), so the reason travels with the rejection.
"""

from __future__ import annotations

import re

# A code before the label, with a separator a person would type or a tool would write.
_PREFIXED = re.compile(r"\s*[(\[]?(?P<code>-?\d+)[)\]]?\s*(?:[-–—.:=)]\s*|(?<=[)\]])\s*)(?P<label>\S.*?)\s*")
# A code after the label, in brackets.
_SUFFIXED = re.compile(r"\s*(?P<label>\S.*?)\s*[(\[](?P<code>-?\d+)[)\]]\s*")


_CURLY = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"'})
_WHITESPACE = re.compile(r"\s+")


def normalise_label(text: str) -> str:
    """The comparison form of a label: straight quotes, single spaces, no edges, case folded."""
    text = text.translate(_CURLY).replace("\u00a0", " ")
    return _WHITESPACE.sub(" ", text).strip().casefold()


def split_code_and_label(value: str) -> tuple[int, str] | None:
    """(code, label) of a cell holding both, else None."""
    for pattern in (_PREFIXED, _SUFFIXED):
        found = pattern.fullmatch(value)
        if found and re.search(r"[^\W\d_]", found["label"]):
            return int(found["code"]), found["label"]
    return None
