"""The generative model behind the synthetic survey: a finite population of LSPs and board members,
unit nonresponse, and answers from cumulative-logit models calibrated to the report's published figures.

One module per part (this one names them and gives their public names in one place):
- parameters.py: the planted effects and the fixed parameters (data/raw/synthetic_parameters.yaml);
- population.py: the population, its latent values and response propensities;
- answers.py: each item's answer probabilities and a target's expected value;
- calibration.py: the intercepts and cut-points solved to meet the published targets;
- sampling.py: who responds (systematic PPS);
- truth.py: the population's true values.
The published targets are read by pipeline/study/targets.py, the one reader of that file.

Everything is vectorised over respondents (loops run over items, elements and targets only), so the
model scales to 1000 times the bundled size. The equations, every parameter and where its value comes
from are in docs/synthetic_model.md. Nothing this model produces is the Audit Commission's data.
"""

from __future__ import annotations

from pipeline.study.targets import DEFAULT_TARGETS_PATH, Target, TargetFile, load_targets
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.synthetic.answers import (
    binary_probability,
    code_probabilities,
    cumulative_probabilities,
    element_index,
    expected_share,
    intercept_groups,
    likert_agree_probability,
    likert_predictor,
    research_location,
)
from pipeline.synthetic.calibration import DIRECTION_GROUPS, calibrate, direction_difference
from pipeline.synthetic.parameters import (
    CALIBRATION_REPLICATES,
    CALIBRATION_SEED,
    LIKERT_THRESHOLDS,
    PARAMETERS,
    ModelParameters,
    PlantedEffects,
    load_parameters,
    parameters_record,
)
from pipeline.synthetic.population import (
    PARA57_HIGH_GROUP,
    Members,
    Population,
    development_stage,
    draw_population,
    members,
    replicate_frame,
)
from pipeline.synthetic.sampling import inclusion_probabilities, systematic_pps
from pipeline.synthetic.truth import population_truth

__all__ = [
    "CALIBRATION_REPLICATES",
    "CALIBRATION_SEED",
    "DEFAULT_TARGETS_PATH",
    "DIRECTION_GROUPS",
    "INSTRUMENTS",
    "LIKERT_THRESHOLDS",
    "PARA57_HIGH_GROUP",
    "PARAMETERS",
    "Members",
    "ModelParameters",
    "PlantedEffects",
    "Population",
    "Target",
    "TargetFile",
    "binary_probability",
    "calibrate",
    "code_probabilities",
    "cumulative_probabilities",
    "development_stage",
    "direction_difference",
    "draw_population",
    "element_index",
    "expected_share",
    "inclusion_probabilities",
    "intercept_groups",
    "likert_agree_probability",
    "likert_predictor",
    "load_parameters",
    "load_targets",
    "members",
    "parameters_record",
    "population_truth",
    "replicate_frame",
    "research_location",
    "systematic_pps",
]
