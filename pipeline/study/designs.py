"""The survey designs of this study, declared once and used by every estimate.

Coordinators: one per LSP; 191 of the 388 answered. Treated as a stratified simple random sample without
replacement within authority type (the response-homogeneity-group model: within a type, the LSPs whose
coordinator answered are taken as a random subset). The weights N_h / n_h post-stratify the respondents
to the frame's count of each type, and the finite population correction uses n_h / N_h.

Partners: board members clustered within LSPs, a two-stage sample. The LSP is the primary sampling unit
(PSU), stratified by authority type, weighted N_h / m_h (m_h of the N_h LSPs of a type have a partner
respondent); each responding partner stands for themselves within their LSP, because the number of board
members per LSP is not known. The variance is R's multistage one,
``svydesign(ids = ~lsp_id + respondent_id, strata = ~authority_type, fpc = ~N_h + Inf)``: the first stage
without replacement (half the LSPs are observed, so the between-LSP part shrinks by 1 - m_h/N_h), the
second stage with replacement, so each board adds its within-board variance times m_h/N_h and no board
size is needed. A board with a single responding partner cannot show within-board variation; under the
``adjust`` rule its partner's total enters uncentred (R 4.1), the conservative choice. The
method-validation study measured the alternatives: an LSP-level correction alone, which also shrinks the
within-board part that the second stage does not exhaust, covered 86%; LSPs with replacement, 97-98%
(conservative by 12-20% in SE); the two-stage variance is in docs/methods_validation_weighting.csv.

Respondents (coordinators and partners together, for coordinator-versus-partner comparisons): clustered by
LSP, because a coordinator and the partners of the same LSP are not independent; each keeps the weight of
their own instrument's design.

Two inferences. The weighted designs above serve *descriptive* estimates: levels and marginal differences
of the 388 LSPs of England in 2008, a finite population the coordinators sample half of, hence the
finite population correction. The headline claims (more mature partnerships further ahead, multi-tier
areas facing greater challenges) are about partnerships in general: the 388 of 2008 are one realisation
of the process that makes partnerships, and the question is whether tier and maturity matter in it, not
whether these 388 differed. That *analytic* (superpopulation, model-based estimand, design-based
variance) reading drops the fpc: the variance then includes the variation a new set of partnerships
would show, as R's svyglm does for a design declared without ``fpc``. The analytic designs keep the same
weights, strata and clusters and treat the PSUs as drawn with replacement (for all respondents that is
the descriptive design). ``INFERENCE`` says which design serves which estimates and why; the manifest
carries it.

Unweighted variants reproduce what the report appears to show (raw shares of respondents) and are kept as
a labelled sensitivity analysis; the partners' unweighted design still clusters by LSP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.study.respondents import check_analysis_base
from pipeline.study.vocabulary import INSTRUMENTS
from pipeline.survey import PreparedDesign, SurveyDesign

STRATUM = "authority_type"
POPULATION = "lsp_population"  # N_h: LSPs of the respondent's authority type in the frame
WEIGHT = "weight"
# A stratum with one PSU can arise in a small domain of a future export; centre it on the grand mean
# (R: options(survey.lonely.psu = "adjust")) rather than stop the run.
LONELY_PSU = "adjust"

DESIGNS: dict[str, SurveyDesign] = {
    "coordinator": SurveyDesign(
        weights=WEIGHT,
        strata=STRATUM,
        fpc=POPULATION,
        lonely_psu=LONELY_PSU,
        label="coordinators: stratified by authority type, SRSWOR within type, weights N_h/n_h",
    ),
    "partner": SurveyDesign(
        weights=WEIGHT,
        cluster="lsp_id",
        subcluster="respondent_id",
        strata=STRATUM,
        fpc=POPULATION,
        lonely_psu=LONELY_PSU,
        label="partners: LSPs as PSUs stratified by authority type without replacement, weights N_h/m_h, "
        "partners within LSP with replacement",
    ),
    "respondents": SurveyDesign(
        weights=WEIGHT,
        cluster="lsp_id",
        strata=STRATUM,
        lonely_psu=LONELY_PSU,
        label="coordinators and partners together, clustered by LSP, each with their instrument's weight "
        "(PSUs with replacement, as in the partners' analytic design)",
    ),
}
UNWEIGHTED_DESIGNS: dict[str, SurveyDesign] = {
    "coordinator": SurveyDesign(lonely_psu=LONELY_PSU, label="coordinators, unweighted (sensitivity)"),
    "partner": SurveyDesign(
        cluster="lsp_id", lonely_psu=LONELY_PSU, label="partners, unweighted, clustered by LSP (sensitivity)"
    ),
    "respondents": SurveyDesign(
        cluster="lsp_id", lonely_psu=LONELY_PSU, label="all respondents, unweighted, clustered (sensitivity)"
    ),
}


# The superpopulation reading of the comparisons behind the headlines: the same weights and strata, no fpc.
ANALYTIC_DESIGNS: dict[str, SurveyDesign] = {
    "coordinator": SurveyDesign(
        weights=WEIGHT,
        strata=STRATUM,
        lonely_psu=LONELY_PSU,
        label="coordinators (analytic): stratified by authority type, weights N_h/n_h, no finite population "
        "correction",
    ),
    "partner": SurveyDesign(
        weights=WEIGHT,
        cluster="lsp_id",
        strata=STRATUM,
        lonely_psu=LONELY_PSU,
        label="partners (analytic): LSPs as PSUs stratified by authority type, weights N_h/m_h, PSUs with "
        "replacement (no finite population correction)",
    ),
    "respondents": DESIGNS["respondents"],
}


DESIGNS_BY_WEIGHTING = {"weighted": DESIGNS, "unweighted": UNWEIGHTED_DESIGNS, "analytic": ANALYTIC_DESIGNS}


@dataclass(frozen=True)
class Inference:
    """What a set of designs estimates: for which population, and whether descriptive or analytic."""

    kind: str  # descriptive | analytic
    designs: str  # the key of prepare_designs: weighted | analytic | unweighted
    population: str
    serves: str
    reason: str


INFERENCE: dict[str, Inference] = {
    "descriptive": Inference(
        kind="descriptive",
        designs="weighted",
        population="every LSP of England in 2008, as the frame lists them (their coordinators; their board "
        "partners)",
        serves="levels (estimates.csv), marginal differences and item tests (comparisons.csv), maturity "
        "sensitivity, published against reproduced",
        reason="a finite, fully listed population of which the coordinators are a half sample: the fpc "
        "removes the variance of the LSPs already observed",
    ),
    "analytic": Inference(
        kind="analytic",
        designs="analytic",
        population="partnerships in general (the superpopulation the LSPs of 2008 are drawn from)",
        serves="adjusted tier and maturity effects, the tier x maturity interaction and the two primary "
        "tests (models.csv, primary_tests.csv)",
        reason="the headlines claim that tier and maturity matter for partnerships, not that the LSPs "
        "of 2008 differed; without the fpc the variance includes the variation of a new set of "
        "partnerships",
    ),
}


@dataclass(frozen=True)
class StudyDesigns:
    """The prepared designs of one weighting (``weighted`` or ``unweighted``), by population."""

    weighting: str
    by_population: dict[str, PreparedDesign]

    def __getitem__(self, population: str) -> PreparedDesign:
        return self.by_population[population]


def design_columns(base: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the stratum population N_h and each respondent's weight to the analysis base.

    Coordinators weigh N_h / n_h (n_h coordinators of type h answered); partners weigh N_h / m_h (m_h
    LSPs of type h have a partner respondent). A base without one instrument's rows is refused in one line
    (it used to fail here with a TypeError: the missing group's weights stayed text).
    """
    check_analysis_base(base)
    population = frame["authority_type"].value_counts()
    result = base.assign(**{POPULATION: base[STRATUM].map(population).astype(float)})
    weights = pd.Series(float("nan"), index=base.index)
    for instrument in INSTRUMENTS:
        rows = base["respondent_type"] == instrument
        sampled = base.loc[rows].groupby(STRATUM)["lsp_id"].nunique()
        weights[rows] = (
            result.loc[rows, STRATUM].map(population) / result.loc[rows, STRATUM].map(sampled)
        ).astype(float)
    return result.assign(**{WEIGHT: weights})


