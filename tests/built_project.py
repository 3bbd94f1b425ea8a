"""A built copy of the project, shared by the tests that need real `make all` outputs.

The copy shares this project's virtual environment (VENV=...), so the tests measure the pipeline, not
the installer; `.ci/run` exercises the installer on a clean clone.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.core.config_reads import RECORD_ENV
from pipeline.core.paths import PROJECT_ROOT

IGNORED = shutil.ignore_patterns(
    ".git",
    ".make",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.tmp",
    "node_modules",
    "artifacts",
)


def _registered_outputs() -> list[str]:
    """Every file `make all` must write, from the output registry, under the default config's folders."""
    from pipeline.core.codebook import load_codebook
    from pipeline.study.outputs import all_outputs, relative_path

    folders = {"processed_dir": "data/processed", "analysis_dir": "analysis", "figures_dir": "figures"}
    codebook = load_codebook(PROJECT_ROOT / "data/raw/codebook.yaml")
    return [relative_path(output, folders) for output in all_outputs(codebook)]


EXPECTED_OUTPUTS = _registered_outputs()


def make_variable(name: str) -> list[str]:
    result = subprocess.run(
        ["make", "--no-print-directory", "--eval", f"print-variable: ; @echo $({name})", "print-variable"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.split()


# Nothing the pipeline writes carries a timestamp; the manifests record the git commit, the same for two
# clones of one commit (and absent in these copies, which leave .git out). So every output is compared.
DETERMINISTIC = list(EXPECTED_OUTPUTS)


def run_make(
    project: Path, *arguments: str, environment: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PYTEST")},
        **(environment or {}),
    }
    # One stage at a time unless the test says otherwise: the suite's two workers already keep both cores
    # busy, and a test's build beside another's at -j2 each only adds switching (the shared build, which
    # the browser tests wait for, asks for -j2).
    jobs = [] if any(argument.startswith("-j") for argument in arguments) else ["-j1"]
    return subprocess.run(
        ["make", f"VENV={sys.prefix}", *jobs, *arguments],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fresh_copy(destination: Path) -> Path:
    """A copy of the project as a clean clone has it: no generated outputs, no caches, no .git."""
    copy = destination / "lsp"
    shutil.copytree(PROJECT_ROOT, copy, ignore=IGNORED)
    for generated in ("data/processed", "analysis", "figures"):
        folder = copy / generated
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file() and path.name != ".gitkeep":
                    path.unlink()
    return copy


def snapshot(project: Path) -> dict[str, bytes]:
    return {path: (project / path).read_bytes() for path in DETERMINISTIC}


SHARED_BUILD_TIMEOUT = 1800  # seconds


def _shared_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the folder all workers of this run share
    return root / "built", root / "built.lock", root / "built.json"


def start_shared_build(tmp_path_factory: pytest.TempPathFactory) -> threading.Thread:
    """Start ``shared_build`` in a thread (it waits on ``make``, so the tests go on beside it); the
    ``built_project`` fixture then finds it built, or waits on its lock until it is.

    Not a daemon: a run that stops early still lets the build finish (or fail) rather than leave ``make``
    running with nobody to wait for it.
    """
    thread = threading.Thread(
        target=_build_once, args=(_shared_paths(tmp_path_factory),), name="shared-build", daemon=False
    )
    thread.start()
    return thread


def _build_once(paths: tuple[Path, Path, Path]) -> None:
    built, lock, status = paths
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not status.exists():
            # A build that stopped part way (its thread's run ended) leaves a partial copy: start afresh.
            shutil.rmtree(built, ignore_errors=True)
            built.mkdir()
            copy = fresh_copy(built)
            # Every stage saves the config keys its code reads (tests/test_config_reads.py checks them).
            recorded = {RECORD_ENV: str(config_reads_folder(copy))}
            # It runs beside both workers' tests: on a loaded machine that takes longer than one make.
            try:
                result = run_make(copy, "-j2", "all", environment=recorded, timeout=SHARED_BUILD_TIMEOUT)
                outcome = {"ok": result.returncode == 0, "log": (result.stdout + result.stderr)[-20000:]}
            except subprocess.TimeoutExpired:
                outcome = {"ok": False, "log": f"make -j2 all did not finish in {SHARED_BUILD_TIMEOUT} s"}
            status.write_text(json.dumps(outcome), encoding="utf-8")


def shared_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `make -j2 all` per test run, by whichever process takes the lock first: the build thread that
    collection starts (``start_shared_build``) or, without it, the first test to ask; the others wait on
    the lock and reuse it.

    Built in parallel, so that the serial rebuild in tests/test_crash_safety.py checks that -j1 and -j2
    give the same bytes without another build.
    """
    paths = _shared_paths(tmp_path_factory)
    built, status = paths[0], paths[2]
    _build_once(paths)
    outcome = json.loads(status.read_text(encoding="utf-8"))
    assert outcome["ok"], outcome["log"]
    return built / "lsp"


def config_reads_folder(built: Path) -> Path:
    """Where the shared build saved the config keys each stage read (beside the copy, not in it)."""
    return built.parent / "config_reads"


ONE_SECOND_TIMESTAMPS = 1.1  # seconds: some file systems keep modification times to the second


def wait_until_an_edit_is_newer(project: Path) -> None:
    """Wait until a file written now is newer than every file in ``project`` on a file system with one-second
    timestamps, so that make sees the edit; at once when nothing in it was written in the last 1.1 s (a
    fresh copy of the shared build keeps the build's times), instead of a fixed sleep before every edit."""
    newest = max((path.lstat().st_mtime for path in project.rglob("*")), default=0.0)
    time.sleep(max(0.0, newest + ONE_SECOND_TIMESTAMPS - time.time()))


def copy_built(project: Path, destination: Path) -> Path:
    """A copy of a built project with every timestamp kept (make compares them), links as links."""
    shutil.copytree(project, destination, symlinks=True, copy_function=shutil.copy2)
    return destination
