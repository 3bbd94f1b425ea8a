"""coverage: who answered, against the frame of 388 LSPs, by authority type and by region.

Coordinators: responding LSPs over LSPs in the frame (one coordinator per LSP). Partners: LSPs with at
least one responding board partner over LSPs in the frame, with the number of partner respondents.
Counts from the analysis base and the frame; a response count of 1 to min_cell - 1 is suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    facet_wrap,
    geom_col,
    geom_text,
    ggplot,
    labs,
    position_dodge,
    scale_fill_manual,
    scale_y_continuous,
)

from pipeline.figures.common import (
    FRAME_SOURCE,
    FRAME_SOURCE_NOTE,
    INSTRUMENT_COLOURS,
    SOURCE,
    Figure,
    Inputs,
    authority_label,
    caption_text,
    instrument_label,
    plot_caption,
    theme_report,
)
from pipeline.study.response import BREAKDOWNS, coverage_table
from pipeline.study.vocabulary import AUTHORITY_TYPES, INSTRUMENTS

SIZE = (10.0, 5.5)


def build(inputs: Inputs) -> Figure:
    codebook, config = inputs.codebook, inputs.config
    table = coverage_table(inputs.answers(BREAKDOWNS), inputs.frame, config.min_cell)
    labels = {i: instrument_label(codebook, i) for i in INSTRUMENTS}
    shown = table[table["suppressed"].eq("")].assign(
        respondents_label=lambda t: t["instrument"].map(labels),
        panel=lambda t: pd.Categorical(t["breakdown"].map(BREAKDOWNS), categories=list(BREAKDOWNS.values())),
        level_label=lambda t: np.where(
            t["breakdown"].eq("authority_type"), t["level"].map(authority_label), t["level"]
        ),
        percent=lambda t: 100 * t["response_rate"],
        label=lambda t: [
            f"{int(r)}/{int(f)}" for r, f in zip(t["lsps_responding"], t["lsps_in_frame"], strict=True)
        ],
    )
    shown["respondents_label"] = pd.Categorical(shown["respondents_label"], categories=list(labels.values()))
    order = [authority_label(a) for a in AUTHORITY_TYPES] + sorted(inputs.frame["region"].unique())
    shown["level_label"] = pd.Categorical(shown["level_label"], categories=order)
    colours = {labels[i]: INSTRUMENT_COLOURS[i] for i in INSTRUMENTS}
    dodge = position_dodge(width=0.8)
    plot = (
        ggplot(shown, aes(x="level_label", y="percent", fill="respondents_label"))
        + geom_col(position=dodge, width=0.75)
        + geom_text(aes(label="label", y="percent + 2"), position=dodge, va="bottom", angle=90, size=5.5)
        + facet_wrap("panel", scales="free_x", nrow=1)
        + scale_fill_manual(values=colours, breaks=list(colours))
        + scale_y_continuous(limits=(0, 115), breaks=[0, 25, 50, 75, 100])
        + labs(
            title=f"Survey coverage against the frame of {inputs.n_lsps} LSPs",
            subtitle="Per cent of LSPs in the frame with a responding coordinator / with at least one "
            "responding board partner\n"
            "(labels: LSPs responding / in frame; partner respondents per group in the CSV)",
            caption=plot_caption(config, f"Sources: {SOURCE}; {FRAME_SOURCE}. Unweighted counts."),
            x="",
            y="Per cent of LSPs",
            fill="",
        )
        + theme_report(SIZE)
        + theme_axis_rotated()
    )
    # Distinct respondents: the table counts each respondent once per breakdown (type, tier, region).
    totals = inputs.respondents["respondent_type"].value_counts()
    caption = caption_text(
        config,
        population=f"the {inputs.n_lsps} LSPs in England (frame) and the survey's respondents",
        n="; ".join(f"{labels[i]}: {int(totals[i])}" for i in INSTRUMENTS)
        + f"; LSPs in frame: {len(inputs.frame)}",
        weighting="none (counts and response rates)",
        source=f"{SOURCE}; {FRAME_SOURCE_NOTE}",
    )
    return Figure(plot=plot, table=table, caption=caption, size=SIZE)


def theme_axis_rotated():
    from plotnine import element_text, theme

    return theme(axis_text_x=element_text(angle=35, ha="right"))
