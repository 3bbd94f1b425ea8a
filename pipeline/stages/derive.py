"""Derive stage: the analysis base — frame variables, 7S scales with their reliability, maturity definitions.

Reads the validated responses of both instruments and writes one table with a row per respondent
(``respondent_type`` says which instrument), plus a reliability table of the 7S scales.

Each derived variable is made by one small named function that returns new columns and never changes
its input, so a researcher can find, test and change one definition without touching the others.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv, write_parquet
from pipeline.core.paths import relative_to_root
from pipeline.study.frame import read_frame
from pipeline.study.respondents import read_instrument_table
from pipeline.study.scales import scale_items, valid_score_matrix
from pipeline.study.schemas import check_output
from pipeline.study.vocabulary import (
    FRAME_COLUMNS,
    INSTRUMENTS,
    LESS_MATURE,
    MORE_MATURE,
    SCALE_POSITIVE_FROM,
    SURVEY_YEAR,
    TIERS,
    maturity_column,
    scale_column,
)
from pipeline.survey.reliability import cronbach_alpha

log = logging.getLogger("pipeline.stages.derive")


def join_frame(responses: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The LSP's authority type, tier, region and LAA area (validation ensured every LSP is in the frame)."""
    attributes = frame[["lsp_id", *FRAME_COLUMNS]].rename(columns=FRAME_COLUMNS)
    attributes = attributes.assign(
        imd_score=pd.to_numeric(attributes["imd_score"]),
        case_study_2008=attributes["case_study_2008"].eq("true"),
        laa_holder=attributes["authority_type"].ne("shire_district"),
    )
    if not attributes["lsp_id"].is_unique:
        twice = attributes.loc[attributes["lsp_id"].duplicated(), "lsp_id"].unique()[:5]
        raise PipelineError(f"the frame lists LSPs more than once: {', '.join(map(str, twice))}")
    # Each response's frame row by position, then one take: a left many-to-one merge's rows, cheaper.
    rows = pd.Index(attributes["lsp_id"]).get_indexer(responses["lsp_id"])
    if (rows < 0).any():
        unknown = sorted(responses["lsp_id"].to_numpy()[rows < 0].astype(str).tolist())
        raise PipelineError(f"responses name LSPs not in the frame: {', '.join(sorted(set(unknown))[:5])}")
    return attributes.drop(columns="lsp_id").take(rows).set_axis(responses.index)


