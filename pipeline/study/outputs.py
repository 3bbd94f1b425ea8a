"""The registry of every output: each table and figure declared once, with its stage, maker and columns.

From this one declaration come the report's output index, ``make verify``'s choice of recomputation
(``Figure.verify_kind``), the pandera schema every analysis table is checked against when it is written
(``table_schema``), the generated data dictionary ``docs/outputs.md`` (``python -m pipeline outputs``), and
the tests that hold the Makefile's target lists and a real ``make all`` to exactly this set.

A leaf of the study layer: it imports no plotting library and no statistics, so listing outputs is cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from pipeline.study.vocabulary import (
    FRAME_COLUMNS,
    INSTRUMENTS,
    LESS_MATURE,
    MATURITY_DEFINITIONS,
    MORE_MATURE,
    SCALE_POSITIVE_FROM,
    maturity_column,
    scale_column,
)

# Where an output lives: the configured folder it is written to (config.yaml keys), so a registry path is
# the same whatever those folders are.
LOCATIONS = {
    "processed": "processed_dir",
    "analysis": "analysis_dir",
    "tables": "analysis_dir/tables",
    "figures": "figures_dir",
}
COLUMN_KINDS = ("text", "integer", "number", "boolean")


@dataclass(frozen=True)
class Column:
    """One column of an output: its name, what its values are (``COLUMN_KINDS``) and what it means."""

    name: str
    kind: str
    description: str
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column {self.name}: kind {self.kind!r} is not one of {COLUMN_KINDS}")


@dataclass(frozen=True)
class Output:
    """One file the pipeline writes.

    ``maker`` is ``module:function`` (the function that builds the content); ``inputs`` name the files it
    is made from (other outputs by name, raw inputs by their config key); ``columns`` is ``None`` for files
    that are not tables (manifests, the report) and for tables whose columns are the codebook's variables
    (``codebook_columns``).
    """

    name: str
    location: str
    filename: str
    stage: str
    maker: str
    description: str
    inputs: tuple[str, ...] = ()
    columns: tuple[Column, ...] | None = None
    codebook_columns: bool = False

    def __post_init__(self) -> None:
        if self.location not in LOCATIONS:
            raise ValueError(
                f"output {self.name}: location {self.location!r} is not one of {tuple(LOCATIONS)}"
            )
        if ":" not in self.maker:
            raise ValueError(f"output {self.name}: maker must be module:function, got {self.maker!r}")

    @property
    def module(self) -> str:
        return self.maker.split(":")[0]

    @property
    def function(self) -> str:
        return self.maker.split(":")[1]


@dataclass(frozen=True)
class Figure:
    """One figure: four files (png, svg, the plotted numbers as csv, the caption) drawn by one module.

    ``module`` is under ``pipeline.figures`` and exposes ``build(inputs, **params)``; ``verify_kind`` names
    the independent recomputation ``make verify`` applies to the figure's csv (``pipeline.checks.verify``).
    """

    name: str
    module: str
    inputs: tuple[str, ...]
    verify_kind: str
    columns: tuple[Column, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def maker(self) -> str:
        return f"pipeline.figures.{self.module}:build"

    def build(self, inputs: Any) -> Any:
        """Draw the figure (imports its module, and so the plotting library, only now)."""
        module = importlib.import_module(f"pipeline.figures.{self.module}")
        return module.build(inputs, **self.params)


FIGURE_SUFFIXES = ("png", "svg", "csv", "caption.txt")
# What make verify knows how to recompute (pipeline.checks.verify.CHECKS has one function for each).
VERIFY_KINDS = ("estimates", "likert", "differences", "coverage", "frame_profile", "published", "nonresponse")
# Inputs a figure can read; the Makefile lists the same files as the figure rule's prerequisites.
BASE, FRAME, ESTIMATES, COMPARISONS, PUBLISHED = "base", "frame", "estimates", "comparisons", "published"
FIGURE_INPUT_OUTPUTS = {
    BASE: "analysis_base",
    FRAME: "frame",
    ESTIMATES: "estimates",
    COMPARISONS: "comparisons",
    PUBLISHED: "published_vs_reproduced",
}
LIKERT_GROUPS = ("tier", "maturity")


_FAVOURABLE_SIGN = (
    "favourable_sign",
    "number",
    "+1 when agreement is the favourable answer, -1 for reverse-worded items (codebook `reverse`), empty "
    "where no direction applies; estimate x favourable_sign > 0 means the first group is ahead",
)


def _columns(*specs: tuple[str, str, str] | Column) -> tuple[Column, ...]:
    # A spec may already be a Column (a shared group such as _COMPARISON_SIZES spliced in).
    return tuple(spec if isinstance(spec, Column) else Column(*spec) for spec in specs)


_DATA = ("data", "text", "SYNTHETIC when the table was built from the synthetic survey, else survey")
_INSTRUMENT = ("instrument", "text", f"whose answers: {' or '.join(INSTRUMENTS)} (the two questionnaires)")
_SUPPRESSED = (
    "suppressed",
    "text",
    "empty when published; otherwise why the row's numbers were blanked (disclosure control: primary, "
    "fewer than disclosure.min_cell respondents; secondary, would reveal a suppressed level by subtraction)",
)
_RESULT = _columns(
    _DATA,
    _INSTRUMENT,
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
    ("ci_low", "number", "lower end of its 95% confidence interval (logit interval for a proportion)"),
    ("ci_high", "number", "upper end of its 95% confidence interval"),
    ("deff", "number", "design effect: its variance over that of simple random sampling of the same size"),
    (
        "test",
        "text",
        "the test: difference (design-based t), Rao-Scott F (second-order corrected chi-square), or "
        "proportional-odds regression (Wald z); empty for a level",
    ),
    ("statistic", "number", "the test statistic (t, F or z)"),
    ("df", "number", "degrees of freedom of the test (numerator df for F; design df for t)"),
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
_COMPARISON_SIZES = _columns(
    ("n_a", "integer", "unweighted respondents in the first group compared (e.g. multi-tier)"),
    ("n_b", "integer", "unweighted respondents in the second group compared (e.g. single-tier)"),
)
_SMALLER = _columns(("n_smaller_group", "integer", "the smaller of n_a and n_b: it decides disclosure"))
_ESTIMATE_ROW = _columns(
    ("measure", "text", "what is estimated (see estimates.measure)"),
    ("group", "text", "the breakdown (all, tier, authority_type, maturity)"),
    ("level", "text", "the breakdown's level"),
    ("weighting", "text", "weighted or unweighted"),
    ("n", "integer", "unweighted respondents"),
    ("estimate", "number", "the estimate (proportion 0-1 or mean score)"),
    ("ci_low", "number", "lower end of its 95% confidence interval"),
    ("ci_high", "number", "upper end of its 95% confidence interval"),
)
_ESTIMATE_FIGURE = (
    *_columns(
        ("panel", "text", "the figure panel the bar is drawn in"),
        ("row", "text", "the bar's label in the figure"),
        _INSTRUMENT,
        ("item", "text", "the codebook variable"),
        ("item_label", "text", "its short label"),
    ),
    *_ESTIMATE_ROW,
    *_columns(_SUPPRESSED),
)
_LIKERT_FIGURE = _columns(
    ("element", "text", "the 7S element of the chart"),
    _INSTRUMENT,
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
    _SUPPRESSED,
)


def tables(codebook: Any) -> tuple[Output, ...]:
    """Every data file and table the stages write, in stage order."""
    responses = tuple(
        Output(
            f"responses_{instrument}",
            "processed",
            f"responses_{instrument}.parquet",
            "ingest",
            "pipeline.stages.ingest:ingest",
            f"Every {instrument} row of every configured export, as text in codebook columns, with "
            "source_file and source_row; nothing dropped.",
            inputs=("dataset.inputs", "dataset.codebook"),
            codebook_columns=True,
        )
        for instrument in INSTRUMENTS
    )
    valid = tuple(
        Output(
            f"valid_{instrument}",
            "processed",
            f"valid_{instrument}.parquet",
            "validate",
            "pipeline.stages.validate:validate",
            f"The {instrument} rows that passed every check, typed per the codebook.",
            inputs=(f"responses_{instrument}", "frame", "dataset.codebook"),
            codebook_columns=True,
        )
        for instrument in INSTRUMENTS
    )
    result_columns = _RESULT + _columns(_SUPPRESSED)
    return (
        *responses,
        Output(
            "ingest_repairs",
            "processed",
            "ingest_repairs.csv",
            "ingest",
            "pipeline.stages.ingest:ingest",
            "Every change ingest made to a cell (or warning it raised), so nothing is changed silently.",
            inputs=("dataset.inputs",),
            columns=_columns(
                ("file", "text", "the export, relative to the project root"),
                ("row", "integer", "the row in the file (1 = the header row)"),
                ("column", "text", "the codebook column"),
                ("original", "text", "the cell as read"),
                ("repaired", "text", "what it became"),
                ("kind", "text", "which repair or warning"),
            ),
        ),
        Output(
            "ingest_manifest",
            "processed",
            "manifest.json",
            "ingest",
            "pipeline.stages.ingest:ingest",
            "The inputs read (path, sha256, format, rows) and the code version.",
            inputs=("dataset.inputs",),
        ),
        *valid,
        Output(
            "rejected",
            "processed",
            "rejected.csv",
            "validate",
            "pipeline.stages.validate:validate",
            "One line per failed check of a rejected row.",
            inputs=tuple(f"responses_{i}" for i in INSTRUMENTS),
            columns=_columns(
                ("file", "text", "the export the row came from"),
                ("row", "integer", "the row in that file"),
                ("respondent_id", "text", "the respondent id as given (kept in this internal file only)"),
                _INSTRUMENT,
                ("column", "text", "the column that failed"),
                ("check", "text", "the check it failed"),
                ("value", "text", "the value that failed it"),
            ),
        ),
        Output(
            "validation_report",
            "processed",
            "validation_report.json",
            "validate",
            "pipeline.stages.validate:validate",
            "Per file: rows read = valid + rejected, and the failures by check.",
            inputs=tuple(f"responses_{i}" for i in INSTRUMENTS),
        ),
        Output(
            "analysis_base",
            "processed",
            "analysis_base.parquet",
            "derive",
            "pipeline.stages.derive:derive",
            "One row per valid respondent of either instrument: the answers, frame variables, 7S scale "
            "scores and every maturity definition.",
            inputs=(*(f"valid_{i}" for i in INSTRUMENTS), "frame"),
            codebook_columns=True,
            columns=analysis_base_columns(codebook),
        ),
        Output(
            "scale_reliability",
            "tables",
            "scale_reliability.csv",
            "derive",
            "pipeline.stages.derive:scale_reliability",
            "Cronbach's alpha of every 7S scale, per instrument.",
            inputs=("analysis_base",),
            columns=_columns(
                _DATA,
                ("element", "text", "the 7S element"),
                ("element_label", "text", "its label"),
                _INSTRUMENT,
                ("items", "text", "the scale's items (asked of both instruments), space separated"),
                ("reversed_items", "text", "those among them that are reverse-worded (scored 6 - answer)"),
                ("n_items", "integer", "number of items"),
                ("n_complete", "integer", "respondents who answered every item (alpha's base)"),
                ("alpha", "number", "Cronbach's alpha"),
            ),
        ),
        Output(
            "estimates",
            "tables",
            "estimates.csv",
            "analyse",
            "pipeline.stages.analyse:estimates",
            "Design-based estimates (levels) of every item and scale: overall and by tier, authority type "
            "and maturity, weighted and unweighted; descriptive, for the 388 LSPs of 2008.",
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
            columns=_RESULT
            + _COMPARISON_SIZES
            + _columns(
                _FAVOURABLE_SIGN,
                (
                    "inference",
                    "text",
                    "descriptive: a difference of the 388 LSPs of 2008 (fpc where declared)",
                ),
            )
            + _SMALLER
            + _columns(_SUPPRESSED),
        ),
        Output(
            "maturity_sensitivity",
            "tables",
            "maturity_sensitivity.csv",
            "analyse",
            "pipeline.stages.analyse:maturity_sensitivity",
            "The maturity difference of every proportion under every maturity definition.",
            inputs=("analysis_base", "frame"),
            columns=_RESULT
            + _columns(
                ("definition", "text", f"the maturity definition: one of {', '.join(MATURITY_DEFINITIONS)}"),
                ("primary", "boolean", "whether it is the configured primary definition (maturity.primary)"),
            )
            + _COMPARISON_SIZES
            + _columns(
                (
                    "same_direction_as_primary",
                    "boolean",
                    "whether the difference has the sign it has under the primary definition",
                ),
                ("significant_fdr", "boolean", "whether p_fdr < 0.05 within this definition"),
            )
            + _SMALLER
            + _columns(_SUPPRESSED),
        ),
        Output(
            "power",
            "tables",
            "power.csv",
            "analyse",
            "pipeline.stages.analyse:power_table",
            "The smallest difference in proportion each headline comparison could detect.",
            inputs=("analysis_base",),
            columns=_columns(
                _INSTRUMENT,
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
                _DATA,
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
            columns=_columns(
                _DATA,
                ("published_id", "text", "the report's figure or paragraph"),
                ("quantity_key", "text", "the quantity's key in published_targets.yaml"),
                ("quantity", "text", "what the quantity is, in words"),
                _INSTRUMENT,
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
        *model_tables(),
        Output(
            "analysis_manifest",
            "analysis",
            "manifest.json",
            "analyse",
            "pipeline.stages.analyse:main",
            "The designs, maturity definitions, disclosure rule and input hashes behind the tables.",
            inputs=("analysis_base",),
        ),
        *nonresponse_tables(),
    )


_EFFECT_ROW = (
    ("inference", "text", "analytic: partnerships in general (designs without the fpc)"),
    _INSTRUMENT,
    ("outcome", "text", "overall_7s (mean of the seven scale scores), scale_<element>, or a Likert item"),
    ("outcome_label", "text", "the outcome in words"),
    ("effect", "text", "tier or maturity"),
    ("contrast", "text", "which groups are compared: multi- minus single-tier, more minus less mature"),
)
_COEFFICIENT = (
    ("estimate", "number", "the effect on the scale named in `scale` (adjusted for the model's other terms)"),
    ("se", "number", "its design-based (linearisation, sandwich) standard error"),
    ("ci_low", "number", "lower end of its 95% interval (t on the design df)"),
    ("ci_high", "number", "upper end of its 95% interval"),
    ("statistic", "number", "the test statistic (t for one coefficient, F for several)"),
    ("df", "number", "design df of a t test, numerator df of an F"),
    ("p", "number", "two-sided p-value"),
)
_FIT_SIZES = (
    ("n", "integer", "unweighted respondents in the fit (response and every term present)"),
    ("n_smaller_group", "integer", "respondents in the smaller compared group (or tier x maturity cell)"),
)


def model_tables() -> tuple[Output, ...]:
    """The models and measurement stages' tables and manifest (docs/models.md)."""
    inputs = ("analysis_base", "frame")
    return (
        Output(
            "primary_tests",
            "tables",
            "primary_tests.csv",
            "models",
            "pipeline.stages.models:primary_table",
            "The two pre-specified primary tests (config models.primary), adjusted and analytic, beside the "
            "marginal descriptive difference.",
            inputs=inputs,
            columns=_columns(
                _DATA,
                ("headline", "text", "tier or maturity"),
                _INSTRUMENT,
                ("outcome", "text", "overall_7s or joint_7s (config models.primary.<headline>.outcome)"),
                ("estimand", "text", "what is estimated, for which population, in words"),
                ("inference", "text", "analytic (partnerships in general)"),
                ("contrast", "text", "which groups are compared"),
                ("marginal_inference", "text", "descriptive: the marginal difference is of the 388 LSPs"),
                ("marginal_estimate", "number", "the unadjusted difference under the descriptive design"),
                ("marginal_ci_low", "number", "lower end of its 95% interval"),
                ("marginal_ci_high", "number", "upper end of its 95% interval"),
                ("marginal_p", "number", "its two-sided p-value"),
                ("marginal_n", "integer", "respondents behind it"),
                ("test", "text", "the primary test"),
                *_COEFFICIENT,
                *_FIT_SIZES,
                ("df2", "number", "denominator df of a joint F (empty for a t test)"),
                _SUPPRESSED,
            ),
        ),
        Output(
            "models",
            "tables",
            "models.csv",
            "models",
            "pipeline.stages.models:fit_instrument",
            "Every fitted tier and maturity effect: outcome x model (marginal, adjusted, interaction); "
            "gaussian, quasibinomial and proportional odds; secondary tests under FDR.",
            inputs=inputs,
            columns=_columns(
                _DATA,
                _EFFECT_ROW[0],
                *_EFFECT_ROW[1:4],
                ("outcome_kind", "text", "overall, scale or item"),
                ("element", "text", "the 7S element of the outcome (empty for the overall score)"),
                ("family", "text", "gaussian (score), quasibinomial (% agreeing) or ordinal (5 categories)"),
                ("model", "text", "marginal (effect alone), adjusted (+ covariates) or interaction"),
                *_EFFECT_ROW[4:],
                ("scale", "text", "what the estimate measures: points, log odds ratio, log cumulative OR"),
                _FIT_SIZES[0],
                ("n_a", "integer", "respondents in the first group (multi-tier; more mature)"),
                ("n_b", "integer", "respondents in the second group"),
                _FIT_SIZES[1],
                *_COEFFICIENT[:4],
                ("test", "text", "Wald t on the design df"),
                *_COEFFICIENT[4:6],
                ("df2", "number", "unused for a t test"),
                _COEFFICIENT[6],
                ("role", "text", "primary (declared), secondary (adjusted, under FDR) or supporting"),
                ("fdr_family", "text", "the Benjamini-Hochberg family of a secondary test"),
                ("p_fdr", "number", "BH-adjusted p-value within the family (secondary tests only)"),
                _FAVOURABLE_SIGN,
                (
                    "favourable_estimate",
                    "number",
                    "estimate x favourable_sign: > 0 when the first group is ahead",
                ),
                _SUPPRESSED,
            ),
        ),
        Output(
            "model_tests",
            "tables",
            "model_tests.csv",
            "models",
            "pipeline.stages.models:joint_test",
            "Wald F tests of the tier x maturity interaction on every outcome, and of each effect jointly "
            "across the seven scales (stacked influence).",
            inputs=inputs,
            columns=_columns(
                _DATA,
                _EFFECT_ROW[0],
                *_EFFECT_ROW[1:4],
                ("outcome_kind", "text", "overall, scale or item"),
                ("element", "text", "the outcome's 7S element"),
                ("family", "text", "gaussian, quasibinomial or ordinal"),
                ("scale", "text", "the scale of the model's coefficients"),
                _FAVOURABLE_SIGN,
                ("model", "text", "interaction or adjusted"),
                ("effect", "text", "tier x maturity, or '<effect>, joint across the seven scales'"),
                ("contrast", "text", "what is tested"),
                *_FIT_SIZES,
                ("test", "text", "Wald F on the design df (R: regTermTest)"),
                ("statistic", "number", "the Wald F statistic"),
                ("df", "number", "numerator df"),
                ("df2", "number", "denominator (design) df"),
                ("p", "number", "upper-tail p-value"),
                _SUPPRESSED,
            ),
        ),
        Output(
            "partner_imputation",
            "tables",
            "partner_imputation.csv",
            "models",
            "pipeline.stages.models:partner_imputation",
            "Partners' adjusted effects from complete cases and with the LSP's maturity multiply imputed "
            "(Rubin's rules), weighting partners and weighting LSPs.",
            inputs=inputs,
            columns=_columns(
                _DATA,
                *_EFFECT_ROW[1:4],
                *_EFFECT_ROW[4:],
                ("weighting", "text", "partners (each partner counts) or LSPs (each LSP counts once)"),
                _EFFECT_ROW[0],
                ("data_used", "text", "complete cases, or all partners with imputed maturity"),
                _FIT_SIZES[0],
                ("n_lsps", "integer", "LSPs the partners belong to"),
                _FIT_SIZES[1],
                ("imputations", "integer", "number of imputations pooled (0: complete cases)"),
                *_COEFFICIENT,
                ("fraction_missing_information", "number", "Rubin's fraction of missing information"),
                _SUPPRESSED,
            ),
        ),
        Output(
            "models_manifest",
            "analysis",
            "models_manifest.json",
            "models",
            "pipeline.stages.models:main",
            "The inference, designs, primary tests with estimands, model terms, imputation model and inputs.",
            inputs=("analysis_base",),
        ),
        Output(
            "cfa_fit",
            "tables",
            "cfa_fit.csv",
            "measurement",
            "pipeline.stages.measurement:measurement",
            "CFA of the 26 shared 7S items: seven vs two vs one factor, and coordinator-partner "
            "invariance (configural, metric, scalar); checked against lavaan.",
            inputs=("analysis_base",),
            columns=_columns(
                _DATA,
                ("model", "text", "seven factors, two factors or one factor"),
                ("comparison", "text", "structure (both instruments together) or invariance"),
                ("level", "text", "single group, configural, metric or scalar"),
                ("n_complete_cases", "integer", "respondents answering every item (listwise)"),
                ("groups", "integer", "1, or 2 (coordinators, partners)"),
                ("chisq", "number", "ML chi-squared"),
                ("df", "integer", "its degrees of freedom"),
                ("p", "number", "its p-value"),
                ("cfi", "number", "comparative fit index"),
                ("tli", "number", "Tucker-Lewis index"),
                ("rmsea", "number", "root mean square error of approximation"),
                ("converged", "boolean", "whether the optimiser converged"),
                ("delta_chisq", "number", "chi-squared difference to the previous invariance level"),
                ("delta_df", "number", "the difference's degrees of freedom"),
                ("p_delta", "number", "its p-value"),
                ("delta_cfi", "number", "CFI difference to the previous level"),
            ),
        ),
    )


