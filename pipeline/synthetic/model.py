"""The generative model behind the synthetic survey: a finite population of LSPs and board members,
unit nonresponse, and answers from cumulative-logit models calibrated to the report's published figures.

Everything here is vectorised over respondents (loops run over items, elements and targets only), so the
model scales to 1000 times the bundled size. The equations, every parameter and where its value comes
from are in docs/synthetic_model.md; the published targets are in data/raw/published_targets.yaml.

Nothing this module produces is the Audit Commission's data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from pipeline.core.codebook import Codebook, Variable
from pipeline.core.errors import PipelineError
from pipeline.study.targets import Target, TargetFile
from pipeline.study.vocabulary import AUTHORITY_TYPES, INSTRUMENTS

PARA57_HIGH_GROUP = ("county", "metropolitan_district", "london_borough")
# A fixed seed for the calibration population, so the solved intercepts are a property of the model
# (frame, structure, planted effects), the same for every survey seed and every scale.
CALIBRATION_SEED = 19780401
CALIBRATION_REPLICATES = 20
# Cumulative-logit thresholds of the five-point agree scale, relative to the item intercept: an answer is
# "agree" (4 or 5) when the latent response exceeds 0, so P(agree) = expit(linear predictor).
LIKERT_THRESHOLDS = (-2.6, -1.2, 0.0, 2.2)
SURVEY_YEAR = 2008


@dataclass(frozen=True)
class PlantedEffects:
    """The effects a method-validation study may set, on the log-odds scale of every Likert item.

    ``tier``: multi-tier minus single-tier LSPs (negative: multi-tier areas face greater challenges).
    ``maturity``: per standard deviation of the LSP's latent maturity.
    ``response_maturity``: log-odds of a coordinator responding per SD of maturity (0: nonresponse
    depends on authority type only, so unweighted estimates are close to the population values).
    Both item effects apply in the favourable direction: reverse-worded items get the opposite sign.
    """

    tier: float = -0.4
    maturity: float = 0.6
    response_maturity: float = 0.0


@dataclass(frozen=True)
class ModelParameters:
    """Every fixed (assumed) parameter of the model; the calibrated ones are solved in ``calibrate``."""

    # Latent maturity: linear in frame covariates plus a unit-variance residual, then standardised.
    maturity_imd_per_sd: float = 0.2
    maturity_laa_first_round: float = 0.5
    maturity_inner_urban: float = 0.6
    # Favourability (the shared part of every answer): LSP element residual, LSP random effect,
    # respondent general and respondent-by-element terms (standard deviations, log-odds scale).
    element_residual_sd: float = 0.5
    lsp_random_effect_sd: float = 0.5
    respondent_sd: float = 0.6
    respondent_element_sd: float = 0.4
    coordinator_effect: float = 0.6
    authority_effect: dict[str, float] = field(
        default_factory=lambda: {
            "county": 0.1,
            "shire_district": 0.0,
            "metropolitan_district": 0.1,
            "london_borough": -0.1,
            "unitary": 0.0,
        }
    )
    sector_effect: dict[int, float] = field(
        default_factory=lambda: {1: 0.3, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: -0.2, 7: -0.1, 8: 0.0, 9: 0.0}
    )
    # Board of potential partner respondents: the council seat plus 3 + Poisson(mean) other members.
    board_extra_mean: dict[str, float] = field(
        default_factory=lambda: {
            "county": 6.0,
            "shire_district": 3.0,
            "metropolitan_district": 6.0,
            "london_borough": 5.0,
            "unitary": 5.0,
        }
    )
    # Sectors of the board seats after the council's own seat (codebook value set partner_sector).
    sector_shares: dict[int, float] = field(
        default_factory=lambda: {
            1: 0.08,
            2: 0.20,
            3: 0.12,
            4: 0.06,
            5: 0.06,
            6: 0.24,
            7: 0.12,
            8: 0.05,
            9: 0.07,
        }
    )
    # Relative response propensities by authority type. The coordinators' keep the county/metropolitan/
    # London share of respondents at its frame share (26.5%), which para 57's 58 = 80/50 mix implies.
    coordinator_propensity: dict[str, float] = field(
        default_factory=lambda: {
            "county": 1.15,
            "shire_district": 0.95,
            "metropolitan_district": 1.0,
            "london_borough": 0.8,
            "unitary": 1.1,
        }
    )
    partner_propensity: dict[str, float] = field(
        default_factory=lambda: {
            "county": 1.2,
            "shire_district": 0.9,
            "metropolitan_district": 1.1,
            "london_borough": 0.8,
            "unitary": 1.0,
        }
    )
    # LSP-level response frailty of partners: boards that engage send several answers (clustering).
    partner_response_frailty_sd: float = 0.8
    # Item nonresponse, per cell, independent of the answer: (don't know, not answered).
    likert_missing: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"coordinator": (0.02, 0.015), "partner": (0.04, 0.025)}
    )
    other_missing: tuple[float, float] = (0.02, 0.01)
    group_not_answered: float = 0.02
    comment_rate: dict[str, float] = field(default_factory=lambda: {"coordinator": 0.3, "partner": 0.2})
    # Development stage: cumulative logit on latent maturity; assumed shares of stages 1-4.
    stage_slope: float = 1.5
    stage_shares: tuple[float, ...] = (0.12, 0.35, 0.38, 0.15)
    # Slope of each non-Likert item on its element's LSP trait (negative: weaker LSPs name the barrier).
    factual_slope: dict[str, float] = field(
        default_factory=lambda: {
            "layer_strategic_forum": 0.3,
            "layer_executive_board": 0.6,
            "layer_theme_groups": 0.4,
            "resources_mapped": 0.6,
            "scrutiny_reviewed": 0.4,
            "barrier_information_quality": -0.5,
            "barrier_information_sharing": -0.5,
            "barrier_funding": -0.3,
            "barrier_partner_commitment": -0.5,
            "barrier_national_targets": -0.3,
            "barrier_two_tier_working": -0.3,
            "has_support_team": 0.5,
            "support_team_partner_staff": 0.4,
            "research_budget_joint": 0.5,
            "research_budget_band": 0.6,
            "support_costs_known": 0.4,
        }
    )
    # Assumed shares (percent) of non-Likert items with no published number, by instrument and group.
    assumed_binary_levels: dict[str, dict[str, dict[str, float]]] = field(
        default_factory=lambda: {
            "coordinator": {
                "layer_strategic_forum": {"all": 97},
                "layer_executive_board": {"all": 75},
                "layer_theme_groups": {"all": 88},
                "scrutiny_reviewed": {"all": 35},
                "has_support_team": {"all": 95},
                "barrier_information_sharing": {"all": 40},
                "barrier_funding": {"all": 50},
                "barrier_partner_commitment": {"all": 30},
                "barrier_national_targets": {"all": 45},
                "barrier_two_tier_working": {"multi": 45, "single": 10},
                "research_budget_joint": {"all": 35},
            },
            "partner": {
                "barrier_information_sharing": {"all": 45},
                "barrier_funding": {"all": 55},
                "barrier_partner_commitment": {"all": 35},
                "barrier_national_targets": {"all": 40},
                "barrier_two_tier_working": {"multi": 40, "single": 8},
            },
        }
    )
    # resources_mapped: assumed share answering 'Yes' or 'Partly' among single-tier and county LSPs.
    resources_mapped_yes_or_partly: float = 40
    # research_budget_band: assumed shares of the six bands for budgets that are not jointly funded.
    research_band_shares_not_joint: tuple[float, ...] = (0.20, 0.55, 0.12, 0.08, 0.03, 0.02)
    # Assumed partner agreement (percent) with every Likert item that has no published partner number;
    # coordinators then get the coordinator effect on top (unless a coordinator number is published).
    assumed_partner_agree: dict[str, float] = field(
        default_factory=lambda: {
            "scs_shared_vision": 70,
            "scs_priorities_drive_partners": 50,
            "scs_laa_targets_reflect": 65,
            "scs_outcomes_monitored": 60,
            "leaders_competent": 60,
            "support_staff_skilled": 65,
            "members_lack_training": 45,
            "chair_encourages_challenge": 55,
            "council_dominates": 45,
            "meetings_strategic": 50,
            "partners_treated_equally": 50,
            "informal_networks_help": 70,
            "shared_services_developed": 35,
            "benefits_outweigh_costs": 55,
            "joint_working_duplicates": 40,
            "mainstream_resources_aligned": 30,
            "decisions_use_performance_info": 45,
            "common_data_standards": 30,
            "information_shared": 45,
            "information_timely": 40,
            "receive_performance_info": 60,
            "understand_performance_info": 65,
            "confident_using_info": 50,
            "shared_performance_system": 45,
            "risks_managed": 40,
            "support_team_capacity": 45,
            "cycles_misaligned": 55,
        }
    )
    # chair_type shares: the 2004 ODPM survey's mix, with council leaders raised to a majority (para 48).
    chair_shares: dict[int, float] = field(
        default_factory=lambda: {1: 0.52, 2: 0.07, 3: 0.05, 4: 0.12, 5: 0.09, 6: 0.02, 7: 0.09, 8: 0.04}
    )


PARAMETERS = ModelParameters()


# ----------------------------------------------------------------------------------------------- targets


# -------------------------------------------------------------------------------------------- population


def replicate_frame(frame: pd.DataFrame, scale: int) -> pd.DataFrame:
    """The frame itself at scale 1; otherwise ``scale`` copies with unique ids such as ``00BL~0007``."""
    if scale < 1:
        raise PipelineError(f"scale must be a positive integer, got {scale}")
    if scale == 1:
        return frame.reset_index(drop=True)
    replicated = pd.concat([frame] * scale, ignore_index=True)
    suffix = pd.Series(np.repeat([f"~{r:04d}" for r in range(1, scale + 1)], len(frame)))
    for column in ("lsp_id", "laa_area_id", "parent_county_id"):
        if column in replicated:
            values = replicated[column]
            replicated[column] = values.where(values.eq(""), values + suffix)
    return replicated


@dataclass
class Population:
    """The finite population: one coordinator per LSP and every board member, with their latent values.

    LSP arrays have one row per LSP; ``partner_*`` arrays one row per board member (potential partner).
    """

    lsp_id: np.ndarray
    authority: np.ndarray  # index into AUTHORITY_TYPES
    multi_tier: np.ndarray
    para57_high: np.ndarray
    imd_z: np.ndarray
    laa_first_round: np.ndarray
    inner_urban: np.ndarray
    maturity: np.ndarray
    element_residual: np.ndarray  # (n_lsp, 7)
    random_effect: np.ndarray
    stage_latent: np.ndarray
    joint_working_year: np.ndarray
    coordinator_general: np.ndarray
    coordinator_element: np.ndarray  # (n_lsp, 7)
    coordinator_propensity: np.ndarray
    partner_frailty: np.ndarray
    partner_lsp: np.ndarray
    partner_sector: np.ndarray
    partner_general: np.ndarray
    partner_element: np.ndarray  # (n_partners, 7)
    partner_propensity: np.ndarray
    effects: PlantedEffects

    @property
    def n_lsps(self) -> int:
        return len(self.lsp_id)

    def element_traits(self) -> np.ndarray:
        """Each LSP's score on the seven 7S elements: maturity plus an element-specific residual."""
        return (
            self.effects.maturity * self.maturity[:, None]
            + PARAMETERS.element_residual_sd * self.element_residual
        )

    def lsp_favourability(self) -> np.ndarray:
        """The LSP-level part of the linear predictor shared by everyone answering for the LSP."""
        authority_effect = np.array([PARAMETERS.authority_effect[t] for t in AUTHORITY_TYPES])
        shared = self.random_effect + self.effects.tier * self.multi_tier + authority_effect[self.authority]
        return self.element_traits() + shared[:, None]


