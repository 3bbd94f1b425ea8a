"""Simulate stage: the seeded synthetic survey, calibrated to the report's published figures.

``lsp-rap synthetic [--out-dir DIR] [--seed N] [--scale K]`` writes the coordinator export
(CSV and SPSS), the partner export (Excel) and two truth files. The same seed gives byte-identical files.

Public API (used by the method-validation study and the scaling benchmark):

- ``generate(frame, codebook, seed, n_coordinators=..., n_partners=..., scale=1, effects=None)`` returns
  a ``SyntheticSurvey``: the responses in the validated layout, the LSP-level truth and the truth record
  (parameters, population values, calibration table);
- ``PlantedEffects`` sets the tier and maturity effects on the log-odds scale;
- ``write_exports(survey, codebook, out_dir)`` writes the five files.

The model is in pipeline/synthetic/model.py and docs/synthetic_model.md. The data are SYNTHETIC: no
number in them is the Audit Commission's.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from pipeline.core.codebook import Codebook, Variable, load_codebook
from pipeline.core.config import parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_path, run_stage, write_csv, write_json
from pipeline.core.paths import relative_to_root
from pipeline.study.frame import read_frame
from pipeline.study.targets import DEFAULT_TARGETS_PATH, Target, TargetFile, load_targets
from pipeline.study.vocabulary import AUTHORITY_TYPES
from pipeline.synthetic.model import (
    INSTRUMENTS,
    LIKERT_THRESHOLDS,
    PARAMETERS,
    Members,
    PlantedEffects,
    Population,
    binary_probability,
    calibrate,
    cumulative_probabilities,
    development_stage,
    direction_difference,
    draw_population,
    element_index,
    expected_share,
    likert_predictor,
    members,
    parameters_record,
    population_truth,
    replicate_frame,
    research_location,
    systematic_pps,
)

__all__ = ["PlantedEffects", "SyntheticSurvey", "generate", "population_truth", "write_exports"]

log = logging.getLogger("pipeline.synthetic.simulate")

GENERATOR = "pipeline.synthetic.simulate (synthetic generator of the LSP survey reconstruction)"
FILES = {
    "coordinator_csv": "synthetic_coordinator_survey_2008.csv",
    "coordinator_sav": "synthetic_coordinator_survey_2008.sav",
    "partner_xlsx": "synthetic_partner_survey_2008.xlsx",
    "truth_json": "synthetic_truth_2008.json",
    "lsp_truth_csv": "synthetic_lsp_truth_2008.csv",
}
PARTNER_SHEET = "responses"
# Every timestamp the exports carry is fixed, so that regenerating gives identical bytes.
FIXED_DATE = datetime.datetime(2008, 5, 31, 0, 0, 0)
# The header record: "$FL2" (4), product (60), five int32 fields (20), bias (8), then the creation
# date "dd mmm yy" (9) and time "hh:mm:ss" (8).
SAV_DATE_OFFSET = 92
SAV_FIXED_STAMP = b"31 May 08" + b"00:00:00"
NOT_ANSWERED = -9
# Short synthetic comments; several exercise the exports' quoting (commas, quotes, a newline, the pound).
COMMENTS = (
    "The LSP has improved a lot since the LAA was signed.",
    "Too many meetings, not enough decisions.",
    'Partners say "we are committed", but the budgets tell another story.',
    "Our research budget is about £20,000 a year, shared with the PCT.",
    "Good chair; weak theme groups.",
    "The county, the districts and the PCT all report on different cycles.",
    "Two points:\n1. data sharing is slow\n2. the board is too large",
    "Performance reports arrive late, often after the quarter has closed.",
    "New board members need training.",
    "The council still sets the agenda.",
    "No further comments.",
    "Joint commissioning with health works well (£1.2m pooled).",
)

_calibration_cache: dict[tuple[str, PlantedEffects], dict[str, Any]] = {}


@dataclass
class SyntheticSurvey:
    """One synthetic survey.

    ``coordinators`` and ``partners``: the validated layout (every codebook column of the instrument, in
    codebook order; ids and free text as pandas "string", everything else "Int64" codes with the missing
    codes -1/-8/-9 kept). ``lsp_truth``: one row per LSP of ``frame`` with its latent values.
    ``truth``: seed, parameters, population values and the calibration table (JSON-ready).
    ``frame``: the frame the survey was drawn from (replicated when scale > 1).
    """

    coordinators: pd.DataFrame
    partners: pd.DataFrame
    lsp_truth: pd.DataFrame
    truth: dict[str, Any]
    frame: pd.DataFrame
    population: Population
    _attributes: dict[tuple[str, str], pd.Series] = field(default_factory=dict, repr=False)

    def responses(self, instrument: str) -> pd.DataFrame:
        return self.coordinators if instrument == "coordinator" else self.partners

    def lsp_attribute(self, instrument: str, column: str) -> pd.Series:
        """A frame column for every respondent of the instrument (looked up once, then reused)."""
        key = (instrument, column)
        if key not in self._attributes:
            lookup = self.frame.set_index("lsp_id")[column]
            table = self.responses(instrument)
            self._attributes[key] = pd.Series(
                lookup.reindex(table["lsp_id"].to_numpy()).to_numpy(), index=table.index
            )
        return self._attributes[key]


# ------------------------------------------------------------------------------------------ generate


def calibrated_parameters(
    frame: pd.DataFrame, codebook: Codebook, targets: TargetFile, effects: PlantedEffects
) -> dict[str, Any]:
    """The solved intercepts and cut-points, computed once per frame, targets and planted effects."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(repr(targets.targets).encode())
    digest.update(str(codebook.path).encode())
    key = (digest.hexdigest(), effects)
    if key not in _calibration_cache:
        _calibration_cache[key] = calibrate(frame, codebook, targets, effects)
    return _calibration_cache[key]


