"""case_studies: how representative the 17 case-study LSPs were of the 388, from the frame alone.

Share of the case-study LSPs and of all LSPs in each authority type, tier, region and IMD 2007 quintile
(quintiles of the frame's mean LSOA score, so each holds a fifth of the frame). Frame characteristics
only: no survey answer of any LSP, case study or not, enters this figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    element_text,
    facet_wrap,
    geom_col,
    geom_text,
    ggplot,
    labs,
    position_dodge,
    scale_fill_manual,
    theme,
)

from pipeline.figures.common import (
    FRAME_SOURCE,
    FRAME_SOURCE_NOTE,
    TIER_LABELS,
    Figure,
    Inputs,
    authority_label,
    caption_text,
    plot_caption,
    theme_report,
)
from pipeline.study.vocabulary import AUTHORITY_TYPES

CASE_STUDY, ALL = "Case-study LSPs", "All LSPs in the frame"
PANELS = {
    "authority_type": "Authority type",
    "tier": "Tier",
    "region": "Region",
    "imd_quintile": "IMD 2007 quintile (frame quintiles of mean LSOA score)",
}
IMD = "imd2007_mean_lsoa_score_unweighted"
QUINTILES = ["1 least deprived", "2", "3", "4", "5 most deprived"]
SIZE = (10.0, 7.0)


def with_imd_quintile(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each LSP's IMD quintile: the fifth of the frame's score ranks it falls in.

    Rank r of N (ties broken in frame order) is in quintile ceil(5 r / N), so 388 LSPs split 77/78.
    """
    rank = pd.to_numeric(frame[IMD]).rank(method="first")
    quintile = np.ceil(rank * 5 / len(frame)).astype(int)
    return frame.assign(imd_quintile=quintile.map(dict(enumerate(QUINTILES, start=1))))


def case_study_table(frame: pd.DataFrame) -> pd.DataFrame:
    frame = with_imd_quintile(frame)
    cases = frame[frame["case_study_2008"].eq("true")]
    orders = {
        "authority_type": list(AUTHORITY_TYPES),
        "tier": list(TIER_LABELS),
        "region": sorted(frame["region"].unique()),
        "imd_quintile": QUINTILES,
    }
    rows = []
    for characteristic, levels in orders.items():
        for population, members in ((CASE_STUDY, cases), (ALL, frame)):
            counts = members[characteristic].value_counts()
            for level in levels:
                rows.append(
                    {
                        "characteristic": characteristic,
                        "level": level,
                        "population": population,
                        "lsps": int(counts.get(level, 0)),
                        "total": len(members),
                        "percent": 100 * counts.get(level, 0) / len(members),
                    }
                )
    return pd.DataFrame(rows)


def _label(characteristic: str, level: str) -> str:
    if characteristic == "authority_type":
        return authority_label(level)
    if characteristic == "tier":
        return TIER_LABELS[level]
    return level


def build(inputs: Inputs) -> Figure:
    config = inputs.config
    table = case_study_table(inputs.frame)
    drawn = table.assign(
        panel=pd.Categorical(table["characteristic"].map(PANELS), categories=list(PANELS.values())),
        level_label=[_label(c, lv) for c, lv in zip(table["characteristic"], table["level"], strict=True)],
        population=pd.Categorical(table["population"], categories=[CASE_STUDY, ALL]),
        label=[f"{n}" for n in table["lsps"]],
    )
    drawn["level_label"] = pd.Categorical(
        drawn["level_label"], categories=list(dict.fromkeys(drawn["level_label"]))
    )
    dodge = position_dodge(width=0.8)
    n_cases = int(table.loc[table["population"].eq(CASE_STUDY), "total"].iloc[0])
    plot = (
        ggplot(drawn, aes(x="level_label", y="percent", fill="population"))
        + geom_col(position=dodge, width=0.75)
        + geom_text(aes(label="label", y="percent + 1.5"), position=dodge, va="bottom", size=5)
        + facet_wrap("panel", scales="free_x", ncol=2)
        + scale_fill_manual(values={CASE_STUDY: "#E69F00", ALL: "#56B4E9"}, breaks=[CASE_STUDY, ALL])
        + labs(
            title=f"How representative were the {n_cases} case-study LSPs?",
            subtitle=f"Per cent of case-study LSPs and of all {inputs.n_lsps} LSPs in each group "
            "(labels: number of LSPs); "
            "frame characteristics only",
            caption=plot_caption(
                config,
                f"Source: {FRAME_SOURCE}; case studies as named in the Audit "
                "Commission's press notice (April 2009). Real frame data, no survey answers.",
                survey=False,
            ),
            x="",
            y="Per cent of LSPs",
            fill="",
        )
        + theme_report(SIZE)
        + theme(axis_text_x=element_text(angle=35, ha="right"))
    )
    caption = caption_text(
        config,
        population=f"the {inputs.n_lsps} LSPs in England and the 17 case-study LSPs of the 2008 study",
        n=f"{n_cases} case-study LSPs; {len(inputs.frame)} LSPs in the frame",
        weighting="none (frame counts)",
        source=FRAME_SOURCE_NOTE,
        survey=False,
    )
    return Figure(plot=plot, table=table, caption=caption, size=SIZE)
