"""The report's nonresponse and weighting section, from the nonresponse stage's tables.

One function, `nonresponse_section`, called once by pipeline/report.py. It reads only
analysis/tables/ (the nonresponse stage's six tables) and the committed method-validation results of
the weightings (docs/methods_validation_weighting.csv), and says in words what each number means.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd

from pipeline.core.config import Config
from pipeline.core.paths import PROJECT_ROOT

VALIDATION_RESULTS = PROJECT_ROOT / "docs" / "methods_validation_weighting.csv"


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f'<th scope="col">{_e(str(c).replace("_", " "))}</th>' for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for value in row:
            if isinstance(value, bool) or value in ("True", "False"):
                # A flag (e.g. the case-study level) reads as Yes or No, never as a Python literal.
                cells.append(f"<td>{'Yes' if value in (True, 'True') else 'No'}</td>")
            elif isinstance(value, float):
                text = "" if pd.isna(value) else f"{value:,.3f}".rstrip("0").rstrip(".")
                cells.append(f'<td class="num">{_e(text)}</td>')
            else:
                text = "" if pd.isna(value) else str(value)
                # Frame variables and levels read as words (authority type), not identifiers.
                text = re.sub(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b", lambda m: m.group(0).replace("_", " "), text)
                cells.append(f"<td>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    # A wide table scrolls inside its own box, never the page (the report's .table-wrap).
    return (
        '<div class="table-wrap" role="region" aria-label="Nonresponse table" tabindex="0">'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _read(tables: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(tables / f"{name}.csv", dtype={"level": str, "variable": str})


def _frame_table(comparison: pd.DataFrame) -> pd.DataFrame:
    categorical = comparison[comparison["level"].ne("mean")]
    wide = categorical.pivot_table(
        index=["variable", "level"],
        columns="instrument",
        values=["frame_lsps", "response_rate", "respondent_pct", "weighted_pct", "frame_pct"],
        aggfunc="first",
        sort=False,
    )
    out = pd.DataFrame(
        {
            "frame LSPs": wide[("frame_lsps", "coordinator")],
            "frame %": wide[("frame_pct", "coordinator")],
            "coordinators: response %": wide[("response_rate", "coordinator")],
            "coordinators: respondents %": wide[("respondent_pct", "coordinator")],
            "coordinators: weighted %": wide[("weighted_pct", "coordinator")],
            "partner LSPs: response %": wide[("response_rate", "partner")],
            "partner LSPs: respondents %": wide[("respondent_pct", "partner")],
            "partner LSPs: weighted %": wide[("weighted_pct", "partner")],
        }
    ).reset_index()
    return out


def _tests(comparison: pd.DataFrame) -> pd.DataFrame:
    tests = comparison.drop_duplicates(["instrument", "variable"])[
        ["instrument", "variable", "test", "statistic", "df", "p"]
    ]
    numeric = comparison[comparison["level"].eq("mean")][
        ["instrument", "variable", "frame_mean", "respondent_mean", "nonrespondent_mean", "weighted_mean"]
    ]
    return tests.merge(numeric, how="left", on=["instrument", "variable"])


def maturity_sensitivity_statement(
    comparisons: pd.DataFrame, validation: pd.DataFrame, weighting: str
) -> pd.DataFrame:
    """How many headline differences survive informative nonresponse of each simulated strength.

    A headline is a weighted tier or maturity difference in the share agreeing that is significant after
    FDR control (comparisons.csv). Under the ``maturity_<g>`` scenarios (response odds x exp(g) per SD of
    a latent maturity no frame variable captures) the simulations give the largest item bias of each
    difference under `weighting`; a headline survives strength g if, moved that far towards zero, its
    estimate is still more than 1.96 SE from zero.
    """
    headline = comparisons[
        comparisons["test"].eq("difference (design-based t)")
        & comparisons["weighting"].eq("weighted")
        & comparisons["measure"].eq("agree")
        & comparisons["group"].isin(["tier", "maturity"])
        & (comparisons["p_fdr"] < 0.05)
    ]
    rows = []
    strengths = sorted(
        {s for s in validation["scenario"] if s.startswith("maturity_")}, key=lambda s: float(s.split("_")[1])
    )
    for (instrument, group), found in headline.groupby(["instrument", "group"], sort=False):
        for scenario in strengths:
            bias = validation[
                validation["scenario"].eq(scenario)
                & validation["weighting"].eq(weighting)
                & validation["instrument"].eq(instrument)
                & validation["quantity"].eq(f"{group} difference")
            ]["max_item_bias_pp"]
            if bias.empty:
                continue
            shift = float(bias.iloc[0]) / 100
            rows.append(
                {
                    "instrument": instrument,
                    "comparison": f"{group} difference",
                    "response odds per SD of maturity": round(math.exp(float(scenario.split("_")[1])), 2),
                    "largest item bias (pp)": 100 * shift,
                    "significant after FDR": len(found),
                    "still significant": int(
                        ((found["estimate"].abs() - shift) / found["se"] > 1.959963984540054).sum()
                    ),
                }
            )
    return pd.DataFrame(rows)


def nonresponse_section(tables: Path, config: Config) -> str:
    """The HTML of the section "Nonresponse and weighting" (``<h2 id="nonresponse">``).

    Parameters
    ----------
    tables
        The folder holding the nonresponse stage's CSVs.
    config
        The configuration (the weighting used, and whether the data are synthetic).

    Returns
    -------
    str
        The section's HTML, tables and words.
    """
    spec = config.weighting
    comparison = _read(tables, "nonresponse_frame_comparison")
    propensity = _read(tables, "nonresponse_propensity")
    r_table = _read(tables, "nonresponse_r_indicators")
    diagnostics = _read(tables, "weight_diagnostics")
    sensitivity = _read(tables, "weighting_sensitivity")
    ratios = _read(tables, "weighting_se_ratios")
    synthetic = " (synthetic data)" if config.synthetic_data else ""
    n_boot = int(r_table["bootstrap_replicates"].iloc[0])

    overall = r_table[r_table["variable"].isna() & r_table["level"].isna()]
    r_rows = []
    for instrument, rows in overall.groupby("instrument", sort=False):
        value = rows.set_index("measure")["value"]
        se = rows.set_index("measure")["se"]
        bound = (1 - value["R-indicator"]) / (2 * value["mean propensity"])
        r_rows.append(
            f"<li><b>{_e(instrument)}s</b>: R = {value['R-indicator']:.3f} "
            f"(SE {se['R-indicator']:.3f}); mean propensity {value['mean propensity']:.3f}; "
            "coefficient of variation of the propensities "
            f"{value['coefficient of variation of propensities']:.3f}. A respondent mean of any variable can "
            f"then be biased by up to {bound:.2f} of that variable's standard deviation (the maximal bias "
            "bound (1 - R) / (2 x mean propensity)), if the variable is related to response as the frame "
            "variables are.</li>"
        )
    partial = r_table[r_table["variable"].notna() & r_table["level"].isna()].pivot_table(
        index=["instrument", "variable"],
        columns="measure",
        values=["value", "se"],
        aggfunc="first",
        sort=False,
    )
    partial.columns = [
        f"{measure.removeprefix('partial R-indicator, ')} {stat}" for stat, measure in partial.columns
    ]
    partial = partial.reset_index()

    lr = propensity[propensity["term"].eq("(model)")][["instrument", "test", "statistic", "df", "p"]]
    diag = diagnostics[
        [
            "population",
            "weighting",
            "units",
            "weight_min",
            "weight_max",
            "weight_cv",
            "kish_deff",
            "g_min",
            "g_max",
            "trimmed",
            "merged_cells",
        ]
    ]
    primary_diag = diagnostics[diagnostics["weighting"].eq(spec.primary)]

    differences = sensitivity[sensitivity["quantity"].ne("level")]
    calibrated = differences[~differences["weighting"].isin(["type_only", "unweighted"])]
    largest = calibrated.loc[calibrated["change_from_type_only"].abs().idxmax()] if len(calibrated) else None
    wide = differences.pivot_table(
        index=["instrument", "item", "quantity"],
        columns="weighting",
        values="estimate",
        aggfunc="first",
        sort=False,
    ).reset_index()

    ratio_summary = (
        ratios.groupby("instrument")[["ratio_jkn", "ratio_bootstrap"]].agg(["min", "median", "max"]).round(3)
    )
    ratio_summary.columns = [f"{a} {b}" for a, b in ratio_summary.columns]
    ratio_summary = ratio_summary.reset_index()

    validation = ""
    if VALIDATION_RESULTS.exists():
        results = pd.read_csv(VALIDATION_RESULTS)
        statement = maturity_sensitivity_statement(_read(tables, "comparisons"), results, spec.primary)
        validation = (
            "<h3>What calibration repairs and what it cannot (method validation)</h3>"
            "<p>Simulated surveys with known truth (<code>make validate-methods</code>; "
            "<code>docs/methods_validation.md</code>): coverage of 95% intervals, mean bias and type I "
            "error of levels and of tier and maturity differences, under each weighting and each response "
            "scenario (<code>docs/weighting.md</code>).</p>"
            + _table(results)
            + "<p><b>Informative nonresponse no frame variable captures.</b> If response depended on LSPs' "
            "latent maturity (odds multiplied per standard deviation as shown), calibration to the frame "
            "could not remove the bias, which the simulations measure. How many of the tier and maturity "
            "differences that are significant after FDR control would remain more than 1.96 SE from zero "
            "once moved towards zero by the largest simulated item bias:</p>" + _table(statement)
        )

    merged = "; ".join(m for m in primary_diag["merged_cells"].dropna().astype(str) if m) or "none"
    largest_text = (
        f"The largest change calibration makes to a headline difference{synthetic}: "
        f"{_e(largest['instrument'])} {_e(largest['item'])}, {_e(largest['quantity'])}, "
        f"{largest['change_from_type_only']:+.3f} on the 1-5 scale under {_e(largest['weighting'])} "
        f"weights (type-only {largest['estimate'] - largest['change_from_type_only']:.3f}, "
        f"{_e(largest['weighting'])} {largest['estimate']:.3f})."
        if largest is not None
        else ""
    )
    return f"""
