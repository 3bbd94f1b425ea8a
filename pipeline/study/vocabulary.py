"""The study's vocabulary, declared once: instruments, authority types and tiers, maturity, column names.

A leaf module on purpose (it imports only the leaf pipeline.core.config_choices): the simulator, the schemas,
every stage and every figure share these names, and importing them must not pull in the statistics stack.
"""

from __future__ import annotations

# The instruments and the maturity definitions are names config.yaml chooses among, so they are declared
# with the configuration's checks, below the study (pipeline.core.config_choices), and read from there.
from pipeline.core.config_choices import INSTRUMENTS as INSTRUMENTS
from pipeline.core.config_choices import MATURITY_DEFINITIONS as MATURITY_DEFINITIONS

# The order used in every table and figure: multi-tier types first, as in the report's tables.
AUTHORITY_TYPES = ("county", "shire_district", "metropolitan_district", "london_borough", "unitary")

# Which tier each authority type belongs to (the frame's SOURCES.md: single = London boroughs,
# metropolitan districts and unitaries; multi = counties and shire districts).
AUTHORITY_TIERS = {
    "county": "multi",
    "shire_district": "multi",
    "metropolitan_district": "single",
    "london_borough": "single",
    "unitary": "single",
}
SINGLE_TIER_TYPES = tuple(kind for kind in AUTHORITY_TYPES if AUTHORITY_TIERS[kind] == "single")
TIERS = ("single", "multi")

# The year the survey describes (years of joint working are counted to it).
SURVEY_YEAR = 2008

MORE_MATURE, LESS_MATURE = "more mature", "less mature"
MATURITY_LEVELS = (MORE_MATURE, LESS_MATURE)
# The composite definition leaves out the element being compared; an outcome outside the 7S scales has no
# element of its own, and is split by the composite that leaves out the first element (strategy), so that
# every outcome has exactly one maturity split.
COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES = "strategy"

# A scale score counts as "positive" when the respondent leans to agreement on average: closer to
# "agree" (4) than to "neither" (3).
SCALE_POSITIVE_FROM = 3.5

# Frame columns the analysis base carries, under the names the analysis uses.
FRAME_COLUMNS = {
    "authority_type": "authority_type",
    "tier": "tier",
    "region": "region",
    "laa_area_id": "laa_area_id",
    "laa_round": "laa_round",
    "imd2007_mean_lsoa_score_unweighted": "imd_score",
    "case_study_2008": "case_study_2008",
}


def scale_column(element: str) -> str:
    """The analysis base column holding a respondent's score on one 7S scale."""
    return f"scale_{element}"


def maturity_column(definition: str, element: str | None = None) -> str:
    """The analysis base column holding one maturity definition.

    The composite has one column per excluded element; ``element=None`` (an outcome outside the 7S
    scales) takes ``COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES``.
    """
    if definition == "composite_other_elements":
        return f"maturity__composite_excl_{element or COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES}"
    return f"maturity__{definition}"