def _frame_covariates(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    authority = frame["authority_type"].map({t: i for i, t in enumerate(AUTHORITY_TYPES)})
    if authority.isna().any():
        raise PipelineError(f"frame: unknown authority types {sorted(set(frame['authority_type']))}")
    imd = pd.to_numeric(frame["imd2007_mean_lsoa_score_unweighted"]).to_numpy(dtype=float)
    rank = pd.to_numeric(frame["imd2007_rank_unweighted_lower_tier"], errors="coerce").to_numpy()
    return {
        "authority": authority.to_numpy(dtype=np.int8),
        "multi_tier": frame["tier"].eq("multi").to_numpy(),
        "para57_high": frame["authority_type"].isin(PARA57_HIGH_GROUP).to_numpy(),
        "imd_z": (imd - imd.mean()) / imd.std(),
        "laa_first_round": frame["laa_round"].eq("1").to_numpy(),
        # Stand-in for the 43 Inner Urban Areas Act 1978 areas (para 16): the frame has no such list.
        "inner_urban": np.nan_to_num(rank, nan=np.inf) <= 43,
    }


def draw_population(frame: pd.DataFrame, rng: np.random.Generator, effects: PlantedEffects) -> Population:
    """Draw every latent value of the finite population from the (already replicated) frame."""
    p = PARAMETERS
    covariates = _frame_covariates(frame)
    n = len(frame)
    n_elements = 7
    linear = (
        p.maturity_imd_per_sd * covariates["imd_z"]
        + p.maturity_laa_first_round * covariates["laa_first_round"]
        + p.maturity_inner_urban * covariates["inner_urban"]
    )
    maturity = (linear - linear.mean() + rng.standard_normal(n)) / np.sqrt(linear.var() + 1.0)
    element_residual = rng.standard_normal((n, n_elements))
    random_effect = p.lsp_random_effect_sd * rng.standard_normal(n)
    stage_latent = p.stage_slope * maturity + rng.logistic(size=n)
    # Most partnerships date from the 2000-02 LSP guidance; mature ones earlier; the old inner-urban
    # areas mostly from the 1978 programmes.
    year = np.rint(2001 - 2.5 * maturity + 2.0 * rng.standard_normal(n))
    early = covariates["inner_urban"] & (rng.random(n) < 0.7)
    year = np.where(early, rng.integers(1978, 1992, size=n), year)
    joint_working_year = np.clip(year, 1965, SURVEY_YEAR).astype(np.int64)
    coordinator_general = p.respondent_sd * rng.standard_normal(n)
    coordinator_element = p.respondent_element_sd * rng.standard_normal((n, n_elements))
    type_names = np.array(AUTHORITY_TYPES)[covariates["authority"]]
    coordinator_propensity = np.array([p.coordinator_propensity[t] for t in AUTHORITY_TYPES])[
        covariates["authority"]
    ] * np.exp(effects.response_maturity * maturity)
    partner_frailty = rng.standard_normal(n)
    extra = rng.poisson(np.array([p.board_extra_mean[t] for t in type_names]))
    board_size = 4 + extra
    partner_lsp = np.repeat(np.arange(n), board_size)
    n_partners = len(partner_lsp)
    seat = np.arange(n_partners) - np.repeat(np.cumsum(board_size) - board_size, board_size)
    sector_codes = np.array(sorted(p.sector_shares))
    sector_probabilities = np.array([p.sector_shares[c] for c in sector_codes])
    drawn_sector = sector_codes[rng.choice(len(sector_codes), size=n_partners, p=sector_probabilities)]
    partner_sector = np.where(seat == 0, 1, drawn_sector).astype(np.int64)
    # Float32 for the member-level noise: at 1000x the population has millions of members.
    partner_general = (p.respondent_sd * rng.standard_normal(n_partners)).astype(np.float32)
    partner_element = (p.respondent_element_sd * rng.standard_normal((n_partners, n_elements))).astype(
        np.float32
    )
    sd = p.partner_response_frailty_sd
    partner_propensity = np.array([p.partner_propensity[t] for t in AUTHORITY_TYPES])[
        covariates["authority"][partner_lsp]
    ] * np.exp(sd * partner_frailty[partner_lsp] - sd**2 / 2)
    return Population(
        lsp_id=frame["lsp_id"].to_numpy(dtype=object),
        authority=covariates["authority"],
        multi_tier=covariates["multi_tier"],
        para57_high=covariates["para57_high"],
        imd_z=covariates["imd_z"],
        laa_first_round=covariates["laa_first_round"],
        inner_urban=covariates["inner_urban"],
        maturity=maturity,
        element_residual=element_residual,
        random_effect=random_effect,
        stage_latent=stage_latent,
        joint_working_year=joint_working_year,
        coordinator_general=coordinator_general,
        coordinator_element=coordinator_element,
        coordinator_propensity=coordinator_propensity,
        partner_frailty=partner_frailty,
        partner_lsp=partner_lsp,
        partner_sector=partner_sector,
        partner_general=partner_general,
        partner_element=partner_element,
        partner_propensity=partner_propensity,
        effects=effects,
    )


@dataclass
class Members:
    """The people of one instrument (all of the population, or the sample), with what their answers need."""

    instrument: str
    index: np.ndarray  # row in the population's coordinator (= LSP) or partner arrays
    lsp: np.ndarray
    authority: np.ndarray
    multi_tier: np.ndarray
    para57_high: np.ndarray
    weight: np.ndarray  # response propensity: the expected-sample weight
    favourability: np.ndarray  # (n, 7) everything in the Likert predictor except the item intercept
    lsp_traits: np.ndarray  # (n, 7) LSP element traits plus random effect: drives factual items
    maturity: np.ndarray
    stage_latent: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows: np.ndarray) -> Members:
        return Members(
            instrument=self.instrument,
            **{
                name: getattr(self, name)[rows]
                for name in (
                    "index",
                    "lsp",
                    "authority",
                    "multi_tier",
                    "para57_high",
                    "weight",
                    "favourability",
                    "lsp_traits",
                    "maturity",
                    "stage_latent",
                )
            },
        )


