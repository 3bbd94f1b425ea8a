"""The study's weightings: coordinator and partner-LSP weights calibrated to the sampling frame.

The designs (pipeline/study_design.py) start from the response-homogeneity weights by authority type,
``N_h / n_h``: within a type, the LSPs that answered stand for those that did not. That is the
``type_only`` weighting, and it is right only if response within a type is unrelated to the answers.
The calibrated weightings also meet the frame's counts on the margins ``config.yaml`` names
(``weighting.margins``; by default authority type by deprivation band, region and LAA round), so
that respondents who differ from the frame on those variables are reweighted to it:

- ``raking``: multiplicative calibration (R: ``calibrate(calfun = "raking")``), weights stay positive;
- ``linear``: linear calibration, the GREG estimator (R: ``calibrate()``);
- ``logit``: bounded calibration (R: ``calibrate(calfun = "logit", bounds = )``), g within the bounds.

Coordinators are calibrated one LSP per row. Partners are calibrated at LSP level: each LSP with a
partner respondent counts once with its weight ``N_h / m_h``, and every partner of the LSP receives the
LSP's g-weight (`pipeline.survey.calibration.calibrate` with ``unit=``). The all-respondent design takes
each instrument's calibration. The variance of every calibrated estimate uses the residuals of its
influence values on the calibration variables, as R's ``calibrate()`` does; replicate weights
recalibrated per replicate check it (the nonresponse stage's SE-ratio table).

A joint cell (say, counties in the most deprived band) with fewer than ``min_cell_respondents``
responding LSPs is merged with the adjacent cell of the same authority type (bands are ordered), and
every merge is recorded in the weight diagnostics: cells with one or two respondents would otherwise
give those few LSPs very large weights.

The four frame columns with no source (``nrf_area``, ``population_2007``, ``imd2007_rank``,
``urban_rural_class``) are never used.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.weighting_spec import CALFUN, METHODS, WeightingSpec

if TYPE_CHECKING:
    from pipeline.core.config import Config
    from pipeline.study.designs import Weigh
    from pipeline.survey import PreparedDesign

# The config loader builds a WeightingSpec for every stage, the figures too: the calibration code (and
# scipy with it) is imported only where weights are computed.

BLANK_FRAME_COLUMNS = ("nrf_area", "population_2007", "imd2007_rank", "urban_rural_class")
IMD_BANDS = ("1_least_deprived", "2_middle", "3_most_deprived")
LAA_ROUNDS = ("first_round", "later_round")

# The frame variables usable for weighting and for the nonresponse analysis: name -> description.
FRAME_VARIABLES: dict[str, str] = {
    "authority_type": "authority type of the LSP's council (frame)",
    "tier": "single-tier or multi-tier area (frame)",
    "region": "government office region (frame)",
    "laa_round": "LAA round: first_round (the 2005 pilots and their districts) or later_round (frame)",
    "imd_score": "mean IMD 2007 score of the authority's LSOAs (frame, unweighted mean)",
    "imd_band": "tertile of imd_score over the frame's LSPs: 1_least_deprived, 2_middle, 3_most_deprived",
    "pct_most_deprived": "share (%) of the authority's LSOAs in England's most deprived 10% (frame)",
    "lsoa_count": "number of LSOAs in the authority, a size proxy (frame)",
    "case_study": "one of the Audit Commission's case-study LSPs (frame)",
}
# The targets the weighting validation holds the primary weighting to (issue 22), in the scenarios it
# claims to repair: 95% CI coverage, |mean bias| in percentage points, mean SE over empirical SD.
TARGET_COVERAGE = (0.93, 0.97)
TARGET_ABS_BIAS_PP = 1.0
TARGET_SE_RATIO = (0.95, 1.05)
# The words of a merge or a given-up total in `collapse_unattainable_totals`' lines (the diagnostics).
UNATTAINABLE_MARK = "total of"
NOT_CALIBRATED_MARK = "not calibrated"
CATEGORICAL_FRAME_VARIABLES = ("authority_type", "tier", "region", "laa_round", "imd_band", "case_study")
NUMERIC_FRAME_VARIABLES = ("imd_score", "pct_most_deprived", "lsoa_count")


# The frame's columns `frame_variables` reads: a stage that only weights may keep just these.
FRAME_SOURCE_COLUMNS = (
    "lsp_id",
    "authority_type",
    "tier",
    "region",
    "laa_round",
    "imd2007_mean_lsoa_score_unweighted",
    "imd2007_pct_lsoas_in_most_deprived_10pct",
    "imd2007_lsoa_count",
    "case_study_2008",
)


def frame_variables(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per LSP of the frame with the variables of `FRAME_VARIABLES` (blank columns never read).

    Parameters
    ----------
    frame
        The sampling frame as read (text columns).

    Returns
    -------
    pandas.DataFrame
        ``lsp_id`` and one column per frame variable.
    """
    score = pd.to_numeric(frame["imd2007_mean_lsoa_score_unweighted"], errors="coerce")
    if score.isna().any():
        raise PipelineError("frame: imd2007_mean_lsoa_score_unweighted has blank or non-numeric values")
    # Tertiles of the 388 LSPs by rank (ties broken by frame order), so each band holds a third.
    rank = score.rank(method="first")
    band = pd.cut(rank, bins=[0, len(frame) / 3, 2 * len(frame) / 3, len(frame)], labels=IMD_BANDS)
    return pd.DataFrame(
        {
            "lsp_id": frame["lsp_id"].astype(str),
            "authority_type": frame["authority_type"].astype(str),
            "tier": frame["tier"].astype(str),
            "region": frame["region"].astype(str),
            "laa_round": np.where(frame["laa_round"].astype(str).str.strip().eq("1"), *LAA_ROUNDS),
            "imd_score": score.to_numpy(),
            "imd_band": band.astype(str).to_numpy(),
            "pct_most_deprived": pd.to_numeric(frame["imd2007_pct_lsoas_in_most_deprived_10pct"]).to_numpy(),
            "lsoa_count": pd.to_numeric(frame["imd2007_lsoa_count"]).to_numpy(),
            "case_study": frame["case_study_2008"].astype(str).str.lower().eq("true").to_numpy(),
        }
    )


