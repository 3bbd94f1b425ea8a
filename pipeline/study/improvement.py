"""The LSP improvement tool's declarations: comparison groups, the rating rule and the report's advice.

Shared by the stage that writes the reference values and the page (pipeline/stages/improvement_tool.py)
and by ``lsp-rap profile`` (pipeline/study/profile.py); the page's script (pipeline/templates/
improvement_tool.js) applies the same rule to the same reference values, and a browser test holds the two
to 1e-9.

Comparison groups are fixed partitions of the frame's 388 LSPs (and of their respondents), like LG Inform's
comparison groups: tier, maturity, authority type, region, deprivation band. Only whole groups of a
partition are published, never their crossings, and the stage checks that no two published groups (nor
England and a group) differ by fewer than ``disclosure.min_cell`` respondents, so no subtraction of two
published aggregates describes a small set of people.

The rating. A partnership's score on an element is the mean of its respondents' scale scores (each
respondent's score is the mean of the element's items, reverse-worded ones flipped, given at least half
answered: the derive stage's rule). Its interval, ``mean +/- t * s_within / sqrt(n)``, treats the people
who answered as a sample of the partnership's board: ``s_within`` is the pooled within-LSP standard
deviation of scale scores in the national survey (a model-based interval, stated as such), so a board of
one or two gets a wide interval. The element is placed on the national distribution of respondents' scale
scores (design-based percentiles): red when the whole interval lies below the 25th percentile, green when
it lies above the 75th, amber otherwise; with fewer than ``MIN_RATED`` respondents it is not rated at all.
"""

from __future__ import annotations

from dataclasses import dataclass

# Fewer respondents than this on an element: the page shows the wide interval and a warning, no rating.
MIN_RATED = 3
PERCENTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# The page names the frame's LSPs (a picker that fills in a partnership's comparison groups from its
# authority type, tier, region and deprivation band, and the case-study LSPs like it) only for a frame of
# at most this many. The page's limit is 1 MB (PAGE_LIMIT_BYTES in pipeline/stages/improvement_tool.py):
# without the list it is about 220 KB whatever the frame's size (the groups are fixed), and each listed
# LSP adds about 170 bytes (England's 388 in 2008: 65 KB), so at this count it is about 470 KB, under half
# the limit; a picker of more names is no longer a list anyone reads either. Above it the partnership
# chooses its comparison groups by name, as it always can, and the page says why the list is missing.
# The rule depends on the frame's size alone: the same frame always gives the same page.
LSP_LIST_MAX = 1_500
CONFIDENCE = 0.95

RATING_RULE = (
    "Red: the whole interval of the partnership's score lies below England's 25th percentile. Green: it lies "
    "above the 75th percentile. Amber: anything else, including an interval that crosses either line. Not "
    f"rated: fewer than {MIN_RATED} people answered the element's questions. These colours are derived from "
    "the national survey's distribution; they are not the Audit Commission's own red, amber and green, which "
    "its LSP Improvement Tool left to the coordinator's judgement."
)
PLACEMENTS = {
    "below": "below England's 25th percentile",
    "middle": "between England's 25th and 75th percentiles",
    "above": "above England's 75th percentile",
}
PLACEMENTS_SHORT = {"below": "Below the 25th", "middle": "Middle half", "above": "Above the 75th"}


@dataclass(frozen=True)
class Partition:
    """One set of comparison groups: a column whose levels split the LSPs, and how to name them."""

    key: str
    label: str
    column: str
    levels: dict[str, str]


PARTITIONS = (
    Partition("tier", "Tier", "tier", {"single": "Single-tier areas", "multi": "Multi-tier areas"}),
    Partition(
        "maturity",
        "Maturity",
        "maturity",
        {"more mature": "More mature LSPs", "less mature": "Less mature LSPs"},
    ),
    Partition(
        "authority_type",
        "Authority type",
        "authority_type",
        {
            "county": "Counties",
            "shire_district": "Shire districts",
            "metropolitan_district": "Metropolitan districts",
            "london_borough": "London boroughs",
            "unitary": "Unitary authorities",
        },
    ),
    Partition(
        "region",
        "Region",
        "region",
        {
            name: name
            for name in (
                "North East",
                "North West",
                "Yorkshire and The Humber",
                "East Midlands",
                "West Midlands",
                "East of England",
                "London",
                "South East",
                "South West",
            )
        },
    ),
    Partition(
        "deprivation",
        "Deprivation band",
        "imd_band",
        {
            "1_least_deprived": "Least deprived third",
            "2_middle": "Middle third",
            "3_most_deprived": "Most deprived third",
        },
    ),
)

