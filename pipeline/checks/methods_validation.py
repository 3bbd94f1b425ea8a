"""Method validation: does the analysis recover effects planted in surveys drawn from the generator?

``lsp-rap validate-methods [--simulations N] [--seed S] [--out PATH]`` (``make
validate-methods``; not part of ``make all`` or ``make test``) runs two scenarios of N simulated surveys
each (default 200):

- ``planted``: the generator's default effects (tier -0.4 and maturity +0.6 on the log-odds scale);
- ``no_effect`` (the null scenario): no tier and no maturity effect, everything else unchanged. Not
  called "null", which pandas reads back from a CSV as a missing value.

One simulation draws a finite population from the frame (388 LSPs, one coordinator each, about 3,100
board members), lets every member answer, and selects 191 coordinators and 282 partners by the
generator's unit-nonresponse model. The estimand is the finite population's own realised difference in
the share agreeing (codes 4-5 among substantive answers) with each Likert item: multi-tier minus
single-tier, and more mature minus less mature (the configuration's primary maturity definition), for
coordinators and partners. The sample is analysed exactly as the pipeline analyses the bundled survey:
``derive``, the weighted designs of ``pipeline.study.designs`` and ``batch_differences`` (the numbers of
analysis/tables/comparisons.csv). The population's groups come from ``derive`` run on the whole
population, so truth and estimate use one definition.

Per scenario, instrument and comparison it reports the coverage of the 95% CIs, the rejection rate of
the true value (the type I error of the design-based t test), the rejection rate of zero, the bias and
the ratio of the mean estimated SE to the empirical SD of the errors. On the same samples it scores a
diagnostic designs for contrast: the partner design with an LSP-level fpc and no second stage (the
design used first, dropped because of this study's finding) and with LSPs drawn with replacement (the
design used next). It also sets the truth of the bundled synthetic survey
(data/raw/synthetic_truth_2008.json) beside the analysis's estimates.

Outputs (analysis/): methods_validation.csv (summary), methods_validation.items.csv (per item),
methods_validation.md (readable) and truth_vs_estimate.csv. Method: docs/methods_validation.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.checks.bundled_truth import (
    COMPARISONS,
    KEYS,
    bundled_truth_vs_estimate,
    truth_differences,
)
from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv, write_text
from pipeline.core.paths import relative_to_root
from pipeline.stages.derive import derive
from pipeline.study.designs import (
    ANALYTIC_DESIGNS,
    DESIGNS,
    design_columns,
    population_rows,
    prepare_designs,
)
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import COMPARISON_LEVELS, maturity_group_column, outcome_columns
from pipeline.study.targets import load_targets
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.survey import PreparedDesign, SurveyDesign
from pipeline.survey.batch import batch_differences
from pipeline.synthetic.model import (
    PlantedEffects,
    Population,
    draw_population,
    population_truth,
    systematic_pps,
)
from pipeline.synthetic.simulate import FILES, calibrated_parameters, population_answers

log = logging.getLogger("pipeline.checks.methods_validation")

LEVEL = 0.95
ALPHA = 1 - LEVEL
SCENARIOS: dict[str, PlantedEffects] = {
    "planted": PlantedEffects(),
    "no_effect": PlantedEffects(tier=0.0, maturity=0.0),
}
TARGET_COVERAGE = (0.93, 0.97)
TARGET_MAX_REJECTION = 0.06
DECLARED = "declared"
# Diagnostic designs, scored beside the declared ones on the same samples; each maps an instrument to
# the design that replaces the declared one. The declared partner design is two-stage: LSPs without
# replacement (fpc N_h), then partners within each LSP with replacement, so the first-stage correction
# shrinks only the between-LSP part of the variance. Two contrasts: an LSP-level fpc alone (the design
# used first), which scales the whole variance by 1 - m_h/N_h (about 0.5: 181 of the 388 LSPs have a
# partner respondent in the bundled survey), including the within-LSP part that a one-stage correction
# does not cover; and LSPs drawn with replacement (the design used next, now the analytic one), which
# counts the between-LSP part in full.
PARTNERS_WITH_LSP_FPC = "partners with LSP-level fpc"
PARTNERS_WITH_REPLACEMENT = "partners, LSPs with replacement"
DIAGNOSTIC_DESIGNS: dict[str, dict[str, SurveyDesign]] = {
    PARTNERS_WITH_LSP_FPC: {
        "partner": replace(
            DESIGNS["partner"],
            subcluster=None,
            label="partners with an LSP-level fpc and no second stage (the design used first; diagnostic)",
        )
    },
    PARTNERS_WITH_REPLACEMENT: {"partner": ANALYTIC_DESIGNS["partner"]},
}


# ---------------------------------------------------------------------------------------- one survey


@dataclass(frozen=True)
class SimulatedSurvey:
    """One simulated finite population, every member's answers (member order) and the respondents."""

    population: Population
    answers: dict[str, pd.DataFrame]
    sample: dict[str, pd.DataFrame]


