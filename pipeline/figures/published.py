"""published: every published survey number beside our estimate and its 95% CI.

From published_vs_reproduced.csv (the analyse stage): the rows compared with a published percentage or
a published range (bounds such as "fewer than half", "about a third"). The report's direction findings
(multi-tier further behind, more mature further ahead) are differences, not percentages; they stay in the
report's table and are not drawn here. The published value is the Audit Commission's; our estimate is
whatever data the pipeline ran on, so the figure marks which is which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    geom_errorbarh,
    geom_point,
    geom_segment,
    ggplot,
    labs,
    scale_colour_manual,
    scale_x_continuous,
)

from pipeline.core.errors import PipelineError
from pipeline.figures.common import (
    WEIGHTED,
    WEIGHTED_NOTE,
    Figure,
    Inputs,
    caption_text,
    plot_caption,
    theme_report,
)

OURS, PUBLISHED, RANGE = "Our estimate (95% CI)", "Published value", "Published range"
COLOURS = {OURS: "#0072B2", PUBLISHED: "#D55E00", RANGE: "#E69F00"}
SIZE = (10.0, 9.0)
COLUMNS = [
    "published_id",
    "quantity_key",
    "quantity",
    "instrument",
    "published",
    "published_value",
    "bounds_low",
    "bounds_high",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "published_in_ci",
]


def _bounds(bounds: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'33.4-40' -> (33.4, 40.0); empty -> NaN. Bounds are percentages, never negative here."""
    parts = bounds.fillna("").astype(str).str.extract(r"^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$")
    return parts[0].astype(float), parts[1].astype(float)


def published_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The compared percentage rows: a published value or a published range, and a shown estimate."""
    low, high = _bounds(table["bounds"])
    rows = table.assign(bounds_low=low, bounds_high=high)
    rows = rows[
        rows["status"].eq("compared")
        & rows["value_basis"].ne("direction")
        & (rows["published_value"].notna() | rows["bounds_low"].notna())
        & rows["estimate"].notna()
    ]
    if rows.empty:
        raise PipelineError("published_vs_reproduced.csv has no compared percentage rows to draw")
    return rows[COLUMNS].reset_index(drop=True)


def build(inputs: Inputs) -> Figure:
    config = inputs.config
    table = published_rows(inputs.published)
    # The quantity's own words, cut to three lines; the published wording is in the CSV and the report.
    wrapped = [_wrap(quantity, width=58, lines=3) for quantity in table["quantity"]]
    # Rows top to bottom in the table's order.
    row = pd.Categorical(wrapped, categories=list(reversed(list(dict.fromkeys(wrapped)))), ordered=True)
    data = table.assign(row=row, legend=OURS)
    points = data[data["published_value"].notna()].assign(legend=PUBLISHED)
    ranges = data[data["bounds_low"].notna()].assign(legend=RANGE)
    inside = int(table["published_in_ci"].astype(str).str.lower().eq("true").sum())
    subtitle = (
        f"{len(table)} published survey numbers; the published value or range meets our 95% CI in {inside}.\n"
        "Per cent of respondents. Ranges stand for the report's wording (e.g. 'fewer than half')."
    )
    population = (
        f"LSP coordinators (finite population of {inputs.n_lsps} LSPs) and board partners (clustered in LSPs)"
    )
    caption_body = (
        f"Our estimates: {WEIGHTED};\nlogit-scale 95% CIs. Published values: Audit Commission (2009), "
        "Working better together?, paras 57-128, Figures 12, 16, 17."
    )
    plot = (
        ggplot(data, aes(y="row"))
        + geom_segment(
            ranges,
            aes(x="bounds_low", xend="bounds_high", y="row", yend="row", colour="legend"),
            size=4,
            alpha=0.45,
        )
        + geom_errorbarh(aes(xmin="ci_low", xmax="ci_high", colour="legend"), height=0.3, size=0.6)
        + geom_point(aes(x="estimate", colour="legend"), shape="o", size=2.2)
        + geom_point(points, aes(x="published_value", colour="legend"), shape="D", size=2.6)
        + scale_colour_manual(values=COLOURS, breaks=list(COLOURS))
        + scale_x_continuous(limits=(0, 100), breaks=list(range(0, 101, 20)))
        + labs(
            title="Published survey numbers and our reproduction",
            subtitle=subtitle,
            caption=plot_caption(config, caption_body),
            x="Per cent",
            y="",
            colour="",
        )
        + theme_report(SIZE)
    )
    caption = caption_text(
        config,
        population=population,
        n=f"{int(np.nanmin(table['n']))} to {int(np.nanmax(table['n']))} respondents per estimate",
        weighting=WEIGHTED_NOTE,
        source="our estimates: the survey data the pipeline read; published values: Audit Commission (2009)",
    )
    return Figure(plot, table, caption, SIZE)


def _wrap(text: str, width: int, lines: int) -> str:
    """Word-wrap to ``width`` characters; past ``lines`` lines the rest becomes an ellipsis."""
    wrapped, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            wrapped.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    wrapped.append(line)
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], wrapped[lines - 1].rstrip(",;") + " ..."]
    return "\n".join(wrapped)