def members(population: Population, instrument: str, rows: np.ndarray | None = None) -> Members:
    """The members of one instrument (``rows``: a subset of the population, e.g. the respondents)."""
    lsp_part = population.lsp_favourability()
    lsp_traits = population.element_traits() + population.random_effect[:, None]
    if instrument == "coordinator":
        index = np.arange(population.n_lsps) if rows is None else rows
        lsp = index
        favourability = (
            lsp_part[lsp]
            + population.coordinator_general[index, None]
            + population.coordinator_element[index]
        )
        weight = population.coordinator_propensity[index]
    else:
        index = np.arange(len(population.partner_lsp)) if rows is None else rows
        lsp = population.partner_lsp[index]
        sector_effect = np.zeros(10, dtype=np.float32)
        for code, value in PARAMETERS.sector_effect.items():
            sector_effect[code] = value
        favourability = (
            lsp_part[lsp].astype(np.float32)
            + (sector_effect[population.partner_sector[index]] + population.partner_general[index])[:, None]
            + population.partner_element[index]
        )
        weight = population.partner_propensity[index]
    return Members(
        instrument=instrument,
        index=index,
        lsp=lsp,
        authority=population.authority[lsp],
        multi_tier=population.multi_tier[lsp],
        para57_high=population.para57_high[lsp],
        weight=weight,
        favourability=favourability,
        lsp_traits=lsp_traits[lsp],
        maturity=population.maturity[lsp],
        stage_latent=population.stage_latent[lsp],
    )


