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

import logging

import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json, write_text
from pipeline.core.memory import release_free_memory
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
from pipeline.study.estimation import (
    DEFF_KIND,
    comparisons,
    describe_many,
    differences,
    estimates,
    group_labels,
)
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import (
    BINARY_MEASURES,
    COMPARED_GROUPS,
    COMPARISON_LEVELS,
    Outcome,
    comparison_outcomes,
    group_column,
    maturity_group_column,
    outcome_columns,
)
from pipeline.study.published import load_targets, published_vs_reproduced
from pipeline.study.respondents import read_analysis_base
from pipeline.study.schemas import check_output
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.study.weighting import FRAME_SOURCE_COLUMNS, calibrator, forget_calibration_inputs
from pipeline.survey import minimum_detectable_difference, p_adjust_bh

log = logging.getLogger("pipeline.stages.analyse")

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
    proportions = [o for o in comparison_outcomes(outcomes) if o.measure != "mean"]
    a, b, level = COMPARISON_LEVELS["maturity"]
    for instrument in INSTRUMENTS:
        design = designs[instrument]
        members = [o for o in proportions if instrument in o.instruments]
        for definition in config.maturity_definitions:
            sharing: dict[str, list[Outcome]] = {}
            for outcome in members:
                column = maturity_group_column(config, outcome.element, definition)
                sharing.setdefault(column, []).append(outcome)
            for column, same_column in sharing.items():
                by = group_labels(design.data, column)
                described = pd.DataFrame(
                    describe_many(same_column, instrument, "maturity", level, designs.weighting)
                ).assign(definition=definition, primary=definition == config.maturity_primary)
                parts.append(pd.concat([described, differences(design, same_column, by, a, b)], axis=1))
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
        estimates_table["measure"].isin(BINARY_MEASURES) & (estimates_table["group"] == "all")
    ]
    for instrument in INSTRUMENTS:
        data = designs[instrument].data
        deff = float(proportions.loc[proportions["instrument"] == instrument, "deff"].median())
        for group in COMPARED_GROUPS:
            # One split per group: an outcome outside the scales has exactly one maturity column.
            column = group_column(config, group, None)
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
    data, outcomes = outcome_columns(base, codebook, compact=True)
    # Each step's text operations leave Arrow's pages behind (pipeline.core.memory): given back between
    # steps, the stage's peak at Place-Survey size is its own working arrays, not theirs.
    release_free_memory(heap=False)
    tables = {}
    estimate_tables, comparison_tables = [], []
    populations = population_rows(data)
    for weighting in ("weighted", "unweighted"):
        weigh = calibrator(frame, config.weighting) if config.weighting and weighting == "weighted" else None
        designs = prepare_designs(data, weighting, populations, weigh)
        # The weighted designs are the stage's only calibrations: their inputs need not stay.
        del weigh
        forget_calibration_inputs()
        release_free_memory(heap=False)
        estimate_tables.append(estimates(designs, outcomes, config))
        release_free_memory(heap=False)
        comparison_tables.append(comparisons(designs, outcomes, config))
        release_free_memory(heap=False)
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
    codebook = load_codebook(config.codebook)
    # No table reads the free-text answers, and the stage reads the frame only to weight: at Place-Survey
    # size the comments and the frame's other columns were 300 MB held through the whole stage.
    free_text = [variable.name for variable in codebook.variables if variable.type == "free_text"]
    base = read_analysis_base(arguments.base, unread=free_text)
    log.info("read %s: %d rows", relative_to_root(arguments.base), len(base))
    frame = read_frame(config.frame, FRAME_SOURCE_COLUMNS)
    tables = analyse(base, frame, codebook, config)
    for name, table in tables.items():
        check_output(name, table, codebook)
        path = arguments.out_dir / f"{name}.csv"
        write_csv(table.round(10), path)
        log.info("wrote %s: %d rows", relative_to_root(path), len(table))
    # Beside the tables it describes (the report reads it from there), wherever --out-dir puts them.
    write_json(
        arguments.out_dir.parent / "manifest.json",
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
    write_text(arguments.out_dir / "summary.md", render_summary(tables, codebook, config, len(frame)))


def render_summary(tables: dict[str, pd.DataFrame], codebook: Codebook, config: Config, n_lsps: int) -> str:
    """A readable rendering of the headline tables (Markdown); `n_lsps` is the frame's size."""
    lines = []
    if config.synthetic_data:
        lines += [
            "> **SYNTHETIC DATA.** These numbers come from the project's synthetic survey, not from the",
            "> Audit Commission's 2008 survey.",
            "",
        ]
    # Only the columns the summary prints: filtering the whole wide table, item by item, cost seconds.
    printed = ["instrument", "item", "item_label", "element", "measure", "group", "level", "weighting"]
    estimates_table = tables["estimates"][[*printed, "n", "estimate", "ci_low", "ci_high"]]
    weighted = estimates_table[(estimates_table["weighting"] == "weighted")]
    lines += [
        "# Headline estimates",
        "",
        f"Per cent agreeing (95% CI), weighted; coordinators describe the {n_lsps} LSPs, "
        "partners describe board",
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
