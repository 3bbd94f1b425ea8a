"""Verify stage: recompute every figure's plotted numbers from data/processed and the frame, independently.

For each ``figures/<name>.csv`` the numbers are recomputed straight from the analysis base and the frame
with plain pandas (plus scipy's t quantile), by a path that shares no code with pipeline.stages.analyse,
pipeline.survey or pipeline.figures: design weights by groupby counts, weighted proportions and means by
groupby sums, and their 95% CIs by the stratified (coordinators) or stratified-clustered (partners)
linearisation variance (with the finite population correction for coordinators only), the logit
interval on a t quantile with (PSUs - strata) degrees of freedom for proportions, mean +- t * SE for
means, and difference +- z * SE for the forest plot's differences. What is not recomputed: the forest
plot's FDR-adjusted p-values (they depend on whole families of tests); the figure's significance marks
are checked against the p_fdr it carries from comparisons.csv, not recomputed.

Numbers agree when they differ by at most 1e-7 relative plus 1e-8 absolute: the analysis tables are
written rounded to 10 decimals, and calibration (here and in the engine, as in R's calibrate()) stops once
every total is met within 1e-7, so two independent rakings on a numeric margin (the deprivation score)
reach weights that agree to about 1e-8 relative; counts must agree exactly. One line per figure; exit
status 2 when any figure disagrees.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.study.designs import DESIGNS
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import maturity_group_column
from pipeline.study.outputs import figures
from pipeline.study.vocabulary import INSTRUMENTS

REL_TOL, ABS_TOL = 1e-7, 1e-8
LEVEL = 0.95
DONT_KNOW = -8


@dataclass
class Check:
    """The outcome of checking one figure: how many numbers agreed and the first disagreements."""

    name: str
    numbers: int = 0
    problems: list[str] = field(default_factory=list)

    def compare(self, where: str, column: str, shown: object, recomputed: float, exact: bool = False) -> None:
        self.numbers += 1
        a, b = _float(shown), float(recomputed)
        if math.isnan(a) and math.isnan(b):
            return
        agree = a == b if exact else abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + ABS_TOL
        if not agree:
            self.problems.append(f"{where}: {column} is {a!r} in the figure, recomputed {b!r}")


def _float(value: object) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)


# -------------------------------------------------------------------------------- the data, rebuilt


class Data:
    """The analysis base split by instrument, with weights, strata and PSUs rebuilt from the frame."""

    def __init__(self, base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config) -> None:
        self.codebook, self.config, self.frame = codebook, config, frame
        population = frame.groupby("authority_type")["lsp_id"].count()
        self.by_instrument: dict[str, pd.DataFrame] = {}
        for instrument in INSTRUMENTS:
            rows = base[base["respondent_type"].eq(instrument)].reset_index(drop=True)
            # Coordinators: each respondent is a PSU; partners: their LSP is (clustered sample).
            psu = rows["respondent_id"] if instrument == "coordinator" else rows["lsp_id"]
            rows = rows.assign(_psu=psu.astype(str), _stratum=rows["authority_type"].astype(str))
            sampled = rows.groupby("_stratum")["_psu"].nunique()
            rows["_N"] = rows["_stratum"].map(population).astype(float)
            # The declared design says which stages are without replacement; the arithmetic is this
            # module's own: coordinators one stage with fpc, partners LSPs with fpc then partners.
            rows["_finite"] = DESIGNS[instrument].fpc is not None
            rows["_two_stage"] = DESIGNS[instrument].subcluster is not None
            rows["_n"] = rows["_stratum"].map(sampled).astype(float)
            # Coordinators N_h / n_h; partners N_h / m_h with m_h the LSPs with a partner respondent.
            lsps = rows.groupby("_stratum")["lsp_id"].nunique()
            rows["_w"] = rows["_N"] / rows["_stratum"].map(lsps).astype(float)
            if config.weighting is not None and config.weighting.primary != "type_only":
                rows = _calibrated(rows, frame, config.weighting)
            self.by_instrument[instrument] = rows

    def outcome(self, instrument: str, item: str, measure: str) -> pd.Series:
        """The 0/1 indicator or score behind one (item, measure), NaN where it does not count."""
        rows = self.by_instrument[instrument]
        if item.startswith("scale_"):
            column = item if measure == "mean" else f"{item}_positive"
            return rows[column].astype("Float64").astype(float)
        variable = self.codebook[item]
        codes = rows[item].astype("Float64").astype(float)
        valid = codes.isin(list(variable.codes))
        if measure == "agree":
            hit = codes.isin(list(self.codebook.agree_codes))
        elif measure in ("yes", "selected"):
            hit = codes.eq(1)
        elif measure.startswith("share:"):
            hit = codes.eq(int(measure.split(":")[1]))
        elif measure == "dont_know":
            return codes.eq(DONT_KNOW).astype(float).where(valid | codes.eq(DONT_KNOW))
        elif measure == "mean":
            return codes.where(valid)
        else:
            raise PipelineError(f"verify: no recomputation for measure {measure!r}")
        return hit.astype(float).where(valid)

    def group_column(self, group: str, element: str | None) -> str:
        if group == "maturity":
            return maturity_group_column(self.config, element)
        return group

    def domain(self, instrument: str, group: str, level: str, element: str | None) -> pd.Series:
        rows = self.by_instrument[instrument]
        if group == "all":
            return pd.Series(True, index=rows.index)
        return rows[self.group_column(group, element)].astype("string").eq(level).fillna(False).astype(bool)

    def element_of(self, item: str) -> str | None:
        return item.removeprefix("scale_") if item.startswith("scale_") else self.codebook[item].element


# ------------------------------------------------------------------- the primary weighting, recomputed
# Calibrated weights are rebuilt here by other means than pipeline.study.weighting: iterative proportional
# fitting for raking (the weighting uses Newton steps), normal equations for linear calibration, and the
# calibrated variance from weighted least-squares residuals of each LSP's influence total.
_BANDS = ("1_least_deprived", "2_middle", "3_most_deprived")


def _frame_cells(frame: pd.DataFrame) -> pd.DataFrame:
    rank = frame["imd2007_mean_lsoa_score_unweighted"].astype(float).rank(method="first").to_numpy()
    n = len(frame)
    band = np.select([rank <= n / 3, rank <= 2 * n / 3], _BANDS[:2], _BANDS[2])
    return pd.DataFrame(
        {
            "authority_type": frame["authority_type"].to_numpy(),
            "tier": frame["tier"].to_numpy(),
            "region": frame["region"].to_numpy(),
            "laa_round": np.where(frame["laa_round"].str.strip().eq("1"), "first_round", "later_round"),
            "imd_band": band,
            "case_study": np.where(frame["case_study_2008"].str.lower().eq("true"), "True", "False"),
            # The numeric frame variables a margin may calibrate the totals of.
            "imd_score": frame["imd2007_mean_lsoa_score_unweighted"].astype(float).to_numpy(),
            "pct_most_deprived": frame["imd2007_pct_lsoas_in_most_deprived_10pct"].astype(float).to_numpy(),
            "lsoa_count": frame["imd2007_lsoa_count"].astype(float).to_numpy(),
        },
        index=frame["lsp_id"].astype(str).to_numpy(),
    )


def _merge_sparse(sample: list[str], population: list[str], joint: bool, minimum: int) -> dict[str, str]:
    """Cell -> merged cell: the sparsest cell joins its nearest (then smallest) neighbour, repeatedly."""
    label = {cell: cell for cell in population}
    while True:
        cells = sorted(set(label.values()))
        count = {cell: 0 for cell in cells}
        for cell in sample:
            count[label[cell]] += 1
        sparse = [cell for cell in cells if count[cell] < minimum]
        if not sparse or len(cells) == 1:
            return label
        smallest = min(count[cell] for cell in sparse)
        cell = next(c for c in cells if count[c] == smallest and c in sparse)
        group = cell.rsplit("|", 1)[0]
        others = [c for c in cells if c != cell and (not joint or c.rsplit("|", 1)[0] == group)]
        others = others or [c for c in cells if c != cell]
        at = cells.index(cell)
        partner = sorted(others, key=lambda c: (abs(cells.index(c) - at), count[c]))[0]
        merged = min(cell, partner) + "+" + max(cell, partner).rsplit("|", 1)[-1]
        for key, value in label.items():
            if value in (cell, partner):
                label[key] = merged


_NUMERIC = ("imd_score", "pct_most_deprived", "lsoa_count")


def _reach(values: pd.Series, label: pd.Series, inside: pd.Index, answered: pd.Index) -> tuple[float, float]:
    """Least and greatest total of `values` over `inside` that positive weights meeting the counts of
    `label`'s cells can give from the `answered` units."""
    score = values.loc[answered].groupby(label.loc[answered]).agg(["min", "max"])
    n = label.loc[inside].value_counts()
    return float((n * score["min"]).sum()), float((n * score["max"]).sum())


