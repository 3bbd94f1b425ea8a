"""Improvement tool stage: the national reference values and the self-contained page a partnership uses.

Reads the analysis base and the frame; writes ``analysis/improvement_tool.json`` (the reference values)
and ``analysis/improvement_tool.html`` (one file, no network request, the same values embedded as a JSON
block, the script from pipeline/templates/improvement_tool.js). Every value is design-based on the primary
weighting's designs (pipeline/study/designs.py, pipeline/study/weighting.py) and disclosure-safe:

- for every 7S item, the weighted % agreeing with its logit interval (R's svyciprop), of all respondents
  nationally and in each comparison group, and of coordinators and partners nationally;
- for every 7S scale, the 10th, 25th, 50th, 75th and 90th percentiles of respondents' scale scores with
  Woodruff intervals (R's svyquantile), nationally and in each group, and of the LSP scale scores as
  coordinators report them (one per LSP) nationally;
- the pooled within-LSP standard deviation of each scale, which sizes a partnership's own interval;
- the frame's LSPs (name, groups, case-study flag) for the page's picker, only for a frame of at most
  ``improvement.LSP_LIST_MAX`` LSPs; above it the counts of case-study LSPs by group instead, and the
  page takes the comparison group by name (`frame_lsp_list`).

No number rests on fewer than ``disclosure.min_cell`` respondents; a percentile is published only when at
least that many respondents score at or below it and at or above it; a group too small says so; and the
stage stops if two published groups differ by fewer than ``min_cell`` respondents (pipeline/study/
improvement.py says why the groups are fixed partitions).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.config import Config, parse_stage_arguments, path_option, stage_parser
from pipeline.core.errors import PipelineError
from pipeline.core.io import run_stage, write_text
from pipeline.core.paths import rebuild_command, relative_to_root
from pipeline.core.weighting_spec import METHOD_LABELS
from pipeline.study import improvement
from pipeline.study.designs import (
    CALIBRATION_COLUMNS,
    DESIGNS,
    POPULATION,
    WEIGHT,
    design_columns,
    population_rows,
    prepare_designs,
)
from pipeline.study.frame import read_frame
from pipeline.study.outcomes import maturity_group_column
from pipeline.study.vocabulary import INSTRUMENTS, scale_column
from pipeline.study.weighting import calibrator, forget_calibration_inputs, frame_variables

log = logging.getLogger("pipeline.stages.improvement_tool")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PAGE_LIMIT_BYTES = 1_000_000
# Items per batch pass of `proportion_rows`.
BATCH_COLUMNS = 8


def tool_items(codebook: Codebook) -> list[dict[str, Any]]:
    """The 7S agree-scale questions, in codebook order, as the page and the profile read them."""
    return [
        {
            "name": v.name,
            "label": v.label,
            "question": v.question,
            "element": v.element,
            "reverse": bool(v.reverse),
            # In its element's scale for every instrument that asks it (pipeline/study/scales.py).
            "in_scale": bool(v.in_scale),
            "instruments": list(v.instruments),
        }
        for v in codebook.variables
        if v.type == "likert5" and v.element
    ]


def base_columns(codebook: Codebook, config: Config) -> set[str]:
    """The analysis base's columns the stage reads: the designs' and calibration's, the partitions', the
    maturity group's, and the 7S items and scales (the rest of the base is left on disk: at 1,000 times
    the bundled survey the whole base is 0.4 GB in memory)."""
    designs = {column for design in DESIGNS.values() for column in design.columns} - {POPULATION, WEIGHT}
    partitions = {partition.column for partition in improvement.PARTITIONS}
    return (
        designs
        | set(CALIBRATION_COLUMNS)
        | partitions
        | {"respondent_type", maturity_group_column(config, None)}
        | {item["name"] for item in tool_items(codebook)}
        | {scale_column(element) for element in codebook.elements}
    )


def analysis_data(
    base: pd.DataFrame,
    frame: pd.DataFrame,
    codebook: Codebook,
    config: Config,
    frame_vars: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The analysis base with design columns, the comparison-group columns and an agree flag per item
    (1 agreeing, 0 not, NaN for an answer off the scale or none) in place of the item's answers;
    `frame_vars` is `frame_variables(frame)` when the caller has it.

    The flags are float32: 0, 1 and NaN are exact in it, and the estimators read them as float64, so
    the numbers are the same in half the memory; the answers themselves are read only for their flags
    (together 0.2 GB at 1,000 times the bundled survey).
    """
    data = design_columns(base, frame)
    bands = (frame_variables(frame) if frame_vars is None else frame_vars)[["lsp_id", "imd_band"]]
    data = data.merge(bands, on="lsp_id", how="left", validate="many_to_one")
    data["maturity"] = data[maturity_group_column(config, None)].astype("object")
    agree = list(codebook.agree_codes)
    flags = {}
    items = [item["name"] for item in tool_items(codebook)]
    for name in items:
        codes = pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        valid = np.isin(codes, list(codebook[name].codes))
        flags[f"agree__{name}"] = np.where(valid, np.isin(codes, agree).astype(float), np.nan).astype(
            np.float32
        )
    return pd.concat([data.drop(columns=items), pd.DataFrame(flags, index=data.index)], axis=1)


