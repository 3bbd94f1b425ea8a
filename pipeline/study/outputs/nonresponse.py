"""The nonresponse stage's tables: respondents against the frame, propensity, R-indicators, weights."""

from __future__ import annotations

from pipeline.study.outputs.columns import DATA, INSTRUMENT, SUPPRESSED, columns
from pipeline.study.outputs.model import Output


def nonresponse_tables() -> tuple[Output, ...]:
    """The nonresponse stage's tables (issue 13: weighting and nonresponse)."""
    stage, inputs = "nonresponse", ("analysis_base", "frame")
    maker = "pipeline.stages.nonresponse:"
    test_columns = columns(
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
            "that sent partners: exact counts of the frame's LSPs (descriptive), the share under the primary "
            "weights, and a test of response against the variable.",
            inputs=inputs,
            columns=columns(
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
            + columns(
                ("frame_mean", "number", "numeric variable: mean over the frame"),
                ("respondent_mean", "number", "mean over the responding LSPs"),
                ("nonrespondent_mean", "number", "mean over the other LSPs"),
                ("weighted_mean", "number", "mean over the responding LSPs under the primary weights"),
                SUPPRESSED,
                DATA,
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
            columns=columns(
                ("instrument", "text", "coordinator or partner (at least one partner of the LSP answered)"),
                ("term", "text", "model term variable=level (treatment coding), or (model) for a test"),
                ("estimate", "number", "log-odds coefficient"),
                ("se", "number", "its model-based standard error"),
                ("odds_ratio", "number", "exp(estimate)"),
                ("or_ci_low", "number", "lower end of the odds ratio's 95% Wald interval"),
                ("or_ci_high", "number", "upper end of the odds ratio's 95% Wald interval"),
            )
            + test_columns
            + columns(DATA),
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
            columns=columns(
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
                DATA,
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
            columns=columns(
                ("population", "text", "coordinator (one weight per LSP) or partner (the LSP-level weight)"),
                ("weighting", "text", "type_only, raking, linear or logit"),
                ("units", "integer", "LSPs weighted"),
                ("weight_total", "number", "sum of the unit weights (the frame's LSPs when calibrated)"),
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
                DATA,
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
            columns=columns(
                INSTRUMENT,
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
                DATA,
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
            columns=columns(
                INSTRUMENT,
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
                (
                    "frame_lsps",
                    "integer",
                    "LSPs of the frame the check ran on: all, or a seeded random subsample above "
                    "weighting.replicate_check_max_lsps (then n, estimate and the SEs are the subsample's)",
                ),
                DATA,
            ),
        ),
    )
