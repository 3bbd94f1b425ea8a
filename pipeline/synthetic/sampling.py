"""Unit nonresponse in the synthetic survey: who answers, drawn by systematic PPS on response propensity."""

from __future__ import annotations

import numpy as np

from pipeline.core.errors import PipelineError


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