def groups(data: pd.DataFrame) -> list[dict[str, Any]]:
    """England and every group of every partition, with its rows."""
    result = [{"key": "all", "partition": "all", "label": "England", "rows": np.ones(len(data), dtype=bool)}]
    for partition in improvement.PARTITIONS:
        column = data[partition.column].astype("object")
        for level, label in partition.levels.items():
            result.append(
                {
                    "key": f"{partition.key}:{level}",
                    "partition": partition.key,
                    "label": label,
                    "rows": column.eq(level).to_numpy(),
                }
            )
    return result


def check_differencing(all_groups: list[dict[str, Any]], min_cell: int) -> None:
    """Stop when one published group lies inside another (or England) but for a few respondents."""
    published = [g for g in all_groups if g["rows"].sum() >= min_cell]
    for i, first in enumerate(published):
        for second in published[i + 1 :]:
            # Subtracting one aggregate from another describes A less B only when B lies inside A.
            first_only, second_only = first["rows"] & ~second["rows"], second["rows"] & ~first["rows"]
            for only, other in ((first_only, second_only), (second_only, first_only)):
                if not other.any() and 0 < only.sum() < min_cell:
                    raise PipelineError(
                        f"improvement tool: groups {first['key']} and {second['key']} differ by {only.sum()} "
                        f"respondents (fewer than {min_cell}); their difference would describe them"
                    )
    everyone = all_groups[0]["rows"]
    for partition in improvement.PARTITIONS:
        covered = np.zeros_like(everyone)
        for g in all_groups:
            if g["partition"] == partition.key and g["rows"].sum() >= min_cell:
                covered |= g["rows"]
        rest = int((everyone & ~covered).sum())
        if 0 < rest < min_cell:
            raise PipelineError(
                f"improvement tool: England less the published {partition.key} groups leaves {rest} "
                f"respondents"
            )


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def percentile_rows(design, values: np.ndarray, rows: np.ndarray, min_cell: int) -> list[dict[str, Any]]:
    """The group's percentiles with intervals; a percentile with fewer than min_cell on a side is blank."""
    from pipeline.survey import svyquantile

    observed = rows & ~np.isnan(values)
    estimates = svyquantile(design, values, improvement.PERCENTILES, domain=observed)
    result = []
    for estimate in estimates:
        at_or_below = int((values[observed] <= estimate.quantile).sum())
        at_or_above = int((values[observed] >= estimate.quantile).sum())
        safe = min(at_or_below, at_or_above) >= min_cell
        result.append(
            {
                "p": estimate.p,
                "value": _number(estimate.quantile) if safe else None,
                "ci_low": _number(estimate.ci_low) if safe else None,
                "ci_high": _number(estimate.ci_high) if safe else None,
                "suppressed": "" if safe else f"fewer than {min_cell} respondents on one side",
            }
        )
    return result


def group_percentiles(
    design, values: np.ndarray, all_groups: list[dict[str, Any]], min_cell: int, every_group: bool = False
) -> dict[str, dict[str, Any]]:
    """`percentile_rows` of one scale in every group with at least min_cell scores (``every_group``: in
    every group with a score), by group key.

    Where the engine estimates a domain from its own rows (`pipeline.survey.domains.variance_plan`: a
    design of 2,000 rows or more), the scale is sorted once and each group's percentiles and Woodruff
    intervals come from that order (`_sorted_percentiles`: svyquantile's rule and formulas, to rounding);
    smaller designs take `percentile_rows` group by group, so the bundled survey's page is byte for byte
    what it was. At 1,000 times the bundled survey svyquantile sorted every group's scores three times per
    percentile and passed over every respondent twice per percentile: most of the stage's time.
    """
    from pipeline.survey.domains import variance_plan

    observed = ~np.isnan(values)
    plan = variance_plan(design)
    order = None
    if plan is not None:
        # One sort per scale. A group's scores in this order are its own scores sorted stably: ties keep
        # row order either way, as R's order() and the engine's stable sort do.
        positions = np.flatnonzero(observed)
        order = positions[np.argsort(values[positions], kind="stable")]
    result = {}
    for group in all_groups:
        in_group = group["rows"] & observed
        n = int(in_group.sum())
        if n < (1 if every_group else min_cell):
            continue
        if order is None:
            percentiles = percentile_rows(design, values, group["rows"], min_cell)
        else:
            members = order[in_group[order]]
            percentiles = _sorted_percentiles(design, plan, values, members, in_group, min_cell)
        result[group["key"]] = {"n": n, "percentiles": percentiles}
    return result


