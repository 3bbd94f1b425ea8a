"""`pip install .` gives a working `lsp-rap` command: installed in a fresh virtual environment, it runs a
stage on the project's data from outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline import __version__
from pipeline.core.paths import PROJECT_ROOT
from tests.built_project import fresh_copy

pytestmark = pytest.mark.slow


def _run(arguments: list[str], cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        arguments,
        cwd=cwd,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_installed_command_runs_a_stage(tmp_path):
    source = fresh_copy(tmp_path / "source")
    venv = tmp_path / "venv"
    created = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert created.returncode == 0, created.stderr
    # The locked dependencies are this environment's: a .pth file lends them to the fresh one, so the test
    # measures the package's own install (build, metadata, entry point), not a second download of pandas.
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    uv = Path(sys.prefix) / "bin" / "uv"
    installed = _run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin/python"),
            "--no-deps",
            str(source),
        ],
        tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    command = venv / "bin" / "lsp-rap"
    version = _run([str(command), "--version"], tmp_path)
    assert version.stdout.strip() == f"lsp-survey-rap {__version__}"
    # Run from the project folder (not the source tree the package was built from): paths anchor there.
    out = tmp_path / "ingested"
    ran = _run(
        [str(command), "ingest", "--out-dir", str(out)], PROJECT_ROOT / "data", LSP_RAP_ROOT=str(PROJECT_ROOT)
    )
    assert ran.returncode == 0, ran.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "ingest_repairs.csv",
        "manifest.json",
        "responses_coordinator.parquet",
        "responses_partner.parquet",
    ]
    # The installed code is the package in the fresh environment, not this source tree.
    where = _run([str(venv / "bin/python"), "-c", "import pipeline; print(pipeline.__file__)"], tmp_path)
    assert str(venv) in where.stdout
    # The report's templates travel with it (package data).
    installed_package = Path(where.stdout.strip()).parent
    assert (installed_package / "templates" / "report.html.j2").is_file()
    assert list((installed_package / "templates" / "sections").glob("*.html.j2"))
