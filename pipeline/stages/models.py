"""Models stage: the two headline findings as analytic inference, one pre-specified primary test each.

The headlines (Audit Commission, 2009) are that more mature LSPs are further ahead and that multi-tier
areas face greater challenges than single-tier ones. Tier and maturity overlap (single-tier LSPs are more
often "more mature"), and both go with deprivation, LAA round and region, so each marginal difference
mixes the two. This stage fits design-based regressions (pipeline/survey: svyglm, svyolr) of every 7S
outcome on tier and maturity together with those frame covariates, under the *analytic* designs (no
finite population correction: the claims are about partnerships in general, pipeline/study_design.py
``INFERENCE``), and tests the tier x maturity interaction.

Outputs (analysis/tables/):

- ``primary_tests.csv``: the two pre-specified primary tests (config ``models.primary``), each with its
  estimand, adjusted estimate, CI, test, p and n, beside the marginal (descriptive, fpc) difference;
- ``models.csv``: every fitted effect: outcome x model (marginal, adjusted, interaction) x effect, on the
  7S overall score and scale scores (gaussian), % agreeing with each Likert item (quasibinomial, log
  odds ratio) and each item's five categories (proportional odds); item-level and scale-level tests
  are secondary, with Benjamini-Hochberg FDR within each family;
- ``model_tests.csv``: Wald tests of the tier x maturity interaction and joint tests of an effect
  across the seven scales;
- ``partner_imputation.csv``: partner results with and without multiple imputation of the LSP's
  maturity (unknown where its coordinator did not answer), weighting partners and weighting LSPs;
- analysis/models_manifest.json: what was estimated, for which population, with which designs.

This module is the stage's orchestration and command line. The model itself (outcomes, factors, terms) is
`pipeline.stages.models_spec`; the fits and the models and model_tests tables `models_fit`; the primary
tests and their weighting sensitivity `models_primary`; the partners' multiple imputation
`models_imputation`. Preparing a weighted design over a few columns (`narrow`) and the primary weighting
are the study layer's (`pipeline.study.designs`, `pipeline.study.weighting`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.io import run_stage, sha256_file, write_csv, write_json
from pipeline.core.memory import release_free_memory
from pipeline.core.paths import relative_to_root
from pipeline.stages.models_fit import (
    COLUMNS,
    STATISTICS,
    add_secondary_fdr,
    fit_instrument,
    group_sizes,
    joint_test,
    marginal_differences,
    model_design,
)
from pipeline.stages.models_imputation import partner_imputation
from pipeline.stages.models_primary import ESTIMANDS, primary_table, primary_tests_by_weighting
from pipeline.stages.models_spec import (
    ADJUSTED_TERMS,
    COVARIATES,
    EFFECTS,
    MODEL_TERMS,
    MODELLED_TYPES,
    OVERALL,
    model_data,
    model_outcomes,
    unmodelled_answers,
)
from pipeline.study.designs import (
    ANALYTIC_DESIGNS,
    CALIBRATION_COLUMNS,
    DESIGNS,
    INFERENCE,
    STRATUM,
    UNWEIGHTED_DESIGNS,
    narrow,
)
from pipeline.study.disclosure import suppress
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import models_maturity_definition
from pipeline.study.respondents import read_analysis_base
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.study.weighting import FRAME_SOURCE_COLUMNS, primary_weighting
from pipeline.survey import PreparedDesign

log = logging.getLogger("pipeline.stages.models")


def models(base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config) -> dict[str, Any]:
    """Every table of the models stage, suppressed and ready to write, and the manifest record."""
    # Only the columns a fit, a design or the imputation reads, and each instrument's rows once: the
    # analysis base, every outcome column and a population for all respondents, held beside each
    # other, were most of the stage's memory at Place-Survey size.
    # Of the frame the stage reads the design's strata and the weightings' frame variables alone.
    frame = frame[list(FRAME_SOURCE_COLUMNS)]
    populations = model_populations(model_data(base, frame, codebook, config, MODELLED_TYPES), codebook)
    del base
    weigh = primary_weighting(frame, config)
    effect_rows, test_rows, descriptive = [], [], {}
    # Each instrument's analytic and descriptive designs, prepared and weighted once: every fit below,
    # the primary-weighting rows of the sensitivity table and the partners' imputation are domains of them.
    prepared_designs: dict[tuple[str, str], PreparedDesign] = {}
    for instrument in INSTRUMENTS:
        # Each step below lays its temporaries on what the last one freed (`release_free_memory`).
        release_free_memory()
        rows = populations[instrument]
        outcomes = model_outcomes(codebook, instrument)
        prepared = model_design(ANALYTIC_DESIGNS[instrument], rows, outcomes, weigh, instrument)
        prepared_designs[("analytic", instrument)] = prepared
        # The fits read the items from the design's copy; what reads the population from here on (the
        # descriptive design, the imputation, the sensitivity table) needs neither the items nor their
        # codes: one copy of them, not two, at 1,000 times the bundled survey (hundreds of MB).
        rows = populations[instrument] = rows[model_population_columns(rows, codebook, ("overall", "scale"))]
        fitted, tests, gaussian = fit_instrument(
            ANALYTIC_DESIGNS[instrument],
            rows,
            outcomes,
            instrument,
            "analytic",
            config.model_df_adjustment,
            weigh,
            prepared,
        )
        effect_rows += fitted
        test_rows += tests
        # What reads this design from here on (the joint tests, the sensitivity's primary rows, the
        # imputation) needs the overall and scale scores, the effects and covariates: the same design
        # over those columns alone lets the items' columns, and each item's coded columns kept beside
        # the design for its fits, go (a few hundred MB at 1,000 times the bundled survey).
        prepared = prepared.with_data(prepared.data[_later_columns(prepared, outcomes)])
        prepared_designs[("analytic", instrument)] = prepared
        scales = {k: v for k, v in gaussian["adjusted"].items() if k.startswith("scale_")}
        for effect in EFFECTS:
            if len(scales) == len(codebook.elements):
                test_rows.append(
                    {
                        "inference": "analytic",
                        "instrument": instrument,
                        "outcome": "joint_7s",
                        "outcome_label": "the seven 7S scale scores together",
                        "outcome_kind": "scale",
                        "family": "gaussian",
                        "model": "adjusted",
                        "effect": f"{effect}, joint across the seven scales",
                        "contrast": EFFECTS[effect][2],
                        "test": "Wald F (design df), stacked influence",
                        "n_smaller_group": min(
                            min(group_sizes(prepared, o, ADJUSTED_TERMS, effect))
                            for o in outcomes
                            if o.kind == "scale"
                        ),
                    }
                    | joint_test(prepared, scales, effect)
                )
        # The fits on the full design (their influence refers to it) are done with.
        del gaussian, scales
        # The marginal difference of the overall score under the descriptive design (fpc), beside.
        release_free_memory()
        marginal_design = narrow(
            DESIGNS[instrument], rows, [OVERALL, "tier", "maturity", *COVARIATES], weigh, instrument
        )
        prepared_designs[("descriptive", instrument)] = marginal_design
        descriptive[instrument] = marginal_differences(
            DESIGNS[instrument], rows, weigh, instrument, marginal_design
        )
    # The designs live on in `prepared_designs` alone, which the sensitivity table empties as it goes.
    del prepared, marginal_design
    table = pd.DataFrame(effect_rows)
    primary_keys = {(t.instrument, t.headline) for t in config.primary_tests if t.outcome == OVERALL}
    is_primary = [
        (i, e) in primary_keys and o == OVERALL and m == "adjusted"
        for i, e, o, m in zip(
            table["instrument"], table["effect"], table["outcome"], table["model"], strict=True
        )
    ]
    table = table.assign(
        role=np.where(
            is_primary, "primary", np.where(table["model"] == "adjusted", "secondary", "supporting")
        ),
        n_smaller_group=table[["n_a", "n_b"]].min(axis=1),
    )
    # Marginal and interaction-model effects support the adjusted ones; FDR runs over the adjusted
    # secondary tests (items and scales), each family separately.
    table = add_secondary_fdr(table)
    table = table.assign(favourable_estimate=table["estimate"] * table["favourable_sign"])
    tests = pd.DataFrame(test_rows)
    marker = "SYNTHETIC" if config.synthetic_data else "survey"
    primary = primary_table(config.primary_tests, table, tests, descriptive)
    release_free_memory()
    partner, imputation_record = partner_imputation(
        populations, codebook, config, weigh, prepared_designs[("analytic", "partner")]
    )
    release_free_memory()
    tables = {
        "models": _finish(table, config, COLUMNS, STATISTICS),
        "model_tests": _finish(tests, config, None, ["statistic", "p"]),
        "primary_tests": _finish(
            primary,
            config,
            None,
            [
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "statistic",
                "p",
                "marginal_estimate",
                "marginal_ci_low",
                "marginal_ci_high",
                "marginal_p",
            ],
        ),
        "partner_imputation": _finish(
            partner, config, None, ["estimate", "se", "ci_low", "ci_high", "statistic", "p"]
        ),
        "primary_tests_by_weighting": _finish(
            primary_tests_by_weighting(populations, frame, config, prepared_designs),
            config,
            None,
            ["estimate", "se", "ci_low", "ci_high", "p", "change_from_type_only"],
        ),
    }
    record = {
        "synthetic_data": config.synthetic_data,
        "data": marker,
        "inference": {k: vars(v) for k, v in INFERENCE.items()},
        "designs": {
            "analytic": {k: d.to_dict() for k, d in ANALYTIC_DESIGNS.items()},
            "descriptive_marginal": {k: DESIGNS[k].to_dict() for k in INSTRUMENTS},
        },
        "weighting": {
            "primary": config.weighting.primary if config.weighting else "type_only",
            "applies_to": "every model: adjusted, interaction and marginal effects, the descriptive marginal "
            "differences, the partner imputation model and its analyses (R: svyglm/svyolr on the "
            "calibrate()d design; variance from the calibration residuals)",
            "sensitivity": "primary_tests_by_weighting.csv",
        },
        "primary_tests": [
            vars(t) | {"estimand": ESTIMANDS[(t.headline, t.outcome)].format(instrument=t.instrument)}
            for t in config.primary_tests
        ],
        "maturity_definition": models_maturity_definition(config),
        "terms": {"marginal": "one effect alone", **{k: list(v) for k, v in MODEL_TERMS.items()}},
        "covariates": {
            "deprivation": "IMD 2007 mean LSOA score of the area",
            "laa_first_round": "LAA agreed in the first round",
            "region": "Government Office region",
        },
        "secondary_fdr": "Benjamini-Hochberg within instrument x effect x model x outcome kind x family",
        "partner_imputation": imputation_record,
        "stratum": STRATUM,
    }
    return {"tables": tables, "record": record}


def _later_columns(prepared: PreparedDesign, outcomes: list) -> list[str]:
    wanted = [*prepared.design.columns, *CALIBRATION_COLUMNS, "tier", "maturity", *COVARIATES]
    wanted += [o.column for o in outcomes if o.kind in ("overall", "scale")]
    return [c for c in dict.fromkeys(wanted) if c in prepared.data.columns]


def model_population_columns(
    data: pd.DataFrame, codebook: Codebook, kinds: tuple[str, ...] | None = None
) -> list[str]:
    """The columns of `data` the stage reads: every design's, the calibration's, the effects and
    covariates, and the modelled outcomes (of ``kinds`` only: ``("overall", "scale")`` once the items
    are fitted)."""
    keep: list[str] = []
    for design in (*ANALYTIC_DESIGNS.values(), *DESIGNS.values(), *UNWEIGHTED_DESIGNS.values()):
        keep += design.columns
    keep += [*CALIBRATION_COLUMNS, "tier", "maturity", *COVARIATES]
    for instrument in INSTRUMENTS:
        keep += [o.column for o in model_outcomes(codebook, instrument) if kinds is None or o.kind in kinds]
    return [c for c in dict.fromkeys(keep) if c in data.columns]


def model_populations(data: pd.DataFrame, codebook: Codebook) -> dict[str, pd.DataFrame]:
    """Each instrument's rows of `data` with the columns the stage reads: every design's, the calibration's,
    each modelled outcome's, the effects and covariates and the imputation's (`population_rows`'
    coordinators and partners, narrowed)."""
    keep = model_population_columns(data, codebook)
    types = data["respondent_type"]
    return {
        instrument: data.loc[types == instrument, keep].reset_index(drop=True) for instrument in INSTRUMENTS
    }


def _finish(
    table: pd.DataFrame, config: Config, columns: list[str] | None, statistics: list[str]
) -> pd.DataFrame:
    table = table.assign(data="SYNTHETIC" if config.synthetic_data else "survey")
    if columns is not None:
        for column in columns:
            if column not in table:
                table[column] = np.nan
        table = table[columns + [c for c in table.columns if c not in columns]]
    else:
        table = table[["data", *[c for c in table.columns if c != "data"]]]
    # A model's effect rests on both groups compared: the smaller decides whether it is published.
    return suppress(table, config.min_cell, statistics, [], base_column="n_smaller_group")


TABLE_NAMES = ("primary_tests", "models", "model_tests", "partner_imputation", "primary_tests_by_weighting")


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out-dir", "{analysis_dir}/tables", "where to write the tables")
    arguments, config = parse_stage_arguments(parser, argv)
    codebook = load_codebook(config.codebook)
    # The base is not held here: `models` lets it go once its columns are built. The answers no model
    # reads stay on disk (about 0.1 GB of the stage's first peak at 1,000 times the bundled survey), and
    # so do the frame's columns `models` does not keep.
    result = models(
        read_analysis_base(arguments.base, unread=unmodelled_answers(codebook)),
        read_frame(config.frame, FRAME_SOURCE_COLUMNS),
        codebook,
        config,
    )
    for name in TABLE_NAMES:
        table = result["tables"][name]
        path = arguments.out_dir / f"{name}.csv"
        write_csv(table.round(10), path)
        log.info("wrote %s: %d rows", relative_to_root(path), len(table))
    write_json(
        config.analysis_dir / "models_manifest.json",
        result["record"] | {"inputs": {relative_to_root(arguments.base): sha256_file(arguments.base)}},
    )


if __name__ == "__main__":
    run_stage("models", main)
