"""The synthetic answers' probability models: each item's probability of each code for each member, and a
published target's expected value under them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from pipeline.core.codebook import Codebook, Variable
from pipeline.study.targets import Target
from pipeline.study.vocabulary import AUTHORITY_TYPES
from pipeline.synthetic.parameters import LIKERT_THRESHOLDS, PARAMETERS
from pipeline.synthetic.population import Members


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