def _unattainable(
    margins, pop_cells: dict[str, pd.Series], cells: pd.DataFrame, respondents: pd.Index
) -> set[tuple[str, str]]:
    """The weighting's rule for numeric totals positive weights cannot meet, written out again: within
    each cell of a numeric margin, the finest margin nested in it fixes its cells' counts, so the total
    lies between the counts times the respondents' least values and times their greatest; while it
    does not lie strictly between, the adjacent pair of nested cells whose merge widens that range most
    towards it is merged (in `pop_cells`), and with one cell left the total is given up (returned)."""
    given_up = set()
    for margin in margins:
        categorical = [c for c in margin if c not in _NUMERIC]
        if not categorical:
            continue
        coarse = pop_cells["|".join(categorical)]
        finer = [
            [c for c in m if c not in _NUMERIC]
            for m in margins
            if set(categorical) < {c for c in m if c not in _NUMERIC}
        ]
        key = "|".join(max(finer, key=len)) if finer else "|".join(categorical)
        for value in (c for c in margin if c in _NUMERIC):
            for cell in sorted(set(coarse)):
                inside = coarse.index[coarse == cell]
                answered = inside.intersection(respondents)
                if answered.empty:
                    continue
                target = float(cells.loc[inside, value].sum())
                while True:
                    fine = pop_cells[key]
                    names = sorted(set(fine.loc[inside]))
                    if set(fine.loc[answered]) != set(names):
                        break

                    low, high = _reach(cells[value], fine, inside, answered)
                    if low < target < high:
                        break
                    if len(names) == 1:
                        given_up.add((value, cell))
                        break
                    options = []
                    for left, right in itertools.pairwise(names):
                        joined = fine.replace({right: left})
                        new_low, new_high = _reach(cells[value], joined, inside, answered)
                        options.append((new_high - high if target >= high else low - new_low, left, right))
                    _, left, right = max(options, key=lambda o: o[0])
                    label = min(left, right) + "+" + max(left, right).rsplit("|", 1)[-1]
                    pop_cells[key] = fine.replace({left: label, right: label})
    return given_up


