"""The synthetic population's true values: what a perfect survey of every member would find."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.study.vocabulary import AUTHORITY_TYPES, INSTRUMENTS
from pipeline.synthetic.answers import element_index, likert_agree_probability
from pipeline.synthetic.population import Population, development_stage, members


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