def collapse_sparse_cells(
    sample: pd.DataFrame, population: pd.DataFrame, margin: Sequence[str], min_respondents: int
) -> tuple[pd.Series, pd.Series, list[str]]:
    """Cell labels of one margin for sample units and population units, sparse cells merged.

    A cell with fewer than `min_respondents` sample units is merged with the adjacent cell (in the
    sorted order of the margin's last column) that shares the other columns and has the fewest sample
    units; when no such neighbour is left, with the adjacent cell in sorted order overall. Repeats
    until every cell that has population units has at least `min_respondents` sample units (or one
    cell is left).

    Returns
    -------
    sample_cells, population_cells : pandas.Series
        Labels ``"a|b"``; merged cells read ``"a|b+c"``.
    merges : list of str
        One line per merge, for the diagnostics.
    """
    cols = list(margin)

    def labels(frame: pd.DataFrame) -> pd.Series:
        text = frame[cols[0]].astype(str)
        for col in cols[1:]:
            text = text + "|" + frame[col].astype(str)
        return text.reset_index(drop=True)

    sample_cells, pop_cells = labels(sample), labels(population)
    merges: list[str] = []
    while True:
        counts = sample_cells.value_counts().reindex(sorted(pop_cells.unique()), fill_value=0)
        sparse = counts[counts < min_respondents]
        if sparse.empty or len(counts) == 1:
            return sample_cells, pop_cells, merges
        cell = sparse.sort_values(kind="stable").index[0]
        cells = list(counts.index)
        head = cell.rsplit("|", 1)[0] if len(cols) > 1 else None
        same_group = [c for c in cells if c != cell and (head is None or c.rsplit("|", 1)[0] == head)]
        if not same_group:
            same_group = [c for c in cells if c != cell]
        position = cells.index(cell)
        # Adjacent cells first (the bands are ordered), then the smallest.
        partner = min(same_group, key=lambda c: (abs(cells.index(c) - position), counts[c]))
        merged = _merged_label(cell, partner)
        merges.append(
            f"{'|'.join(cols)}: {cell} ({counts[cell]} respondents) merged with {partner} ({counts[partner]})"
        )
        sample_cells = sample_cells.replace({cell: merged, partner: merged})
        pop_cells = pop_cells.replace({cell: merged, partner: merged})


