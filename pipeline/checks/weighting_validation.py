"""Method validation of the weightings: what calibration to the frame repairs, and what it cannot.

``python -m pipeline validate-weighting [--simulations N]`` (run by ``make validate-methods`` after the
method-validation study; not in ``make all`` or ``make test``). Each simulation draws a finite
population on the real frame (388 LSPs, their authority type, region, LAA round and IMD score), gives
every LSP a latent maturity, a reported maturity flag and a coordinator's answers to four yes/no items,
and gives each LSP a board of 15 to 60 partners with their own answers (an LSP effect shared by its
partners). Response is then drawn LSP by LSP (coordinators) and board by board (partners: an answering
board sends one to a few of its members, as in the study), and the sample
is weighted by each weighting of ``pipeline.study.weighting`` (type-only, raking, linear) with the
configured margins, and estimated with the engine exactly as the analysis does (`svymean`,
`domain_difference`, calibrated variance). The estimands are the finite population's own realised
values: the share answering yes (levels), multi- minus single-tier and more- minus less-mature
differences, for coordinators and for partners.

Scenarios (response model; the answers always depend on tier, maturity and deprivation):

- ``type_only``: response depends on authority type alone (the model the type-only weights assume);
- ``frame_dependent``: response also depends on deprivation, with a slope that differs by authority
  type (positive in some types, negative in others), on region and on LAA round, and the answers depend
  on deprivation: the case type-only weights cannot repair and calibration to type x deprivation band
  should;
- ``frame_dependent_banded``: the same, with response depending on the deprivation band (the cells the
  margins calibrate) instead of the score: what calibration can repair in full;
- ``gradient_by_type``: as ``frame_dependent``, and the answers' deprivation slope differs by type
  too (``ANSWER_GRADIENT``), so response and answers vary continuously inside every type x band cell:
  what the band margins miss and the score's total within each type should repair;
- ``gradient_by_type_most_deprived_share``: the same gradients driven by the share of the authority's
  LSOAs in England's most deprived 10%, which no margin holds;
- ``maturity_<g>``: response depends on latent maturity (odds x exp(g) per SD), which no frame variable
  captures: the residual bias is reported, not hidden, and gives the sensitivity statement.

Weightings (`weightings`): type-only; raking to the bands (type x band, region, LAA round) with the
uniform df factor; raking to the bands and the IMD score's total within each type, with the uniform
factor and with the leverage correction; and the configured primary. For each scenario, weighting,
instrument and quantity: 95% CI coverage, mean bias (percentage points), type I error (rejection of the
true value at 5%), the SE ratio (mean SE over empirical SD), their Monte Carlo SEs, and whether the
targets (coverage 93-97%, |bias| <= 1 pp, SE ratio 0.95-1.05) are met. The same command also runs
`pipeline.checks.informative_nonresponse` (the sizes of the report's sensitivity statement).
Outputs: docs/methods_validation_weighting.csv (committed; the report reads it), and the per-simulation
rows in analysis/weighting_validation.items.csv.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.io import write_csv
from pipeline.core.paths import (
    INFORMATIVE_NONRESPONSE_RESULTS,
    WEIGHTING_VALIDATION_RESULTS,
    relative_to_root,
)
from pipeline.core.weighting_spec import WeightingSpec
from pipeline.study.designs import DESIGNS
from pipeline.study.frame import read_frame
from pipeline.study.weighting import (
    IMD_BANDS,
    NOT_CALIBRATED_MARK,
    TARGET_ABS_BIAS_PP,
    TARGET_COVERAGE,
    TARGET_SE_RATIO,
    UNATTAINABLE_MARK,
    calibrate_population,
    frame_variables,
)
from pipeline.survey import domain_difference, svymean
from pipeline.survey.small_sample import bell_mccaffrey_df, mean_coefficients

log = logging.getLogger("pipeline.checks.weighting_validation")

# The margins the weightings are compared on: deprivation bands alone (the primary weighting until
# within-cell gradients were simulated), the IMD score's total within each authority type alone (R's
# ~authority_type * imd_score), and both.
BAND_MARGINS = (("authority_type", "imd_band"), ("region",), ("laa_round",))
SCORE_MARGINS = (("authority_type", "imd_score"), ("region",), ("laa_round",))
BAND_AND_SCORE_MARGINS = (
    ("authority_type", "imd_band"),
    ("authority_type", "imd_score"),
    ("region",),
    ("laa_round",),
)


@dataclass(frozen=True)
class Weighting:
    """One weighting of the validation: a method of pipeline.study.weighting, its margins, and its
    variance's degrees-of-freedom correction (None: the configuration's)."""

    method: str
    margins: tuple[tuple[str, ...], ...] = ()
    df_adjust: bool | str | None = None
    # The intervals' degrees of freedom (weighting.interval_df): "design" as R, or "bell_mccaffrey".
    interval_df: str = "design"

    @property
    def label(self) -> str:
        return weighting_label(self.margins, self.df_adjust, self.interval_df)


def weighting_label(
    margins: tuple[tuple[str, ...], ...], df_adjust: bool | str | None, interval_df: str
) -> str:
    """``authority_type x imd_band + region + laa_round; uniform df factor`` (and ``; Bell-McCaffrey
    df`` when the intervals use it): the validation's name of a weighting."""
    variance = {None: "", True: "; uniform df factor", False: "; no df factor", "leverage": "; leverage"}
    intervals = "; Bell-McCaffrey df" if interval_df == "bell_mccaffrey" else ""
    return margins_label(margins) + (variance[df_adjust] if margins else "") + intervals


