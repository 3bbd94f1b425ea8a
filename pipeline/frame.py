"""The sampling frame's fixed vocabulary: authority types, their tiers and the order they are shown in.

A light module on purpose (no pandas, no scipy): the simulator, the schemas, the analysis and every figure
share these names, and importing them must not pull in the statistics stack.
"""

from __future__ import annotations

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
