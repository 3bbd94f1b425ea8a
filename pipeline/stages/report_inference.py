"""The report's sections on inference: the primary tests (models and measurement stages) and
nonresponse and weighting (nonresponse stage), built from those stages' tables as ``Table`` records.

Each function takes the tables by name (``ReportInputs.tables``: the report stage reads every table the
registry declares, so nothing here opens a file) and returns what its template needs: sentences as text,
tables as records. The words around them are in ``templates/sections/primary.html.j2`` and
``nonresponse.html.j2``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.core.config import Config
from pipeline.core.weighting_spec import WeightingSpec
from pipeline.stages.report_tables import auto_table, words
from pipeline.study import display
from pipeline.study.names import WEIGHTING_NAMES, level_name, merged_in_words, variable_name
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.study.weighting import TARGET_ABS_BIAS_PP, TARGET_COVERAGE, TARGET_SE_RATIO

OVERALL = "overall_7s"
PRIMARY_TABLES = (
    "primary_tests",
    "primary_tests_by_weighting",
    "models",
    "model_tests",
    "partner_imputation",
    "cfa_fit",
)
NONRESPONSE_TABLES = (
    "nonresponse_frame_comparison",
    "nonresponse_propensity",
    "nonresponse_r_indicators",
    "weight_diagnostics",
    "weighting_sensitivity",
    "weighting_se_ratios",
    "comparisons",
)
# The committed method-validation results of the weightings (make validate-methods), read by the report
# stage when present: the report says what calibration repairs and what it cannot.
WEIGHTING_VALIDATION = "weighting_validation"
INFORMATIVE_NONRESPONSE = "informative_nonresponse"
# The statement's column holding each row in words, for the sentence (not shown in the table).
CLAUSE = "_clause"
Z_95 = 1.959963984540054


def in_names(frame: pd.DataFrame, item_labels: dict[str, str] | None = None) -> pd.DataFrame:
    """A table's coded columns by their names, for a reader: respondents, frame variables, levels,
    weightings and items (``item_labels``: the estimates table's item -> item_label)."""
    named = {
        "instrument": display.instrument_name,
        "population": display.instrument_name,
        "variable": variable_name,
        "level": level_name,
        "weighting": lambda w: WEIGHTING_NAMES.get(str(w), words(w)),
        "item": lambda item: (item_labels or {}).get(str(item)) or words(item),
    }
    return frame.assign(
        **{
            column: frame[column].map(name, na_action="ignore")
            for column, name in named.items()
            if column in frame
        }
    )


def _item_labels(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    estimates = tables.get("estimates")
    if estimates is None or not {"item", "item_label"} <= set(estimates.columns):
        return {}
    pairs = estimates[["item", "item_label"]].drop_duplicates("item")
    return dict(zip(pairs["item"].astype(str), pairs["item_label"].astype(str), strict=True))


def _number(value: Any, places: int = 2) -> str:
    return display.number(value, places)


# ------------------------------------------------------------------------------------------- primary


def primary_headlines(primary: pd.DataFrame) -> list[dict[str, str]]:
    """Each headline's pre-specified test in words: estimand, result, and the marginal difference."""
    out = []
    for row in primary.itertuples(index=False):
        who = f"{row.instrument}s"
        if not display.missing(row.estimate):
            result = (
                f"adjusted {row.contrast} difference {_number(row.estimate)} points "
                f"(95% CI {_number(row.ci_low)} to {_number(row.ci_high)}), {row.test} "
                f"({_number(row.df, 0)} df), {display.p_statement(row.p)}, n = {display.count(row.n)} {who}"
            )
        else:
            result = (
                f"{row.test}: F = {_number(row.statistic)} on {_number(row.df, 0)} and "
                f"{_number(row.df2, 0)} df, {display.p_statement(row.p)}, n = {display.count(row.n)} {who}"
            )
        marginal = (
            f"{_number(row.marginal_estimate)} (95% CI {_number(row.marginal_ci_low)} to "
            f"{_number(row.marginal_ci_high)}), {display.p_statement(row.marginal_p)}, "
            f"n = {display.count(row.marginal_n)}"
        )
        out.append(
            {
                "key": str(row.headline),
                "headline": str(row.headline).capitalize(),
                "estimand": str(row.estimand),
                "result": result,
                "marginal": marginal,
            }
        )
    return out


def favourable_counts(models: pd.DataFrame) -> pd.DataFrame:
    """Secondary item-level adjusted effects: how many point the favourable way, how many survive FDR."""
    secondary = models[(models["role"] == "secondary") & (models["outcome_kind"] == "item")]
    counts = (
        secondary.assign(
            significant=secondary["p_fdr"] < 0.05, favourable=secondary["favourable_estimate"] > 0
        )
        .groupby(["instrument", "effect", "family"], sort=False)
        .agg(
            items=("estimate", lambda s: int(s.notna().sum())),
            favourable=("favourable", "sum"),
            significant_after_fdr=("significant", "sum"),
        )
        .reset_index()
    )
    return counts.assign(
        instrument=counts["instrument"].map(display.instrument_name),
        family=counts["family"].map({"quasibinomial": "% agreeing", "ordinal": "proportional odds"}),
    )


def cfa_admissibility(cfa: pd.DataFrame) -> str:
    """One sentence on the CFA fits' admissibility, and what the invariance conclusion rests on."""
    if "admissible" not in cfa:
        return ""
    bad = cfa[~cfa["admissible"].astype(bool)]
    if bad.empty:
        return (
            "Every fit is admissible: no negative residual variance, every latent covariance positive "
            "definite."
        )
    invariance = cfa[cfa["groups"] > 1]
    # The engine names groups by their codes ("partner: ..."); the reader gets the instruments' names.
    reasons = []
    for level, reason in zip(bad["level"], bad["admissibility"], strict=True):
        for instrument in INSTRUMENTS:
            reason = reason.replace(f"{instrument}: ", f"{display.instrument_name(instrument)}: ")
        reasons.append(f"{level} fit, {reason}")
    sentence = (
        "Inadmissible solutions (lavaan warns of the same and still reports them as converged): "
        + "; ".join(reasons)
        + "."
    )
    if not invariance.empty and not invariance["admissible"].astype(bool).all():
        sentence += (
            f" The invariance comparison rests on these fits ({int(invariance['n_complete_cases'].iloc[0])} "
            "complete cases across both groups): a chi-squared difference between solutions outside the "
            "parameter space is not a valid test, so no conclusion about coordinator-partner invariance is "
            "drawn from it; the scales are compared as scores, not as proven-equivalent measures."
        )
    return sentence


def primary_tests(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The "Primary tests" section: the two headlines first, then what supports and qualifies them."""
    tests = tables["model_tests"]
    overall_tests = tests[tests["outcome"].isin([OVERALL, "joint_7s"])][
        ["instrument", "outcome", "effect", "test", "statistic", "df", "df2", "p", "n"]
    ]
    overall_tests = overall_tests.assign(
        instrument=overall_tests["instrument"].map(display.instrument_name),
        outcome=overall_tests["outcome"].map(
            {OVERALL: "Overall 7S score", "joint_7s": "All seven scales jointly"}
        ),
    )
    partner = tables["partner_imputation"]
    partner = partner[partner["outcome"] == OVERALL][
        [
            "effect",
            "weighting",
            "data_used",
            "n",
            "n_lsps",
            "estimate",
            "ci_low",
            "ci_high",
            "p",
            "df",
            "lambda",
            "fraction_missing_information",
        ]
    ]
    cfa = tables["cfa_fit"][
        [
            c
            for c in (
                "model",
                "level",
                "n_complete_cases",
                "chisq",
                "df",
                "p",
                "cfi",
                "tli",
                "rmsea",
                "delta_chisq",
                "delta_df",
                "p_delta",
            )
            if c in tables["cfa_fit"].columns
        ]
    ]
    by_weighting = tables["primary_tests_by_weighting"]
    by_weighting = by_weighting[
        [
            "headline",
            "instrument",
            "quantity",
            "weighting",
            "primary",
            "n",
            "estimate",
            "ci_low",
            "ci_high",
            "p",
            "change_from_type_only",
        ]
    ].assign(
        instrument=by_weighting["instrument"].map(display.instrument_name),
        primary=by_weighting["primary"].map({True: "primary", False: ""}),
    )
    return {
        "cfa_admissibility": cfa_admissibility(tables["cfa_fit"]),
        "by_weighting": auto_table(
            in_names(by_weighting),
            "table-primary-weighting",
            "Sensitivity to the weighting: tier and maturity effects on the overall 7S score",
            headers={
                "headline": "Effect",
                "instrument": "Respondents",
                "quantity": "Estimate",
                "weighting": "Weighting",
                "primary": "Primary weighting",
                "estimate": "Difference (scale points)",
                "change_from_type_only": "Change from type-only weights",
            },
        ),
        "headlines": primary_headlines(tables["primary_tests"]),
        "tests": auto_table(
            overall_tests,
            "table-primary-interaction",
            "Tier x maturity interaction and joint tests across the seven scales (adjusted, analytic)",
            headers={"instrument": "Respondents", "outcome": "Outcome", "effect": "Effect"},
        ),
        "counts": auto_table(
            favourable_counts(tables["models"]),
            "table-primary-items",
            "Item-level adjusted effects (secondary): how many point the favourable way, and how many are "
            "significant after FDR control",
            headers={
                "family": "Model",
                "items": "Items",
                "favourable": "Favourable direction",
                "significant_after_fdr": "Significant after FDR",
            },
        ),
        "partner": auto_table(
            partner,
            "table-primary-partners",
            "Partners: adjusted effects on the overall 7S score, complete cases against multiply imputed "
            "maturity, weighting partners and weighting LSPs",
            headers={
                "effect": "Effect",
                "data_used": "Data used",
                "n_lsps": "LSPs (n)",
                "estimate": "Adjusted difference (scale points)",
                "lambda": "Lambda: share of variance due to missing data",
                "fraction_missing_information": "Fraction of missing information (Barnard-Rubin df)",
            },
        ),
        "cfa": auto_table(
            cfa,
            "table-primary-cfa",
            "Confirmatory factor analysis of the 26 shared items: structure and coordinator-partner "
            "invariance",
            headers={
                "model": "Model",
                "level": "Level",
                "n_complete_cases": "Complete cases (n)",
                "chisq": "Chi-square",
                "cfi": "CFI",
                "tli": "TLI",
                "rmsea": "RMSEA",
                "delta_chisq": "Change in chi-square",
                "delta_df": "Change in df",
                "p_delta": "p-value of the change",
            },
        ),
    }


# --------------------------------------------------------------------------------------- nonresponse


def frame_comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Respondents against the frame, one row per level of each categorical frame variable."""
    categorical = comparison[comparison["level"].ne("mean")]
    wide = categorical.pivot_table(
        index=["variable", "level"],
        columns="instrument",
        values=["frame_lsps", "response_rate", "respondent_pct", "weighted_pct", "frame_pct"],
        aggfunc="first",
        sort=False,
    )
    columns = {"frame LSPs": ("frame_lsps", "coordinator"), "frame %": ("frame_pct", "coordinator")}
    for instrument, who in zip(INSTRUMENTS, ("coordinators", "partner LSPs"), strict=True):
        columns |= {
            f"{who}: response %": ("response_rate", instrument),
            f"{who}: respondents %": ("respondent_pct", instrument),
            f"{who}: weighted %": ("weighted_pct", instrument),
        }
    out = pd.DataFrame({name: wide[key] for name, key in columns.items() if key in wide.columns})
    return out.reset_index()


def frame_tests_table(comparison: pd.DataFrame) -> pd.DataFrame:
    tests = comparison.drop_duplicates(["instrument", "variable"])[
        ["instrument", "variable", "test", "statistic", "df", "p"]
    ]
    means = comparison[comparison["level"].eq("mean")][
        ["instrument", "variable", "frame_mean", "respondent_mean", "nonrespondent_mean", "weighted_mean"]
    ]
    return tests.merge(means, how="left", on=["instrument", "variable"])


def validation_table(validation: pd.DataFrame) -> pd.DataFrame:
    """The weighting validation as the report shows it: per scenario, weighting (with its margins),
    instrument and quantity, coverage, bias and SE ratio with their Monte Carlo SEs, and the verdict."""
    table = validation.copy()
    if "margins" in table:
        # Short names: the margins in full are in docs/methods_validation_weighting.csv.
        score = table["margins"].str.contains("imd_score")
        margins = score.map({True: "bands and score", False: "bands"})
        variance = table["margins"].str.extract(r"; (.*)$")[0].fillna("")
        named = (
            table["weighting"]
            + " to "
            + margins
            + ", "
            + variance.str.replace("uniform df factor", "uniform df")
        )
        table["weighting"] = named.where(~table["margins"].str.startswith("authority type ("), "type-only")
    if "meets_targets" in table:
        met = table["meets_targets"].astype(str).str.lower().eq("true")
        table["meets_targets"] = met.map({True: "yes", False: "no"})
    # Each measure with its Monte Carlo SE in one cell, so the table fits the text column.
    if {"coverage", "coverage_mc_se"} <= set(table):
        pairs = zip(table["coverage"], table["coverage_mc_se"], strict=True)
        table["coverage"] = [f"{100 * value:.1f} ({100 * se:.1f})" for value, se in pairs]
    if {"mean_bias_pp", "mean_bias_mc_se_pp"} <= set(table):
        pairs = zip(table["mean_bias_pp"], table["mean_bias_mc_se_pp"], strict=True)
        table["mean_bias_pp"] = [f"{value:.2f} ({se:.2f})" for value, se in pairs]
    keep = [
        "scenario",
        "weighting",
        "instrument",
        "quantity",
        "simulations",
        "coverage",
        "mean_bias_pp",
        "max_item_bias_pp",
        "se_ratio",
        "type_i_error",
        "meets_targets",
    ]
    return table[[c for c in keep if c in table]]


def validated_on(validation: pd.DataFrame, spec: WeightingSpec) -> str:
    """The scenarios the primary weighting was validated on (with their surveys), how many of its rows
    meet the targets, and each row that does not, with the measure that misses, in words.

    The validation names a weighting by its method, its margins and its variance's df correction
    (pipeline.checks.weighting_validation.Weighting.label)."""
    if "meets_targets" not in validation or "margins" not in validation:
        return ""
    suffix = {True: "; uniform df factor", False: "; no df factor", "leverage": "; leverage"}
    if spec.primary == "type_only":
        label = "authority type (design weights)"
    else:
        label = " + ".join(" x ".join(m) for m in spec.margins) + suffix[spec.variance_df_adjustment]
    if spec.interval_df == "bell_mccaffrey":
        label += "; Bell-McCaffrey df"
    primary = validation[validation["weighting"].eq(spec.primary) & validation["margins"].eq(label)]
    if primary.empty:
        scenarios = list(dict.fromkeys(validation["scenario"]))
        return (
            f"The validation's scenarios: {', '.join(s.replace('_', ' ') for s in scenarios)}; the primary "
            "weighting as configured is not among its weightings."
        )
    surveys = primary.groupby("scenario", sort=False)["simulations"].max()
    named = [f"{scenario.replace('_', ' ')} ({int(n)} surveys)" for scenario, n in surveys.items()]
    met = primary["meets_targets"].astype(str).str.lower().eq("true")
    misses = []
    for row in primary[~met].itertuples(index=False):
        measures = []
        if not TARGET_COVERAGE[0] <= row.coverage <= TARGET_COVERAGE[1]:
            measures.append(f"coverage {100 * row.coverage:.2f}% (MC SE {100 * row.coverage_mc_se:.1f})")
        if abs(row.mean_bias_pp) > TARGET_ABS_BIAS_PP:
            measures.append(f"mean bias {row.mean_bias_pp:+.2f} pp")
        if not TARGET_SE_RATIO[0] <= row.se_ratio <= TARGET_SE_RATIO[1]:
            # Beside the model SE's ratio, where the run has it: the mean SE's, which sits below it when
            # the SE varies between samples.
            mean = getattr(row, "mean_se_ratio", float("nan"))
            beside = "" if pd.isna(mean) else f"; mean SE / SD {mean:.3f}"
            measures.append(f"SE / SD {row.se_ratio:.3f} (MC SE {row.se_ratio_mc_se:.3f}{beside})")
        who = display.instrument_name(row.instrument)
        who = who[:1].lower() + who[1:] if who[1:2].islower() else who
        misses.append(f"{who}' {row.quantity} under {row.scenario.replace('_', ' ')}: {', '.join(measures)}")
    # The draw counts repeat on each quantity's row: one per scenario and instrument.
    samples = primary.drop_duplicates(["scenario", "instrument"])
    failed = int(samples["failed_draws"].sum()) if "failed_draws" in samples else 0
    # A run's simulations count the samples that were estimated; the failed ones come on top.
    drawn = int(samples["simulations"].sum()) + failed
    collapsed = int(samples["collapsed_draws"].fillna(0).sum()) if "collapsed_draws" in samples else 0
    draws = (
        f" Simulated samples (coordinators' and partners' counted apart) the weighting could not calibrate: "
        f"{failed} of {drawn}; samples whose score total within a type no "
        f"positive weights could meet (nested bands merged, or that total left out): {collapsed}."
        if "collapsed_draws" in primary
        else ""
    )
    return (
        f"The primary weighting was validated on {len(named)} scenarios: {', '.join(named)}. It meets all "
        f"three targets (coverage 93-97%, |mean bias| at most 1 pp, SE / SD 0.95-1.05, the SE being the root "
        f"of the mean estimated variance) in {int(met.sum())} "
        f"of its {len(primary)} rows (scenario, instrument and quantity)"
        + (f"; it misses them in {'; '.join(misses)}." if misses else ".")
        + draws
    )


def _survivors(found: pd.DataFrame, shift: float) -> int:
    """Findings still more than 1.96 SE from zero once moved `shift` towards zero."""
    return int(((found["estimate"].abs() - shift) / found["se"] > Z_95).sum())


def maturity_sensitivity_statement(
    comparisons: pd.DataFrame, primary: pd.DataFrame | None, sizes: pd.DataFrame
) -> pd.DataFrame:
    """How many findings survive nonresponse that follows maturity, at each simulated strength.

    The sizes are the validation's (docs/methods_validation_informative.csv, written by ``make
    validate-methods``): surveys drawn by the study's own generator with a coordinator's response odds
    multiplied per SD of the LSP's latent maturity, which no frame variable captures, analysed on the
    primary weighting. An item finding is a weighted tier or maturity difference in the share agreeing
    that is significant after FDR control (comparisons.csv); it survives a strength if, moved towards zero
    by the simulated mean shrinkage of those differences (and, more severely, by the largest item's), it is
    still more than 1.96 SE from zero. A primary test survives if its estimate, shrunk by the simulated
    relative shrinkage of the adjusted effect, is still significant at 5% on its df.
    """
    # The t quantile straight from scipy.special (what stats.t.ppf computes): importing scipy.stats costs
    # the stage about 0.7 s.
    from scipy.special import stdtrit

    headline = comparisons[
        comparisons["test"].eq("difference (design-based t)")
        & comparisons["weighting"].eq("weighted")
        & comparisons["measure"].eq("agree")
        & comparisons["group"].isin(["tier", "maturity"])
        & (comparisons["p_fdr"] < 0.05)
    ]
    rows = []
    for _, size in sizes.sort_values(["response_log_odds_per_sd", "quantity"], kind="stable").iterrows():
        group = size["comparison"].removesuffix(" difference")
        common = {
            "response odds per SD of maturity": size["response_odds_per_sd"],
            "instrument": display.instrument_name(size["instrument"]),
            "simulated surveys": int(size["simulations"]),
        }
        if size["quantity"] == "item differences":
            found = headline[headline["instrument"].eq(size["instrument"]) & headline["group"].eq(group)]
            mean, largest = float(size["mean_shrinkage_pp"]), float(size["largest_item_shrinkage_pp"])
            at_mean, at_largest = _survivors(found, mean / 100), _survivors(found, largest / 100)
            clause = (
                f"{common['instrument']}' {group} differences move {mean:.1f} pp towards zero on average "
                f"({largest:.1f} pp for the most moved item): {at_mean} of {len(found)} significant findings "
                f"survive the average move, {at_largest} the largest"
            )
            rows.append(
                common
                | {
                    "finding": f"{group} differences of items (% agreeing)",
                    "moved towards zero": f"{mean:.1f} pp on average, {largest:.1f} pp for the most moved "
                    "item",
                    "CI coverage": size["coverage"],
                    "significant": len(found),
                    "still significant": f"{at_mean} (average move); {at_largest} (largest move)",
                    CLAUSE: clause,
                }
            )
        elif primary is not None:
            test = primary[
                primary["instrument"].eq(size["instrument"])
                & primary["headline"].eq(group)
                & primary["outcome"].eq(OVERALL)
            ]
            if test.empty:
                continue
            test = test.iloc[0]
            critical = float(stdtrit(test["df"], 0.975))
            shrinkage = float(size["relative_shrinkage"])
            shrunk = float(test["estimate"]) * (1 - shrinkage)
            significant = float(test["p"]) < 0.05
            survives = significant and abs(shrunk) / test["se"] > critical
            clause = (
                f"the primary test's adjusted {group} effect shrinks by {100 * shrinkage:.0f}% (its 95% CIs "
                f"cover the truth in {100 * float(size['coverage']):.0f}% of surveys), and "
                + (
                    (
                        "the bundled survey's test stays significant"
                        if survives
                        else "the test would no longer be significant"
                    )
                    if significant
                    else "the bundled survey's test is not significant to begin with"
                )
            )
            rows.append(
                common
                | {
                    "finding": f"primary test: adjusted {group} effect on the overall 7S score",
                    "moved towards zero": f"{100 * float(size['relative_shrinkage']):.0f}% of the effect",
                    "CI coverage": size["coverage"],
                    "significant": int(significant),
                    "still significant": str(int(survives)),
                    CLAUSE: clause,
                }
            )
    return pd.DataFrame(rows)


def sensitivity_sentence(statement: pd.DataFrame) -> str:
    """The statement's weakest simulated strength in one sentence, its numbers those of the table."""
    if statement.empty:
        return ""
    odds = statement["response odds per SD of maturity"]
    weakest = statement[odds.eq(odds.min())]
    surveys = int(weakest["simulated surveys"].min())
    return (
        f"At response odds multiplied by {odds.min():.2f} per SD of maturity ({surveys} surveys from the "
        f"study's own generator, analysed on the primary weighting): " + "; ".join(weakest[CLAUSE]) + "."
    )


def r_indicator_sentences(r_table: pd.DataFrame) -> list[str]:
    overall = r_table[r_table["variable"].isna() & r_table["level"].isna()]
    sentences = []
    for instrument, rows in overall.groupby("instrument", sort=False):
        value = rows.set_index("measure")["value"]
        se = rows.set_index("measure")["se"]
        bound = (1 - value["R-indicator"]) / (2 * value["mean propensity"])
        sentences.append(
            f"{display.instrument_name(instrument)}: R = {_number(value['R-indicator'], 3)} "
            f"(SE {_number(se['R-indicator'], 3)}); mean propensity {_number(value['mean propensity'], 3)}; "
            "coefficient of variation of the propensities "
            f"{_number(value['coefficient of variation of propensities'], 3)}. A respondent mean of any "
            f"variable can then be biased by up to {_number(bound)} of that variable's standard deviation "
            "(the maximal bias bound (1 - R) / (2 x mean propensity)), if the variable is related to "
            "response as the frame variables are."
        )
    return sentences


def partial_r_table(r_table: pd.DataFrame) -> pd.DataFrame:
    partial = r_table[r_table["variable"].notna() & r_table["level"].isna()].pivot_table(
        index=["instrument", "variable"],
        columns="measure",
        values=["value", "se"],
        aggfunc="first",
        sort=False,
    )
    partial.columns = [
        f"{measure.removeprefix('partial R-indicator, ')} {'SE' if stat == 'se' else 'value'}"
        for stat, measure in partial.columns
    ]
    return partial.reset_index()


def _largest_change(sensitivity: pd.DataFrame, synthetic: str) -> str:
    differences = sensitivity[sensitivity["quantity"].ne("level")]
    calibrated = differences[~differences["weighting"].isin(["type_only", "unweighted"])]
    if not len(calibrated):
        return ""
    largest = calibrated.loc[calibrated["change_from_type_only"].abs().idxmax()]
    weighting = str(largest["weighting"]).replace("_", " ")
    return (
        f"The largest change calibration makes to a headline difference{synthetic}: "
        f"{largest['instrument']}s, {words(largest['item'])}, "
        f"{largest['quantity']}, {display.number(largest['change_from_type_only'], 3)} on the 1-5 scale "
        f"under {weighting} weights (type-only "
        f"{display.number(largest['estimate'] - largest['change_from_type_only'], 3)}, {weighting} "
        f"{display.number(largest['estimate'], 3)})."
    )


def _replicate_subsample(ratios: pd.DataFrame, comparison: pd.DataFrame) -> str:
    """Caption words when the replicate check ran on a subsample of the frame (large surveys)."""
    if "frame_lsps" not in ratios or ratios.empty:
        return ""
    first = comparison[comparison["instrument"].eq(comparison["instrument"].iloc[0])]
    frame_size = int(first[first["variable"].eq(first["variable"].iloc[0])]["frame_lsps"].sum())
    checked = int(ratios["frame_lsps"].iloc[0])
    if checked >= frame_size:
        return ""
    return (
        f", on a survey of the same design over a random subsample of {checked:,} of the frame's "
        f"{frame_size:,} LSPs (weighting.replicate_check_max_lsps)"
    )


def nonresponse(tables: dict[str, pd.DataFrame], config: Config) -> dict[str, Any]:
    """The "Nonresponse and weighting" section: who answered against the frame, the propensity model and
    R-indicators, the weights, and how much the weighting moves the headline differences."""
    spec = config.weighting
    comparison = tables["nonresponse_frame_comparison"]
    r_table = tables["nonresponse_r_indicators"]
    diagnostics = tables["weight_diagnostics"]
    sensitivity = tables["weighting_sensitivity"]
    ratios = tables["weighting_se_ratios"]
    synthetic = " (synthetic data)" if config.synthetic_data else ""
    propensity = tables["nonresponse_propensity"]
    model_tests = propensity[propensity["term"].eq("(model)")][["instrument", "test", "statistic", "df", "p"]]
    weights = diagnostics[
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
    # The merged cells as a count in the table and in words below it (the column holds coded cell names).
    weights = weights.assign(merged_cells=weights["merged_cells"].map(lambda m: len(merged_in_words(m))))
    primary_weights = diagnostics[diagnostics["weighting"].eq(spec.primary)]
    merged = [
        f"{display.instrument_name(population)}: {cell}"
        for population, cells in zip(
            primary_weights["population"], primary_weights["merged_cells"], strict=True
        )
        for cell in merged_in_words(cells)
    ]
    differences = sensitivity[sensitivity["quantity"].ne("level")]
    wide = differences.pivot_table(
        index=["instrument", "item", "quantity"],
        columns="weighting",
        values="estimate",
        aggfunc="first",
        sort=False,
    ).reset_index()
    wide.columns = [str(c) for c in wide.columns]
    ratio_summary = (
        ratios.groupby("instrument")[["ratio_jkn", "ratio_bootstrap"]].agg(["min", "median", "max"]).round(3)
    )
    ratio_summary.columns = [
        f"{'JKn' if a == 'ratio_jkn' else 'bootstrap'}: {b}" for a, b in ratio_summary.columns
    ]
    ratio_summary = ratio_summary.reset_index()
    corrections = [
        text
        for flag, text in (
            (
                spec.variance_df_adjustment is True,
                "multiplied by (m - H) / (m - r) for the degrees of freedom the calibration constraints use",
            ),
            (
                spec.variance_df_adjustment == "leverage",
                "with each LSP's calibration residual multiplied by the square root of (1 - 1/n) / (1 - h), "
                "n the number of LSPs answering in its authority type and h the LSP's leverage in the "
                "calibration, "
                "for the degrees of freedom the calibration constraints use",
            ),
            (
                spec.unit_fpc,
                "with each coordinator's own finite population correction 1 - 1/weight in place of its "
                "authority type's",
            ),
        )
        if flag
    ]
    context: dict[str, Any] = {
        "weighting": words(spec.describe()),
        "variance_corrections": (
            " and ".join(corrections) + " (R's calibrate() makes neither)" if corrections else ""
        ),
        "interval_df": (
            "Intervals and t tests of the weighted estimates and differences use each estimate's own "
            "degrees of freedom (Bell and McCaffrey's), not the design's: where a few LSPs carry most "
            "of a variance (a small authority type, an LSP with a large weight) they are few, and the "
            "interval widens to keep its 95% coverage (the validation below)."
            if spec.interval_df == "bell_mccaffrey"
            else ""
        ),
        "merged": merged,
        "synthetic": synthetic,
        "min_cell": config.min_cell,
        "bootstrap_replicates": int(r_table["bootstrap_replicates"].iloc[0]),
        "replicates": spec.bootstrap_replicates,
        "r_indicators": r_indicator_sentences(r_table),
        "largest_change": _largest_change(sensitivity, synthetic),
        "frame": auto_table(
            in_names(frame_comparison_table(comparison)),
            "table-nonresponse-frame",
            "Response by frame variable: the frame's shares, response rates, and respondents' shares "
            "unweighted and weighted",
            places=1,
        ),
        "frame_tests": auto_table(
            in_names(frame_tests_table(comparison)),
            "table-nonresponse-tests",
            "Tests of response against each frame variable",
            headers={
                "frame_mean": "Frame mean",
                "respondent_mean": "Respondent mean",
                "nonrespondent_mean": "Nonrespondent mean",
                "weighted_mean": "Weighted mean",
            },
        ),
        "propensity": auto_table(
            in_names(model_tests),
            "table-nonresponse-propensity",
            "Response propensity: likelihood-ratio tests",
        ),
        "partial": auto_table(
            in_names(partial_r_table(r_table)),
            "table-nonresponse-partial-r",
            "Partial R-indicators, by frame variable",
        ),
        "weights": auto_table(
            in_names(weights),
            "table-nonresponse-weights",
            "Weight diagnostics: one weight per LSP",
            headers={
                "population": "Population",
                "units": "Units",
                "weight_min": "Smallest weight",
                "weight_max": "Largest weight",
                "weight_cv": "Coefficient of variation",
                "kish_deff": "Kish design effect",
                "g_min": "Smallest g-weight",
                "g_max": "Largest g-weight",
                "trimmed": "Trimmed",
                "merged_cells": "Sparse cells merged",
            },
        ),
        "sensitivity": auto_table(
            in_names(wide, _item_labels(tables)),
            "table-nonresponse-sensitivity",
            f"Tier and maturity differences of the 7S scale means under each weighting{synthetic}",
            headers={"item": "Scale"},
        ),
        "ratios": auto_table(
            in_names(ratio_summary),
            "table-nonresponse-replicates",
            "Replicate-weight SEs over linearised SEs of the 7S scale means (min, median, max)"
            + _replicate_subsample(ratios, comparison),
        ),
        "validation": None,
        "statement": None,
        "statement_sentence": "",
        "validated_on": "",
    }
    validation = tables.get(WEIGHTING_VALIDATION)
    if validation is not None:
        context["validated_on"] = validated_on(validation, spec)
        context["validation"] = auto_table(
            in_names(validation_table(validation)),
            "table-nonresponse-validation",
            "Method validation of the weightings: coverage, bias and type I error in simulated surveys "
            "(bands: type x IMD band, region, LAA round; score: the IMD score's total within each type; "
            "df: the variance's degrees-of-freedom correction; MC SE: Monte Carlo standard error; "
            "SE / SD: the root of the mean estimated variance over the standard deviation of the estimates)",
            headers={
                "coverage": "Coverage, % (MC SE)",
                "mean_bias_pp": "Mean bias, pp (MC SE)",
                "type_i_error": "Type I error",
                "max_item_bias_pp": "Largest item bias (pp)",
                "se_ratio": "SE / SD",
                "meets_targets": "Meets targets",
            },
        )
    sizes = tables.get(INFORMATIVE_NONRESPONSE)
    if sizes is not None:
        statement = maturity_sensitivity_statement(tables["comparisons"], tables.get("primary_tests"), sizes)
        context["statement_sentence"] = sensitivity_sentence(statement)
        context["statement"] = auto_table(
            statement.drop(columns=CLAUSE, errors="ignore"),
            "table-nonresponse-informative",
            "Findings that stay significant under nonresponse that follows maturity, at each strength",
        )
    return context
