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

import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.survey.design import PreparedDesign, SurveyDesignError


def level_label(value: Any) -> str:
    """A level as R's ``factor()`` prints it (``1.0`` as ``"1"``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_factor(series: pd.Series) -> bool:
    """Whether R would treat the column as a factor in a formula."""
    return pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series)


@dataclass(frozen=True, eq=False)
class CodedColumn:
    """One data column as a model matrix reads it, coded once for every fit over a design's rows.

    A factor holds integer codes into its distinct values (``-1`` where missing) and, for a pandas
    categorical, the categories' order; a numeric column holds its values as floats (NaN where missing).
    """

    factor: bool
    present: np.ndarray
    codes: np.ndarray | None = None
    uniques: tuple[Any, ...] = ()
    categories: tuple[Any, ...] | None = None
    values: np.ndarray | None = None

    @classmethod
    def of(cls, series: pd.Series) -> CodedColumn:
        if not is_factor(series):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            return cls(factor=False, present=series.notna().to_numpy(), values=values)
        codes, uniques = pd.factorize(series, sort=False)
        categories = tuple(series.cat.categories) if isinstance(series.dtype, pd.CategoricalDtype) else None
        return cls(
            factor=True,
            present=codes >= 0,
            codes=codes.astype(np.int64),
            uniques=tuple(uniques.tolist()),
            categories=categories,
        )

    def columns(self, rows: np.ndarray, name: str) -> tuple[list[np.ndarray], list[str]]:
        """The column's model-matrix columns over ``rows`` (positions), as `model_matrix` makes them."""
        if not self.factor:
            return [self.values[rows]], [name]
        codes = self.codes[rows]
        seen_codes = np.flatnonzero(np.bincount(codes, minlength=len(self.uniques)))
        return _level_columns(codes, [self.uniques[k] for k in seen_codes], seen_codes, self.categories, name)


def _level_columns(
    codes: np.ndarray,
    seen_values: list[Any],
    seen_codes: Sequence[int] | np.ndarray,
    categories: Sequence[Any] | None,
    name: str,
) -> tuple[list[np.ndarray], list[str]]:
    """Treatment-contrast columns of a factor from its codes (``seen_values[k]`` has ``seen_codes[k]``)."""
    seen = set(seen_values)
    levels = [c for c in categories if c in seen] if categories is not None else sorted(seen)
    position = dict(zip(seen_values, seen_codes, strict=True))
    # One integer comparison per level (string comparisons in pandas are the slow part of a fit).
    cols = [(codes == position[level]).astype(float) for level in levels[1:]]
    return cols, [f"{name}{level_label(level)}" for level in levels[1:]]


def _factor_columns(series: pd.Series, name: str) -> tuple[list[np.ndarray], list[str]]:
    if not is_factor(series):
        return [series.to_numpy(dtype=float)], [name]
    codes, uniques = pd.factorize(series, sort=False)
    values = uniques.tolist()
    categories = tuple(series.cat.categories) if isinstance(series.dtype, pd.CategoricalDtype) else None
    return _level_columns(codes, values, range(len(values)), categories, name)


# Each prepared design's columns as fits read them, coded on first use (a design's rows never change).
_CODED: weakref.WeakKeyDictionary[PreparedDesign, dict[str, CodedColumn]] = weakref.WeakKeyDictionary()


def coded_column(design: PreparedDesign, name: str) -> CodedColumn:
    """`CodedColumn` of a column of ``design.data``, kept beside the design for its next fit."""
    by_name = _CODED.setdefault(design, {})
    if name not in by_name:
        if name not in design.data.columns:
            raise SurveyDesignError(f"column {name!r} is not in the data")
        by_name[name] = CodedColumn.of(design.data[name])
    return by_name[name]


def design_model_matrix(
    design: PreparedDesign, rows: np.ndarray, terms: Sequence[str], *, intercept: bool
) -> ModelMatrix:
    """`model_matrix` of ``design.data`` at the row positions ``rows`` (no missing values there), from the
    design's coded columns: the same matrix, without re-reading and re-coding the columns for each fit."""
    columns = {name: coded_column(design, name) for name in term_columns(terms)}
    return _assemble(len(rows), terms, intercept, lambda name: columns[name].columns(rows, name))


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


@functools.lru_cache(maxsize=512)
def names_index(names: tuple[str, ...]) -> pd.Index:
    """``pd.Index(names)``, built once per set of coefficient names (a model stage fits thousands of
    models on a few sets of terms, and building an index of text is most of a small fit's overhead)."""
    return pd.Index(list(names))


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
    return _assemble(len(frame), terms, intercept, lambda name: _factor_columns(frame[name], name))


def _assemble(n: int, terms: Sequence[str], intercept: bool, factor_columns: Any) -> ModelMatrix:
    if len(set(terms)) != len(terms):
        raise SurveyDesignError(f"a term is repeated in {list(terms)}")
    mains = {t for t in terms if ":" not in t}
    cols: list[np.ndarray] = [np.ones(n)] if intercept else []
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
                cache[p] = factor_columns(p)
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
    x = np.column_stack(cols) if cols else np.zeros((n, 0))
    return ModelMatrix(x=x, names=tuple(names), assign=assign)