def _merged_label(cell: str, partner: str) -> str:
    return f"{min(cell, partner)}+{max(cell, partner).rsplit('|', 1)[-1]}"


def _attainable(values: pd.Series, cells: pd.Series, pop_counts: pd.Series) -> tuple[float, float]:
    """The least and greatest total of `values` that positive weights meeting `pop_counts` can give:
    each cell's count times its smallest or largest sampled value."""
    low = values.groupby(cells).min().reindex(pop_counts.index)
    high = values.groupby(cells).max().reindex(pop_counts.index)
    return float((pop_counts * low).sum()), float((pop_counts * high).sum())


def collapse_unattainable_totals(
    units: pd.DataFrame,
    population: pd.DataFrame,
    coarse: str,
    value: str,
    fine: str | None,
) -> tuple[pd.Series, pd.Series, list[str], list[tuple[str, str]]]:
    """Merge finer cells (or give up a numeric total) where no positive weights can meet the total.

    A numeric margin calibrates the total of `value` within each cell of the `coarse` margin (say, the
    IMD score within each authority type); a `fine` margin nested in it (authority type x IMD band) fixes
    the count of each of its cells. Positive weights then give a total between the sum over the fine
    cells of their count times their smallest sampled value and the same with their largest. When the
    population's total is not strictly inside that range, no raking (or other positive) weights exist,
    whatever the solver: the draws of the weighting validation that failed to converge were all of this
    kind (a linear programme finds no non-negative solution). Adjacent fine cells of that coarse cell are
    then merged (the pair that widens the range most towards the total), which widens the range; if one
    cell is left and the total is still out of reach, the total of that coarse cell is not calibrated.

    Parameters
    ----------
    units
        One row per sampled unit with `value`, and the cell labels in columns `coarse` and `fine`.
    population
        One row per population unit, the same columns.
    coarse, value, fine
        The coarse margin's cell column, the numeric column, the nested margin's cell column (or None).

    Returns
    -------
    sample_fine, population_fine : pandas.Series
        The fine cells after any merges (None's: the coarse cells).
    merges : list of str
        One line per merge, in `collapse_sparse_cells`' words.
    dropped : list of (str, str)
        The coarse cells whose total of `value` is not calibrated, each with its line.
    """
    column = fine or coarse
    sample_fine = units[column].astype(str).reset_index(drop=True)
    pop_fine = population[column].astype(str).reset_index(drop=True)
    sample_coarse = units[coarse].astype(str).reset_index(drop=True)
    pop_coarse = population[coarse].astype(str).reset_index(drop=True)
    sample_values = pd.to_numeric(units[value]).reset_index(drop=True)
    pop_values = pd.to_numeric(population[value]).reset_index(drop=True)
    merges: list[str] = []
    dropped: list[tuple[str, str]] = []
    for cell in sorted(pop_coarse.unique()):
        in_sample, in_pop = sample_coarse.eq(cell), pop_coarse.eq(cell)
        if not in_sample.any():
            continue  # the margin itself reports a cell with no respondent
        target = float(pop_values[in_pop].sum())
        while True:
            counts = pop_fine[in_pop].value_counts().sort_index()
            if set(sample_fine[in_sample]) != set(counts.index):
                break  # the fine cells do not nest in the coarse one: the calibration reports it
            low, high = _attainable(sample_values[in_sample], sample_fine[in_sample], counts)
            if low < target < high:
                break
            cells = list(counts.index)
            if len(cells) == 1:
                dropped.append(
                    (
                        cell,
                        f"{coarse}:{value}: {cell} total {target:.6g} {NOT_CALIBRATED_MARK} (its respondents "
                        f"reach {low:.6g} to {high:.6g})",
                    )
                )
                break
            best = None
            for left, right in itertools.pairwise(cells):
                merged = sample_fine[in_sample].replace({left: "_m", right: "_m"})
                pop_merged = counts.rename(index={left: "_m", right: "_m"}).groupby(level=0).sum()
                new_low, new_high = _attainable(sample_values[in_sample], merged, pop_merged)
                gain = new_high - high if target >= high else low - new_low
                if best is None or gain > best[0]:
                    best = (gain, left, right)
            _, left, right = best
            n_left = int(sample_fine[in_sample].eq(left).sum())
            n_right = int(sample_fine[in_sample].eq(right).sum())
            label = _merged_label(left, right)
            merges.append(
                f"{column}: {left} ({n_left} respondents) merged with {right} ({n_right}) so that the "
                f"{value} {UNATTAINABLE_MARK} {cell} can be met"
            )
            sample_fine = sample_fine.replace({left: label, right: label})
            pop_fine = pop_fine.replace({left: label, right: label})
    return sample_fine, pop_fine, merges, dropped


