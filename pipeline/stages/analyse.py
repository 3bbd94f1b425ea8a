"""Analyse stage: the study's estimates and tests, built on the design-based engine in pipeline/survey.

What is estimated, and for which population:
- coordinators' answers describe the 388 LSPs (one coordinator answers for each LSP);
- partners' answers describe board partners, clustered in their LSPs.

Tables written to analysis/tables/ (tidy CSV, one row per estimate, plus a readable summary):
- estimates.csv: every item and 7S scale, overall and by tier, authority type, maturity (primary
  definition) for each instrument, weighted and unweighted, with linearised SE, 95% CI (logit scale for
  proportions), unweighted base and design effect;
- comparisons.csv: tier, maturity and coordinator-versus-partner comparisons of every item and scale:
  difference with CI and design-based t test, Rao-Scott F test, proportional-odds regression (odds ratio),
  effect sizes, and Benjamini-Hochberg adjusted p-values within each family of tests;
- maturity_sensitivity.csv: the maturity comparison of every item under every maturity definition;
- power.csv: the minimum detectable tier and maturity differences at the achieved sample sizes.
Cells from fewer than ``disclosure.min_cell`` respondents are suppressed before anything is written.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json, write_text
from pipeline.core.paths import relative_to_root
from pipeline.study.designs import (
    StudyDesigns,
    design_columns,
    design_record,
    population_rows,
    prepare_designs,
)
from pipeline.study.direction import add_direction
from pipeline.study.disclosure import suppress
from pipeline.study.frame import read_frame
from pipeline.study.published import load_targets, published_vs_reproduced
from pipeline.study.schemas import check_output
from pipeline.study.vocabulary import (
    AUTHORITY_TYPES,
    INSTRUMENTS,
    LESS_MATURE,
    MORE_MATURE,
    TIERS,
    maturity_column,
    scale_column,
)
from pipeline.study.weighting import calibrator
from pipeline.survey import (
    PreparedDesign,
    SurveyDesignError,
    minimum_detectable_difference,
    p_adjust_bh,
    svychisq,
    svyolr,
    t_quantile,
)
from pipeline.survey import distributions as stats
from pipeline.survey.batch import batch_differences, batch_means, logit_intervals

log = logging.getLogger("pipeline.stages.analyse")

LEVEL = 0.95
# The design effect compares with simple random sampling without replacement from the weighted
# population; an unweighted design has no population beyond its sample, so there the comparison is
# with sampling with replacement (R: deff="replace").
DEFF_KIND = {"weighted": "srswor", "unweighted": "replace"}
COLUMNS = [
    "data",
    "instrument",
    "item",
    "item_label",
    "element",
    "measure",
    "group",
    "level",
    "weighting",
    "n",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "deff",
    "test",
    "statistic",
    "df",
    "df2",
    "p",
    "p_fdr",
    "fdr_family",
    "effect_name",
    "effect_size",
    "effect_ci_low",
    "effect_ci_high",
]
STATISTICS = [
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "deff",
    "statistic",
    "df",
    "df2",
    "p",
    "p_fdr",
    "effect_size",
    "effect_ci_low",
    "effect_ci_high",
]


@dataclass(frozen=True)
class Outcome:
    """One analysed quantity: a column of the design data and how it is summarised."""

    item: str
    label: str
    element: str | None
    measure: str  # agree | mean | dont_know | yes | selected | share:<code> | positive | value
    column: str
    is_proportion: bool
    instruments: tuple[str, ...]
    ordinal: str | None = None  # the 1-5 score column, for Likert items (ordinal models, Rao-Scott)


def _codes(base: pd.DataFrame, variable: Variable) -> pd.Series:
    return base[variable.name].astype("Float64")


def outcome_columns(base: pd.DataFrame, codebook: Codebook) -> tuple[pd.DataFrame, list[Outcome]]:
    """The analysis columns every outcome needs: 0/1 indicators, valid scores, scale scores.

    Missing codes (don't know, not answered, not applicable) are missing in every indicator, so each
    proportion's base is the respondents who gave a substantive answer; "don't know" gets its own share
    among those who were asked and answered.
    """
    columns: dict[str, pd.Series] = {}
    outcomes: list[Outcome] = []
    agree = list(codebook.agree_codes)
    for variable in codebook.variables:
        if variable.type in ("id", "free_text"):
            continue
        codes = _codes(base, variable)
        valid = codes.isin(list(variable.codes)) if variable.codes else codes.ge(0)
        common = {
            "item": variable.name,
            "label": variable.label,
            "element": variable.element,
            "instruments": variable.instruments,
        }

        def indicator(condition: pd.Series, valid_rows: pd.Series = valid) -> pd.Series:
            return condition.astype("Float64").where(valid_rows)

        if variable.type == "likert5":
            score_column = f"{variable.name}__score"
            columns[score_column] = codes.where(valid)
            columns[f"{variable.name}__agree"] = indicator(codes.isin(agree))
            asked = valid | codes.eq(-8)
            columns[f"{variable.name}__dont_know"] = indicator(codes.eq(-8), asked)
            outcomes += [
                Outcome(
                    **common,
                    measure="agree",
                    column=f"{variable.name}__agree",
                    is_proportion=True,
                    ordinal=score_column,
                ),
                Outcome(
                    **common, measure="mean", column=score_column, is_proportion=False, ordinal=score_column
                ),
                Outcome(
                    **common, measure="dont_know", column=f"{variable.name}__dont_know", is_proportion=True
                ),
            ]
        elif variable.type == "yes_no":
            columns[f"{variable.name}__yes"] = indicator(codes.eq(1))
            outcomes.append(
                Outcome(**common, measure="yes", column=f"{variable.name}__yes", is_proportion=True)
            )
        elif variable.type == "multiple_choice":
            columns[f"{variable.name}__selected"] = indicator(codes.eq(1))
            outcomes.append(
                Outcome(**common, measure="selected", column=f"{variable.name}__selected", is_proportion=True)
            )
        elif variable.type in ("single_choice", "band"):
            for code in variable.codes:
                column = f"{variable.name}__is_{code}"
                columns[column] = indicator(codes.eq(code))
                outcomes.append(Outcome(**common, measure=f"share:{code}", column=column, is_proportion=True))
        elif variable.type in ("count", "year"):
            columns[f"{variable.name}__value"] = codes.where(valid)
            outcomes.append(
                Outcome(**common, measure="value", column=f"{variable.name}__value", is_proportion=False)
            )
    for element, element_label in codebook.elements.items():
        common = {
            "item": scale_column(element),
            "label": f"{element_label} scale",
            "element": element,
            "instruments": INSTRUMENTS,
        }
        columns[f"{scale_column(element)}__positive"] = base[f"{scale_column(element)}_positive"].astype(
            "Float64"
        )
        outcomes += [
            Outcome(
                **common, measure="positive", column=f"{scale_column(element)}__positive", is_proportion=True
            ),
            Outcome(**common, measure="mean", column=scale_column(element), is_proportion=False),
        ]
    return pd.concat([base, pd.DataFrame(columns, index=base.index)], axis=1), outcomes


def breakdowns(config: Config, outcome: Outcome) -> list[tuple[str, str | None]]:
    """The groupings an outcome is estimated by: (group name, column), the whole population first."""
    maturity = maturity_column(config.maturity_primary, outcome.element)
    return [("all", None), ("tier", "tier"), ("authority_type", "authority_type"), ("maturity", maturity)]


def _levels(group: str) -> tuple[str, ...]:
    return {"tier": TIERS, "authority_type": AUTHORITY_TYPES, "maturity": (MORE_MATURE, LESS_MATURE)}[group]


def _domain_masks(data: pd.DataFrame, column: str | None, group: str) -> dict[str, np.ndarray]:
    if column is None:
        return {"all": np.ones(len(data), dtype=bool)}
    labels = data[column].astype("string")
    return {level: labels.eq(level).fillna(False).to_numpy() for level in _levels(group)}


def estimates(designs: StudyDesigns, outcomes: list[Outcome], config: Config) -> pd.DataFrame:
    """Every outcome, overall and by each breakdown, for each instrument.

    Outcomes that share their breakdown columns are estimated together (pipeline.survey.batch gives the
    same numbers as svymean and svyciprop, one domain at a time over a matrix of outcomes).
    """
    parts = []
    for instrument in INSTRUMENTS:
        design = designs[instrument]
        data = design.data
        mine = [o for o in outcomes if instrument in o.instruments]
        by_breakdown: dict[tuple, list[Outcome]] = {}
        for outcome in mine:
            by_breakdown.setdefault(tuple(breakdowns(config, outcome)), []).append(outcome)
        for groups, members in by_breakdown.items():
            values = (
                data[[o.column for o in members]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            )
            is_proportion = np.array([o.is_proportion for o in members])
            for group, column in groups:
                for level, mask in _domain_masks(data, column, group).items():
                    batch = batch_means(design, values, mask, deff=DEFF_KIND[designs.weighting])
                    low, high = logit_intervals(batch.estimate, batch.se, batch.df, LEVEL)
                    quantile = t_quantile(LEVEL, batch.df)
                    mean_low = batch.estimate - quantile * batch.se
                    mean_high = batch.estimate + quantile * batch.se
                    parts.append(
                        pd.DataFrame(
                            {
                                **_describe_many(members, instrument, group, level, designs.weighting),
                                "n": batch.n,
                                "estimate": batch.estimate,
                                "se": batch.se,
                                "ci_low": np.where(is_proportion, low, mean_low),
                                "ci_high": np.where(is_proportion, high, mean_high),
                                "deff": batch.deff,
                                "df": batch.df,
                            }
                        )
                    )
    table = pd.concat(parts, ignore_index=True)
    empty = table["n"].eq(0)
    table.loc[empty, ["estimate", "se", "ci_low", "ci_high", "deff", "df"]] = np.nan
    return table


def _describe_many(
    members: list[Outcome], instrument: str, group: str, level: str, weighting: str
) -> dict[str, object]:
    return {
        "instrument": instrument,
        "item": [o.item for o in members],
        "item_label": [o.label for o in members],
        "element": [o.element for o in members],
        "measure": [o.measure for o in members],
        "group": group,
        "level": level,
        "weighting": weighting,
    }


def _describe(outcome: Outcome, instrument: str, group: str, level: str, weighting: str) -> dict[str, object]:
    return {
        "instrument": instrument,
        "item": outcome.item,
        "item_label": outcome.label,
        "element": outcome.element,
        "measure": outcome.measure,
        "group": group,
        "level": level,
        "weighting": weighting,
    }


def _differences(
    design: PreparedDesign, members: list[Outcome], by: np.ndarray, a: str, b: str
) -> pd.DataFrame:
    """Difference a - b of each outcome with its CI and design-based t test, and an effect size.

    The effect size of a proportion is the difference itself; of a mean, the difference over the
    weighted standard deviation of the two groups together (a standardised mean difference).
    """
    values = design.data[[o.column for o in members]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    in_a, in_b = by == a, by == b
    difference = batch_differences(design, values, in_a, in_b, level=LEVEL)
    present = (in_a | in_b)[:, None] & ~np.isnan(values)
    weights = np.where(present, design.weights[:, None], 0.0)
    filled = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weights * filled).sum(axis=0) / weights.sum(axis=0)
        spread = np.sqrt((weights * (filled - mean) ** 2).sum(axis=0) / weights.sum(axis=0))
    is_proportion = np.array([o.is_proportion for o in members])
    scale = np.where(is_proportion, 1.0, spread)
    testable = np.minimum(difference.n_a, difference.n_b) >= 2
    table = pd.DataFrame(
        {
            "n": difference.n_a + difference.n_b,
            "n_a": difference.n_a,
            "n_b": difference.n_b,
            "estimate": difference.estimate,
            "se": difference.se,
            "ci_low": difference.ci_low,
            "ci_high": difference.ci_high,
            "test": "difference (design-based t)",
            "statistic": difference.t,
            "df": difference.t_df,
            "p": difference.p_t,
            "effect_name": np.where(
                is_proportion, "difference in proportion", "standardised mean difference"
            ),
            "effect_size": difference.estimate / scale,
            "effect_ci_low": difference.ci_low / scale,
            "effect_ci_high": difference.ci_high / scale,
        }
    )
    untestable = [
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "statistic",
        "df",
        "p",
        "effect_size",
        "effect_ci_low",
        "effect_ci_high",
    ]
    table.loc[~testable, untestable] = np.nan
    return table


def _rao_scott_row(design, outcome: Outcome, by: np.ndarray) -> dict[str, float]:
    categories = design.data[outcome.ordinal or outcome.column].astype("Float64")
    try:
        test = svychisq(design, categories.to_numpy(dtype=float, na_value=np.nan), pd.Series(by).to_numpy())
    except SurveyDesignError:
        return {}
    return {
        "test": "Rao-Scott F",
        "statistic": test.f,
        "df": test.ndf,
        "df2": test.ddf,
        "p": test.p_f,
        "n": test.n_total,
    }


def _ordinal_rows(design, outcome: Outcome, predictors: dict[str, tuple[np.ndarray, str]]) -> list[dict]:
    """Proportional-odds regression of a Likert item on the given 0/1 predictors; odds ratios with CIs."""
    # A narrow copy of the design's data: the fit subsets rows, and the wide analysis frame makes that slow.
    data = design.data[[*design.design.columns, outcome.ordinal]].assign(
        **{
            name: pd.Series(values, index=design.data.index).astype("Float64")
            for name, (values, _) in predictors.items()
        }
    )
    # The same rows in the same order: the calibrated weights and their variance carry over.
    prepared = dataclasses.replace(design.design.prepare(data), calibrations=design.calibrations)
    try:
        fit = svyolr(prepared, outcome.ordinal, list(predictors))
    except SurveyDesignError:
        return []
    rows = []
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    for name, (_, group) in predictors.items():
        beta, se = float(fit.coefficients[name]), float(fit.se[name])
        rows.append(
            {
                "group": group,
                "n": fit.n,
                "estimate": beta,
                "se": se,
                "ci_low": beta - z * se,
                "ci_high": beta + z * se,
                "test": "proportional-odds regression (Wald z)",
                "statistic": beta / se,
                "df": fit.df_residual,
                "p": float(2 * stats.norm.sf(abs(beta / se))),
                "effect_name": "odds ratio",
                "effect_size": math.exp(beta),
                "effect_ci_low": math.exp(beta - z * se),
                "effect_ci_high": math.exp(beta + z * se),
            }
        )
    return rows


COMPARISON_LEVELS = {
    "tier": ("multi", "single", "multi-tier minus single-tier"),
    "maturity": (MORE_MATURE, LESS_MATURE, "more mature minus less mature"),
    "respondent_type": ("partner", "coordinator", "partners minus coordinators"),
}


def _comparison_outcomes(outcomes: list[Outcome]) -> Iterator[Outcome]:
    return (
        o
        for o in outcomes
        if o.measure in ("agree", "yes", "selected", "positive")
        or (o.measure == "mean" and o.item.startswith("scale_"))
    )


def _group_labels(data: pd.DataFrame, column: str) -> np.ndarray:
    return data[column].astype("string").to_numpy(dtype=object, na_value=None)


def comparisons(designs: StudyDesigns, outcomes: list[Outcome], config: Config) -> pd.DataFrame:
    """Tier and maturity comparisons within each instrument; coordinators against partners.

    Every comparison gets a difference with its design-based t test; categorical outcomes also get the
    Rao-Scott test, and Likert items a proportional-odds model of tier and maturity together. The tests
    beyond the difference are run on the weighted designs only: the unweighted run is a sensitivity
    analysis of the estimates, not a second set of hypothesis tests.
    """
    parts = []
    compared = list(_comparison_outcomes(outcomes))
    for instrument in (*INSTRUMENTS, "respondents"):
        design = designs[instrument]
        data = design.data
        population = "all respondents" if instrument == "respondents" else instrument
        if instrument == "respondents":
            members = [o for o in compared if set(o.instruments) == set(INSTRUMENTS)]
            columns_by_group = {"respondent_type": lambda outcome: "respondent_type"}
        else:
            members = [o for o in compared if instrument in o.instruments]
            columns_by_group = {
                "tier": lambda outcome: "tier",
                "maturity": lambda outcome: maturity_column(config.maturity_primary, outcome.element),
            }
        for group, column_of in columns_by_group.items():
            a, b, level = COMPARISON_LEVELS[group]
            sharing: dict[str, list[Outcome]] = {}
            for outcome in members:
                sharing.setdefault(column_of(outcome), []).append(outcome)
            for column, same_column in sharing.items():
                by = _group_labels(data, column)
                described = pd.DataFrame(
                    _describe_many(same_column, population, group, level, designs.weighting)
                )
                differences = _differences(design, same_column, by, a, b)
                parts.append(pd.concat([described, differences], axis=1))
                if designs.weighting != "weighted":
                    continue
                rao_scott = [
                    _describe(outcome, population, group, level, designs.weighting)
                    | {"n_a": n_a, "n_b": n_b}
                    | _rao_scott_row(design, outcome, by)
                    for outcome, n_a, n_b in zip(
                        same_column, differences["n_a"], differences["n_b"], strict=True
                    )
                    if outcome.measure != "mean"
                ]
                parts.append(pd.DataFrame(rao_scott))
        if designs.weighting == "weighted":
            parts += _ordinal_tables(design, members, columns_by_group, population, designs.weighting)
    table = pd.concat(parts, ignore_index=True)
    return table[table["test"].notna()].reset_index(drop=True)


def _ordinal_tables(
    design: PreparedDesign, members: list[Outcome], columns_by_group: dict, population: str, weighting: str
) -> list[pd.DataFrame]:
    rows = []
    data = design.data
    for outcome in members:
        if outcome.ordinal is None or outcome.measure != "agree":
            continue
        predictors = {}
        for group, column_of in columns_by_group.items():
            labels = data[column_of(outcome)].astype("string")
            predictors[f"is_{group}"] = (
                labels.eq(COMPARISON_LEVELS[group][0]).astype("Float64").where(labels.notna()).to_numpy(),
                group,
            )
        for row in _ordinal_rows(design, outcome, predictors):
            group = row.pop("group")
            level = COMPARISON_LEVELS[group][2].replace("minus", "against")
            observed = data[outcome.column].notna().to_numpy()
            by = _group_labels(data, columns_by_group[group](outcome))
            sizes = {
                "n_a": int((observed & (by == COMPARISON_LEVELS[group][0])).sum()),
                "n_b": int((observed & (by == COMPARISON_LEVELS[group][1])).sum()),
            }
            rows.append(_describe(outcome, population, group, level, weighting) | sizes | row)
    return [pd.DataFrame(rows)]


def add_fdr(table: pd.DataFrame) -> pd.DataFrame:
    """Benjamini-Hochberg adjustment within each family: one comparison, population, test and weighting."""
    family_keys = ["group", "instrument", "test", "weighting"]
    family = table[family_keys].astype("string").agg(" | ".join, axis=1)
    adjusted = pd.Series(np.nan, index=table.index)
    for _, rows in table.groupby(family, sort=False):
        adjusted[rows.index] = p_adjust_bh(rows["p"].to_numpy(dtype=float))
    return table.assign(p_fdr=adjusted, fdr_family=family)


def maturity_sensitivity(designs: StudyDesigns, outcomes: list[Outcome], config: Config) -> pd.DataFrame:
    """The maturity difference of every proportion outcome under every definition, FDR within definition."""
    parts = []
    proportions = [o for o in _comparison_outcomes(outcomes) if o.measure != "mean"]
    a, b, level = COMPARISON_LEVELS["maturity"]
    for instrument in INSTRUMENTS:
        design = designs[instrument]
        members = [o for o in proportions if instrument in o.instruments]
        for definition in config.maturity_definitions:
            sharing: dict[str, list[Outcome]] = {}
            for outcome in members:
                sharing.setdefault(maturity_column(definition, outcome.element), []).append(outcome)
            for column, same_column in sharing.items():
                by = _group_labels(design.data, column)
                described = pd.DataFrame(
                    _describe_many(same_column, instrument, "maturity", level, designs.weighting)
                ).assign(definition=definition, primary=definition == config.maturity_primary)
                parts.append(pd.concat([described, _differences(design, same_column, by, a, b)], axis=1))
    table = pd.concat(parts, ignore_index=True)
    adjusted = pd.Series(np.nan, index=table.index)
    for _, group in table.groupby(["instrument", "definition"], sort=False):
        adjusted[group.index] = p_adjust_bh(group["p"].to_numpy(dtype=float))
    table["p_fdr"] = adjusted
    keys = ["instrument", "item", "measure"]
    primary = table[table["primary"]].set_index(keys)["estimate"]
    primary_sign = np.sign(table.set_index(keys).index.map(primary).to_numpy(dtype=float))
    table["same_direction_as_primary"] = np.sign(table["estimate"].to_numpy(dtype=float)) == primary_sign
    table["significant_fdr"] = table["p_fdr"] < 0.05
    return table


def power_table(designs: StudyDesigns, estimates_table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Minimum detectable differences (80% power, 5% two-sided) at the achieved sizes and design effects."""
    rows = []
    proportions = estimates_table[
        estimates_table["measure"].isin(["agree", "yes", "selected", "positive"])
        & (estimates_table["group"] == "all")
    ]
    for instrument in INSTRUMENTS:
        data = designs[instrument].data
        deff = float(proportions.loc[proportions["instrument"] == instrument, "deff"].median())
        for group, column in (
            ("tier", "tier"),
            ("maturity", maturity_column(config.maturity_primary, "strategy")),
        ):
            a, b, level = COMPARISON_LEVELS[group]
            labels = data[column].astype("string")
            n_a, n_b = int(labels.eq(a).sum()), int(labels.eq(b).sum())
            for baseline in (0.5, 0.3):
                rows.append(
                    {
                        "instrument": instrument,
                        "group": group,
                        "level": level,
                        "n_a": n_a,
                        "n_b": n_b,
                        "deff": deff,
                        "p_baseline": baseline,
                        "alpha": 0.05,
                        "power": 0.8,
                        "minimum_detectable_difference": minimum_detectable_difference(
                            n_a, n_b, deff=deff, alpha=0.05, power=0.8, p=baseline
                        ),
                    }
                )
    return pd.DataFrame(rows)


def _finish(table: pd.DataFrame, config: Config, margin_keys: list[str]) -> pd.DataFrame:
    table = table.assign(data="SYNTHETIC" if config.synthetic_data else "survey")
    for column in COLUMNS:
        if column not in table:
            table[column] = np.nan
    extra = [c for c in table.columns if c not in COLUMNS]
    table = table[COLUMNS + extra]
    if "n_b" in table:
        # A comparison rests on both groups: the smaller one decides whether it may be published.
        table = table.assign(n_smaller_group=table[["n_a", "n_b"]].min(axis=1))
        return suppress(
            table, config.min_cell, [*STATISTICS, "n", "n_a", "n_b"], [], base_column="n_smaller_group"
        )
    return suppress(table, config.min_cell, STATISTICS, margin_keys)


def analyse(
    base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config
) -> dict[str, pd.DataFrame]:
    """Every table of the study, suppressed and ready to write."""
    base = design_columns(base, frame)
    data, outcomes = outcome_columns(base, codebook)
    tables = {}
    estimate_tables, comparison_tables = [], []
    populations = population_rows(data)
    primary_weighting = calibrator(frame, config.weighting) if config.weighting else None
    for weighting in ("weighted", "unweighted"):
        designs = prepare_designs(data, weighting, populations, primary_weighting)
        estimate_tables.append(estimates(designs, outcomes, config))
        comparison_tables.append(comparisons(designs, outcomes, config))
        if weighting == "weighted":
            weighted_designs = designs
        else:
            unweighted_designs = designs
    estimates_table = pd.concat(estimate_tables, ignore_index=True)
    tables["estimates"] = _finish(
        estimates_table, config, ["instrument", "item", "measure", "group", "weighting"]
    )
    # Marginal differences for the 388 LSPs of 2008 (descriptive); the analytic, adjusted effects behind
    # the headlines are the models stage's. The favourable sign reads reverse-worded items right.
    tables["comparisons"] = _finish(
        add_direction(add_fdr(pd.concat(comparison_tables, ignore_index=True)), codebook).assign(
            inference="descriptive"
        ),
        config,
        [],
    )
    tables["maturity_sensitivity"] = _finish(
        maturity_sensitivity(weighted_designs, outcomes, config), config, []
    )
    tables["published_vs_reproduced"] = published_vs_reproduced(
        load_targets(config.published_targets),
        {"weighted": weighted_designs, "unweighted": unweighted_designs},
        codebook,
        config.synthetic_data,
        config.min_cell,
        tables["comparisons"],
    )
    tables["power"] = power_table(weighted_designs, estimates_table, config).assign(
        data="SYNTHETIC" if config.synthetic_data else "survey"
    )
    return tables


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out-dir", "{analysis_dir}/tables", "where to write the tables")
    arguments, config = parse_stage_arguments(parser, argv)
    if not arguments.base.exists():
        raise PipelineError(f"{relative_to_root(arguments.base)}: not found; run `make derive` first")
    base = pd.read_parquet(arguments.base)
    log.info("read %s: %d rows", relative_to_root(arguments.base), len(base))
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    tables = analyse(base, frame, codebook, config)
    for name, table in tables.items():
        check_output(name, table, codebook)
        path = arguments.out_dir / f"{name}.csv"
        write_csv(table.round(10), path)
        log.info("wrote %s: %d rows", relative_to_root(path), len(table))
    write_json(
        config.analysis_dir / "manifest.json",
        {
            "synthetic_data": config.synthetic_data,
            "version": __version__,
            "designs": design_record() | {"design_effect": DEFF_KIND},
            "maturity": {
                "primary": config.maturity_primary,
                "alternatives": list(config.maturity_alternatives),
            },
            "disclosure": {"min_cell": config.min_cell},
            "inputs": {relative_to_root(arguments.base): sha256_file(arguments.base)},
        },
    )
    write_text(arguments.out_dir / "summary.md", render_summary(tables, codebook, config))


def render_summary(tables: dict[str, pd.DataFrame], codebook: Codebook, config: Config) -> str:
    """A readable rendering of the headline tables (Markdown)."""
    lines = []
    if config.synthetic_data:
        lines += [
            "> **SYNTHETIC DATA.** These numbers come from the project's synthetic survey, not from the",
            "> Audit Commission's 2008 survey.",
            "",
        ]
    estimates_table = tables["estimates"]
    weighted = estimates_table[(estimates_table["weighting"] == "weighted")]
    lines += [
        "# Headline estimates",
        "",
        "Per cent agreeing (95% CI), weighted; coordinators describe the 388 LSPs, partners describe board",
        "partners. Tier: single = metropolitan districts, London boroughs and unitaries; multi = counties",
        "and shire districts.",
        "",
    ]
    for instrument in INSTRUMENTS:
        rows = weighted[
            (weighted["instrument"] == instrument) & weighted["measure"].isin(["agree", "positive"])
        ]
        pivot = rows[rows["group"].isin(["all", "tier"])]
        lines += [
            f"## {codebook.instruments[instrument]['label']}s",
            "",
            "| item | element | all | single-tier | multi-tier |",
            "|---|---|---|---|---|",
        ]
        for _, item_rows in pivot.groupby("item", sort=False):
            cells = []
            for level in ("all", "single", "multi"):
                row = item_rows[item_rows["level"] == level]
                if row.empty or pd.isna(row["estimate"].iloc[0]):
                    cells.append("suppressed" if not row.empty else "")
                else:
                    r = row.iloc[0]
                    interval = f"{100 * r['ci_low']:.0f}-{100 * r['ci_high']:.0f}"
                    cells.append(f"{100 * r['estimate']:.0f}% ({interval}), n={int(r['n'])}")
            lines.append(
                f"| {item_rows['item_label'].iloc[0]} | {item_rows['element'].iloc[0]} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    comparisons_table = tables["comparisons"]
    significant = comparisons_table[
        (comparisons_table["weighting"] == "weighted") & (comparisons_table["p_fdr"] < 0.05)
    ]
    lines += [
        "# Comparisons significant after false-discovery-rate control (BH, 5%)",
        "",
        "| population | comparison | item | test | estimate | p | p (FDR) |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in significant.iterrows():
        lines.append(
            f"| {r['instrument']} | {r['level']} | {r['item_label']} | {r['test']} | {r['estimate']:.3f} | "
            f"{r['p']:.2g} | {r['p_fdr']:.2g} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_stage("analyse", main)