# ------------------------------------------------------------------------------------ item probabilities


def element_index(codebook: Codebook) -> dict[str, int]:
    return {element: i for i, element in enumerate(codebook.elements)}


def intercept_groups(instrument: str, variable: str, people: Members) -> dict[str, np.ndarray]:
    """Which intercept each member gets: most items have one; a few differ by authority group or tier."""
    if instrument == "coordinator" and variable == "members_challenge_performance":
        return {"county_met_london": people.para57_high, "district_unitary": ~people.para57_high}
    if variable == "support_team_partner_staff":
        metropolitan = people.authority == AUTHORITY_TYPES.index("metropolitan_district")
        return {"metropolitan_district": metropolitan, "other": ~metropolitan}
    if variable == "barrier_two_tier_working":
        return {"multi": people.multi_tier, "single": ~people.multi_tier}
    return {"all": np.ones(len(people), dtype=bool)}


def _intercept_vector(
    instrument: str, variable: str, people: Members, intercepts: dict[str, float]
) -> np.ndarray:
    vector = np.zeros(len(people))
    for group, mask in intercept_groups(instrument, variable, people).items():
        vector[mask] = intercepts[group]
    return vector


def likert_predictor(
    variable: Variable, people: Members, params: dict[str, Any], elements: dict[str, int]
) -> np.ndarray:
    """Linear predictor of one Likert item: intercept plus favourability, sign flipped for reverse items."""
    intercepts = params["likert"][people.instrument][variable.name]
    sign = -1.0 if variable.reverse else 1.0
    return (
        _intercept_vector(people.instrument, variable.name, people, intercepts)
        + sign * people.favourability[:, elements[variable.element]]
    )


