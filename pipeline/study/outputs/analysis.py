"""The analyse stage's tables: estimates, comparisons, maturity sensitivity, power, published against
reproduced, the summary and the manifest."""

from __future__ import annotations

from pipeline.study.outputs.columns import (
    COMPARISON_SIZES,
    DATA,
    FAVOURABLE_SIGN,
    INSTRUMENT,
    RESULT,
    SMALLER,
    SUPPRESSED,
    columns,
)
from pipeline.study.outputs.model import Output
from pipeline.study.vocabulary import MATURITY_DEFINITIONS


def analysis_tables() -> tuple[Output, ...]:
    """The analyse stage's tables, in the order the registry lists them."""
    result_columns = RESULT + columns(SUPPRESSED)
    return (
        Output(
            "estimates",
            "tables",
            "estimates.csv",
            "analyse",
            "pipeline.stages.analyse:estimates",
            "Design-based estimates (levels) of every item and scale: overall and by tier, authority type "
            "and maturity, weighted and unweighted; descriptive, for the LSPs of 2008 in the frame.",
            inputs=("analysis_base", "frame"),
            columns=result_columns,
        ),
        Output(
            "comparisons",
            "tables",
            "comparisons.csv",
            "analyse",
            "pipeline.stages.analyse:comparisons",
            "Multi- against single-tier and more against less mature: differences, Rao-Scott and "
            "proportional-odds tests, effect sizes, FDR-adjusted p-values.",
            inputs=("analysis_base", "frame"),
            columns=RESULT
            + COMPARISON_SIZES
            + columns(
                FAVOURABLE_SIGN,
                (
                    "inference",
                    "text",
                    "descriptive: a difference of the LSPs of 2008 in the frame (fpc where declared)",
                ),
            )
            + SMALLER
            + columns(SUPPRESSED),
        ),
        Output(
            "maturity_sensitivity",
            "tables",
            "maturity_sensitivity.csv",
            "analyse",
            "pipeline.stages.analyse:maturity_sensitivity",
            "The maturity difference of every proportion under every maturity definition.",
            inputs=("analysis_base", "frame"),
            columns=RESULT
            + columns(
                ("definition", "text", f"the maturity definition: one of {', '.join(MATURITY_DEFINITIONS)}"),
                ("primary", "boolean", "whether it is the configured primary definition (maturity.primary)"),
            )
            + COMPARISON_SIZES
            + columns(
                (
                    "same_direction_as_primary",
                    "boolean",
                    "whether the difference has the sign it has under the primary definition",
                ),
                ("significant_fdr", "boolean", "whether p_fdr < 0.05 within this definition"),
            )
            + SMALLER
            + columns(SUPPRESSED),
        ),
        Output(
            "power",
            "tables",
            "power.csv",
            "analyse",
            "pipeline.stages.analyse:power_table",
            "The smallest difference in proportion each headline comparison could detect.",
            inputs=("analysis_base",),
            columns=columns(
                INSTRUMENT,
                ("group", "text", "the comparison: tier or maturity"),
                ("level", "text", "which groups are compared"),
                ("n_a", "integer", "respondents in the first group"),
                ("n_b", "integer", "respondents in the second group"),
                ("deff", "number", "the median design effect of the instrument's proportions, assumed"),
                ("p_baseline", "number", "the proportion assumed in the second group"),
                ("alpha", "number", "two-sided significance level"),
                ("power", "number", "the power asked for"),
                (
                    "minimum_detectable_difference",
                    "number",
                    "the smallest detectable difference in proportion",
                ),
                DATA,
            ),
        ),
        Output(
            "published_vs_reproduced",
            "tables",
            "published_vs_reproduced.csv",
            "analyse",
            "pipeline.study.published:published_vs_reproduced",
            "Every number the report publishes beside our estimate of it, or why none is made.",
            inputs=("analysis_base", "dataset.published_targets", "comparisons"),
            columns=columns(
                DATA,
                ("published_id", "text", "the report's figure or paragraph"),
                ("quantity_key", "text", "the quantity's key in published_targets.yaml"),
                ("quantity", "text", "what the quantity is, in words"),
                INSTRUMENT,
                ("variable", "text", "the codebook variable it is estimated from"),
                ("published", "text", "the value as the report prints it"),
                ("published_value", "number", "that value as a proportion, where it is one"),
                ("value_basis", "text", "published (the report gives it) or read (read off a chart)"),
                ("bounds", "text", "for a chart read by eye, the interval the value lies in"),
                ("n", "integer", "unweighted respondents behind our estimate"),
                ("estimate", "number", "our weighted estimate"),
                ("ci_low", "number", "lower end of its 95% confidence interval"),
                ("ci_high", "number", "upper end of its 95% confidence interval"),
                ("unweighted_estimate", "number", "our unweighted estimate"),
                ("difference", "number", "estimate - published_value"),
                ("published_in_ci", "boolean", "whether the published value lies in our interval"),
                ("status", "text", "compared, or why not (not a target, suppressed, ...)"),
                ("reason", "text", "the reason in words"),
            ),
        ),
        Output(
            "summary",
            "tables",
            "summary.md",
            "analyse",
            "pipeline.stages.analyse:render_summary",
            "A readable Markdown rendering of the headline estimates and significant comparisons.",
            inputs=("estimates", "comparisons"),
        ),
    )


ANALYSIS_MANIFEST = Output(
    "analysis_manifest",
    "analysis",
    "manifest.json",
    "analyse",
    "pipeline.stages.analyse:main",
    "The designs, maturity definitions, disclosure rule and input hashes behind the tables.",
    inputs=("analysis_base",),
)
