"""The package as a user installs it, and the one project it builds, shared by two tests.

A user installs the wheel, starts a project with `lsp-rap init`, follows docs/extending.md's recipe to add a
question (a coordinator-only Likert item in the strategy scale), regenerates the synthetic exports with
`lsp-rap synthetic` and builds everything with `lsp-rap run`. One full build serves two tests, each
asserting its own property of it: tests/test_package.py (the wheel is a working pipeline without make:
init, run, a second run that does nothing) and tests/test_extending.py (the project builds with the new
question, the item in its scale's score). Each build costs what a cold `make all` costs, so the suite makes
this one once instead of two (the package's own and a `make all` of the recipe in a copy of the project).

What is fresh and what is reused, so that no step needs the network:
- fresh: the wheel, built here from a clean copy of the source with this environment's pip and the locked
  setuptools (`pip wheel --no-deps --no-build-isolation --no-index`); the virtual environment (`python -m
  venv --without-pip`: no system site-packages, nothing of this project in it); the package installed into
  it from the wheel alone (`pip --python <fresh> install --no-deps --no-index`); the project folder.
- reused: the locked third-party dependencies (pandas, plotnine, ...), lent to the fresh environment by one
  `.pth` line naming this environment's site-packages, exactly the packages requirements.lock pins. So the
  tests measure the package (build, metadata, package data, entry point, paths), not a second download of
  pandas; `.ci/run` installs those dependencies from the lock on a clean machine.

The project's config is the packaged one with fewer bootstrap replicates (20) and imputations (5), keys a
user sets, to keep the build short; every output is still made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tests.built_project import fresh_copy

# The question docs/extending.md's recipe adds: the hard case, a Likert item asked of coordinators only, in
# a 7S scale (the partners' score must not count it).
NEW_ITEM = "coordinator_sees_scs_progress"
NEW_ITEM_LABEL = "I see progress against the SCS"
ENTRY = f"""
  - name: {NEW_ITEM}
    label: {NEW_ITEM_LABEL}
    instruments: [coordinator]
    question: As coordinator I see the LSP's progress against the SCS outcomes.
    type: likert5
    value_set: agree5
    missing: [-8, -9]
    element: strategy
    in_scale: true
    governance_layer: executive
    provenance: assumed
    provenance_note: a test question, added by tests/test_extending.py
"""
AFTER = "  # ---------------------------------------------------------------- staff and skills\n"
NO_LEVEL = "  assumed_coordinator_agree: {}\n"

# Keys a user sets, lowered to keep the build short (every output is still made).
SHORTER_RUN = (
    ("bootstrap_replicates: 500", "bootstrap_replicates: 20"),
    ("imputations: 20", "imputations: 5"),
)


def add_question(project: Path) -> None:
    """Steps 1-2 of docs/extending.md's "Add a question": the codebook entry and the generator's level."""
    codebook = project / "data/raw/codebook.yaml"
    text = codebook.read_text(encoding="utf-8")
    assert text.count(AFTER) == 1
    codebook.write_text(text.replace(AFTER, ENTRY.lstrip("\n") + "\n" + AFTER), encoding="utf-8")
    parameters = project / "data/raw/synthetic_parameters.yaml"
    text = parameters.read_text(encoding="utf-8")
    assert text.count(NO_LEVEL) == 1
    level = f"  assumed_coordinator_agree: {{{NEW_ITEM}: 60}}\n"
    parameters.write_text(text.replace(NO_LEVEL, level), encoding="utf-8")


def run_command(
    arguments: list[str | Path], cwd: Path, **environment: str
) -> subprocess.CompletedProcess[str]:
    """A command as a user runs it: none of the test run's or a pipeline run's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "LSP_RAP", "PIPELINE_"))}
    clean.pop("MAKELEVEL", None)
    return subprocess.run(
        [str(argument) for argument in arguments],
        cwd=cwd,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def files(folder: Path) -> dict[str, int]:
    """Every file under the folder with its modification time (nanoseconds)."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file()
    }


def install_package(root: Path) -> Path:
    """A fresh environment with the package installed from its wheel; returns the environment's bin folder."""
    source = fresh_copy(root / "source")
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = run_command(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source],
        root,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("lsp_survey_rap-*.whl")
    venv = root / "venv"
    created = run_command([sys.executable, "-m", "venv", "--without-pip", venv], root)
    assert created.returncode == 0, created.stderr
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    python = venv / "bin" / "python"
    install = [*pip, "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel]
    added = run_command(install, root)
    assert added.returncode == 0, added.stderr
    # The installed code is the wheel's, in the fresh environment, not this source tree.
    where = run_command([python, "-c", "import pipeline; print(pipeline.__file__)"], root)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    return venv / "bin"


@dataclass(frozen=True)
class NewProject:
    """The new project after each step a user takes, with what each command said; the tests assert on it."""

    project: Path
    initial_files: list[str]  # what `lsp-rap init` wrote
    init: subprocess.CompletedProcess[str]
    init_again: subprocess.CompletedProcess[str]  # init into the same folder
    early_stage: subprocess.CompletedProcess[str]  # `lsp-rap validate` before its inputs exist
    synthetic: subprocess.CompletedProcess[str]  # the exports regenerated with the new question
    run: subprocess.CompletedProcess[str]  # `lsp-rap run --project`, from another folder
    left_elsewhere: list[str]  # what the run wrote in the folder it was started from
    second_run: subprocess.CompletedProcess[str]
    files_before_second_run: dict[str, int]
    files_after_second_run: dict[str, int]


def build_new_project(command: Path, root: Path) -> NewProject:
    """Init a project with the installed ``lsp-rap``, add the recipe's question, regenerate the exports,
    run every stage, then run again. Stops early only where a later step could not start."""
    init = run_command([command, "init", "project"], root)
    assert init.returncode == 0, init.stderr
    project = root / "project"
    initial_files = sorted(files(project))
    init_again = run_command([command, "init", "project"], root)
    early_stage = run_command([command, "validate"], project)
    config = project / "config.yaml"
    text = config.read_text(encoding="utf-8")
    for key, value in SHORTER_RUN:
        assert key in text
        text = text.replace(key, value)
    config.write_text(text, encoding="utf-8")
    add_question(project)
    synthetic = run_command([command, "synthetic"], project)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    run = run_command([command, "run", "--project", project], elsewhere)
    left_elsewhere = sorted(path.name for path in elsewhere.iterdir())
    before = files(project)
    second_run = run_command([command, "run"], project)
    return NewProject(
        project=project,
        initial_files=initial_files,
        init=init,
        init_again=init_again,
        early_stage=early_stage,
        synthetic=synthetic,
        run=run,
        left_elsewhere=left_elsewhere,
        second_run=second_run,
        files_before_second_run=before,
        files_after_second_run=files(project),
    )