def margins_label(margins: tuple[tuple[str, ...], ...]) -> str:
    """The margins as one line: ``authority_type x imd_band + region + laa_round``."""
    return " + ".join(" x ".join(margin) for margin in margins) or "authority type (design weights)"


def primary_weighting(spec: WeightingSpec) -> Weighting:
    """The configured primary weighting as the validation names it."""
    if spec.primary == "type_only":
        return Weighting("type_only", interval_df=spec.interval_df)
    return Weighting(spec.primary, spec.margins, spec.variance_df_adjustment, spec.interval_df)


def weightings(spec: WeightingSpec) -> tuple[Weighting, ...]:
    """Type-only; raking to the bands with the uniform df factor (the primary weighting before the
    within-cell gradient scenarios); raking to bands and score with the uniform factor and with the
    leverage correction, with R's interval degrees of freedom and with Bell-McCaffrey's; and the
    configured primary weighting (each once). Linear calibration gave the
    same as raking to within a few hundredths of a point on the band margins (the validation before the
    score margins, in git history), so it is not rerun."""
    primary = primary_weighting(spec)
    candidates = [
        Weighting("type_only"),
        Weighting("raking", BAND_MARGINS, True),
        Weighting("raking", BAND_AND_SCORE_MARGINS, True),
        Weighting("raking", BAND_AND_SCORE_MARGINS, "leverage"),
        Weighting("raking", BAND_AND_SCORE_MARGINS, "leverage", "bell_mccaffrey"),
        primary,
    ]
    return tuple(dict.fromkeys(candidates))


LEVEL = 0.95
# Coordinator response by authority type (about the achieved 49%), as log-odds.
TYPE_RESPONSE = {
    "county": 0.8,
    "shire_district": -0.1,
    "metropolitan_district": 0.2,
    "london_borough": -0.5,
    "unitary": 0.0,
}
# Deprivation slopes of response that differ in sign by type: the type-only weights cannot repair them.
DEPRIVATION_RESPONSE = {
    "county": 1.0,
    "shire_district": -0.8,
    "metropolitan_district": 0.8,
    "london_borough": -0.8,
    "unitary": 0.8,
}
# Board sizes as the report's para 64 (forums of about 15 to 100, median about 35), and respondents per
# answering board as the study's partner survey (124 of 181 LSPs sent one partner, 37 two, 20 three to six):
# each board's respondents are a small part of it, so the second stage is nearly with replacement.
BOARD_SIZE = (15, 60)
EXTRA_RESPONDENTS = 0.45
# Within-cell gradients of the answers: a deprivation slope (log-odds per SD) that differs by authority
# type, so the answers vary continuously inside every type x band cell, and differently by tier.
ANSWER_GRADIENT = {
    "county": 0.8,
    "shire_district": -0.6,
    "metropolitan_district": 0.6,
    "london_borough": -0.8,
    "unitary": 0.6,
}
# Items: (tier effect, maturity effect, deprivation effect) on the log-odds scale of answering yes.
ITEMS = {
    "item_a": (-0.5, 0.6, 0.7),
    "item_b": (0.0, 0.0, 0.7),
    "item_c": (-0.5, 0.6, 0.0),
    "item_d": (0.3, 0.4, -0.6),
}