def generate(
    frame: pd.DataFrame,
    codebook: Codebook,
    seed: int,
    *,
    n_coordinators: int,
    n_partners: int,
    scale: int = 1,
    effects: PlantedEffects | None = None,
    targets: TargetFile | None = None,
) -> SyntheticSurvey:
    """Draw a finite population from the frame, select respondents by unit nonresponse and answer.

    ``scale`` replicates the frame into scale x 388 LSP-like areas and multiplies both respondent
    counts by scale. ``effects`` defaults to the calibrated model's planted effects. The calibration
    (intercepts, cut-points) is re-solved for the given effects so the published targets still hold.
    """
    effects = effects or PlantedEffects()
    targets = targets or load_targets(DEFAULT_TARGETS_PATH)
    params = calibrated_parameters(frame, codebook, targets, effects)
    scaled_frame = replicate_frame(frame, scale)
    rng = np.random.default_rng(seed)
    population = draw_population(scaled_frame, rng, effects)
    coordinator_rows, coordinator_pi = systematic_pps(
        population.coordinator_propensity, n_coordinators * scale, rng
    )
    partner_rows, _ = systematic_pps(population.partner_propensity, n_partners * scale, rng)
    coordinators = _coordinator_responses(population, coordinator_rows, codebook, params, rng)
    partners = _partner_responses(population, partner_rows, codebook, params, rng)
    lsp_truth = _lsp_truth(population, codebook, params, coordinator_rows, coordinator_pi, partner_rows)
    survey = SyntheticSurvey(
        coordinators=coordinators,
        partners=partners,
        lsp_truth=lsp_truth,
        truth={},
        frame=scaled_frame,
        population=population,
    )
    survey.truth = _truth_record(survey, codebook, params, targets, seed, scale, effects)
    return survey


