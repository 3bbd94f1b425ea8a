"""The output registry (pipeline/study/outputs/) is the one list of outputs: the Makefile, the report's
index, verify and docs/outputs.md agree with it. tests/test_make.py checks a real `make all` against it."""

from __future__ import annotations

import importlib

import pytest

from pipeline.core.config import load_config
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.study import outputs
from pipeline.study.schemas import check_output
from tests.built_project import make_variable

FOLDERS = {"processed_dir": "data/processed", "analysis_dir": "analysis", "figures_dir": "figures"}
# The Makefile's target list of each stage (tables are grouped by the stage that writes them).
STAGE_TARGETS = {
    "ingest": "INGESTED",
    "validate": "VALIDATED",
    "derive": "DERIVED",
    "analyse": "TABLES",
    "models": "MODEL_TABLES",
    "measurement": "CFA_TABLE",
}


def test_every_registered_maker_exists(codebook):
    """The report's output index names these; each must be a function that exists (the old index did not)."""
    missing = []
    for output in outputs.all_outputs(codebook):
        if not hasattr(importlib.import_module(output.module), output.function):
            missing.append(output.maker)
    assert missing == []


def test_every_figure_is_verified_by_a_known_check(codebook):
    from pipeline.checks.verify import CHECKS

    assert set(CHECKS) == set(outputs.VERIFY_KINDS)
    assert {figure.verify_kind for figure in outputs.figures(codebook)} <= set(CHECKS)


def test_every_column_has_a_description(codebook):
    for output in outputs.all_outputs(codebook):
        for column in output.columns or ():
            assert len(column.description) >= 8, (output.name, column.name)
        names = [column.name for column in output.columns or ()]
        assert len(names) == len(set(names)), output.name


@pytest.mark.parametrize("stage", list(STAGE_TARGETS))
def test_the_makefile_targets_are_the_registered_outputs(stage, codebook):
    registered = [
        outputs.relative_path(output, FOLDERS) for output in outputs.tables(codebook) if output.stage == stage
    ]
    assert sorted(make_variable(STAGE_TARGETS[stage])) == sorted(registered)


def test_the_makefile_draws_the_registered_figures(codebook):
    registered = [
        outputs.relative_path(output, FOLDERS)
        for output in outputs.all_outputs(codebook)
        if output.stage == "figures"
    ]
    assert sorted(make_variable("FIGURES")) == sorted(registered)


def test_the_data_dictionary_is_current(codebook):
    """docs/outputs.md is generated (`lsp-rap outputs`); an edit of the registry must regenerate it."""
    config = load_config()
    folders = {key: relative_to_root(getattr(config, key)) for key in FOLDERS}
    written = (PROJECT_ROOT / "docs/outputs.md").read_text(encoding="utf-8")
    assert written == outputs.data_dictionary(codebook, folders), "run `lsp-rap outputs`"


def test_a_table_that_breaks_its_schema_is_stopped(codebook):
    from tests.toy_survey import toy_analysis

    _, tables = toy_analysis(seed=7, tier_shift=1.0)
    check_output("estimates", tables["estimates"], codebook)
    with pytest.raises(Exception, match=r"estimates breaks its registered schema.*column_in_schema"):
        check_output("estimates", tables["estimates"].assign(extra=1), codebook)
    with pytest.raises(Exception, match="column n: values are not all integer"):
        check_output("estimates", tables["estimates"].assign(n=0.5), codebook)