def _inverse_distribution(x: np.ndarray, w: np.ndarray):
    """R's ``qrule_math`` (`weighted_quantile_math`) at any p, for values already in stable order.

    The cumulative weights are summed once, in long double as the engine does, and each p is a binary
    search of them: the last position whose cumulative share is at most p, the value there if the share
    equals p exactly, else the next one. Negative weights (a cumulative sum that can fall) take the
    engine's own search.
    """
    from pipeline.survey.quantile import weighted_quantile_math

    if np.any(w < 0):
        return lambda p: weighted_quantile_math(x, w, p)
    weights = w.astype(np.longdouble)
    cumulative = np.cumsum(weights)
    total = weights.sum()

    def quantile(p: float) -> float:
        share = np.longdouble(p)
        pos = max(int(np.searchsorted(cumulative, share * total, side="right")) - 1, 0)
        next_pos = pos if pos == x.size - 1 else pos + 1
        exact = share - cumulative[pos] / total == 0
        return float(x[pos] if exact else x[next_pos])

    return quantile


def _sorted_percentiles(
    design, plan, values: np.ndarray, members: np.ndarray, in_group: np.ndarray, min_cell: int
) -> list[dict[str, Any]]:
    """`percentile_rows` from the group's rows in value order (`members`; `in_group` its row mask).

    svyquantile's computation (pipeline/survey/quantile.py), all percentiles at once: each quantile from
    the one cumulative sum; the shares at or below them as weighted means of the group's rows with
    their variances from the plan in one pass (`svymean`'s estimate and SE, to rounding); each interval
    end mapped back through the same cumulative sum.
    """
    from pipeline.survey.estimators import t_quantile
    from pipeline.survey.quantile import ROUNDING

    ordered = values[members]
    weights = design.weights[members]
    keep = weights != 0  # R drops zero weights before it orders the values
    quantile = _inverse_distribution(ordered[keep], weights[keep])
    estimates = np.array([quantile(p) for p in improvement.PERCENTILES])
    rows = np.flatnonzero(in_group)
    w = design.weights[rows]
    at_or_below = (values[rows][:, None] <= estimates[None, :]).astype(float)
    total = w.sum()
    shares = (w @ at_or_below) / total
    influence = (w / total)[:, None] * (at_or_below - shares)
    se = np.sqrt(plan.variances(rows, influence))
    crit = t_quantile(0.95, design.degf(in_group))
    result = []
    for p, q, share, share_se in zip(improvement.PERCENTILES, estimates, shares, se, strict=True):
        low_p, high_p = share - crit * share_se, share + crit * share_se
        low_p = 0.0 if -ROUNDING < low_p < 0 else low_p
        high_p = 1.0 if 1 < high_p < 1 + ROUNDING else high_p
        low = float("nan") if np.isnan(low_p) or low_p < 0 else quantile(low_p)
        high = float("nan") if np.isnan(high_p) or high_p > 1 else quantile(high_p)
        below = int(np.searchsorted(ordered, q, side="right"))
        above = ordered.size - int(np.searchsorted(ordered, q, side="left"))
        safe = min(below, above) >= min_cell
        result.append(
            {
                "p": float(p),
                "value": _number(float(q)) if safe else None,
                "ci_low": _number(low) if safe else None,
                "ci_high": _number(high) if safe else None,
                "suppressed": "" if safe else f"fewer than {min_cell} respondents on one side",
            }
        )
    return result