def population_rows(base: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of each design's population: coordinators, partners, and all respondents.

    The derive stage sorts the base by instrument, so each instrument's rows are one block: a slice of
    the base, which shares its memory, instead of a copy (a copy of both instruments' rows was a gigabyte
    at Place-Survey size). Rows in any other order are selected as before; the frames are the same.
    """
    instrument = base["respondent_type"].to_numpy()
    populations = {}
    for name in INSTRUMENTS:
        positions = np.flatnonzero(instrument == name)
        if positions.size and positions[-1] - positions[0] + 1 == positions.size:
            rows = base.iloc[positions[0] : positions[-1] + 1]
        else:
            rows = base.iloc[positions]
        populations[name] = rows.reset_index(drop=True)
    populations["respondents"] = base.reset_index(drop=True)
    return populations


def prepare_designs(
    base: pd.DataFrame,
    weighting: str,
    populations: dict[str, pd.DataFrame] | None = None,
    calibrate: Callable[[dict[str, PreparedDesign]], dict[str, PreparedDesign]] | None = None,
) -> StudyDesigns:
    """Prepare the coordinator, partner and all-respondent designs over the analysis base.

    ``weighting`` is ``"weighted"`` (descriptive, with the fpc), ``"analytic"`` (no fpc) or
    ``"unweighted"`` (sensitivity).

    ``populations`` (from ``population_rows``) lets the weighted and unweighted designs share one copy
    of each population's rows: at Place-Survey scale a copy of the analysis base is a gigabyte.
    ``calibrate`` (``pipeline.study.weighting.calibrator``, the configured primary weighting) turns the
    weighted designs' type-only weights into calibrated ones, with the variance that reflects it.
    """
    declared = DESIGNS_BY_WEIGHTING[weighting]
    rows_by_population = population_rows(base) if populations is None else populations
    by_population = {name: declared[name].prepare(rows) for name, rows in rows_by_population.items()}
    if weighting == "weighted" and calibrate is not None:
        by_population = calibrate(by_population)
    return StudyDesigns(weighting=weighting, by_population=by_population)


# A weighting of prepared designs by population (`pipeline.study.weighting.calibrator`); None keeps the
# designs' own (type-only) weights.
Weigh = Callable[[dict[str, PreparedDesign]], dict[str, PreparedDesign]] | None
# The columns a calibration reads from the rows (which LSP, which instrument).
CALIBRATION_COLUMNS = ("lsp_id", "respondent_type")


def narrow(
    design: SurveyDesign,
    data: pd.DataFrame,
    columns: Iterable[str],
    weigh: Weigh = None,
    population: str | None = None,
) -> PreparedDesign:
    """Prepare `design` over just the design columns and `columns` (a fit subsets rows; narrow is fast),
    then apply the weighting `weigh` to it as `population`'s design (R: ``calibrate()`` on the design,
    every fit then a domain of it, so the variance takes the calibration residuals of all its rows)."""
    keep = list(design.columns)
    keep += [c for c in (*columns, *(CALIBRATION_COLUMNS if weigh else ())) if c not in keep]
    prepared = design.prepare(data[keep].reset_index(drop=True))
    if weigh is None:
        return prepared
    if population is None:
        raise ValueError("a weighted design needs its population")
    return weigh({population: prepared})[population]


def design_record() -> dict[str, Any]:
    """Every declared design, as written into the analysis manifest."""
    return {
        "weighted": {name: design.to_dict() for name, design in DESIGNS.items()},
        "unweighted": {name: design.to_dict() for name, design in UNWEIGHTED_DESIGNS.items()},
        "analytic": {name: design.to_dict() for name, design in ANALYTIC_DESIGNS.items()},
        "inference": {name: asdict(inference) for name, inference in INFERENCE.items()},
        "stratum": STRATUM,
        "population_column": POPULATION,
        "weight_column": WEIGHT,
        "confidence_level": 0.95,
        "proportion_intervals": (
            "logit scale, t quantile on the df of weighting.interval_df (design: R svyciprop "
            "method='logit'; bell_mccaffrey: each estimate's own)"
        ),
    }