@dataclass(frozen=True)
class WeightDiagnostics:
    """One weighting of one population, for the weight diagnostics table."""

    population: str
    weighting: str
    units: int
    weight_total: float
    weight_min: float
    weight_max: float
    weight_ratio: float
    weight_cv: float
    kish_deff: float
    g_min: float
    g_max: float
    trimmed: int
    iterations: int
    converged: bool
    merged_cells: str


def _first_of_each_lsp(design: PreparedDesign, rows: np.ndarray) -> np.ndarray:
    """Positions of `rows` (a mask) that are the first of their LSP, in row order: the rows
    ``drop_duplicates("lsp_id")`` keeps (from the LSPs' codes, not a hash of every id's text)."""
    positions = np.flatnonzero(rows)
    codes, _ = pd.factorize(design.data["lsp_id"].iloc[positions], use_na_sentinel=False)
    # Codes number the LSPs in the order they first appear, so the first row of each is in row order.
    return positions[np.unique(codes, return_index=True)[1]]


def _diagnose(population: str, method: str, before, after, rows, summary, merges) -> WeightDiagnostics:
    # The designs before and after calibration hold the same rows: their LSPs' first rows once.
    first = _first_of_each_lsp(after, rows)
    w = np.asarray(after.weights[first], dtype=float)
    g = w / np.asarray(before.weights[first], dtype=float)
    cv = float(np.std(w) / np.mean(w))
    return WeightDiagnostics(
        population=population,
        weighting=method,
        units=int(w.size),
        weight_total=float(w.sum()),
        weight_min=float(w.min()),
        weight_max=float(w.max()),
        weight_ratio=float(w.max() / w.min()),
        weight_cv=cv,
        kish_deff=float(1 + cv**2),
        g_min=float(g.min()),
        g_max=float(g.max()),
        trimmed=summary.trimmed if summary else 0,
        iterations=summary.iterations if summary else 0,
        converged=summary.converged if summary else True,
        merged_cells="; ".join(merges),
    )


_INPUTS_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray, list[str]]] = {}
# What that cache may hold, in bytes of indicator matrices, the oldest given up first: a matrix is rows x
# cells (about 100 MB at Place-Survey size), and a stage's calibrations would otherwise keep dozens alive,
# which took the analyse stage over 2 GB at 1000x the bundled survey. At the bundled size every matrix of
# a run fits many times over.
_INPUTS_CACHE_BYTES = 256 * 2**20
# The frame's part of that cache's key, by frame-variables table: hashing 388,000 LSPs took a sixth of a
# CPU-second, and the same table is handed to every calibration of a stage. Held only while the table
# lives (the id of a table that is gone can be reused), and checked to still be that table.
_FRAME_KEYS: dict[int, tuple[weakref.ref, int]] = {}