def analysis_base_columns(codebook: Any) -> tuple[Column, ...]:
    """The analysis base's columns after the codebook's variables (those are described by the codebook)."""
    frame_descriptions = {
        "authority_type": "the LSP's principal council type (frame)",
        "tier": "single or multi (from the authority type)",
        "region": "government office region (frame)",
        "laa_area_id": "the LAA area the LSP belongs to (frame)",
        "laa_round": "the LAA round of its area: 1 (2005 pilots), 2 or 3 (frame)",
        "imd_score": "IMD 2007 mean LSOA score of the area (frame)",
        "case_study_2008": "whether the LSP was one of the report's case studies (frame)",
    }
    columns = [
        Column("respondent_type", "text", f"which instrument the row answers: {' or '.join(INSTRUMENTS)}"),
        *(
            Column(
                name,
                "boolean" if name == "case_study_2008" else "number" if name == "imd_score" else "text",
                frame_descriptions[name],
            )
            for name in FRAME_COLUMNS.values()
        ),
        Column(
            "laa_holder", "boolean", "whether the LSP's council holds the LAA (every type but shire district)"
        ),
    ]
    for element, label in codebook.elements.items():
        columns += [
            Column(
                scale_column(element),
                "number",
                f"{label} scale score: the mean of its items (reverse-worded ones flipped), 1-5, given at "
                "least half of them",
            ),
            Column(
                f"{scale_column(element)}_positive",
                "boolean",
                f"whether the {label} score is {SCALE_POSITIVE_FROM} or more (leans to agreement)",
            ),
        ]
    for definition in MATURITY_DEFINITIONS:
        elements = tuple(codebook.elements) if definition == "composite_other_elements" else (None,)
        for element in elements:
            columns.append(
                Column(
                    maturity_column(definition, element),
                    "text",
                    f"{MORE_MATURE} or {LESS_MATURE} by the {definition} definition"
                    + (f", leaving out {element}" if element else "")
                    + " (docs/maturity.md); partners take their LSP's coordinator's value",
                )
            )
    return tuple(columns)


