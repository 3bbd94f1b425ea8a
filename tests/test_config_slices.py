"""Each stage's slice of config.yaml is rewritten only when a key it reads changes (make's prerequisites)."""

from __future__ import annotations

import copy
import os

import yaml

from pipeline.core.config import DEFAULT_CONFIG, load_config
from pipeline.core.config_slices import STAGE_KEYS, config_slice, slice_path, write_slices


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def _times(fragment) -> dict[str, int]:
    return {stage: slice_path(fragment, stage).stat().st_mtime_ns for stage in STAGE_KEYS}


def _age(fragment) -> None:
    for stage in STAGE_KEYS:
        os.utime(slice_path(fragment, stage), ns=(1_000_000_000, 1_000_000_000))


def test_every_stage_gets_a_slice_and_the_fragment_names_them(tmp_path):
    fragment = tmp_path / "config.mk"
    assert write_slices(_raw(), fragment) == list(STAGE_KEYS)
    text = fragment.read_text(encoding="utf-8")
    for stage in STAGE_KEYS:
        assert f"CONFIG_{stage} := {slice_path(fragment, stage).as_posix()}" in text
    assert write_slices(_raw(), fragment) == []


def test_a_key_changes_only_the_slices_of_the_stages_that_read_it(tmp_path):
    fragment = tmp_path / "config.mk"
    raw = _raw()
    write_slices(raw, fragment)
    _age(fragment)
    before = _times(fragment)
    edited = copy.deepcopy(raw)
    edited["maturity"]["primary"] = "years_joint_working"
    assert write_slices(edited, fragment) == ["analyse", "models", "improvement", "figures"]
    after = _times(fragment)
    assert [stage for stage in STAGE_KEYS if after[stage] != before[stage]] == [
        "analyse",
        "models",
        "improvement",
        "figures",
    ]
    edited["disclosure"]["min_cell"] = 10
    assert write_slices(edited, fragment) == ["analyse", "nonresponse", "models", "improvement", "figures"]
    edited["seeds"]["methods_validation"] += 1  # read by no stage of the chain
    assert write_slices(edited, fragment) == []


def test_slices_hold_the_values_of_their_keys():
    raw = _raw()
    keys = ("maturity.primary", "disclosure.min_cell", "no.such.key")
    assert config_slice(raw, keys) == config_slice(raw, tuple(reversed(keys)))
    values = yaml.safe_load(config_slice(raw, keys))
    assert values == {
        "disclosure.min_cell": load_config().min_cell,
        "maturity.primary": load_config().maturity_primary,
        "no.such.key": None,
    }


def test_the_declared_keys_exist_in_config_yaml():
    raw = _raw()
    for stage, keys in STAGE_KEYS.items():
        for key in keys:
            value = raw
            for part in key.split("."):
                assert isinstance(value, dict) and part in value, f"{stage}: {key}"
                value = value[part]