def likert_agree_probability(
    variable: Variable, people: Members, params: dict[str, Any], elements: dict[str, int]
) -> np.ndarray:
    return expit(likert_predictor(variable, people, params, elements))


def binary_probability(
    name: str, element: str, people: Members, params: dict[str, Any], elements: dict[str, int]
) -> np.ndarray:
    """P(yes / selected) of a non-Likert binary item: logistic in the LSP's element trait."""
    intercepts = params["binary"][people.instrument][name]
    slope = PARAMETERS.factual_slope[name]
    return expit(
        _intercept_vector(people.instrument, name, people, intercepts)
        + slope * people.lsp_traits[:, elements[element]]
    )


def cumulative_probabilities(cutpoints: list[float], location: np.ndarray) -> np.ndarray:
    """P(Y <= k) for k = 1..K-1 of a cumulative-logit model: expit(cut_k - location), shape (n, K-1)."""
    return expit(np.asarray(cutpoints)[None, :] - location[:, None])


def _categories(cumulative: np.ndarray) -> np.ndarray:
    """Category probabilities (n, K) from cumulative ones (n, K-1)."""
    n = cumulative.shape[0]
    padded = np.hstack([np.zeros((n, 1)), cumulative, np.ones((n, 1))])
    return np.diff(padded, axis=1)


def research_location(
    people: Members, elements: dict[str, int], joint: np.ndarray | float, shift: float
) -> np.ndarray:
    return (
        PARAMETERS.factual_slope["research_budget_band"] * people.lsp_traits[:, elements["systems"]]
        + shift * joint
    )


def code_probabilities(
    name: str,
    people: Members,
    params: dict[str, Any],
    codebook: Codebook,
    condition: tuple[str, int] | None = None,
) -> dict[int, np.ndarray]:
    """P(answer = code) for every substantive code of a variable, per member, before item nonresponse.

    For a routed item the probabilities include being asked, so they sum to P(asked) over the codes.
    ``condition`` restricts to members with that answer to another variable (joint probability).
    """
    elements = element_index(codebook)
    variable = codebook[name]
    if condition is not None and (name, condition) != ("research_budget_band", ("research_budget_joint", 1)):
        raise ValueError(f"unsupported condition {condition} for {name}")
    if variable.type == "likert5":
        location = likert_predictor(variable, people, params, elements)
        cumulative = expit(np.asarray(LIKERT_THRESHOLDS)[None, :] - location[:, None])
        return dict(zip(range(1, 6), _categories(cumulative).T, strict=True))
    if name == "development_stage":
        cumulative = cumulative_probabilities(
            params["cutpoints"]["development_stage"], PARAMETERS.stage_slope * people.maturity
        )
        return dict(zip(range(1, 5), _categories(cumulative).T, strict=True))
    if name == "resources_mapped":
        location = -PARAMETERS.factual_slope["resources_mapped"] * people.lsp_traits[:, elements["steering"]]
        cumulative = cumulative_probabilities(params["cutpoints"]["resources_mapped"], location)
        return dict(zip(range(1, 4), _categories(cumulative).T, strict=True))
    if name in ("research_budget_band", "research_budget_joint"):
        p_joint = binary_probability("research_budget_joint", "synergies", people, params, elements)
        cut = params["cutpoints"]["research_budget_band"]
        shift = params["research_joint_shift"]
        band_joint = _categories(
            cumulative_probabilities(cut, research_location(people, elements, 1.0, shift))
        )
        band_other = _categories(
            cumulative_probabilities(cut, research_location(people, elements, 0.0, shift))
        )
        if name == "research_budget_joint":
            return {
                1: p_joint * band_joint[:, 1:].sum(axis=1),
                2: (1 - p_joint) * band_other[:, 1:].sum(axis=1),
            }
        if condition is not None:
            # Jointly funded implies asked, i.e. a budget of band 2 or more.
            return {
                k + 1: (p_joint * band_joint[:, k] if k >= 1 else np.zeros(len(people))) for k in range(6)
            }
        mixture = p_joint[:, None] * band_joint + (1 - p_joint[:, None]) * band_other
        return dict(zip(range(1, 7), mixture.T, strict=True))
    if variable.type in ("yes_no", "multiple_choice"):
        yes = binary_probability(name, variable.element or "systems", people, params, elements)
        if variable.asked_if is not None:
            routing_variable = variable.asked_if_parts()[0]
            yes_routing = binary_probability(
                routing_variable, codebook[routing_variable].element or "systems", people, params, elements
            )
            asked = yes_routing
        else:
            asked = np.ones(len(people))
        positive, negative = (1, 2) if variable.type == "yes_no" else (1, 0)
        return {positive: asked * yes, negative: asked * (1 - yes)}
    raise ValueError(f"no probability model for {name}")