def _exponential_calibration(x: np.ndarray, d: np.ndarray, population: np.ndarray) -> np.ndarray:
    """g = exp(z'lambda) meeting the totals: the minimum of the convex dual sum d exp(z'lambda) - T_z'lambda
    over an orthonormal basis z of x's columns (raking with numeric totals has no IPF; the weighting
    itself takes Newton steps on the calibration equations in x)."""
    from scipy.optimize import minimize

    u, singular, vt = np.linalg.svd(x, full_matrices=False)
    keep = singular > 1e-10 * singular[0]
    z = u[:, keep]
    target = (vt[keep].T / singular[keep]).T @ population  # x @ (v / s) = z, so z's totals

    def dual(lam: np.ndarray) -> tuple[float, np.ndarray]:
        e = d * np.exp(z @ lam)
        return float(e.sum() - target @ lam), z.T @ e - target

    def hessian(lam: np.ndarray) -> np.ndarray:
        return (z * (d * np.exp(z @ lam))[:, None]).T @ z

    found = minimize(
        dual, np.zeros(z.shape[1]), jac=True, hess=hessian, method="trust-exact", options={"gtol": 1e-12}
    )
    return np.exp(z @ found.x)


def _calibrated(rows: pd.DataFrame, frame: pd.DataFrame, spec) -> pd.DataFrame:
    if spec.primary not in ("raking", "linear") or spec.bounds or spec.trim:
        raise PipelineError(
            f"verify: recomputes the type_only, raking and linear weightings without bounds or trimming, "
            f"not {spec.primary!r}"
        )
    cells = _frame_cells(frame)
    units = rows.drop_duplicates("lsp_id")[["lsp_id", "_w"]].set_index("lsp_id")
    d = units["_w"].to_numpy(dtype=float)
    unit_cells, pop_counts, columns, totals = {}, {}, [], []
    numeric_margins = False
    pop_cells: dict[str, pd.Series] = {}
    for margin in spec.margins:
        categorical = [c for c in margin if c not in _NUMERIC]
        if categorical:
            pop_labels = cells[categorical].astype(str).agg("|".join, axis=1)
            sample_labels = pop_labels.loc[units.index].tolist()
            merged = _merge_sparse(
                sample_labels, pop_labels.tolist(), len(categorical) > 1, spec.min_cell_respondents
            )
            pop_cells["|".join(categorical)] = pop_labels.map(merged)
        else:
            pop_cells[""] = pd.Series("all", index=cells.index)
    ungiven = _unattainable(spec.margins, pop_cells, cells, units.index)
    for margin in spec.margins:
        categorical = [c for c in margin if c not in _NUMERIC]
        values = [c for c in margin if c in _NUMERIC]
        numeric_margins = numeric_margins or bool(values)
        pop_merged = pop_cells["|".join(categorical)]
        name = "|".join(margin)
        unit_cells[name] = pop_merged.loc[units.index].to_numpy()
        pop_counts[name] = pop_merged.value_counts().astype(float)
        for cell in sorted(set(pop_merged)):
            columns.append(unit_cells[name] == cell)
            totals.append(float((pop_merged == cell).sum()))
            # A numeric column's total within the cell (R's ~authority_type * imd_score), unless the
            # respondents cannot meet it with positive weights.
            for value in values:
                if (value, cell) in ungiven:
                    continue
                columns.append((unit_cells[name] == cell) * cells.loc[units.index, value].to_numpy(float))
                totals.append(float(cells.loc[pop_merged == cell, value].sum()))
    x = np.column_stack(columns).astype(float)
    population = np.array(totals)
    if spec.primary == "raking" and numeric_margins:
        w = d * _exponential_calibration(x, d, population)
    elif spec.primary == "raking":
        w = d.copy()
        for _ in range(5000):
            before = w.copy()
            for name in unit_cells:
                sums = pd.Series(w).groupby(unit_cells[name]).transform("sum").to_numpy()
                w = w * pd.Series(unit_cells[name]).map(pop_counts[name]).to_numpy(dtype=float) / sums
            if np.max(np.abs(w - before)) < 1e-14 * np.max(w):
                break
    else:
        lam = np.linalg.pinv((x * d[:, None]).T @ x) @ (population - x.T @ d)
        w = d * (1 + x @ lam)
    unit_weight = pd.Series(w, index=units.index)
    rows = rows.assign(_w=rows["lsp_id"].map(unit_weight).to_numpy(dtype=float))
    # The two variance settings of the weighting (docs/weighting.md), written out again here: the
    # degrees-of-freedom factor (m - H) / (m - rank of the margins with the strata), and each LSP's own
    # finite population correction 1 - 1/w.
    strata = pd.get_dummies(rows.drop_duplicates("lsp_id")["_stratum"].astype(str)).to_numpy(dtype=float)
    rank = np.linalg.matrix_rank(np.column_stack([x, strata]))
    inflation = (d.size - strata.shape[1]) / (d.size - rank) if spec.variance_df_adjustment is True else 1.0
    leverage_scale = None
    if spec.variance_df_adjustment == "leverage":
        # Each LSP's residual times sqrt((1 - 1/n_h) / (1 - h)), h its leverage in the weighted least
        # squares fit of the influence totals on the margins and the strata (the hat matrix's diagonal).
        design = np.column_stack([x, strata]) * np.sqrt(d)[:, None]
        hat = design @ np.linalg.pinv(design.T @ design) @ design.T
        n_h = strata @ strata.sum(axis=0)
        leverage_scale = np.sqrt((1 - 1 / n_h) / (1 - np.diag(hat)))
    rows.attrs["calibration"] = {
        "x": x,
        "d": d,
        "g": w / d,
        "unit": rows["lsp_id"].map({lsp: i for i, lsp in enumerate(units.index)}).to_numpy(),
        "inflation": inflation,
        "leverage_scale": leverage_scale,
        "unit_fpc": spec.unit_fpc,
    }
    return rows


