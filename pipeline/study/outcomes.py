"""The study's outcomes, declared once: what is measured from each answer, how it is broken down, and which
column holds an outcome's maturity group.

Every stage, figure and check that splits an outcome by maturity asks `maturity_group_column`; nothing else
combines ``maturity.primary`` with an outcome's element. The breakdowns, the compared groups and the binary
measures are declared here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from pipeline.core.codebook import Codebook, Variable
from pipeline.core.config import Config
from pipeline.study.vocabulary import (
    AUTHORITY_TYPES,
    COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES,
    INSTRUMENTS,
    LESS_MATURE,
    MORE_MATURE,
    TIERS,
    maturity_column,
    scale_column,
)

log = logging.getLogger("pipeline.study.outcomes")

# Measures that are a share of respondents (0/1 per respondent): the headline "per cent agreeing" kind.
BINARY_MEASURES = ("agree", "yes", "selected", "positive")

# The groupings every outcome is estimated by, the whole population first, and the levels of each.
BREAKDOWNS = ("all", "tier", "authority_type", "maturity")
GROUP_LEVELS = {
    "all": ("all",),
    "tier": TIERS,
    "authority_type": AUTHORITY_TYPES,
    "maturity": (MORE_MATURE, LESS_MATURE),
}
# The groups compared within each instrument, and the comparison of the two instruments: (first level,
# reference level, how the difference reads).
COMPARED_GROUPS = ("tier", "maturity")
COMPARISON_LEVELS = {
    "tier": ("multi", "single", "multi-tier minus single-tier"),
    "maturity": (MORE_MATURE, LESS_MATURE, "more mature minus less mature"),
    "respondent_type": ("partner", "coordinator", "partners minus coordinators"),
}

# The models fit ONE maturity factor for every outcome. The composite definition is a different column for
# each 7S element (it leaves the compared element out), so it cannot be one factor: under a composite
# primary the models use this definition instead, log it, and record it in models_manifest.json.
MODELS_MATURITY_INSTEAD_OF_COMPOSITE = "development_stage"


@dataclass(frozen=True)
class Outcome:
    """One analysed quantity: a column of the design data and how it is summarised."""

    item: str
    label: str
    element: str | None
    measure: str  # agree | mean | dont_know | yes | selected | share:<code> | positive | value
    column: str
    is_proportion: bool
    instruments: tuple[str, ...]
    ordinal: str | None = None  # the 1-5 score column, for Likert items (ordinal models, Rao-Scott)


def maturity_group_column(config: Config, element: str | None, definition: str | None = None) -> str:
    """The analysis-base column holding the maturity group an outcome of `element` is split by.

    The primary definition (config ``maturity.primary``) unless `definition` names another (the
    sensitivity analysis). Under the composite definition each 7S element has its own column (the element
    is left out of its own split); an outcome outside the scales (``element=None``) takes the composite
    that leaves out ``COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES``.
    """
    return maturity_column(definition or config.maturity_primary, element)


def models_maturity_definition(config: Config) -> str:
    """The maturity definition the models stage uses: the primary one, except the composite (see above)."""
    primary = config.maturity_primary
    if primary == "composite_other_elements":
        log.info(
            "models: maturity.primary is the composite, which differs by element; the models use %s",
            MODELS_MATURITY_INSTEAD_OF_COMPOSITE,
        )
        return MODELS_MATURITY_INSTEAD_OF_COMPOSITE
    return primary


def group_column(config: Config, group: str, element: str | None) -> str | None:
    """The column an outcome of `element` is grouped by for `group` (None: the whole population)."""
    if group == "maturity":
        return maturity_group_column(config, element)
    return None if group == "all" else group


def breakdowns(config: Config, outcome: Outcome) -> list[tuple[str, str | None]]:
    """The groupings an outcome is estimated by: (group name, column), the whole population first."""
    return [(group, group_column(config, group, outcome.element)) for group in BREAKDOWNS]


def comparison_outcomes(outcomes: Iterable[Outcome]) -> Iterator[Outcome]:
    """The outcomes compared between groups: binary measures, and the means of the 7S scales."""
    return (
        o
        for o in outcomes
        if o.measure in BINARY_MEASURES or (o.measure == "mean" and o.item.startswith("scale_"))
    )


def _codes(base: pd.DataFrame, variable: Variable) -> np.ndarray:
    """A variable's codes as floats, NaN where missing: its Float64 column's numbers (whole-number codes,
    exact as floats). A copy: the outcome columns built on it must not share the base's memory."""
    return base[variable.name].to_numpy(dtype=float, na_value=np.nan, copy=True)


def _small_integers(values: pd.Series) -> pd.Series:
    """`values` (Float64) as pandas' nullable Int8 when every value is a whole number that fits (a
    Likert score, a code), otherwise unchanged: 2 bytes a row instead of 9, the same numbers."""
    present = values.dropna().to_numpy(dtype=float)
    if present.size and not (
        np.all(present == np.round(present)) and present.min() >= -128 and present.max() <= 127
    ):
        return values
    return values.astype("Int8")