@dataclass(frozen=True)
class Scenario:
    """A response model: deprivation and region dependence, and informative response on maturity."""

    name: str
    frame_dependent: bool = False
    banded: bool = False  # response depends on the deprivation band (what the margins hold), not the score
    maturity_response: float = 0.0
    # The answers' deprivation slope differs by type (ANSWER_GRADIENT): gradients inside the cells.
    answer_gradient: bool = False
    # The deprivation measure response and the answers' gradient follow: the IMD score (dep_z), or the
    # share of the authority's LSOAs in England's most deprived 10% (pct_z), which the margins do not hold.
    driver: str = "dep_z"


SCENARIOS = (
    Scenario("gradient_by_type", frame_dependent=True, answer_gradient=True),
    Scenario(
        "gradient_by_type_most_deprived_share", frame_dependent=True, answer_gradient=True, driver="pct_z"
    ),
    Scenario("type_only"),
    Scenario("frame_dependent", frame_dependent=True),
    Scenario("frame_dependent_banded", frame_dependent=True, banded=True),
    Scenario("maturity_1.0", maturity_response=1.0),
    Scenario("maturity_2.0", maturity_response=2.0),
)


@dataclass
class Population:
    lsps: pd.DataFrame
    partners: pd.DataFrame
    coordinator_answers: pd.DataFrame = field(default_factory=pd.DataFrame)


def draw_population(
    frame_vars: pd.DataFrame,
    rng: np.random.Generator,
    partner_rng: np.random.Generator,
    scenario: Scenario = SCENARIOS[0],
) -> Population:
    """One finite population on the frame: latent maturity, flags, answers of coordinators and partners.

    The partners' draws come from their own generator, so the coordinators' draws do not depend on how
    partners are simulated."""
    n = len(frame_vars)
    dep = frame_vars["imd_score"].to_numpy(float)
    dep_z = (dep - dep.mean()) / dep.std()
    multi = frame_vars["tier"].eq("multi").to_numpy()
    maturity = 0.3 * frame_vars["laa_round"].eq("first_round").to_numpy() + rng.standard_normal(n)
    maturity = (maturity - maturity.mean()) / maturity.std()
    mature = (maturity + 0.5 * rng.standard_normal(n)) > 0
    share = frame_vars["pct_most_deprived"].to_numpy(float)
    lsps = frame_vars[["lsp_id", "authority_type", "tier", "region", "laa_round", "imd_band"]].assign(
        dep_z=dep_z,
        pct_z=(share - share.mean()) / share.std(),
        maturity=maturity,
        mature=np.where(mature, "more mature", "less mature"),
    )
    gradient = np.zeros(n)
    if scenario.answer_gradient:
        slope = lsps["authority_type"].map(ANSWER_GRADIENT).to_numpy(float)
        gradient = slope * lsps[scenario.driver].to_numpy(float)
    lsp_effect = 0.5 * rng.standard_normal(n)
    for item, (tier_effect, maturity_effect, dep_effect) in ITEMS.items():
        eta = 0.2 + tier_effect * multi + maturity_effect * maturity + dep_effect * dep_z + gradient
        lsps[f"coord_{item}"] = (rng.random(n) < 1 / (1 + np.exp(-(eta + lsp_effect)))).astype(float)
        lsps[f"eta_{item}"] = eta + lsp_effect
    board = partner_rng.integers(BOARD_SIZE[0], BOARD_SIZE[1] + 1, n)
    partners = lsps.loc[np.repeat(np.arange(n), board)].reset_index(drop=True)
    partners["respondent_id"] = [f"P{i:05d}" for i in range(len(partners))]
    for item in ITEMS:
        eta = partners[f"eta_{item}"].to_numpy() + 0.5 * partner_rng.standard_normal(len(partners))
        answers = partner_rng.random(len(partners)) < 1 / (1 + np.exp(-eta))
        partners[f"partner_{item}"] = answers.astype(float)
    return Population(lsps=lsps, partners=partners)


