"""Measurement stage: is the 7S structure in the answers, and do coordinators and partners read it alike?

Confirmatory factor analysis of the 26 items the two instruments share (reverse-worded items flipped, as
the scales use them), by maximum likelihood on the items' covariance matrix, treating the five-point
answers as continuous (as lavaan's default ``estimator = "ML"``):

- structure: seven factors (one per 7S element) against two (transformational, transactional: the
  codebook's ``element_groups``; the strategy element, in neither group there, is transformational as
  the report's framework has it) and against one, fitted to coordinators and partners together;
- measurement invariance of the seven-factor model between coordinators and partners: configural (same
  structure, every parameter free per group), metric (equal loadings) and scalar (equal loadings and
  intercepts, factor means free in the partner group), each with its chi-squared difference test
  against the previous level.

Fit indices are lavaan's: chi-squared (``N_g`` times the ML discrepancy, summed over groups), df,
CFI and TLI against the independence model, RMSEA (times sqrt(groups)). Identification by marker items
(first loading of each factor fixed at 1), lavaan's default. Complete cases only (lavaan's default
``missing = "listwise"``): with 26 items and "don't know" answers, few respondents answer every item,
which the table states. The fit is unweighted: it asks whether the structure holds in the answers, not
what a population quantity is. The implementation is checked against lavaan in
tests/survey/fixtures/lavaan_cfa.json (tests/survey/r/make_cfa_fixture.R).

Every fit is checked for admissibility (`pipeline.survey.cfa.Admissibility`): a negative residual
variance (Heywood case) or a latent covariance matrix that is not positive definite puts the solution
outside the parameter space; the table's ``admissible`` and ``admissibility`` columns say which, and
the report says what the invariance conclusion then rests on.

Output: analysis/tables/cfa_fit.csv.
"""

from __future__ import annotations

import logging

import pandas as pd
from scipy import stats

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_csv
from pipeline.core.paths import relative_to_root
from pipeline.study.scales import common_scale_items, valid_scores
from pipeline.survey.cfa import INVARIANCE, CFAError, fit_cfa

log = logging.getLogger("pipeline.stages.measurement")


def structures(codebook: Codebook) -> dict[str, dict[str, list[str]]]:
    """Factor -> items of the seven-, two- and one-factor models (items asked of both instruments)."""
    items = {e: [v.name for v in common_scale_items(codebook, e)] for e in codebook.elements}
    grouped = {e for members in codebook.element_groups.values() for e in members}
    two: dict[str, list[str]] = {}
    for group, members in codebook.element_groups.items():
        two[group] = [i for e in members for i in items[e]]
    # Elements outside the codebook's groups (strategy) belong with the transformational ones.
    two.setdefault("transformational", [])
    two["transformational"] = [i for e in codebook.elements if e not in grouped for i in items[e]] + two[
        "transformational"
    ]
    every = [i for e in codebook.elements for i in items[e]]
    return {"seven factors": items, "two factors": two, "one factor": {"general": every}}


def item_data(base: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Each respondent's scored items (reverse items flipped) and instrument, complete cases only."""
    variables = tuple(v for e in codebook.elements for v in common_scale_items(codebook, e))
    scores = valid_scores(base, variables).astype(float)
    scores = scores.assign(group=base["respondent_type"].to_numpy())
    return scores.dropna().reset_index(drop=True)


def measurement(base: pd.DataFrame, codebook: Codebook, synthetic: bool) -> pd.DataFrame:
    """The CFA fit table: three structures, then the invariance levels of the seven-factor model."""
    data = item_data(base, codebook)
    models = structures(codebook)
    try:
        fits = [fit_cfa(factors, data, "single group", None, name) for name, factors in models.items()]
        fits += [
            fit_cfa(models["seven factors"], data, level, "group", "seven factors") for level in INVARIANCE
        ]
    except CFAError as error:
        raise PipelineError(str(error)) from None
    rows = []
    previous = None
    for fit in fits:
        row = {
            "data": "SYNTHETIC" if synthetic else "survey",
            "model": fit.model,
            "comparison": "structure (coordinators and partners together)"
            if fit.groups == 1
            else "invariance: coordinators vs partners",
            "level": fit.level,
            "n_complete_cases": fit.n,
            "groups": fit.groups,
            "chisq": fit.chisq,
            "df": fit.df,
            "p": fit.p,
            "cfi": fit.cfi,
            "tli": fit.tli,
            "rmsea": fit.rmsea,
            "converged": fit.converged,
            # lavaan reports such fits as converged with a warning; the table says so in a column.
            "admissible": fit.admissible,
            "admissibility": "; ".join(fit.problems())
            or "admissible: residual variances positive, latent covariance positive definite",
        }
        if fit.groups > 1 and previous is not None and previous.groups > 1:
            delta, ddf = fit.chisq - previous.chisq, fit.df - previous.df
            row |= {
                "delta_chisq": delta,
                "delta_df": ddf,
                "p_delta": float(stats.chi2.sf(delta, ddf)),
                "delta_cfi": fit.cfi - previous.cfi,
            }
        rows.append(row)
        previous = fit
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out", "{analysis_dir}/tables/cfa_fit.csv", "where to write the fit table")
    arguments, config = parse_stage_arguments(parser, argv)
    if not arguments.base.exists():
        raise PipelineError(f"{relative_to_root(arguments.base)}: not found; run `make derive` first")
    table = measurement(
        pd.read_parquet(arguments.base), load_codebook(config.codebook), config.synthetic_data
    )
    write_csv(table.round(8), arguments.out)
    log.info("wrote %s: %d rows", relative_to_root(arguments.out), len(table))


if __name__ == "__main__":
    run_stage("measurement", main)
