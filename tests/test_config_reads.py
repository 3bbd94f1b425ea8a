"""Config dependencies are derived from what the code reads, not listed (issue 21).

The shared build of this test run (tests/built_project.py) runs every stage with
``PIPELINE_RECORD_CONFIG_READS`` set, so each stage, and each figure, saves the config keys its code read
(pipeline/core/config_reads.py). The committed record, pipeline/core/config_reads.json, from which make's
config slices and the figures' staleness are made, must equal it. After a change that reads a key more or
less, remake the record with

    UPDATE_CONFIG_READS=1 .venv/bin/python -m pytest tests/test_config_reads.py -p no:xdist -k committed

and commit the file.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core import config_reads
from pipeline.core.config import DEFAULT_CONFIG
from pipeline.core.config_slices import stage_keys, write_slices
from pipeline.stages import CHAIN
from tests.built_project import config_reads_folder, wait_until_an_edit_is_newer

# Keys no stage of the chain reads: they drive the tools outside it (`make synthetic`, `make
# validate-methods`). A key in neither a stage's record nor here is read by nothing: a test fails.
TOOL_KEYS = {
    "synthetic.seed",
    "synthetic.n_coordinators",
    "synthetic.n_partners",
    "seeds.methods_validation",
}


def _fresh_record(built: Path) -> dict[str, Any]:
    record = config_reads.collect(config_reads_folder(built))
    record["stages"] = {stage: keys for stage, keys in record["stages"].items() if stage in CHAIN}
    return record


@pytest.mark.slow
def test_the_committed_record_is_what_every_stage_and_figure_read(built_project, codebook):
    from pipeline.figures import registry

    fresh = _fresh_record(built_project)
    if os.environ.get("UPDATE_CONFIG_READS") == "1":
        config_reads.RECORD.write_text(config_reads.render(fresh), encoding="utf-8")
        config_reads.committed.cache_clear()
    assert sorted(fresh["stages"]) == sorted(CHAIN)
    assert sorted(fresh["figures"]) == sorted(registry(codebook))
    committed = config_reads.committed()
    differences = {
        f"{kind} {name}": {
            "read but not in the record": sorted(set(keys) - set(committed[kind].get(name, ()))),
            "in the record but not read": sorted(set(committed[kind].get(name, ())) - set(keys)),
        }
        for kind in ("stages", "figures")
        for name, keys in fresh[kind].items()
        if keys != committed[kind].get(name)
    }
    assert differences == {}, "remake the record: see this module's docstring"
    assert config_reads.RECORD.read_text(encoding="utf-8") == config_reads.render(committed)


def _leaf_keys(mapping: dict[str, Any], prefix: str = "") -> list[str]:
    """config.yaml's keys, dotted, down to the values (a list is one value)."""
    keys = []
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        keys += _leaf_keys(value, f"{dotted}.") if isinstance(value, dict) else [dotted]
    return keys


def _raw() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def _readers(key: str) -> list[str]:
    """The stages whose record holds the key or a section above it, in the record's order."""
    return [
        stage
        for stage, keys in stage_keys().items()
        if any(key == read or key.startswith(f"{read}.") for read in keys)
    ]


def test_every_config_key_is_read_by_a_stage_or_is_a_tool_key():
    unread = {key for key in _leaf_keys(_raw()) if not _readers(key)}
    # The release block is shown by the report alone, which reads config.yaml whole (its record holds
    # WHOLE_FILE, and it depends on the file itself).
    shown_whole = {key for key in unread if key.startswith("release.")}
    assert unread - TOOL_KEYS - shown_whole == {"dataset.published_figures"}  # read by no code (changelog)
    assert unread >= TOOL_KEYS  # a tool key a stage starts reading moves out of TOOL_KEYS