# What the report recommends for each element, in the words of docs/reference/report-digest.md (a paraphrase
# of the stored public copies of *Working better together?*), each with its source key and address.
# The LSP Performance Improvement Checklist (12 pp.) is one of the report's companion products, but its
# contents could not be retrieved (digest, section (g)), so its themes are not reproduced; these are the
# report's own recommendations and examples that address each element.
SOURCES = {
    "R3": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506003",
    "S0": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506000",
    "C11": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506011",
    "C19": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506019",
    "C27": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506027",
    "C38": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506038",
    "C40": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506040",
    "C48": "https://ppponline.affinitext.com/public/book?id=1575&toc_id=506048",
}
CHECKLIST_NOTE = (
    "The Audit Commission published an LSP Performance Improvement Checklist (12 pages, for LSP members and "
    "coordinators) with this report; its text could not be retrieved, so the points below are the report's "
    "own recommendations and examples for this element, as paraphrased in the project's digest of the report."
)
ADVICE: dict[str, tuple[tuple[str, str], ...]] = {
    "strategy": (
        (
            "Monitor achievements against a regularly updated SCS and LAA (recommendation to local "
            "partners).",
            "R3",
        ),
        (
            "Every element of the 7S framework should serve the sustainable community strategy (para 32).",
            "C11",
        ),
    ),
    "staff_and_skills": (
        ("Engage elected members through training and stronger partnership scrutiny (recommendation).", "R3"),
        (
            "Table 2's examples: the ability and competence of political and officer leaders; the "
            "skills of LSP "
            "support staff.",
            "C11",
        ),
    ),
    "style": (
        (
            "A positive style (Figure 7): the chair sets a clear vision and encourages networking, "
            "performance "
            "challenge, trust and equality among board members; the council supports debate without "
            "dominating; meetings are strategic and ambitious; communication is clear; partners promote "
            "joint "
            "working.",
            "C19",
        ),
    ),
    "synergies": (
        ("Critically assess the costs and benefits of joint working (recommendation).", "R3"),
        (
            "Test current arrangements against notable practice, a whole-systems model, delivery chain "
            "analysis "
            "and social-networking tools (recommendation).",
            "R3",
        ),
    ),
    "steering": (
        (
            "Review progress, take decisions and challenge each other on the basis of performance and "
            "resource "
            "information (recommendation).",
            "R3",
        ),
        (
            "Most LSPs lack mechanisms for directing mainstream resources to SCS and LAA goals (key "
            "finding).",
            "S0",
        ),
        ("Mapping area resources should be proportionate (para 94).", "C27"),
    ),
    "standards": (
        (
            "Partners need performance measurement and reporting for shared objectives; common data-quality "
            "standards take time to build (key finding).",
            "S0",
        ),
        ("The Commission's six information principles (paras 120-124).", "C38"),
    ),
    "systems": (
        (
            "Make sure arrangements support all three layers: strategic, executive and operational "
            "(recommendation).",
            "R3",
        ),
        (
            "Table 9's self-assessment questions: support costs (policy, research, information, events, "
            "website), partner contributions and development budgets.",
            "C40",
        ),
        ("Planning and reporting cycles are not aligned nationally (key finding).", "S0"),
    ),
}


def placement(low: float, high: float, p25: float, p75: float) -> str:
    """Where an interval lies against England's quartiles: below, above, or middle (anything else)."""
    if high < p25:
        return "below"
    if low > p75:
        return "above"
    return "middle"


def rating(n: int, where: str) -> str:
    """Red, amber or green from the placement; not rated with fewer than MIN_RATED respondents."""
    if n < MIN_RATED:
        return "not rated"
    return {"below": "red", "above": "green"}.get(where, "amber")