def nonresponse_tables() -> tuple[Output, ...]:
    """The nonresponse stage's tables (issue 13: weighting and nonresponse)."""
    stage, inputs = "nonresponse", ("analysis_base", "frame")
    maker = "pipeline.stages.nonresponse:"
    test_columns = _columns(
        ("test", "text", "the test of the row"),
        ("statistic", "number", "its statistic (chi-square, t, z or likelihood-ratio chi-square)"),
        ("df", "number", "its degrees of freedom"),
        ("p", "number", "its two-sided p-value"),
    )
    return (
        Output(
            "nonresponse_frame_comparison",
            "tables",
            "nonresponse_frame_comparison.csv",
            stage,
            maker + "frame_comparison",
            "Respondents against the frame on every usable frame variable, for coordinators and for the LSPs "
            "that sent partners: exact counts of the 388 LSPs (descriptive), the share under the primary "
            "weights, and a test of response against the variable.",
            inputs=inputs,
            columns=_columns(
                (
                    "instrument",
                    "text",
                    "coordinator: the coordinator answered; partner: at least one partner did",
                ),
                ("variable", "text", "the frame variable (pipeline.study.weighting.FRAME_VARIABLES)"),
                ("level", "text", "its level; 'mean' for a numeric variable"),
                ("frame_lsps", "integer", "LSPs of the level in the frame"),
                ("responding_lsps", "integer", "of them, LSPs that responded"),
                ("response_rate", "number", "100 * responding_lsps / frame_lsps"),
                ("frame_pct", "number", "per cent of the frame's LSPs in the level"),
                ("respondent_pct", "number", "per cent of the responding LSPs in the level"),
                ("weighted_pct", "number", "per cent of the primary weights in the level"),
            )
            + test_columns
            + _columns(
                ("frame_mean", "number", "numeric variable: mean over the frame"),
                ("respondent_mean", "number", "mean over the responding LSPs"),
                ("nonrespondent_mean", "number", "mean over the other LSPs"),
                ("weighted_mean", "number", "mean over the responding LSPs under the primary weights"),
                _SUPPRESSED,
                _DATA,
            ),
        ),
        Output(
            "nonresponse_propensity",
            "tables",
            "nonresponse_propensity.csv",
            stage,
            maker + "propensity_model",
            "Logistic response-propensity model on the frame variables (analytic: the response process), "
            "with "
            "likelihood-ratio tests against no variables and against authority type alone.",
            inputs=inputs,
            columns=_columns(
                ("instrument", "text", "coordinator or partner (at least one partner of the LSP answered)"),
                ("term", "text", "model term variable=level (treatment coding), or (model) for a test"),
                ("estimate", "number", "log-odds coefficient"),
                ("se", "number", "its model-based standard error"),
                ("odds_ratio", "number", "exp(estimate)"),
                ("or_ci_low", "number", "lower end of the odds ratio's 95% Wald interval"),
                ("or_ci_high", "number", "upper end of the odds ratio's 95% Wald interval"),
            )
            + test_columns
            + _columns(_DATA),
        ),
        Output(
            "nonresponse_r_indicators",
            "tables",
            "nonresponse_r_indicators.csv",
            stage,
            maker + "r_indicators",
            "R-indicator, mean and CV of the response propensities, and unconditional and conditional "
            "partial "
            "R-indicators by variable and category, with bootstrap SEs.",
            inputs=inputs,
            columns=_columns(
                ("instrument", "text", "coordinator or partner"),
                ("measure", "text", "R-indicator, mean propensity, CV, or a partial R-indicator"),
                (
                    "variable",
                    "text",
                    "the frame variable of a partial indicator (empty for the overall ones)",
                ),
                (
                    "level",
                    "text",
                    "its category for a category-level partial indicator (empty: variable level)",
                ),
                ("value", "number", "the indicator"),
                ("se", "number", "its bootstrap standard error"),
                ("bootstrap_replicates", "integer", "bootstrap resamples of the frame behind se"),
                _DATA,
            ),
        ),
        Output(
            "weight_diagnostics",
            "tables",
            "weight_diagnostics.csv",
            stage,
            "pipeline.study.weighting:weight_diagnostics",
            "Every weighting of coordinators and of partner LSPs: unit weights' range, CV, Kish "
            "design effect, "
            "g-weights, trimming, iterations and the sparse cells merged.",
            inputs=inputs,
            columns=_columns(
                ("population", "text", "coordinator (one weight per LSP) or partner (the LSP-level weight)"),
                ("weighting", "text", "type_only, raking, linear or logit"),
                ("units", "integer", "LSPs weighted"),
                ("weight_total", "number", "sum of the unit weights (388 when calibrated)"),
                ("weight_min", "number", "smallest unit weight"),
                ("weight_max", "number", "largest unit weight"),
                ("weight_ratio", "number", "weight_max / weight_min"),
                ("weight_cv", "number", "coefficient of variation of the unit weights"),
                ("kish_deff", "number", "Kish design effect of weighting, 1 + weight_cv^2"),
                ("g_min", "number", "smallest g-weight (weight over type-only weight)"),
                ("g_max", "number", "largest g-weight"),
                ("trimmed", "integer", "units whose g-weight was trimmed (weighting.trim)"),
                ("iterations", "integer", "Newton steps of the calibration (0: none needed)"),
                ("converged", "boolean", "whether the margins were met"),
                ("merged_cells", "text", "sparse cells merged with a neighbour before calibrating"),
                ("primary", "boolean", "whether this is the configured primary weighting"),
                _DATA,
            ),
        ),
        Output(
            "weighting_sensitivity",
            "tables",
            "weighting_sensitivity.csv",
            stage,
            maker + "weighting_sensitivity",
            "The headline estimates (7S scale means, tier and maturity differences) under every weighting.",
            inputs=inputs,
            columns=_columns(
                _INSTRUMENT,
                ("item", "text", "the 7S scale"),
                ("element", "text", "its element"),
                ("quantity", "text", "level, or the difference compared (group and which minus which)"),
                ("weighting", "text", "type_only, raking, linear, logit or unweighted"),
                ("n", "integer", "unweighted respondents"),
                ("estimate", "number", "mean score (1-5) or difference of mean scores"),
                ("se", "number", "its standard error (calibrated variance where calibrated)"),
                ("ci_low", "number", "lower end of its 95% confidence interval"),
                ("ci_high", "number", "upper end of its 95% confidence interval"),
                ("p", "number", "two-sided p-value of a difference"),
                ("change_from_type_only", "number", "estimate minus the type-only estimate"),
                ("primary", "boolean", "whether the weighting is the configured primary one"),
                _DATA,
            ),
        ),
        Output(
            "weighting_se_ratios",
            "tables",
            "weighting_se_ratios.csv",
            stage,
            maker + "se_ratios",
            "Replicate-weight SEs (JKn jackknife and seeded bootstrap, each replicate recalibrated) against "
            "the "
            "linearised SEs of the 7S scale means under the primary weighting.",
            inputs=inputs,
            columns=_columns(
                _INSTRUMENT,
                ("item", "text", "the 7S scale"),
                ("element", "text", "its element"),
                ("group", "text", "all or tier"),
                ("level", "text", "all, single or multi"),
                ("weighting", "text", "the primary weighting"),
                ("n", "integer", "unweighted respondents"),
                ("estimate", "number", "the mean score"),
                ("se_linearised", "number", "linearised SE with calibration residuals"),
                ("se_jkn", "number", "JKn jackknife SE, recalibrated per replicate (empty above 5,000 PSUs)"),
                ("ratio_jkn", "number", "se_jkn / se_linearised"),
                (
                    "replicates_jkn",
                    "integer",
                    "jackknife replicates used (0: not computed, above 5,000 PSUs)",
                ),
                ("se_bootstrap", "number", "bootstrap SE, recalibrated per replicate"),
                ("ratio_bootstrap", "number", "se_bootstrap / se_linearised"),
                (
                    "replicates_bootstrap",
                    "integer",
                    "bootstrap replicates used (a replicate that empties a calibration cell is dropped)",
                ),
                _DATA,
            ),
        ),
    )


