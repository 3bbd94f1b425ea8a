"""The synthetic finite population: every LSP of the frame (or of a replicated frame) with its latent
maturity and traits, its board of potential partner respondents, and their response propensities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.study.vocabulary import AUTHORITY_TYPES, SURVEY_YEAR
from pipeline.synthetic.parameters import PARAMETERS, PlantedEffects

# The authority types of para 57's higher group (counties, metropolitan districts, London boroughs).
PARA57_HIGH_GROUP = ("county", "metropolitan_district", "london_borough")


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


def development_stage(population: Population, params: dict[str, Any]) -> np.ndarray:
    """The stage each LSP's coordinator would report (before item nonresponse)."""
    cut = np.asarray(params["cutpoints"]["development_stage"])
    return 1 + (population.stage_latent[:, None] > cut[None, :]).sum(axis=1)
