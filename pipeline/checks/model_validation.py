"""Method validation of the models stage: primary tests, adjusted effects, power and exaggeration.

``python -m pipeline validate-models [--simulations N] [--seed S]`` (run by ``make
validate-methods`` after the marginal study of ``pipeline.methods_validation``) draws N surveys per
scenario from the project's generator, exactly as that study does (a new finite population from the
frame each time, every member answering, respondents drawn by the nonresponse model), and analyses each
sample as the models stage analyses the bundled survey: ``derive``, ``model_data``, the analytic designs,
``svyglm`` with tier, maturity, deprivation, LAA round and region.

Scenarios (effects on the log-odds scale of every Likert item, pipeline.synthetic_model.PlantedEffects):

- ``planted``: the generator's default effects (tier -0.4, maturity +0.6 per SD of latent maturity);
- ``no_effect``: no tier and no maturity effect;
- ``tier_null_confounded``: no tier effect, the default maturity effect. Maturity is more common in
  single-tier (inner-urban) areas, so a marginal tier difference appears although tier does nothing.

The truth of an adjusted effect is a superpopulation quantity: the regression coefficient the same
model would have in the whole process that makes partnerships. It is estimated by the mean, over the
simulations, of the coefficient of the model fitted to each simulated *population* (every LSP's
coordinator and every board member answering), a census fit. Where a scenario sets an effect to zero
the truth is zero by construction up to the authority-type effects of the generator (under 0.01 on the
log-odds scale between tiers), and the census mean is reported beside it.

Per scenario, instrument and effect: rejection rate of zero by the primary (adjusted, analytic) test and
by the marginal descriptive test; coverage of the 95% CIs of the adjusted effect (of the census mean);
bias; and, for the item-level adjusted effects (log odds ratio of agreeing), the exaggeration ratio
(mean |estimate| / |truth| among the significant ones) at the achieved sample size.

Outputs (analysis/): model_validation.csv (summary), model_validation.md.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.methods_validation import draw_survey
from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv, write_text
from pipeline.core.paths import relative_to_root
from pipeline.stages.derive import derive
from pipeline.stages.models_spec import ADJUSTED_TERMS, EFFECTS, OVERALL, model_data
from pipeline.study.designs import ANALYTIC_DESIGNS, DESIGNS, narrow, population_rows
from pipeline.study.frame import read_frame
from pipeline.study.targets import load_targets
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.survey import SurveyDesign, SurveyDesignError
from pipeline.survey.glm import svyglm
from pipeline.synthetic.model import PlantedEffects
from pipeline.synthetic.simulate import calibrated_parameters

log = logging.getLogger("pipeline.checks.model_validation")

LEVEL = 0.95
ALPHA = 1 - LEVEL
SCENARIOS: dict[str, PlantedEffects] = {
    "planted": PlantedEffects(),
    "no_effect": PlantedEffects(tier=0.0, maturity=0.0),
    "tier_null_confounded": PlantedEffects(tier=0.0),
}
# Scenario index for the seeds: after methods_validation's two scenarios, so no survey is reused.
SEED_OFFSET = 10
TARGET_REJECTION = (0.04, 0.06)
TARGET_COVERAGE = (0.93, 0.97)
CENSUS = SurveyDesign(label="census: every member of the simulated population, unweighted")


def _coefficient(fit: Any, effect: str) -> dict[str, float]:
    name = EFFECTS[effect][1]
    ci = fit.confint(LEVEL)
    return {
        "estimate": float(fit.coefficients[name]),
        "se": float(fit.se[name]),
        "ci_low": float(ci.loc[name, "ci_low"]),
        "ci_high": float(ci.loc[name, "ci_high"]),
        "p": float(fit.p_values()[name]),
    }


def _fit(design, column: str, terms, family: str = "gaussian", df_adjust: bool = False) -> Any | None:
    try:
        return svyglm(design, column, list(terms), family=family, df_adjust=df_adjust)
    except (SurveyDesignError, np.linalg.LinAlgError):
        return None


def simulate_once(
    frame: pd.DataFrame,
    codebook: Codebook,
    config: Config,
    params: dict[str, Any],
    effects: PlantedEffects,
    seed_sequence: np.random.SeedSequence,
    items: tuple[str, ...],
) -> list[dict[str, Any]]:
    """One population and its sample: census and sample fits of every effect (one row each)."""
    rng = np.random.default_rng(seed_sequence)
    survey = draw_survey(frame, codebook, params, effects, rng, config.n_coordinators, config.n_partners)
    population = population_rows(
        model_data(derive(survey.answers, frame, codebook, config)[0], frame, codebook, config)
    )
    sample_data = model_data(derive(survey.sample, frame, codebook, config)[0], frame, codebook, config)
    sample = population_rows(sample_data)
    outcomes = [(OVERALL, "gaussian", OVERALL)] + [
        (item, "quasibinomial", f"{item}__agree") for item in items
    ]
    rows = []
    for instrument in INSTRUMENTS:
        columns = [c for _, _, c in outcomes] + list(ADJUSTED_TERMS)
        census_design = narrow(CENSUS, population[instrument], columns)
        analytic = narrow(ANALYTIC_DESIGNS[instrument], sample[instrument], columns)
        descriptive = narrow(DESIGNS[instrument], sample[instrument], columns)
        for outcome, family, column in outcomes:
            census = _fit(census_design, column, ADJUSTED_TERMS, family)
            # As the models stage fits it (config models.variance_df_adjustment).
            adjusted = _fit(analytic, column, ADJUSTED_TERMS, family, config.model_df_adjustment)
            if census is None or adjusted is None:
                continue
            for effect in EFFECTS:
                row = {
                    "instrument": instrument,
                    "outcome": outcome,
                    "family": family,
                    "effect": effect,
                    "census": float(census.coefficients[EFFECTS[effect][1]]),
                    **_coefficient(adjusted, effect),
                }
                if outcome == OVERALL:
                    marginal = _fit(descriptive, column, (effect,), family)
                    if marginal is not None:
                        m = _coefficient(marginal, effect)
                        row |= {"marginal_estimate": m["estimate"], "marginal_p": m["p"]}
                rows.append(row)
    return rows


def run_validation(
    frame: pd.DataFrame, codebook: Codebook, config: Config, n_simulations: int, seed: int
) -> pd.DataFrame:
    """Every effect of every simulation of every scenario, with its census value."""
    if n_simulations < 2:
        raise PipelineError(f"model validation needs at least 2 simulations, got {n_simulations}")
    targets = load_targets(config.published_targets)
    items = tuple(v.name for v in codebook.likert_items("coordinator") if "partner" in v.instruments)
    parts = []
    started = time.perf_counter()
    for index, (scenario, effects) in enumerate(SCENARIOS.items()):
        params = calibrated_parameters(frame, codebook, targets, effects)
        for simulation in range(n_simulations):
            sequence = np.random.SeedSequence(seed, spawn_key=(SEED_OFFSET + index, simulation))
            rows = simulate_once(frame, codebook, config, params, effects, sequence, items)
            parts.append(pd.DataFrame(rows).assign(scenario=scenario, simulation=simulation))
            if (simulation + 1) % 25 == 0 or simulation + 1 == n_simulations:
                log.info(
                    "%s: %d/%d (%.0f s)",
                    scenario,
                    simulation + 1,
                    n_simulations,
                    time.perf_counter() - started,
                )
    return pd.concat(parts, ignore_index=True)


def _se_ratio(group: pd.DataFrame, truth: pd.Series) -> float:
    """Mean estimated SE over the empirical SD of the errors (median over items); NaN without spread."""
    errors = group["estimate"] - truth
    sd = errors.groupby(group["outcome"]).std(ddof=1)
    se = group.groupby("outcome")["se"].mean()
    ratio = (se / sd.where(sd > 0)).dropna()
    return float(ratio.median()) if len(ratio) else float("nan")


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Rejection, coverage, bias and exaggeration per scenario, instrument, effect and outcome kind."""
    rows = []
    zero = {name: {"tier": e.tier == 0, "maturity": e.maturity == 0} for name, e in SCENARIOS.items()}
    for (scenario, instrument, effect, family), group in results.groupby(
        ["scenario", "instrument", "effect", "family"], sort=False
    ):
        # The superpopulation truth: the mean census coefficient, per outcome.
        truth = group.groupby("outcome")["census"].transform("mean")
        covered = (group["ci_low"] <= truth) & (truth <= group["ci_high"])
        significant = group["p"] < ALPHA
        row = {
            "scenario": scenario,
            "instrument": instrument,
            "effect": effect,
            "outcome": "overall 7S score (primary)" if family == "gaussian" else "Likert items, % agreeing",
            "simulations": int(group["simulation"].nunique()),
            "fits": len(group),
            "effect_is_zero": bool(zero[scenario][effect]),
            "truth_mean_census": float(truth.mean()),
            "rejection_adjusted": float(significant.mean()),
            "coverage_adjusted": float(covered.mean()),
            "bias_adjusted": float((group["estimate"] - truth).mean()),
            "se_ratio": _se_ratio(group, truth),
        }
        if family == "gaussian":
            row["rejection_marginal_descriptive"] = float((group["marginal_p"] < ALPHA).mean())
        if not zero[scenario][effect]:
            sig = group[significant]
            ratio = (sig["estimate"].abs() / truth[significant].abs()).mean() if len(sig) else np.nan
            row["exaggeration_ratio"] = float(ratio)
            row["power"] = float(significant.mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def render_markdown(summary: pd.DataFrame, n_simulations: int, seed: int) -> str:
    """The readable summary, with a verdict against the targets."""
    columns = [c for c in summary.columns]
    lines = [
        "# Model validation (primary tests and adjusted effects)",
        "",
        f"{n_simulations} simulated surveys per scenario, seed {seed}; `make validate-methods`.",
        "Truth = the mean census coefficient of the same model over the simulated populations (the",
        "superpopulation value).",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in summary.itertuples(index=False)]
    lines += ["", "## Verdict", ""]
    for row in summary.itertuples(index=False):
        if row.outcome.startswith("overall") and row.effect_is_zero:
            ok = TARGET_REJECTION[0] <= row.rejection_adjusted <= TARGET_REJECTION[1]
            lines.append(
                f"- {row.scenario}, {row.instrument}, {row.effect}: primary test rejects zero "
                f"{row.rejection_adjusted:.1%} (target 4-6%): {'PASS' if ok else 'MISS'}; the marginal "
                f"descriptive test {row.rejection_marginal_descriptive:.1%}."
            )
        if row.outcome.startswith("overall"):
            ok = TARGET_COVERAGE[0] <= row.coverage_adjusted <= TARGET_COVERAGE[1]
            lines.append(
                f"- {row.scenario}, {row.instrument}, {row.effect}: coverage of the adjusted effect "
                f"{row.coverage_adjusted:.1%} (target 93-97%): {'PASS' if ok else 'MISS'}."
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--simulations", type=int, default=200, help="simulated surveys per scenario (default: 200)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="the simulations' seed (default: seeds.methods_validation)"
    )
    path_option(parser, "--out", "{analysis_dir}/model_validation.csv", "where to write the summary")
    arguments, config = parse_stage_arguments(parser, argv)
    seed = config.methods_validation_seed if arguments.seed is None else arguments.seed
    codebook = load_codebook(config.codebook)
    results = run_validation(read_frame(config.frame), codebook, config, arguments.simulations, seed)
    summary = summarise(results)
    write_csv(summary.round(6).assign(seed=seed), arguments.out)
    write_csv(results.round(8), arguments.out.with_suffix(".fits.csv"))
    markdown = render_markdown(summary, arguments.simulations, seed)
    write_text(arguments.out.with_suffix(".md"), markdown)
    print(markdown)
    log.info("wrote %s", relative_to_root(arguments.out))


if __name__ == "__main__":
    run_stage("model_validation", main)