def _residualised(rows: pd.DataFrame, z: pd.Series) -> pd.Series:
    """Influence values with each LSP's total replaced by its calibration residual (R's calibrate),
    the fitted part spread evenly over the LSP's rows."""
    cal = rows.attrs.get("calibration")
    if cal is None:
        return z
    x, d, g, unit = cal["x"], cal["d"], cal["g"], cal["unit"]
    totals = np.bincount(unit, weights=z.to_numpy(dtype=float), minlength=d.size)
    b = np.linalg.pinv((x * d[:, None]).T @ x) @ (x.T @ (totals / g))
    fitted = g * d * (x @ b)
    # The fitted part is an LSP-level constant: shared equally by the LSP's rows, it leaves their
    # spread within the LSP (the second stage of a two-stage design) as it was.
    rows_per_unit = np.bincount(unit, minlength=d.size)
    adjusted = z.to_numpy(dtype=float) - (fitted / rows_per_unit)[unit]
    if cal.get("leverage_scale") is not None:
        adjusted = adjusted * cal["leverage_scale"][unit]
    return pd.Series(adjusted, index=z.index)


def _variance(rows: pd.DataFrame, z: pd.Series) -> float:
    """Linearisation variance: PSU totals centred within strata, times f_h n_h / (n_h - 1), summed;
    for a two-stage design plus each PSU's within variance times n_h / N_h."""
    z = _residualised(rows, z)
    cal = rows.attrs.get("calibration") or {}
    finite = bool(rows["_finite"].iloc[0])
    two_stage = bool(rows["_two_stage"].iloc[0])
    if finite and cal.get("unit_fpc") and not two_stage:
        sampled = rows.groupby("_stratum")["_psu"].transform("nunique")
        stratum_fpc = 1 - sampled / rows["_N"]
        own = (1 - 1 / rows["_w"]).clip(lower=0)
        z = z * np.sqrt(own / stratum_fpc.where(stratum_fpc > 0, 1.0)).where(stratum_fpc > 0, 1.0)
    totals = z.groupby([rows["_stratum"], rows["_psu"]]).sum()
    frame = totals.rename("z").reset_index()
    frame["centred"] = frame["z"] - frame.groupby("_stratum")["z"].transform("mean")
    per_stratum = frame.groupby("_stratum").agg(
        ss=("centred", lambda c: float((c**2).sum())), n=("z", "size")
    )
    population = rows.groupby("_stratum")["_N"].first()
    f = (population - per_stratum["n"]) / population if finite else 1.0
    variance = float((f * per_stratum["n"] / (per_stratum["n"] - 1) * per_stratum["ss"]).sum())
    if two_stage:
        variance += _within_psu_variance(rows, z)
    return variance * cal.get("inflation", 1.0)


def _within_psu_variance(rows: pd.DataFrame, z: pd.Series) -> float:
    """Second stage with replacement: m/(m-1) x the centred sum of squares of each PSU's respondents,
    a lone respondent's value uncentred (R 4.1's lonely-PSU "adjust"), times the stratum's n_h / N_h."""
    psu = rows["_psu"]
    m = psu.map(psu.value_counts()).astype(float)
    centred = (z - z.groupby(psu).transform("mean")).where(m > 1, z)
    factor = (m / (m - 1)).where(m > 1, 1.0)
    sampled = rows.groupby("_stratum")["_psu"].transform("nunique") / rows["_N"]
    return float((factor * sampled * centred**2).sum())


