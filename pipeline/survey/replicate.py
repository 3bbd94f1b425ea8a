"""Replicate-weight variance: jackknife (JK1, JKn) and bootstrap, with recalibration per replicate.

Matches R's ``survey`` package (4.1-1) ``as.svrepdesign(design, type=)``:

- ``"JK1"`` (unstratified) and ``"JKn"`` (stratified) delete one PSU at a time and scale the rest of
  its stratum by ``n_h / (n_h - 1)``; each replicate's square carries ``rscale = f_h (n_h - 1) / n_h``
  with ``f_h = (N_h - n_h) / N_h`` the finite population correction (1 without one);
- ``"bootstrap"`` is R's ``bootweights``: each replicate draws ``n_h`` PSUs with replacement within
  the stratum (without an fpc) or, with an fpc, ``n_h`` PSUs without replacement from ``N_h`` copies
  cycled over the sampled PSUs; the scale is ``nbar / ((nbar - 1)(R - 1))`` with ``nbar`` the harmonic
  mean of the ``n_h``. Its draws are seeded here (numpy), so the replicates are not R's; R agreement is
  tested on R's own replicate factors (exact) and on the mean SE of many replicates.

The variance of an estimate is ``scale * sum_r rscale_r (theta_r - mean(theta))^2`` (R's ``svrVar``
with ``mse=FALSE``). `ReplicateWeights.recalibrated` repeats a calibration on every replicate, as R's
``calibrate()`` does on a replicate design, so the replicate variance includes the calibration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pipeline.survey.design import PreparedDesign, SurveyDesignError

ReplicateKind = Literal["JK1", "JKn", "bootstrap"]
# Replicates summed at a time by `replicate_mean` (rows x this many floats of scratch memory), and rows
# expanded from PSU factors at a time.
REPLICATE_BLOCK = 32
ROW_BLOCK = 65_536


@dataclass(frozen=True, eq=False)
class ReplicateWeights:
    """Replicate weights of a design (R: a ``svyrep.design``).

    Attributes
    ----------
    kind : str
        ``"JK1"``, ``"JKn"``, ``"bootstrap"`` or ``"given"``.
    weights : numpy.ndarray
        Full-sample weight per row.
    replicates : numpy.ndarray
        ``(n, R)`` replicate weights (replicate factor times the full-sample weight).
    scale : float
        Overall multiplier of the variance.
    rscales : numpy.ndarray
        Per-replicate multiplier.
    """

    kind: str
    weights: np.ndarray
    replicates: np.ndarray
    scale: float
    rscales: np.ndarray

    @property
    def n_replicates(self) -> int:
        """Number of replicates."""
        return int(self.replicates.shape[1])

    def variance(self, thetas: np.ndarray) -> np.ndarray:
        """Variance (``(p, p)``) from replicate estimates ``thetas`` (``(R,)`` or ``(R, p)``)."""
        t = np.asarray(thetas, dtype=float)
        if t.ndim == 1:
            t = t[:, None]
        centre = t[self.rscales > 0].mean(axis=0)
        d = (t - centre) * np.sqrt(self.rscales)[:, None]
        return (d.T @ d) * self.scale

    def recalibrated(
        self, calibrate: Callable[[np.ndarray], np.ndarray], full: np.ndarray, *, reuse: bool = False
    ) -> ReplicateWeights:
        """Repeat a calibration on every replicate (R: ``calibrate()`` on a replicate design).

        Parameters
        ----------
        calibrate
            Maps a weight vector to its g-weights (e.g. a closure over
            `pipeline.survey.calibration.calibration_factors`).
        full
            The calibrated full-sample weights.
        reuse
            Write the recalibrated replicates over this object's (which must not be used again): at a
            survey's scale the replicates are the largest array a stage holds, and a second copy doubles
            its memory.

        Returns
        -------
        ReplicateWeights
            Replicates each multiplied by their own g-weights.
        """
        # Filled column by column: one more rows x replicates array, not a list of columns and its stack.
        reps = self.replicates if reuse else np.empty_like(self.replicates)
        for r in range(self.n_replicates):
            column = self.replicates[:, r]
            reps[:, r] = column * calibrate(column)  # the product is a new array before it is stored
        return dataclasses.replace(self, weights=np.asarray(full, dtype=float), replicates=reps)


def _factor_matrix(
    design: PreparedDesign, psu_factors: np.ndarray, kind: str, scale: float, rscales: np.ndarray
):
    # Each row takes its PSU's factors, a block of rows at a time (no rows x replicates temporary beside
    # the result), converted to float64 as it is stored; then weighted in place.
    replicates = np.empty((design.n, psu_factors.shape[1]))
    for start in range(0, design.n, ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        replicates[rows] = psu_factors[design.psu[rows]]
    replicates *= design.weights[:, None]
    return ReplicateWeights(
        kind=kind,
        weights=design.weights.copy(),
        replicates=replicates,
        scale=float(scale),
        rscales=np.asarray(rscales, dtype=float),
    )


def _first_stage_fpc(design: PreparedDesign, stratum: int) -> float:
    """The stratum's replicate fpc: none for a two-stage design (see `jackknife`)."""
    return 1.0 if design.subunit is not None else float(design.fpc_factor[stratum])


