"""The synthetic model's parameters: the planted effects a validation study sets, and every fixed (assumed)
parameter, read from data/raw/synthetic_parameters.yaml (beside the published targets they are calibrated
with; the comments there say what each one is and docs/synthetic_model.md where its value comes from).

The calibrated intercepts and cut-points are not parameters: pipeline/synthetic/calibration.py solves them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, relative_to_root

DEFAULT_PARAMETERS_PATH = PROJECT_ROOT / "data" / "raw" / "synthetic_parameters.yaml"


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
    """Every fixed (assumed) parameter of the model (data/raw/synthetic_parameters.yaml, ``fixed``)."""

    maturity_imd_per_sd: float
    maturity_laa_first_round: float
    maturity_inner_urban: float
    element_residual_sd: float
    lsp_random_effect_sd: float
    respondent_sd: float
    respondent_element_sd: float
    coordinator_effect: float
    authority_effect: dict[str, float]
    sector_effect: dict[int, float]
    board_extra_mean: dict[str, float]
    sector_shares: dict[int, float]
    coordinator_propensity: dict[str, float]
    partner_propensity: dict[str, float]
    partner_response_frailty_sd: float
    likert_missing: dict[str, tuple[float, float]]
    other_missing: tuple[float, float]
    group_not_answered: float
    comment_rate: dict[str, float]
    stage_slope: float
    stage_shares: tuple[float, ...]
    factual_slope: dict[str, float]
    assumed_binary_levels: dict[str, dict[str, dict[str, float]]]
    resources_mapped_yes_or_partly: float
    research_band_shares_not_joint: tuple[float, ...]
    assumed_partner_agree: dict[str, float]
    chair_shares: dict[int, float]
    assumed_coordinator_agree: dict[str, float]


@dataclass(frozen=True)
class ModelSettings:
    """The whole parameter file: the fixed parameters and the model's structural constants."""

    fixed: ModelParameters
    # Cumulative-logit thresholds of the agree scale, relative to the item intercept.
    likert_thresholds: tuple[float, ...]
    # The calibration population: a seed of its own and how many copies of the frame it holds.
    calibration_seed: int
    calibration_replicates: int


def _as_tuples(value: Any) -> Any:
    """YAML lists as tuples, inside mappings too (the dataclass declares tuples: immutable parameters)."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return {key: _as_tuples(item) for key, item in value.items()}
    return value


def load_parameters(path: Path = DEFAULT_PARAMETERS_PATH) -> ModelSettings:
    """Read the parameter file; a missing, unreadable or incomplete file stops the run with one line."""
    name = relative_to_root(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{name}: synthetic model parameters not found") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{name}: not valid YAML ({error})") from None
    expected = {"fixed", *(field.name for field in fields(ModelSettings))}
    if not isinstance(raw, dict) or set(raw) != expected or not isinstance(raw["fixed"], dict):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise PipelineError(f"{name}: expected the keys {sorted(expected)}, found {found}")
    declared = [field.name for field in fields(ModelParameters)]
    missing = [key for key in declared if key not in raw["fixed"]]
    unknown = [key for key in raw["fixed"] if key not in declared]
    if missing or unknown:
        raise PipelineError(f"{name}: fixed parameters missing {missing}, unknown {unknown}")
    # The dataclass's field order, whatever the file's: the order is part of the recorded parameters.
    fixed = ModelParameters(**{key: _as_tuples(raw["fixed"][key]) for key in declared})
    return ModelSettings(
        fixed=fixed,
        likert_thresholds=tuple(float(value) for value in raw["likert_thresholds"]),
        calibration_seed=int(raw["calibration_seed"]),
        calibration_replicates=int(raw["calibration_replicates"]),
    )


SETTINGS = load_parameters()
PARAMETERS = SETTINGS.fixed
LIKERT_THRESHOLDS = SETTINGS.likert_thresholds
CALIBRATION_SEED = SETTINGS.calibration_seed
CALIBRATION_REPLICATES = SETTINGS.calibration_replicates


def parameters_record(effects: PlantedEffects) -> dict[str, Any]:
    """Every fixed parameter and the planted effects, JSON-ready."""
    record = asdict(PARAMETERS)
    if not record["assumed_coordinator_agree"]:
        # Recorded once it holds a level, so exports made before the key existed are reproduced byte for byte.
        del record["assumed_coordinator_agree"]
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