def simulation_seed(seed: int, scenario_index: int, simulation: int) -> np.random.SeedSequence:
    """The seed of one simulation: ``SeedSequence(seed).spawn(...)[scenario_index].spawn(...)[simulation]``.

    Spawned children do not depend on how many siblings are spawned, so simulation k is the same survey
    whether the run has 10 or 1,000 simulations (the test's small run repeats the full run's first ones).
    """
    return np.random.SeedSequence(seed, spawn_key=(scenario_index, simulation))


def draw_survey(
    frame: pd.DataFrame,
    codebook: Codebook,
    params: dict[str, Any],
    effects: PlantedEffects,
    rng: np.random.Generator,
    n_coordinators: int,
    n_partners: int,
) -> SimulatedSurvey:
    """One finite population, every member's answers and the sample of respondents.

    The respondents are drawn as ``generate`` draws them (systematic PPS on the response propensities);
    their rows are the population's realised answers, sorted by respondent id, in the validated layout.
    Unlike ``generate``, every member answers before the draw, so the population's proportions are
    realised values the sample can be compared with, not expectations.
    """
    population = draw_population(frame, rng, effects)
    answers = {
        instrument: population_answers(population, instrument, codebook, params, rng)
        for instrument in INSTRUMENTS
    }
    rows = {
        "coordinator": systematic_pps(population.coordinator_propensity, n_coordinators, rng)[0],
        "partner": systematic_pps(population.partner_propensity, n_partners, rng)[0],
    }
    sample = {
        instrument: answers[instrument].iloc[rows[instrument]].sort_values("respondent_id", ignore_index=True)
        for instrument in INSTRUMENTS
    }
    return SimulatedSurvey(population=population, answers=answers, sample=sample)


def grouping_column(config: Config, comparison: str, element: str | None) -> str:
    """The analysis base column a comparison splits on (as pipeline.stages.analyse chooses it)."""
    if comparison == "tier":
        return "tier"
    return maturity_group_column(config, element)


def population_differences(base: pd.DataFrame, codebook: Codebook, config: Config) -> pd.DataFrame:
    """The finite-population truth: per Likert item, the difference between the two groups of each
    comparison in the share agreeing among substantive answers, every member counting once.

    ``base`` is ``derive`` run on the whole population. Computed by direct counting, independently of
    the survey engine, so that the engine is checked against something it did not compute.
    """
    agree_codes = list(codebook.agree_codes)
    rows = []
    answers: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # (valid, agree), once per item
    for instrument, comparison in COMPARISONS:
        # The instrument's rows as a mask over each column read, not a copy of the whole table per
        # comparison: the same members in the same order.
        members = base["respondent_type"].eq(instrument).to_numpy(dtype=bool, na_value=False)
        a, b, _ = COMPARISON_LEVELS[comparison]
        groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # each grouping column's two groups, once
        for variable in codebook.likert_items(instrument):
            if (instrument, variable.name) not in answers:
                # As numbers (NA as NaN, in no list of codes): the same counts as pandas' masked isin.
                codes = base[variable.name].to_numpy(dtype=float, na_value=np.nan)[members]
                answers[instrument, variable.name] = (
                    np.isin(codes, list(variable.codes)),
                    np.isin(codes, agree_codes),
                )
            valid, agree = answers[instrument, variable.name]
            column = grouping_column(config, comparison, variable.element)
            if column not in groups:
                labels = base[column].astype("string")
                groups[column] = (
                    labels.eq(a).fillna(False).to_numpy(dtype=bool)[members],
                    labels.eq(b).fillna(False).to_numpy(dtype=bool)[members],
                )
            in_a = groups[column][0] & valid
            in_b = groups[column][1] & valid
            with np.errstate(invalid="ignore", divide="ignore"):
                truth = agree[in_a].sum() / in_a.sum() - agree[in_b].sum() / in_b.sum()
            rows.append(
                {
                    "instrument": instrument,
                    "comparison": comparison,
                    "item": variable.name,
                    "truth": float(truth),
                    "population_n_a": int(in_a.sum()),
                    "population_n_b": int(in_b.sum()),
                }
            )
    return pd.DataFrame(rows)


