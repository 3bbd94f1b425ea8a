"""config.yaml is checked before anything runs: unknown keys and wrong types are refused by name."""

from pathlib import Path

import pytest
import yaml

from pipeline.core.config import DEFAULT_CONFIG, load_config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT


def test_the_project_config_loads_with_paths_anchored_on_the_project_root():
    config = load_config()
    assert config.frame == PROJECT_ROOT / "data/raw/lsp_frame_2008.csv"
    assert {item.instrument for item in config.inputs} == {"coordinator", "partner"}
    assert config.min_cell == 5


def _variant(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.update(colour="blue"), "unknown key config.colour"),
        (lambda raw: raw["synthetic"].update(seed="abc"), "synthetic.seed must be int, got str"),
        (lambda raw: raw["synthetic"].update(seed=True), "synthetic.seed must be int, got bool"),
        (lambda raw: raw["disclosure"].pop("min_cell"), "missing key disclosure.min_cell"),
        (lambda raw: raw["dataset"]["inputs"][0].update(instrument="mayor"), "instrument must be"),
        (lambda raw: raw["dataset"]["inputs"][0].update(path="x.json"), "cannot tell the format"),
        (lambda raw: raw["dataset"]["inputs"][0].update(sheets=2), "unknown key dataset.inputs[1].sheets"),
        (lambda raw: raw["dataset"].update(inputs=[]), "lists no input file"),
    ],
)
def test_a_bad_config_is_refused_naming_the_key(tmp_path, mutate, message):
    with pytest.raises(PipelineError) as error:
        load_config(_variant(tmp_path, mutate))
    assert message in str(error.value)


def test_a_missing_config_file_is_one_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="not found"):
        load_config(tmp_path / "nope.yaml")
