"""Disclosure control applied to every estimate table before it is written.

The rule (config ``disclosure.min_cell``, 5): no published number may rest on fewer than ``min_cell``
respondents. A row whose unweighted base is below the threshold loses its base and every statistic
(primary suppression). Where a breakdown's levels add up to a published total, one suppressed level
could be recovered by subtraction, so the next-smallest level of that breakdown is suppressed too
(secondary suppression). Every suppressed row says why in the ``suppressed`` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRIMARY = "primary: fewer than {min_cell} respondents"
SECONDARY = "secondary: would reveal a suppressed level by subtraction from the total"


def suppress(
    table: pd.DataFrame,
    min_cell: int,
    statistic_columns: list[str],
    margin_keys: list[str],
    level_column: str = "level",
    total_level: str = "all",
    base_column: str = "n",
) -> pd.DataFrame:
    """Blank every statistic that rests on too few respondents, and whatever would reveal it.

    Parameters
    ----------
    table
        Tidy estimates, one row per estimate, with an unweighted base column.
    min_cell
        The smallest base that may be published.
    statistic_columns
        Columns blanked in a suppressed row (the base itself is always blanked).
    margin_keys
        Columns that identify one breakdown: the rows sharing them partition the respondents whose
        total is published in the row with ``level == total_level`` (when there is one).
    """
    result = table.copy()
    base = result[base_column].astype("Float64")
    primary = base.notna() & (base < min_cell)
    secondary = pd.Series(False, index=result.index)
    if margin_keys:
        levels = result[~result[level_column].eq(total_level)]
        keys = [levels[key].astype("string").fillna("<NA>") for key in margin_keys]
        hidden_in_group = primary[levels.index].groupby(keys, sort=False).transform("sum")
        # One hidden level and its siblings published: hide the smallest published sibling too.
        candidates = base[levels.index].where(~primary[levels.index] & hidden_in_group.eq(1))
        smallest = candidates.dropna().groupby([key[candidates.notna()] for key in keys], sort=False).idxmin()
        secondary[smallest.to_numpy()] = True
    reason = np.where(primary, PRIMARY.format(min_cell=min_cell), np.where(secondary, SECONDARY, ""))
    result["suppressed"] = pd.array(reason, dtype="string").astype("string")
    hidden = primary | secondary
    for column in [base_column, *statistic_columns]:
        if column in result:
            result[column] = result[column].astype("Float64").mask(hidden)
    return result


def blank_small_cells(
    table: pd.DataFrame,
    count_column: str,
    min_cell: int,
    blanked_columns: list[str],
    empty_is_small: bool = True,
) -> pd.DataFrame:
    """Primary suppression of a table whose cells are counted, not estimated (a figure's plotted counts).

    A row counting fewer than ``min_cell`` respondents is blanked in ``blanked_columns`` and says why in
    ``suppressed``. ``empty_is_small=False`` keeps rows that count nobody: a zero reveals no respondent
    (the coverage figure shows authority types and regions with no respondents).
    """
    counts = table[count_column]
    small = counts < min_cell if empty_is_small else counts.between(1, min_cell - 1)
    table["suppressed"] = np.where(small, PRIMARY.format(min_cell=min_cell), "")
    table.loc[small, blanked_columns] = np.nan
    return table
