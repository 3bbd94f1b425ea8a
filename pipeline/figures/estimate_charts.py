"""The template of the figures that draw one report finding from estimates.csv: the finding's codebook items
(found by their provenance), weighted per cent with 95% CIs, coordinators against partners or coordinators
by authority type. Each such figure's module holds only its constants and calls one function here.
"""

from __future__ import annotations

import pandas as pd

from pipeline.core.codebook import Variable
from pipeline.figures.common import (
    INSTRUMENT_COLOURS,
    Figure,
    Inputs,
    estimate_figure,
    instrument_label,
    level_label,
    ordered,
    select_estimates,
)
from pipeline.study.vocabulary import AUTHORITY_TYPES, INSTRUMENTS


def coordinators_population(inputs: Inputs, routed: bool = False) -> str:
    """Who a coordinator-only figure describes (the frame's LSPs)."""
    suffix = " (routed questions: those asked)" if routed else ""
    return f"LSP coordinators, answering for the {inputs.n_lsps} LSPs{suffix}"


def respondents_population(inputs: Inputs) -> str:
    """Who a coordinators-and-partners figure describes."""
    return f"LSP coordinators (for the {inputs.n_lsps} LSPs) and board partners"


def by_respondent_type(inputs: Inputs, variables: list[Variable], measure: str) -> pd.DataFrame:
    """Each instrument's overall estimate of the items it was asked, coordinators first."""
    return pd.concat(
        [
            select_estimates(
                inputs.estimates,
                instrument=instrument,
                items=[v.name for v in variables if instrument in v.instruments],
                measure=measure,
                group="all",
            )
            for instrument in INSTRUMENTS
        ],
        ignore_index=True,
    )


def coordinators_by_authority_type(inputs: Inputs, variable: Variable, measure: str) -> pd.DataFrame:
    """The coordinators' estimate overall, then for each authority type, rows labelled."""
    parts = []
    for group, levels in (("all", None), ("authority_type", AUTHORITY_TYPES)):
        rows = select_estimates(
            inputs.estimates,
            instrument="coordinator",
            items=[variable.name],
            measure=measure,
            group=group,
            levels=levels,
        )
        parts.append(rows.assign(row=[level_label(group, level) for level in rows["level"]]))
    return pd.concat(parts, ignore_index=True)


def coordinators_against_partners(
    inputs: Inputs,
    variables: list[Variable],
    *,
    provenance: str,
    measure: str,
    subtitle: str,
    size: tuple[float, float],
) -> Figure:
    """One panel per item, a row per instrument: the report's coordinators-and-partners comparisons."""
    rows = by_respondent_type(inputs, variables, measure)
    rows["panel"] = ordered(rows["item_label"])
    rows["row"] = ordered([instrument_label(inputs.codebook, i) for i in rows["instrument"]])
    return estimate_figure(
        rows,
        config=inputs.config,
        title=f"{variables[0].label} (report {provenance})",
        subtitle=subtitle,
        population=respondents_population(inputs),
        size=size,
        colours=INSTRUMENT_COLOURS,
    )
