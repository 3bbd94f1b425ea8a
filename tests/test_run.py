"""`lsp-rap run` builds with make's graph: for every stage the same outputs and the same prerequisites as the
Makefile's rule (read from make's own database), and make's rule of what is out of date.
The end-to-end run, from an installed wheel, is tests/test_package.py's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.config import load_config
from pipeline.core.paths import PROJECT_ROOT
from pipeline.project.chain import MODULES, READS, Step, steps, why_out_of_date
from pipeline.stages import CHAIN
from tests import make_database
from tests.built_project import wait_until_an_edit_is_newer


@pytest.fixture(scope="module")
def make_rules() -> dict[str, set[str]]:
    """Each target's prerequisites as make's database has them after reading the Makefile."""
    return make_database.make_prerequisites()


@pytest.fixture(scope="module")
def chain() -> list[Step]:
    config = load_config()
    return steps(config, load_codebook(config.codebook), PROJECT_ROOT / ".make" / "config.mk")


def _shown(path: Path) -> str:
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def test_the_chain_is_the_stage_order_and_every_stage_is_declared():
    from pipeline.cli import COMMANDS

    assert set(READS) == set(MODULES) == set(CHAIN)
    assert {stage: COMMANDS[stage].module for stage in CHAIN} == MODULES


@pytest.mark.parametrize("stage", CHAIN)
def test_each_stage_has_the_outputs_and_prerequisites_of_its_make_rule(stage, chain, make_rules):
    step = next(step for step in chain if step.stage == stage)
    outputs = [_shown(path) for path in step.outputs]
    assert outputs and all(output in make_rules for output in outputs), f"{stage}: {outputs}"
    # Every target of one grouped rule (a &: rule) has the same prerequisites (the figures' stamp also has
    # the phony figures-missing while a figure file is missing: no file, and why_out_of_date's products).
    for output in outputs:
        made_from = {_shown(PROJECT_ROOT / prerequisite) for prerequisite in make_rules[output]}
        assert made_from - {"figures-missing"} == {_shown(path) for path in step.inputs}, f"{stage}: {output}"
    # And make knows no other target of the stage's rule.
    sibling = make_rules[outputs[0]]
    others = {target for target, prerequisites in make_rules.items() if prerequisites == sibling}
    assert others == set(outputs), f"{stage}: {sorted(others ^ set(outputs))}"
    # The files the stage keeps without stamping them are made from its stamp alone.
    for product in step.products:
        assert make_rules[_shown(product)] == set(outputs), f"{stage}: {_shown(product)}"
    assert (stage == "figures") == bool(step.products)


def _touch(path: Path, at: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x", encoding="utf-8")
    os.utime(path, ns=(at, at))
    return path


def test_out_of_date_as_make_decides(tmp_path):
    second = 2_000_000_000_000_000_000
    source = _touch(tmp_path / "in.csv", second)
    first, other = _touch(tmp_path / "out/a.csv", second), _touch(tmp_path / "out/b.csv", second)
    step = Step("derive", (first, other), (source,))
    assert why_out_of_date(step) is None  # as new as its input: up to date
    os.utime(source, ns=(second + 1, second + 1))
    assert why_out_of_date(step) == f"{source.as_posix()} changed"
    os.utime(first, ns=(second + 2, second + 2))  # one output newer, the other older: still out of date
    assert why_out_of_date(step) == f"{source.as_posix()} changed"
    os.utime(other, ns=(second + 2, second + 2))
    assert why_out_of_date(step) is None
    assert why_out_of_date(step, remade={source}) == f"{source.as_posix()} is remade"
    # A file the stage keeps without stamping it (a figure) counts only by whether it exists.
    kept = _touch(tmp_path / "out/figure.png", second - 5)
    assert why_out_of_date(Step("figures", (first, other), (source,), (kept,))) is None
    kept.unlink()
    assert (
        why_out_of_date(Step("figures", (first, other), (source,), (kept,)))
        == f"{kept.as_posix()} is missing"
    )
    other.unlink()
    assert why_out_of_date(step) == f"{other.as_posix()} is missing"
    first.unlink()
    assert why_out_of_date(step) == "no outputs yet"


def _dry_run(project: Path) -> set[str]:
    """The stages `lsp-rap run -n` lists in a copy of the project (its own code: run from inside it)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "LSP_RAP"))}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "-n"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {
        line.split()[2]
        for line in result.stdout.splitlines()
        if line.startswith("lsp-rap run: ") and "(" in line
    }


def _edit(project: Path, edit: str) -> None:
    if edit == "maturity.primary":
        config = project / "config.yaml"
        text = config.read_text(encoding="utf-8")
        edited = text.replace("primary: development_stage", "primary: years_joint_working").replace(
            "alternatives: [years_joint_working,", "alternatives: [development_stage,"
        )
        config.write_text(edited, encoding="utf-8")
    elif edit.startswith("touch "):
        (project / edit.removeprefix("touch ")).touch()
    else:
        path = project / edit
        path.write_bytes(path.read_bytes() + b"\n# an edit that changes no name\n")


@pytest.mark.slow
@pytest.mark.xdist_group("built_project")
@pytest.mark.parametrize(
    "edit", ["maturity.primary", "pipeline/study/vocabulary.py", "pipeline/stages/spreadsheets.py"]
)
def test_run_would_run_what_make_would_run(scratch_project, edit):
    """Compared with `make -n` where every stage that reruns is out of date by its own prerequisites. (Where a
    stage reruns only because an earlier one rewrites its inputs, make 4.3's dry run does not list it, as it
    does not re-read a grouped rule's outputs; make itself reruns it: the next test.)"""
    from tests.test_make import _would_run

    assert _dry_run(scratch_project) == set() == _would_run(scratch_project)
    wait_until_an_edit_is_newer(scratch_project)
    _edit(scratch_project, edit)
    expected = _would_run(scratch_project)
    assert expected
    assert _dry_run(scratch_project) == expected


@pytest.mark.slow
@pytest.mark.xdist_group("built_project")
def test_a_stage_that_reruns_reruns_what_reads_its_outputs(scratch_project):
    """Ingest reads every raw file: touching one reruns the whole chain after it, as `make all` does (each
    stage rewrites its outputs, so everything made from them is older; tests/test_make.py runs make so)."""
    wait_until_an_edit_is_newer(scratch_project)
    _edit(scratch_project, "touch data/raw/published_targets.yaml")
    assert _dry_run(scratch_project) == set(CHAIN)


def test_errors_name_the_command_as_the_pipeline_is_run(monkeypatch, tmp_path):
    from pipeline.core import paths

    monkeypatch.delenv("MAKELEVEL", raising=False)
    monkeypatch.delenv(paths.RUNNER_ENV, raising=False)
    assert paths.rebuild_command("derive") == "make derive"  # a source tree, with its Makefile
    monkeypatch.setenv(paths.RUNNER_ENV, "1")  # a stage lsp-rap run started
    assert paths.rebuild_command("derive") == "lsp-rap run"
    assert paths.rebuild_command("synthetic") == "lsp-rap synthetic"
    monkeypatch.setenv("MAKELEVEL", "1")  # make's recipe, whoever started make
    assert paths.rebuild_command("derive") == "make derive"
    monkeypatch.delenv("MAKELEVEL")
    monkeypatch.delenv(paths.RUNNER_ENV)
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)  # a project the package made: no Makefile
    assert paths.rebuild_command("all") == "lsp-rap run"
