"""nonresponse: response rate of the LSPs in each level of every categorical frame variable, for
coordinators (the coordinator answered) and for partners (at least one board partner answered), with the
overall rate as a dashed line. Counts of the frame and of the survey's respondents; no answer enters.

A level with fewer than ``disclosure.min_cell`` responding LSPs is not drawn (its rate would tell which
LSPs answered).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from plotnine import (
    aes,
    coord_flip,
    facet_grid,
    geom_hline,
    geom_point,
    ggplot,
    labs,
    scale_colour_manual,
)

from pipeline.figures.common import (
    FRAME_SOURCE,
    INSTRUMENT_COLOURS,
    SOURCE,
    Figure,
    Inputs,
    caption_text,
    plot_caption,
    theme_report,
)
from pipeline.study.weighting import CATEGORICAL_FRAME_VARIABLES, frame_variables

SIZE = (9.0, 8.0)
LABELS = {"coordinator": "Coordinator answered", "partner": "At least one partner answered"}
PANELS = {
    "authority_type": "Authority type",
    "tier": "Tier",
    "region": "Region",
    "laa_round": "LAA round",
    "imd_band": "IMD 2007 band",
    "case_study": "Case study",
}


def response_table(base: pd.DataFrame, frame: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """One row per instrument, frame variable and level: LSPs, responding LSPs, response rate (%)."""
    lsps = frame_variables(frame)
    # Each variable's levels coded once, in sorted order (the order of the rows), and counted by code: one
    # pass over the frame per variable rather than one per level (388,000 LSPs at Place-Survey size).
    coded = {}
    for variable in CATEGORICAL_FRAME_VARIABLES:
        codes, levels = pd.factorize(lsps[variable].astype(str), sort=True)
        coded[variable] = (codes, [str(level) for level in levels], np.bincount(codes, minlength=len(levels)))
    # Which LSPs answered, matched by id in Arrow (several times faster than hashing Python strings).
    frame_ids = pa.array(lsps["lsp_id"].astype(str))
    rows = []
    for instrument in LABELS:
        ids = base.loc[base["respondent_type"] == instrument, "lsp_id"].astype(str)
        flags = pc.is_in(frame_ids, value_set=pa.array(ids)).to_numpy(zero_copy_only=False).astype(bool)
        overall = 100 * pd.Series(flags).mean()
        for variable in CATEGORICAL_FRAME_VARIABLES:
            codes, levels, members = coded[variable]
            answering = np.bincount(codes[flags], minlength=len(levels))
            for level, in_frame, in_answering in zip(levels, members, answering, strict=True):
                lsps_in_level, responding = int(in_frame), int(in_answering)
                shown = responding >= min_cell or responding == 0
                rows.append(
                    {
                        "instrument": instrument,
                        "variable": variable,
                        "level": level,
                        "frame_lsps": lsps_in_level,
                        "responding_lsps": responding if shown else float("nan"),
                        "response_rate": 100 * responding / lsps_in_level if shown else float("nan"),
                        "overall_rate": overall,
                        "suppressed": "" if shown else f"primary: fewer than {min_cell} responding LSPs",
                    }
                )
    return pd.DataFrame(rows)


def build(inputs: Inputs) -> Figure:
    config = inputs.config
    table = response_table(inputs.respondents, inputs.frame, config.min_cell)
    drawn = table[table["response_rate"].notna()].assign(
        panel=lambda t: pd.Categorical(t["variable"].map(PANELS), categories=list(PANELS.values())),
        who=lambda t: pd.Categorical(t["instrument"].map(LABELS), categories=list(LABELS.values())),
        level_label=lambda t: t["level"].str.replace("_", " "),
    )
    overall = drawn.drop_duplicates("instrument")[["who", "overall_rate"]]
    colours = {LABELS[k]: v for k, v in INSTRUMENT_COLOURS.items()}
    plot = (
        ggplot(drawn, aes(x="level_label", y="response_rate", colour="who"))
        + geom_hline(aes(yintercept="overall_rate", colour="who"), data=overall, linetype="dashed", size=0.4)
        + geom_point(size=2)
        + coord_flip()
        + facet_grid("panel ~ .", scales="free_y", space="free_y")
        + scale_colour_manual(values=colours, breaks=list(LABELS.values()))
        + labs(
            title=f"Who answered? Response of the {inputs.n_lsps} LSPs by frame characteristic",
            subtitle="Per cent of the frame's LSPs in each group whose coordinator answered, or from which\n"
            "at least one board partner answered; dashed lines: all LSPs",
            caption=plot_caption(config, f"Source: {SOURCE}; {FRAME_SOURCE}."),
            x="",
            y="Response rate (%)",
            colour="",
        )
        + theme_report(SIZE)
    )
    respondents = inputs.respondents
    n_coord = int(respondents["respondent_type"].eq("coordinator").sum())
    n_lsps = respondents.loc[respondents["respondent_type"].eq("partner"), "lsp_id"].nunique()
    caption = caption_text(
        config,
        population=f"the {inputs.n_lsps} LSPs of the 2008 frame",
        n=f"{n_coord} LSPs whose coordinator answered; {n_lsps} LSPs with a partner respondent; "
        f"{inputs.n_lsps} in the frame",
        weighting="none (counts of the frame and of responding LSPs)",
    )
    return Figure(plot=plot, table=table, caption=caption, size=SIZE)