def response(
    population: Population, scenario: Scenario, rng: np.random.Generator, partner_rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which coordinators answered, and which partners (a board answers or not, then each member)."""
    lsps = population.lsps
    eta = lsps["authority_type"].map(TYPE_RESPONSE).to_numpy(float)
    if scenario.frame_dependent:
        deprivation = lsps[scenario.driver].to_numpy()
        if scenario.banded:
            deprivation = lsps["imd_band"].map({b: i - 1.0 for i, b in enumerate(IMD_BANDS)}).to_numpy(float)
        eta = eta + lsps["authority_type"].map(DEPRIVATION_RESPONSE).to_numpy(float) * deprivation
        eta = eta + 0.5 * lsps["region"].isin(["London", "North West", "South East"]).to_numpy()
        eta = eta - 0.5 * lsps["laa_round"].eq("first_round").to_numpy()
    eta = eta + scenario.maturity_response * lsps["maturity"].to_numpy()
    coordinators = rng.random(len(lsps)) < 1 / (1 + np.exp(-eta))
    board_answers = partner_rng.random(len(lsps)) < 1 / (1 + np.exp(-(eta - 0.1)))
    # A board that answers sends 1 + Poisson(EXTRA_RESPONDENTS) of its members, chosen at random.
    lsp_index = pd.factorize(population.partners["lsp_id"])[0]
    board_size = np.bincount(lsp_index, minlength=len(lsps))
    extra = partner_rng.poisson(EXTRA_RESPONDENTS, len(lsps))
    sent = np.where(board_answers, np.minimum(1 + extra, board_size), 0)
    order = pd.Series(partner_rng.random(len(lsp_index)))
    rank_in_board = order.groupby(lsp_index).rank(method="first").to_numpy()
    members = rank_in_board <= sent[lsp_index]
    return coordinators, members


def truth(population: Population) -> pd.DataFrame:
    """The finite population's realised levels and differences (every coordinator and partner once)."""
    rows = []
    for instrument, table, prefix in (
        ("coordinator", population.lsps, "coord_"),
        ("partner", population.partners, "partner_"),
    ):
        for item in ITEMS:
            y = table[f"{prefix}{item}"].to_numpy()
            rows.append({"instrument": instrument, "item": item, "quantity": "level", "truth": y.mean()})
            multi = table["tier"].eq("multi").to_numpy()
            rows.append(
                {
                    "instrument": instrument,
                    "item": item,
                    "quantity": "tier difference",
                    "truth": y[multi].mean() - y[~multi].mean(),
                }
            )
            mature = table["mature"].eq("more mature").to_numpy()
            rows.append(
                {
                    "instrument": instrument,
                    "item": item,
                    "quantity": "maturity difference",
                    "truth": y[mature].mean() - y[~mature].mean(),
                }
            )
    return pd.DataFrame(rows)


def sample_designs(
    population: Population, coordinators: np.ndarray, members: np.ndarray, frame: pd.DataFrame
):
    """The respondents' rows with the study's design columns, prepared with the study's own designs."""
    population_by_type = frame["authority_type"].value_counts()
    coord = population.lsps[coordinators].reset_index(drop=True).assign(respondent_type="coordinator")
    coord["lsp_population"] = coord["authority_type"].map(population_by_type).astype(float)
    coord["weight"] = coord["lsp_population"] / coord.groupby("authority_type")["lsp_id"].transform("count")
    part = population.partners[members].reset_index(drop=True).assign(respondent_type="partner")
    m_h = part.groupby("authority_type")["lsp_id"].transform("nunique")
    part["lsp_population"] = part["authority_type"].map(population_by_type).astype(float)
    part["weight"] = part["lsp_population"] / m_h
    return {"coordinator": DESIGNS["coordinator"].prepare(coord), "partner": DESIGNS["partner"].prepare(part)}


def estimate(
    designs: dict, frame_vars: pd.DataFrame, config: Config, primary_only: bool = False
) -> pd.DataFrame:
    """Every level and difference under every weighting (or the primary alone), with 95% CIs."""
    rows = []
    candidates = weightings(config.weighting)
    for candidate in (primary_weighting(config.weighting),) if primary_only else candidates:
        weighting = candidate.method
        spec = dataclasses.replace(
            config.weighting,
            primary=weighting,
            margins=candidate.margins or BAND_MARGINS,
            variance_df_adjustment=(
                config.weighting.variance_df_adjustment
                if candidate.df_adjust is None
                else candidate.df_adjust
            ),
        )
        for instrument, base_design in designs.items():
            try:
                design, diagnostics = calibrate_population(
                    base_design, instrument, frame_vars, spec, weighting
                )
            except Exception as error:  # a draw whose cells cannot be calibrated is counted, not hidden
                rows.append(
                    {
                        "instrument": instrument,
                        "weighting": weighting,
                        "margins": candidate.label,
                        "failed": str(error)[:80],
                    }
                )
                continue
            # A numeric total the respondents could not meet with positive weights (its nested cells
            # merged, or the total given up): counted per weighting, instrument and scenario.
            collapsed = any(
                UNATTAINABLE_MARK in line or NOT_CALIBRATED_MARK in line
                for d in diagnostics
                for line in d.merged_cells.split("; ")
            )
            prefix = "coord_" if instrument == "coordinator" else "partner_"
            data = design.data
            multi = data["tier"].eq("multi").to_numpy()
            mature = data["mature"].eq("more mature").to_numpy()
            everyone = np.ones((design.n, 1), dtype=bool)
            for item in ITEMS:
                column = f"{prefix}{item}"
                level = svymean(design, column)
                df = design.degf()
                if candidate.interval_df == "bell_mccaffrey":
                    df = float(bell_mccaffrey_df(design, mean_coefficients(design, everyone))[0])
                q = stats.t.ppf(0.5 + LEVEL / 2, df)
                rows.append(
                    {
                        "instrument": instrument,
                        "weighting": weighting,
                        "margins": candidate.label,
                        "item": item,
                        "quantity": "level",
                        "estimate": level.estimate,
                        "se": level.se,
                        "ci_low": level.estimate - q * level.se,
                        "ci_high": level.estimate + q * level.se,
                        "df": df,
                        "collapsed": collapsed,
                    }
                )
                for quantity, a in (("tier difference", multi), ("maturity difference", mature)):
                    diff = domain_difference(
                        design, column, a, True, False, level=LEVEL, df=candidate.interval_df
                    )
                    rows.append(
                        {
                            "instrument": instrument,
                            "weighting": weighting,
                            "margins": candidate.label,
                            "item": item,
                            "quantity": quantity,
                            "estimate": diff.estimate,
                            "se": diff.se,
                            "ci_low": diff.ci_low,
                            "ci_high": diff.ci_high,
                            "df": diff.t_df,
                            "collapsed": collapsed,
                        }
                    )
    return pd.DataFrame(rows)


def simulate(
    frame: pd.DataFrame,
    config: Config,
    n_simulations: int,
    seed: int,
    on_scenario: Callable[[pd.DataFrame], None] | None = None,
    only: Sequence[str] | None = None,
    primary_only: bool = False,
    primary_simulations: int = 0,
    first: int = 0,
) -> pd.DataFrame:
    """Every simulation of every scenario, scored against its finite population (``on_scenario`` is
    given the scored rows so far after each scenario, so a long run shows its results as it goes).

    Every weighting is scored on the first `n_simulations` surveys of a scenario; the primary weighting
    on `primary_simulations` when that is more (the comparison weightings need fewer surveys to show
    what they miss than the primary needs to show that it meets the targets). The surveys are the same
    whichever weightings score them."""
    frame_vars = frame_variables(frame)
    parts = []
    for index, scenario in enumerate(SCENARIOS):
        if only is not None and scenario.name not in only:
            continue  # the seeds follow the scenario's place in SCENARIOS, so a subset draws the same surveys
        started = time.perf_counter()
        for simulation in range(first, max(n_simulations, primary_simulations)):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, simulation)))
            partner_seed = np.random.SeedSequence(seed, spawn_key=(index, simulation, 1))
            partner_rng = np.random.default_rng(partner_seed)
            population = draw_population(frame_vars, rng, partner_rng, scenario)
            coordinators, members = response(population, scenario, rng, partner_rng)
            estimates = estimate(
                sample_designs(population, coordinators, members, frame),
                frame_vars,
                config,
                primary_only or simulation >= n_simulations,
            )
            # A draw where every weighting failed has only the failure rows.
            estimates = estimates.reindex(
                columns=list(dict.fromkeys([*estimates.columns, "item", "quantity"]))
            )
            scored = estimates.merge(truth(population), on=["instrument", "item", "quantity"], how="left")
            parts.append(scored.assign(scenario=scenario.name, simulation=simulation))
        log.info(
            "%s: %d simulations in %.0f s",
            scenario.name,
            max(n_simulations, primary_simulations),
            time.perf_counter() - started,
        )
        if on_scenario is not None:
            on_scenario(_scored(pd.concat(parts, ignore_index=True)))
    return _scored(pd.concat(parts, ignore_index=True))