def outcome_columns(
    base: pd.DataFrame, codebook: Codebook, types: Iterable[str] | None = None, compact: bool = False
) -> tuple[pd.DataFrame, list[Outcome]]:
    """The analysis columns every outcome needs: 0/1 indicators, valid scores, scale scores.

    Missing codes (don't know, not answered, not applicable) are missing in every indicator, so each
    proportion's base is the respondents who gave a substantive answer; "don't know" gets its own share
    among those who were asked and answered. ``types`` limits the items to those codebook variable types
    (a stage that models only the Likert items need not hold the rest: at Place-Survey scale each column
    is megabytes); the scale outcomes are always there.

    ``compact`` stores each indicator as pandas' nullable boolean and each whole-number score as nullable
    Int8 (2 bytes a row instead of Float64's 9; a code that is not a small whole number stays Float64):
    the same values, and ``.astype("Float64")`` gives back exactly the Float64 column. At Place-Survey
    size the Float64 columns were 580 MB of the analyse stage's peak. Code that reads the columns
    through ``.astype("Float64")`` (the estimators) may ask for it; other dtypes change what some
    readers see (a nullable boolean is not numeric to every library).
    """
    wanted = None if types is None else set(types)
    columns: dict[str, pd.Series | ExtensionArray] = {}
    outcomes: list[Outcome] = []
    agree = list(codebook.agree_codes)
    for variable in codebook.variables:
        if variable.type in ("id", "free_text") or (wanted is not None and variable.type not in wanted):
            continue
        # On the codes' numbers (NaN for NA: in no list of codes, true in no comparison): the same
        # columns as pandas' masked isin/eq/astype/where, without their per-call cost on small tables.
        codes = _codes(base, variable)
        with np.errstate(invalid="ignore"):
            valid = np.isin(codes, list(variable.codes)) if variable.codes else codes >= 0
        invalid = ~valid
        common = {
            "item": variable.name,
            "label": variable.label,
            "element": variable.element,
            "instruments": variable.instruments,
        }

        def indicator(condition: np.ndarray, missing: np.ndarray = invalid) -> ExtensionArray:
            """``condition`` as 0/1 (Float64, or nullable boolean when compact), missing where ``missing``.
            Each column its own mask: masked arrays share the one they are given, so an edit of one column
            would otherwise change every column built on the same mask."""
            if compact:
                return pd.arrays.BooleanArray(condition, missing.copy())
            return pd.arrays.FloatingArray(condition.astype(float), missing.copy())

        if variable.type == "likert5":
            score_column = f"{variable.name}__score"
            score = pd.Series(pd.arrays.FloatingArray(codes, invalid.copy()), index=base.index)
            columns[score_column] = _small_integers(score) if compact else score
            columns[f"{variable.name}__agree"] = indicator(np.isin(codes, agree))
            dont_know = codes == -8
            columns[f"{variable.name}__dont_know"] = indicator(dont_know, ~(valid | dont_know))
            outcomes += [
                Outcome(
                    **common,
                    measure="agree",
                    column=f"{variable.name}__agree",
                    is_proportion=True,
                    ordinal=score_column,
                ),
                Outcome(
                    **common, measure="mean", column=score_column, is_proportion=False, ordinal=score_column
                ),
                Outcome(
                    **common, measure="dont_know", column=f"{variable.name}__dont_know", is_proportion=True
                ),
            ]
        elif variable.type == "yes_no":
            columns[f"{variable.name}__yes"] = indicator(codes == 1)
            outcomes.append(
                Outcome(**common, measure="yes", column=f"{variable.name}__yes", is_proportion=True)
            )
        elif variable.type == "multiple_choice":
            columns[f"{variable.name}__selected"] = indicator(codes == 1)
            outcomes.append(
                Outcome(**common, measure="selected", column=f"{variable.name}__selected", is_proportion=True)
            )
        elif variable.type in ("single_choice", "band"):
            for code in variable.codes:
                column = f"{variable.name}__is_{code}"
                columns[column] = indicator(codes == code)
                outcomes.append(Outcome(**common, measure=f"share:{code}", column=column, is_proportion=True))
        elif variable.type in ("count", "year"):
            columns[f"{variable.name}__value"] = pd.arrays.FloatingArray(codes, invalid.copy())
            outcomes.append(
                Outcome(**common, measure="value", column=f"{variable.name}__value", is_proportion=False)
            )
    for element, element_label in codebook.elements.items():
        common = {
            "item": scale_column(element),
            "label": f"{element_label} scale",
            "element": element,
            "instruments": INSTRUMENTS,
        }
        positive = base[f"{scale_column(element)}_positive"]
        # Compact: the base's own nullable boolean column, not a copy.
        columns[f"{scale_column(element)}__positive"] = (
            positive if compact and positive.dtype == "boolean" else positive.astype("Float64")
        )
        outcomes += [
            Outcome(
                **common, measure="positive", column=f"{scale_column(element)}__positive", is_proportion=True
            ),
            Outcome(**common, measure="mean", column=scale_column(element), is_proportion=False),
        ]
    # copy=False: the new columns are this function's own; a copy held them twice (600 MB at 1000x).
    return pd.concat([base, pd.DataFrame(columns, index=base.index, copy=False)], axis=1), outcomes


__all__ = [
    "BINARY_MEASURES",
    "BREAKDOWNS",
    "COMPARED_GROUPS",
    "COMPARISON_LEVELS",
    "COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES",
    "GROUP_LEVELS",
    "MODELS_MATURITY_INSTEAD_OF_COMPOSITE",
    "Outcome",
    "breakdowns",
    "comparison_outcomes",
    "group_column",
    "maturity_group_column",
    "models_maturity_definition",
    "outcome_columns",
]
