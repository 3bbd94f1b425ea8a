"""docs/extending.md's recipe "Add a question", followed in a new project.

The question is the hard case: a Likert item asked of coordinators only, in a 7S scale. The project must
regenerate its synthetic exports and build with it, the item in the coordinators' scale score (and not in
the partners'), in the reliability table, in the estimates and in its element's Likert figures.

The project is the one the installed package makes (`lsp-rap init`, the recipe's steps 1-2, `lsp-rap
synthetic`, `lsp-rap run`: tests/new_project.py), whose build tests/test_package.py checks too: one full
build serves both. Without the generator's level, `make synthetic` in a copy of the source tree names the
key to add.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import yaml

from pipeline.core.paths import PROJECT_ROOT
from tests.built_project import fresh_copy, run_make
from tests.new_project import NEW_ITEM, NEW_ITEM_LABEL, add_question

pytestmark = pytest.mark.slow


def test_every_file_and_test_the_recipes_name_exists():
    """The recipes name the files to touch and the tests to run: each must exist (a renamed module or a
    deleted test would send the reader to nothing)."""
    text = (PROJECT_ROOT / "docs/extending.md").read_text(encoding="utf-8")
    named = re.findall(r"\b((?:pipeline|tests|data/raw)/[\w/]+\.(?:py|json|yaml))(?:::(\w+))?", text)
    assert len(named) >= 20
    missing = []
    for path, function in named:
        if "<" in path:
            continue
        file = PROJECT_ROOT / path
        if not file.is_file() or (function and f"def {function}(" not in file.read_text(encoding="utf-8")):
            missing.append(f"{path}::{function}" if function else path)
    assert missing == []


def test_without_an_assumed_level_the_generator_says_which_key_to_add(tmp_path):
    project = fresh_copy(tmp_path)  # the generator needs no built output
    add_question(project)
    parameters = project / "data/raw/synthetic_parameters.yaml"
    text = parameters.read_text(encoding="utf-8")
    parameters.write_text(text.replace(f"{{{NEW_ITEM}: 60}}", "{}"), encoding="utf-8")
    result = run_make(project, "synthetic")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (
        f"data/raw/synthetic_parameters.yaml: no coordinator level for {NEW_ITEM} (asked of coordinators "
        "only): add it to fixed.assumed_coordinator_agree" in result.stderr
    )


@pytest.mark.xdist_group("installed_package")  # with tests/test_package.py, which shares its build
def test_a_coordinator_only_scale_item_builds_and_enters_the_coordinators_score(new_project):
    assert new_project.synthetic.returncode == 0, new_project.synthetic.stderr[-3000:]
    assert new_project.run.returncode == 0, (new_project.run.stdout + new_project.run.stderr)[-5000:]
    project = new_project.project

    base = pd.read_parquet(project / "data/processed/analysis_base.parquet")
    codebook = yaml.safe_load((project / "data/raw/codebook.yaml").read_text(encoding="utf-8"))
    strategy = [
        v["name"] for v in codebook["variables"] if v.get("in_scale") and v.get("element") == "strategy"
    ]
    assert NEW_ITEM in strategy and len(strategy) == 5
    coordinators = base[base["respondent_type"] == "coordinator"]
    partners = base[base["respondent_type"] == "partner"]
    assert coordinators[NEW_ITEM].isin([1, 2, 3, 4, 5, -8, -9]).all()
    assert partners[NEW_ITEM].isna().all()

    def expected_score(row: pd.Series, items: list[str]) -> float:
        valid = [float(row[i]) for i in items if row[i] in (1, 2, 3, 4, 5)]
        return sum(valid) / len(valid) if len(valid) >= math.ceil(len(items) / 2) else math.nan

    # No strategy item is reverse-worded, so the score is the plain mean of the valid answers.
    assert not any(v.get("reverse") for v in codebook["variables"] if v["name"] in strategy)
    for rows, items in ((coordinators, strategy), (partners, [i for i in strategy if i != NEW_ITEM])):
        expected = rows.apply(expected_score, axis=1, items=items).astype(float)
        actual = rows["scale_strategy"].astype("Float64").astype(float)
        pd.testing.assert_series_equal(actual, expected, check_names=False, atol=1e-12, rtol=0)
    # The item moved the coordinators' scores: scored without it, some differ.
    without = coordinators.apply(expected_score, axis=1, items=[i for i in strategy if i != NEW_ITEM])
    with_item = coordinators["scale_strategy"].astype("Float64").astype(float)
    assert ((without.astype(float) - with_item).abs() > 1e-9).sum() > 10

    reliability = pd.read_csv(project / "analysis/tables/scale_reliability.csv")
    rows = reliability[reliability["element"] == "strategy"].set_index("instrument")
    assert NEW_ITEM in rows.loc["coordinator", "items"].split() and rows.loc["coordinator", "n_items"] == 5
    assert NEW_ITEM not in rows.loc["partner", "items"].split() and rows.loc["partner", "n_items"] == 4

    estimates = pd.read_csv(project / "analysis/tables/estimates.csv")
    mine = estimates[estimates["item"] == NEW_ITEM]
    assert set(mine["instrument"]) == {"coordinator"} and mine["estimate"].notna().any()
    figure = pd.read_csv(project / "figures/likert_strategy_tier.csv")
    labelled = figure.astype(str).apply(lambda column: column.str.contains(NEW_ITEM_LABEL))
    assert labelled.any().any()