def proportion_row(design, column: str, rows: np.ndarray, min_cell: int) -> dict[str, Any]:
    """Weighted % agreeing with its logit interval, or a suppression note."""
    from pipeline.survey import svyciprop

    values = design.data[column].to_numpy(dtype=float)
    n = int((rows & ~np.isnan(values)).sum())
    if n < min_cell:
        return {"n": None, "suppressed": f"fewer than {min_cell} respondents"}
    ci = svyciprop(design, values, domain=rows)
    return {
        "n": n,
        "pct": 100 * ci.estimate,
        "ci_low": 100 * _finite(ci.ci_low),
        "ci_high": 100 * _finite(ci.ci_high),
    }


def proportion_rows(
    design, columns: list[str], domains: list[np.ndarray], min_cell: int
) -> list[list[dict[str, Any]]]:
    """`proportion_row` of each column in each domain: one list of rows per domain.

    Where the engine estimates a domain from its own rows (`pipeline.survey.domains.variance_plan`: a
    design of 2,000 rows or more), the columns are estimated a few at a time (`batch_means`, the same
    formulas as `svyciprop`, to rounding), each block of columns read once for every domain; smaller
    designs take `proportion_row` column by column, so the bundled survey's page is byte for byte what it
    was. At 1,000 times the bundled survey the columns one at a time, each a pass over every respondent,
    were half the stage's time.
    """
    from pipeline.survey.batch import batch_means
    from pipeline.survey.domains import variance_plan

    if variance_plan(design) is None:
        return [[proportion_row(design, column, rows, min_cell) for column in columns] for rows in domains]
    result: list[list[dict[str, Any]]] = [[] for _ in domains]
    # A few columns per pass: a pass holds several domain-rows x columns arrays (all fifty items at
    # once took 0.5 GB more than the items one by one at 1,000 times the bundled survey).
    for start in range(0, len(columns), BATCH_COLUMNS):
        chunk = columns[start : start + BATCH_COLUMNS]
        values = design.data[chunk].to_numpy(dtype=float, na_value=np.nan)
        for rows, out in zip(domains, result, strict=True):
            out += _proportions(batch_means(design, values, rows), min_cell)
    return result


def _proportions(batch, min_cell: int) -> list[dict[str, Any]]:
    """`proportion_row`'s entries from a batch: svyciprop's logit interval on the domain's design df."""
    from pipeline.survey.batch import logit_intervals

    low, high = logit_intervals(batch.estimate, batch.se, batch.df)
    result = []
    for n, p, p_low, p_high in zip(batch.n, batch.estimate, low, high, strict=True):
        if n < min_cell:
            result.append({"n": None, "suppressed": f"fewer than {min_cell} respondents"})
            continue
        result.append(
            {"n": int(n), "pct": 100 * float(p), "ci_low": 100 * float(p_low), "ci_high": 100 * float(p_high)}
        )
    return result


def _finite(value: float) -> float:
    # svyciprop's logit interval is undefined at 0% or 100%; the page shows the estimate alone then.
    return value if math.isfinite(value) else float("nan")


def within_lsp_spread(data: pd.DataFrame, element: str, lsp_codes: np.ndarray) -> dict[str, float]:
    """Pooled within-LSP SD of respondents' scale scores (LSPs with two or more scores), and its df.

    ``lsp_codes`` numbers each row's LSP (`pandas.factorize` of ``lsp_id``): grouping by a number gives
    the same groups and sums as grouping by the id, without sorting 473,000 strings per scale at 1,000
    times the bundled survey.
    """
    column = scale_column(element)
    scores = pd.DataFrame({"lsp": lsp_codes, column: data[column]}, index=data.index).dropna()
    sizes = scores.groupby("lsp")[column].transform("size")
    scores = scores[sizes >= 2]
    centred = scores[column] - scores.groupby("lsp")[column].transform("mean")
    df = int(len(scores) - scores["lsp"].nunique())
    if df < 1:
        raise PipelineError(f"improvement tool: no LSP has two answers on the {element} scale")
    # stats.t.ppf is scipy.special.stdtrit; importing scipy.stats would cost the stage about 0.7 s.
    from scipy.special import stdtrit

    return {
        "sd": float(np.sqrt((centred.astype(float) ** 2).sum() / df)),
        "df": df,
        "lsps": int(scores["lsp"].nunique()),
        "t": float(stdtrit(df, 1 - (1 - improvement.CONFIDENCE) / 2)),
    }


