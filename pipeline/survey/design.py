"""The declared survey design and its prepared, array form.

`SurveyDesign` is the one record of how a sample was drawn: which columns hold the weights, the
primary sampling units (PSUs), the strata and the population sizes used for the finite population
correction, and the two rules R's ``survey`` package leaves to options (lonely PSUs and degrees of
freedom). `SurveyDesign.prepare` checks a data frame against that record and returns a
`PreparedDesign`, the arrays every estimator works on.

Variance follows R's ``svyrecvar`` for a one-stage (ultimate cluster) design: influence values are
summed to PSU totals, centred within strata and combined with the factor
``f_h * n_h / (n_h - 1)``, where ``n_h`` is the number of PSUs the stratum has *in the whole
design* and ``f_h = (N_h - n_h) / N_h``. Domain (subpopulation) estimates keep every row and set the
influence of rows outside the domain to zero, which is what R's ``subset``/``svyby`` amount to.

A design with a first-stage fpc may declare second-stage units (``subcluster``, R's
``ids = ~cluster + subcluster`` with ``fpc`` for the first stage only). The first-stage correction then
removes only the between-PSU part of the variance, and each PSU adds its within-PSU part, its
second-stage unit totals centred on their PSU mean times ``m_i / (m_i - 1)``, scaled by the sampling
fraction ``n_h / N_h`` of its stratum: R's ``multistage`` with the second stage treated as drawn with
replacement (``"stages without fpc were treated as with replacement"``), which needs no second-stage
population sizes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

LonelyPSU = Literal["fail", "adjust", "average", "certainty", "remove"]
DfRule = Literal["degf", "infinite"]
LONELY_PSU_RULES: tuple[str, ...] = ("fail", "adjust", "average", "certainty", "remove")
DF_RULES: tuple[str, ...] = ("degf", "infinite")

# R's onestrat() treats a stratum whose sampling fraction is this close to 1 as fully enumerated.
_CERTAINTY_TOL = 1e-7


def group_sum_matrix(codes: np.ndarray, groups: int) -> sparse.csr_matrix:
    """``(groups, len(codes))`` 0/1 matrix whose product with row values sums them by group code
    (``np.add.at`` does the same an order of magnitude slower)."""
    rows = np.asarray(codes, dtype=np.int64)
    return sparse.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(groups, rows.size))


class SurveyDesignError(ValueError):
    """A design that cannot be prepared or a variance that cannot be computed under its rules."""


@dataclass(frozen=True)
class SurveyDesign:
    """Declared record of a survey design (R: ``svydesign``).

    Parameters
    ----------
    weights
        Column of sampling weights. When omitted the weights are derived as R does: population
        size over number of sampled PSUs in the stratum if `fpc` is given, otherwise 1.
    cluster
        Column identifying primary sampling units. Omitted means each row is its own PSU
        (R's ``ids = ~1``).
    strata
        Column of first-stage strata. Omitted means one stratum.
    fpc
        Column holding the stratum population size in PSUs (``N_h``), constant within a stratum.
        Omitted means sampling with replacement (no finite population correction).
    subcluster
        Column identifying second-stage units within each PSU (each row its own unit if the column is
        unique per row). Needs `cluster` and `fpc`: with a with-replacement first stage R ignores later
        stages, so a second stage without `fpc` is refused rather than silently ignored. A PSU with a
        single second-stage unit follows `lonely_psu` at the second stage as R 4.1 does: ``"adjust"``
        leaves its total uncentred, ``"certainty"`` and ``"remove"`` give it no within-PSU variance,
        ``"fail"`` and ``"average"`` (NaN in R) raise.
    lonely_psu
        What to do with a stratum that has a single PSU, as R's ``options(survey.lonely.psu=)``:
        ``"fail"`` (R's default) raises; ``"adjust"`` centres that PSU on the grand mean (zero
        for an influence function); ``"average"`` drops the stratum and scales the variance up
        by strata/contributing strata; ``"certainty"`` and ``"remove"`` give it no variance.
    df_rule
        Degrees of freedom for the t quantiles of `svyciprop` and the t test of
        `domain_difference`: ``"degf"`` is R's ``degf()``, the number of PSUs minus the number of
        strata among the rows an estimate uses; ``"infinite"`` gives normal quantiles. The
        Rao-Scott denominator df always uses R's count, as ``svychisq`` does.
    label
        Free text naming the design in manifests, e.g. ``"coordinators: stratified SRSWOR"``.
    """

    weights: str | None = None
    cluster: str | None = None
    strata: str | None = None
    fpc: str | None = None
    subcluster: str | None = None
    lonely_psu: LonelyPSU = "fail"
    df_rule: DfRule = "degf"
    label: str = ""

    def __post_init__(self) -> None:
        if self.lonely_psu not in LONELY_PSU_RULES:
            raise SurveyDesignError(f"lonely_psu must be one of {LONELY_PSU_RULES}, got {self.lonely_psu!r}")
        if self.df_rule not in DF_RULES:
            raise SurveyDesignError(f"df_rule must be one of {DF_RULES}, got {self.df_rule!r}")
        if self.subcluster is not None and (self.cluster is None or self.fpc is None):
            raise SurveyDesignError(
                "a second stage (subcluster) needs first-stage clusters and an fpc: with PSUs drawn "
                "with replacement the later stages do not enter the variance"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """The data columns the design names (weights, clusters, strata, fpc), each once."""
        named = (self.weights, self.cluster, self.subcluster, self.strata, self.fpc)
        return tuple(dict.fromkeys(column for column in named if column))

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON-ready values, for a run manifest.

        Returns
        -------
        dict
            The fields, plus the equivalent R call and the variance method.
        """
        out: dict[str, Any] = asdict(self)
        out["r_equivalent"] = self.r_call()
        out["variance"] = (
            "Taylor linearisation, two-stage: first stage without replacement, second with replacement"
            if self.subcluster
            else "Taylor linearisation, one-stage (ultimate cluster) with-strata formula"
        )
        return out

    def r_call(self, data: str = "data") -> str:
        """Return the ``svydesign()`` call that declares the same design in R.

        Parameters
        ----------
        data
            Name of the R data frame in the call.

        Returns
        -------
        str
            The R expression.
        """
        ids = f"{self.cluster} + {self.subcluster}" if self.subcluster else (self.cluster or "1")
        parts = [f"ids = ~{ids}"]
        if self.strata:
            parts.append(f"strata = ~{self.strata}")
        if self.fpc:
            parts.append(f"fpc = ~{self.fpc}")
        if self.weights:
            parts.append(f"weights = ~{self.weights}")
        parts.append(f"data = {data}")
        return f"svydesign({', '.join(parts)})"

    def prepare(self, data: pd.DataFrame) -> PreparedDesign:
        """Check `data` against the record and build the arrays estimators use.

        Parameters
        ----------
        data
            One row per respondent.

        Returns
        -------
        PreparedDesign
            The design with integer-coded PSUs and strata and per-stratum constants.

        Raises
        ------
        SurveyDesignError
            A named column is absent or has missing values, a PSU spans strata, a weight is not
            positive and finite, or the population size is below the PSUs sampled or varies
            within a stratum.
        """
        n = len(data)
        if n == 0:
            raise SurveyDesignError("the data frame has no rows")
        for col in self.columns:
            if col not in data.columns:
                raise SurveyDesignError(f"design column {col!r} is not in the data")
            if data[col].isna().any():
                raise SurveyDesignError(f"design column {col!r} has missing values")

        if self.strata is None:
            stratum = np.zeros(n, dtype=np.int64)
            stratum_labels: tuple[Any, ...] = ("(all)",)
        else:
            codes, uniques = pd.factorize(data[self.strata], sort=True)
            stratum = codes.astype(np.int64)
            stratum_labels = tuple(uniques.tolist())
        n_strata = len(stratum_labels)

        if self.cluster is None:
            psu = np.arange(n, dtype=np.int64)
        else:
            psu = pd.factorize(data[self.cluster], sort=True)[0].astype(np.int64)
        n_psu_total = int(psu.max()) + 1

        # A PSU must sit in one stratum (R stops with "Clusters not nested in strata").
        psu_stratum = np.full(n_psu_total, -1, dtype=np.int64)
        psu_stratum[psu] = stratum
        if np.any(psu_stratum[psu] != stratum):
            raise SurveyDesignError(f"PSUs ({self.cluster!r}) are not nested in strata ({self.strata!r})")
        n_psu = np.bincount(psu_stratum, minlength=n_strata).astype(np.int64)

        if self.fpc is None:
            popsize = np.full(n_strata, np.inf)
        else:
            pop = data[self.fpc].to_numpy(dtype=float)
            popsize = np.full(n_strata, np.nan)
            popsize[stratum] = pop
            if np.any(popsize[stratum] != pop):
                raise SurveyDesignError(f"fpc column {self.fpc!r} varies within a stratum")
            if np.any(popsize < n_psu):
                raise SurveyDesignError(
                    f"fpc column {self.fpc!r} must hold population sizes (N_h) at least the "
                    "number of PSUs sampled in the stratum"
                )

        if self.weights is not None:
            w = data[self.weights].to_numpy(dtype=float)
        elif self.fpc is not None:
            w = (popsize / n_psu)[stratum]
        else:
            w = np.ones(n)
        if not np.all(np.isfinite(w) & (w > 0)):
            raise SurveyDesignError("weights must be positive and finite")

        finite = np.isfinite(popsize)
        f = np.ones(n_strata)
        f[finite] = (popsize[finite] - n_psu[finite]) / popsize[finite]

        subunit = None
        if self.subcluster is not None:
            pairs = pd.MultiIndex.from_arrays([psu, data[self.subcluster].to_numpy()])
            subunit = pd.factorize(pairs, sort=True)[0].astype(np.int64)

        prepared = PreparedDesign(
            design=self,
            data=data,
            weights=w,
            psu=psu,
            stratum=stratum,
            psu_stratum=psu_stratum,
            n_psu=n_psu,
            popsize=popsize,
            fpc_factor=f,
            stratum_labels=stratum_labels,
            subunit=subunit,
        )
        lone = prepared._within_units is not None and bool(np.any(prepared._within_units == 1))
        if lone and self.lonely_psu in ("fail", "average"):
            raise SurveyDesignError(
                f"a PSU has a single second-stage unit (lonely_psu={self.lonely_psu!r}); "
                "declare lonely_psu='adjust', 'certainty' or 'remove'"
            )
        return prepared


@dataclass(frozen=True, eq=False)
class PreparedDesign:
    """A design checked against its data, as arrays (build with `SurveyDesign.prepare`).

    Attributes
    ----------
    design : SurveyDesign
        The declared record.
    data : pandas.DataFrame
        The rows, so estimators can take column names.
    weights : numpy.ndarray
        Sampling weight per row.
    psu : numpy.ndarray
        PSU code per row, ``0 .. n_PSU - 1`` over the whole design.
    stratum : numpy.ndarray
        Stratum code per row.
    psu_stratum : numpy.ndarray
        Stratum code per PSU.
    n_psu : numpy.ndarray
        PSUs sampled per stratum in the whole design (R's ``fpc$sampsize``).
    popsize : numpy.ndarray
        Population PSUs per stratum, ``inf`` without an fpc.
    fpc_factor : numpy.ndarray
        ``(N_h - n_h) / N_h`` per stratum, 1 without an fpc.
    stratum_labels : tuple
        Stratum values in code order.
    calibrations : tuple
        Calibrations applied to the weights, in order (`pipeline.survey.calibration`); `variance`
        passes influence values through each, as R's ``svyrecvar`` does with ``postStrata``.
    subunit : numpy.ndarray or None
        Second-stage unit code per row (unique over the design), ``None`` for a one-stage design.
    """

    design: SurveyDesign
    data: pd.DataFrame
    weights: np.ndarray
    psu: np.ndarray
    stratum: np.ndarray
    psu_stratum: np.ndarray
    n_psu: np.ndarray
    popsize: np.ndarray
    fpc_factor: np.ndarray
    stratum_labels: tuple[Any, ...]
    calibrations: tuple[Any, ...] = ()
    subunit: np.ndarray | None = None
    _psu_sum: sparse.csr_matrix = field(init=False, repr=False)
    _rows_are_psus: bool = field(init=False, repr=False, default=False)
    _stratum_sum: sparse.csr_matrix = field(init=False, repr=False)
    _subunit_sum: sparse.csr_matrix | None = field(init=False, repr=False, default=None)
    _subunit_psu: np.ndarray | None = field(init=False, repr=False, default=None)
    _within_units: np.ndarray | None = field(init=False, repr=False, default=None)
    _within_root_scale: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        n = self.weights.size
        object.__setattr__(self, "_psu_sum", group_sum_matrix(self.psu, self.psu_stratum.size))
        # Each row its own PSU, in row order (no clusters): PSU totals are the rows themselves.
        object.__setattr__(
            self, "_rows_are_psus", self.psu_stratum.size == n and bool(np.all(self.psu == np.arange(n)))
        )
        psus = self.psu_stratum.size
        object.__setattr__(self, "_stratum_sum", group_sum_matrix(self.psu_stratum, self.n_psu.size))
        if self.subunit is not None:
            n_sub = int(self.subunit.max()) + 1
            if n_sub == n:
                # Each row its own second-stage unit (the usual case): work on the rows themselves.
                object.__setattr__(self, "_subunit_psu", self.psu)
            else:
                sub = group_sum_matrix(self.subunit, n_sub)
                subunit_psu = np.zeros(n_sub, dtype=np.int64)
                subunit_psu[self.subunit] = self.psu
                object.__setattr__(self, "_subunit_sum", sub)
                object.__setattr__(self, "_subunit_psu", subunit_psu)
            owner = self._subunit_psu
            m = np.bincount(owner, minlength=psus).astype(float)
            # R scales the PSU's within variance by its stratum's sampling fraction n_h / N_h; a lone
            # unit is left uncentred under "adjust" (R 4.1) and contributes nothing otherwise.
            sampled = (1.0 - self.fpc_factor)[self.psu_stratum]
            scale = np.where(m > 1, m / np.maximum(m - 1.0, 1.0), 1.0) * sampled
            if self.design.lonely_psu != "adjust":
                scale[m == 1] = 0.0
            object.__setattr__(self, "_within_units", m)
            object.__setattr__(self, "_within_root_scale", np.sqrt(scale))

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.weights.size)

    def with_data(self, data: pd.DataFrame) -> PreparedDesign:
        """The same design over another frame of the same rows in the same order (a column added or
        replaced): weights, PSUs, calibrations and the variance plan carry over.

        Raises
        ------
        SurveyDesignError
            The frame has another number of rows.
        """
        if len(data) != self.n:
            raise SurveyDesignError(f"the data has {len(data)} rows, the design has {self.n}")
        from pipeline.survey.domains import share_plan  # it builds on this module

        prepared = dataclasses.replace(self, data=data)
        share_plan(self, prepared)
        return prepared

    def column(self, x: str | Sequence[Any] | np.ndarray | pd.Series) -> np.ndarray:
        """Return `x` as a row-aligned array, looking a column name up in the data.

        Parameters
        ----------
        x
            A column name or an array-like of length ``n``.

        Returns
        -------
        numpy.ndarray
            The values, in row order.
        """
        if isinstance(x, str):
            if x not in self.data.columns:
                raise SurveyDesignError(f"column {x!r} is not in the data")
            return self.data[x].to_numpy()
        arr = x.to_numpy() if isinstance(x, pd.Series) else np.asarray(x)
        if arr.shape[0] != self.n:
            raise SurveyDesignError(f"array has {arr.shape[0]} rows, the design has {self.n}")
        return arr

    def mask(self, domain: str | Sequence[Any] | np.ndarray | pd.Series | None) -> np.ndarray:
        """Return a boolean row mask for `domain` (all rows when it is ``None``).

        Parameters
        ----------
        domain
            ``None``, a boolean array, or the name of a boolean column. Missing values count as
            outside the domain, as in R's ``subset()``.

        Returns
        -------
        numpy.ndarray
            Boolean mask of length ``n``.
        """
        if domain is None:
            return np.ones(self.n, dtype=bool)
        arr = self.column(domain)
        if arr.dtype == bool:
            return arr.copy()
        series = pd.Series(arr)
        if not series.dropna().isin([True, False, 0, 1]).all():
            raise SurveyDesignError("a domain must be boolean")
        return series.fillna(False).astype(bool).to_numpy()

    def degf(self, present: np.ndarray | None = None) -> float:
        """Design degrees of freedom among `present` rows, per the design's `df_rule`.

        Parameters
        ----------
        present
            Rows the estimate uses (R: the rows left in a subset design). ``None`` for all.

        Returns
        -------
        float
            PSUs minus strata among those rows (R's ``degf``), or ``inf`` for
            ``df_rule="infinite"``.
        """
        if self.design.df_rule == "infinite":
            return float("inf")
        return float(self.psu_minus_strata(present))

    def psu_minus_strata(self, present: np.ndarray | None = None) -> int:
        """Count distinct PSUs minus distinct strata among `present` rows (R's ``degf``).

        Parameters
        ----------
        present
            Boolean row mask, ``None`` for all rows.

        Returns
        -------
        int
            The count difference.
        """
        psu = self.psu if present is None else self.psu[present]
        stratum = self.stratum if present is None else self.stratum[present]
        # PSUs and strata are integer codes: counting by bincount is linear, np.unique sorts.
        psus = np.count_nonzero(np.bincount(psu, minlength=self.psu_stratum.size))
        strata = np.count_nonzero(np.bincount(stratum, minlength=self.n_psu.size))
        return int(psus - strata)

    def calibrated_influence(self, x: np.ndarray) -> np.ndarray:
        """Influence values ``(n, p)`` after every calibration's residualisation (unchanged if none)."""
        for calibration in self.calibrations:
            x = calibration.residualise(x)
        return x

    def psu_totals(self, x: np.ndarray) -> np.ndarray:
        """Column totals of ``(n, p)`` row values within each PSU: a ``(PSUs, p)`` array."""
        if self._rows_are_psus:
            return np.asarray(x, dtype=float)
        return np.asarray(self._psu_sum @ x)

    def stratum_totals(self, z: np.ndarray) -> np.ndarray:
        """Column totals of ``(PSUs, p)`` PSU values within each stratum: a ``(strata, p)`` array."""
        return np.asarray(self._stratum_sum @ z)

    def variance(self, influence: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Linearisation variance of estimates with the given influence values (R: svyrecvar).

        Parameters
        ----------
        influence
            ``(n,)`` or ``(n, p)`` influence (linearised) values, zero on rows outside the
            estimate's domain.
        present
            Rows the estimate uses. It matters only for the lonely-PSU rules: a single-PSU
            stratum with no present row is ignored (R never sees it in a subset design) and
            ``"average"`` counts strata among present rows. ``None`` means all rows.

        Returns
        -------
        numpy.ndarray
            ``(p, p)`` variance-covariance matrix.

        Raises
        ------
        SurveyDesignError
            Under ``lonely_psu="fail"`` when a present stratum has a single PSU.
        """
        x = np.asarray(influence, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        # Large designs: the same matrix from the rows with influence alone (pipeline.survey.domains).
        from pipeline.survey.domains import variance_plan  # it builds on this module

        plan = variance_plan(self)
        if plan is not None:
            rows = np.flatnonzero(np.any(x != 0, axis=1))
            return plan.covariance(rows, x[rows])
        if present is None:
            present = np.ones(self.n, dtype=bool)
        x = self.calibrated_influence(x)
        z = self.psu_totals(x)  # PSU totals, PSUs absent from a domain stay zero
        n_strata = self.n_psu.size
        h = self.psu_stratum

        # Centre PSU totals on the stratum mean over all n_h PSUs of the design: R pads the
        # PSUs a domain misses with zero rows before centring, which is the same thing.
        stratum_tot = self.stratum_totals(z)
        centred = z - (stratum_tot / self.n_psu[:, None])[h]

        lonely = self.n_psu == 1
        certain = self.fpc_factor < _CERTAINTY_TOL
        stratum_present = np.bincount(self.stratum[present], minlength=n_strata) > 0
        scale = np.where(
            lonely, self.fpc_factor, self.fpc_factor * self.n_psu / np.maximum(self.n_psu - 1, 1)
        )
        scale[certain] = 0.0

        rule = self.design.lonely_psu
        problem = lonely & ~certain & stratum_present
        inflate = 1.0
        if problem.any():
            if rule == "fail":
                bad = [self.stratum_labels[i] for i in np.flatnonzero(problem)]
                raise SurveyDesignError(
                    f"stratum {bad[0]!r} has only one PSU (lonely_psu='fail'); "
                    "declare another lonely_psu rule"
                )
            if rule == "adjust":
                # The lonely PSU is centred on the grand mean, which is zero for an
                # influence function, so its total enters uncentred.
                centred[problem[h]] = z[problem[h]]
            elif rule == "average":
                scale[problem] = 0.0
                n_present = int(stratum_present.sum())
                n_ok = n_present - int(problem.sum())
                inflate = n_present / n_ok if n_ok > 0 else float("nan")
            else:  # certainty, remove: the lonely PSU contributes nothing
                scale[problem] = 0.0
        scaled = centred * np.sqrt(scale)[h][:, None]
        out = (scaled.T @ scaled) * inflate
        within = self.within_psu_terms(x, z)
        if within is not None:
            out = out + within.T @ within
        return out

    def within_psu_terms(self, x: np.ndarray, psu_totals: np.ndarray | None = None) -> np.ndarray | None:
        """Scaled, centred second-stage unit totals whose cross-product is the within-PSU variance.

        Parameters
        ----------
        x
            ``(n, p)`` influence values after calibration (`calibrated_influence`).
        psu_totals
            ``self.psu_totals(x)`` when the caller has it already.

        Returns
        -------
        numpy.ndarray or None
            ``(second-stage units, p)`` rows ``s`` with ``s.T @ s`` the second stage's contribution
            (R's ``multistage`` below the first stage); ``None`` for a one-stage design.
        """
        if self._subunit_psu is None or self._within_units is None or self._within_root_scale is None:
            return None
        totals = x if self._subunit_sum is None else np.asarray(self._subunit_sum @ x)
        m = self._within_units
        totals_by_psu = self.psu_totals(x) if psu_totals is None else psu_totals
        psu_means = totals_by_psu / np.maximum(m, 1.0)[:, None]
        psu_means[m == 1] = 0.0  # a lone unit stays uncentred (its scale is 0 unless "adjust")
        owner = self._subunit_psu
        centred = totals - psu_means[owner]
        centred *= self._within_root_scale[owner][:, None]
        return centred
