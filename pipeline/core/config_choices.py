"""The names a config.yaml value must be one of where it names a part of the study: the instruments and
the maturity definitions (the weighting methods are pipeline.core.weighting_spec's).

Declared here, where the configuration is checked, because core imports nothing above it; the study's
vocabulary (pipeline.study.vocabulary) re-exports them, so each is still declared once. A leaf: it imports
nothing.
"""

from __future__ import annotations

# The two questionnaires, in the order every table shows them.
INSTRUMENTS = ("coordinator", "partner")

# How "more mature" can be defined (docs/maturity.md); config.yaml picks the primary one.
MATURITY_DEFINITIONS = (
    "development_stage",
    "years_joint_working",
    "laa_first_round",
    "composite_other_elements",
)