def figures(codebook: Any) -> tuple[Figure, ...]:
    """Every figure, in build order; a Likert figure for each 7S element of the codebook and each group."""
    specs = [
        Figure(
            "coverage",
            "coverage",
            (BASE, FRAME),
            "coverage",
            _columns(
                _INSTRUMENT,
                ("breakdown", "text", "the frame variable (authority_type, tier, region)"),
                ("level", "text", "its level"),
                ("lsps_in_frame", "integer", "LSPs of that level in the frame"),
                ("lsps_responding", "integer", "of them, LSPs with at least one respondent"),
                ("respondents", "integer", "respondents from those LSPs"),
                ("response_rate", "number", "lsps_responding / lsps_in_frame"),
                _SUPPRESSED,
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
                    _LIKERT_FIGURE,
                    {"element": element, "group": group},
                )
            )
    for name in (
        "challenge",
        "financial_influence",
        "barriers",
        "support_costs_known",
        "resources_mapped",
        "support_team_composition",
    ):
        specs.append(Figure(name, name, (ESTIMATES,), "estimates", _ESTIMATE_FIGURE))
    specs += [
        Figure(
            "forest",
            "forest",
            (COMPARISONS,),
            "differences",
            _columns(
                _INSTRUMENT,
                ("item", "text", "the item or scale"),
                ("item_label", "text", "its short label"),
                ("element", "text", "its 7S element"),
                ("group", "text", "tier or maturity"),
                ("level", "text", "which groups are compared"),
                ("weighting", "text", "weighted"),
                ("test", "text", "difference (design-based t)"),
                ("n", "integer", "respondents in both groups"),
                *_COMPARISON_SIZES,
                ("estimate", "number", "the difference in share agreeing"),
                ("ci_low", "number", "lower end of its 95% confidence interval"),
                ("ci_high", "number", "upper end of its 95% confidence interval"),
                ("p", "number", "two-sided p-value"),
                ("p_fdr", "number", "Benjamini-Hochberg adjusted p-value"),
                ("significant_fdr", "boolean", "p_fdr < 0.05"),
                _SUPPRESSED,
            ),
        ),
        Figure(
            "maturity_profile",
            "maturity_profile",
            (ESTIMATES,),
            "estimates",
            _columns(
                ("panel", "text", "the figure panel"),
                ("element_label", "text", "the 7S element"),
                _INSTRUMENT,
                ("item", "text", "the scale"),
                ("item_label", "text", "its label"),
            )
            + _ESTIMATE_ROW
            + _columns(_SUPPRESSED),
        ),
        Figure(
            "case_studies",
            "case_studies",
            (FRAME,),
            "frame_profile",
            _columns(
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
        ),
        Figure(
            "published",
            "published",
            (PUBLISHED,),
            "published",
            _columns(
                ("published_id", "text", "the report's figure or paragraph"),
                ("quantity_key", "text", "the quantity's key in published_targets.yaml"),
                ("quantity", "text", "what it is"),
                _INSTRUMENT,
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
        ),
        Figure(
            "nonresponse",
            "nonresponse",
            (BASE, FRAME),
            "nonresponse",
            _columns(
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
                ("overall_rate", "number", "per cent of all 388 LSPs that responded"),
                _SUPPRESSED,
            ),
        ),
    ]
    return tuple(specs)


REPORT = Output(
    "report",
    "analysis",
    "report.html",
    "report",
    "pipeline.stages.report:render_report",
    "The report, a statistics publication in one HTML page: key findings, figures, tables, methods, "
    "quality, sensitivity, provenance.",
    inputs=("tables", "figures", "ingest_manifest", "validation_report"),
)
DATA_DICTIONARY = Output(
    "data_dictionary",
    "analysis",
    "data_dictionary.html",
    "report",
    "pipeline.stages.report:render_data_dictionary",
    "This data dictionary: every column of every output, from this registry.",
    inputs=(),
)
# Every published table (the analysis tables) as an accessible workbook, in two formats.
SPREADSHEETS = tuple(
    Output(
        f"spreadsheet_{suffix}",
        "analysis",
        f"lsp_survey_tables.{suffix}",
        "spreadsheets",
        f"pipeline.stages.spreadsheets:write_{suffix}",
        f"Every published table as an accessible {label} workbook: cover (with the synthetic-data "
        "warning), contents, notes, one table per sheet; [c] marks a suppressed cell, [z] a value that "
        "does not apply.",
        inputs=(
            "estimates",
            "comparisons",
            "maturity_sensitivity",
            "power",
            "scale_reliability",
            "published_vs_reproduced",
        ),
    )
    for suffix, label in (("xlsx", "Excel"), ("ods", "OpenDocument"))
)


def all_outputs(codebook: Any) -> tuple[Output, ...]:
    """Every file ``make all`` writes, figures expanded to their four files, then the report, the data
    dictionary and the spreadsheets."""
    expanded = []
    for figure in figures(codebook):
        for suffix in FIGURE_SUFFIXES:
            expanded.append(
                Output(
                    f"{figure.name}.{suffix}",
                    "figures",
                    f"{figure.name}.{suffix}",
                    "figures",
                    figure.maker,
                    f"figure {figure.name}",
                    inputs=tuple(FIGURE_INPUT_OUTPUTS[i] for i in figure.inputs),
                    columns=figure.columns if suffix == "csv" else None,
                )
            )
    return (*tables(codebook), *expanded, REPORT, DATA_DICTIONARY, *SPREADSHEETS)


def relative_path(output: Output, folders: dict[str, str]) -> str:
    """The output's path, given the configured folders by config key (processed_dir, ...)."""
    folder = LOCATIONS[output.location]
    key, _, sub = folder.partition("/")
    return "/".join(part for part in (folders[key], sub, output.filename) if part)


# ------------------------------------------------------------------------------------- the data dictionary
def data_dictionary(codebook: Any, folders: dict[str, str]) -> str:
    """docs/outputs.md: every output, who makes it from what, and every column it has (Markdown)."""
    lines = [
        "# Outputs: the data dictionary",
        "",
        "Generated from the output registry (`pipeline/study/outputs.py`) by `lsp-rap outputs`; do not edit",
        "by hand (a test checks it is current). Every file `make all` writes is here, and nothing else.",
        "Tables built from the synthetic survey say so in their `data` column.",
        "",
    ]
    for stage in ("ingest", "validate", "derive", "analyse"):
        lines += [f"## {stage}", ""]
        for output in (o for o in tables(codebook) if o.stage == stage):
            lines += _describe_output(output, relative_path(output, folders), codebook)
    lines += [
        "## figures",
        "",
        "Each figure is four files: `<name>.png` (150 dpi), `<name>.svg`, `<name>.csv` (the numbers plotted, "
        "checked by `make verify` with the recomputation named below) and `<name>.caption.txt`.",
        "",
    ]
    for figure in figures(codebook):
        inputs = ", ".join(f"`{FIGURE_INPUT_OUTPUTS[name]}`" for name in figure.inputs)
        lines += [
            f"### {figure.name}",
            "",
            f"Made by `{figure.maker}` from {inputs}; verified as `{figure.verify_kind}`.",
            "",
            *_column_table(figure.columns),
        ]
    lines += ["## report", ""]
    lines += _describe_output(REPORT, relative_path(REPORT, folders), codebook)
    return "\n".join(lines).rstrip() + "\n"


def _describe_output(output: Output, path: str, codebook: Any) -> list[str]:
    inputs = ", ".join(f"`{name}`" for name in output.inputs) or "nothing"
    lines = [f"### `{path}`", "", f"{output.description} Made by `{output.maker}` from {inputs}.", ""]
    if output.codebook_columns:
        instruments = [output.name.split("_", 1)[1]] if output.name.split("_", 1)[1] in INSTRUMENTS else None
        variables = [
            v for v in codebook.variables if instruments is None or set(instruments) & set(v.instruments)
        ]
        lines += [
            f"Columns: the {len(variables)} codebook variables"
            + (f" of the {instruments[0]} questionnaire" if instruments else "")
            + " (their labels, codes and provenance: `data/raw/codebook.yaml`)"
            + (", then the columns below." if output.columns else ", then `source_file` and `source_row`."),
            "",
        ]
    if output.columns:
        lines += _column_table(output.columns)
    return lines


def _column_table(columns: tuple[Column, ...]) -> list[str]:
    rows = ["| column | kind | meaning |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.kind} | {c.description.replace('|', '/')} |" for c in columns]
    return [*rows, ""]


def main(argv: list[str] | None = None) -> None:
    """`lsp-rap outputs [--out PATH]`: write the data dictionary (default docs/outputs.md)."""
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import parse_stage_arguments, stage_parser
    from pipeline.core.io import write_text
    from pipeline.core.paths import PROJECT_ROOT, relative_to_root

    parser = stage_parser("Write the data dictionary of every output (docs/outputs.md).")
    parser.add_argument(
        "--out", type=str, default="docs/outputs.md", help="where to write it (default: docs/outputs.md)"
    )
    arguments, config = parse_stage_arguments(parser, argv)
    folders = {
        key: relative_to_root(getattr(config, key))
        for key in ("processed_dir", "analysis_dir", "figures_dir")
    }
    write_text(PROJECT_ROOT / arguments.out, data_dictionary(load_codebook(config.codebook), folders))
