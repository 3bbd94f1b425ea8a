"""How far nonresponse that follows maturity moves the study's own findings: the sizes of the report's
sensitivity statement.

Part of ``python -m pipeline validate-weighting`` (``make validate-methods``). The weighting validation's
``maturity_<g>`` scenarios run on a small stand-in model (four yes/no items); the statement is about
the study's real findings, so here the study's own generator draws the surveys
(`pipeline.checks.methods_validation.draw_survey`: a finite population on the frame, every member
answering, respondents drawn by the unit-nonresponse model) with a coordinator's response odds
multiplied by ``exp(g)`` per SD of the LSP's latent maturity (`PlantedEffects.response_maturity`), which
no frame variable captures. Each sample is analysed as the pipeline analyses the bundled survey, on
the configured primary weighting:

- every Likert item's tier and maturity difference in the share agreeing (the numbers of
  comparisons.csv: ``batch_differences`` on the calibrated weighted designs), against the finite
  population's realised difference;
- each pre-specified primary test on the overall 7S score (the models stage's adjusted ``svyglm`` on
  the analytic design calibrated with the primary weighting), against the superpopulation coefficient
  (the mean over simulations of the census fit, as `pipeline.checks.model_validation` defines it).

Outputs: docs/methods_validation_informative.csv (committed; the report's sensitivity statement reads
its sizes from it) and the per-simulation rows in analysis/informative_nonresponse.items.csv.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.methods_validation import (
    analysis_data,
    draw_survey,
    population_differences,
    sample_differences,
    score,
)
from pipeline.core.codebook import Codebook
from pipeline.core.config import Config
from pipeline.stages.derive import derive
from pipeline.stages.models_spec import ADJUSTED_TERMS, EFFECTS, OVERALL, model_data
from pipeline.study.designs import ANALYTIC_DESIGNS, narrow, population_rows, prepare_designs
from pipeline.study.weighting import calibrate_population, calibrator, frame_variables
from pipeline.survey import SurveyDesign, SurveyDesignError
from pipeline.survey.glm import svyglm
from pipeline.synthetic.model import PlantedEffects, load_targets
from pipeline.synthetic.simulate import calibrated_parameters

log = logging.getLogger("pipeline.checks.informative_nonresponse")

LEVEL = 0.95
# Response log-odds per SD of latent maturity: the weighting validation's maturity scenarios.
STRENGTHS = (1.0, 2.0)
# Seeds: scenario indexes after the weighting validation's own scenarios, so no survey is reused.
SEED_OFFSET = 20
CENSUS = SurveyDesign(label="census: every member of the simulated population, unweighted")
ITEM_DIFFERENCES = "item differences"
PRIMARY_TEST = "primary test"


def _primary_fits(
    population: dict[str, pd.DataFrame],
    sample: dict[str, pd.DataFrame],
    frame_vars: pd.DataFrame,
    config: Config,
) -> list[dict[str, Any]]:
    """Census and sample (primary-weighted, analytic) adjusted effects of each primary test."""
    rows = []
    spec = config.weighting
    for test in config.primary_tests:
        if test.outcome != OVERALL:
            continue  # a joint Wald F has no single effect to shrink; reported as not simulated
        columns = [OVERALL, *ADJUSTED_TERMS, "respondent_type", "lsp_id"]
        census = narrow(CENSUS, population[test.instrument], columns)
        analytic = narrow(ANALYTIC_DESIGNS[test.instrument], sample[test.instrument], columns)
        analytic, _ = calibrate_population(analytic, test.instrument, frame_vars, spec, spec.primary)
        try:
            census_fit = svyglm(census, OVERALL, list(ADJUSTED_TERMS))
            fit = svyglm(analytic, OVERALL, list(ADJUSTED_TERMS), df_adjust=config.model_df_adjustment)
        except (SurveyDesignError, np.linalg.LinAlgError) as error:
            log.warning("%s %s: not fitted (%s)", test.instrument, test.headline, error)
            continue
        name = EFFECTS[test.headline][1]
        ci = fit.confint(LEVEL)
        rows.append(
            {
                "instrument": test.instrument,
                "comparison": test.headline,
                "item": OVERALL,
                "census": float(census_fit.coefficients[name]),
                "estimate": float(fit.coefficients[name]),
                "se": float(fit.se[name]),
                "ci_low": float(ci.loc[name, "ci_low"]),
                "ci_high": float(ci.loc[name, "ci_high"]),
            }
        )
    return rows


def simulate_once(
    frame: pd.DataFrame,
    codebook: Codebook,
    config: Config,
    params: dict[str, Any],
    effects: PlantedEffects,
    seed_sequence: np.random.SeedSequence,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One population and its sample: scored item differences, and the primary tests' fits."""
    rng = np.random.default_rng(seed_sequence)
    survey = draw_survey(frame, codebook, params, effects, rng, config.n_coordinators, config.n_partners)
    population_base, _ = derive(survey.answers, frame, codebook, config)
    sample_base, _ = derive(survey.sample, frame, codebook, config)
    truth = population_differences(population_base, codebook, config)
    data, agree_columns = analysis_data(sample_base, frame, codebook)
    designs = prepare_designs(data, "weighted", calibrate=calibrator(frame, config.weighting))
    weighted = {instrument: designs[instrument] for instrument in ("coordinator", "partner")}
    items = score(truth, sample_differences(weighted, agree_columns, codebook, config))
    population = population_rows(model_data(population_base, frame, codebook, config))
    sample = population_rows(model_data(sample_base, frame, codebook, config))
    primary = pd.DataFrame(_primary_fits(population, sample, frame_variables(frame), config))
    return items, primary


