"""Calibration of the synthetic model: every intercept and cut-point solved so the model's expected values
meet the published targets (data/raw/published_targets.yaml) and the assumed levels where nothing is
published (data/raw/synthetic_parameters.yaml).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from pipeline.core.codebook import Codebook, Variable
from pipeline.core.errors import PipelineError
from pipeline.core.paths import relative_to_root
from pipeline.study.targets import Target, TargetFile
from pipeline.study.vocabulary import AUTHORITY_TYPES, INSTRUMENTS
from pipeline.synthetic.answers import (
    binary_probability,
    element_index,
    expected_share,
    intercept_groups,
    research_location,
)
from pipeline.synthetic.parameters import (
    CALIBRATION_REPLICATES,
    CALIBRATION_SEED,
    DEFAULT_PARAMETERS_PATH,
    PARAMETERS,
    PlantedEffects,
)
from pipeline.synthetic.population import Members, Population, draw_population, members, replicate_frame
from pipeline.synthetic.truth import population_truth


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
        # What does not depend on the intercept is selected and scaled once, not at each of the solver's
        # steps (the same arrays, so the same sums).
        group_people = people[instrument]
        sign = -1.0 if variable.reverse else 1.0
        signed_favourability = sign * group_people.favourability[mask, elements[variable.element]]
        weight = group_people.weight[mask]

        def share(intercept: float) -> float:
            return _weighted_mean(expit(intercept + signed_favourability), weight)

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
            raise PipelineError(
                f"{relative_to_root(DEFAULT_PARAMETERS_PATH)}: no partner level for {variable.name}: add it "
                "to fixed.assumed_partner_agree (or publish a target for it in published_targets.yaml)"
            )
        params["likert"]["partner"][variable.name] = {
            group: _solve(likert_share("partner", variable, group, mask), level)
            for group, mask in group_masks.items()
        }
    for variable in codebook.likert_items("coordinator"):
        group_masks = intercept_groups("coordinator", variable.name, people["coordinator"])
        solved = {}
        for group, mask in group_masks.items():
            level = published_likert.get(("coordinator", variable.name, group))
            if level is None and "partner" not in variable.instruments:
                # Asked of coordinators only: there is no partner level to start from, so it is assumed.
                level = p.assumed_coordinator_agree.get(variable.name)
                if level is None:
                    raise PipelineError(
                        f"{relative_to_root(DEFAULT_PARAMETERS_PATH)}: no coordinator level for "
                        f"{variable.name} (asked of coordinators only): add it to "
                        "fixed.assumed_coordinator_agree "
                        "(or publish a target for it in published_targets.yaml)"
                    )
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
        sloped_trait = p.factual_slope[name] * group_people.lsp_traits[mask, elements[element]]
        weight = group_people.weight[mask]

        def share(intercept: float) -> float:
            return _weighted_mean(expit(intercept + sloped_trait), weight)

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
