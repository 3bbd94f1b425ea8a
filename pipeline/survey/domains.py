"""Domain variances from the domain's own rows, with the design's PSU counts carried over.

A domain estimate's influence values are zero outside the domain, so R's ``subset`` (which keeps every
stratum's PSU count) and the engine's zero-padding give the same variance: PSU totals centred on their
stratum mean over all ``n_h`` PSUs of the design. Summing the zero rows costs a pass over every row of
the population per domain; this module gets the same number from the domain's rows alone:

- a stratum's centred sum of squares over its ``n_h`` PSUs is the sum over the PSUs the domain reaches
  of ``(a_p - mean)^2`` plus ``(n_h - reached) * mean^2`` for the PSUs it does not reach;
- a calibration (R's ``greg_calibration``: influence values replaced by residuals on the calibration
  variables) adds a part that is not zero outside the domain, but it is low rank: each unit's fitted
  part is its row of the basis ``B`` times ``c = B'(unit totals / scale)``, and ``c`` is a sum over the
  domain's units. The PSU totals are ``a - M c`` with ``M`` (PSUs x rank) fixed by the design, so the
  centred sum of squares is ``|a~|^2 - 2 c'(R' a) + c' G c`` with ``R`` (``M`` centred within strata and
  scaled) and ``G = M~' R`` computed once per design;
- a two-stage design's within-PSU part (each row its own second-stage unit) is a centred sum of squares
  within each PSU, the same way, when each PSU's rows are one calibration unit (their fitted part is a
  constant that centring removes); a PSU with one row is left uncentred under ``lonely_psu="adjust"``
  and enters like a calibrated PSU total.

`variance_plan` returns ``None`` for designs outside these cases (a stratum with one PSU, other
calibrations, units spanning PSUs); callers then use `PreparedDesign.variance` on every row. The plan
is built once per prepared design and kept beside it; it holds the design's arrays, never the design
itself (a cache entry that referred to its key would keep every design ever prepared alive).

Units whose calibration basis rows are equal (the same calibration cells and g-weight: thousands of
LSPs share a few hundred patterns when the margins are categorical) are summed before they meet the
basis, so each estimate's calibration part costs a pass over its rows and a product with the distinct
patterns, not a copy of the basis per estimate (the same sums in another order).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from pipeline.survey.calibration import GregResiduals
from pipeline.survey.design import PreparedDesign, group_sum_matrix
from pipeline.survey.patterns import distinct_rows

# Below this many rows a design is cheap either way (and the plan costs more than it saves).
MIN_ROWS = 2_000
_CERTAINTY_TOL = 1e-7
# PSUs per block when a plan centres its PSUs x rank matrix (`_build`).
_PSU_BLOCK = 65_536
_PLANS: weakref.WeakKeyDictionary[PreparedDesign, VariancePlan | None] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class _Distinct:
    """The rows of a matrix grouped where they are equal: each row's group code and the groups' rows.

    With little to gain (more groups than half the rows) every row is its own group, and products take
    the rows as they are.
    """

    code: np.ndarray | None  # None: no grouping
    values: np.ndarray

    @classmethod
    def of(cls, matrix: np.ndarray) -> _Distinct:
        found = distinct_rows(matrix, matrix.shape[0] // 2) if matrix.shape[0] else None
        if found is None:
            return cls(None, matrix)
        values, code = found
        return cls(code, values)

    def transposed_product(self, positions: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``matrix[positions].T @ x`` (``x`` one row per position), summing ``x`` within groups first."""
        if self.code is None:
            return self.values[positions].T @ x
        groups = self.values.shape[0]
        return self.values.T @ np.asarray(group_sum_matrix(self.code[positions], groups) @ x)


@dataclass(frozen=True, eq=False)
class _Entry:
    """One calibration: each row's unit (-1 outside it), the unit basis over the unit's scale (grouped
    where units share a basis row)."""

    row_unit: np.ndarray
    scaled_basis: _Distinct
    rank: int


