"""maturity_profile: the 7S scale means by maturity level, both instruments, with 95% CIs (estimates.csv).

Each element's maturity split is the primary definition's (for the composite definition, the one that
leaves the element out, as in the analysis).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    facet_wrap,
    geom_point,
    geom_segment,
    ggplot,
    labs,
    scale_colour_manual,
    scale_y_continuous,
)

from pipeline.figures.common import (
    ESTIMATE_KEYS,
    ESTIMATE_VALUES,
    WEIGHTED_NOTE,
    Figure,
    Inputs,
    caption_text,
    instrument_label,
    plot_caption,
    select_estimates,
    theme_report,
)
from pipeline.study.vocabulary import INSTRUMENTS, LESS_MATURE, MORE_MATURE, scale_column

LEVELS = (MORE_MATURE, LESS_MATURE)
SIZE = (9.0, 5.0)
OFFSET = {MORE_MATURE: 0.15, LESS_MATURE: -0.15}
COLOURS = {MORE_MATURE.capitalize(): "#009E73", LESS_MATURE.capitalize(): "#CC79A7"}


def build(inputs: Inputs) -> Figure:
    codebook, config = inputs.codebook, inputs.config
    items = [scale_column(element) for element in codebook.elements]
    rows = pd.concat(
        [
            select_estimates(
                inputs.estimates, instrument=i, items=items, measure="mean", group="maturity", levels=LEVELS
            )
            for i in INSTRUMENTS
        ],
        ignore_index=True,
    )
    position = {item: -k for k, item in enumerate(items)}
    rows = rows.assign(
        panel=[instrument_label(codebook, i) for i in rows["instrument"]],
        maturity=rows["level"].str.capitalize(),
        element_label=rows["item"].str.removeprefix("scale_").map(codebook.elements),
        y=rows["item"].map(position) + rows["level"].map(OFFSET),
    )
    shown = rows[rows["suppressed"].eq("")]
    plot = (
        ggplot(shown, aes(y="y", colour="maturity"))
        + geom_segment(aes(x="ci_low", xend="ci_high", yend="y"), size=0.7)
        + geom_point(aes(x="estimate"), size=2.2)
        + facet_wrap("panel", nrow=1)
        + scale_y_continuous(
            breaks=list(position.values()), labels=[codebook.elements[e] for e in codebook.elements]
        )
        + scale_colour_manual(values=COLOURS, breaks=list(COLOURS))
        + labs(
            title="7S scale scores by maturity",
            subtitle=f"Weighted mean scale score (1 = strongly disagree ... 5 = strongly agree) with 95% CI; "
            f"maturity: {config.maturity_primary.replace('_', ' ')} definition",
            caption=plot_caption(
                config,
                f"Source: Audit Commission LSP survey, 2008. Weighted. "
                f"Cells with fewer than {config.min_cell} answers are not shown.",
            ),
            x="Mean scale score",
            y="",
            colour="",
        )
        + theme_report(SIZE)
    )
    table = rows[["panel", "element_label", *ESTIMATE_KEYS, *ESTIMATE_VALUES, "suppressed"]]
    n_text = "; ".join(
        f"{p}, {m}: n = {'suppressed' if np.isnan(n) else int(n)}"
        for p, m, n in zip(
            rows["panel"], rows["level"], rows.groupby(["panel", "level"])["n"].transform("max"), strict=True
        )
    )
    n_text = "; ".join(dict.fromkeys(n_text.split("; ")))
    caption = caption_text(
        config,
        population=f"LSP coordinators (for the {inputs.n_lsps} LSPs) and board partners",
        n=n_text + " (largest base)",
        weighting=WEIGHTED_NOTE,
    )
    return Figure(plot=plot, table=table.reset_index(drop=True), caption=caption, size=SIZE)