def _variance_matrix(rows: pd.DataFrame) -> np.ndarray:
    """``A`` with `_variance`(z) = z' A z, written out as matrices: the calibration residual map, the
    per-LSP fpc, the stratum-centred PSU totals and the second stage, each applied to the identity."""
    cached = rows.attrs.get("_variance_matrix")
    if cached is not None:
        return cached
    n = len(rows)
    adjusted = np.eye(n)
    cal = rows.attrs.get("calibration") or {}
    if cal:
        x, d, g, unit = cal["x"], cal["d"], cal["g"], cal["unit"]
        units = np.zeros((d.size, n))
        units[unit, np.arange(n)] = 1.0
        b = np.linalg.pinv((x * d[:, None]).T @ x) @ (x.T @ (units / g[:, None]))
        fitted = (g * d)[:, None] * (x @ b)
        rows_per_unit = np.bincount(unit, minlength=d.size)
        adjusted = adjusted - (fitted / rows_per_unit[:, None])[unit]
        if cal.get("leverage_scale") is not None:
            adjusted = adjusted * cal["leverage_scale"][unit][:, None]
    finite = bool(rows["_finite"].iloc[0])
    two_stage = bool(rows["_two_stage"].iloc[0])
    if finite and cal.get("unit_fpc") and not two_stage:
        sampled = rows.groupby("_stratum")["_psu"].transform("nunique")
        stratum_fpc = 1 - sampled / rows["_N"]
        own = (1 - 1 / rows["_w"]).clip(lower=0)
        factor = np.sqrt(own / stratum_fpc.where(stratum_fpc > 0, 1.0)).where(stratum_fpc > 0, 1.0)
        adjusted = adjusted * factor.to_numpy()[:, None]
    psu_codes, psu_first = np.unique(
        rows["_psu"].astype(str) + "\x00" + rows["_stratum"], return_inverse=True
    )
    psus = np.zeros((psu_codes.size, n))
    psus[psu_first, np.arange(n)] = 1.0
    totals = psus @ adjusted
    stratum_of_psu = pd.Series(rows["_stratum"].to_numpy()).groupby(psu_first).first().to_numpy()
    matrix = np.zeros((n, n))
    for stratum in np.unique(stratum_of_psu):
        mine = totals[stratum_of_psu == stratum]
        count = mine.shape[0]
        population = float(rows.loc[rows["_stratum"].eq(stratum), "_N"].iloc[0])
        f = (population - count) / population if finite else 1.0
        centred = mine - mine.mean(axis=0)
        matrix += f * count / (count - 1) * centred.T @ centred
    if two_stage:
        psu = rows["_psu"].to_numpy()
        m = rows["_psu"].map(rows["_psu"].value_counts()).to_numpy(dtype=float)
        share = (rows.groupby("_stratum")["_psu"].transform("nunique") / rows["_N"]).to_numpy()
        centred = adjusted.copy()
        for label in np.unique(psu):
            inside = psu == label
            if inside.sum() > 1:
                centred[inside] -= adjusted[inside].mean(axis=0)
        factor = np.where(m > 1, m / np.maximum(m - 1, 1), 1.0) * share
        matrix += centred.T @ (factor[:, None] * centred)
    matrix = matrix * cal.get("inflation", 1.0)
    rows.attrs["_variance_matrix"] = matrix
    return matrix


def _degrees_of_freedom(data: Data, rows: pd.DataFrame, domain: pd.Series, coefficients: pd.Series) -> float:
    """The interval's degrees of freedom as the configuration asks: PSUs minus strata among the domain's
    rows (R's degf), or Bell and McCaffrey's (sum c_i^2 A_ii)^2 / sum c_i^2 c_j^2 A_ij^2 for the
    estimate's coefficients c on the rows' values (weighting.interval_df)."""
    spec = data.config.weighting
    if spec is None or spec.interval_df != "bell_mccaffrey":
        return float(rows.loc[domain, "_psu"].nunique() - rows.loc[domain, "_stratum"].nunique())
    matrix = _variance_matrix(rows)
    squares = coefficients.to_numpy(dtype=float) ** 2
    return float((squares @ np.diag(matrix)) ** 2 / (squares @ (matrix**2) @ squares))


def _mean_parts(rows: pd.DataFrame, y: pd.Series, domain: pd.Series) -> tuple[int, float, pd.Series]:
    present = domain & y.notna()
    w = rows["_w"].where(present, 0.0)
    total = w.sum()
    estimate = float((w * y.fillna(0.0)).sum() / total) if total > 0 else float("nan")
    z = (w * (y.fillna(0.0) - estimate) / total).where(present, 0.0)
    return int(present.sum()), estimate, z


def _logit_interval(estimate: float, se: float, df: int) -> tuple[float, float]:
    quantile = stats.t.ppf(0.5 + LEVEL / 2, df) if df > 0 else float("nan")
    if not 0 < estimate < 1:
        return float("nan"), float("nan")
    centre = math.log(estimate / (1 - estimate))
    half = quantile * se / (estimate * (1 - estimate))
    return 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))


