"""Degrees of freedom for the linearised variance in small, calibrated samples (Bell and McCaffrey).

A linearised variance is a quadratic form in the influence values, ``v = z' A z``: `PreparedDesign.variance`
is bilinear, so ``A`` is the variance of the identity (its calibration residuals, leverage and
finite population corrections, stratum centring and second stage included). For a linear estimator
whose influence values are ``z_i = c_i e_i`` (``c_i`` its coefficient on unit ``i``'s value, ``e_i``
the unit's deviation from its domain mean), the working model of independent deviations of equal
variance gives ``v`` the distribution of a weighted sum of chi-squares; the Satterthwaite
approximation to it has

    df = (sum_i c_i^2 A_ii)^2 / sum_ij c_i^2 c_j^2 A_ij^2

(Bell and McCaffrey 2002, "Bias reduction in standard errors for linear regression with multi-stage
samples", Survey Methodology 28(2); Imbens and Kolesar 2016, "Robust standard errors in small samples",
Review of Economics and Statistics 98(4), recommend it with the leverage-corrected variance, which the
calibration's ``df_adjust="leverage"`` is). Where a few units carry much of the variance (a stratum of
a dozen respondents, a unit with a large weight or high leverage in the calibration), it is far below
the design's PSUs minus strata, and a t interval on it keeps its coverage where the normal or
design-df interval does not (docs/weighting.md, method validation).

R's ``survey`` package has no such option (its intervals use ``degf`` or the normal quantile); the
estimators' default stays R's, and ``df="bell_mccaffrey"`` asks for this one.

The matrix ``A`` is ``n x n``: above `MAX_ROWS` rows it is not formed and the design's degrees of
freedom are returned instead (such samples have large df in any case).
"""

from __future__ import annotations

import weakref

import numpy as np

from pipeline.survey.design import PreparedDesign

MAX_ROWS = 2_000
DF_RULES = ("design", "bell_mccaffrey")
_MATRICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def variance_matrix(design: PreparedDesign) -> np.ndarray | None:
    """``A`` with ``design.variance(z) = z' A z`` for every influence vector ``z`` (cached per design);
    ``None`` above `MAX_ROWS` rows."""
    if design.n > MAX_ROWS:
        return None
    matrix = _MATRICES.get(design)
    if matrix is None:
        matrix = design.variance(np.eye(design.n))
        matrix = (matrix + matrix.T) / 2
        _MATRICES[design] = matrix
    return matrix


def bell_mccaffrey_applies(design: PreparedDesign) -> bool:
    """Whether `bell_mccaffrey_df` computes the df for this design (at most `MAX_ROWS` rows); above
    that it returns the design's ``degf`` for every column, so callers need not form coefficients."""
    return design.n <= MAX_ROWS


def bell_mccaffrey_df(design: PreparedDesign, coefficients: np.ndarray) -> np.ndarray:
    """Bell-McCaffrey degrees of freedom of the linearised variance of each column's estimator.

    Parameters
    ----------
    design
        The prepared design (its calibrations included).
    coefficients
        ``(n,)`` or ``(n, k)``: each estimator's coefficient on each row's value (``w_i / W`` for a
        mean over a domain of weight total ``W``, 0 outside it; for a difference of domain means, the
        first domain's minus the second's). NaN is taken as 0.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` degrees of freedom (NaN for a column with no variance); the design's ``degf`` for
        every column above `MAX_ROWS` rows.
    """
    c = np.nan_to_num(np.asarray(coefficients, dtype=float))
    if c.ndim == 1:
        c = c[:, None]
    matrix = variance_matrix(design)
    if matrix is None:
        return np.full(c.shape[1], design.degf())
    squares = c**2
    trace = squares.T @ np.diag(matrix)
    frobenius = np.einsum("ik,ik->k", squares, (matrix**2) @ squares)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(frobenius > 0, trace**2 / frobenius, np.nan)


def mean_coefficients(design: PreparedDesign, rows: np.ndarray) -> np.ndarray:
    """``(n, k)`` coefficients of weighted means over each column of `rows` (a boolean ``(n, k)``)."""
    w = np.where(rows, design.weights[:, None], 0.0)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return w / total
