"""Who answered against the frame: response counts and rates of both instruments, by authority type and by
region, with small counts suppressed.

Two stages show these numbers: the coverage figure plots them (pipeline/figures/coverage.py) and the
report's response table prints them (pipeline.stages.report.table_export writes it for the page and the
workbooks). Both compute them here, from the analysis base and the frame, so neither waits for the other.
"""

from __future__ import annotations

import pandas as pd

from pipeline.study.disclosure import blank_small_cells
from pipeline.study.vocabulary import AUTHORITY_TYPES, INSTRUMENTS

BREAKDOWNS = {"authority_type": "By authority type", "region": "By region"}


def coverage_table(base: pd.DataFrame, frame: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Response counts and rates of both instruments by authority type and by region (frame order).

    Coordinators: responding LSPs over LSPs in the frame (one coordinator per LSP). Partners: LSPs with at
    least one responding board partner over LSPs in the frame, with the number of partner respondents. A
    response count of 1 to ``min_cell`` - 1 is suppressed."""
    rows = []
    for breakdown in BREAKDOWNS:
        levels = list(AUTHORITY_TYPES) if breakdown == "authority_type" else sorted(frame[breakdown].unique())
        in_frame = frame[breakdown].value_counts()
        for instrument in INSTRUMENTS:
            respondents = base[base["respondent_type"].eq(instrument)]
            lsps = respondents.groupby(breakdown)["lsp_id"].nunique()
            people = respondents[breakdown].value_counts()
            for level in levels:
                rows.append(
                    {
                        "instrument": instrument,
                        "breakdown": breakdown,
                        "level": level,
                        "lsps_in_frame": int(in_frame.get(level, 0)),
                        "lsps_responding": int(lsps.get(level, 0)),
                        "respondents": int(people.get(level, 0)),
                    }
                )
    table = pd.DataFrame(rows)
    table["response_rate"] = table["lsps_responding"] / table["lsps_in_frame"]
    blanked = ["lsps_responding", "respondents", "response_rate"]
    return blank_small_cells(table, "respondents", min_cell, blanked, empty_is_small=False)