def recompute_estimate(data: Data, instrument: str, item: str, measure: str, group: str, level: str) -> dict:
    """n, estimate and 95% CI of one row of estimates.csv, recomputed."""
    rows = data.by_instrument[instrument]
    domain = data.domain(instrument, group, level, data.element_of(item))
    y = data.outcome(instrument, item, measure)
    n, estimate, z = _mean_parts(rows, y, domain)
    se = math.sqrt(_variance(rows, z))
    # Degrees of freedom: PSUs minus strata among the domain's rows (answered or not), as R's degf, or
    # the mean's Bell-McCaffrey df (its coefficients w_i / W on the answering rows of the domain).
    weights = rows["_w"].where(domain & y.notna(), 0.0)
    df = _degrees_of_freedom(data, rows, domain, weights / weights.sum())
    if measure != "mean":
        low, high = _logit_interval(estimate, se, df)
    else:
        quantile = stats.t.ppf(0.5 + LEVEL / 2, df) if df > 0 else float("nan")
        low, high = estimate - quantile * se, estimate + quantile * se
    return {"n": n, "estimate": estimate, "ci_low": low, "ci_high": high}


def recompute_published(data: Data, quantity: dict) -> dict:
    """n, estimate and 95% CI (in per cent) of one published quantity, from its entry in
    published_targets.yaml: the domain (instrument, authority types, condition) and the event codes."""
    rows = data.by_instrument[quantity["instrument"]]
    variable = data.codebook[quantity["variable"]]
    codes = rows[variable.name].astype("Float64").astype(float)
    domain = pd.Series(True, index=rows.index)
    if quantity.get("authority_types"):
        domain &= rows["authority_type"].isin(quantity["authority_types"])
    if quantity.get("condition"):
        name, _, value = str(quantity["condition"]).partition("==")
        domain &= rows[name.strip()].astype("Float64").astype(float).eq(float(value))
    y = codes.isin(list(quantity["event"])).astype(float).where(codes.isin(list(variable.codes)))
    n, estimate, z = _mean_parts(rows, y, domain)
    se = math.sqrt(_variance(rows, z))
    df = rows.loc[domain, "_psu"].nunique() - rows.loc[domain, "_stratum"].nunique()
    low, high = _logit_interval(estimate, se, df)
    return {"n": n, "estimate": 100 * estimate, "ci_low": 100 * low, "ci_high": 100 * high}


def recompute_difference(data: Data, instrument: str, item: str, group: str) -> dict:
    """A minus B in the share agreeing (multi - single; more - less mature) with its 95% CI (normal, or
    t on its Bell-McCaffrey df under weighting.interval_df)."""
    rows = data.by_instrument[instrument]
    a, b = {"tier": ("multi", "single"), "maturity": ("more mature", "less mature")}[group]
    y = data.outcome(instrument, item, "agree")
    element = data.element_of(item)
    n_a, mean_a, z_a = _mean_parts(rows, y, data.domain(instrument, group, a, element))
    n_b, mean_b, z_b = _mean_parts(rows, y, data.domain(instrument, group, b, element))
    se = math.sqrt(_variance(rows, z_a - z_b))
    quantile = stats.norm.ppf(0.5 + LEVEL / 2)
    spec = data.config.weighting
    if spec is not None and spec.interval_df == "bell_mccaffrey":
        share = []
        for level in (a, b):
            w = rows["_w"].where(data.domain(instrument, group, level, element) & y.notna(), 0.0)
            share.append(w / w.sum())
        domain = pd.Series(True, index=rows.index)
        quantile = stats.t.ppf(0.5 + LEVEL / 2, _degrees_of_freedom(data, rows, domain, share[0] - share[1]))
    estimate = mean_a - mean_b
    return {
        "n_a": n_a,
        "n_b": n_b,
        "n": n_a + n_b,
        "estimate": estimate,
        "ci_low": estimate - quantile * se,
        "ci_high": estimate + quantile * se,
    }


# ---------------------------------------------------------------------------------- figure checks


def _where(row: pd.Series, keys: list[str]) -> str:
    return "row " + " ".join(str(row[k]) for k in keys if k in row)


def _suppressed(row: pd.Series) -> bool:
    return isinstance(row.get("suppressed"), str) and row["suppressed"] != ""


def check_estimates(figure: pd.DataFrame, data: Data, check: Check) -> None:
    keys = ["instrument", "item", "measure", "group", "level"]
    for _, row in figure.iterrows():
        where = _where(row, keys)
        if row["weighting"] != "weighted":
            check.problems.append(f"{where}: only weighted estimates are plotted")
            continue
        got = recompute_estimate(
            data, row["instrument"], row["item"], row["measure"], row["group"], row["level"]
        )
        if _suppressed(row):
            _check_suppressed(row, got["n"], data, check, where)
            continue
        check.compare(where, "n", row["n"], got["n"], exact=True)
        for column in ("estimate", "ci_low", "ci_high"):
            check.compare(where, column, row[column], got[column])


def _check_suppressed(row: pd.Series, n: int, data: Data, check: Check, where: str) -> None:
    # Primary suppression must rest on a small base; secondary suppression hides a larger one on purpose.
    if str(row["suppressed"]).startswith("primary") and n >= data.config.min_cell:
        check.problems.append(f"{where}: suppressed as small but rests on {n} respondents")
    if not pd.isna(row.get("estimate", float("nan"))):
        check.problems.append(f"{where}: suppressed but a number is plotted")


