"""The wheel is a working pipeline on its own: built from the source, installed into a fresh virtual
environment, `lsp-rap init` starts a project outside the source tree and `lsp-rap run` builds it without make.

What is fresh and what is reused, so that the test needs no network:
- fresh: the wheel, built here from a clean copy of the source with this environment's pip and the locked
  setuptools (`pip wheel --no-deps --no-build-isolation --no-index`); the virtual environment (`python -m
  venv --without-pip`: no system site-packages, nothing of this project in it); the package installed into
  it from the wheel alone (`pip --python <fresh> install --no-deps --no-index`); the project folder.
- reused: the locked third-party dependencies (pandas, plotnine, ...), lent to the fresh environment by one
  `.pth` line naming this environment's site-packages, exactly the packages requirements.lock pins. So the
  test measures the package (build, metadata, package data, entry point, paths), not a second download of
  pandas; `.ci/run` installs those dependencies from the lock on a clean machine.

The project's config is the packaged one with fewer bootstrap replicates (20) and imputations (5), keys a
user sets, to keep the end-to-end run short; every output is still made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline import __version__
from pipeline.core.paths import PROJECT_ROOT
from pipeline.stages import CHAIN
from tests.built_project import EXPECTED_OUTPUTS, fresh_copy

pytestmark = pytest.mark.slow


def _run(arguments: list[str | Path], cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
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


def _files(folder: Path) -> dict[str, int]:
    return {
        path.relative_to(folder).as_posix(): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh environment's bin folder, with the package installed from its wheel."""
    root = tmp_path_factory.mktemp("wheel")
    source = fresh_copy(root / "source")
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = _run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source],
        root,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("lsp_survey_rap-*.whl")
    venv = root / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", venv], root)
    assert created.returncode == 0, created.stderr
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    python = venv / "bin" / "python"
    added = _run([*pip, "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel], root)
    assert added.returncode == 0, added.stderr
    # The installed code is the wheel's, in the fresh environment, not this source tree.
    where = _run([python, "-c", "import pipeline; print(pipeline.__file__)"], root)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    return venv / "bin"


def test_the_installed_command_says_its_version_and_carries_its_files(installed):
    version = _run([installed / "lsp-rap", "--version"], installed)
    assert version.stdout.strip() == f"lsp-survey-rap {__version__}"
    package = Path(
        _run([installed / "python", "-c", "import pipeline; print(pipeline.__file__)"], installed).stdout
    )
    package = package.parent
    assert (package / "templates" / "report.html.j2").is_file()
    # A new project's files are the source tree's own, byte for byte (links in the tree, files in the wheel).
    template = package / "project_template"
    assert (template / "config.yaml").read_bytes() == (PROJECT_ROOT / "config.yaml").read_bytes()
    raw = sorted(path.name for path in (PROJECT_ROOT / "data" / "raw").iterdir() if path.is_file())
    assert sorted(path.name for path in (template / "raw").iterdir()) == raw
    for name in raw:
        assert (template / "raw" / name).read_bytes() == (PROJECT_ROOT / "data" / "raw" / name).read_bytes()


def test_no_command_writes_a_file_when_asked_for_help(installed, tmp_path):
    from pipeline.cli import COMMANDS

    # The commands whose help once wrote a file, and the two new ones; tests/test_cli.py asks every command.
    for command in ("dependencies", "config-slices", "init", "run"):
        for flag in ("--help", "-h"):
            shown = _run([installed / "lsp-rap", command, flag], tmp_path)
            assert shown.returncode == 0, shown.stderr
            assert shown.stdout.startswith(f"usage: lsp-rap {command}"), shown.stdout
            assert list(tmp_path.iterdir()) == [], (command, flag)
    assert {"init", "run"} <= set(COMMANDS)


def test_init_and_run_build_a_project_without_make_and_a_second_run_does_nothing(installed, tmp_path):
    command = installed / "lsp-rap"
    started = _run([command, "init", "project"], tmp_path)
    assert started.returncode == 0, started.stderr
    project = tmp_path / "project"
    assert sorted(_files(project)) == sorted(
        ["config.yaml", *(f"data/raw/{p.name}" for p in (PROJECT_ROOT / "data/raw").iterdir() if p.is_file())]
    )
    # Into a folder that holds a project already, init writes nothing and says why in one line.
    again = _run([command, "init", "project"], tmp_path)
    assert again.returncode == 2
    refusal = f"{project / 'config.yaml'}: exists; init writes a new project (choose another folder)"
    assert again.stderr.strip() == f"error: init: {refusal}"
    # A stage run by hand before its inputs exist names the command that builds them, as the user runs it.
    early = _run([command, "validate"], project)
    assert early.returncode == 2
    assert early.stderr.strip().splitlines()[-1] == (
        "error: validate: data/processed/responses_coordinator.parquet: not found; run `lsp-rap run` first"
    )
    config = project / "config.yaml"
    text = config.read_text(encoding="utf-8")
    for key, value in (
        ("bootstrap_replicates: 500", "bootstrap_replicates: 20"),
        ("imputations: 20", "imputations: 5"),
    ):
        assert key in text
        text = text.replace(key, value)
    config.write_text(text, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    built = _run([command, "run", "--project", project], elsewhere)
    assert built.returncode == 0, built.stderr[-3000:]
    ran = [
        line.split()[2]
        for line in built.stdout.splitlines()
        if line.startswith("lsp-rap run: ") and "(" in line
    ]
    assert ran == list(CHAIN), built.stdout
    assert [path for path in EXPECTED_OUTPUTS if not (project / path).is_file()] == []
    assert list(elsewhere.iterdir()) == []  # everything went into the project
    before = _files(project)
    second = _run([command, "run"], project)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "lsp-rap run: every stage is up to date"
    assert _files(project) == before