def reference_values(
    base: pd.DataFrame, frame: pd.DataFrame, codebook: Codebook, config: Config
) -> dict[str, Any]:
    """Every value the page and ``lsp-rap profile`` compare a partnership with."""
    frame_vars = frame_variables(frame)
    data = analysis_data(base, frame, codebook, config, frame_vars)
    del base  # the caller's is its only other reference (see main)
    # What the values need of the frame beyond its variables, taken now: the frame (its text columns,
    # 0.14 GB at 1,000 times the bundled survey) goes before the designs are built.
    frame_lsps = frame_lsp_list(frame, frame_vars)
    frame_size = frame["lsp_id"].nunique()
    calibrate = calibrator(frame, config.weighting)
    del frame
    populations = population_rows(data)
    designs = prepare_designs(data, "weighted", populations, calibrate)
    # No calibration follows: the inputs kept for one would be held for nothing.
    forget_calibration_inputs()
    everyone = designs["respondents"]
    all_groups = groups(populations["respondents"])
    check_differencing(all_groups, config.min_cell)
    items = tool_items(codebook)

    lsp_codes, lsp_ids = pd.factorize(data["lsp_id"])
    group_records = []
    for group in all_groups:
        n = int(group["rows"].sum())
        group_records.append(
            {
                "key": group["key"],
                "partition": group["partition"],
                "label": group["label"],
                "respondents": n if n >= config.min_cell else None,
                "lsps": int(np.count_nonzero(np.bincount(lsp_codes[group["rows"]], minlength=len(lsp_ids))))
                if n >= config.min_cell
                else None,
                "suppressed": "" if n >= config.min_cell else f"fewer than {config.min_cell} respondents",
            }
        )

    columns = [f"agree__{item['name']}" for item in items]
    published = [g for g in all_groups if g["rows"].sum() >= config.min_cell]
    by_group = dict(
        zip(
            [g["key"] for g in published],
            proportion_rows(everyone, columns, [g["rows"] for g in published], config.min_cell),
            strict=True,
        )
    )
    by_instrument = {
        instrument: proportion_rows(
            designs[instrument], columns, [np.ones(designs[instrument].n, dtype=bool)], config.min_cell
        )[0]
        for instrument in INSTRUMENTS
    }
    item_values: dict[str, Any] = {
        item["name"]: {
            "groups": {key: rows[i] for key, rows in by_group.items()},
            "instruments": {instrument: rows[i] for instrument, rows in by_instrument.items()},
        }
        for i, item in enumerate(items)
    }

    scale_values: dict[str, Any] = {}
    for element in codebook.elements:
        column = scale_column(element)
        values = everyone.data[column].to_numpy(dtype=float)
        coordinators = designs["coordinator"]
        lsp_scores = coordinators.data[column].to_numpy(dtype=float)
        everyone_of_them = {"key": "all", "rows": np.ones(len(lsp_scores), dtype=bool)}
        scale_values[element] = {
            "groups": group_percentiles(everyone, values, all_groups, config.min_cell),
            "lsp_scores": {
                "n": int((~np.isnan(lsp_scores)).sum()),
                "percentiles": group_percentiles(
                    coordinators, lsp_scores, [everyone_of_them], config.min_cell, every_group=True
                )["all"]["percentiles"],
            },
            "within_lsp": within_lsp_spread(data, element, lsp_codes),
        }

    return {
        "title": "LSP improvement tool: reference values",
        "synthetic_data": config.synthetic_data,
        "data_note": (
            "Built from the project's SYNTHETIC survey (the Audit Commission's microdata was never "
            "published): "
            "these are not the Audit Commission's numbers."
            if config.synthetic_data
            else "Built from the survey exports named in the project's configuration."
        ),
        "version": __version__,
        "population": "respondents (LSP coordinators and board partners) of England's "
        f"{frame_size} LSPs in 2008",
        # Words, not the config's code: the page reads "the weights are <this>".
        "weighting": METHOD_LABELS[config.weighting.primary if config.weighting else "type_only"],
        "min_cell": config.min_cell,
        "min_rated": improvement.MIN_RATED,
        "confidence": improvement.CONFIDENCE,
        "rating_rule": improvement.RATING_RULE,
        "placements": improvement.PLACEMENTS,
        "placements_short": improvement.PLACEMENTS_SHORT,
        "agree_codes": list(codebook.agree_codes),
        "agree_labels": {str(k): v for k, v in codebook.value_sets["agree5"].items()},
        "missing_codes": {str(k): v for k, v in codebook.missing_codes.items()},
        "respondent_id_patterns": {k: v["respondent_id_pattern"] for k, v in codebook.instruments.items()},
        "elements": [{"key": key, "label": label} for key, label in codebook.elements.items()],
        "items": items,
        "partitions": [{"key": p.key, "label": p.label} for p in improvement.PARTITIONS],
        "groups": group_records,
        "item_values": item_values,
        "scale_values": scale_values,
        "advice": {
            element: [{"text": text, "source": key, "url": improvement.SOURCES[key]} for text, key in entries]
            for element, entries in improvement.ADVICE.items()
        },
        "checklist_note": improvement.CHECKLIST_NOTE,
        **frame_lsps,
    }