def check_likert(figure: pd.DataFrame, data: Data, check: Check) -> None:
    keys = ["instrument", "group_level", "item", "category"]
    for _, row in figure.iterrows():
        where = _where(row, keys)
        rows = data.by_instrument[row["instrument"]]
        column = data.group_column(row["group"], row["element"])
        in_level = rows[column].astype("string").eq(row["group_level"]).fillna(False).astype(bool)
        codes = rows[row["item"]].astype("Float64").astype(float)
        substantive = codes.isin(list(data.codebook[row["item"]].codes))
        if row["category"] == "dont_know":
            among, hit = in_level & (substantive | codes.eq(DONT_KNOW)), codes.eq(DONT_KNOW)
        else:
            among, hit = in_level & substantive, codes.eq(int(row["category"]))
        n = int(among.sum())
        check.compare(where, "respondents", row["respondents"], int(in_level.sum()), exact=True)
        if _suppressed(row):
            if n >= data.config.min_cell:
                check.problems.append(f"{where}: suppressed as small but rests on {n} answers")
            continue
        share = 100 * rows["_w"][among & hit].sum() / rows["_w"][among].sum()
        check.compare(where, "n", row["n"], n, exact=True)
        check.compare(where, "percentage", row["percentage"], share)
    # The substantive shares of each item and facet must sum to 100 (don't know kept aside).
    substantive = figure[figure["category"].ne("dont_know") & figure["suppressed"].eq("")]
    for (facet, item), shares in substantive.groupby(["facet", "item"])["percentage"]:
        check.compare(f"{facet} {item}", "sum of shares", shares.sum(), 100.0)


def check_forest(figure: pd.DataFrame, data: Data, check: Check) -> None:
    keys = ["instrument", "item", "group"]
    for _, row in figure.iterrows():
        where = _where(row, keys)
        got = recompute_difference(data, row["instrument"], row["item"], row["group"])
        if _suppressed(row):
            if min(got["n_a"], got["n_b"]) >= data.config.min_cell:
                check.problems.append(
                    f"{where}: suppressed as small but both groups have {data.config.min_cell}+"
                )
            continue
        for column in ("n", "n_a", "n_b"):
            check.compare(where, column, row[column], got[column], exact=True)
        for column in ("estimate", "ci_low", "ci_high"):
            check.compare(where, column, row[column], got[column])
        marked = str(row["significant_fdr"]).lower() == "true"
        check.compare(
            where, "significance mark", float(marked), float(_float(row["p_fdr"]) < 0.05), exact=True
        )


def check_coverage(figure: pd.DataFrame, data: Data, check: Check) -> None:
    frame = data.frame
    for _, row in figure.iterrows():
        where = _where(row, ["instrument", "breakdown", "level"])
        rows = data.by_instrument[row["instrument"]]
        mine = rows[rows[row["breakdown"]].astype(str).eq(row["level"])]
        in_frame = int(frame[row["breakdown"]].eq(row["level"]).sum())
        check.compare(where, "lsps_in_frame", row["lsps_in_frame"], in_frame, exact=True)
        if _suppressed(row):
            if not 0 < len(mine) < data.config.min_cell:
                check.problems.append(f"{where}: suppressed but has {len(mine)} respondents")
            continue
        check.compare(where, "lsps_responding", row["lsps_responding"], mine["lsp_id"].nunique(), exact=True)
        check.compare(where, "respondents", row["respondents"], len(mine), exact=True)
        check.compare(where, "response_rate", row["response_rate"], mine["lsp_id"].nunique() / in_frame)
    for instrument in data.by_instrument:
        for breakdown in figure["breakdown"].unique():
            total = figure.loc[
                figure["instrument"].eq(instrument) & figure["breakdown"].eq(breakdown), "lsps_in_frame"
            ]
            check.compare(f"{instrument} {breakdown}", "frame total", total.sum(), len(frame), exact=True)


def check_case_studies(figure: pd.DataFrame, data: Data, check: Check) -> None:
    frame = data.frame.copy()
    score = frame["imd2007_mean_lsoa_score_unweighted"].astype(float)
    # Quintile k holds the LSPs whose score rank (ties in frame order) falls in the k-th fifth.
    rank = score.rank(method="first")
    frame["imd_quintile"] = np.ceil(rank * 5 / len(frame)).astype(int)
    for _, row in figure.iterrows():
        where = _where(row, ["characteristic", "level", "population"])
        members = frame if row["population"].startswith("All") else frame[frame["case_study_2008"].eq("true")]
        if row["characteristic"] == "imd_quintile":
            count = int(members["imd_quintile"].eq(int(str(row["level"])[0])).sum())
        else:
            count = int(members[row["characteristic"]].eq(row["level"]).sum())
        check.compare(where, "lsps", row["lsps"], count, exact=True)
        check.compare(where, "total", row["total"], len(members), exact=True)
        check.compare(where, "percent", row["percent"], 100 * count / len(members))