def _missing_codes(
    values: np.ndarray, variable: Variable, rates: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Overlay item nonresponse: 'don't know' and 'not answered', where the variable allows them."""
    dont_know, not_answered = rates
    draw = rng.random(len(values))
    values = values.copy()
    if -8 in variable.missing:
        values[draw < dont_know] = -8
    if NOT_ANSWERED in variable.missing:
        values[(draw >= dont_know) & (draw < dont_know + not_answered)] = NOT_ANSWERED
    return values


def _ordinal_draw(cumulative: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Codes 1..K from P(Y <= k), one uniform per respondent."""
    return 1 + (rng.random(cumulative.shape[0])[:, None] > cumulative).sum(axis=1)


def _binary_draw(
    probability: np.ndarray, positive: int, negative: int, rng: np.random.Generator
) -> np.ndarray:
    return np.where(rng.random(len(probability)) < probability, positive, negative)


def _likert_draw(predictor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cumulative logit: the latent answer is predictor + logistic noise, cut at the fixed thresholds."""
    latent = predictor + rng.logistic(size=len(predictor))
    return 1 + (latent[:, None] > np.asarray(LIKERT_THRESHOLDS)[None, :]).sum(axis=1)


def _comments(n: int, rate: float, rng: np.random.Generator) -> pd.array:
    given = rng.random(n) < rate
    choice = rng.integers(0, len(COMMENTS), size=n)
    text = np.array(COMMENTS, dtype=object)[choice]
    return pd.array(np.where(given, text, None), dtype="string")


def _respondent_ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Ids in a random order, so that an id says nothing about the LSP or the order of selection."""
    width = max(4, len(str(n)))
    numbers = rng.permutation(n) + 1
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width))


def _answers(
    instrument: str,
    people: Members,
    population: Population,
    codebook: Codebook,
    params: dict[str, Any],
    rng: np.random.Generator,
    sort: bool = True,
) -> pd.DataFrame:
    """Every codebook column of the instrument for the selected members (validated layout).

    Rows are sorted by respondent id (which carries no information), or kept in member order.
    """
    p = PARAMETERS
    elements = element_index(codebook)
    n = len(people)
    columns: dict[str, Any] = {}
    codes: dict[str, np.ndarray] = {}
    joint_funding = None
    group_missing = {}
    for variable in codebook.for_instrument(instrument):
        name = variable.name
        if variable.type == "id":
            continue
        if variable.type == "free_text":
            columns[name] = _comments(n, p.comment_rate[instrument], rng)
            continue
        rates = p.other_missing
        if variable.type == "likert5":
            values = _likert_draw(likert_predictor(variable, people, params, elements), rng)
            rates = p.likert_missing[instrument]
        elif name == "partner_sector":
            values = population.partner_sector[people.index]
        elif name == "chair_type":
            chair_codes = np.array(sorted(p.chair_shares))
            shares = np.array([p.chair_shares[c] for c in chair_codes])
            values = chair_codes[rng.choice(len(chair_codes), size=n, p=shares / shares.sum())]
        elif name == "forum_size":
            county = people.authority == AUTHORITY_TYPES.index("county")
            size = np.exp(np.log(35) + 0.35 * county + 0.45 * rng.standard_normal(n))
            values = np.clip(np.rint(size), *variable.range).astype(np.int64)
        elif name == "support_team_fte":
            bigger = np.isin(people.authority, [AUTHORITY_TYPES.index(t) for t in PARA57_TEAM_TYPES])
            size = np.exp(np.log(2.5) + 0.4 * bigger + 0.5 * rng.standard_normal(n))
            values = np.clip(np.rint(size), *variable.range).astype(np.int64)
        elif name == "development_stage":
            values = development_stage(population, params)[people.lsp]
        elif name == "joint_working_year":
            values = population.joint_working_year[people.lsp]
            rates = (0.05, p.other_missing[1])
        elif name == "resources_mapped":
            location = -p.factual_slope["resources_mapped"] * people.lsp_traits[:, elements["steering"]]
            values = _ordinal_draw(
                cumulative_probabilities(params["cutpoints"]["resources_mapped"], location), rng
            )
        elif name == "research_budget_band":
            p_joint = binary_probability("research_budget_joint", "synergies", people, params, elements)
            joint_funding = rng.random(n) < p_joint
            location = research_location(people, elements, joint_funding, params["research_joint_shift"])
            values = _ordinal_draw(
                cumulative_probabilities(params["cutpoints"]["research_budget_band"], location), rng
            )
        elif name == "research_budget_joint":
            values = np.where(joint_funding, 1, 2)
        elif variable.type in ("yes_no", "multiple_choice"):
            positive, negative = (1, 2) if variable.type == "yes_no" else (1, 0)
            probability = binary_probability(name, variable.element or "systems", people, params, elements)
            values = _binary_draw(probability, positive, negative, rng)
        else:
            raise PipelineError(f"simulate: no generator for {name} ({variable.type})")
        if variable.type == "multiple_choice":
            # A skipped multiple-choice question leaves every option of the question unanswered.
            group = variable.question_group
            if group not in group_missing:
                group_missing[group] = rng.random(n) < p.group_not_answered
            values = np.where(group_missing[group], NOT_ANSWERED, values)
        else:
            values = _missing_codes(np.asarray(values, dtype=np.int64), variable, rates, rng)
        codes[name] = np.asarray(values, dtype=np.int64)
    for variable in codebook.for_instrument(instrument):
        parts = variable.asked_if_parts()
        if parts is None:
            continue
        condition, operator, value = parts
        asked = codes[condition] == value if operator == "==" else codes[condition] >= value
        codes[variable.name] = np.where(asked, codes[variable.name], -1)
    prefix = "C" if instrument == "coordinator" else "P"
    table = {
        "respondent_id": pd.array(_respondent_ids(prefix, n, rng), dtype="string"),
        "lsp_id": pd.array(population.lsp_id[people.lsp].astype(str), dtype="string"),
    }
    for variable in codebook.for_instrument(instrument):
        if variable.name in codes:
            table[variable.name] = pd.array(codes[variable.name], dtype="Int64")
        elif variable.name in columns:
            table[variable.name] = columns[variable.name]
    frame = pd.DataFrame(table)[codebook.columns(instrument)]
    return frame.sort_values("respondent_id", ignore_index=True) if sort else frame


# Support teams are larger where the LSP serves a county or a metropolitan area.
PARA57_TEAM_TYPES = ("county", "metropolitan_district")


def _coordinator_responses(
    population: Population,
    rows: np.ndarray,
    codebook: Codebook,
    params: dict[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    return _answers(
        "coordinator", members(population, "coordinator", rows), population, codebook, params, rng
    )


def _partner_responses(
    population: Population,
    rows: np.ndarray,
    codebook: Codebook,
    params: dict[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    return _answers("partner", members(population, "partner", rows), population, codebook, params, rng)


def population_answers(
    population: Population,
    instrument: str,
    codebook: Codebook,
    params: dict[str, Any],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The answers every member of the population would give (respondents and nonrespondents alike),
    in member order: row i is coordinator i (LSP i) or board member i. A method-validation study samples
    respondents from these realised answers, so its truth is the finite population's own proportions."""
    return _answers(
        instrument, members(population, instrument), population, codebook, params, rng, sort=False
    )


# ---------------------------------------------------------------------------------------------- truth


def _lsp_truth(
    population: Population,
    codebook: Codebook,
    params: dict[str, Any],
    coordinator_rows: np.ndarray,
    coordinator_pi: np.ndarray,
    partner_rows: np.ndarray,
) -> pd.DataFrame:
    traits = population.element_traits()
    n = population.n_lsps
    responded = np.zeros(n, dtype=bool)
    responded[coordinator_rows] = True
    table = {
        "lsp_id": population.lsp_id.astype(str),
        "authority_type": np.array(AUTHORITY_TYPES)[population.authority],
        "tier": np.where(population.multi_tier, "multi", "single"),
        "inner_urban_proxy": population.inner_urban,
        "laa_first_round": population.laa_first_round,
        "maturity": np.round(population.maturity, 6),
        **{f"trait_{element}": np.round(traits[:, i], 6) for i, element in enumerate(codebook.elements)},
        "random_effect": np.round(population.random_effect, 6),
        "development_stage": development_stage(population, params),
        "joint_working_year": population.joint_working_year,
        "coordinator_inclusion_probability": np.round(coordinator_pi, 6),
        "coordinator_responded": responded,
        "board_size": np.bincount(population.partner_lsp, minlength=n),
        "partners_responded": np.bincount(population.partner_lsp[partner_rows], minlength=n),
    }
    return pd.DataFrame(table)


def _realised_share(survey: SyntheticSurvey, target: Target, codebook: Codebook) -> tuple[float | None, int]:
    """The target computed from the sample itself: share of the event among substantive answers."""
    table = survey.responses(target.instrument)
    authority = survey.lsp_attribute(target.instrument, "authority_type")
    in_domain = pd.Series(True, index=table.index)
    if target.authority_types is not None:
        in_domain &= authority.isin(target.authority_types)
    if target.condition is not None:
        name, code = target.condition
        in_domain &= table[name].eq(code)
    values = table.loc[in_domain, target.variable]
    base = values.isin(list(codebook[target.variable].codes))
    if base.sum() == 0:
        return None, 0
    return round(float(100 * values[base].isin(list(target.event)).mean()), 4), int(base.sum())


def _favourable_items(codebook: Codebook, instrument: str) -> list[str]:
    return [v.name for v in codebook.likert_items(instrument) if not v.reverse]


def _direction_from_sample(survey: SyntheticSurvey, codebook: Codebook, key: str) -> float:
    """Mean over favourable items of the difference in % agreeing between the two groups of the sample."""
    stage = survey.coordinators.set_index("lsp_id")["development_stage"]
    differences = []
    for instrument in INSTRUMENTS:
        table = survey.responses(instrument)
        if key == "multi_tier_direction":
            high = survey.lsp_attribute(instrument, "tier").eq("multi")
            known = pd.Series(True, index=table.index)
        else:
            lsp_stage = table["lsp_id"].map(stage).astype("Float64")
            known = lsp_stage.between(1, 4).fillna(False).astype(bool)
            high = (lsp_stage >= 3).fillna(False).astype(bool)
        for item in _favourable_items(codebook, instrument):
            values = table[item]
            valid = values.between(1, 5).fillna(False).astype(bool) & known
            agree = values.ge(4).fillna(False).astype(bool)
            differences.append(agree[valid & high].mean() - agree[valid & ~high].mean())
    return round(100 * float(np.nanmean(differences)), 4)


def _calibration_table(
    survey: SyntheticSurvey,
    codebook: Codebook,
    params: dict[str, Any],
    targets: TargetFile,
    population_values: dict[str, Any],
) -> list[dict[str, Any]]:
    rows = []
    people = {instrument: members(survey.population, instrument) for instrument in INSTRUMENTS}
    for target in targets.targets:
        row: dict[str, Any] = {
            "figure_id": target.figure_id,
            "key": target.key,
            "quantity": target.quantity,
            "published": target.published,
            "target": target.value,
            "value_basis": target.value_basis,
            "method": target.method,
            "tolerance": target.tolerance,
            "bounds": list(target.bounds) if target.bounds else None,
        }
        if target.method == "direction":
            row["model_expected"] = params["expected"][target.key]
            row["population_this_seed"] = direction_difference(population_values, codebook, target.key)
            row["realised_sample"] = _direction_from_sample(survey, codebook, target.key)
            row["realised_n"] = None
        else:
            row["model_expected"] = params["expected"][target.key]
            row["population_this_seed"] = round(
                expected_share(target, people[target.instrument], params, codebook), 4
            )
            row["realised_sample"], row["realised_n"] = _realised_share(survey, target, codebook)
        rows.append(row)
    return rows


def _round_floats(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): _round_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round_floats(v) for v in value]
    return value


def _truth_record(
    survey: SyntheticSurvey,
    codebook: Codebook,
    params: dict[str, Any],
    targets: TargetFile,
    seed: int,
    scale: int,
    effects: PlantedEffects,
) -> dict[str, Any]:
    population_values = population_truth(survey.population, codebook, params)
    calibration = _calibration_table(survey, codebook, params, targets, population_values)
    return _round_floats(
        {
            "synthetic": True,
            "notice": "SYNTHETIC DATA generated by a model; no number here is the Audit Commission's.",
            "generator": GENERATOR,
            "seed": seed,
            "scale": scale,
            "respondents": {"coordinator": len(survey.coordinators), "partner": len(survey.partners)},
            "population_size": {
                "lsps": survey.population.n_lsps,
                "coordinator": survey.population.n_lsps,
                "partner": len(survey.population.partner_lsp),
            },
            "parameters": parameters_record(effects),
            "calibrated": {key: value for key, value in params.items() if key != "expected"},
            "planted_effects": {
                "tier_logodds_multi_vs_single": effects.tier,
                "maturity_logodds_per_sd": effects.maturity,
                "response_maturity_logodds_per_sd": effects.response_maturity,
                "population_mean_difference_pct_points": {
                    "multi_minus_single": direction_difference(
                        population_values, codebook, "multi_tier_direction"
                    ),
                    "more_minus_less_mature": direction_difference(
                        population_values, codebook, "maturity_direction"
                    ),
                    "note": "mean over favourably worded Likert items of both instruments; marginal "
                    "differences, so they include the confounding of tier with maturity",
                },
            },
            "population_likert_agree": population_values,
            "population_definition": "proportion agreeing (codes 4-5) among substantive answers: the "
            "mean over every member of the finite population of the model probability of agreeing given the "
            "member's latent values; maturity groups by the primary definition (development stage 3-4)",
            "calibration": calibration,
        }
    )


# -------------------------------------------------------------------------------------------- exports


def export_values(table: pd.DataFrame, codebook: Codebook, instrument: str) -> pd.DataFrame:
    """The export contract: codes as their labels, missing codes as labels (-9 'not answered' as an empty
    cell), counts and years as integers, ids and free text as text. Empty cells are None."""
    out = {}
    for variable in codebook.for_instrument(instrument):
        column = table[variable.name]
        if variable.is_text:
            out[variable.name] = pd.Series(
                [None if pd.isna(v) else str(v) for v in column], dtype=object, index=table.index
            )
            continue
        labels = {code: label for code, label in variable.missing.items() if code != NOT_ANSWERED}
        if variable.is_coded:
            labels.update(variable.codes)
        values = column.to_numpy(dtype="int64", na_value=NOT_ANSWERED)
        mapped = [labels.get(int(v), int(v)) if v != NOT_ANSWERED else None for v in values]
        if variable.is_coded and any(isinstance(v, int) for v in mapped):
            raise PipelineError(f"{variable.name}: a code without a label")
        # object dtype keeps None as None (pandas would otherwise infer a string column with NaN).
        out[variable.name] = pd.Series(mapped, dtype=object, index=table.index)
    return pd.DataFrame(out, columns=codebook.columns(instrument))


def write_coordinator_csv(table: pd.DataFrame, codebook: Codebook, target: Path) -> None:
    values = export_values(table, codebook, "coordinator")
    text = values.map(lambda v: "" if v is None or pd.isna(v) else str(v))
    with atomic_path(target) as temporary:
        text.to_csv(temporary, index=False, lineterminator="\n", encoding="utf-8")


def _sav_frame(table: pd.DataFrame, codebook: Codebook, instrument: str) -> pd.DataFrame:
    out = {}
    for variable in codebook.for_instrument(instrument):
        column = table[variable.name]
        if variable.is_text:
            out[variable.name] = column.fillna("").astype(str).to_numpy(dtype=object)
        else:
            out[variable.name] = column.to_numpy(dtype="int64", na_value=NOT_ANSWERED).astype(float)
    return pd.DataFrame(out)


def write_coordinator_sav(table: pd.DataFrame, codebook: Codebook, target: Path, seed: int) -> None:
    """SPSS file: numeric codes with value labels (missing codes labelled too), strings for ids and text.

    The missing codes are ordinary labelled values, not declared user-missing, so a reader sees -1, -8
    and -9 as they are. ReadStat stamps the creation time into the header; it is overwritten with a
    fixed date so that the file is byte-identical across runs.
    """
    variables = codebook.for_instrument("coordinator")
    value_labels = {}
    measure = {}
    for variable in variables:
        if variable.is_text:
            measure[variable.name] = "nominal"
            continue
        labels = dict(variable.missing)
        if variable.is_coded:
            labels.update(variable.codes)
        value_labels[variable.name] = {float(code): label for code, label in sorted(labels.items())}
        measure[variable.name] = (
            "scale"
            if variable.is_numeric
            else "ordinal"
            if variable.type in ("likert5", "band")
            else "nominal"
        )
    with atomic_path(target) as temporary:
        pyreadstat.write_sav(
            _sav_frame(table, codebook, "coordinator"),
            temporary,
            file_label="SYNTHETIC LSP coordinator survey 2008 (not real data)",
            column_labels={v.name: v.label for v in variables},
            # SPSS notes are lines of at most 80 characters.
            note=[
                "SYNTHETIC DATA generated by pipeline.synthetic.simulate",
                f"seed {seed}; no number in this file is the Audit Commission's",
            ],
            variable_value_labels=value_labels,
            variable_measure=measure,
        )
        data = bytearray(temporary.read_bytes())
        if data[:4] != b"$FL2":
            raise PipelineError("the SPSS writer produced an unexpected header")
        data[SAV_DATE_OFFSET : SAV_DATE_OFFSET + len(SAV_FIXED_STAMP)] = SAV_FIXED_STAMP
        temporary.write_bytes(bytes(data))


def _deterministic_zip(raw: bytes) -> bytes:
    """Rewrite a zip with fixed entry dates and attributes, entries in their original order."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "docProps/core.xml":
                # openpyxl writes the save time here; the date is fixed like every other stamp.
                stamp = FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%SZ")
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data)
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    return buffer.getvalue()


def write_partner_xlsx(table: pd.DataFrame, codebook: Codebook, target: Path, seed: int, scale: int) -> None:
    values = export_values(table, codebook, "partner")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = PARTNER_SHEET
    sheet.append(list(values.columns))
    for row in values.itertuples(index=False, name=None):
        sheet.append(list(row))
    about = workbook.create_sheet("about")
    for line in (
        ("SYNTHETIC DATA", "These responses were generated by a model. No number is the Audit Commission's."),
        ("instrument", "partner (LSP board members)"),
        ("generator", GENERATOR),
        ("seed", seed),
        ("scale", scale),
        ("rows", len(values)),
        (
            "coding",
            "answers as value labels; 'Not applicable' and 'Don't know' as labels; "
            "an empty cell is 'not answered'",
        ),
    ):
        about.append(list(line))
    workbook.properties.creator = "pipeline.synthetic.simulate"
    workbook.properties.title = "SYNTHETIC LSP partner survey 2008"
    workbook.properties.created = FIXED_DATE
    workbook.properties.modified = FIXED_DATE
    buffer = io.BytesIO()
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)
    ExcelWriter(workbook, archive).save()
    with atomic_path(target) as temporary:
        temporary.write_bytes(_deterministic_zip(buffer.getvalue()))


def write_exports(survey: SyntheticSurvey, codebook: Codebook, out_dir: Path) -> dict[str, Path]:
    """Write the five files of the synthetic survey into ``out_dir``; returns their paths by role."""
    out_dir = Path(out_dir)
    paths = {role: out_dir / name for role, name in FILES.items()}
    seed, scale = survey.truth["seed"], survey.truth["scale"]
    write_coordinator_csv(survey.coordinators, codebook, paths["coordinator_csv"])
    write_coordinator_sav(survey.coordinators, codebook, paths["coordinator_sav"], seed)
    write_partner_xlsx(survey.partners, codebook, paths["partner_xlsx"], seed, scale)
    write_json(paths["truth_json"], survey.truth)
    write_csv(survey.lsp_truth, paths["lsp_truth_csv"])
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--out-dir", "{synthetic_dir}", "where to write the synthetic exports")
    parser.add_argument(
        "--seed", type=int, default=None, help="the generator's seed (default: synthetic.seed)"
    )
    parser.add_argument(
        "--scale", type=int, default=1, help="multiply the numbers of LSPs and respondents (default: 1)"
    )
    arguments, config = parse_stage_arguments(parser, argv)
    if arguments.seed is None:
        arguments.seed = config.synthetic_seed
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    survey = generate(
        frame,
        codebook,
        arguments.seed,
        n_coordinators=config.n_coordinators,
        n_partners=config.n_partners,
        scale=arguments.scale,
    )
    paths = write_exports(survey, codebook, arguments.out_dir)
    rows = {
        "coordinator_csv": len(survey.coordinators),
        "coordinator_sav": len(survey.coordinators),
        "partner_xlsx": len(survey.partners),
        "truth_json": len(survey.truth["calibration"]),
        "lsp_truth_csv": len(survey.lsp_truth),
    }
    for role, path in paths.items():
        unit = "calibration rows" if role == "truth_json" else "rows"
        log.info("wrote %s: %d %s", relative_to_root(path), rows[role], unit)


if __name__ == "__main__":
    run_stage("simulate", main)