def jackknife(design: PreparedDesign, kind: Literal["JK1", "JKn"] = "JKn") -> ReplicateWeights:
    """Delete-one-PSU jackknife replicates (R: ``as.svrepdesign(design, type=kind)``).

    Parameters
    ----------
    design
        The prepared design; its fpc enters the replicate scales. For a two-stage design the PSUs
        are treated as drawn with replacement (the ultimate-cluster approximation): replicates that
        delete PSUs cannot see the second stage, so a first-stage correction would remove the
        within-PSU variance along with the between-PSU part (R's ``as.svrepdesign`` keeps the
        first-stage fpc and so understates it).
    kind
        ``"JK1"`` for a design with one stratum, ``"JKn"`` for a stratified one.

    Returns
    -------
    ReplicateWeights
        One replicate per PSU (strata with one PSU are skipped, as R's lonely-PSU rules other than
        ``adjust`` do; ``adjust`` is not supported and raises).
    """
    n_strata = design.n_psu.size
    if kind == "JK1" and n_strata > 1:
        raise SurveyDesignError("JK1 is for an unstratified design: use JKn")
    if kind == "JKn" and n_strata == 1 and design.design.strata is None:
        raise SurveyDesignError("JKn needs a stratified design: use JK1")
    n_psu_total = design.psu_stratum.size
    factors, rscales = [], []
    for h in range(n_strata):
        members = np.flatnonzero(design.psu_stratum == h)
        n_h = members.size
        if n_h == 1:
            if design.design.lonely_psu == "adjust":
                raise SurveyDesignError("replicate weights with lonely_psu='adjust' are not supported")
            continue
        for j in members:
            f = np.ones(n_psu_total)
            f[members] = n_h / (n_h - 1)
            f[j] = 0.0
            factors.append(f)
            rscales.append(_first_stage_fpc(design, h) * (n_h - 1) / n_h)
    if not factors:
        raise SurveyDesignError("every stratum has a single PSU: no jackknife replicates")
    return _factor_matrix(design, np.column_stack(factors), kind, 1.0, np.array(rscales))