def check_published(figure: pd.DataFrame, data: Data, check: Check) -> None:
    with open(data.config.published_targets, encoding="utf-8") as handle:
        entries = yaml.safe_load(handle)["figures"]
    quantities = {q["key"]: q for entry in entries for q in entry.get("quantities", [])}
    for _, row in figure.iterrows():
        where = _where(row, ["quantity_key"])
        quantity = quantities.get(row["quantity_key"])
        if quantity is None:
            check.problems.append(f"{where}: not a quantity of {data.config.published_targets.name}")
            continue
        got = recompute_published(data, quantity)
        check.compare(where, "n", row["n"], got["n"], exact=True)
        for column in ("estimate", "ci_low", "ci_high"):
            check.compare(where, column, row[column], got[column])
        published = quantity.get("value") if quantity.get("value_basis") == "published" else None
        check.compare(
            where, "published_value", row["published_value"], float("nan") if published is None else published
        )


def check_nonresponse(figure: pd.DataFrame, data: Data, check: Check) -> None:
    """Response of the frame's LSPs by frame variable: counts from the frame and the base's LSP ids."""
    cells = _frame_cells(data.frame)
    for _, row in figure.iterrows():
        where = _where(row, ["instrument", "variable", "level"])
        answered = set(data.by_instrument[row["instrument"]]["lsp_id"].astype(str))
        members = cells.index[cells[row["variable"]].astype(str).eq(str(row["level"]))]
        responding = sum(lsp in answered for lsp in members)
        check.compare(where, "frame_lsps", row["frame_lsps"], len(members), exact=True)
        check.compare(where, "overall_rate", row["overall_rate"], 100 * len(answered) / len(cells))
        if responding < data.config.min_cell and responding > 0:
            if not pd.isna(row["responding_lsps"]):
                check.problems.append(f"{where}: {responding} responding LSPs published")
            continue
        check.compare(where, "responding_lsps", row["responding_lsps"], responding, exact=True)
        check.compare(where, "response_rate", row["response_rate"], 100 * responding / len(members))


# One recomputation per kind of figure; the registry (pipeline.study.outputs) says which kind each figure is.
CHECKS: dict[str, Callable[[pd.DataFrame, Data, Check], None]] = {
    "estimates": check_estimates,
    "likert": check_likert,
    "differences": check_forest,
    "coverage": check_coverage,
    "frame_profile": check_case_studies,
    "published": check_published,
    "nonresponse": check_nonresponse,
}


def verify(figures_dir: Path, data: Data, names: list[str] | None = None) -> list[Check]:
    """Check registered figures' CSVs in ``figures_dir``, each by its registered kind; one Check each.

    ``names`` chooses the figures (default: every registered one, each of which must have its CSV); a CSV in
    the folder that is no registered figure is an error, so nothing is skipped unchecked.
    """
    figures_dir = Path(figures_dir)
    where = relative_to_root(figures_dir)
    by_name = {spec.name: spec for spec in figures(data.codebook)}
    present = sorted(path.stem for path in figures_dir.glob("*.csv"))
    unknown = [name for name in [*present, *(names or [])] if name not in by_name]
    if unknown:
        raise PipelineError(f"{unknown[0]} is not a registered figure (pipeline/study/outputs/)")
    chosen = names or list(by_name)
    missing = [name for name in chosen if name not in present]
    if missing:
        raise PipelineError(
            f"{where}: no CSV for {', '.join(missing[:3])}; run `{rebuild_command('figures')}` first"
        )
    registered = [by_name[name] for name in chosen]
    checks = []
    for spec in registered:
        figure = pd.read_csv(
            figures_dir / f"{spec.name}.csv",
            dtype={"suppressed": "string", "level": str, "group_level": str, "category": str},
        )
        if "suppressed" in figure:
            figure["suppressed"] = figure["suppressed"].fillna("")
        check = Check(spec.name)
        CHECKS[spec.verify_kind](figure, data, check)
        if "n" in figure:
            small = figure["n"].lt(data.config.min_cell) & figure["n"].notna()
            for index in figure.index[small]:
                check.problems.append(f"row {index}: plots a cell of n = {int(figure.loc[index, 'n'])}")
        checks.append(check)
    return checks


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    parser.add_argument("names", nargs="*", help="figures to check (default: every registered figure)")
    path_option(parser, "--figures-dir", "{figures_dir}", "the figures to check")
    arguments, config = parse_stage_arguments(parser, argv)
    if not arguments.base.exists():
        raise PipelineError(
            f"{relative_to_root(arguments.base)}: not found; run `{rebuild_command('derive')}` first"
        )
    frame = read_frame(config.frame)
    data = Data(pd.read_parquet(arguments.base), frame, load_codebook(config.codebook), config)
    failed = []
    for check in verify(arguments.figures_dir, data, arguments.names):
        if check.problems:
            failed.append(check.name)
            more = f" (and {len(check.problems) - 1} more)" if len(check.problems) > 1 else ""
            print(f"verify: {check.name}: MISMATCH {check.problems[0]}{more}")
        else:
            print(f"verify: {check.name}: OK ({check.numbers} numbers)")
    if failed:
        raise PipelineError(f"{len(failed)} figure(s) disagree with the data: {', '.join(failed)}")


if __name__ == "__main__":
    run_stage("verify", main)