def expected_differences(
    population: Population, codebook: Codebook, params: dict[str, Any], config: Config
) -> pd.DataFrame:
    """The same differences as the truth file defines them: the mean over members of the model's
    probability of agreeing (an expectation over the answering noise), maturity by development stage.

    This is the estimand of the bundled survey's truth-vs-estimate table, so the simulations also say
    what coverage to expect there.
    """
    truth = {"population_likert_agree": population_truth(population, codebook, params)}
    return truth_differences(truth, config).rename(columns={"truth": "truth_expected"})


def analysis_data(base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook) -> tuple[pd.DataFrame, dict]:
    """The analysis columns of a derived sample (as pipeline.stages.analyse builds them) and each
    Likert item's share-agreeing column."""
    data, outcomes = outcome_columns(design_columns(base, frame), codebook)
    return data, {o.item: o.column for o in outcomes if o.measure == "agree"}


def prepare_overrides(
    data: pd.DataFrame,
    overrides: Mapping[str, SurveyDesign],
    populations: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, PreparedDesign]:
    """Prepare other designs over the same rows ``prepare_designs`` gives each instrument
    (``populations``: those rows, from ``population_rows``, when the caller already has them)."""
    rows = population_rows(data) if populations is None else populations
    return {instrument: design.prepare(rows[instrument]) for instrument, design in overrides.items()}


