"""Column groups several outputs share: the result row, the suppression flag, a figure's estimate row."""

from __future__ import annotations

from pipeline.study.outputs.model import Column
from pipeline.study.vocabulary import INSTRUMENTS

FAVOURABLE_SIGN = (
    "favourable_sign",
    "number",
    "+1 when agreement is the favourable answer, -1 for reverse-worded items (codebook `reverse`), empty "
    "where no direction applies; estimate x favourable_sign > 0 means the first group is ahead",
)


def columns(*specs: tuple[str, str, str] | Column) -> tuple[Column, ...]:
    # A spec may already be a Column (a shared group such as COMPARISON_SIZES spliced in).
    return tuple(spec if isinstance(spec, Column) else Column(*spec) for spec in specs)


DATA = ("data", "text", "SYNTHETIC when the table was built from the synthetic survey, else survey")
INSTRUMENT = ("instrument", "text", f"whose answers: {' or '.join(INSTRUMENTS)} (the two questionnaires)")
SUPPRESSED = (
    "suppressed",
    "text",
    "empty when published; otherwise why the row's numbers were blanked (disclosure control: primary, "
    "fewer than disclosure.min_cell respondents; secondary, would reveal a suppressed level by subtraction)",
)
RESULT = columns(
    DATA,
    INSTRUMENT,
    ("item", "text", "the codebook variable (or 7S scale) the row is about"),
    ("item_label", "text", "the variable's short label from the codebook"),
    ("element", "text", "the 7S element the item belongs to; empty for items outside the 7S scales"),
    (
        "measure",
        "text",
        "what is estimated: agree (share agreeing or strongly agreeing), positive (share of scale scores "
        "of 3.5 or more), mean (mean score), yes, a choice code, or ordinal (the whole 1-5 distribution)",
    ),
    ("group", "text", "the breakdown: all, tier, authority_type or maturity"),
    (
        "level",
        "text",
        "the breakdown's level (single, multi, an authority type, more mature, less mature) or, for a "
        "comparison, which groups are compared (e.g. multi - single)",
    ),
    (
        "weighting",
        "text",
        "weighted (the design weights: post-stratified to the frame's authority types) or unweighted "
        "(every respondent counts once: a sensitivity check)",
    ),
    ("n", "integer", "unweighted number of respondents the row rests on"),
    ("estimate", "number", "the estimate: a proportion (0-1), a mean score, or a difference of them"),
    ("se", "number", "its design-based (linearisation) standard error"),
    (
        "ci_low",
        "number",
        "lower end of its 95% confidence interval (logit interval for a proportion; t quantile on df)",
    ),
    ("ci_high", "number", "upper end of its 95% confidence interval"),
    ("deff", "number", "design effect: its variance over that of simple random sampling of the same size"),
    (
        "test",
        "text",
        "the test: difference (design-based t), Rao-Scott F (second-order corrected chi-square), or "
        "proportional-odds regression (Wald z); empty for a level",
    ),
    ("statistic", "number", "the test statistic (t, F or z)"),
    (
        "df",
        "number",
        "degrees of freedom of the test and interval (numerator df for F; for t and a level, the "
        "design's or the estimate's own Bell-McCaffrey df, as weighting.interval_df says)",
    ),
    ("df2", "number", "denominator degrees of freedom of a Rao-Scott F"),
    ("p", "number", "two-sided p-value of the test"),
    (
        "p_fdr",
        "number",
        "Benjamini-Hochberg adjusted p-value (false-discovery-rate control within fdr_family)",
    ),
    (
        "fdr_family",
        "text",
        "the family the FDR adjustment runs over: group | instrument | test | weighting",
    ),
    (
        "effect_name",
        "text",
        "which effect size: difference in proportion, standardised mean difference, odds ratio or Cramér's V",
    ),
    ("effect_size", "number", "the effect size named in effect_name"),
    ("effect_ci_low", "number", "lower end of the effect size's 95% confidence interval"),
    ("effect_ci_high", "number", "upper end of the effect size's 95% confidence interval"),
)
COMPARISON_SIZES = columns(
    ("n_a", "integer", "unweighted respondents in the first group compared (e.g. multi-tier)"),
    ("n_b", "integer", "unweighted respondents in the second group compared (e.g. single-tier)"),
)
SMALLER = columns(("n_smaller_group", "integer", "the smaller of n_a and n_b: it decides disclosure"))
ESTIMATE_ROW = columns(
    ("measure", "text", "what is estimated (see estimates.measure)"),
    ("group", "text", "the breakdown (all, tier, authority_type, maturity)"),
    ("level", "text", "the breakdown's level"),
    ("weighting", "text", "weighted or unweighted"),
    ("n", "integer", "unweighted respondents"),
    ("estimate", "number", "the estimate (proportion 0-1 or mean score)"),
    ("ci_low", "number", "lower end of its 95% confidence interval"),
    ("ci_high", "number", "upper end of its 95% confidence interval"),
)
ESTIMATE_FIGURE = (
    *columns(
        ("panel", "text", "the figure panel the bar is drawn in"),
        ("row", "text", "the bar's label in the figure"),
        INSTRUMENT,
        ("item", "text", "the codebook variable"),
        ("item_label", "text", "its short label"),
    ),
    *ESTIMATE_ROW,
    *columns(SUPPRESSED),
)
LIKERT_FIGURE = columns(
    ("element", "text", "the 7S element of the chart"),
    INSTRUMENT,
    ("group", "text", "the comparison the chart splits by: tier or maturity"),
    ("group_level", "text", "the group of the bar (single/multi tier, more/less mature)"),
    ("facet", "text", "the chart panel (instrument and group level)"),
    ("item", "text", "the Likert item"),
    ("item_label", "text", "its short label"),
    ("category", "text", "answer category (strongly_disagree ... strongly_agree, dont_know)"),
    ("category_label", "text", "the category as the chart labels it"),
    ("respondents", "integer", "respondents in the bar's group who answered the item"),
    ("n", "integer", "respondents choosing the category"),
    (
        "percentage",
        "number",
        "weighted per cent choosing the category, of those answering (don't know apart)",
    ),
    ("segment_start", "number", "where the category's segment starts on the diverging axis (per cent)"),
    ("segment_end", "number", "where it ends"),
    SUPPRESSED,
)
