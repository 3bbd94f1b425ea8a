"""likert_<element>_tier and likert_<element>_maturity: the Likert items of one 7S element, diverging bars.

Weighted percentages straight from the analysis base (not from estimates.csv, which holds only the
share agreeing): for each instrument, group level and item, the weighted share of each answer 1-5 among
substantive answers, and separately the weighted share answering "don't know" among everyone asked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook, Variable
from pipeline.figures.common import (
    DONT_KNOW,
    WEIGHTED_NOTE,
    Figure,
    Inputs,
    caption_text,
    diverging_likert,
    instrument_label,
    level_label,
    n_label,
    plot_caption,
)
from pipeline.study.designs import WEIGHT
from pipeline.study.disclosure import blank_small_cells
from pipeline.study.outcomes import GROUP_LEVELS
from pipeline.study.vocabulary import INSTRUMENTS

DONT_KNOW_CODE = -8
SIZE = (9.0, 9.5)


def likert_table(
    base: pd.DataFrame, codebook: Codebook, items: list[Variable], column: str, levels: tuple[str, ...]
) -> pd.DataFrame:
    """Weighted shares of each answer, by instrument, level and item: the numbers the figure plots.

    ``percentage`` of a code 1-5 is its share of substantive answers; of "don't know" its share of
    everyone asked (substantive answers plus don't know), so the five substantive shares sum to 100.
    """
    rows = []
    # The group's labels worked out once, on its distinct values (the same text as converting every row),
    # and each row's code; each instrument's rows as a mask: per instrument and level, the arrays below are
    # the same, in the same order, as selecting those rows of the frame first, so the sums are too.
    group_codes, distinct = pd.factorize(base[column])
    group_labels = pd.Series(distinct).astype("string")
    respondent_type, every_weight = base["respondent_type"], base[WEIGHT].to_numpy(dtype=float)
    # Each answer column as floats once (a missing answer is NaN), then sliced per instrument and level.
    floats: dict[str, np.ndarray] = {}
    for instrument in INSTRUMENTS:
        mine = respondent_type.eq(instrument).to_numpy(dtype=bool)
        codes = group_codes[mine]
        asked_items = [variable for variable in items if instrument in variable.instruments]
        answers = {}
        for variable in asked_items:
            if variable.name not in floats:
                floats[variable.name] = (
                    base[variable.name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
                )
            answers[variable.name] = floats[variable.name][mine]
        all_weights = every_weight[mine]
        for level in levels:
            matching = np.flatnonzero(group_labels.eq(level).fillna(False).to_numpy(dtype=bool))
            in_level = np.isin(codes, matching)
            weights = all_weights[in_level]
            for variable in asked_items:
                values = answers[variable.name][in_level]
                substantive = np.isin(values, list(variable.codes))
                asked = substantive | (values == DONT_KNOW_CODE)
                # The substantive answers' values and weights, selected once for every code's share: the
                # same elements in the same order as selecting them per code, so the same sums.
                substantive_values, substantive_weights = values[substantive], weights[substantive]
                substantive_total = substantive_weights.sum()
                common = {
                    "instrument": instrument,
                    "group_level": level,
                    "item": variable.name,
                    "item_label": variable.label,
                    "respondents": int(in_level.sum()),
                }
                for code in variable.codes:
                    rows.append(
                        common
                        | {
                            "category": str(code),
                            "category_label": variable.codes[code],
                            "n": int(substantive.sum()),
                            "percentage": _share(
                                substantive_weights[substantive_values == code].sum(), substantive_total
                            ),
                        }
                    )
                rows.append(
                    common
                    | {
                        "category": DONT_KNOW,
                        "category_label": codebook.missing_codes[DONT_KNOW_CODE],
                        "n": int(asked.sum()),
                        "percentage": _weighted_share(weights, values == DONT_KNOW_CODE, asked),
                    }
                )
    return pd.DataFrame(rows)


def _weighted_share(weights: np.ndarray, hit: np.ndarray, among: np.ndarray) -> float:
    return _share(weights[among & hit].sum(), weights[among].sum())


def _share(part: float, total: float) -> float:
    """``part`` as a per cent of ``total`` (NaN when nobody answered)."""
    return float(100.0 * part / total) if total > 0 else float("nan")


def build(inputs: Inputs, element: str, group: str) -> Figure:
    codebook, config = inputs.codebook, inputs.config
    items = list(codebook.likert_items())
    items = [v for v in items if v.element == element]
    column = inputs.group_column(group, element)
    levels = GROUP_LEVELS[group]
    table = likert_table(inputs.answers([column, *(v.name for v in items)]), codebook, items, column, levels)
    table = blank_small_cells(table, "n", config.min_cell, ["n", "percentage"])
    # Segment positions are part of what is plotted, so they go in the CSV too.
    table["facet"] = [
        n_label(f"{instrument_label(codebook, i)}: {level_label(group, lv)}", r)
        for i, lv, r in zip(table["instrument"], table["group_level"], table["respondents"], strict=True)
    ]
    shown = table[table["suppressed"].eq("")]
    substantive = shown[shown["category"].ne(DONT_KNOW)]
    codes = list(next(iter(items)).codes)
    agree = [str(c) for c in codebook.agree_codes]
    disagree = [str(c) for c in codes if c < min(codebook.agree_codes) - 1]
    net = (
        substantive.assign(
            signed=np.where(
                substantive["category"].isin(agree),
                substantive["percentage"],
                np.where(substantive["category"].isin(disagree), -substantive["percentage"], 0.0),
            )
        )
        .groupby("item_label", sort=False)["signed"]
        .sum()
        / substantive.groupby("item_label", sort=False)["facet"].nunique()
    )
    # Sorted by net agreement averaged over the facets: most agreed-with at the top (last category).
    item_order = list(net.sort_values(kind="stable").index)
    facet_order = list(dict.fromkeys(table["facet"]))
    plotted = shown.assign(
        # Two-line strip labels: the facet strips run down the right edge.
        group=pd.Categorical(
            shown["facet"].str.replace(": ", ":\n", n=1),
            categories=[facet.replace(": ", ":\n", 1) for facet in facet_order],
        ),
        item=pd.Categorical(shown["item_label"], categories=item_order),
    )
    plotted = plotted.assign(
        category=plotted["category"].map(lambda c: c if c == DONT_KNOW else int(c)).astype(object)
    )
    n_text = "; ".join(dict.fromkeys(table["facet"]))
    element_label = codebook.elements[element]
    group_title = "tier" if group == "tier" else f"maturity ({config.maturity_primary.replace('_', ' ')})"
    plot = diverging_likert(
        plotted[["group", "item", "category", "percentage"]],
        category_labels=next(iter(items)).codes,
        dont_know_label=codebook.missing_codes[DONT_KNOW_CODE],
        title=f"{element_label}: answers by {group_title}",
        subtitle="Weighted per cent of substantive answers, items sorted by net agreement;\n"
        '"don\'t know" shown aside, as a per cent of everyone asked',
        caption=plot_caption(
            config,
            f"Source: Audit Commission LSP survey, 2008. Design-weighted. "
            f"Cells with fewer than {config.min_cell} answers are not shown.",
        ),
        size=SIZE,
    )
    segments = _segments(plotted, codes)
    out = table.merge(segments, on=["facet", "item_label", "category"], how="left")
    out = out[
        [
            "instrument",
            "group_level",
            "facet",
            "item",
            "item_label",
            "category",
            "category_label",
            "respondents",
            "n",
            "percentage",
            "segment_start",
            "segment_end",
            "suppressed",
        ]
    ]
    out.insert(1, "group", group)
    out.insert(0, "element", element)
    caption = caption_text(
        config,
        population=f"LSP coordinators (answering for the {inputs.n_lsps} LSPs in England) and board partners",
        n=n_text,
        weighting=WEIGHTED_NOTE,
    )
    return Figure(plot=plot, table=out, caption=caption, size=SIZE)


def _segments(plotted: pd.DataFrame, codes: list[int]) -> pd.DataFrame:
    from pipeline.figures.common import likert_segments

    substantive = plotted[plotted["category"].ne(DONT_KNOW)].astype({"category": int})
    segments = likert_segments(substantive, codes).rename(
        columns={"group": "facet", "item": "item_label", "start": "segment_start", "end": "segment_end"}
    )
    segments = segments.astype({"facet": str, "item_label": str})
    segments["facet"] = segments["facet"].str.replace(":\n", ": ", n=1)
    segments["category"] = segments["category"].astype(str)
    dont_know = plotted[plotted["category"].eq(DONT_KNOW)]
    aside = pd.DataFrame(
        {
            "facet": dont_know["facet"].astype(str),
            "item_label": dont_know["item_label"].astype(str),
            "category": DONT_KNOW,
            "segment_start": 0.0,
            "segment_end": dont_know["percentage"].to_numpy(dtype=float),
        }
    )
    return pd.concat([segments, aside], ignore_index=True)