def frame_lsp_list(
    frame: pd.DataFrame, fv: pd.DataFrame, list_max: int = improvement.LSP_LIST_MAX
) -> dict[str, Any]:
    """The frame's LSPs for the page's picker and case studies, or, above `list_max`
    (`improvement.LSP_LIST_MAX`), what the page says instead.

    Up to the limit: ``{"lsps": [...]}``, each LSP's id, name, its level of every frame partition and its
    case-study flag. Above it: ``{"lsps_left_out": ...}`` with the frame's size, the limit, and the number of
    case-study LSPs in the frame and in each group of the partitions the frame defines (maturity is the
    survey's, not the frame's), so the page can still say something true about them.
    """
    if len(fv) <= list_max:
        names = frame.set_index(frame["lsp_id"].astype(str))["authority_name"]
        return {
            "lsps": [
                {
                    "id": row.lsp_id,
                    "name": str(names[row.lsp_id]),
                    "authority_type": row.authority_type,
                    "tier": row.tier,
                    "region": row.region,
                    "imd_band": row.imd_band,
                    "case_study": bool(row.case_study),
                }
                for row in fv.itertuples()
            ]
        }
    case_studies = fv[fv["case_study"]]
    counts = {"all": len(case_studies)}
    for partition in improvement.PARTITIONS:
        if partition.column in fv.columns:
            found = case_studies[partition.column].value_counts()
            counts |= {f"{partition.key}:{level}": int(found.get(level, 0)) for level in partition.levels}
    return {
        "lsps_left_out": {
            "frame_lsps": len(fv),
            "list_max": list_max,
            "case_study_lsps": counts,
        }
    }


def _json_text(values: dict[str, Any]) -> str:
    # NaN is not JSON: the logit interval of a 0% or 100% share is null.
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, allow_nan=True)
    return text.replace("NaN", "null")


def render_page(values: dict[str, Any]) -> str:
    """The page: the template with its style, script and the reference values inlined."""
    template = (TEMPLATES / "improvement_tool.html").read_text(encoding="utf-8")
    embedded = _json_text(values).replace("</", "<\\/")
    page = (
        template.replace("/*STYLE*/", (TEMPLATES / "improvement_tool.css").read_text(encoding="utf-8"))
        .replace("/*SCRIPT*/", (TEMPLATES / "improvement_tool.js").read_text(encoding="utf-8"))
        .replace("{{REFERENCE_VALUES}}", embedded)
        .replace("{{DATA_NOTE}}", values["data_note"])
    )
    if len(page.encode("utf-8")) > PAGE_LIMIT_BYTES:
        raise PipelineError(f"improvement tool: the page is {len(page.encode('utf-8'))} bytes, over 1 MB")
    return page


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__.splitlines()[0])
    path_option(parser, "--base", "{processed_dir}/analysis_base.parquet", "the analysis base")
    path_option(parser, "--out", "{analysis_dir}", "where to write improvement_tool.json and .html")
    arguments, config = parse_stage_arguments(parser, argv)
    if not arguments.base.exists():
        raise PipelineError(
            f"{relative_to_root(arguments.base)}: not found; run `{rebuild_command('derive')}` first"
        )
    codebook = load_codebook(config.codebook)
    import pyarrow.parquet as pq

    read = base_columns(codebook, config)
    columns = [column for column in pq.read_schema(arguments.base).names if column in read]
    # The base is read in the call, so the stage holds no name for it: reference_values lets it go once
    # the designs' data is built (at 1,000 times the bundled survey both together were 0.6 GB).
    values = reference_values(
        pd.read_parquet(arguments.base, columns=columns), read_frame(config.frame), codebook, config
    )
    json_path, page_path = arguments.out / "improvement_tool.json", arguments.out / "improvement_tool.html"
    write_text(json_path, _json_text(values) + "\n")
    page = render_page(values)
    write_text(page_path, page)
    log.info(
        "wrote %s and %s (%d bytes)", relative_to_root(json_path), relative_to_root(page_path), len(page)
    )


if __name__ == "__main__":
    run_stage("improvement", main)
