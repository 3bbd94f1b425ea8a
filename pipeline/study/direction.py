"""Which way is favourable: read from the codebook's ``reverse`` marks, never hard-coded.

Agreement with most Likert statements is the favourable answer; with a reverse-worded one ("the council
dominates", "joint working duplicates other work", ...) it is the unfavourable one. A difference in "%
agreeing" or in a mean item score therefore points the favourable way when its sign times the item's
favourable sign is positive. The 7S scale scores are built with reverse items already flipped
(pipeline/derive.py), so a scale's favourable sign is +1. Items with no favourable direction (yes/no
facts, shares of a choice) get no sign.
"""

from __future__ import annotations

import pandas as pd

from pipeline.core.codebook import Codebook

FAVOURABLE_SIGN = "favourable_sign"
# Measures of a Likert item whose larger value means more agreement.
AGREEMENT_MEASURES = ("agree", "mean", "ordinal")


def favourable_signs(codebook: Codebook) -> dict[str, int]:
    """Item or scale name -> +1 when agreement is favourable, -1 for reverse-worded items."""
    signs = {v.name: (-1 if v.reverse else 1) for v in codebook.variables if v.type == "likert5"}
    signs.update({f"scale_{element}": 1 for element in codebook.elements})
    return signs


def sign_of(item: str, measure: str, signs: dict[str, int]) -> float:
    """The favourable sign of one outcome (NaN when it has no favourable direction)."""
    if item.startswith("scale_") and measure in ("mean", "positive"):
        return float(signs.get(item, float("nan")))
    if measure in AGREEMENT_MEASURES:
        return float(signs.get(item, float("nan")))
    return float("nan")


def add_direction(table: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Add ``favourable_sign`` to a table with ``item`` and ``measure`` columns.

    A comparison's estimate times its favourable sign is positive when the first group (e.g.
    multi-tier, more mature) is ahead in the favourable direction.
    """
    signs = favourable_signs(codebook)
    values = [sign_of(str(i), str(m), signs) for i, m in zip(table["item"], table["measure"], strict=True)]
    return table.assign(**{FAVOURABLE_SIGN: pd.Series(values, index=table.index, dtype=float)})