@dataclass(frozen=True, eq=False)
class MeanBlock:
    """A block of outcomes' row values for `VariancePlan.mean_variances` (`VariancePlan.mean_block`)."""

    weighted: np.ndarray  # w where observed, else 0
    weighted_centred: np.ndarray  # w (y - constant) where observed, else 0
    scaled: np.ndarray  # the same times each row's calibration factor
    scaled_centred: np.ndarray
    within: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # s f^2 w^2 times 1, y, y^2 (two stages)


@dataclass(frozen=True, eq=False)
class DomainGrouping:
    """Rows in disjoint domains, with the group sums `VariancePlan.mean_variances` needs (by domain, by
    PSU and domain, by calibration pattern and domain), built once for every block of outcomes."""

    rows: np.ndarray  # positions in the design
    psu: np.ndarray  # their PSUs
    domain: np.ndarray  # their domains, 0 .. domains - 1
    domains: int
    by_domain: sparse.csr_matrix
    by_pair: sparse.csr_matrix  # (PSU, domain) pairs x rows
    pair_psu: np.ndarray
    pair_domain: np.ndarray
    # Per calibration: the rows inside it, (pattern, domain) keys x those rows, each key's pattern, domain.
    patterns: tuple


@dataclass(frozen=True, eq=False)
class VariancePlan:
    """What a design's domain variances need beyond the domain's rows (see the module docstring)."""

    psu: np.ndarray  # the design's PSU code per row
    psu_stratum: np.ndarray  # its stratum code per PSU
    n_psu: np.ndarray  # its PSUs per stratum
    row_factor: np.ndarray  # each row's residual multiplier (1 outside every calibration)
    stratum_scale: np.ndarray  # f_h n_h / (n_h - 1), 0 for a stratum taken whole
    entries: tuple[_Entry, ...]
    projected: _Distinct | None  # R: PSUs x rank, the fitted part's PSU totals centred and scaled
    gram: np.ndarray | None  # G: rank x rank
    lone_scale: np.ndarray | None  # per PSU: weight of an uncentred one-row PSU (second stage)
    within_scale: np.ndarray | None  # per PSU: weight of its centred rows (second stage)
    rows_per_psu: np.ndarray | None

    def variances(self, rows: np.ndarray, influence: np.ndarray) -> np.ndarray:
        """Diagonal of ``design.variance`` for influence values given on ``rows`` only (zero elsewhere).

        ``rows`` are row positions (each once), ``influence`` their ``(len(rows), k)`` values.
        """
        psus = self.psu_stratum.size
        psu = self.psu[rows]
        reached_count = np.bincount(psu, minlength=psus)
        reached = np.flatnonzero(reached_count)
        position = np.cumsum(reached_count > 0) - 1
        compact = position[psu]
        scaled_rows = influence * self.row_factor[rows][:, None]
        totals = np.asarray(group_sum_matrix(compact, reached.size) @ scaled_rows)  # a, reached PSUs
        h = self.psu_stratum[reached]
        n_strata = self.n_psu.size
        stratum_sum = np.asarray(group_sum_matrix(h, n_strata) @ totals)
        mean = stratum_sum / self.n_psu[:, None]
        unreached = (self.n_psu - np.bincount(h, minlength=n_strata)).astype(float)
        centred = totals - mean[h]
        variance = (self.stratum_scale[h][:, None] * centred**2).sum(axis=0) + (
            self.stratum_scale * unreached
        ) @ mean**2
        if self.lone_scale is not None:
            variance += (self.lone_scale[reached][:, None] * totals**2).sum(axis=0)
        if self.within_scale is not None:
            variance += self._within(rows, compact, reached, totals, scaled_rows)
        if self.entries:
            fitted = np.vstack([self._coefficients(entry, rows, influence) for entry in self.entries])
            variance += -2.0 * (self.projected.transposed_product(reached, totals) * fitted).sum(axis=0)
            variance += ((self.gram @ fitted) * fitted).sum(axis=0)
        return np.maximum(variance, 0.0)

    def _reached(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The PSU of each of ``rows``, the PSUs they reach, and each row's position among those."""
        psu = self.psu[rows]
        reached_count = np.bincount(psu, minlength=self.psu_stratum.size)
        reached = np.flatnonzero(reached_count)
        return psu, reached, (np.cumsum(reached_count > 0) - 1)[psu]

    def _between_parts(self, reached: np.ndarray, totals: np.ndarray) -> list[np.ndarray]:
        """Rows whose cross-product is the between-PSU variance of the reached PSUs' ``totals``: reached
        PSUs centred on their stratum's mean, unreached ones as that mean, one-row PSUs uncentred."""
        h = self.psu_stratum[reached]
        n_strata = self.n_psu.size
        mean = np.asarray(group_sum_matrix(h, n_strata) @ totals) / self.n_psu[:, None]
        unreached = (self.n_psu - np.bincount(h, minlength=n_strata)).astype(float)
        parts = [
            np.sqrt(self.stratum_scale[h])[:, None] * (totals - mean[h]),
            np.sqrt(self.stratum_scale * unreached)[:, None] * mean,
        ]
        if self.lone_scale is not None:
            parts.append(np.sqrt(self.lone_scale[reached])[:, None] * totals)
        return parts

    def covariance(self, rows: np.ndarray, influence: np.ndarray) -> np.ndarray:
        """``design.variance`` (the full ``(k, k)`` matrix) for influence values given on ``rows`` only."""
        psu, reached, compact = self._reached(rows)
        scaled_rows = influence * self.row_factor[rows][:, None]
        totals = np.asarray(group_sum_matrix(compact, reached.size) @ scaled_rows)
        parts = self._between_parts(reached, totals)
        if self.within_scale is not None:
            m = self.rows_per_psu[reached]
            psu_mean = totals / m[:, None]
            parts.append(np.sqrt(self.within_scale[psu])[:, None] * (scaled_rows - psu_mean[compact]))
            rest = (m - np.bincount(compact, minlength=reached.size)) * self.within_scale[reached]
            parts.append(np.sqrt(rest)[:, None] * psu_mean)
        out = sum(part.T @ part for part in parts)
        if self.entries:
            fitted = np.vstack([self._coefficients(entry, rows, influence) for entry in self.entries])
            cross = self.projected.transposed_product(reached, totals)
            out = out - cross.T @ fitted - fitted.T @ cross + fitted.T @ (self.gram @ fitted)
        return out

    def grouping(self, rows: np.ndarray, domain: np.ndarray, domains: int) -> DomainGrouping:
        """The sums `mean_variances` takes by domain: rows ``rows`` (positions, each once) in domains
        ``domain`` (``0 .. domains - 1``), built once and used for every block of outcomes."""
        psus = self.psu_stratum.size
        psu = self.psu[rows]
        key = psu * domains + domain
        pair_count = np.bincount(key, minlength=psus * domains)
        pairs = np.flatnonzero(pair_count)
        by_pair = group_sum_matrix((np.cumsum(pair_count > 0) - 1)[key], pairs.size)
        patterns = []
        for entry in self.entries:
            unit = entry.row_unit[rows]
            inside = np.flatnonzero(unit >= 0)
            basis = entry.scaled_basis
            group = unit[inside] if basis.code is None else basis.code[unit[inside]]
            pattern_key = group * domains + domain[inside]
            count = np.bincount(pattern_key, minlength=basis.values.shape[0] * domains)
            reached = np.flatnonzero(count)
            sums = group_sum_matrix((np.cumsum(count > 0) - 1)[pattern_key], reached.size)
            patterns.append((inside, sums, reached // domains, reached % domains))
        return DomainGrouping(
            rows=rows,
            psu=psu,
            domain=domain,
            domains=domains,
            by_domain=group_sum_matrix(domain, domains),
            by_pair=by_pair,
            pair_psu=pairs // domains,
            pair_domain=pairs % domains,
            patterns=tuple(patterns),
        )

    def mean_block(self, rows: np.ndarray, weighted: np.ndarray, centred: np.ndarray) -> MeanBlock:
        """The row values `mean_variances` sums, for a block of outcomes of the rows ``rows``.

        ``weighted`` holds each row's design weight where its outcome is observed (zero where missing)
        and ``centred`` the outcomes less a constant per outcome (zero where missing; the constant keeps
        the squares' sums exact). Computed once per block, whatever the groupings summed.
        """
        weighted_centred = weighted * centred
        factor = self.row_factor[rows]
        trivial = bool(np.all(factor == 1.0))
        scaled = weighted if trivial else weighted * factor[:, None]
        scaled_centred = weighted_centred if trivial else weighted_centred * factor[:, None]
        within = None
        if self.within_scale is not None:
            # s f^2 w^2 times 1, y and y^2: their sums by domain give sum_i s_i f_i^2 x_i^2.
            square = scaled * scaled * self.within_scale[self.psu[rows]][:, None]
            linear = square * centred
            within = (square, linear, linear * centred)
        return MeanBlock(weighted, weighted_centred, scaled, scaled_centred, within)

    def mean_variances(
        self,
        grouping: DomainGrouping,
        block: MeanBlock,
        means: np.ndarray,
        totals: np.ndarray,
        contrasts: np.ndarray,
    ) -> np.ndarray:
        """Variances of contrasts of domain means of ``k`` outcomes, from one pass of group sums.

        The rows are `grouping`'s and their values `block`'s (`mean_block`). ``means`` are the domains'
        weighted means of the centred outcomes, ``totals`` their weight totals (both
        ``(domains, k)``). Row ``i``'s influence on its domain's mean is ``w_i (y_i - mean) / total``,
        zero on every other row and domain (R's ``svymean`` on ``subset``). For each row ``c`` of
        ``contrasts`` (``(m, domains)``) the result's row is the variance of ``sum_d c_d mean_d``:
        ``variances`` of that contrast's influence values, from sums by PSU and domain, calibration
        pattern and domain, and domain alone (each a sum over the rows once for every domain and
        contrast), in another order.
        """
        k = block.weighted.shape[1]
        psus = self.psu_stratum.size
        pair_domain = grouping.pair_domain
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(totals > 0, 1.0 / totals, 0.0)
        # Totals of the scaled influence by (PSU, domain): each pair's sum of f w y less mean times f w.
        by_pair = grouping.by_pair
        pair_totals = (
            np.asarray(by_pair @ block.scaled_centred)
            - means[pair_domain] * np.asarray(by_pair @ block.scaled)
        ) * inverse[pair_domain]
        within_sums = fitted_parts = None
        if block.within is not None:
            s0, s1, s2 = (np.asarray(grouping.by_domain @ part) for part in block.within)
            within_sums = (s2 - 2.0 * means * s1 + means**2 * s0) * inverse**2
        if self.entries:
            fitted_parts = []
            for entry, (inside, sums, group, key_domain) in zip(self.entries, grouping.patterns, strict=True):
                by_key = (
                    np.asarray(sums @ block.weighted_centred[inside])
                    - means[key_domain] * np.asarray(sums @ block.weighted[inside])
                ) * inverse[key_domain]
                part = np.zeros((grouping.domains, entry.rank, k))
                for d in range(grouping.domains):
                    mine = key_domain == d
                    part[d] = entry.scaled_basis.values[group[mine]].T @ by_key[mine]
                fitted_parts.append(part)
        out = np.empty((contrasts.shape[0], k))
        for c, contrast in enumerate(np.asarray(contrasts, dtype=float)):
            coefficient = contrast[pair_domain]
            used = coefficient != 0
            psu_of_pair = grouping.pair_psu[used]
            reached_count = np.bincount(psu_of_pair, minlength=psus)
            reached = np.flatnonzero(reached_count)
            compact = (np.cumsum(reached_count > 0) - 1)[psu_of_pair]
            psu_totals = pair_totals[used] * coefficient[used][:, None]
            # Pairs are in PSU order: where no PSU has rows in two of the contrast's domains they are
            # the PSU totals already.
            if reached.size != psu_of_pair.size:
                psu_totals = np.asarray(group_sum_matrix(compact, reached.size) @ psu_totals)
            h = self.psu_stratum[reached]
            n_strata = self.n_psu.size
            mean = np.asarray(group_sum_matrix(h, n_strata) @ psu_totals) / self.n_psu[:, None]
            unreached = (self.n_psu - np.bincount(h, minlength=n_strata)).astype(float)
            variance = (self.stratum_scale[h][:, None] * (psu_totals - mean[h]) ** 2).sum(axis=0) + (
                self.stratum_scale * unreached
            ) @ mean**2
            if self.lone_scale is not None:
                variance += (self.lone_scale[reached][:, None] * psu_totals**2).sum(axis=0)
            if within_sums is not None:
                m = self.rows_per_psu[reached]
                variance += contrast**2 @ within_sums - (
                    (self.within_scale[reached] / m)[:, None] * psu_totals**2
                ).sum(axis=0)
            if fitted_parts is not None:
                fitted = np.vstack([np.einsum("d,drk->rk", contrast, part) for part in fitted_parts])
                cross = self.projected.transposed_product(reached, psu_totals)
                variance += -2.0 * (cross * fitted).sum(axis=0)
                variance += ((self.gram @ fitted) * fitted).sum(axis=0)
            out[c] = np.maximum(variance, 0.0)
        return out

    def cell_covariance(
        self,
        rows: np.ndarray,
        weights: np.ndarray,
        cell: np.ndarray,
        cells: int,
        shares: np.ndarray,
        total: float,
    ) -> np.ndarray:
        """``covariance`` of the influence values of ``cells`` cell proportions, from group sums.

        The rows are ``rows`` (positions, each once) with their design weights ``weights``, row ``i`` in
        cell ``cell[i]``; its influence on
        proportion ``k`` is ``w_i (1[cell_i = k] - shares_k) / total`` (R's ``svymean`` of the cell
        indicators), zero on every other row. Every sum the variance needs is a weighted count of the
        rows by cell within a PSU, a calibration pattern or the whole domain, so no rows x cells matrix
        is built: the same matrix as ``covariance`` of that matrix (sums in another order).
        """
        psu, reached, compact = self._reached(rows)
        scaled = weights * self.row_factor[rows]
        totals = _cell_sums(compact, reached.size, cell, cells, scaled, shares) / total
        out = sum(part.T @ part for part in self._between_parts(reached, totals))
        if self.within_scale is not None:
            # Each PSU's rows (all m of them, zeros included) centred on their mean: the rows' own
            # cross-products less m times the mean's, sum_i s u_i u_i' - sum_p s_p T_p T_p' / m_p; a
            # row's u_i is its scaled weight times (e_cell - shares), so the first sum is by cell.
            m = self.rows_per_psu[reached]
            by_cell = np.bincount(
                cell, weights=self.within_scale[psu] * (scaled / total) ** 2, minlength=cells
            )
            deviation = np.eye(cells) - shares[None, :]
            psu_part = np.sqrt(self.within_scale[reached] / m)[:, None] * totals
            out = out + deviation.T @ (by_cell[:, None] * deviation) - psu_part.T @ psu_part
        if self.entries:
            fitted = np.vstack(
                [
                    self._cell_coefficients(entry, rows, weights, cell, cells, shares, total)
                    for entry in self.entries
                ]
            )
            cross = self.projected.transposed_product(reached, totals)
            out = out - cross.T @ fitted - fitted.T @ cross + fitted.T @ (self.gram @ fitted)
        return out

    def _cell_coefficients(
        self,
        entry: _Entry,
        rows: np.ndarray,
        weights: np.ndarray,
        cell: np.ndarray,
        cells: int,
        shares: np.ndarray,
        total: float,
    ) -> np.ndarray:
        """`_coefficients` of the cell-proportion influence values of `cell_covariance`."""
        unit = entry.row_unit[rows]
        inside = unit >= 0
        if not inside.any():
            return np.zeros((entry.rank, cells))
        unit, weights, cell = unit[inside], weights[inside], cell[inside]
        basis = entry.scaled_basis
        if basis.code is not None:
            pattern = basis.code[unit]
            return basis.values.T @ (
                _cell_sums(pattern, basis.values.shape[0], cell, cells, weights, shares) / total
            )
        count = np.bincount(unit, minlength=basis.values.shape[0])
        reached = np.flatnonzero(count)
        position = (np.cumsum(count > 0) - 1)[unit]
        sums = _cell_sums(position, reached.size, cell, cells, weights, shares) / total
        return basis.values[reached].T @ sums

    def _coefficients(self, entry: _Entry, rows: np.ndarray, influence: np.ndarray) -> np.ndarray:
        """``c = B'(unit totals / scale)`` of one calibration, from the domain's rows in it."""
        unit = entry.row_unit[rows]
        inside = unit >= 0
        if not inside.any():
            return np.zeros((entry.rank, influence.shape[1]))
        unit = unit[inside]
        if entry.scaled_basis.code is not None:
            # Sum the rows by their unit's basis pattern, then one small product.
            return entry.scaled_basis.transposed_product(unit, influence[inside])
        count = np.bincount(unit, minlength=entry.scaled_basis.values.shape[0])
        reached = np.flatnonzero(count)
        position = np.cumsum(count > 0) - 1
        totals = np.asarray(group_sum_matrix(position[unit], reached.size) @ influence[inside])
        return entry.scaled_basis.values[reached].T @ totals

    def _within(
        self,
        rows: np.ndarray,
        compact: np.ndarray,
        reached: np.ndarray,
        totals: np.ndarray,
        scaled_rows: np.ndarray,
    ) -> np.ndarray:
        """Second-stage part: each PSU's rows centred on its mean over all its rows (zeros included)."""
        m = self.rows_per_psu[reached]
        mean = totals / m[:, None]
        inside = ((scaled_rows - mean[compact]) ** 2) * self.within_scale[self.psu[rows]][:, None]
        unreached = (m - np.bincount(compact, minlength=reached.size)) * self.within_scale[reached]
        return inside.sum(axis=0) + unreached @ mean**2


def _cell_sums(
    group: np.ndarray, groups: int, cell: np.ndarray, cells: int, weights: np.ndarray, shares: np.ndarray
) -> np.ndarray:
    """``(groups, cells)`` sums of ``weights * (1[cell = k] - shares_k)`` over the rows of each group."""
    counts = np.bincount(group * cells + cell, weights=weights, minlength=groups * cells).reshape(
        groups, cells
    )
    return counts - counts.sum(axis=1)[:, None] * shares[None, :]


def variance_plan(design: PreparedDesign) -> VariancePlan | None:
    """The design's plan (built on first use and kept), or ``None`` where the shortcut does not apply."""
    if design not in _PLANS:
        _PLANS[design] = _build(design)
    return _PLANS[design]


def share_plan(source: PreparedDesign, target: PreparedDesign) -> None:
    """Give `target` (the same rows, PSUs and calibrations as `source`, other columns) `source`'s plan."""
    _PLANS[target] = variance_plan(source)


def _build(design: PreparedDesign) -> VariancePlan | None:
    if design.n < MIN_ROWS or np.any(design.n_psu == 1):
        return None
    if not all(isinstance(c, GregResiduals) for c in design.calibrations):
        return None
    n, psus = design.n, design.psu_stratum.size
    row_factor = np.ones(n)
    owner = np.full(n, -1, dtype=np.int64)  # which calibration each row is in
    entries, fitted_columns = [], []
    for k, entry in enumerate(design.calibrations):
        rows = entry.rows
        if np.any(owner[rows] >= 0):
            return None  # calibrations over the same rows compose; not this shortcut
        owner[rows] = k
        units = entry.scale.size
        unit_psu = np.full(units, -1, dtype=np.int64)
        unit_psu[entry.unit] = design.psu[rows]
        if np.any(unit_psu[entry.unit] != design.psu[rows]):
            return None  # a unit spanning PSUs
        factor = entry._row_factor
        unit_factor = np.ones(units)
        if factor is not None:
            row_factor[rows] = factor
            unit_factor[entry.unit] = factor
        row_unit = np.full(n, -1, dtype=np.int64)
        row_unit[rows] = entry.unit
        scaled_basis = entry.basis * (1.0 / entry.scale)[:, None]
        entries.append(_Entry(row_unit, _Distinct.of(scaled_basis), entry.basis.shape[1]))
        # Each unit's fitted part, spread over its rows and scaled by their factor, sums to this per PSU.
        per_unit = entry.basis * (entry.scale * unit_factor)[:, None]
        fitted_columns.append(np.asarray(group_sum_matrix(unit_psu, psus) @ per_unit))
    h = design.psu_stratum
    certain = design.fpc_factor < _CERTAINTY_TOL
    stratum_scale = np.where(certain, 0.0, design.fpc_factor * design.n_psu / np.maximum(design.n_psu - 1, 1))
    lone_scale = within_scale = rows_per_psu = None
    if design._within_units is not None:
        if design._subunit_sum is not None:
            return None  # second-stage units of several rows: not this shortcut
        rows_per_psu = design._within_units
        if entries:
            # Each PSU's rows must be one unit of one calibration (or none): a constant fitted part.
            key = np.where(owner >= 0, owner * (n + 1) + _row_units(entries, owner), -1)
            low = np.full(psus, np.iinfo(np.int64).max)
            high = np.full(psus, np.iinfo(np.int64).min)
            np.minimum.at(low, design.psu, key)
            np.maximum.at(high, design.psu, key)
            if np.any(low != high):
                return None
        square = design._within_root_scale**2
        within_scale = np.where(rows_per_psu > 1, square, 0.0)
        lone_scale = np.where(rows_per_psu == 1, square, 0.0)
        if not lone_scale.any():
            lone_scale = None
    projected = gram = None
    if fitted_columns:
        # PSUs x rank matrices are hundreds of megabytes for the all-respondents design at Place-Survey
        # size: filled in place, the working copies are two or three of them, not five (the same values).
        fitted = np.empty((psus, sum(part.shape[1] for part in fitted_columns)))
        start = 0
        while fitted_columns:
            part = fitted_columns.pop(0)
            fitted[:, start : start + part.shape[1]] = part
            start += part.shape[1]
        del part
        stratum_mean = np.asarray(group_sum_matrix(h, design.n_psu.size) @ fitted) / design.n_psu[:, None]
        # A one-row PSU needs its fitted part after centring (below); otherwise centre it in place.
        centred = _less_group_means(fitted, stratum_mean, h, out=None if lone_scale is not None else fitted)
        projected = stratum_scale[h][:, None] * centred
        gram = centred.T @ projected
        del centred
        if lone_scale is not None:
            # A one-row PSU's uncentred total includes its fitted part.
            lone = lone_scale[:, None] * fitted
            projected += lone
            gram = gram + fitted.T @ lone
            del lone
        del fitted
    return VariancePlan(
        psu=design.psu,
        psu_stratum=design.psu_stratum,
        n_psu=design.n_psu,
        row_factor=row_factor,
        stratum_scale=stratum_scale,
        entries=tuple(entries),
        projected=None if projected is None else _Distinct.of(projected),
        gram=gram,
        lone_scale=lone_scale,
        within_scale=within_scale,
        rows_per_psu=rows_per_psu,
    )


def _less_group_means(
    values: np.ndarray, means: np.ndarray, group: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``values - means[group]``, a slice of rows at a time (into `out`, which may be `values`): the
    indexed means were a second copy of the whole matrix."""
    result = np.empty_like(values) if out is None else out
    for start in range(0, values.shape[0], _PSU_BLOCK):
        rows = slice(start, start + _PSU_BLOCK)
        np.subtract(values[rows], means[group[rows]], out=result[rows])
    return result


def _row_units(entries: list[_Entry], owner: np.ndarray) -> np.ndarray:
    unit = np.zeros(owner.size, dtype=np.int64)
    for k, entry in enumerate(entries):
        mine = owner == k
        unit[mine] = entry.row_unit[mine]
    return unit
