"""Model matrices built as R's ``model.matrix`` builds them, with the column-to-term map.

A model is a sequence of *terms*: a column name (``"tier"``, ``"deprivation"``) or an
interaction of columns joined by ``":"`` (``"tier:maturity"``). Non-numeric, boolean and pandas
categorical columns are factors coded by treatment contrasts against their first level (sorted,
or the categorical's order), using only the levels seen in the rows fitted, as R does; numeric
columns enter as they are. An interaction's columns are the products of its factors' contrast
columns, the first factor varying fastest, named ``"a<level>:b<level>"`` as R names them. An
interaction must come with its main effects (R's coding of an interaction without them differs,
and no model here needs it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.survey.design import SurveyDesignError


def level_label(value: Any) -> str:
    """A level as R's ``factor()`` prints it (``1.0`` as ``"1"``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_factor(series: pd.Series) -> bool:
    """Whether R would treat the column as a factor in a formula."""
    return pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series)


def _factor_columns(series: pd.Series, name: str) -> tuple[list[np.ndarray], list[str]]:
    if not is_factor(series):
        return [series.to_numpy(dtype=float)], [name]
    codes, uniques = pd.factorize(series, sort=False)
    seen = set(uniques.tolist())
    levels = (
        [c for c in series.cat.categories if c in seen]
        if isinstance(series.dtype, pd.CategoricalDtype)
        else sorted(seen)
    )
    position = {level: k for k, level in enumerate(uniques.tolist())}
    # One integer comparison per level (string comparisons in pandas are the slow part of a fit).
    cols = [(codes == position[level]).astype(float) for level in levels[1:]]
    return cols, [f"{name}{level_label(level)}" for level in levels[1:]]


@dataclass(frozen=True)
class ModelMatrix:
    """A model matrix and which of its columns belong to which term.

    Attributes
    ----------
    x : numpy.ndarray
        ``(n, p)`` design matrix, intercept first when requested.
    names : tuple of str
        Column names, as R names the coefficients.
    assign : dict
        Term label -> the positions of its columns in ``x`` (R: ``attr(, "assign")``).
    """

    x: np.ndarray
    names: tuple[str, ...]
    assign: dict[str, tuple[int, ...]]


def term_columns(terms: Sequence[str]) -> list[str]:
    """Every data column the terms use, in first-use order."""
    out: list[str] = []
    for term in terms:
        for col in term.split(":"):
            if col not in out:
                out.append(col)
    return out


def model_matrix(frame: pd.DataFrame, terms: Sequence[str], *, intercept: bool) -> ModelMatrix:
    """Build the model matrix of `terms` over the rows of `frame` (no missing values expected).

    Parameters
    ----------
    frame
        The rows fitted.
    terms
        Main effects and ``"a:b"`` interactions, in the order their columns should appear.
    intercept
        Whether to put a column of ones first (named ``"(Intercept)"``).

    Returns
    -------
    ModelMatrix
        Columns, names and the term map.

    Raises
    ------
    SurveyDesignError
        An interaction lacks one of its main effects, or a term is repeated.
    """
    if len(set(terms)) != len(terms):
        raise SurveyDesignError(f"a term is repeated in {list(terms)}")
    mains = {t for t in terms if ":" not in t}
    cols: list[np.ndarray] = [np.ones(len(frame))] if intercept else []
    names: list[str] = ["(Intercept)"] if intercept else []
    assign: dict[str, tuple[int, ...]] = {}
    cache: dict[str, tuple[list[np.ndarray], list[str]]] = {}
    for term in terms:
        parts = term.split(":")
        missing = [p for p in parts if p not in mains] if len(parts) > 1 else []
        if missing:
            raise SurveyDesignError(f"interaction {term!r} needs its main effect(s) {missing} in the model")
        for p in parts:
            if p not in cache:
                cache[p] = _factor_columns(frame[p], p)
        term_cols, term_names = cache[parts[0]]
        for p in parts[1:]:
            other_cols, other_names = cache[p]
            # First factor varies fastest, as in R's model.matrix.
            term_cols = [a * b for b in other_cols for a in term_cols]
            term_names = [f"{a}:{b}" for b in other_names for a in term_names]
        start = len(cols)
        cols.extend(term_cols)
        names.extend(term_names)
        assign[term] = tuple(range(start, len(cols)))
    x = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
    return ModelMatrix(x=x, names=tuple(names), assign=assign)