<h2 id="nonresponse">Nonresponse and weighting</h2>
<p><b>Weighting used.</b> Every weighted estimate in this report uses the primary weighting of
<code>config.yaml</code>: {_e(spec.describe())}. Coordinators are calibrated one LSP per coordinator;
partners at LSP level (each LSP with a partner respondent counts once, and its partners share its weight).
Standard errors use the residuals of each estimate's influence values on the calibration variables, as R's
<code>calibrate()</code> does. Sparse joint cells merged: {_e(merged)}. The other weightings stay as a
labelled sensitivity analysis below.</p>
<h3>Who answered: respondents against the frame{synthetic}</h3>
<p>Response is known for all 388 LSPs, so these are exact counts of the frame, not estimates. "Weighted %" is
the share of the level under the primary weights; it equals the frame share on every calibrated margin, and
shows what the weights do on the variables they do not calibrate. Rates resting on fewer than
{config.min_cell} responding LSPs are suppressed. The figure "nonresponse" plots the same response rates.</p>
{_table(_frame_table(comparison))}
<p>Tests of response against each frame variable (chi-square for categories, Welch t for the numeric
variables, with frame, respondent, nonrespondent and weighted means):</p>
{_table(_tests(comparison))}
<h3>Response propensity</h3>
<p>A logistic model of response on authority type, region, LAA round, IMD band and the case-study flag, fitted
to the 388 LSPs. The likelihood-ratio tests ask whether response depends on the frame at all, and whether it
depends on more than authority type (the only variable the type-only weights correct for).</p>
{_table(lr)}
<h3>R-indicators</h3>
<p>The R-indicator (Schouten, Cobben and Bethlehem 2009) is 1 - 2 S(propensity): 1 when every LSP is equally
likely to respond, lower the more response varies with the frame variables. The partial R-indicators
(Schouten, Shlomo and Skinner 2011) say which variable drives the variation: the unconditional one is the
spread of mean propensity between the variable's categories; the conditional one is the spread left within
cells of all other variables, i.e. what this variable adds. Standard errors from {n_boot} bootstrap
resamples of the frame, the model refitted each time.</p>
<ul>{"".join(r_rows)}</ul>
{_table(partial)}
<h3>Weight diagnostics</h3>
<p>Unit weights (one per LSP): range, coefficient of variation, Kish design effect 1 + CV<sup>2</sup> (the
variance inflation of weighting alone), g-weights (calibrated over type-only weight) and trimming.</p>
{_table(diag)}
<h3>Weighting sensitivity of the headline differences{synthetic}</h3>
<p>{largest_text} Tier (multi minus single) and maturity (more minus less mature) differences of the 7S scale
means under each weighting:</p>
{_table(wide)}
<h3>Replicate weights against linearisation</h3>
<p>SEs of the 7S scale means (overall and by tier) from the JKn jackknife and from the bootstrap
({spec.bootstrap_replicates} replicates, seeded), each replicate recalibrated, over the linearised SEs of the
primary weighting: ratios near 1 confirm the linearised variance.</p>
{_table(ratio_summary)}
{validation}
"""
