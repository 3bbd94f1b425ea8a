"""The improvement tool's reference values, its page as a file, and `lsp-rap profile`.

Unit tests of the rating rule, the differencing check, the answer reader's refusals and the scale score;
then, on the built project: the page is at most 1 MB and self-contained, embeds exactly the JSON file's
values, every published percentile has at least min_cell respondents on each side, and the profile of the
synthetic board files is what the rule says. The page's own computation is held to this one in
tests/test_improvement_browser.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.stages.improvement_tool import check_differencing, frame_lsp_list, groups
from pipeline.study import improvement
from pipeline.study.profile import answers, compute_profile, decode, profile_csv, read_table, scale_score

BOARDS = Path(__file__).resolve().parent / "fixtures" / "improvement"


# ------------------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize(
    ("low", "high", "where"),
    [
        (1.0, 2.4, "below"),
        (1.0, 2.5, "middle"),
        (4.01, 4.5, "above"),
        (4.0, 4.5, "middle"),
        (2.0, 4.6, "middle"),
    ],
)
def test_placement_needs_the_whole_interval_beyond_a_quartile(low, high, where):
    assert improvement.placement(low, high, 2.5, 4.0) == where


def test_a_board_of_one_or_two_is_never_rated():
    assert [improvement.rating(n, "below") for n in (1, 2, 3)] == ["not rated", "not rated", "red"]
    assert improvement.rating(5, "above") == "green"
    assert improvement.rating(5, "middle") == "amber"


def test_every_element_has_the_reports_advice_with_a_source():
    elements = ("strategy", "staff_and_skills", "style", "synergies", "steering", "standards", "systems")
    assert set(improvement.ADVICE) == set(elements)
    assert all(key in improvement.SOURCES for entries in improvement.ADVICE.values() for _, key in entries)


# ------------------------------------------------------------------------------ groups and differencing
def _people(**columns) -> pd.DataFrame:
    size = len(next(iter(columns.values())))
    base = {
        "tier": ["single"] * size,
        "maturity": [None] * size,
        "authority_type": ["unitary"] * size,
        "region": ["London"] * size,
        "imd_band": ["2_middle"] * size,
    }
    return pd.DataFrame(base | columns)


def test_a_group_inside_another_but_for_a_few_respondents_stops_the_stage():
    # 20 unitaries, 17 of them in London: London is published, and all unitaries less London is 3 people.
    data = _people(region=["London"] * 17 + ["South East"] * 3)
    with pytest.raises(PipelineError, match="differ by 3 respondents"):
        check_differencing(groups(data), min_cell=5)


def test_groups_that_overlap_without_nesting_pass():
    data = _people(
        tier=["single"] * 10 + ["multi"] * 10,
        authority_type=["unitary"] * 10 + ["county"] * 10,
        region=["London"] * 5 + ["South East"] * 15,
    )
    check_differencing(groups(data), min_cell=5)


def test_an_unclassified_remainder_of_a_few_respondents_stops_the_stage():
    data = _people(maturity=["more mature"] * 8 + ["less mature"] * 8 + [None] * 2)
    with pytest.raises(PipelineError, match="leaves 2 respondents"):
        check_differencing(groups(data), min_cell=5)


# ---------------------------------------------------------------------------------- reading answers
BOTH = ["coordinator", "partner"]
REFERENCE_STUB = {
    "items": [
        {"name": "a", "label": "A", "element": "e", "reverse": False, "in_scale": True, "instruments": BOTH},
        {"name": "b", "label": "B", "element": "e", "reverse": True, "in_scale": True, "instruments": BOTH},
    ],
    "agree_labels": {
        "1": "Strongly disagree",
        "2": "Disagree",
        "3": "Neither agree nor disagree",
        "4": "Agree",
        "5": "Strongly agree",
    },
    "missing_codes": {"-1": "Not applicable", "-8": "Don't know", "-9": "Not answered"},
    "respondent_id_patterns": {"coordinator": "^C[0-9]{4,}$", "partner": "^P[0-9]{4,}$"},
}


def test_codes_labels_and_blanks_are_read_and_anything_else_is_refused():
    labels = {"agree": 4, "don't know": -8}
    assert [decode(t, labels) for t in ("", "4", "4.0", "Agree", "AGREE", "Don't know")] == [
        -9,
        4,
        4,
        4,
        4,
        -8,
    ]
    assert decode("6", labels) is None and decode("yes", labels) is None


def test_a_bad_answer_is_refused_in_one_line_naming_row_and_column():
    rows = [
        {"respondent_id": "C0001", "a": "4", "b": "2"},
        {"respondent_id": "P0002", "a": "maybe", "b": "1"},
    ]
    with pytest.raises(PipelineError) as caught:
        answers(rows, REFERENCE_STUB, "board.csv", None)
    assert str(caught.value) == (
        "board.csv: row 3, column a: 'maybe' is not an answer on the agree scale (1-5, -8, -9 or their "
        "labels)"
    )


def test_a_file_of_several_lsps_needs_one_chosen():
    rows = [{"lsp_id": "00CR", "a": "4"}, {"lsp_id": "00BY", "a": "2"}]
    with pytest.raises(PipelineError, match="holds answers for 2 LSPs; choose one with --lsp"):
        answers(rows, REFERENCE_STUB, "all.csv", None)
    assert len(answers(rows, REFERENCE_STUB, "all.csv", "00BY")["people"]) == 1


def test_no_codebook_question_in_the_file_is_refused():
    with pytest.raises(PipelineError, match="no column is a 7S question"):
        answers([{"x": "1"}], REFERENCE_STUB, "other.csv", None)


def test_the_respondent_type_comes_from_its_column_or_the_codebook_id_pattern():
    rows = [
        {"respondent_id": "C0001", "a": "4"},
        {"respondent_id": "P0002", "a": "4"},
        {"respondent_id": "x", "respondent_type": "Coordinator", "a": "4"},
    ]
    people = answers(rows, REFERENCE_STUB, "f.csv", None)["people"]
    assert [p["type"] for p in people] == ["coordinator", "partner", "coordinator"]


def test_a_scale_score_flips_reverse_items_and_needs_half_the_items():
    items = REFERENCE_STUB["items"]
    assert scale_score({"a": 4, "b": 2}, items) == 4.0  # b reversed: 6 - 2
    assert scale_score({"a": 5, "b": None}, items) == 5.0  # one of two is half
    assert scale_score({"a": None, "b": None}, items) is None


def test_an_xlsx_board_reads_as_its_csv(tmp_path):
    table = pd.read_csv(BOARDS / "board_of_two.csv", dtype=str, keep_default_na=False)
    table.to_excel(tmp_path / "board.xlsx", index=False)
    assert read_table(tmp_path / "board.xlsx") == read_table(BOARDS / "board_of_two.csv")


# ---------------------------------------------------------------------------------- the built project
@pytest.fixture(scope="module")
def reference(built_project: Path) -> dict:
    return json.loads((built_project / "analysis/improvement_tool.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_page_is_small_self_contained_and_embeds_the_json_file(built_project, reference):
    page = (built_project / "analysis/improvement_tool.html").read_text(encoding="utf-8")
    assert len(page.encode("utf-8")) <= 1_000_000
    embedded = re.search(r'<script type="application/json" id="reference-values">(.*?)</script>', page, re.S)
    assert json.loads(embedded.group(1).replace("<\\/", "</")) == reference
    # Nothing to fetch: no external script, style, image, font or frame; no network API in the script.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.split('id="reference-values"')[0])
    assert not re.search(
        r"\b(fetch|XMLHttpRequest|WebSocket|sendBeacon|localStorage|sessionStorage|cookie)\b", page
    )
    assert "default-src 'none'" in page
    assert "SYNTHETIC" in page


@pytest.mark.slow
def test_every_published_percentile_has_min_cell_respondents_on_each_side(built_project, reference):
    base = pd.read_parquet(built_project / "data/processed/analysis_base.parquet")
    checked = 0
    for element, values in reference["scale_values"].items():
        for key, group in values["groups"].items():
            if key == "all":
                scores = base[f"scale_{element}"]
            elif key.split(":")[0] in ("tier", "authority_type", "region"):
                column, level = key.split(":")
                scores = base.loc[base[column].eq(level), f"scale_{element}"]
            else:
                continue
            scores = scores.dropna().to_numpy(dtype=float)
            assert group["n"] == len(scores) >= reference["min_cell"]
            for row in group["percentiles"]:
                if row["value"] is not None:
                    assert (
                        min((scores <= row["value"]).sum(), (scores >= row["value"]).sum())
                        >= reference["min_cell"]
                    )
                    # An end is null where R's is NaN (the Woodruff interval leaves [0, 1]).
                    assert row["ci_low"] is None or row["ci_low"] <= row["value"]
                    assert row["ci_high"] is None or row["value"] <= row["ci_high"]
                    checked += 1
    assert checked > 300


@pytest.mark.slow
def test_the_groups_are_the_frames_partitions_and_too_small_ones_say_so(reference):
    keys = [g["key"] for g in reference["groups"]]
    assert keys[0] == "all" and len(keys) == 1 + sum(len(p.levels) for p in improvement.PARTITIONS)
    for group in reference["groups"]:
        assert (group["respondents"] is None) == (group["suppressed"] != "")
    # The population names the frame's size, as many LSPs as the reference lists.
    assert f"England's {len(reference['lsps'])} LSPs in 2008" in reference["population"]


def _profile(built_project: Path, board: str, tmp_path: Path, *options: str) -> list[dict[str, str]]:
    subprocess.run(
        [sys.executable, "-m", "pipeline", "profile", str(BOARDS / board), "--out", str(tmp_path), *options],
        cwd=built_project,
        check=True,
        capture_output=True,
        text=True,
    )
    text = (tmp_path / board.replace(".csv", "_profile.csv")).read_text(encoding="utf-8")
    assert (tmp_path / board.replace(".csv", "_profile.html")).exists()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.slow
def test_the_profile_of_a_board_of_seven_follows_the_rule(built_project, reference, tmp_path):
    rows = _profile(built_project, "board_dudley.csv", tmp_path)
    elements = [r for r in rows if r["kind"] == "element"]
    assert [r["element"] for r in elements] == [e["key"] for e in reference["elements"]]
    within = {e: v["within_lsp"] for e, v in reference["scale_values"].items()}
    for row in elements:
        n, value, low = int(row["respondents"]), float(row["value"]), float(row["ci_low"])
        assert n == 7
        assert value - low == pytest.approx(
            within[row["element"]]["t"] * within[row["element"]]["sd"] / np.sqrt(n)
        )
        where = improvement.placement(
            low, float(row["ci_high"]), float(row["england_p25"]), float(row["england_p75"])
        )
        assert (row["placement"], row["rating"]) == (where, improvement.rating(n, where))
        assert row["peer_group"] == "tier:single"  # Dudley is a metropolitan district


@pytest.mark.slow
def test_a_board_of_two_gets_wide_intervals_and_no_rating(built_project, tmp_path):
    rows = [r for r in _profile(built_project, "board_of_two.csv", tmp_path) if r["kind"] == "element"]
    assert {r["rating"] for r in rows} == {"not rated"}
    assert min(float(r["ci_high"]) - float(r["ci_low"]) for r in rows) > 1.5
    page = (tmp_path / "board_of_two_profile.html").read_text(encoding="utf-8")
    assert "Only 2 answer(s) on some elements." in page


def test_profile_csv_writes_numbers_that_read_back_exactly():
    rows = [
        {"kind": "element", "element": "e", "label": "E, with comma", "respondents": 3, "value": 0.1 + 0.2}
    ]
    text = profile_csv(rows)
    record = next(csv.DictReader(io.StringIO(text)))
    assert (
        float(record["value"]) == 0.1 + 0.2
        and record["label"] == "E, with comma"
        and record["respondents"] == "3"
    )


def test_compute_profile_on_a_stub_reference():
    reference = REFERENCE_STUB | {
        "elements": [{"key": "e", "label": "E"}],
        "agree_codes": [4, 5],
        "scale_values": {
            "e": {
                "groups": {
                    "all": {
                        "percentiles": [
                            {"p": p, "value": v}
                            for p, v in zip(improvement.PERCENTILES, (2.0, 2.5, 3.0, 3.5, 4.0), strict=True)
                        ]
                    }
                },
                "within_lsp": {"sd": 0.5, "t": 2.0},
            }
        },
        "item_values": {"a": {"groups": {"all": {"pct": 50.0}}}, "b": {"groups": {"all": {"pct": 40.0}}}},
    }
    people = [
        {"type": "partner", "a": 5, "b": 1},
        {"type": "partner", "a": 5, "b": 1},
        {"type": "partner", "a": 5, "b": 2},
        {"type": "coordinator", "a": 4, "b": 1},
    ]
    rows = compute_profile({"people": people}, reference, None)
    element = rows[0]
    assert element["value"] == pytest.approx((5 + 5 + 4.5 + 4.5) / 4)
    assert element["ci_low"] == pytest.approx(element["value"] - 2.0 * 0.5 / 2)
    assert (element["placement"], element["rating"]) == ("above", "green")
    assert rows[1] == {
        "kind": "item",
        "element": "e",
        "item": "a",
        "label": "A",
        "respondents": 4,
        "value": 100.0,
        "england_pct": 50.0,
    }
    assert rows[2]["value"] == 0.0  # nobody agrees with the reverse-worded b
    # An item asked of coordinators only enters the coordinator's score alone (pipeline/study/scales.py).
    only = {
        **reference,
        "items": [reference["items"][0], {**reference["items"][1], "instruments": ["coordinator"]}],
    }
    partner_only_a = compute_profile({"people": [{"type": "partner", "a": 4, "b": 1}]}, only, None)[0]
    coordinator_both = compute_profile({"people": [{"type": "coordinator", "a": 4, "b": 1}]}, only, None)[0]
    assert (partner_only_a["value"], coordinator_both["value"]) == (4.0, 4.5)


@pytest.mark.parametrize("rows", [600, 3_000])
def test_a_groups_item_proportions_in_one_pass_are_each_items_svyciprop(rows):
    # proportion_rows estimates every item of a group in one batch pass where the engine estimates a
    # domain from its own rows (2,000 rows or more); below that it calls proportion_row per item.
    from pipeline.stages.improvement_tool import proportion_row, proportion_rows
    from pipeline.survey import SurveyDesign

    rng = np.random.default_rng(3)
    lsps = rng.integers(0, rows // 2, rows)
    frame = pd.DataFrame(
        {
            "lsp": lsps,
            "stratum": lsps % 4,
            "w": 1.0 + (lsps % 7),
            **{f"agree__q{k}": rng.integers(0, 2, rows).astype(float) for k in range(5)},
        }
    )
    frame.loc[rng.random(rows) < 0.1, "agree__q1"] = np.nan
    frame["agree__q4"] = 1.0  # everyone agrees: no logit interval
    design = SurveyDesign(weights="w", cluster="lsp", strata="stratum").prepare(frame)
    columns = [f"agree__q{k}" for k in range(5)]
    domains = [np.ones(rows, dtype=bool), frame["lsp"].to_numpy() % 3 == 0, np.arange(rows) < 4]
    for group, batch in zip(domains, proportion_rows(design, columns, domains, 5), strict=True):
        plain = [proportion_row(design, column, group, 5) for column in columns]
        for fast, one in zip(batch, plain, strict=True):
            assert fast.keys() == one.keys()
            for key, value in one.items():
                if isinstance(value, float):
                    assert fast[key] == pytest.approx(value, rel=1e-10, nan_ok=True)
                else:
                    assert fast[key] == value


@pytest.mark.parametrize("rows", [600, 3_000])
def test_every_groups_percentiles_from_one_sort_are_each_groups_svyquantile(rows):
    # group_percentiles sorts a scale once and takes every group's percentiles and Woodruff intervals from
    # that order where the engine estimates a domain from its own rows (2,000 rows or more); below that it
    # calls percentile_rows (svyquantile) per group. Scores in quarter points tie often, as the scales do.
    from pipeline.stages.improvement_tool import group_percentiles, percentile_rows
    from pipeline.survey import SurveyDesign

    rng = np.random.default_rng(11)
    lsps = rng.integers(0, rows // 2, rows)
    frame = pd.DataFrame({"lsp": lsps, "stratum": lsps % 4, "w": 1.0 + (lsps % 7) + rng.random(rows)})
    scores = np.round(rng.normal(3.2, 0.8, rows).clip(1, 5) * 4) / 4
    scores[rng.random(rows) < 0.1] = np.nan
    # A group of 18 scores, 3 of them at the top: its 90th percentile has 3 scores at or above it, and
    # is suppressed; its 10th is published.
    few = np.flatnonzero(~np.isnan(scores))[:18]
    scores[few[:15]], scores[few[15:]] = 2.0, 5.0
    design = SurveyDesign(weights="w", cluster="lsp", strata="stratum").prepare(frame)
    domains = {
        "all": np.ones(rows, dtype=bool),
        "third": lsps % 3 == 0,
        "skewed": np.isin(np.arange(rows), few),
        "tiny": np.arange(rows) < 3,
    }
    groups = [{"key": key, "rows": rows_in} for key, rows_in in domains.items()]
    found = group_percentiles(design, scores, groups, 5)
    assert set(found) == {"all", "third", "skewed"}  # fewer than 5 scores: no entry
    checked = 0
    for group in groups[:3]:
        plain = percentile_rows(design, scores, group["rows"], 5)
        assert found[group["key"]]["n"] == int((group["rows"] & ~np.isnan(scores)).sum())
        for fast, one in zip(found[group["key"]]["percentiles"], plain, strict=True):
            assert fast.keys() == one.keys()
            for key, value in one.items():
                if isinstance(value, float):
                    assert fast[key] == pytest.approx(value, rel=1e-12), (group["key"], key)
                    checked += 1
                else:
                    assert fast[key] == value, (group["key"], key)
    assert checked >= 30
    skewed = found["skewed"]["percentiles"]
    assert skewed[0]["value"] == 2.0 and skewed[-1]["suppressed"] == "fewer than 5 respondents on one side"


def _frame(n: int) -> pd.DataFrame:
    types = ["county", "shire_district", "metropolitan_district", "london_borough", "unitary"]
    return pd.DataFrame(
        {
            "lsp_id": [f"L{i:04d}" for i in range(n)],
            "authority_name": [f"Place {i}" for i in range(n)],
            "authority_type": [types[i % 5] for i in range(n)],
            "tier": ["multi" if i % 5 < 2 else "single" for i in range(n)],
            "region": ["London" if i % 5 == 3 else "North West" for i in range(n)],
            "imd_band": ["1_least_deprived", "2_middle", "3_most_deprived"] * (n // 3)
            + ["2_middle"] * (n % 3),
            "case_study": [i % 7 == 0 for i in range(n)],
        }
    )


def test_the_lsp_list_is_embedded_up_to_its_limit_and_counted_beyond_it():
    frame = _frame(30)
    listed = frame_lsp_list(frame, frame, list_max=30)
    assert set(listed) == {"lsps"} and len(listed["lsps"]) == 30
    assert listed["lsps"][3] == {
        "id": "L0003",
        "name": "Place 3",
        "authority_type": "london_borough",
        "tier": "single",
        "region": "London",
        "imd_band": "1_least_deprived",
        "case_study": False,
    }
    # One LSP more than the limit: no list, and what the page says instead.
    left_out = frame_lsp_list(frame, frame, list_max=29)
    assert set(left_out) == {"lsps_left_out"}
    summary = left_out["lsps_left_out"]
    assert (summary["frame_lsps"], summary["list_max"]) == (30, 29)
    counts = summary["case_study_lsps"]
    assert counts["all"] == 5  # L0000, L0007, L0014, L0021, L0028
    # One of each authority type (i % 5: 0, 2, 4, 1, 3); L0000 and L0021 are multi-tier.
    assert all(counts[f"authority_type:{kind}"] == 1 for kind in ("county", "unitary", "london_borough"))
    assert (counts["tier:multi"], counts["tier:single"], counts["region:London"]) == (2, 3, 1)
    assert not any(key.startswith("maturity:") for key in counts)  # the frame does not say how mature
    assert improvement.LSP_LIST_MAX >= 388  # England's frame is always listed


@pytest.mark.slow
def test_without_the_lsp_list_the_command_takes_a_group_by_name(built_project, reference, tmp_path):
    # A large frame's reference values: no LSP list, so `--group tier` cannot find Dudley's tier, and a
    # group named by its key gives the profile the list gave.
    from pipeline.study.frame import read_frame
    from pipeline.study.weighting import frame_variables

    frame = read_frame(built_project / "data/raw/lsp_frame_2008.csv")
    compact = {k: v for k, v in reference.items() if k != "lsps"}
    compact |= frame_lsp_list(frame, frame_variables(frame), list_max=100)
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(compact), encoding="utf-8")
    board = str(BOARDS / "board_dudley.csv")

    def run(*options: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pipeline", "profile", board, "--out", str(tmp_path), *options]
        return subprocess.run(command, cwd=built_project, capture_output=True, text=True)

    refused = run("--reference", str(path), "--group", "tier")
    assert refused.returncode != 0
    assert "do not list the frame's 388 LSPs (they are listed up to 100)" in refused.stderr
    assert "tier:single, tier:multi" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    named = run("--reference", str(path), "--group", "tier:single")
    assert named.returncode == 0, named.stderr
    by_name = (tmp_path / "board_dudley_profile.csv").read_text(encoding="utf-8")
    assert run("--group", "tier").returncode == 0  # the full list: Dudley's own tier
    assert (tmp_path / "board_dudley_profile.csv").read_text(encoding="utf-8") == by_name
    england = run("--reference", str(path))
    assert england.returncode == 0 and england.stdout.startswith("compared with England only:")
    rows = list(
        csv.DictReader(io.StringIO((tmp_path / "board_dudley_profile.csv").read_text(encoding="utf-8")))
    )
    assert {r["peer_group"] for r in rows} == {""}


@pytest.mark.slow
def test_a_page_listing_lsp_list_max_lsps_stays_under_half_its_limit(built_project, reference):
    # The limit's reason (pipeline/study/improvement.py, docs/improvement_tool.md): at LSP_LIST_MAX listed
    # LSPs, the frame's own longest names repeated, the page is under half of its 1 MB limit.
    from pipeline.stages.improvement_tool import PAGE_LIMIT_BYTES, render_page

    longest = sorted(reference["lsps"], key=lambda lsp: len(json.dumps(lsp)), reverse=True)
    many = [longest[i % len(longest)] | {"id": f"X{i:05d}"} for i in range(improvement.LSP_LIST_MAX)]
    size = len(render_page(reference | {"lsps": many}).encode("utf-8"))
    assert size <= PAGE_LIMIT_BYTES / 2, size
    without = len(render_page({k: v for k, v in reference.items() if k != "lsps"}).encode("utf-8"))
    assert 150_000 < without < 300_000  # "about 220 KB" without the list


def test_the_guide_states_the_list_limit():
    guide = (Path(__file__).resolve().parent.parent / "docs" / "improvement_tool.md").read_text(
        encoding="utf-8"
    )
    assert f"at most **{improvement.LSP_LIST_MAX:,}**" in guide
    assert guide.count(f"more than {improvement.LSP_LIST_MAX:,}") >= 3


def test_the_agree_flags_are_exact_float32_in_place_of_the_answers(built_project, codebook, frame, config):
    """analysis_data keeps each item's agree flag as float32 (0, 1 and NaN are exact in it) and drops the
    answers: the flags read as float64 are those computed in float64 from the answers."""
    from pipeline.stages.improvement_tool import analysis_data, tool_items

    base = pd.read_parquet(built_project / "data/processed/analysis_base.parquet")
    data = analysis_data(base, frame, codebook, config)
    agree = list(codebook.agree_codes)
    for item in tool_items(codebook):
        name = item["name"]
        assert name not in data.columns
        flag = data[f"agree__{name}"]
        assert flag.dtype == np.float32
        codes = pd.to_numeric(base[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        valid = np.isin(codes, list(codebook[name].codes))
        expected = np.where(valid, np.isin(codes, agree).astype(float), np.nan)
        np.testing.assert_array_equal(flag.to_numpy(dtype=float), expected)
