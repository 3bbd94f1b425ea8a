"""Every figure: its module, inputs, the recomputation that verifies it, its columns and description."""

from __future__ import annotations

from typing import Any

from pipeline.study.outputs.columns import (
    COMPARISON_SIZES,
    ESTIMATE_FIGURE,
    ESTIMATE_ROW,
    INSTRUMENT,
    LIKERT_FIGURE,
    SUPPRESSED,
    columns,
)
from pipeline.study.outputs.model import (
    BASE,
    COMPARISONS,
    ESTIMATES,
    FRAME,
    LIKERT_GROUPS,
    PUBLISHED,
    Figure,
)

# What each chart shows, in a sentence: with the title it is the figure's alt text in the report.
LIKERT_DESCRIPTION = (
    "Diverging bars give the weighted per cent of each answer, from strongly disagree to strongly agree, for "
    "every {element_label} item, {compared}, with don't know beside them."
)
LIKERT_COMPARED = {
    "tier": "single-tier against multi-tier areas",
    "maturity": "more mature against less mature LSPs",
}
# The report's own charts, redrawn from the estimates table.
ESTIMATE_CHART_DESCRIPTIONS = {
    "challenge": (
        "Points with 95% intervals give the weighted per cent agreeing that members challenge each other's "
        "performance, coordinators against partners and by authority type."
    ),
    "financial_influence": (
        "Points with 95% intervals give the weighted per cent agreeing that the LSP influences financial "
        "resources, coordinators against partners."
    ),
    "barriers": (
        "Points with 95% intervals give the weighted per cent selecting each barrier to success, "
        "coordinators and partners."
    ),
    "support_costs_known": (
        "Points with 95% intervals give the weighted per cent saying the support team's costs are known, "
        "coordinators and partners."
    ),
    "resources_mapped": (
        "Points with 95% intervals give the weighted share of each answer on whether the area's resources "
        "have been mapped, overall and by authority type."
    ),
    "support_team_composition": (
        "Points with 95% intervals give the weighted per cent answering yes to the support-team questions, "
        "overall and by authority type."
    ),
}

COUNTS_RESPONDENTS = ("barriers",)