def _edited(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of the config with one key's value changed (to a value of the same shape)."""
    edited = copy.deepcopy(raw)
    *parents, last = key.split(".")
    section = edited
    for part in parents:
        section = section[part]
    value = section[last]
    if isinstance(value, bool):
        section[last] = not value
    elif isinstance(value, int | float):
        section[last] = value + 1
    elif isinstance(value, list):
        section[last] = [*value, "edited"]
    else:
        section[last] = f"{value}-edited"
    return edited


def test_editing_any_key_rewrites_exactly_the_slices_of_the_stages_that_read_it(tmp_path):
    """The config slices, make's prerequisites, follow the record key by key; a stage that reads the file
    whole (the report) depends on config.yaml itself and has no slice."""
    raw = _raw()
    fragment = tmp_path / "config.mk"
    write_slices(raw, fragment)
    whole = [stage for stage, keys in stage_keys().items() if config_reads.WHOLE_FILE in keys]
    assert whole == ["report"]
    assert "CONFIG_report := $(CONFIG)" in fragment.read_text(encoding="utf-8")
    for key in _leaf_keys(raw):
        expected = [stage for stage in _readers(key) if stage not in whole]
        assert write_slices(_edited(raw, key), fragment) == expected, key
        assert write_slices(raw, fragment) == expected, key  # and back


def test_maturity_primary_is_read_by_nonresponse():
    """The issue's stale table: weighting_sensitivity.csv holds maturity differences."""
    assert {"analyse", "nonresponse", "models", "figures"} <= set(_readers("maturity.primary"))


def _would_run(project: Path) -> set[str]:
    from tests.test_make import _would_run as would_run

    return would_run(project)


EDITS = {
    "maturity.primary": [
        ("primary: development_stage", "primary: years_joint_working"),
        ("alternatives: [years_joint_working,", "alternatives: [development_stage,"),
    ],
    "weighting.bootstrap_replicates": [("bootstrap_replicates: 500", "bootstrap_replicates: 400")],
    "maturity.mature_min_years": [("mature_min_years: 10", "mature_min_years: 11")],
}


@pytest.mark.slow
@pytest.mark.parametrize("key", list(EDITS))
def test_make_reruns_exactly_the_stages_that_read_an_edited_key(key, scratch_project):
    """Asked of make itself (`make -n all` after the edit, in a private copy): it would run the stages whose
    record holds the key, the report, which shows the whole file, and, when report-tables reads the key,
    the spreadsheets, which read its file; nothing else. (A dry run lists the rules whose own
    prerequisites changed and the single-target rules after them; a real run then also reruns what reads
    the rewritten outputs of a grouped rule.)
    """
    project = scratch_project
    config = project / "config.yaml"
    edited = config.read_text(encoding="utf-8")
    for old, new in EDITS[key]:
        assert edited.count(old) == 1
        edited = edited.replace(old, new)
    wait_until_an_edit_is_newer(project)
    config.write_text(edited, encoding="utf-8")
    readers = _readers(key)
    assert readers, key
    after_tables = {"spreadsheets"} if "report-tables" in readers else set()
    assert _would_run(project) == {*readers, "report", *after_tables}
    if key == "maturity.primary":
        assert "nonresponse" in readers  # the stale weighting_sensitivity.csv


def test_slices_hold_the_values_of_their_keys_and_a_second_write_changes_nothing(tmp_path):
    from pipeline.core.config_slices import config_slice, slice_path

    raw = _raw()
    fragment = tmp_path / "config.mk"
    sliced = [stage for stage, keys in stage_keys().items() if config_reads.WHOLE_FILE not in keys]
    assert write_slices(raw, fragment) == sliced
    assert write_slices(raw, fragment) == []
    values = yaml.safe_load(slice_path(fragment, "derive").read_bytes())
    assert values == {key: _value(raw, key) for key in stage_keys()["derive"]}
    assert config_slice(raw, ("no.such.key",)) == b'{\n "no.such.key": null\n}\n'


def _value(raw: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        raw = raw[part]
    return raw


def test_reading_a_field_records_the_key_behind_it_in_every_open_scope(config):
    with config_reads.recording() as outer:
        assert config.min_cell == 5
        with config_reads.recording() as inner:
            config.weighting.describe()
            _ = config.weighting.seed
        with config_reads.unrecorded():
            _ = config.raw, config.maturity_primary
        _ = config.maturity_definitions
    assert inner == {"weighting.primary", "weighting.margins", "weighting.bounds", "weighting.trim"} | {
        "seeds.weighting_bootstrap"
    }
    assert outer == inner | {"disclosure.min_cell", "maturity.primary", "maturity.alternatives"}
    _ = config.frame  # no scope open: nothing recorded, nothing fails
    assert config_reads._scopes == []


def test_every_config_field_names_the_keys_behind_it():
    from dataclasses import fields

    from pipeline.core.config import CONFIG_KEYS, Config
    from pipeline.core.weighting_spec import WeightingSpec

    assert set(CONFIG_KEYS) == {f.name for f in fields(Config)} - {"weighting"}  # it records its own
    assert set(WeightingSpec._config_keys) == {f.name for f in fields(WeightingSpec)}
    raw = _raw()
    for keys in (*CONFIG_KEYS.values(), *WeightingSpec._config_keys.values()):
        for key in keys:
            if key != config_reads.WHOLE_FILE:
                _value(raw, key)  # a key config.yaml has