def sample_differences(
    designs: Mapping[str, PreparedDesign],
    agree_columns: Mapping[str, str],
    codebook: Codebook,
    config: Config,
) -> pd.DataFrame:
    """The analysis's estimate of every item difference for the instruments in ``designs``: the numbers
    of the "difference (design-based t)" rows of comparisons.csv (``batch_differences``, 95% CI)."""
    parts = []
    for instrument, comparison in COMPARISONS:
        if instrument not in designs:
            continue
        design = designs[instrument]
        a, b, _ = COMPARISON_LEVELS[comparison]
        by_column: dict[str, list[str]] = {}
        for variable in codebook.likert_items(instrument):
            by_column.setdefault(grouping_column(config, comparison, variable.element), []).append(
                variable.name
            )
        for column, items in by_column.items():
            labels = design.data[column].astype("string")
            # Column by column into a column-major matrix: what the frame's Float64 block gave (the same
            # layout, so the same sums), without selecting and converting a sub-frame.
            values = np.empty((len(design.data), len(items)), order="F")
            for position, item in enumerate(items):
                values[:, position] = design.data[agree_columns[item]].to_numpy(dtype=float, na_value=np.nan)
            result = batch_differences(
                design,
                values,
                labels.eq(a).fillna(False).to_numpy(dtype=bool),
                labels.eq(b).fillna(False).to_numpy(dtype=bool),
                level=LEVEL,
            )
            parts.append(
                pd.DataFrame(
                    {
                        "instrument": instrument,
                        "comparison": comparison,
                        "item": items,
                        "estimate": result.estimate,
                        "se": result.se,
                        "ci_low": result.ci_low,
                        "ci_high": result.ci_high,
                        "t_df": result.t_df,
                        "p_zero": result.p_t,
                        "n_a": result.n_a,
                        "n_b": result.n_b,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def score(truth: pd.DataFrame, estimate: pd.DataFrame) -> pd.DataFrame:
    """Join truth and estimate: the error, whether the CI covers the truth (and the model-expected value
    when ``truth`` has ``truth_expected``), and the t test's p-value for H0: difference = truth."""
    joined = truth.merge(estimate, on=KEYS, how="inner", validate="one_to_one")
    error = joined["estimate"] - joined["truth"]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = error / joined["se"]
    # The test comparisons.csv reports against 0 (t on degf - 1 df), here against the true value.
    p_true = 2 * stats.t.sf(np.abs(t), np.maximum(joined["t_df"], 1))
    testable = joined["se"].gt(0) & joined["t_df"].gt(0)

    def covers(value: pd.Series) -> pd.Series:
        inside = (joined["ci_low"] <= value) & (value <= joined["ci_high"])
        return inside.astype(float).where(testable & value.notna())

    scored = joined.assign(
        error=error, p_true=np.where(testable, p_true, np.nan), covered=covers(joined["truth"])
    )
    if "truth_expected" in joined:
        scored["covered_expected"] = covers(joined["truth_expected"])
    return scored


def simulate_once(
    frame: pd.DataFrame,
    codebook: Codebook,
    config: Config,
    params: dict[str, Any],
    effects: PlantedEffects,
    seed_sequence: np.random.SeedSequence,
) -> pd.DataFrame:
    """Draw one population and its sample; score the estimates of the declared designs (and of the
    diagnostic designs) against the population."""
    rng = np.random.default_rng(seed_sequence)
    survey = draw_survey(frame, codebook, params, effects, rng, config.n_coordinators, config.n_partners)
    population_base, _ = derive(survey.answers, frame, codebook, config)
    sample_base, _ = derive(survey.sample, frame, codebook, config)
    truth = population_differences(population_base, codebook, config).merge(
        expected_differences(survey.population, codebook, params, config), on=KEYS, how="left"
    )
    data, agree_columns = analysis_data(sample_base, frame, codebook)
    # Each instrument's rows once (slices of ``data``) for every design; the all-respondents design is
    # not scored here, so it is not prepared.
    populations = population_rows(data)
    declared = prepare_designs(
        data, "weighted", populations={instrument: populations[instrument] for instrument in INSTRUMENTS}
    )
    designs = {DECLARED: {instrument: declared[instrument] for instrument in INSTRUMENTS}}
    for name, overrides in DIAGNOSTIC_DESIGNS.items():
        designs[name] = prepare_overrides(data, overrides, populations)
    return pd.concat(
        [
            score(truth, sample_differences(prepared, agree_columns, codebook, config)).assign(design=name)
            for name, prepared in designs.items()
        ],
        ignore_index=True,
    )


def run_validation(
    frame: pd.DataFrame,
    codebook: Codebook,
    config: Config,
    n_simulations: int,
    seed: int,
    scenarios: Mapping[str, PlantedEffects] = SCENARIOS,
    progress: Callable[[str, int], None] | None = None,
) -> pd.DataFrame:
    """Every item of every simulation of every scenario and design, scored: one row per item,
    simulation and design."""
    if n_simulations < 2:
        raise PipelineError(f"methods validation needs at least 2 simulations, got {n_simulations}")
    targets = load_targets(config.published_targets)
    parts = []
    for scenario_index, (scenario, effects) in enumerate(scenarios.items()):
        # Solved once per scenario: the intercepts keep the published targets for these effects.
        params = calibrated_parameters(frame, codebook, targets, effects)
        for simulation in range(n_simulations):
            scored = simulate_once(
                frame, codebook, config, params, effects, simulation_seed(seed, scenario_index, simulation)
            )
            parts.append(scored.assign(scenario=scenario, simulation=simulation))
            if progress is not None:
                progress(scenario, simulation + 1)
    results = pd.concat(parts, ignore_index=True)
    first = ["scenario", "simulation", "design"]
    return results[[*first, *[c for c in results.columns if c not in first]]]


# ------------------------------------------------------------------------------------------ summaries


def _measures(rows: pd.DataFrame) -> dict[str, float]:
    """Coverage, rejection rates, bias and SE calibration of one set of item-simulations."""
    per_simulation = rows.groupby("simulation")["covered"].mean()
    per_item = rows.groupby("item").agg(
        bias=("error", "mean"), error_sd=("error", "std"), mean_se=("se", "mean")
    )
    return {
        "n_simulations": int(rows["simulation"].nunique()),
        "n_items": int(rows["item"].nunique()),
        "n_item_simulations": int(rows["covered"].notna().sum()),
        "coverage": float(rows["covered"].mean()),
        # Items of one simulation share its population and sample, so the Monte Carlo error of the
        # coverage is taken over simulations, not over item-simulations.
        "coverage_mc_se": float(per_simulation.std(ddof=1) / np.sqrt(len(per_simulation))),
        "rejection_true": float((rows["p_true"] < ALPHA).mean()),
        "rejection_zero": float((rows["p_zero"] < ALPHA).mean()),
        "mean_truth_pp": float(100 * rows["truth"].mean()),
        "mean_estimate_pp": float(100 * rows["estimate"].mean()),
        "mean_bias_pp": float(100 * rows["error"].mean()),
        "max_abs_item_bias_pp": float(100 * per_item["bias"].abs().max()),
        "mean_se_pp": float(100 * rows["se"].mean()),
        # The SE estimates the sampling SD given the population; the population changes between
        # simulations, so the SE is compared with the SD of the error (estimate - truth), not of the
        # estimate.
        "se_ratio": float((per_item["mean_se"] / per_item["error_sd"]).mean()),
        "coverage_expected": float(rows["covered_expected"].mean())
        if "covered_expected" in rows
        else float("nan"),
    }


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario, design, instrument and comparison, plus an 'all' row per scenario for the
    declared designs."""
    rows = []
    for (scenario, design), in_group in results.groupby(["scenario", "design"], sort=False):
        for (instrument, comparison), group in in_group.groupby(["instrument", "comparison"], sort=False):
            rows.append(
                {"scenario": scenario, "design": design, "instrument": instrument, "comparison": comparison}
                | _measures(group)
            )
        if design == DECLARED:
            everything = in_group.assign(item=in_group[KEYS].astype(str).agg(" | ".join, axis=1))
            rows.append(
                {"scenario": scenario, "design": design, "instrument": "all", "comparison": "all"}
                | _measures(everything)
            )
    return pd.DataFrame(rows)


def item_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, design and item: mean truth and estimate, bias, coverage, rejection and SE ratio."""
    grouped = results.groupby(["scenario", "design", *KEYS], sort=False)
    table = grouped.agg(
        n_simulations=("covered", "count"),
        mean_truth_pp=("truth", "mean"),
        mean_estimate_pp=("estimate", "mean"),
        bias_pp=("error", "mean"),
        error_sd_pp=("error", "std"),
        mean_se_pp=("se", "mean"),
        coverage=("covered", "mean"),
        rejection_true=("p_true", lambda p: float((p < ALPHA).mean())),
        rejection_zero=("p_zero", lambda p: float((p < ALPHA).mean())),
    ).reset_index()
    for column in ("mean_truth_pp", "mean_estimate_pp", "bias_pp", "error_sd_pp", "mean_se_pp"):
        table[column] *= 100
    return table.assign(se_ratio=table["mean_se_pp"] / table["error_sd_pp"])


# ------------------------------------------------------------------------------------------- rendering


def _markdown_table(table: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> list[str]:
    """Rows as a Markdown table; ``columns`` maps a column to (heading, format spec)."""
    lines = [
        "| " + " | ".join(heading for heading, _ in columns.values()) + " |",
        "|" + "---|" * len(columns),
    ]
    for _, row in table.iterrows():
        cells = []
        for column, (_, spec) in columns.items():
            value = row[column]
            cells.append("" if pd.isna(value) else format(value, spec) if spec else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


SUMMARY_COLUMNS = {
    "scenario": ("scenario", ""),
    "instrument": ("instrument", ""),
    "comparison": ("comparison", ""),
    "n_item_simulations": ("item-sims", "d"),
    "mean_truth_pp": ("mean truth (pp)", ".2f"),
    "coverage": ("95% CI coverage", ".3f"),
    "coverage_mc_se": ("MC SE", ".3f"),
    "rejection_true": ("reject true value", ".3f"),
    "rejection_zero": ("reject 0", ".3f"),
    "mean_bias_pp": ("mean bias (pp)", ".2f"),
    "max_abs_item_bias_pp": ("max item bias (pp)", ".2f"),
    "mean_se_pp": ("mean SE (pp)", ".2f"),
    "se_ratio": ("SE / SD(error)", ".3f"),
    "coverage_expected": ("coverage of expected value", ".3f"),
}
DIAGNOSTIC_COLUMNS = {
    "scenario": ("scenario", ""),
    "design": ("design", ""),
    "instrument": ("instrument", ""),
    "comparison": ("comparison", ""),
    "coverage": ("95% CI coverage", ".3f"),
    "coverage_mc_se": ("MC SE", ".3f"),
    "rejection_true": ("reject true value", ".3f"),
    "rejection_zero": ("reject 0", ".3f"),
    "mean_se_pp": ("mean SE (pp)", ".2f"),
    "se_ratio": ("SE / SD(error)", ".3f"),
    "coverage_expected": ("coverage of expected value", ".3f"),
}
TRUTH_SUMMARY_COLUMNS = {
    "instrument": ("instrument", ""),
    "comparison": ("comparison", ""),
    "n_items": ("items", "d"),
    "mean_truth_pp": ("mean truth (pp)", ".2f"),
    "mean_estimate_pp": ("mean estimate (pp)", ".2f"),
    "mean_error_pp": ("mean error (pp)", ".2f"),
    "truth_in_ci": ("truth in CI", "d"),
    "coverage": ("coverage", ".3f"),
}
TRUTH_ITEM_COLUMNS = {
    "instrument": ("instrument", ""),
    "comparison": ("comparison", ""),
    "item": ("item", ""),
    "truth_pp": ("truth (pp)", ".1f"),
    "estimate_pp": ("estimate (pp)", ".1f"),
    "ci_low_pp": ("CI low", ".1f"),
    "ci_high_pp": ("CI high", ".1f"),
    "truth_in_ci": ("truth in CI", ""),
}


def verdict(summary: pd.DataFrame) -> list[str]:
    """One line per scenario and comparison of the declared designs: are the coverage and the rejection
    rate of the true value within the targets?"""
    lines = []
    low, high = TARGET_COVERAGE
    declared = summary[summary["design"].eq(DECLARED) & summary["instrument"].ne("all")]
    for _, row in declared.iterrows():
        problems = []
        if not low <= row["coverage"] <= high:
            problems.append(f"coverage {row['coverage']:.3f} outside {low:.2f}-{high:.2f}")
        if row["rejection_true"] > TARGET_MAX_REJECTION:
            problems.append(
                f"rejection of the true value {row['rejection_true']:.3f} > {TARGET_MAX_REJECTION}"
            )
        status = "; ".join(problems) if problems else "within target"
        lines.append(f"- {row['scenario']}, {row['instrument']} {row['comparison']}: {status}")
    return lines


def render_markdown(
    summary: pd.DataFrame,
    items: pd.DataFrame,
    truth_table: pd.DataFrame | None,
    truth_summary: pd.DataFrame | None,
    truth_note: str,
    *,
    seed: int,
    n_simulations: int,
    config: Config,
) -> str:
    lines = []
    if config.synthetic_data:
        lines += [
            "> **SYNTHETIC DATA.** Every survey here is drawn from the project's generative model; no number",
            "> is the Audit Commission's.",
            "",
        ]
    lines += [
        "# Method validation",
        "",
        f"{n_simulations} simulated surveys per scenario, seed {seed} (seeds.methods_validation), "
        f"{config.n_coordinators} coordinators and {config.n_partners} partners per survey, maturity "
        f"definition `{config.maturity_primary}`. Scenarios: "
        + "; ".join(
            f"`{name}` (tier {effects.tier:+g}, maturity {effects.maturity:+g} log-odds)"
            for name, effects in SCENARIOS.items()
        )
        + ".",
        "",
        "Estimand: the finite population's realised difference in the share agreeing (multi minus single",
        "tier; more minus less mature). Estimate: the weighted design-based difference with its 95% CI,",
        "as in comparisons.csv. `reject true value`: the design-based t test of H0 difference = truth at",
        "5% (type I error). `reject 0`: the pipeline's own test of no difference (power in `planted`). In",
        "`no_effect` the realised population still differs between groups by chance (and through the",
        "authority-type effects); a design with an fpc (the coordinators', the partners' two-stage one and",
        "the diagnostic LSP-level one) tests that realised difference, so its `reject 0` is above 5% there",
        "by design, while the partner design with LSPs drawn with replacement tests the process.",
        "`SE / SD(error)`: mean estimated SE over the",
        "SD of estimate minus truth across simulations, averaged over items. `coverage of expected value`:",
        "how often the same CI covers the population difference as the truth file defines it (model",
        "probabilities, an expectation over the answering noise). pp = percentage points.",
        f"Targets: coverage {TARGET_COVERAGE[0]:.2f}-{TARGET_COVERAGE[1]:.2f}, rejection of the true value "
        f"at most {TARGET_MAX_REJECTION:.2f}.",
        "",
        "## The declared designs (pipeline.study.designs)",
        "",
        *_markdown_table(summary[summary["design"].eq(DECLARED)], SUMMARY_COLUMNS),
        "",
        *verdict(summary),
        "",
        "## Diagnostic designs",
        "",
        "The same samples analysed with a design that differs from the declared one only as named: "
        + "; ".join(
            f"`{name}`: {design.label}"
            for name, overrides in DIAGNOSTIC_DESIGNS.items()
            for design in overrides.values()
        )
        + ".",
        "",
        *_markdown_table(summary[summary["design"].ne(DECLARED)], DIAGNOSTIC_COLUMNS),
        "",
        "## Items with the largest bias (declared designs)",
        "",
    ]
    declared_items = items[items["design"].eq(DECLARED)]
    worst = declared_items.reindex(declared_items["bias_pp"].abs().sort_values(ascending=False).index).head(
        10
    )
    lines += _markdown_table(
        worst,
        {
            "scenario": ("scenario", ""),
            "instrument": ("instrument", ""),
            "comparison": ("comparison", ""),
            "item": ("item", ""),
            "mean_truth_pp": ("mean truth (pp)", ".2f"),
            "bias_pp": ("bias (pp)", ".2f"),
            "mean_se_pp": ("mean SE (pp)", ".2f"),
            "coverage": ("coverage", ".3f"),
            "se_ratio": ("SE / SD(error)", ".3f"),
        },
    )
    lines += ["", "## The bundled synthetic survey: truth beside estimate", "", truth_note, ""]
    if truth_table is not None and truth_summary is not None:
        lines += [*_markdown_table(truth_summary, TRUTH_SUMMARY_COLUMNS), ""]
        lines += [*_markdown_table(truth_table, TRUTH_ITEM_COLUMNS), ""]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--simulations", type=int, default=200, help="simulated surveys per scenario (default: 200)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="the simulations' seed (default: seeds.methods_validation)"
    )
    path_option(parser, "--out", "{analysis_dir}/methods_validation.csv", "where to write the results")
    path_option(
        parser, "--comparisons", "{analysis_dir}/tables/comparisons.csv", "the bundled survey's comparisons"
    )
    path_option(
        parser, "--truth", "{synthetic_dir}/" + FILES["truth_json"], "the synthetic survey's true values"
    )
    arguments, config = parse_stage_arguments(parser, argv)
    if arguments.seed is None:
        arguments.seed = config.methods_validation_seed
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    started = time.perf_counter()

    def progress(scenario: str, done: int) -> None:
        if done % 50 == 0 or done == arguments.simulations:
            log.info(
                "%s: %d/%d simulations (%.0f s)",
                scenario,
                done,
                arguments.simulations,
                time.perf_counter() - started,
            )

    results = run_validation(
        frame, codebook, config, arguments.simulations, arguments.seed, progress=progress
    )
    summary = summarise(results)
    items = item_summary(results)
    truth_table, truth_summary, truth_note = bundled_truth_vs_estimate(
        config, arguments.truth, arguments.comparisons
    )
    out = arguments.out
    write_csv(summary.assign(seed=arguments.seed).round(6), out)
    write_csv(items.round(6), out.with_suffix(".items.csv"))
    markdown = render_markdown(
        summary,
        items,
        truth_table,
        truth_summary,
        truth_note,
        seed=arguments.seed,
        n_simulations=arguments.simulations,
        config=config,
    )
    write_text(out.with_suffix(".md"), markdown)
    written = [out, out.with_suffix(".items.csv"), out.with_suffix(".md")]
    if truth_table is not None:
        truth_path = out.parent / "truth_vs_estimate.csv"
        write_csv(truth_table.round(6), truth_path)
        written.append(truth_path)
    print("\n".join(_markdown_table(summary[summary["design"].eq(DECLARED)], SUMMARY_COLUMNS)))
    print("\n".join(verdict(summary)))
    print("\nDiagnostic designs:")
    print("\n".join(_markdown_table(summary[summary["design"].ne(DECLARED)], DIAGNOSTIC_COLUMNS)))
    if truth_summary is not None:
        print("\nBundled survey, truth beside estimate:")
        print("\n".join(_markdown_table(truth_summary, TRUTH_SUMMARY_COLUMNS)))
    else:
        print(f"\n{truth_note}")
    for path in written:
        log.info("wrote %s", relative_to_root(path))


if __name__ == "__main__":
    run_stage("methods_validation", main)