def _frame_key(frame_vars: pd.DataFrame) -> int:
    identity = id(frame_vars)
    known = _FRAME_KEYS.get(identity)
    if known is not None and known[0]() is frame_vars:
        return known[1]
    digest = int(pd.util.hash_pandas_object(frame_vars, index=False).sum())
    _FRAME_KEYS[identity] = (weakref.ref(frame_vars, lambda _: _FRAME_KEYS.pop(identity, None)), digest)
    return digest


def calibration_inputs(
    design: PreparedDesign, rows: np.ndarray, frame_vars: pd.DataFrame, spec: WeightingSpec
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The margin indicators of the `rows` of a design, their frame totals and the cell merges.

    Returns
    -------
    x : numpy.ndarray
        ``(rows.sum(), cells)`` indicators, constant within an LSP.
    totals : numpy.ndarray
        The frame's count of LSPs in each cell.
    merges : list of str
        The sparse cells merged (`collapse_sparse_cells`).
    """
    from pipeline.survey.calibration import margin_matrix

    # The same rows are calibrated by each weighting in turn (analyse, sensitivity, simulations): the
    # inputs depend only on which LSPs the rows are, the frame and the margins.
    # The LSP ids in row order, each hashed by pandas (64 bits of its text) and the sequence of hashes
    # hashed again: a tuple of them, or a Python join of their text, took a step per respondent (a third
    # of a CPU-second per calibration at Place-Survey size).
    lsp_ids = design.data.loc[rows, "lsp_id"].astype(str)
    key = (
        len(lsp_ids),
        hashlib.sha256(pd.util.hash_pandas_object(lsp_ids, index=False).to_numpy().tobytes()).hexdigest(),
        _frame_key(frame_vars),
        spec.margins,
        spec.min_cell_respondents,
    )
    if key in _INPUTS_CACHE:
        return _INPUTS_CACHE[key]
    ids = lsp_ids.to_numpy(dtype=object)
    # Everything below is a property of an LSP, so it is worked out once per LSP (in the order the rows
    # first name them) and each row takes its LSP's: a merge with the frame and a text lookup per
    # respondent were most of a calibration's time at Place-Survey size.
    unit_of_row, unit_ids = pd.factorize(ids)
    frame_ids = pd.Index(frame_vars["lsp_id"].astype(str).to_numpy(dtype=object))
    if not frame_ids.is_unique:
        raise PipelineError("frame: an lsp_id is listed more than once")
    position = frame_ids.get_indexer(unit_ids)
    if np.any(position < 0):
        raise PipelineError("respondents name LSPs not in the frame")
    units = frame_vars.iloc[position].reset_index(drop=True)
    unit_cells, pop_cells, merges, margins = {}, {}, [], []
    numeric = list(dict.fromkeys(c for m in spec.margins for c in m if c in NUMERIC_FRAME_VARIABLES))
    for margin in spec.margins:
        categorical = [c for c in margin if c not in NUMERIC_FRAME_VARIABLES]
        values = [c for c in margin if c in NUMERIC_FRAME_VARIABLES]
        if not categorical:
            margins.append(values)
            continue
        name = "|".join(categorical)
        s_cells, p_cells, merged = collapse_sparse_cells(
            units, frame_vars, categorical, spec.min_cell_respondents
        )
        unit_cells[name] = s_cells
        pop_cells[name] = p_cells
        merges += merged
        margins.append([name, *values])
    # Numeric totals positive weights cannot meet: merge the nested margin's cells, or give the total up.
    not_calibrated: set[str] = set()
    for margin in spec.margins:
        categorical = [c for c in margin if c not in NUMERIC_FRAME_VARIABLES]
        if not categorical:
            continue
        coarse = "|".join(categorical)
        nested = [
            [c for c in other if c not in NUMERIC_FRAME_VARIABLES]
            for other in spec.margins
            if set(categorical) < {c for c in other if c not in NUMERIC_FRAME_VARIABLES}
        ]
        fine = "|".join(max(nested, key=len)) if nested else None
        for value in (c for c in margin if c in NUMERIC_FRAME_VARIABLES):
            unit_frame = pd.DataFrame(
                {coarse: unit_cells[coarse].to_numpy(), value: units[value].to_numpy()}
                | ({fine: unit_cells[fine].to_numpy()} if fine else {})
            )
            population_cells = pd.DataFrame(
                {coarse: pop_cells[coarse].to_numpy(), value: frame_vars[value].to_numpy()}
                | ({fine: pop_cells[fine].to_numpy()} if fine else {})
            )
            s_fine, p_fine, merged, dropped = collapse_unattainable_totals(
                unit_frame, population_cells, coarse, value, fine
            )
            if fine and merged:
                unit_cells[fine] = s_fine
                pop_cells[fine] = p_fine
            merges += merged + [line for _, line in dropped]
            not_calibrated |= {f"{coarse}:{value}={cell}" for cell, _ in dropped}
    # A numeric column is calibrated as a total within the margin's (merged) cells: R's ~type * score.
    # The matrix is built per LSP; a row's is its LSP's row (the same numbers).
    unit_x, totals, labels = margin_matrix(
        pd.DataFrame({name: cells.to_numpy() for name, cells in unit_cells.items()}).assign(
            **{c: units[c].to_numpy() for c in numeric}
        ),
        pd.DataFrame(pop_cells, index=range(len(frame_vars))).assign(
            **{c: frame_vars[c].to_numpy() for c in numeric}
        ),
        margins,
        numeric=set(numeric),
    )
    x = unit_x[unit_of_row]
    if not_calibrated:
        keep = np.array([label not in not_calibrated for label in labels])
        x, totals = x[:, keep], totals[keep]
    _remember_inputs(key, (x, totals, merges))
    return x, totals, merges


def _remember_inputs(key: tuple, inputs: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
    """Keep a calibration's inputs, giving up the oldest while the matrices would pass the cache's bytes."""
    size = inputs[0].nbytes
    if size > _INPUTS_CACHE_BYTES:
        return
    held = sum(kept[0].nbytes for kept in _INPUTS_CACHE.values())
    while _INPUTS_CACHE and held + size > _INPUTS_CACHE_BYTES:
        oldest = next(iter(_INPUTS_CACHE))
        held -= _INPUTS_CACHE.pop(oldest)[0].nbytes
    _INPUTS_CACHE[key] = inputs


def forget_calibration_inputs() -> None:
    """Give up every calibration's inputs `calibration_inputs` keeps, for a stage that calibrates no more
    (at 1,000 times the bundled survey the coordinators' and partners' matrices are 0.13 GB)."""
    _INPUTS_CACHE.clear()


def replicate_calibrator(
    design: PreparedDesign, population: str, frame_vars: pd.DataFrame, spec: WeightingSpec, method: str
) -> Callable[[np.ndarray], np.ndarray]:
    """The g-weights of one weighting as a function of the input weights (for replicate weights).

    `population` is ``coordinator`` (LSP rows) or ``partner`` (calibrated at LSP level).
    """
    from pipeline.survey.calibration import CalibrationError, calibration_factors
    from pipeline.survey.patterns import row_patterns

    rows = np.ones(design.n, dtype=bool)
    x, totals, _ = calibration_inputs(design, rows, frame_vars, spec)
    codes = pd.factorize(design.data["lsp_id"].astype(str), sort=True)[0]
    first = pd.Series(np.arange(design.n)).groupby(codes).first().to_numpy()
    unit_x = x[first]
    # Every replicate calibrates the same units: their patterns are found once.
    patterns = row_patterns(unit_x)
    # On patterns (and untrimmed: trimming reads each unit's own weight) the g-weights depend on the
    # weights only through each pattern's total. Jackknife replicates that delete LSPs of one stratum
    # and one pattern leave every pattern the same total (the stratum's other LSPs share their weight,
    # and a deleted one adds an exact zero wherever it falls in the sum), so each distinct set of totals
    # is calibrated once and its g-weights reused: the same numbers to the bit, for a fraction of the
    # calibrations (most of the 5,000-LSP replicate check's time at any scale above it). Keyed by a
    # digest of the totals; each held as one g-weight per pattern.
    first_of_pattern = None if patterns is None else np.unique(patterns[1], return_index=True)[1]
    solved: dict[bytes, np.ndarray | None] = {}

    def g(weights: np.ndarray) -> np.ndarray:
        if method == "type_only":
            return np.ones(design.n)
        unit_weights = np.asarray(weights[first], dtype=float)
        key = None
        if patterns is not None and spec.trim is None:
            totals_by_pattern = np.bincount(patterns[1], weights=unit_weights, minlength=patterns[0].shape[0])
            key = hashlib.blake2b(totals_by_pattern.tobytes(), digest_size=16).digest()
            if key in solved:
                by_pattern = solved[key]
                return np.full(design.n, np.nan) if by_pattern is None else by_pattern[patterns[1]][codes]
        try:
            unit_g, _ = calibration_factors(
                unit_x,
                unit_weights,
                totals,
                calfun=CALFUN[method],
                bounds=spec.bounds or (-np.inf, np.inf),
                trim=spec.trim,
                epsilon=1e-10,
                patterns=patterns,
            )
        except CalibrationError:
            # A replicate that leaves a cell without respondents cannot be calibrated (R stops too):
            # it gives no estimate and is dropped from the replicate variance, and the count reported.
            if key is not None:
                solved[key] = None
            return np.full(design.n, np.nan)
        if key is not None:
            solved[key] = unit_g[first_of_pattern]
        return unit_g[codes]

    return g


# Which rows of each population's design each instrument's calibration acts on, and its unit.
_INSTRUMENT_UNIT = {"coordinator": None, "partner": "lsp_id"}


def calibrate_population(
    design: PreparedDesign,
    population: str,
    frame_vars: pd.DataFrame,
    spec: WeightingSpec,
    method: str,
) -> tuple[PreparedDesign, list[WeightDiagnostics]]:
    """Apply one weighting to one population's prepared (type-only) design.

    Parameters
    ----------
    design
        A design of `pipeline.study.designs.prepare_designs` (``weighted``).
    population
        ``coordinator``, ``partner`` or ``respondents``.
    frame_vars
        `frame_variables` of the frame.
    spec
        The configured weighting.
    method
        One of `METHODS`.

    Returns
    -------
    design : PreparedDesign
        The calibrated design (the same object for ``type_only``).
    diagnostics : list of WeightDiagnostics
        One per instrument calibrated.
    """
    from pipeline.survey.calibration import CalibrationError, calibrate

    if method not in METHODS:
        raise PipelineError(f"weighting {method!r} is not one of {', '.join(METHODS)}")
    instruments = ("coordinator", "partner") if population == "respondents" else (population,)
    respondent_type = design.data["respondent_type"].to_numpy()
    diagnostics = []
    current = design
    for instrument in instruments:
        rows = respondent_type == instrument
        if not rows.any():
            continue
        unit = _INSTRUMENT_UNIT[instrument]
        if method == "type_only":
            diagnostics.append(_diagnose(instrument, method, design, design, rows, None, []))
            continue
        x_rows, totals, merges = calibration_inputs(design, rows, frame_vars, spec)
        try:
            current, summary = calibrate(
                current,
                # The calibrated rows' values only: a rows x cells matrix over the whole design, zero on
                # the other instrument's rows, was a few hundred megabytes at Place-Survey size.
                x_rows,
                totals,
                calfun=CALFUN[method],
                bounds=spec.bounds or (-np.inf, np.inf),
                trim=spec.trim,
                unit=None if unit is None else design.data[unit].astype(str).to_numpy(),
                rows=rows,
                # Far tighter than R's 1e-7, so the weights are fixed to 1e-12 and an independent
                # recomputation (pipeline/verify.py, by iterative proportional fitting) agrees to 1e-9.
                epsilon=1e-12,
                df_adjust=spec.variance_df_adjustment,
                unit_fpc=spec.unit_fpc,
            )
        except CalibrationError as error:
            raise PipelineError(f"{instrument} weights ({method}): {error}") from None
        diagnostics.append(_diagnose(instrument, method, design, current, rows, summary, merges))
    return current, diagnostics


def calibrator(
    frame: pd.DataFrame, spec: WeightingSpec, method: str | None = None
) -> Callable[[dict[str, PreparedDesign]], dict[str, PreparedDesign]] | None:
    """The hook `pipeline.study.designs.prepare_designs` applies to the weighted designs.

    Returns ``None`` for ``type_only`` (the designs' own weights), otherwise a function that
    calibrates every population's design with `calibrate_population`.
    """
    method = method or spec.primary
    if method == "type_only":
        return None
    frame_vars = frame_variables(frame)

    def apply(by_population: dict[str, PreparedDesign]) -> dict[str, PreparedDesign]:
        return {
            name: calibrate_population(design, name, frame_vars, spec, method)[0]
            for name, design in by_population.items()
        }

    return apply


def primary_weighting(frame: pd.DataFrame, config: Config, method: str | None = None) -> Weigh:
    """The configured weighting (config ``weighting.primary``, or `method`) as a `calibrator` hook;
    None for type-only weights or when no weighting is configured."""
    if config.weighting is None:
        return None
    return calibrator(frame, config.weighting, method)


def weight_diagnostics(
    by_population: dict[str, PreparedDesign], frame: pd.DataFrame, spec: WeightingSpec
) -> pd.DataFrame:
    """The weight diagnostics table: every weighting of coordinators and of partner LSPs.

    Parameters
    ----------
    by_population
        The type-only weighted designs (`pipeline.study.designs.prepare_designs(...).by_population`).
    frame
        The sampling frame.
    spec
        The configured weighting.

    Returns
    -------
    pandas.DataFrame
        One row per instrument and weighting: units, weight total, range, ratio, CV, Kish design
        effect ``1 + CV^2``, g-weight range, trimmed units, iterations, merged cells.
    """
    frame_vars = frame_variables(frame)
    rows = []
    for method in dict.fromkeys(("type_only", *spec.methods)):
        for population in ("coordinator", "partner"):
            _, diagnostics = calibrate_population(
                by_population[population], population, frame_vars, spec, method
            )
            rows += [d.__dict__ | {"primary": method == spec.primary} for d in diagnostics]
    return pd.DataFrame(rows)


def primary_weighted_base(
    base: pd.DataFrame, frame: pd.DataFrame, spec: WeightingSpec | None
) -> pd.DataFrame:
    """The analysis base (with `design_columns`) whose weight column holds the primary weights.

    For code that reads weights from the rows rather than from a design (the figures): the same
    weights the weighted designs of `pipeline.study.designs.prepare_designs` carry. The type-only
    design weight is kept as ``design_weight``. Each instrument's design is calibrated alone, over its
    design's columns (`pipeline.study.designs.narrow`): the all-respondents design would repeat both
    calibrations, and the answer columns would only be copied (at Place-Survey size both cost more than
    the weights themselves).
    """
    from pipeline.study.designs import DESIGNS, WEIGHT, narrow, population_rows

    result = base.assign(design_weight=base[WEIGHT])
    hook = calibrator(frame, spec) if spec is not None else None
    if hook is None:
        return result
    populations = population_rows(base)
    weights = result[WEIGHT].to_numpy(dtype=float).copy()
    for instrument in ("coordinator", "partner"):
        rows = (base["respondent_type"] == instrument).to_numpy()
        weights[rows] = narrow(DESIGNS[instrument], populations[instrument], (), hook, instrument).weights
    return result.assign(**{WEIGHT: weights})
