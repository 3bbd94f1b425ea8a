"""The wheel is a working pipeline on its own: built from the source, installed into a fresh virtual
environment, `lsp-rap init` starts a project outside the source tree and `lsp-rap run` builds it without make.

How the wheel is built and installed without the network, and the project these tests check, are
tests/new_project.py's: the project is the one `lsp-rap init` writes, with docs/extending.md's question
added and its exports regenerated before the run (tests/test_extending.py checks the question in the
outputs), so that one full build serves both tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import __version__
from pipeline.core.paths import PROJECT_ROOT
from pipeline.stages import CHAIN
from tests.built_project import EXPECTED_OUTPUTS
from tests.new_project import run_command

# The wheel and the project are session fixtures (tests/conftest.py): one worker makes them once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("installed_package")]


def test_the_installed_command_says_its_version_and_carries_its_files(installed_package):
    version = run_command([installed_package / "lsp-rap", "--version"], installed_package)
    assert version.stdout.strip() == f"lsp-survey-rap {__version__}"
    where = [installed_package / "python", "-c", "import pipeline; print(pipeline.__file__)"]
    package = Path(run_command(where, installed_package).stdout).parent
    assert (package / "templates" / "report.html.j2").is_file()
    # A new project's files are the source tree's own, byte for byte (links in the tree, files in the wheel).
    template = package / "project_template"
    assert (template / "config.yaml").read_bytes() == (PROJECT_ROOT / "config.yaml").read_bytes()
    raw = sorted(path.name for path in (PROJECT_ROOT / "data" / "raw").iterdir() if path.is_file())
    assert sorted(path.name for path in (template / "raw").iterdir()) == raw
    for name in raw:
        assert (template / "raw" / name).read_bytes() == (PROJECT_ROOT / "data" / "raw" / name).read_bytes()


def test_no_command_writes_a_file_when_asked_for_help(installed_package, tmp_path):
    from pipeline.cli import COMMANDS

    # The commands whose help once wrote a file, and the two new ones; tests/test_cli.py asks every command.
    for command in ("dependencies", "config-slices", "init", "run"):
        for flag in ("--help", "-h"):
            shown = run_command([installed_package / "lsp-rap", command, flag], tmp_path)
            assert shown.returncode == 0, shown.stderr
            assert shown.stdout.startswith(f"usage: lsp-rap {command}"), shown.stdout
            assert list(tmp_path.iterdir()) == [], (command, flag)
    assert {"init", "run"} <= set(COMMANDS)


def test_init_and_run_build_a_project_without_make_and_a_second_run_does_nothing(new_project):
    built = new_project
    assert built.init.returncode == 0, built.init.stderr
    project = built.project
    assert built.initial_files == sorted(
        ["config.yaml", *(f"data/raw/{p.name}" for p in (PROJECT_ROOT / "data/raw").iterdir() if p.is_file())]
    )
    # Into a folder that holds a project already, init writes nothing and says why in one line.
    assert built.init_again.returncode == 2
    refusal = f"{project / 'config.yaml'}: exists; init writes a new project (choose another folder)"
    assert built.init_again.stderr.strip() == f"error: init: {refusal}"
    # A stage run by hand before its inputs exist names the command that builds them, as the user runs it.
    assert built.early_stage.returncode == 2
    assert built.early_stage.stderr.strip().splitlines()[-1] == (
        "error: validate: data/processed/responses_coordinator.parquet: not found; run `lsp-rap run` first"
    )
    # `lsp-rap run --project`, started in another folder, runs every stage in order.
    assert built.run.returncode == 0, built.run.stderr[-3000:]
    ran = [
        line.split()[2]
        for line in built.run.stdout.splitlines()
        if line.startswith("lsp-rap run: ") and "(" in line
    ]
    assert ran == list(CHAIN), built.run.stdout
    assert [path for path in EXPECTED_OUTPUTS if not (project / path).is_file()] == []
    assert built.left_elsewhere == []  # everything went into the project
    # A second run, in the project, finds nothing to do and touches nothing.
    assert built.second_run.returncode == 0, built.second_run.stderr
    assert built.second_run.stdout.strip() == "lsp-rap run: every stage is up to date"
    assert built.files_after_second_run == built.files_before_second_run
