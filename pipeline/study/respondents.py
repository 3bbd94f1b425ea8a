"""Both instruments, or the run stops: an instrument with no rows is refused in one line naming the file.

Every table weights, compares or models coordinators and partners, so an instrument with no respondents is
not a smaller survey but a broken input: a header-only export, a config that lists no file for it (a
pasted second ``inputs:`` used to do that), or every row rejected. Left alone it passed ingest, validate
and derive with exit status 0 and broke analyse with a traceback in the design weights. Ingest refuses it
first (``refuse_empty_instruments``); every later stage reads its instrument tables through the readers
here, which refuse it again if handed such a file (a file written by another tool or an older run).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.memory import release_free_memory
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.study.vocabulary import INSTRUMENTS

# The column of the analysis base that says which instrument a row answered.
RESPONDENT_TYPE = "respondent_type"
NEEDS_BOTH = "every table needs both instruments"


def refuse_empty_instruments(rows: Mapping[str, int], source: Callable[[str], str]) -> None:
    """Stop at the first instrument (in ``INSTRUMENTS`` order) with no rows; ``source(instrument)`` says
    where its rows came from (a file, or why there is none), for the one-line error."""
    for instrument in INSTRUMENTS:
        if rows.get(instrument, 0) == 0:
            raise PipelineError(f"{source(instrument)}: no {instrument} rows; {NEEDS_BOTH}")


def read_instrument_table(path: Path, instrument: str, make_target: str) -> pd.DataFrame:
    """One instrument's table (ingest's or validate's parquet), refused if missing or without rows."""
    if not path.exists():
        raise PipelineError(
            f"{relative_to_root(path)}: not found; run `{rebuild_command(make_target)}` first"
        )
    table = pd.read_parquet(path)
    refuse_empty_instruments({instrument: len(table)} | _others(instrument), _named(path))
    return table


def read_analysis_base(
    path: Path, unread: Collection[str] = (), only: Collection[str] | None = None
) -> pd.DataFrame:
    """The analysis base (derive's output), refused if missing or without rows of either instrument;
    without its columns named in `unread`, and with `only` given just those of its columns (a stage that
    never reads the others need not hold them)."""
    if not path.exists():
        raise PipelineError(f"{relative_to_root(path)}: not found; run `{rebuild_command('derive')}` first")
    if unread or only is not None:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        columns = [c for c in names if c not in set(unread) and (only is None or c in set(only))]
        base = pd.read_parquet(path, columns=columns)
    else:
        base = pd.read_parquet(path)
    # Arrow keeps the pages it decoded the file into for reuse; the frame no longer needs them (about
    # 280 MB of a process's peak at 1000x the bundled survey).
    release_free_memory(heap=False)
    check_analysis_base(base, relative_to_root(path))
    return base


def check_analysis_base(base: pd.DataFrame, name: str = "the analysis base") -> None:
    """Refuse an analysis base without rows of either instrument (or without the column that says)."""
    if RESPONDENT_TYPE not in base.columns:
        raise PipelineError(
            f"{name}: no {RESPONDENT_TYPE} column; run `{rebuild_command('derive')}` to rebuild it"
        )
    counts = base[RESPONDENT_TYPE].value_counts()
    refuse_empty_instruments({i: int(counts.get(i, 0)) for i in INSTRUMENTS}, _named(name))


def check_table_instruments(table: pd.DataFrame, name: str) -> None:
    """Refuse a table with an ``instrument`` column (the estimates) that holds no row of one instrument:
    the report and the spreadsheets read only tables, and would publish one instrument's half as the
    whole."""
    counts = table["instrument"].value_counts() if "instrument" in table.columns else pd.Series(dtype=int)
    refuse_empty_instruments({i: int(counts.get(i, 0)) for i in INSTRUMENTS}, _named(name))


def _others(instrument: str) -> dict[str, int]:
    # A file holds one instrument: the others are not its business.
    return {other: 1 for other in INSTRUMENTS if other != instrument}


def _named(where: Path | str) -> Callable[[str], str]:
    name = relative_to_root(where) if isinstance(where, Path) else where
    return lambda instrument: name
