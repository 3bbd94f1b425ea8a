"""The 7S scales: which items make up a scale for each instrument, and their valid scores.

Shared by the derive stage (scale scores, Cronbach's alpha) and the measurement stage (CFA).

A Likert item with an element and ``in_scale: true`` enters its scale for every instrument that asks it:
an item asked of coordinators only is in the coordinators' score and not in the partners'. The CFA's
invariance tests compare the two instruments' loadings, so they use only the items both are asked
(`common_scale_items`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook, Variable
from pipeline.study.vocabulary import INSTRUMENTS


def scale_items(codebook: Codebook, element: str, instrument: str) -> tuple[Variable, ...]:
    """The items of `element`'s scale that `instrument` is asked, in questionnaire order."""
    return codebook.scale_items(element, instrument)


def common_scale_items(codebook: Codebook, element: str) -> tuple[Variable, ...]:
    """A scale's items asked of both instruments: the items whose loadings the two groups can share."""
    return tuple(v for v in codebook.scale_items(element) if set(v.instruments) == set(INSTRUMENTS))


def valid_score_matrix(responses: pd.DataFrame, variables: tuple[Variable, ...]) -> np.ndarray:
    """``valid_scores`` as a float matrix, a row per respondent and a column per item, NaN where NA.

    On the columns' numbers rather than pandas' masked arrays: several times faster, and the same values
    (the codes are small whole numbers, exact as floats)."""
    matrix = np.full((len(responses), len(variables)), np.nan)
    for position, variable in enumerate(variables):
        codes = responses[variable.name].to_numpy(dtype=float, na_value=np.nan)
        valid = np.isin(codes, list(variable.codes))
        matrix[valid, position] = 6 - codes[valid] if variable.reverse else codes[valid]
    return matrix


def valid_scores(responses: pd.DataFrame, variables: tuple[Variable, ...]) -> pd.DataFrame:
    """Item answers on the 1-5 scale, reverse-worded items flipped, missing codes as NA (Float64 columns)."""
    matrix = valid_score_matrix(responses, variables)
    return pd.DataFrame(
        {
            variable.name: pd.array(matrix[:, position], dtype="Float64")
            for position, variable in enumerate(variables)
        },
        index=responses.index,
    )