def run(
    frame: pd.DataFrame, codebook: Codebook, config: Config, n_simulations: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every simulation of every strength: item rows and primary-test rows."""
    targets = load_targets(config.published_targets)
    items, primary = [], []
    for index, strength in enumerate(STRENGTHS):
        started = time.perf_counter()
        effects = PlantedEffects(response_maturity=strength)
        params = calibrated_parameters(frame, codebook, targets, effects)
        for simulation in range(n_simulations):
            sequence = np.random.SeedSequence(seed, spawn_key=(SEED_OFFSET + index, simulation))
            scored, fits = simulate_once(frame, codebook, config, params, effects, sequence)
            items.append(scored.assign(strength=strength, simulation=simulation))
            primary.append(fits.assign(strength=strength, simulation=simulation))
        log.info(
            "maturity-driven response %.1f: %d simulations in %.0f s",
            strength,
            n_simulations,
            time.perf_counter() - started,
        )
    return pd.concat(items, ignore_index=True), pd.concat(primary, ignore_index=True)


def summarise(items: pd.DataFrame, primary: pd.DataFrame, weighting: str, margins: str) -> pd.DataFrame:
    """Per strength, instrument and comparison: how far the estimates move towards zero.

    Item differences: each item's shrinkage is the mean over simulations of its error towards zero
    (error times minus the sign of the item's mean truth), in percentage points; the row gives the
    mean over items and the largest item's, the mean signed error, and the coverage of the 95% CIs.
    Primary tests: the relative shrinkage ``1 - mean estimate / truth`` (truth: the mean census
    coefficient), the coverage of the truth, and the SE ratio. Monte Carlo SEs treat simulations as
    the independent units.
    """
    rows = []
    common = {"weighting": weighting, "margins": margins}
    for (strength, instrument, comparison), group in items.groupby(
        ["strength", "instrument", "comparison"], sort=True
    ):
        group = group[group["estimate"].notna() & group["truth"].notna()]
        direction = -np.sign(group.groupby("item")["truth"].transform("mean"))
        shrink = group["error"] * direction
        per_item = shrink.groupby(group["item"]).mean()
        per_simulation = shrink.groupby(group["simulation"]).mean()
        n = int(group["simulation"].nunique())
        rows.append(
            {
                "response_log_odds_per_sd": strength,
                "response_odds_per_sd": round(float(np.exp(strength)), 2),
                **common,
                "instrument": instrument,
                "comparison": f"{comparison} difference",
                "quantity": ITEM_DIFFERENCES,
                "simulations": n,
                "items": int(per_item.size),
                "mean_shrinkage_pp": 100 * float(per_item.mean()),
                "mean_shrinkage_mc_se_pp": 100 * float(per_simulation.std() / np.sqrt(n)),
                "largest_item_shrinkage_pp": 100 * float(per_item.max()),
                "mean_bias_pp": 100 * float(group["error"].mean()),
                "relative_shrinkage": np.nan,
                "relative_shrinkage_mc_se": np.nan,
                "coverage": float(group["covered"].mean()),
                "se_ratio": float(
                    (group.groupby("item")["se"].mean() / group.groupby("item")["error"].std()).median()
                ),
            }
        )
    for (strength, instrument, comparison), group in primary.groupby(
        ["strength", "instrument", "comparison"], sort=True
    ):
        truth = float(group["census"].mean())
        n = len(group)
        covered = (group["ci_low"] <= truth) & (truth <= group["ci_high"])
        rows.append(
            {
                "response_log_odds_per_sd": strength,
                "response_odds_per_sd": round(float(np.exp(strength)), 2),
                **common,
                "instrument": instrument,
                "comparison": f"{comparison} difference",
                "quantity": PRIMARY_TEST,
                "simulations": n,
                "items": 1,
                "mean_shrinkage_pp": np.nan,
                "mean_shrinkage_mc_se_pp": np.nan,
                "largest_item_shrinkage_pp": np.nan,
                "mean_bias_pp": np.nan,
                "relative_shrinkage": 1 - float(group["estimate"].mean()) / truth,
                "relative_shrinkage_mc_se": float(group["estimate"].std() / np.sqrt(n) / abs(truth)),
                "coverage": float(covered.mean()),
                "se_ratio": float(group["se"].mean() / (group["estimate"] - truth).std()),
            }
        )
    return pd.DataFrame(rows).round(4)
