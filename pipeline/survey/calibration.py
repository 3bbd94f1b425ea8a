"""Calibration of design weights to known population totals, with the variance that reflects it.

Matches R's ``survey`` package (4.1-1):

- `post_stratify` is ``postStratify()``: weights scaled within cells to the population counts;
- `rake` is ``rake()``: iterative post-stratification on several margins, stopped by R's own rule
  (the largest change in the joint weighted table below ``epsilon``, at most ``maxit`` sweeps);
- `calibrate` is ``calibrate()``: linear (GREG, ``regcalibrate``), raking (exponential) or logit
  calibration to totals of a model matrix, with optional bounds on the g-weights and R's ``trim=``,
  solved by the same Newton iteration and stopping rule as R's ``grake``.

Each returns a new `PreparedDesign` with the calibrated weights and one more entry in its
``calibrations``. `PreparedDesign.variance` passes influence values through every entry before it
sums them to PSU totals, exactly as R's ``svyrecvar`` does with ``design$postStrata``: the GREG
residuals of the influence values on the calibration variables (``qr.resid``), the post-stratum
centring, or ten sweeps of back-fitting over the raking margins.

Calibration of a clustered sample at the level of a unit that contains several rows (the LSPs whose
partners answered) is `calibrate(..., unit=)`: each unit counts once in the totals with the weight its
rows share, every row of a unit receives the unit's g-weight, and the GREG residuals are taken on unit
totals of the influence values (R: the same ``calibrate()`` on the one-row-per-unit design, with the
unit-level estimate written as ``svyratio``). Units must nest within PSUs.

Large samples are calibrated on their distinct patterns of calibration variables, weights summed
(`pipeline.survey.patterns`): a row's g-weight depends on its variables alone, and its basis row and
leverage are its pattern's scaled by its share of the pattern's weight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from pipeline.survey.design import PreparedDesign, SurveyDesignError, group_sum_matrix
from pipeline.survey.patterns import row_patterns, weighted_leverage, weighted_svd

CalFun = Literal["linear", "raking", "logit"]
CALFUNS: tuple[str, ...] = ("linear", "raking", "logit")
# R's grake: MASS::ginv(Tmat, tol = 256 * .Machine$double.eps); rescales weights whose every total is
# more than 20 times short of the population.
_GINV_TOL = 256 * np.finfo(float).eps
_PRESCALE_THRESHOLD = 20.0
# R's svyrecvar iterates the raking projection ten times.
_RAKE_VARIANCE_SWEEPS = 10


class CalibrationError(SurveyDesignError):
    """Calibration that cannot be done: inconsistent totals, a cell with no sample, no convergence."""


# ---------------------------------------------------------------------------------------------- records


@dataclass(frozen=True, eq=False)
class GregResiduals:
    """R's ``greg_calibration`` entry: influence values become residuals on the calibration variables.

    ``basis`` is an orthonormal basis of the column space of ``X * sqrt(d)`` at unit level (R's
    ``qr(mm * whalf)``), ``scale`` is ``g * sqrt(d)`` per unit (R's ``w``), ``unit`` maps the calibrated
    rows (``rows``, positions in the design) to units.
    """

    basis: np.ndarray
    scale: np.ndarray
    unit: np.ndarray
    rows_per_unit: np.ndarray
    rows: np.ndarray
    # The small-sample variance factor of `calibrate(..., df_adjust=True)`, 1 as in R.
    inflation: float = 1.0
    # Per unit, sqrt of its own finite population correction over its stratum's (`unit_fpc=True`).
    unit_scale: np.ndarray | None = None
    _unit_sum: sparse.csr_matrix = dataclasses.field(init=False, repr=False)
    _one_row_per_unit: bool = dataclasses.field(init=False, repr=False)
    _row_factor: np.ndarray | None = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_unit_sum", group_sum_matrix(self.unit, self.scale.size))
        one_row = self.unit.size == self.scale.size and bool(np.all(self.unit == np.arange(self.unit.size)))
        object.__setattr__(self, "_one_row_per_unit", one_row)
        factor = np.full(self.unit.size, np.sqrt(self.inflation))
        if self.unit_scale is not None:
            factor = factor * self.unit_scale[self.unit]
        trivial = self.unit_scale is None and self.inflation == 1.0
        object.__setattr__(self, "_row_factor", None if trivial else factor)

    def residualise(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` (``(n, p)`` influence values) with the calibration's fitted part removed (and
        scaled by ``sqrt(inflation)``, so the variance is multiplied by ``inflation``)."""
        whole = self.rows.size == x.shape[0] and bool(self.rows[-1] == x.shape[0] - 1)
        # rows is sorted and unique, so covering every row means it is 0 .. n-1.
        calibrated = x if whole else x[self.rows]
        z = calibrated if self._one_row_per_unit else np.asarray(self._unit_sum @ calibrated)
        scaled = z / self.scale[:, None]
        fitted = self.basis @ (self.basis.T @ scaled) * self.scale[:, None]
        # Spread each unit's fitted part evenly over its rows: a unit-level constant, it leaves the rows'
        # spread within the unit (a second stage's variance) as it was.
        if not self._one_row_per_unit:
            fitted = (fitted / self.rows_per_unit[:, None])[self.unit]
        result = calibrated - fitted
        if self._row_factor is not None:
            result *= self._row_factor[:, None]
        if whole:
            return result
        out = x.copy()
        out[self.rows] = result
        return out


@dataclass(frozen=True, eq=False)
class PostStratumCentring:
    """R's post-stratification entry: influence values centred within post-strata."""

    cell: np.ndarray
    weights: np.ndarray
    old_weights: np.ndarray

    def residualise(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` less each post-stratum's old-weighted mean of ``x / w``, times ``w``."""
        n_cells = int(self.cell.max()) + 1
        numerator = np.asarray(
            group_sum_matrix(self.cell, n_cells) @ (x * (self.old_weights / self.weights)[:, None])
        )
        denominator = np.bincount(self.cell, weights=self.old_weights, minlength=n_cells)
        means = numerator / denominator[:, None]
        return x - means[self.cell] * self.weights[:, None]


@dataclass(frozen=True, eq=False)
class RakingProjection:
    """R's ``raking`` entry: ten back-fitting sweeps over the margins of the last raking iteration."""

    cells: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    _sums: tuple[sparse.csr_matrix, ...] = dataclasses.field(init=False, repr=False)
    _counts: tuple[np.ndarray, ...] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        sums = tuple(group_sum_matrix(cell, int(cell.max()) + 1) for cell in self.cells)
        object.__setattr__(self, "_sums", sums)
        object.__setattr__(self, "_counts", tuple(np.asarray(s.sum(axis=1)).ravel() for s in sums))

    def residualise(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` after R's ten sweeps of ``x - w * ave(x / w, margin)`` over the margins."""
        x = x.copy()
        for _ in range(_RAKE_VARIANCE_SWEEPS):
            for cell, w, sums, counts in zip(self.cells, self.weights, self._sums, self._counts, strict=True):
                x = x - w[:, None] * (np.asarray(sums @ (x / w[:, None])) / counts[:, None])[cell]
        return x


@dataclass(frozen=True)
class CalibrationSummary:
    """What a calibration did to the weights, for a diagnostics table.

    Attributes
    ----------
    method : str
        ``"post_stratify"``, ``"rake"``, or ``"calibrate:<calfun>"``.
    iterations : int
        Newton steps (calibrate) or raking sweeps (rake); 1 for post-stratification.
    converged : bool
        Whether the totals were met within the tolerance.
    max_misfit : float
        Largest ``|population - calibrated total| / (1 + |population|)`` after calibration.
    g_min, g_max : float
        Range of the g-weights (calibrated over input weight).
    trimmed : int
        Units whose g-weight was trimmed (R's ``trim=``).
    """

    method: str
    iterations: int
    converged: bool
    max_misfit: float
    g_min: float
    g_max: float
    trimmed: int


# --------------------------------------------------------------------------------------- model matrices


def cell_codes(data: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Label each row with its joint cell over `columns`, as ``"a|b"`` text (R: ``interaction``)."""
    if not columns:
        raise CalibrationError("a margin needs at least one column")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise CalibrationError(f"calibration column {missing[0]!r} is not in the data")
    parts = data[list(columns)]
    if parts.isna().any().any():
        bad = parts.columns[parts.isna().any()][0]
        raise CalibrationError(f"calibration column {bad!r} has missing values")
    text = parts[columns[0]].astype(str)
    for column in columns[1:]:
        text = text + "|" + parts[column].astype(str)
    return text


def margin_matrix(
    sample: pd.DataFrame,
    population: pd.DataFrame,
    margins: Sequence[Sequence[str]],
    numeric: Collection[str] = (),
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Model matrix of the sample's calibration variables and their population totals.

    Each margin is one or more columns. Its categorical columns define joint cells, each calibrated
    to its population count (``["authority_type", "imd_band"]`` is the type-by-band table). Its
    columns named in `numeric` are continuous: within each joint cell of the margin's categorical
    columns (the whole population when it has none) their population total is calibrated too, so
    ``["authority_type", "imd_score"]`` is R's ``~authority_type * imd_score`` (a count and an
    IMD-score total per authority type) and ``["imd_score"]`` is R's ``~imd_score``. Every cell of
    every margin gets a column, so the matrix is rank-deficient when margins overlap; the calibration
    uses generalised inverses and projections, which depend only on the column space (the same as R's
    full-rank ``model.matrix`` of ``~a + b + a:c``).

    Parameters
    ----------
    sample
        One row per sampled unit, with every margin column.
    population
        One row per population unit (the frame), with every margin column.
    margins
        The margins.
    numeric
        The columns that are continuous (their totals, not their cells, are calibrated).

    Returns
    -------
    matrix : numpy.ndarray
        ``(n_sample, columns)``: 0/1 cell indicators, and the value of each numeric column within its
        cell (0 outside it).
    totals : numpy.ndarray
        Population count of each cell, population total of each numeric column within each cell.
    labels : list of str
        ``"col1|col2=value1|value2"`` per cell, ``"col1:x=value1"`` per numeric total within a cell
        (``"x"`` for a total over the population).

    Raises
    ------
    CalibrationError
        A sample cell is absent from the population (R: "This Can't Happen"), a population cell
        has no sample unit (R: "Some strata absent from sample"), or a numeric column has a missing
        or non-finite value.
    """
    blocks, totals, labels = [], [], []
    for margin in margins:
        cols = [c for c in margin if c not in numeric]
        values = [c for c in margin if c in numeric]
        if cols:
            sample_cell = cell_codes(sample, cols)
            pop_cell = cell_codes(population, cols)
        else:
            sample_cell = pd.Series("all", index=sample.index)
            pop_cell = pd.Series("all", index=population.index)
        pop_counts = pop_cell.value_counts().sort_index()
        in_sample = set(pd.unique(sample_cell))
        absent = sorted(in_sample - set(pop_counts.index))
        name = "|".join(cols)
        if absent:
            raise CalibrationError(f"margin {name}: sample cell {absent[0]!r} is not in the population")
        empty = [c for c in pop_counts.index if c not in in_sample]
        if empty:
            raise CalibrationError(
                f"margin {name}: population cell {empty[0]!r} has no respondent; "
                "collapse it into a neighbouring cell or drop the margin"
            )
        indicators = (sample_cell.to_numpy()[:, None] == pop_counts.index.to_numpy()[None, :]).astype(float)
        blocks.append(indicators)
        totals.append(pop_counts.to_numpy(dtype=float))
        labels.extend(f"{name or 'all'}={c}" for c in pop_counts.index)
        for column in values:
            sample_value, pop_value = _numeric(sample, column), _numeric(population, column)
            blocks.append(indicators * sample_value[:, None])
            pop_totals = pd.Series(pop_value).groupby(pop_cell.to_numpy()).sum()
            totals.append(pop_totals.reindex(pop_counts.index).to_numpy(dtype=float))
            labels.extend(f"{name}:{column}={c}" if cols else column for c in pop_counts.index)
    return np.hstack(blocks), np.concatenate(totals), labels


def _numeric(data: pd.DataFrame, column: str) -> np.ndarray:
    if column not in data.columns:
        raise CalibrationError(f"calibration column {column!r} is not in the data")
    values = pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise CalibrationError(f"calibration column {column!r} has missing or non-numeric values")
    return values


# ------------------------------------------------------------------------------------- the g-weights


def _calfun(name: str, lower: float, upper: float):
    if name == "linear":

        def fm1(u):
            return np.minimum(np.maximum(u + 1, lower), upper) - 1

        def df(u):
            return ((u < upper - 1) & (u > lower - 1)).astype(float)

    elif name == "raking":

        def fm1(u):
            with np.errstate(over="ignore"):
                return np.minimum(np.maximum(np.exp(u), lower), upper) - 1

        def df(u):
            with np.errstate(over="ignore"):
                return np.where((u < upper - 1) & (u > lower - 1), np.exp(u), 0.0)

    elif name == "logit":
        if not (np.isfinite(lower) and np.isfinite(upper)):
            raise CalibrationError("logit calibration requires finite bounds")
        if not lower < 1 < upper:
            raise CalibrationError("logit calibration requires bounds with lower < 1 < upper")
        a = (upper - lower) / ((upper - 1) * (1 - lower))

        def fm1(u):
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(a * u)
                return (lower * (upper - 1) + upper * (1 - lower) * e) / (upper - 1 + (1 - lower) * e) - 1

        def df(u):
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(a * u)
                den = upper - 1 + (1 - lower) * e
                return (
                    upper * (1 - lower) * e * a / den
                    - ((lower * (upper - 1) + upper * (1 - lower) * e) * ((1 - lower) * e * a)) / den**2
                )

    else:
        raise CalibrationError(f"calfun must be one of {CALFUNS}, got {name!r}")
    return fm1, df


def _totals(columns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each row of ``columns`` (a variable, contiguous) times ``values``, summed pairwise (NaN where a
    diverging step made ``values`` infinite, as the matrix product gave, without a warning)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return (columns * values).sum(axis=1)


def calibration_factors(
    x: np.ndarray,
    weights: np.ndarray,
    population: np.ndarray,
    *,
    calfun: CalFun = "linear",
    bounds: tuple[float, float] = (-np.inf, np.inf),
    trim: tuple[float, float] | None = None,
    epsilon: float = 1e-7,
    maxit: int = 50,
    patterns: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, CalibrationSummary]:
    """The g-weights that calibrate `weights` to the `population` totals of the columns of `x`.

    Linear calibration without bounds is R's ``regcalibrate`` (one step, ``g = 1 + x'lambda``);
    otherwise R's ``grake``: Newton steps on ``eta`` with a generalised inverse, step halving when g
    is not finite, stopping when every ``|misfit| / (1 + |population|) < epsilon``. ``trim`` is R's
    ``trim=``: g-weights outside it are set to the limit and the excess weight spread over the others
    in proportion to their input weight.

    Parameters
    ----------
    x
        ``(n, p)`` calibration variables (e.g. `margin_matrix`).
    weights
        Input weights, positive.
    population
        Population totals of the columns of `x`.
    calfun, bounds, trim, epsilon, maxit
        As R's ``calibrate()``.
    patterns
        `row_patterns` of `x`, when the caller has them (replicates calibrate the same rows hundreds of
        times); otherwise found here. The g-weights are computed per pattern, on summed weights.

    Returns
    -------
    g : numpy.ndarray
        Calibrated weight over input weight, per row of `x`.
    summary : CalibrationSummary
        Iterations, convergence and range.

    Raises
    ------
    CalibrationError
        The totals cannot be met (no convergence within `maxit`, or a column with no sample).
    """
    x = np.asarray(x, dtype=float)
    w = np.asarray(weights, dtype=float)
    pop = np.asarray(population, dtype=float)
    if x.ndim != 2 or x.shape[0] != w.size or x.shape[1] != pop.size:
        raise CalibrationError("x must be (n, p) with n weights and p population totals")
    lower, upper = float(bounds[0]), float(bounds[1])
    keep = ~((pop == 0) & np.all(x == 0, axis=0))  # R drops columns empty in sample and population
    x, pop = x[:, keep], pop[keep]
    found = patterns if patterns is not None else row_patterns(x)
    if found is not None:
        distinct, code = found
        rows_x, rows_w = x, w
        x = distinct[:, keep] if distinct.shape[1] == keep.size else distinct
        w = np.bincount(code, weights=w, minlength=x.shape[0])
    # The totals are summed pairwise over a copy with each column contiguous: a matrix product sums
    # each column in one running total (single-threaded BLAS), and at half a million rows its rounding
    # (about 1e-11 of the total) is above the 1e-12 the study asks the misfit to reach.
    columns = np.ascontiguousarray(x.T)
    sample_total = _totals(columns, w)
    if np.any(sample_total == 0):
        raise CalibrationError("a calibration total is positive in the population but has no sample")

    if calfun == "linear" and np.isneginf(lower) and np.isposinf(upper):
        gram = (x * w[:, None]).T @ x
        lam = np.linalg.pinv(gram, rcond=_GINV_TOL, hermitian=True) @ (pop - sample_total)
        g = 1 + x @ lam
        iterations, failed = 1, None
    else:
        fm1, df = _calfun(calfun, lower, upper)
        eta = np.zeros(x.shape[1])
        xeta = x @ eta
        g = 1 + fm1(xeta)
        deriv = df(xeta)
        iterations = 1
        scale = None
        ratios = pop / sample_total
        if ratios.min() > _PRESCALE_THRESHOLD:
            scale = float(ratios.mean())
            w = w * scale
            sample_total = sample_total * scale
        failed = None
        while True:
            tmat = (x * (w * deriv)[:, None]).T @ x
            misfit = pop - sample_total - _totals(columns, w * fm1(xeta))
            deta = np.linalg.pinv(tmat, rcond=_GINV_TOL) @ misfit
            eta = eta + deta
            xeta = x @ eta
            g = 1 + fm1(xeta)
            deriv = df(xeta)
            while iterations < maxit and not (np.all(np.isfinite(g)) and np.all(np.isfinite(deriv))):
                iterations += 1
                deta = deta / 2
                eta = eta - deta
                xeta = x @ eta
                g = 1 + fm1(xeta)
                deriv = df(xeta)
            misfit = pop - sample_total - _totals(columns, w * fm1(xeta))
            if np.all(np.abs(misfit) / (1 + np.abs(pop)) < epsilon):
                break
            iterations += 1
            if iterations > maxit:
                failed = float(np.max(np.abs(misfit) / (1 + np.abs(pop))))
                break
        if scale is not None:
            g = g * scale
            w = w / scale

    if found is not None:
        # Back to rows: each row takes its pattern's g-weight.
        g, x, w = g[code], rows_x, rows_w
        columns = np.ascontiguousarray(x.T)
    trimmed = 0
    if trim is not None:
        low, high = float(trim[0]), float(trim[1])
        outside = (g < low) | (g > high)
        if outside.any():
            clipped = np.clip(g, low, high)
            excess = float(((g - clipped) * w).sum())
            clipped[~outside] += excess / float(w[~outside].sum())
            g = clipped
            trimmed = int(outside.sum())
            failed = None  # R: trimming clears the failure flag; the totals are then met only approximately
    if failed is not None:
        raise CalibrationError(
            f"calibration ({calfun}, bounds {bounds}) did not converge in {maxit} iterations "
            f"(largest relative misfit {failed:.3g}); widen the bounds or use fewer margins"
        )
    final_misfit = np.abs(pop - _totals(columns, w * g)) / (1 + np.abs(pop))
    return g, CalibrationSummary(
        method=f"calibrate:{calfun}",
        iterations=iterations,
        converged=bool(np.all(final_misfit < max(epsilon, 1e-7))) or trimmed > 0,
        max_misfit=float(final_misfit.max()),
        g_min=float(g.min()),
        g_max=float(g.max()),
        trimmed=trimmed,
    )


# ------------------------------------------------------------------------------------ the designs


def _units(design: PreparedDesign, unit: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit code of each calibrated row and the position (in ``rows``) of each unit's first row."""
    if unit is None:
        return np.arange(rows.size), np.arange(rows.size)
    codes = pd.factorize(pd.Series(design.column(unit)[rows]), sort=True)[0].astype(np.int64)
    first = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(rows.size)[::-1]
    # Units must nest in PSUs (their residuals are spread over rows of one PSU) and share a weight.
    psu, w = design.psu[rows], design.weights[rows]
    if np.any(psu[first][codes] != psu):
        raise CalibrationError("calibration units must nest within PSUs")
    if not np.allclose(w[first][codes], w, rtol=1e-12, atol=0):
        raise CalibrationError("the rows of a calibration unit must share one weight")
    return codes, first


def _with_weights(design: PreparedDesign, weights: np.ndarray, entry: Any) -> PreparedDesign:
    data = design.data
    if design.design.weights is not None:
        # The weight column follows, so code that rebuilds a design from the rows sees calibrated weights.
        data = data.assign(**{design.design.weights: weights})
    return dataclasses.replace(design, data=data, weights=weights, calibrations=(*design.calibrations, entry))


def calibrate(
    design: PreparedDesign,
    x: np.ndarray,
    population: np.ndarray,
    *,
    calfun: CalFun = "linear",
    bounds: tuple[float, float] = (-np.inf, np.inf),
    trim: tuple[float, float] | None = None,
    unit: Any = None,
    rows: np.ndarray | None = None,
    epsilon: float = 1e-7,
    maxit: int = 50,
    df_adjust: bool | Literal["leverage"] = False,
    unit_fpc: bool = False,
) -> tuple[PreparedDesign, CalibrationSummary]:
    """Calibrate a design's weights to population totals (R: ``calibrate(design, formula, population)``).

    Parameters
    ----------
    design
        The prepared design.
    x
        ``(n, p)`` calibration variables per row; with `unit`, constant within a unit. With `rows`, it may
        hold just the calibrated rows, in order (``(rows.sum(), p)``): the other rows' values are never
        read, and a matrix over every row of a large design is hundreds of megabytes.
    population
        Their population totals (over units).
    calfun, bounds, trim, epsilon, maxit
        As R's ``calibrate()``: ``"linear"`` (GREG), ``"raking"`` or ``"logit"``; bounds on g.
    unit
        Column or array grouping rows into calibration units that each count once (e.g. the LSP of
        each partner); ``None`` calibrates rows.
    rows
        Boolean mask of the rows to calibrate (e.g. one instrument's rows in a design of both); the
        other rows keep their weights and their influence values. ``None`` for all rows.
    df_adjust
        Multiply the calibrated variance by ``(m - H) / (m - r)``: ``m`` calibrated units, ``H`` strata
        among them, ``r`` the rank of the calibration variables together with the stratum indicators.
        The stratified variance already pays for the ``H`` stratum means; each further calibration
        constraint is a regression coefficient estimated from the same units, and residuals from a fit
        of ``r`` coefficients are ``(m - r) / (m - H)`` too small on average (the degrees-of-freedom
        adjustment of survey regression software, e.g. SAS PROC SURVEYREG's ``VADJUST=DF``). R's
        ``calibrate()`` does not make it (``False`` matches R). ``"leverage"`` makes the same
        correction unit by unit: each unit's residual is multiplied by ``sqrt((1 - 1/n_h) / (1 - h))``,
        ``h`` its leverage in the calibration regression (the weighted projection on the calibration
        variables and the strata) and ``1/n_h`` its leverage on its stratum's mean alone (the HC2
        correction, relative to what the stratified variance already pays). The factors average about
        the uniform one, but a unit whose calibration total it nearly fits by itself (a large g-weight,
        an extreme value of a numeric calibration variable) gets its residual restored in proportion.
    unit_fpc
        Give each unit its own finite population correction ``1 - 1/w`` (``w`` its calibrated weight,
        the inverse of its estimated inclusion or response probability) in place of its stratum's
        ``1 - n_h/N_h``. The stratum's correction assumes every unit of the stratum was equally likely
        to be observed; calibration says they were not, and units with large weights then carry more
        of the variance than the stratum's average correction allows (with probabilities 0.3 and 0.7
        in one stratum the SE is about 12% too small). With the design's own weights ``N_h/n_h`` the
        two are the same. A design without an fpc, or with a second stage, is left as it is;
        ``False`` matches R.

    Returns
    -------
    design : PreparedDesign
        The calibrated design; its variance reflects the calibration.
    summary : CalibrationSummary
        Convergence and g-weight range.
    """
    x = np.asarray(x, dtype=float)
    positions = np.arange(design.n) if rows is None else np.flatnonzero(np.asarray(rows, dtype=bool))
    if x.shape[0] not in (design.n, positions.size):
        raise CalibrationError(f"x has {x.shape[0]} rows, the design has {design.n}")
    if positions.size == 0:
        raise CalibrationError("no rows to calibrate")
    # Where each calibrated row's values are in x: x covers every row of the design, or just these.
    x_rows = positions if x.shape[0] == design.n else np.arange(positions.size)
    codes, first = _units(design, unit, positions)
    # The units' rows of x, never a copy of every calibrated row (hundreds of megabytes at 1000x).
    ux, uw = x[x_rows[first]], design.weights[positions][first]
    if unit is not None and not _constant_within_units(ux, codes, x, x_rows):
        raise CalibrationError("calibration variables must be constant within a unit")
    unit_stratum = design.stratum[positions][first]
    solution = _solve(
        ux,
        uw,
        np.asarray(population, dtype=float),
        unit_stratum,
        {"calfun": calfun, "bounds": bounds, "trim": trim, "epsilon": epsilon, "maxit": maxit},
        leverage=df_adjust == "leverage",
    )
    g, summary, u, rank = solution.g, solution.summary, solution.basis, solution.rank
    half = np.sqrt(uw)
    unit_scale = _unit_fpc_scale(design, positions[first], uw * g) if unit_fpc else None
    if df_adjust == "leverage":
        leverage = solution.leverage
        unit_scale = leverage if unit_scale is None else unit_scale * leverage
    entry = GregResiduals(
        basis=u[:, :rank],
        scale=g * half,
        unit=codes,
        rows_per_unit=np.bincount(codes).astype(float),
        rows=positions,
        inflation=_df_inflation(ux, unit_stratum) if df_adjust is True else 1.0,
        unit_scale=unit_scale,
    )
    weights = design.weights.copy()
    weights[positions] *= g[codes]
    return _with_weights(design, weights, entry), summary


@dataclass(frozen=True, eq=False)
class _Solution:
    """What a calibration works out from its units alone: g-weights, summary, basis, rank, leverage."""

    g: np.ndarray
    summary: CalibrationSummary
    basis: np.ndarray  # the left singular vectors (units x columns); the basis is its first `rank`
    rank: int
    leverage: np.ndarray | None


# Solutions by a digest of their inputs. A design of both instruments calibrates the same units with
# the same weights as each instrument's own design (the study's all-respondents design): the second is
# the first's solution, the same numbers without a second solve and SVD, and the designs share one basis
# (about 50 MB per instrument at Place-Survey size). The basis is held weakly (never kept alive by this
# table, only reused while a design holds it); the rest is a few vectors per unit, the last few kept.
_SOLVED: dict[bytes, tuple[weakref.ref, _Solution]] = {}
_SOLVED_KEPT = 4


def _solve(
    ux: np.ndarray,
    uw: np.ndarray,
    population: np.ndarray,
    unit_stratum: np.ndarray,
    options: dict[str, Any],
    leverage: bool,
) -> _Solution:
    """`calibration_factors`, `weighted_svd` and (with `leverage`) `_leverage_scale` of a calibration's
    units, or the solution of the same inputs already worked out while its basis is still in use."""
    digest = hashlib.blake2b(digest_size=32)
    for array in (ux, uw, population, pd.factorize(unit_stratum)[0]):
        array = np.ascontiguousarray(array)
        digest.update(str((array.dtype, array.shape)).encode())
        digest.update(array)  # the buffer itself, not a copy of it
    digest.update(repr(sorted(options.items())).encode())
    key = digest.digest()
    known = _SOLVED.get(key)
    basis = None if known is None else known[0]()
    if known is not None and basis is not None:
        solution = dataclasses.replace(known[1], basis=basis)
        if leverage and solution.leverage is None:
            solution = dataclasses.replace(solution, leverage=_leverage_scale(ux, uw, unit_stratum))
    else:
        patterns = row_patterns(ux)
        g, summary = calibration_factors(ux, uw, population, patterns=patterns, **options)
        basis, s = weighted_svd(ux, uw, patterns)
        rank = int(np.sum(s > s[0] * max(ux.shape) * np.finfo(float).eps)) if s.size else 0
        lev = _leverage_scale(ux, uw, unit_stratum) if leverage else None
        solution = _Solution(g, summary, basis, rank, lev)
    _SOLVED.pop(key, None)
    # Kept without its basis: the table must not be what keeps the basis alive.
    _SOLVED[key] = (weakref.ref(basis), dataclasses.replace(solution, basis=_NO_BASIS))
    while len(_SOLVED) > _SOLVED_KEPT:
        _SOLVED.pop(next(iter(_SOLVED)))
    return solution


_NO_BASIS = np.empty((0, 0))


def _constant_within_units(
    unit_x: np.ndarray, codes: np.ndarray, x: np.ndarray, positions: np.ndarray
) -> bool:
    """``np.allclose(unit_x[codes], x[positions])``, a slice of rows at a time: the whole comparison made
    several rows x variables temporaries (hundreds of megabytes at 1000x the bundled survey)."""
    step = 65_536
    return all(
        np.allclose(unit_x[codes[start : start + step]], x[positions[start : start + step]])
        for start in range(0, positions.size, step)
    )


def _unit_fpc_scale(
    design: PreparedDesign, unit_rows: np.ndarray, unit_weights: np.ndarray
) -> np.ndarray | None:
    """sqrt((1 - 1/w) / (1 - n_h/N_h)) per unit, for `calibrate`'s ``unit_fpc``; None without an fpc.

    A two-stage design keeps R's stratum correction: its within-PSU term is scaled by the stratum's
    n_h/N_h, and a per-unit first-stage correction would need the matching per-unit second-stage scale.
    """
    if design.subunit is not None:
        return None
    stratum_fpc = design.fpc_factor[design.stratum[unit_rows]]
    if np.all(stratum_fpc == 1.0):
        return None
    own = np.clip(1.0 - 1.0 / unit_weights, 0.0, 1.0)
    # A stratum taken whole has no variance whatever the scale; leave it at 1.
    return np.where(stratum_fpc > 0, np.sqrt(own / np.where(stratum_fpc > 0, stratum_fpc, 1.0)), 1.0)


def _leverage_scale(unit_x: np.ndarray, unit_weights: np.ndarray, unit_stratum: np.ndarray) -> np.ndarray:
    """``sqrt((1 - 1/n_h) / (1 - h))`` per unit, for `calibrate`'s ``df_adjust="leverage"``."""
    strata = pd.factorize(unit_stratum)[0]
    n_strata = int(strata.max()) + 1
    indicators = np.zeros((unit_x.shape[0], n_strata))
    indicators[np.arange(unit_x.shape[0]), strata] = 1.0
    variables = np.hstack([unit_x, indicators])
    leverage = weighted_leverage(
        variables,
        unit_weights,
        row_patterns(variables),
        lambda s: int(np.sum(s > s[0] * max(variables.shape) * np.finfo(float).eps)),
    )
    if np.any(leverage > 1 - 1e-9):
        raise CalibrationError(
            "a unit fits a calibration total by itself (leverage 1): its variance is unknown"
        )
    stratum_leverage = 1.0 / np.bincount(strata)[strata]
    return np.sqrt((1.0 - stratum_leverage) / (1.0 - leverage))


def _df_inflation(unit_x: np.ndarray, unit_stratum: np.ndarray) -> float:
    """``(m - H) / (m - r)`` of `calibrate`'s ``df_adjust`` (see there)."""
    m = unit_x.shape[0]
    strata = pd.factorize(unit_stratum)[0]
    n_strata = int(strata.max()) + 1
    indicators = np.zeros((m, n_strata))
    indicators[np.arange(m), strata] = 1.0
    rank = int(np.linalg.matrix_rank(np.hstack([unit_x, indicators])))
    if m - rank < 1:
        raise CalibrationError(f"{m} units cannot carry {rank} calibration constraints and strata")
    return (m - n_strata) / (m - rank)


def _cells(
    design: PreparedDesign, cells: Any, population: Mapping[Any, float]
) -> tuple[np.ndarray, np.ndarray]:
    labels = pd.Series(design.column(cells))
    if labels.isna().any():
        raise CalibrationError("post-stratum labels have missing values")
    levels = sorted(population, key=str)
    code_of = {level: i for i, level in enumerate(levels)}
    unknown = sorted(set(labels) - set(code_of), key=str)
    if unknown:
        raise CalibrationError(f"sample cell {unknown[0]!r} is absent from the population")
    codes = labels.map(code_of).to_numpy(dtype=np.int64)
    counts = np.bincount(codes, minlength=len(levels))
    empty = [levels[i] for i in np.flatnonzero(counts == 0) if population[levels[i]] > 0]
    if empty:
        raise CalibrationError(f"population cell {empty[0]!r} has no sample (R: use partial=TRUE)")
    return codes, np.array([float(population[level]) for level in levels])


def _post_stratified_weights(w: np.ndarray, codes: np.ndarray, totals: np.ndarray) -> np.ndarray:
    sums = np.bincount(codes, weights=w, minlength=totals.size)
    return w * (totals / np.where(sums > 0, sums, 1.0))[codes]


def post_stratify(
    design: PreparedDesign, cells: Any, population: Mapping[Any, float]
) -> tuple[PreparedDesign, CalibrationSummary]:
    """Post-stratify a design to population cell counts (R: ``postStratify(design, ~cells, pop)``).

    Parameters
    ----------
    design
        The prepared design.
    cells
        Column name or array of post-stratum labels per row.
    population
        Population count of every post-stratum.

    Returns
    -------
    design : PreparedDesign
        Weights ``w * N_c / sum_c w``; variance centred within post-strata.
    summary : CalibrationSummary
        The g range.
    """
    codes, totals = _cells(design, cells, population)
    new = _post_stratified_weights(design.weights, codes, totals)
    entry = PostStratumCentring(cell=codes, weights=new, old_weights=design.weights)
    g = new / design.weights
    return _with_weights(design, new, entry), CalibrationSummary(
        "post_stratify", 1, True, 0.0, float(g.min()), float(g.max()), 0
    )


def rake(
    design: PreparedDesign,
    margins: Sequence[Any],
    populations: Sequence[Mapping[Any, float]],
    *,
    maxit: int = 10,
    epsilon: float = 1.0,
) -> tuple[PreparedDesign, CalibrationSummary]:
    """Rake a design to several margins by iterative post-stratification (R: ``rake()``).

    R's stopping rule is kept: a sweep post-stratifies each margin in turn; raking stops when the
    largest change of the joint weighted table over all margins is below ``epsilon`` (if
    ``epsilon < 1``, that fraction of the weight total), or after ``maxit`` sweeps.

    Parameters
    ----------
    design
        The prepared design.
    margins
        Per margin, a column name or array of cell labels per row.
    populations
        Per margin, the population count of every cell.
    maxit, epsilon
        R's ``control=list(maxit=, epsilon=)``.

    Returns
    -------
    design : PreparedDesign
        The raked design; its variance back-fits over the margins as R's ``svyrecvar`` does.
    summary : CalibrationSummary
        Sweeps and convergence.
    """
    if len(margins) != len(populations) or not margins:
        raise CalibrationError("give one population table per margin")
    coded = [_cells(design, m, p) for m, p in zip(margins, populations, strict=True)]
    joint = pd.factorize(pd.MultiIndex.from_arrays([c for c, _ in coded]))[0]
    n_joint = int(joint.max()) + 1
    tol = epsilon * float(design.weights.sum()) if epsilon < 1 else epsilon
    w = design.weights
    old_table = np.bincount(joint, weights=w, minlength=n_joint)
    sweeps, converged = 0, False
    stored: list[np.ndarray] = []
    while sweeps < maxit:
        stored = []
        for codes, totals in coded:
            w = _post_stratified_weights(w, codes, totals)
            stored.append(w)
        new_table = np.bincount(joint, weights=w, minlength=n_joint)
        if np.max(np.abs(new_table - old_table)) < tol:
            converged = True
            break
        old_table = new_table
        sweeps += 1
    if not converged:
        raise CalibrationError(f"raking did not converge after {sweeps} sweeps")
    entry = RakingProjection(cells=tuple(c for c, _ in coded), weights=tuple(stored))
    g = w / design.weights
    misfit = max(
        float(np.max(np.abs(np.bincount(c, weights=w, minlength=t.size) - t) / (1 + t))) for c, t in coded
    )
    return _with_weights(design, w, entry), CalibrationSummary(
        "rake", sweeps + 1, converged, misfit, float(g.min()), float(g.max()), 0
    )