def bootstrap(design: PreparedDesign, replicates: int = 500, seed: int = 0) -> ReplicateWeights:
    """Rescaled bootstrap replicates (R: ``as.svrepdesign(design, type="bootstrap")``), seeded.

    Parameters
    ----------
    design
        The prepared design. PSUs of a two-stage design are drawn with replacement, as `jackknife`
        treats them.
    replicates
        Number of replicates.
    seed
        Seed of the numpy generator: the same seed gives the same replicates.

    Returns
    -------
    ReplicateWeights
        Replicate factors are the number of times each PSU is drawn.
    """
    rng = np.random.default_rng(seed)
    n_psu_total = design.psu_stratum.size
    # Counts of draws: whole numbers, exact in float32 (up to 2**24), at half the memory of float64.
    factors = np.zeros((n_psu_total, replicates), dtype=np.float32)
    for h in range(design.n_psu.size):
        members = np.flatnonzero(design.psu_stratum == h)
        n_h = members.size
        if not np.isfinite(design.popsize[h]) or design.subunit is not None:
            draws = rng.integers(0, n_h, size=(replicates, n_h))
        else:
            # R: sample(rep(upsu, length = N_h), n_h): without replacement from N_h cycled copies.
            copies = np.resize(np.arange(n_h), round(float(design.popsize[h])))
            draws = np.stack([copies[rng.permutation(copies.size)[:n_h]] for _ in range(replicates)])
        # Each replicate's draws counted by PSU (np.add.at over every draw held three more arrays of
        # replicates x n_h and was slow).
        for r in range(replicates):
            factors[members, r] = np.bincount(draws[r], minlength=n_h)
    harmonic = 1.0 / np.mean(1.0 / design.n_psu.astype(float))
    scale = harmonic / ((harmonic - 1) * (replicates - 1))
    return _factor_matrix(design, factors, "bootstrap", scale, np.ones(replicates))


def given(
    design: PreparedDesign, factors: np.ndarray, scale: float, rscales: Any, kind: str = "given"
) -> ReplicateWeights:
    """Replicates from row-level replicate factors made elsewhere (e.g. R's ``bootweights``)."""
    f = np.asarray(factors, dtype=float)
    if f.shape[0] != design.n:
        raise SurveyDesignError(f"factors have {f.shape[0]} rows, the design has {design.n}")
    return ReplicateWeights(
        kind, design.weights.copy(), f * design.weights[:, None], float(scale), np.asarray(rscales, float)
    )


@dataclass(frozen=True)
class ReplicateMean:
    """A weighted mean (or proportion) with its replicate-weight SE."""

    estimate: float
    se: float
    n_replicates: int
    kind: str


def replicate_mean(reps: ReplicateWeights, y: np.ndarray, domain: np.ndarray | None = None) -> ReplicateMean:
    """Weighted mean of `y` over `domain` with the replicate SE (R: ``svymean`` on a svyrep design).

    Rows with `y` missing are left out of every replicate, as ``na.rm=TRUE``.
    """
    y = np.asarray(y, dtype=float)
    present = ~np.isnan(y)
    if domain is not None:
        present &= np.asarray(domain, dtype=bool)
    if not present.any():
        raise SurveyDesignError("the domain has no observed rows")
    yz = np.where(present, y, 0.0)
    full = float((reps.weights * yz).sum() / reps.weights[present].sum())
    # Replicates in column blocks: memory grows with rows x block, never rows x replicates; each column's
    # sums run over the rows in the same order as over the whole matrix, so the numbers are the same.
    numerator = np.empty(reps.n_replicates)
    denominator = np.empty(reps.n_replicates)
    for start in range(0, reps.n_replicates, REPLICATE_BLOCK):
        block = slice(start, start + REPLICATE_BLOCK)
        rw = np.where(present[:, None], reps.replicates[:, block], 0.0)
        denominator[block] = rw.sum(axis=0)
        rw *= yz[:, None]
        numerator[block] = rw.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        thetas = numerator / denominator
    ok = np.isfinite(thetas)
    if not ok.all():  # R: replicates with NA estimates are dropped with a warning
        reps = dataclasses.replace(reps, replicates=reps.replicates[:, ok], rscales=reps.rscales[ok])
        thetas = thetas[ok]
    var = float(reps.variance(thetas)[0, 0])
    return ReplicateMean(full, float(np.sqrt(var)), reps.n_replicates, reps.kind)