def expected_share(
    target: Target,
    people: Members,
    params: dict[str, Any],
    codebook: Codebook,
    frame_types: np.ndarray | None = None,
) -> float:
    """The target's expected value in percent: the share among respondents in expectation over the draw,
    i.e. sum(w * P(event)) / sum(w * P(base)) with response propensities w as weights."""
    probabilities = code_probabilities(target.variable, people, params, codebook, target.condition)
    weight = people.weight.astype(float)
    if target.authority_types is not None:
        allowed = [AUTHORITY_TYPES.index(t) for t in target.authority_types]
        weight = weight * np.isin(people.authority, allowed)
    event = sum(probabilities[code] for code in target.event)
    base = sum(probabilities.values())
    return float(100 * np.sum(weight * event) / np.sum(weight * base))


# ----------------------------------------------------------------------------------------- calibration


def _solve(function: Any, target: float, low: float = -15.0, high: float = 15.0) -> float:
    """Root of function(x) = target by Brent's method; the functions here are monotone in x."""
    return float(brentq(lambda x: function(x) - target, low, high, xtol=1e-10))


def _weighted_mean(values: np.ndarray, weight: np.ndarray) -> float:
    return float(100 * np.sum(weight * values) / np.sum(weight))


def calibrate(
    frame: pd.DataFrame, codebook: Codebook, targets: TargetFile, effects: PlantedEffects
) -> dict[str, Any]:
    """Solve every intercept and cut-point so the model's expected values meet the published targets
    (and the assumed levels where nothing is published).

    The expectation is over seeds: it is computed on a large calibration population (the frame
    replicated CALIBRATION_REPLICATES times, drawn with CALIBRATION_SEED), with the exact logistic
    probabilities averaged over its latent values and weighted by response propensity.
    """
    p = PARAMETERS
    elements = element_index(codebook)
    by_key = targets.by_key()
    population = draw_population(
        replicate_frame(frame, CALIBRATION_REPLICATES), np.random.default_rng(CALIBRATION_SEED), effects
    )
    people = {instrument: members(population, instrument) for instrument in INSTRUMENTS}
    params: dict[str, Any] = {
        "likert": {instrument: {} for instrument in INSTRUMENTS},
        "binary": {instrument: {} for instrument in INSTRUMENTS},
        "cutpoints": {},
        "research_joint_shift": 0.0,
    }

    def likert_share(instrument: str, variable: Variable, group: str, mask: np.ndarray):
        def share(intercept: float) -> float:
            group_people = people[instrument]
            sign = -1.0 if variable.reverse else 1.0
            predictor = intercept + sign * group_people.favourability[mask, elements[variable.element]]
            return _weighted_mean(expit(predictor), group_people.weight[mask])

        return share

    published_likert = {
        (by_key[key].instrument, by_key[key].variable, group): by_key[key].value
        for key, group in (
            ("challenge_partners", "all"),
            ("challenge_coordinators_county_met_london", "county_met_london"),
            ("challenge_coordinators_district_unitary", "district_unitary"),
            ("para59_coordinators", "all"),
            ("para59_partners", "all"),
            ("influence_coordinators", "all"),
            ("influence_partners", "all"),
        )
    }
    for variable in codebook.likert_items("partner"):
        group_masks = intercept_groups("partner", variable.name, people["partner"])
        level = published_likert.get(
            ("partner", variable.name, "all"), p.assumed_partner_agree.get(variable.name)
        )
        if level is None:
            raise PipelineError(f"no partner level (published or assumed) for {variable.name}")
        params["likert"]["partner"][variable.name] = {
            group: _solve(likert_share("partner", variable, group, mask), level)
            for group, mask in group_masks.items()
        }
    for variable in codebook.likert_items("coordinator"):
        group_masks = intercept_groups("coordinator", variable.name, people["coordinator"])
        solved = {}
        for group, mask in group_masks.items():
            level = published_likert.get(("coordinator", variable.name, group))
            if level is not None:
                solved[group] = _solve(likert_share("coordinator", variable, group, mask), level)
            else:
                # No published coordinator number: the partners' intercept plus the coordinator effect.
                sign = -1.0 if variable.reverse else 1.0
                partner_intercept = params["likert"]["partner"][variable.name]["all"]
                solved[group] = partner_intercept + sign * p.coordinator_effect
        params["likert"]["coordinator"][variable.name] = solved

    def binary_share(instrument: str, name: str, element: str, mask: np.ndarray):
        group_people = people[instrument]
        trait = group_people.lsp_traits[mask, elements[element]]
        slope = p.factual_slope[name]

        def share(intercept: float) -> float:
            return _weighted_mean(expit(intercept + slope * trait), group_people.weight[mask])

        return share

    published_binary = {
        (
            "coordinator",
            "support_team_partner_staff",
            "metropolitan_district",
        ): "core_team_partner_staff_metropolitan",
        ("coordinator", "support_team_partner_staff", "other"): "core_team_partner_staff_other_types",
        ("coordinator", "support_costs_known", "all"): "support_costs_known_coordinators",
        ("partner", "support_costs_known", "all"): "support_costs_known_partners",
        ("coordinator", "barrier_information_quality", "all"): "information_barrier_coordinators",
        ("partner", "barrier_information_quality", "all"): "information_barrier_partners",
    }
    # Routing first: support_team_partner_staff is asked only of LSPs with a support team.
    binary_order = ["has_support_team", "research_budget_joint"] + [
        v.name
        for v in codebook.variables
        if v.type in ("yes_no", "multiple_choice")
        and v.name not in ("has_support_team", "research_budget_joint")
    ]
    for name in binary_order:
        variable = codebook[name]
        for instrument in variable.instruments:
            group_masks = intercept_groups(instrument, name, people[instrument])
            element = "synergies" if name == "research_budget_joint" else (variable.element or "systems")
            params["binary"][instrument][name] = dict.fromkeys(group_masks, 0.0)
            for group, mask in group_masks.items():
                key = published_binary.get((instrument, name, group))
                if key is not None:
                    target = by_key[key]
                    trial = params["binary"][instrument][name]

                    def routed_share(
                        intercept: float, target: Target = target, trial: dict = trial, group: str = group
                    ) -> float:
                        trial[group] = intercept
                        return expected_share(target, people[target.instrument], params, codebook)

                    trial[group] = _solve(routed_share, target.value)
                else:
                    level = p.assumed_binary_levels[instrument][name][group]
                    params["binary"][instrument][name][group] = _solve(
                        binary_share(instrument, name, element, mask), level
                    )

    coordinators = people["coordinator"]
    weight = coordinators.weight
    # Development stage: assumed shares of the four stages.
    stage_cut = []
    cumulative_share = np.cumsum(p.stage_shares)[:-1] * 100
    for share in cumulative_share:
        stage_cut.append(
            _solve(lambda c: _weighted_mean(expit(c - p.stage_slope * coordinators.maturity), weight), share)
        )
    params["cutpoints"]["development_stage"] = stage_cut
    # Resources mapped: the first cut-point meets para 94 (14%), the second the assumed 'yes or partly'.
    mapped = by_key["resources_mapped_single_tier_and_county"]
    in_base = np.isin(coordinators.authority, [AUTHORITY_TYPES.index(t) for t in mapped.authority_types])
    location = -p.factual_slope["resources_mapped"] * coordinators.lsp_traits[in_base, elements["steering"]]
    params["cutpoints"]["resources_mapped"] = [
        _solve(lambda c: _weighted_mean(expit(c - location), weight[in_base]), level)
        for level in (mapped.value, p.resources_mapped_yes_or_partly)
    ]
    # Research budget bands: assumed shares among budgets not jointly funded (weights: P(not joint)),
    # then the joint shift meets "one in ten jointly funded budgets exceeds 500,000".
    p_joint = binary_probability("research_budget_joint", "synergies", coordinators, params, elements)
    not_joint_weight = weight * (1 - p_joint)
    band_location = research_location(coordinators, elements, 0.0, 0.0)
    params["cutpoints"]["research_budget_band"] = [
        _solve(lambda c: _weighted_mean(expit(c - band_location), not_joint_weight), share)
        for share in np.cumsum(p.research_band_shares_not_joint)[:-1] * 100
    ]
    over_500k = by_key["joint_budgets_over_500k"]

    def joint_over_500k(shift: float) -> float:
        params["research_joint_shift"] = shift
        return expected_share(over_500k, coordinators, params, codebook)

    params["research_joint_shift"] = _solve(joint_over_500k, over_500k.value, 0.0, 10.0)
    params["expected"] = _expected_values(population, people, codebook, targets, params)
    return params


