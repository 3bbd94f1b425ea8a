"""The survey designs of this study, declared once and used by every estimate.

Coordinators: one per LSP; 191 of the 388 answered. Treated as a stratified simple random sample without
replacement within authority type (the response-homogeneity-group model: within a type, the LSPs whose
coordinator answered are taken as a random subset). The weights N_h / n_h post-stratify the respondents
to the frame's count of each type, and the finite population correction uses n_h / N_h.

Partners: board members clustered within LSPs. The LSP is the primary sampling unit (PSU), stratified by
authority type, weighted N_h / m_h (m_h of the N_h LSPs of a type have a partner respondent); each
responding partner stands for themselves within their LSP, because the number of board members per LSP is
not known. No finite population correction: partners are a two-stage sample (LSPs, then some members of
each board), and a correction at LSP level alone would also shrink the within-board part of the variance,
which the second stage does not exhaust. The method-validation study measured it: with an LSP-level
correction, 95% intervals covered the finite-population truth 86% of the time; without it, 95-96%
(docs/methods_validation.md). The two-stage correction would need each board's size, which the survey did
not record, so the PSUs are treated as drawn with replacement (R's default for ``ids=~lsp_id`` with no
``fpc``), the usual conservative choice.

Respondents (coordinators and partners together, for coordinator-versus-partner comparisons): clustered by
LSP, because a coordinator and the partners of the same LSP are not independent; each keeps the weight of
their own instrument's design.

Unweighted variants reproduce what the report appears to show (raw shares of respondents) and are kept as
a labelled sensitivity analysis; the partners' unweighted design still clusters by LSP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

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
        strata=STRATUM,
        lonely_psu=LONELY_PSU,
        label="partners: LSPs as PSUs stratified by authority type, weights N_h/m_h, PSUs with replacement",
    ),
    "respondents": SurveyDesign(
        weights=WEIGHT,
        cluster="lsp_id",
        strata=STRATUM,
        lonely_psu=LONELY_PSU,
        label="coordinators and partners together, clustered by LSP, each with their instrument's weight "
        "(PSUs with replacement, as for partners)",
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
    LSPs of type h have a partner respondent).
    """
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
    """The rows of each design's population: coordinators, partners, and all respondents."""
    return {
        "coordinator": base[base["respondent_type"] == "coordinator"].reset_index(drop=True),
        "partner": base[base["respondent_type"] == "partner"].reset_index(drop=True),
        "respondents": base.reset_index(drop=True),
    }


def prepare_designs(
    base: pd.DataFrame, weighting: str, populations: dict[str, pd.DataFrame] | None = None
) -> StudyDesigns:
    """Prepare the coordinator, partner and all-respondent designs over the analysis base.

    ``populations`` (from ``population_rows``) lets the weighted and unweighted designs share one copy
    of each population's rows: at Place-Survey scale a copy of the analysis base is a gigabyte.
    """
    declared = DESIGNS if weighting == "weighted" else UNWEIGHTED_DESIGNS
    rows_by_population = population_rows(base) if populations is None else populations
    return StudyDesigns(
        weighting=weighting,
        by_population={name: declared[name].prepare(rows) for name, rows in rows_by_population.items()},
    )


def design_record() -> dict[str, Any]:
    """Every declared design, as written into the analysis manifest."""
    return {
        "weighted": {name: design.to_dict() for name, design in DESIGNS.items()},
        "unweighted": {name: design.to_dict() for name, design in UNWEIGHTED_DESIGNS.items()},
        "stratum": STRATUM,
        "population_column": POPULATION,
        "weight_column": WEIGHT,
        "confidence_level": 0.95,
        "proportion_intervals": "logit scale, t quantile on design df (R svyciprop method='logit')",
    }
