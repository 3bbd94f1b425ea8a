"""The study's design-based estimates and group comparisons, shared by the analyse and nonresponse stages.

`estimates` gives every outcome overall and by each breakdown (pipeline.study.outcomes); `comparisons` the
tier and maturity differences within each instrument and coordinators against partners, with the
Rao-Scott and proportional-odds tests on the weighted designs. The analyse stage writes them as tables;
the nonresponse stage reruns them under every weighting.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
import pandas as pd

from pipeline.core.config import Config
from pipeline.study.designs import StudyDesigns
from pipeline.study.outcomes import (
    COMPARED_GROUPS,
    COMPARISON_LEVELS,
    GROUP_LEVELS,
    Outcome,
    breakdowns,
    comparison_outcomes,
    group_column,
)
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.survey import PreparedDesign, SurveyDesignError, svyolr, t_quantile
from pipeline.survey import distributions as stats
from pipeline.survey.batch import (
    BLOCK_COLUMNS,
    BatchMeans,
    DomainDifferences,
    DomainMeans,
    logit_intervals,
)
from pipeline.survey.chisq import svychisq_many

LEVEL = 0.95
# The design effect compares with simple random sampling without replacement from the weighted
# population; an unweighted design has no population beyond its sample, so there the comparison is
# with sampling with replacement (R: deff="replace").
DEFF_KIND = {"weighted": "srswor", "unweighted": "replace"}
# Rows x outcomes above which `differences` reads its outcomes in column blocks (memory, not numbers).
LARGE_CELLS = 4_000_000
# Outcomes per block there: a difference's working arrays are a dozen rows x outcomes matrices (about
# 0.4 GB a block of 8 at 473,000 respondents; 1 GB at the engine's 32).
LARGE_BLOCK_COLUMNS = 8


def _domain_masks(data: pd.DataFrame, column: str | None, group: str) -> dict[str, np.ndarray]:
    if column is None:
        return {"all": np.ones(len(data), dtype=bool)}
    labels = data[column].astype("string")
    return {level: labels.eq(level).fillna(False).to_numpy() for level in GROUP_LEVELS[group]}


def estimates(
    designs: StudyDesigns, outcomes: list[Outcome], config: Config, only: Collection[str] | None = None
) -> pd.DataFrame:
    """Every outcome, overall and by each breakdown, for each instrument.

    Outcomes that share their breakdown columns are estimated together (pipeline.survey.batch gives the
    same numbers as svymean and svyciprop, one domain at a time over a matrix of outcomes). ``only``
    names the breakdowns wanted (``["all"]``: the whole population only); None gives every one.
    """
    parts = []
    interval_df = config.weighting.interval_df
    for instrument in INSTRUMENTS:
        design = designs[instrument]
        data = design.data
        mine = [o for o in outcomes if instrument in o.instruments]
        by_breakdown: dict[tuple, list[Outcome]] = {}
        for outcome in mine:
            wanted = [(g, c) for g, c in breakdowns(config, outcome) if only is None or g in only]
            by_breakdown.setdefault(tuple(wanted), []).append(outcome)
        for groups, members in by_breakdown.items():
            masks = {group: _domain_masks(data, column, group) for group, column in groups}
            batches = _batch_means_by_domain(design, data, members, masks, designs.weighting, interval_df)
            is_proportion = np.array([o.is_proportion for o in members])
            for group, _ in groups:
                for level in masks[group]:
                    batch = batches[group, level]
                    low, high = logit_intervals(batch.estimate, batch.se, batch.df_per_column, LEVEL)
                    quantile = np.array([t_quantile(LEVEL, df) for df in batch.df_per_column])
                    mean_low = batch.estimate - quantile * batch.se
                    mean_high = batch.estimate + quantile * batch.se
                    parts.append(
                        pd.DataFrame(
                            {
                                **describe_many(members, instrument, group, level, designs.weighting),
                                "n": batch.n,
                                "estimate": batch.estimate,
                                "se": batch.se,
                                "ci_low": np.where(is_proportion, low, mean_low),
                                "ci_high": np.where(is_proportion, high, mean_high),
                                "deff": batch.deff,
                                "df": batch.df_per_column,
                            }
                        )
                    )
    table = pd.concat(parts, ignore_index=True)
    empty = table["n"].eq(0)
    table.loc[empty, ["estimate", "se", "ci_low", "ci_high", "deff", "df"]] = np.nan
    return table


def _batch_means_by_domain(
    design: PreparedDesign,
    data: pd.DataFrame,
    members: list[Outcome],
    masks: dict[str, dict[str, np.ndarray]],
    weighting: str,
    interval_df: str,
) -> dict[tuple[str, str], BatchMeans]:
    """`batch_means` of every member outcome in every domain, keyed by (group, level).

    The outcomes are read as a float matrix ``BLOCK_COLUMNS`` columns at a time (the engine's own column
    blocks, so every number is the one a single call over all columns gives): the whole matrix of a
    population's outcomes was hundreds of megabytes at Place-Survey size.
    """
    parts: dict[tuple[str, str], list[BatchMeans]] = {}
    # Each group's levels are disjoint: one code per row. The groups' sums are set up once
    # (`DomainMeans`), and each block of outcomes gives every domain of every group in one pass.
    groupings = []
    for levels in masks.values():
        code = np.full(len(data), -1, dtype=np.int64)
        for index, mask in enumerate(levels.values()):
            code[mask] = index
        groupings.append((code, len(levels)))
    domain_means = DomainMeans(design, groupings, deff=DEFF_KIND[weighting], df=interval_df)
    for start in range(0, len(members), BLOCK_COLUMNS):
        chunk = members[start : start + BLOCK_COLUMNS]
        values = data[[o.column for o in chunk]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        for (group, levels), batches in zip(masks.items(), domain_means(values), strict=True):
            for level, batch in zip(levels, batches, strict=True):
                parts.setdefault((group, level), []).append(batch)
    return {key: _joined(batches) for key, batches in parts.items()}


def _joined(batches: list[BatchMeans]) -> BatchMeans:
    """One `BatchMeans` of the columns of several (of the same domain, so the same ``df``)."""
    if len(batches) == 1:
        return batches[0]
    fields = [name for name in BatchMeans.__dataclass_fields__ if name != "df"]
    return BatchMeans(
        **{name: np.concatenate([getattr(b, name) for b in batches]) for name in fields}, df=batches[0].df
    )


def describe_many(
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


def differences(
    design: PreparedDesign,
    members: list[Outcome],
    by: np.ndarray,
    a: str,
    b: str,
    interval_df: str = "design",
) -> pd.DataFrame:
    """Difference a - b of each outcome with its CI and design-based t test, and an effect size.

    `interval_df` is ``weighting.interval_df``: R's degrees of freedom, or each difference's
    Bell-McCaffrey degrees of freedom for its interval and test (pipeline.survey.small_sample).

    The effect size of a proportion is the difference itself; of a mean, the difference over the
    weighted standard deviation of the two groups together (a standardised mean difference).

    Above ``LARGE_CELLS`` rows x outcomes the outcomes are taken ``LARGE_BLOCK_COLUMNS`` at a time, so
    the working arrays stay a few hundred megabytes at Place-Survey size (each outcome's numbers are its
    own; only the order of some sums can differ, in the last bits).
    """
    # The two groups' sums are set up once for every block of outcomes (`DomainDifferences`).
    groups = DomainDifferences(design, by == a, by == b, level=LEVEL, df=interval_df)
    if design.n * len(members) > LARGE_CELLS and len(members) > LARGE_BLOCK_COLUMNS:
        return pd.concat(
            [
                _differences(design, members[start : start + LARGE_BLOCK_COLUMNS], groups)
                for start in range(0, len(members), LARGE_BLOCK_COLUMNS)
            ],
            ignore_index=True,
        )
    return _differences(design, members, groups)


def _differences(design: PreparedDesign, members: list[Outcome], groups: DomainDifferences) -> pd.DataFrame:
    values = design.data[[o.column for o in members]].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    difference = groups(values)
    spread = groups.spread(values)
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


def _rao_scott_rows(design, outcomes: list[Outcome], by: np.ndarray) -> list[dict[str, float]]:
    """The Rao-Scott test of each outcome (its Likert score where it has one) against the group labels:
    the group column coded once for all of them (`svychisq_many`); {} where a test cannot be made."""
    # One outcome's values at a time, as the tests reach it: the list of every outcome's column was
    # hundreds of megabytes for the all-respondents design at Place-Survey size.
    categories = (
        design.data[outcome.ordinal or outcome.column]
        .astype("Float64")
        .to_numpy(dtype=float, na_value=np.nan)
        for outcome in outcomes
    )
    rows = []
    for test in svychisq_many(design, categories, np.asarray(by, dtype=object)):
        if test is None:
            rows.append({})
            continue
        rows.append(
            {
                "test": "Rao-Scott F",
                "statistic": test.f,
                "df": test.ndf,
                "df2": test.ddf,
                "p": test.p_f,
                "n": test.n_total,
            }
        )
    return rows


def _ordinal_rows(design, outcome: Outcome, predictors: dict[str, tuple[np.ndarray, str]]) -> list[dict]:
    """Proportional-odds regression of a Likert item on the given 0/1 predictors; odds ratios with CIs."""
    # A narrow copy of the design's data: the fit subsets rows, and the wide analysis frame makes that slow.
    # The score as Float64 whatever its stored dtype (`outcome_columns(compact=True)` keeps it as Int8):
    # the fit sees the values and level labels it always saw.
    data = design.data[[*design.design.columns]].assign(
        **{outcome.ordinal: design.data[outcome.ordinal].astype("Float64")},
        **{
            name: pd.Series(values, index=design.data.index).astype("Float64")
            for name, (values, _) in predictors.items()
        },
    )
    # The same rows in the same order: the design's arrays, calibrated weights and variance carry over
    # (preparing the design again factorised the LSP ids for every item: minutes at 1000x).
    prepared = design.with_data(data)
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


def group_labels(data: pd.DataFrame, column: str) -> np.ndarray:
    return data[column].astype("string").to_numpy(dtype=object, na_value=None)


def comparisons(designs: StudyDesigns, outcomes: list[Outcome], config: Config) -> pd.DataFrame:
    """Tier and maturity comparisons within each instrument; coordinators against partners.

    Every comparison gets a difference with its design-based t test; categorical outcomes also get the
    Rao-Scott test, and Likert items a proportional-odds model of tier and maturity together. The tests
    beyond the difference are run on the weighted designs only: the unweighted run is a sensitivity
    analysis of the estimates, not a second set of hypothesis tests.
    """
    parts = []
    compared = list(comparison_outcomes(outcomes))
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
                group: lambda outcome, group=group: group_column(config, group, outcome.element)
                for group in COMPARED_GROUPS
            }
        for group, column_of in columns_by_group.items():
            a, b, level = COMPARISON_LEVELS[group]
            sharing: dict[str, list[Outcome]] = {}
            for outcome in members:
                sharing.setdefault(column_of(outcome), []).append(outcome)
            for column, same_column in sharing.items():
                by = group_labels(data, column)
                described = pd.DataFrame(
                    describe_many(same_column, population, group, level, designs.weighting)
                )
                difference_rows = differences(design, same_column, by, a, b, config.weighting.interval_df)
                parts.append(pd.concat([described, difference_rows], axis=1))
                if designs.weighting != "weighted":
                    continue
                tested = [
                    (outcome, n_a, n_b)
                    for outcome, n_a, n_b in zip(
                        same_column, difference_rows["n_a"], difference_rows["n_b"], strict=True
                    )
                    if outcome.measure != "mean"
                ]
                tests = _rao_scott_rows(design, [outcome for outcome, _, _ in tested], by)
                rao_scott = [
                    _describe(outcome, population, group, level, designs.weighting)
                    | {"n_a": n_a, "n_b": n_b}
                    | test
                    for (outcome, n_a, n_b), test in zip(tested, tests, strict=True)
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
    # Items share their group columns: each column's indicator and membership is worked out once (a
    # pass over every row per item and group at Place-Survey size).
    indicators: dict[tuple[str, str], np.ndarray] = {}
    members_of: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for outcome in members:
        if outcome.ordinal is None or outcome.measure != "agree":
            continue
        predictors = {}
        for group, column_of in columns_by_group.items():
            key = (group, column_of(outcome))
            if key not in indicators:
                labels = data[key[1]].astype("string")
                indicators[key] = (
                    labels.eq(COMPARISON_LEVELS[group][0]).astype("Float64").where(labels.notna()).to_numpy()
                )
            predictors[f"is_{group}"] = (indicators[key], group)
        for row in _ordinal_rows(design, outcome, predictors):
            group = row.pop("group")
            level = COMPARISON_LEVELS[group][2].replace("minus", "against")
            observed = data[outcome.column].notna().to_numpy()
            key = (group, columns_by_group[group](outcome))
            if key not in members_of:
                by = group_labels(data, key[1])
                members_of[key] = (by == COMPARISON_LEVELS[group][0], by == COMPARISON_LEVELS[group][1])
            in_a, in_b = members_of[key]
            sizes = {
                "n_a": int((observed & in_a).sum()),
                "n_b": int((observed & in_b).sum()),
            }
            rows.append(_describe(outcome, population, group, level, weighting) | sizes | row)
    return [pd.DataFrame(rows)]