DIRECTION_GROUPS = {
    "multi_tier_direction": ("by_tier", "multi", "single"),
    "maturity_direction": ("by_maturity_development_stage", "more mature", "less mature"),
}


def direction_difference(truth: dict[str, Any], codebook: Codebook, key: str) -> float:
    """Mean over the favourably worded Likert items of both instruments of the difference in % agreeing
    between the two groups of a direction target (multi - single tier; more - less mature)."""
    by, high, low = DIRECTION_GROUPS[key]
    differences = [
        truth[instrument][variable.name][by][high] - truth[instrument][variable.name][by][low]
        for instrument in INSTRUMENTS
        for variable in codebook.likert_items(instrument)
        if not variable.reverse
    ]
    return round(100 * float(np.mean(differences)), 4)


def _expected_values(
    population: Population,
    people: dict[str, Members],
    codebook: Codebook,
    targets: TargetFile,
    params: dict[str, Any],
) -> dict[str, float]:
    """Every target's model expected value on the calibration population (expectation over seeds)."""
    truth = population_truth(population, codebook, params)
    return {
        target.key: (
            direction_difference(truth, codebook, target.key)
            if target.method == "direction"
            else round(expected_share(target, people[target.instrument], params, codebook), 4)
        )
        for target in targets.targets
    }