def scale_scores(responses: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """One score per 7S element: the mean of its valid item scores, given at least half of them.

    Each respondent is scored on the scale's items their instrument asks (`pipeline.study.scales`);
    ``responses`` holds one or both instruments, told apart by ``respondent_type``.
    """
    scores: dict[str, pd.api.extensions.ExtensionArray] = {}
    kinds = responses["respondent_type"]
    instrument_rows = {
        instrument: kinds.eq(instrument).to_numpy(dtype=bool, na_value=False) for instrument in INSTRUMENTS
    }
    for element in codebook.elements:
        score = np.full(len(responses), np.nan)
        for instrument, rows in instrument_rows.items():
            if not rows.any():
                continue
            # The scale's columns only, as numbers (pandas' row-wise mean over masked columns costs several
            # times more). The answers are whole numbers, so their sum is exact in any order and the mean is
            # the one division pandas makes: the same scores to the bit.
            items = valid_score_matrix(responses, scale_items(codebook, element, instrument))[rows]
            answered = (~np.isnan(items)).sum(axis=1)
            enough = answered >= math.ceil(items.shape[1] / 2)
            with np.errstate(invalid="ignore", divide="ignore"):
                score[rows] = np.where(enough, np.nansum(items, axis=1) / answered, np.nan)
        unscored = np.isnan(score)
        scores[scale_column(element)] = pd.arrays.FloatingArray(score, unscored)
        scores[f"{scale_column(element)}_positive"] = pd.arrays.BooleanArray(
            np.where(unscored, False, score >= SCALE_POSITIVE_FROM), unscored
        )
    return pd.DataFrame(scores, index=responses.index)


def scale_reliability(base: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Cronbach's alpha of every 7S scale for each instrument."""
    rows = []
    for instrument in INSTRUMENTS:
        mine = base["respondent_type"].eq(instrument).to_numpy(dtype=bool, na_value=False)
        for element, label in codebook.elements.items():
            variables = scale_items(codebook, element, instrument)
            # The valid scores as plain floats (NaN for NA): alpha reads them as numbers either way.
            alpha, n_complete = cronbach_alpha(valid_score_matrix(base, variables)[mine])
            rows.append(
                {
                    "element": element,
                    "element_label": label,
                    "instrument": instrument,
                    "items": " ".join(v.name for v in variables),
                    "reversed_items": " ".join(v.name for v in variables if v.reverse),
                    "n_items": len(variables),
                    "n_complete": n_complete,
                    "alpha": round(alpha, 4),
                }
            )
    return pd.DataFrame(rows)


def _coordinator_rows(base: pd.DataFrame) -> np.ndarray:
    """Each respondent's row of their LSP's coordinator (-1 where the LSP has no coordinator row)."""
    coordinator = base["respondent_type"].eq("coordinator").to_numpy(dtype=bool, na_value=False)
    lsp_codes, lsps = pd.factorize(base["lsp_id"].to_numpy())
    coordinator_codes = lsp_codes[coordinator]
    counts = np.bincount(coordinator_codes[coordinator_codes >= 0], minlength=len(lsps))
    if (counts > 1).any():
        # Validation keeps one coordinator per LSP; a second would make "the LSP's value" ambiguous.
        twice = ", ".join(str(lsp) for lsp in lsps[counts > 1][:5])
        raise PipelineError(f"LSPs with more than one coordinator row: {twice}")
    row_of_lsp = np.full(len(lsps) + 1, -1)  # the last entry answers a missing LSP id (code -1)
    row_of_lsp[coordinator_codes] = np.flatnonzero(coordinator)
    return row_of_lsp[lsp_codes]


def _by_lsp(
    base: pd.DataFrame, more_mature: np.ndarray, known: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Give every respondent the value held on their LSP's coordinator row (partners inherit it):
    (more mature, known), unknown where the LSP has no coordinator row or its value is unknown.
    ``rows``: `_coordinator_rows(base)`, when the caller has it."""
    rows = _coordinator_rows(base) if rows is None else rows
    has_coordinator = rows >= 0
    rows = np.maximum(rows, 0)
    return more_mature[rows] & has_coordinator, known[rows] & has_coordinator


def _label(index: pd.Index, more_mature: np.ndarray, known: np.ndarray) -> pd.Series:
    """The group's name where known, NA elsewhere (a string column: one take from the two names)."""
    names = pd.array([MORE_MATURE, LESS_MATURE], dtype="string")
    labels = names.take(np.where(known, np.where(more_mature, 0, 1), -1), allow_fill=True)
    return pd.Series(labels, index=index)


def _numbers(base: pd.DataFrame, column: str) -> np.ndarray:
    """A column's values as floats, NaN where missing (pandas' Float64 comparisons without their cost)."""
    return base[column].to_numpy(dtype=float, na_value=np.nan)


def maturity_development_stage(base: pd.DataFrame, config: Config) -> pd.Series:
    """More mature: the coordinator places the LSP at cooperation or collaboration (report Figure 2)."""
    stage = _numbers(base, "development_stage")
    known = (stage >= 1) & (stage <= 4)
    return _label(base.index, *_by_lsp(base, stage >= 3, known))


def maturity_years_joint_working(base: pd.DataFrame, config: Config) -> pd.Series:
    """More mature: partners in the area had worked together for at least ``mature_min_years`` by 2008."""
    year = _numbers(base, "joint_working_year")
    with np.errstate(invalid="ignore"):
        more_mature = (SURVEY_YEAR - year) >= config.mature_min_years
    return _label(base.index, *_by_lsp(base, more_mature, year > 0))


def maturity_laa_first_round(base: pd.DataFrame, config: Config) -> pd.Series:
    """More mature: the LSP's LAA area was one of the 21 first-round pilots (2005), from the frame.

    The only definition known for every LSP, responding or not, and independent of every answer.
    """
    first_round = base["laa_round"].eq("1")
    return _label(
        base.index,
        first_round.to_numpy(dtype=bool, na_value=False),
        first_round.notna().to_numpy(dtype=bool),
    )


def _row_means(values: np.ndarray) -> np.ndarray:
    """Each row's mean over its columns, summed left to right with Kahan's compensation: pandas'
    ``DataFrame.mean(axis=1)`` over nullable Float64 columns (its grouped mean), to the bit, where
    the row is complete. Vectorised over rows instead of pandas' grouped reduction per call."""
    total = np.zeros(len(values))
    compensation = np.zeros(len(values))
    for column in values.T:
        y = column - compensation
        t = total + y
        compensation = t - total - y
        total = t
    return total / values.shape[1]


def maturity_composite_other_elements(base: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """More mature: the coordinator's mean over the OTHER six 7S scales is above the coordinators' median.

    One column per element, so that an element is never compared across a maturity split made from
    its own answers.
    """
    coordinators = base["respondent_type"].eq("coordinator").to_numpy(dtype=bool, na_value=False)
    scales = {element: _numbers(base, scale_column(element)) for element in codebook.elements}
    rows = _coordinator_rows(base)
    columns = {}
    for element in codebook.elements:
        others = np.column_stack([scales[other] for other in codebook.elements if other != element])
        complete = ~np.isnan(others).any(axis=1)
        composite = np.where(complete, _row_means(others), np.nan)
        known = complete[coordinators]
        # pandas' median of the Float64 column is numpy's nanmedian over its known values.
        median = np.nanmedian(composite[coordinators][known]) if known.any() else np.nan
        with np.errstate(invalid="ignore"):
            more_mature = composite > median
        columns[maturity_column("composite_other_elements", element)] = _label(
            base.index, *_by_lsp(base, more_mature, complete, rows)
        )
    return pd.DataFrame(columns, index=base.index)


def derive(
    responses: dict[str, pd.DataFrame], frame: pd.DataFrame, codebook: Codebook, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the analysis base and the scale reliability table from validated responses."""
    stacked = []
    for instrument in INSTRUMENTS:
        table = responses[instrument]
        # Codebook order, so the stacked table has the same columns in the same order on every run: the
        # variables this instrument does not ask, empty (object columns of NA), added in one step.
        missing = [v.name for v in codebook.variables if v.name not in table.columns]
        empty = pd.DataFrame(dict.fromkeys(missing, pd.NA), index=table.index, columns=missing)
        stacked.append(pd.concat([table, empty], axis=1).assign(respondent_type=instrument))
    base = pd.concat(stacked, ignore_index=True)
    base = base.drop(columns=[c for c in ("source_file", "source_row") if c in base])
    base = pd.concat([base, join_frame(base, frame), scale_scores(base, codebook)], axis=1)
    simple = {
        "development_stage": maturity_development_stage,
        "years_joint_working": maturity_years_joint_working,
        "laa_first_round": maturity_laa_first_round,
    }
    maturity = pd.DataFrame(
        {maturity_column(definition): function(base, config) for definition, function in simple.items()}
    )
    base = pd.concat([base, maturity, maturity_composite_other_elements(base, codebook)], axis=1)
    base["tier"] = pd.Categorical(base["tier"], categories=list(TIERS))
    base = base.sort_values(["respondent_type", "respondent_id"], kind="stable", ignore_index=True)
    reliability = scale_reliability(base, codebook)
    reliability.insert(0, "data", "SYNTHETIC" if config.synthetic_data else "survey")
    return base, reliability


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    for instrument in INSTRUMENTS:
        path_option(
            parser,
            f"--{instrument}",
            f"{{processed_dir}}/valid_{instrument}.parquet",
            f"the validated {instrument} responses",
        )
    path_option(parser, "--out", "{processed_dir}/analysis_base.parquet", "where to write the analysis base")
    path_option(
        parser,
        "--reliability",
        "{analysis_dir}/tables/scale_reliability.csv",
        "where to write the scale reliability table",
    )
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    responses = {}
    for instrument in INSTRUMENTS:
        path = getattr(arguments, instrument)
        responses[instrument] = read_instrument_table(path, instrument, "validate")
        log.info("read %s: %d rows", relative_to_root(path), len(responses[instrument]))
    base, reliability = derive(responses, frame, codebook, config)
    check_output("analysis_base", base, codebook)
    check_output("scale_reliability", reliability, codebook)
    write_parquet(base, arguments.out)
    write_csv(reliability, arguments.reliability)
    log.info("wrote %s: %d rows", relative_to_root(arguments.out), len(base))
    log.info("wrote %s: %d scales", relative_to_root(arguments.reliability), len(reliability))


if __name__ == "__main__":
    run_stage("derive", main)