def figures(codebook: Any) -> tuple[Figure, ...]:
    """Every figure, in build order; a Likert figure for each 7S element of the codebook and each group."""
    specs = [
        Figure(
            "coverage",
            "coverage",
            (BASE, FRAME),
            "coverage",
            columns(
                INSTRUMENT,
                ("breakdown", "text", "the frame variable (authority_type, tier, region)"),
                ("level", "text", "its level"),
                ("lsps_in_frame", "integer", "LSPs of that level in the frame"),
                ("lsps_responding", "integer", "of them, LSPs with at least one respondent"),
                ("respondents", "integer", "respondents from those LSPs"),
                ("response_rate", "number", "lsps_responding / lsps_in_frame"),
                SUPPRESSED,
            ),
            description=(
                "Bars give the per cent of the frame's LSPs with a responding coordinator and with at least "
                "one responding board partner, by authority type and by region."
            ),
        )
    ]
    for element in codebook.elements:
        for group in LIKERT_GROUPS:
            specs.append(
                Figure(
                    f"likert_{element}_{group}",
                    "likert",
                    (BASE, FRAME),
                    "likert",
                    LIKERT_FIGURE,
                    {"element": element, "group": group},
                    description=LIKERT_DESCRIPTION.format(
                        element_label=codebook.elements[element].lower(), compared=LIKERT_COMPARED[group]
                    ),
                )
            )
    for name, description in ESTIMATE_CHART_DESCRIPTIONS.items():
        # The barriers chart counts the respondents who answered its question, once each, from the base.
        inputs = (ESTIMATES, BASE) if name in COUNTS_RESPONDENTS else (ESTIMATES,)
        specs.append(Figure(name, name, inputs, "estimates", ESTIMATE_FIGURE, description=description))
    specs += [
        Figure(
            "forest",
            "forest",
            (COMPARISONS,),
            "differences",
            columns(
                INSTRUMENT,
                ("item", "text", "the item or scale"),
                ("item_label", "text", "its short label"),
                ("element", "text", "its 7S element"),
                ("group", "text", "tier or maturity"),
                ("level", "text", "which groups are compared"),
                ("weighting", "text", "weighted"),
                ("test", "text", "difference (design-based t)"),
                ("n", "integer", "respondents in both groups"),
                *COMPARISON_SIZES,
                ("estimate", "number", "the difference in share agreeing"),
                ("ci_low", "number", "lower end of its 95% confidence interval"),
                ("ci_high", "number", "upper end of its 95% confidence interval"),
                ("p", "number", "two-sided p-value"),
                ("p_fdr", "number", "Benjamini-Hochberg adjusted p-value"),
                ("significant_fdr", "boolean", "p_fdr < 0.05"),
                SUPPRESSED,
            ),
            description=(
                "Each point is a difference in the per cent agreeing with one item, with its 95% interval: "
                "multi-tier minus single-tier and more mature minus less mature; filled points are "
                "significant after FDR control."
            ),
        ),
        Figure(
            "maturity_profile",
            "maturity_profile",
            (ESTIMATES,),
            "estimates",
            columns(
                ("panel", "text", "the figure panel"),
                ("element_label", "text", "the 7S element"),
                INSTRUMENT,
                ("item", "text", "the scale"),
                ("item_label", "text", "its label"),
            )
            + ESTIMATE_ROW
            + columns(SUPPRESSED),
            description=(
                "Points with 95% intervals give the mean score of each 7S scale for more mature and less "
                "mature LSPs, coordinators and partners."
            ),
        ),
        Figure(
            "case_studies",
            "case_studies",
            (FRAME,),
            "frame_profile",
            columns(
                (
                    "characteristic",
                    "text",
                    "the frame variable (authority_type, region, imd_quintile, laa_round)",
                ),
                ("level", "text", "its level"),
                ("population", "text", "All LSPs, or the report's case-study LSPs"),
                ("lsps", "integer", "LSPs of that level in the population"),
                ("total", "integer", "LSPs in the population"),
                ("percent", "number", "100 * lsps / total"),
            ),
            description=(
                "Bars compare the share of the report's case-study LSPs and of all LSPs in the frame in each "
                "authority type, tier, region and deprivation quintile."
            ),
        ),
        Figure(
            "published",
            "published",
            (PUBLISHED,),
            "published",
            columns(
                ("published_id", "text", "the report's figure or paragraph"),
                ("quantity_key", "text", "the quantity's key in published_targets.yaml"),
                ("quantity", "text", "what it is"),
                INSTRUMENT,
                ("published", "text", "the value as printed"),
                ("published_value", "number", "as a proportion"),
                ("bounds_low", "number", "for a chart read by eye, the lower bound of the value"),
                ("bounds_high", "number", "the upper bound"),
                ("n", "integer", "unweighted respondents behind our estimate"),
                ("estimate", "number", "our weighted estimate"),
                ("ci_low", "number", "lower end of its 95% confidence interval"),
                ("ci_high", "number", "upper end of its 95% confidence interval"),
                ("published_in_ci", "boolean", "whether the published value lies in our interval"),
            ),
            description=(
                "Each published number is drawn beside this pipeline's estimate and its 95% interval."
            ),
        ),
        Figure(
            "nonresponse",
            "nonresponse",
            (BASE, FRAME),
            "nonresponse",
            columns(
                (
                    "instrument",
                    "text",
                    "coordinator: the coordinator answered; partner: at least one partner did",
                ),
                ("variable", "text", "the categorical frame variable"),
                ("level", "text", "its level"),
                ("frame_lsps", "integer", "LSPs of the level in the frame"),
                ("responding_lsps", "integer", "of them, LSPs that responded"),
                ("response_rate", "number", "100 * responding_lsps / frame_lsps"),
                ("overall_rate", "number", "per cent of all LSPs in the frame that responded"),
                SUPPRESSED,
            ),
            description=(
                "Bars give the share of the frame's LSPs that responded, coordinators and LSPs sending "
                "board partners, at each level of the frame variables the weighting uses, beside the "
                "overall rate."
            ),
        ),
    ]
    return tuple(specs)
