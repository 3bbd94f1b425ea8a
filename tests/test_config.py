"""config.yaml is checked before anything runs: unknown keys and wrong types are refused by name."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import DEFAULT_CONFIG, load_config
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT
from tests.forked import Command, run_commands


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


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw["disclosure"].update(min_cell=0), "disclosure.min_cell must be at least 1, got 0"),
        (lambda raw: raw["disclosure"].update(min_cell=-3), "disclosure.min_cell must be at least 1, got -3"),
        (lambda raw: raw["synthetic"].update(seed=-1), "synthetic.seed must be from 0 to"),
        (lambda raw: raw["synthetic"].update(n_coordinators=389), "n_coordinators must be from 1 to 388"),
        (lambda raw: raw["maturity"].update(mature_min_years=0), "mature_min_years must be from 1 to 100"),
        (lambda raw: raw["dataset"]["inputs"][0].update(header_row=0), "header_row must be at least 1"),
    ],
)
def test_a_number_out_of_its_range_is_refused(tmp_path, mutate, message):
    """A min_cell of 0 would switch disclosure control off without a word: every range is checked."""
    with pytest.raises(PipelineError) as error:
        load_config(_variant(tmp_path, mutate))
    assert message in str(error.value)


def test_relative_paths_are_relative_to_the_project_root_wherever_the_config_is(tmp_path):
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    (elsewhere / "config.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(elsewhere / "config.yaml")
    assert config.frame == PROJECT_ROOT / "data/raw/lsp_frame_2008.csv"
    assert config.processed_dir == PROJECT_ROOT / "data/processed"
    assert config.inputs[0].path == PROJECT_ROOT / raw["dataset"]["inputs"][0]["path"]


def _readme_configuration() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]


def test_the_readme_documents_every_config_key():
    from pipeline.core.config import SECTIONS

    documented = _readme_configuration()
    missing = []
    for section, keys in SECTIONS.items():
        prefix = {"config": "", "dataset.inputs[]": "inputs[]."}.get(section, f"{section}.")
        for key, (kind, *_) in keys.items():
            # A section (a mapping) is documented by its keys; every other key by name, in backticks.
            if kind is not dict and not re.search(rf"`{re.escape(prefix + key)}(\[\])?`", documented):
                missing.append(prefix + key)
    assert missing == []


HELP_COMMANDS = ["ingest", "validate", "derive", "analyse", "figures", "report", "verify", "validate-methods"]


@pytest.fixture(scope="module")
def command_lines(tmp_path_factory) -> dict[str, subprocess.CompletedProcess[str]]:
    """The module's command lines, run side by side from one process that imported the libraries once
    (tests/forked.py): each `--help` under a broken PIPELINE_CONFIG, and a stage under a broken config and
    under one with a repeated key."""
    folder = tmp_path_factory.mktemp("config_commands")
    broken = folder / "broken.yaml"
    broken.write_text("dataset: [unclosed\n", encoding="utf-8")
    repeated = folder / "config.yaml"
    repeated.write_text(REPEATED_KEY_CONFIG, encoding="utf-8")
    commands = {
        **{
            f"help {command}": Command(
                "pipeline", (command, "--help"), extra={"PIPELINE_CONFIG": str(broken)}
            )
            for command in HELP_COMMANDS
        },
        "broken": Command("pipeline", ("ingest", "--config", str(broken))),
        "repeated": Command("pipeline", ("validate", "--config", str(repeated))),
    }
    return dict(zip(commands, run_commands(list(commands.values())), strict=True))


@pytest.mark.xdist_group("config_commands")  # one worker runs the commands once
@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_help_works_with_a_broken_config_and_shows_every_default(command_lines, command):
    result = command_lines[f"help {command}"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: lsp-rap {command}")
    # Each option that takes a value says what it is and its default.
    options = re.split(r"\n  (?=-)", result.stdout.split("\noptions:\n", 1)[1])
    with_values = [" ".join(o.split()) for o in options if re.match(r"-[-\w]+ [A-Z_]+", o.strip())]
    assert with_values, result.stdout
    assert [o for o in with_values if "(default:" not in o] == []


@pytest.mark.xdist_group("config_commands")
def test_a_broken_config_stops_a_stage_with_one_line(command_lines):
    result = command_lines["broken"]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ingest: config ")
    assert "not valid YAML" in result.stderr


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The line number of the ``occurrence``-th line of ``text`` starting (after indent) with ``needle``."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip().startswith(needle)]
    return numbers[occurrence - 1]


def test_inputs_pasted_twice_is_refused_naming_the_key_and_both_lines(tmp_path):
    """The issue's case: a second `inputs:` block pasted under the first silently replaced it (the YAML
    loader kept the last), so ingest read only the partners and 191 coordinators vanished with status 0."""
    original = DEFAULT_CONFIG.read_text(encoding="utf-8")
    pasted = "  inputs:\n    - path: data/raw/synthetic_partner_survey_2008.xlsx\n      instrument: partner\n"
    text = original.replace("\nsynthetic:\n", f"{pasted}\nsynthetic:\n", 1)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    first, second = _line_of(text, "inputs:", 1), _line_of(text, "inputs:", 2)
    with pytest.raises(PipelineError) as error:
        load_config(path)
    assert str(error.value) == (
        f"config {path}: key dataset.inputs is given twice (lines {first} and {second}); keep one"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "key a is given twice (lines 1 and 3)"),
        ("a:\n  b:\n    c: 1\n    c: 2\n", "key a.b.c is given twice (lines 3 and 4)"),
        ("a:\n  - x: 1\n  - x: 1\n    y: 2\n    x: 3\n", "key a[2].x is given twice (lines 3 and 5)"),
        ("a: {k: 1, k: 2}\n", "key a.k is given twice (lines 1 and 1)"),
    ],
)
def test_a_key_repeated_at_any_depth_is_refused(text, message):
    from pipeline.core.yaml_text import load_yaml

    with pytest.raises(PipelineError) as error:
        load_yaml(text)
    assert message in str(error.value)


def test_equal_keys_in_different_mappings_are_not_repeats():
    from pipeline.core.yaml_text import load_yaml

    assert load_yaml("a: {k: 1}\nb: {k: 2}\nc: [{k: 3}, {k: 4}]\n") == {
        "a": {"k": 1},
        "b": {"k": 2},
        "c": [{"k": 3}, {"k": 4}],
    }


REPEATED_KEY_CONFIG = DEFAULT_CONFIG.read_text(encoding="utf-8").replace(
    "  min_cell: 5\n", "  min_cell: 5\n  min_cell: 3\n"
)


@pytest.mark.xdist_group("config_commands")
def test_a_repeated_config_key_stops_a_stage_with_one_line(command_lines):
    result = command_lines["repeated"]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = _line_of(REPEATED_KEY_CONFIG, "min_cell:")
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: validate: config {result.args[-1]}: key disclosure.min_cell is given twice "
        f"(lines {line} and {line + 1}); keep one"
    )


def test_a_repeated_codebook_key_is_refused(tmp_path):
    from pipeline.core.codebook import load_codebook

    codebook = PROJECT_ROOT / "data/raw/codebook.yaml"
    text = codebook.read_text(encoding="utf-8").replace(
        "  codebook_version: 1\n", "  codebook_version: 1\n  codebook_version: 2\n"
    )
    path = tmp_path / "codebook.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(
        PipelineError, match=r"key survey\.codebook_version is given twice \(lines \d+ and \d+\)"
    ):
        load_codebook(path)
