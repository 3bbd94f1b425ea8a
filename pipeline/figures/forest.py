"""forest: tier and maturity differences in the share agreeing with every Likert item, both instruments.

From comparisons.csv: weighted, test "difference (design-based t)", measure "agree" — one mark per row
(multi-tier minus single-tier; more mature minus less mature), with its 95% CI, items grouped by 7S
element in codebook order. Filled marks are significant after Benjamini-Hochberg FDR control
(p_fdr < 0.05, within the analysis's families of tests); hollow marks are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    element_text,
    facet_grid,
    geom_point,
    geom_segment,
    ggplot,
    labs,
    scale_colour_manual,
    scale_fill_manual,
    scale_y_continuous,
    theme,
)

from pipeline.figures.common import (
    INSTRUMENT_COLOURS,
    WEIGHTED_NOTE,
    Figure,
    Inputs,
    caption_text,
    geom_vline_once,
    instrument_label,
    plot_caption,
    theme_report,
)
from pipeline.study.outcomes import COMPARED_GROUPS
from pipeline.study.vocabulary import INSTRUMENTS

TEST = "difference (design-based t)"
GROUPS = COMPARED_GROUPS
FDR_ALPHA = 0.05
SIZE = (10.0, 13.0)
OFFSET = {"coordinator": 0.18, "partner": -0.18}


def forest_rows(comparisons: pd.DataFrame, likert: list[str]) -> pd.DataFrame:
    """The comparisons the forest plot draws: every weighted t-test difference of a Likert item's agree."""
    return comparisons[
        comparisons["weighting"].eq("weighted")
        & comparisons["test"].eq(TEST)
        & comparisons["measure"].eq("agree")
        & comparisons["group"].isin(GROUPS)
        & comparisons["instrument"].isin(INSTRUMENTS)
        & comparisons["item"].isin(likert)
    ]


def build(inputs: Inputs) -> Figure:
    codebook, config = inputs.codebook, inputs.config
    likert = list(codebook.likert_items())
    rows = forest_rows(inputs.comparisons, [v.name for v in likert])
    # Items in codebook order within elements in codebook order; y counts down from the top.
    order = sorted(likert, key=lambda v: list(codebook.elements).index(v.element))
    position = {v.name: -k for k, v in enumerate(order)}
    comparison_label = {
        g: rows.loc[rows["group"].eq(g), "level"].iloc[0] for g in GROUPS if rows["group"].eq(g).any()
    }
    table = rows.assign(
        element_label=rows["element"].map(codebook.elements),
        comparison=rows["group"].map(comparison_label),
        respondents=[instrument_label(codebook, i) for i in rows["instrument"]],
        difference_points=rows["estimate"] * 100,
        ci_low_points=rows["ci_low"] * 100,
        ci_high_points=rows["ci_high"] * 100,
        significant_fdr=rows["p_fdr"].lt(FDR_ALPHA) & rows["suppressed"].eq(""),
        y=rows["item"].map(position) + rows["instrument"].map(OFFSET),
    )
    table["element_label"] = pd.Categorical(
        table["element_label"], categories=list(codebook.elements.values())
    )
    table["comparison"] = pd.Categorical(table["comparison"], categories=list(comparison_label.values()))
    shown = table[table["suppressed"].eq("")].copy()
    colours = {instrument_label(codebook, i): INSTRUMENT_COLOURS[i] for i in INSTRUMENTS}
    significance = np.where(shown["significant_fdr"], f"p (FDR) < {FDR_ALPHA}", "not significant")
    shown["significance"] = pd.Categorical(
        significance, categories=[f"p (FDR) < {FDR_ALPHA}", "not significant"]
    )
    shown["fill"] = np.where(shown["significant_fdr"], shown["respondents"], "white")
    labels = {position[v.name]: v.label for v in order}
    plot = (
        ggplot(shown, aes(y="y", colour="respondents"))
        + geom_vline_once(xintercept=0, colour="#444444", size=0.3)
        + geom_segment(aes(x="ci_low_points", xend="ci_high_points", yend="y"), size=0.6)
        + geom_point(aes(x="difference_points", shape="significance", fill="fill"), size=1.9, stroke=0.7)
        + facet_grid(rows="element_label", cols="comparison", scales="free_y", space="free_y")
        + scale_y_continuous(breaks=list(labels), labels=list(labels.values()), expand=(0, 0.6))
        + scale_colour_manual(values=colours, breaks=list(colours))
        + scale_fill_manual(values={**colours, "white": "white"}, guide=None)
        + scale_shape_for_significance()
        + labs(
            title="Tier and maturity differences in agreement, every Likert item",
            subtitle="Difference in weighted per cent agreeing (percentage points) with 95% CI; "
            "filled marks: significant after FDR control",
            caption=plot_caption(
                config,
                f"Source: Audit Commission LSP survey, 2008. Design-based t tests; Benjamini-Hochberg "
                f"within each family. Maturity: {config.maturity_primary.replace('_', ' ')} definition.\n"
                f"Comparisons with a group of fewer than {config.min_cell} answers are not shown.",
            ),
            x="Difference (percentage points)",
            y="",
            colour="",
            shape="",
        )
        + theme_report(SIZE)
        + theme(strip_text_y=element_text(size=6.5, angle=-90), axis_text_y=element_text(size=6.5))
    )
    out = table[
        [
            "instrument",
            "item",
            "item_label",
            "element",
            "group",
            "level",
            "weighting",
            "test",
            "n",
            "n_a",
            "n_b",
            "estimate",
            "ci_low",
            "ci_high",
            "p",
            "p_fdr",
            "significant_fdr",
            "suppressed",
        ]
    ]
    n_text = "; ".join(
        f"{instrument_label(codebook, i)}, {g}: n = {int(n)} (largest base over items)"
        for (i, g), n in table.groupby(["instrument", "group"], sort=False)["n"].max().items()
    )
    caption = caption_text(
        config,
        population=f"LSP coordinators (for the {inputs.n_lsps} LSPs) and board partners",
        n=n_text,
        weighting=WEIGHTED_NOTE + "; design-based t tests, BH-FDR within each family of tests",
    )
    return Figure(plot=plot, table=out.reset_index(drop=True), caption=caption, size=SIZE)


def scale_shape_for_significance():
    from plotnine import scale_shape_manual

    return scale_shape_manual(values=["o", "o"], guide=None)