def _scored(results: pd.DataFrame) -> pd.DataFrame:
    error = results["estimate"] - results["truth"]
    covered = (results["ci_low"] <= results["truth"]) & (results["truth"] <= results["ci_high"])
    t = error / results["se"]
    p_true = 2 * stats.t.sf(np.abs(t), np.maximum(results["df"], 1))
    return results.assign(
        error=error, covered=covered.astype(float), reject_true=(p_true < 0.05).astype(float)
    )


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, weighting, margins, instrument and quantity: coverage, bias (pp), type I error and
    SE ratio (model SE, the root of the mean variance, over the SD; the mean SE's ratio beside it), each
    with its Monte Carlo SE, and whether the targets are met.

    The Monte Carlo SEs treat simulations as the independent units: the SD over simulations of the
    simulation's mean over items, over the square root of the number of simulations (the items of
    one simulation share its sample). The SE ratio's is ``ratio / sqrt(2 (n - 1))``.
    """
    ok = results[results["estimate"].notna()]
    keys = ["scenario", "weighting", "margins", "instrument", "quantity"]
    rows = []
    for key, group in ok.groupby(keys, sort=False):
        per_simulation = group.groupby("simulation")[["covered", "error", "reject_true"]].mean()
        n = len(per_simulation)
        by_item = group.groupby("item")
        # The SE target is judged on the model SE as Morris, White and Crowther (2019, "Using simulation
        # studies to evaluate statistical methods", Statistics in Medicine 38:2074) define it: the root of
        # the mean estimated variance, over the empirical SD of the estimates; it is 1 when the variance
        # is unbiased. The mean SE is kept beside it (`mean_se_ratio`): an unbiased variance whose SE
        # varies between samples (few effective df) has a mean SE below its root mean square, by about
        # 1 / sqrt(1 + cv^2), so a mean-SE ratio sits below 1 even when nothing is wrong with the variance.
        sd = by_item["error"].std()
        ratio = float((np.sqrt((group["se"] ** 2).groupby(group["item"]).mean()) / sd).median())
        mean_ratio = float((by_item["se"].mean() / sd).median())
        se_cv = float((by_item["se"].std() / by_item["se"].mean()).median())
        coverage, bias = float(per_simulation["covered"].mean()), float(100 * per_simulation["error"].mean())
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "simulations": n,
                "coverage": coverage,
                "coverage_mc_se": float(per_simulation["covered"].std() / np.sqrt(n)),
                "mean_bias_pp": bias,
                "mean_bias_mc_se_pp": float(100 * per_simulation["error"].std() / np.sqrt(n)),
                "max_item_bias_pp": float(100 * by_item["error"].mean().abs().max()),
                "type_i_error": float(per_simulation["reject_true"].mean()),
                "se_ratio": ratio,
                "se_ratio_mc_se": ratio / np.sqrt(2 * (n - 1)),
                "mean_se_ratio": mean_ratio,
                "se_cv": se_cv,
                "meets_targets": bool(
                    TARGET_COVERAGE[0] <= coverage <= TARGET_COVERAGE[1]
                    and abs(bias) <= TARGET_ABS_BIAS_PP
                    and TARGET_SE_RATIO[0] <= ratio <= TARGET_SE_RATIO[1]
                ),
            }
        )
    table = pd.DataFrame(rows)
    failed = (
        results[results["estimate"].isna()].groupby(["scenario", "weighting", "margins", "instrument"]).size()
    )
    keys4 = table[["scenario", "weighting", "margins", "instrument"]].to_numpy()
    table["failed_draws"] = [int(failed.get(tuple(k), 0)) for k in keys4]
    if "collapsed" in ok:
        collapsed = (
            ok[ok["collapsed"].astype(str).str.lower().eq("true")]
            .groupby(["scenario", "weighting", "margins", "instrument"])["simulation"]
            .nunique()
        )
        table["collapsed_draws"] = [int(collapsed.get(tuple(k), 0)) for k in keys4]
    return table.round(4)


DOC = Path(__file__).resolve().parents[2] / "docs" / "weighting.md"
DOC_TABLE_START = "<!-- weighting validation table: written by validate-weighting from the CSV -->"
DOC_TABLE_END = "<!-- end of the weighting validation table -->"
QUANTITIES = ("level", "tier difference", "maturity difference")


def weighting_name(margins: str, spec: WeightingSpec) -> str:
    """A validation row's weighting in the docs' words (its margins label in short)."""
    if margins.startswith("authority type ("):
        return "type-only"
    name = (
        "bands + score"
        if "imd_score" in margins and "imd_band" in margins
        else ("score" if "imd_score" in margins else "bands")
    )
    variance = ", ".join(margins.split("; ")[1:]).replace("uniform df factor", "uniform df")
    primary = primary_weighting(spec)
    return f"{name}, {variance}" + (" (primary)" if margins == primary.label else "")


def doc_table(summary: pd.DataFrame, spec: WeightingSpec) -> str:
    """The validation as docs/weighting.md shows it: per scenario, weighting and instrument, the
    surveys, and for levels ; tier ; maturity differences coverage % (its Monte Carlo SE) / mean bias
    pp / SE over SD, then the draws that failed and those whose score totals were collapsed."""
    lines = [
        "| scenario | weighting | instrument | surveys | levels | tier differences | maturity differences "
        "| failed / collapsed draws |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = ["scenario", "margins", "instrument"]
    for (scenario, margins, instrument), group in summary.groupby(keys, sort=False):
        by = group.set_index("quantity")
        cells = []
        for quantity in QUANTITIES:
            row = by.loc[quantity]
            cells.append(
                f"{100 * row['coverage']:.1f} ({100 * row['coverage_mc_se']:.1f}) / "
                f"{row['mean_bias_pp']:+.2f} / {row['se_ratio']:.2f}"
                + ("" if bool(str(row["meets_targets"]).lower() == "true") else " ✗")
            )
        # Rows of runs before the collapse rule have no count (their infeasible draws failed instead).
        count = by["collapsed_draws"].max() if "collapsed_draws" in by else float("nan")
        collapsed = "–" if pd.isna(count) else int(count)
        lines.append(
            f"| {scenario.replace('_', ' ')} | {weighting_name(margins, spec)} | {instrument}s | "
            f"{int(by['simulations'].max())} | {' | '.join(cells)} | {int(by['failed_draws'].max())} / "
            f"{collapsed} |"
        )
    return "\n".join(lines)


def write_doc_table(summary: pd.DataFrame, spec: WeightingSpec, doc: Path = DOC) -> None:
    """Replace the table between the markers of docs/weighting.md with `doc_table` (atomically)."""
    text = doc.read_text()
    head, rest = text.split(DOC_TABLE_START, 1)
    _, tail = rest.split(DOC_TABLE_END, 1)
    new = f"{head}{DOC_TABLE_START}\n{doc_table(summary, spec)}\n{DOC_TABLE_END}{tail}"
    temporary = doc.with_suffix(".md.tmp")
    temporary.write_text(new)
    temporary.replace(doc)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--simulations", type=int, default=200, help="simulations per scenario (default: 200)"
    )
    parser.add_argument(
        "--primary-simulations",
        type=int,
        default=500,
        help="simulations per scenario for the primary weighting (default: 500; the first --simulations "
        "of them are the surveys every weighting is scored on)",
    )
    parser.add_argument(
        "--informative-simulations",
        type=int,
        default=100,
        help="surveys from the study's generator per maturity-driven strength (default: 100)",
    )
    parser.add_argument(
        "--part",
        choices=("all", "scenarios", "informative"),
        default="all",
        help="the weighting scenarios, the maturity-driven runs of the study's generator, or both",
    )
    parser.add_argument(
        "--scenarios",
        default=None,
        help="comma-separated scenario names to run (default: all; the seeds do not depend on the choice)",
    )
    parser.add_argument(
        "--primary-only",
        action="store_true",
        help="score the configured primary weighting alone (the draws, and so the other weightings' "
        "rows of an earlier run with the same seed, do not depend on it)",
    )
    parser.add_argument(
        "--first",
        type=int,
        default=0,
        help="start at this simulation (the surveys before it are skipped, the later ones are those of a "
        "full run: run a long validation in pieces and summarise their --items with --from-items)",
    )
    parser.add_argument(
        "--from-items",
        nargs="+",
        default=None,
        metavar="ITEMS",
        help="summarise the per-simulation rows of earlier runs (their --items files, e.g. one scenario "
        "each run side by side) into --out instead of simulating; the rows of their scenarios and "
        "weightings replace those in --out, the others are kept",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed (default: seeds.methods_validation + 13)"
    )
    path_option(parser, "--out", str(WEIGHTING_VALIDATION_RESULTS), "the summary")
    path_option(parser, "--items", "{analysis_dir}/weighting_validation.items.csv", "the per-simulation rows")
    path_option(parser, "--informative-out", str(INFORMATIVE_NONRESPONSE_RESULTS), "the sensitivity sizes")
    path_option(
        parser,
        "--informative-items",
        "{analysis_dir}/informative_nonresponse.items.csv",
        "the per-simulation rows of the maturity-driven runs",
    )
    arguments, config = parse_stage_arguments(parser, argv)
    frame = read_frame(config.frame)
    seed = arguments.seed if arguments.seed is not None else config.methods_validation_seed + 13
    if arguments.part in ("all", "scenarios"):
        # A run of some scenarios, or of the primary weighting alone, updates its rows of the summary
        # and keeps the others (scenario x weighting x margins); a full run writes it afresh.
        out = Path(arguments.out)
        update = bool(arguments.scenarios or arguments.primary_only or arguments.from_items) and out.exists()
        kept = pd.read_csv(out) if update else None

        def merged(summary: pd.DataFrame) -> pd.DataFrame:
            if kept is None:
                return summary
            keys = ["scenario", "weighting", "margins"]
            fresh = summary[keys].drop_duplicates().assign(_fresh=True)
            old = kept.merge(fresh, on=keys, how="left")
            old = old[old["_fresh"].isna()].drop(columns="_fresh")
            order = {name: i for i, name in enumerate(s.name for s in SCENARIOS)}
            table = pd.concat([old, summary], ignore_index=True)
            labels = [w.label for w in weightings(config.weighting)]
            rank = table["margins"].map({label: i for i, label in enumerate(labels)}).fillna(len(labels))
            table = table.assign(_s=table["scenario"].map(order), _w=rank)
            return table.sort_values(["_s", "_w"], kind="stable").drop(columns=["_s", "_w"])

        def partial(results: pd.DataFrame) -> None:
            write_csv(merged(summarise(results)), out)

        only = None
        if arguments.scenarios:
            only = arguments.scenarios.split(",")
            unknown = sorted(set(only) - {scenario.name for scenario in SCENARIOS})
            if unknown:
                parser.error(f"unknown scenario {unknown[0]!r}")
        if arguments.from_items:
            summary = merged(summarise(pd.concat([pd.read_csv(f) for f in arguments.from_items])))
            write_csv(summary, out)
            if out.resolve() == WEIGHTING_VALIDATION_RESULTS.resolve():
                write_doc_table(pd.read_csv(out), config.weighting)
            log.info("wrote %s: %d rows", relative_to_root(out), len(summary))
            return
        results = simulate(
            frame,
            config,
            arguments.simulations,
            seed,
            partial,
            only,
            arguments.primary_only,
            arguments.primary_simulations,
            arguments.first,
        )
        write_csv(results, arguments.items)
        summary = merged(summarise(results))
        write_csv(summary, out)
        if out.resolve() == WEIGHTING_VALIDATION_RESULTS.resolve():
            write_doc_table(pd.read_csv(out), config.weighting)
        log.info("wrote %s: %d rows", relative_to_root(Path(arguments.out)), len(summary))
    if arguments.part in ("all", "informative"):
        from pipeline.checks import informative_nonresponse
        from pipeline.core.codebook import load_codebook

        items, primary = informative_nonresponse.run(
            frame, load_codebook(config.codebook), config, arguments.informative_simulations, seed
        )
        write_csv(
            pd.concat([items.assign(quantity="item"), primary.assign(quantity="primary test")]),
            arguments.informative_items,
        )
        spec = config.weighting
        sizes = informative_nonresponse.summarise(
            items, primary, spec.primary, margins_label(spec.margins if spec.primary != "type_only" else ())
        )
        write_csv(sizes, Path(arguments.informative_out))
        log.info("wrote %s: %d rows", relative_to_root(Path(arguments.informative_out)), len(sizes))