# ------------------------------------------------------------------------------------------- sampling


def inclusion_probabilities(propensity: np.ndarray, n: int) -> np.ndarray:
    """Inclusion probabilities proportional to propensity, summing to n, capped at 1 (the capped units are
    taken with certainty and the rest rescaled)."""
    if n > len(propensity):
        raise PipelineError(f"cannot draw {n} respondents from a population of {len(propensity)}")
    probability = propensity * n / propensity.sum()
    capped = np.zeros(len(propensity), dtype=bool)
    while (probability > 1).any():
        capped |= probability >= 1
        free = ~capped
        probability = np.where(capped, 1.0, propensity * (n - capped.sum()) / propensity[free].sum())
    return probability


def systematic_pps(propensity: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exactly n units without replacement, unit i with probability pi_i (systematic PPS over a random
    order). Returns the sorted selected indices and every unit's pi."""
    probability = inclusion_probabilities(propensity, n)
    order = rng.permutation(len(probability))
    cumulative = np.cumsum(probability[order])
    cumulative *= n / cumulative[-1]
    points = rng.random() + np.arange(n)
    selected = order[np.searchsorted(cumulative, points, side="right")]
    return np.sort(selected), probability


# ------------------------------------------------------------------------------------------- truth


def _grouped_means(values: np.ndarray, groups: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    totals = np.bincount(groups, weights=values, minlength=len(labels))
    counts = np.bincount(groups, minlength=len(labels))
    return {label: round(float(totals[i] / counts[i]), 6) for i, label in enumerate(labels) if counts[i] > 0}


def population_truth(
    population: Population, codebook: Codebook, params: dict[str, Any]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Finite-population proportion agreeing with every Likert item, per instrument: overall, by tier, by
    authority type and by the primary maturity definition (development stage 3-4 = more mature).

    A population value is the mean, over every member of the population, of the model's probability
    that the member agrees given their latent values: the population's proportion in expectation over
    the answering noise, for respondents and nonrespondents alike.
    """
    elements = element_index(codebook)
    mature = (development_stage(population, params) >= 3).astype(np.int64)
    truth: dict[str, dict[str, dict[str, Any]]] = {}
    for instrument in INSTRUMENTS:
        people = members(population, instrument)
        tier = people.multi_tier.astype(np.int64)
        truth[instrument] = {}
        for variable in codebook.likert_items(instrument):
            agree = likert_agree_probability(variable, people, params, elements)
            truth[instrument][variable.name] = {
                "overall": round(float(agree.mean()), 6),
                "by_tier": _grouped_means(agree, tier, ("single", "multi")),
                "by_authority_type": _grouped_means(
                    agree, people.authority.astype(np.int64), AUTHORITY_TYPES
                ),
                "by_maturity_development_stage": _grouped_means(
                    agree, mature[people.lsp], ("less mature", "more mature")
                ),
                "reverse": variable.reverse,
            }
    return truth


def development_stage(population: Population, params: dict[str, Any]) -> np.ndarray:
    """The stage each LSP's coordinator would report (before item nonresponse)."""
    cut = np.asarray(params["cutpoints"]["development_stage"])
    return 1 + (population.stage_latent[:, None] > cut[None, :]).sum(axis=1)


def parameters_record(effects: PlantedEffects) -> dict[str, Any]:
    """Every fixed parameter and the planted effects, JSON-ready."""
    record = asdict(PARAMETERS)
    record = {
        key: ({str(k): v for k, v in value.items()} if isinstance(value, dict) else value)
        for key, value in record.items()
    }
    return {
        "fixed": record,
        "planted_effects": asdict(effects),
        "likert_thresholds": list(LIKERT_THRESHOLDS),
        "calibration_seed": CALIBRATION_SEED,
        "calibration_replicates": CALIBRATION_REPLICATES,
    }
