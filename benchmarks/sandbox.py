"""Where the benchmark runs: the project's paths, the stage commands it times, scratch copies of the
project, the children's environment and the machine it runs on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RUNS_DIR = BENCH_DIR / "runs"
RESULTS_MD = BENCH_DIR / "results.md"
RESULTS_JSON = BENCH_DIR / "results.json"
DOCS = ROOT / "docs" / "benchmarks.md"
DOCS_START = "<!-- results:start (written by make bench) -->"
DOCS_END = "<!-- results:end -->"

sys.path.insert(0, str(ROOT))
from pipeline.stages import CHAIN  # noqa: E402  (the chain declared once; that package imports nothing)

# The stage commands the Makefile runs, in order (checked against the copy's Makefile).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (name, ("-m", "pipeline", name, *(("--stale-only",) if name == "figures" else ()))) for name in CHAIN
)
STAGE_NAMES = tuple(name for name, _ in STAGES)
# The module of each stage whose imports make the floor (the figure stage imports plotnine through the
# module that draws; its entry point alone does not).
STAGE_MODULES = (
    "pipeline.stages.ingest",
    "pipeline.stages.validate",
    "pipeline.stages.derive",
    "pipeline.stages.analyse",
    "pipeline.figures.common",
    "pipeline.stages.report",
)
IMPORT_FLOOR = "the libraries the stages import, in one process"
# For comparison only (the issue-7 floor): statsmodels.api is imported by no stage.
STAGE_IMPORTS = "import pandas, statsmodels.api, pandera.pandas, plotnine"
# Where the Makefile finds the raw inputs and the frame (its RAW and FRAME; checked by check_makefile): the
# scaling runs put the scaled survey there.
MAKEFILE_RAW = "data/raw"
MAKEFILE_FRAME = "lsp_frame_2008.csv"
FIGURE_MODULE = "pipeline/figures/barriers.py"  # a module that draws one figure
VALIDATE_MODULE = "pipeline/stages/validate.py"
# Partial rebuilds, in this order: (key, module, edited); not edited means only its time is updated.
REBUILDS = (
    ("touch_figure_mtime", FIGURE_MODULE, False),
    ("touch_figure", FIGURE_MODULE, True),
    ("touch_validate", VALIDATE_MODULE, True),
)
PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "pandera", "plotnine", "matplotlib", "pyarrow")

# Copy the project without these: version control, environments, caches, generated outputs.
_SKIP_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".mypy_cache"}
_SKIP_TOP = {".git", ".venv", "figures"}
_SKIP_RELATIVE = {"benchmarks/runs"}


def child_environment(venv: Path, pycache: Path | None) -> dict[str, str]:
    """The environment of every child: no inherited make flags or pipeline config.

    By default as a user's process runs on these machines: PYTHONDONTWRITEBYTECODE=1, so the only
    bytecode is what `make venv` compiled at install. ``pycache`` (``--warm-bytecode-cache``) instead
    caches every module's bytecode in the scratch folder, as a machine without that setting would.
    """
    env = dict(os.environ)
    for name in (
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEOVERRIDES",
        "PIPELINE_CONFIG",
        "PYTHONPATH",
        "PYTHONPYCACHEPREFIX",
    ):
        env.pop(name, None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def installed_bytecode(venv: Path) -> str:
    """How much of the environment's site-packages is compiled (make venv compiles it at install)."""
    sources = compiled = 0
    for site in venv.glob("lib/python*/site-packages"):
        for path in site.rglob("*.py"):
            sources += 1
            tag = sys.implementation.cache_tag
            compiled += (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").exists()
    return f"{compiled:,} of {sources:,} modules in site-packages compiled at install"


def copy_project(target: Path) -> Path:
    """Copy the project (sources, raw data, Makefile, config) without git, venv, caches or outputs."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).resolve().relative_to(ROOT).as_posix()
        skipped = set()
        for name in names:
            path = name if relative == "." else f"{relative}/{name}"
            if (
                name in _SKIP_ANYWHERE
                or name.endswith((".pyc", ".tmp"))
                or (relative == "." and name in _SKIP_TOP)
                or path in _SKIP_RELATIVE
                or (relative == "data/processed" and name != ".gitkeep")
                or relative == "analysis"
            ):
                skipped.add(name)
        return skipped

    # copy2 keeps modification times, so make sees the copy exactly as it sees the project.
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    return target


def check_makefile(copy: Path) -> None:
    """Stop if the Makefile no longer runs the stage commands this benchmark times."""
    makefile = (copy / "Makefile").read_text(encoding="utf-8")
    if "STAGE := $(PY) -m pipeline\n" not in makefile:
        sys.exit("bench: the Makefile's STAGE is no longer `$(PY) -m pipeline`; update STAGES")
    for line in (f"RAW := {MAKEFILE_RAW}\n", f"FRAME := $(RAW)/{MAKEFILE_FRAME}\n"):
        if line not in makefile:
            sys.exit(f"bench: the Makefile has no `{line.strip()}`; update MAKEFILE_RAW and MAKEFILE_FRAME")
    for name, arguments in STAGES:
        if f"$(STAGE) {' '.join(arguments[2:])}" not in makefile:
            sys.exit(
                f"bench: the Makefile does not run `python {' '.join(arguments)}` ({name}); update STAGES"
            )


def check_installed(venv: Path, copy: Path) -> None:
    """make must find the environment installed, or it would reinstall into the project's .venv."""
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (copy / "requirements.lock").stat().st_mtime:
        sys.exit(f"bench: {venv} is missing or older than requirements.lock; run `make venv` first")


def git_state() -> dict[str, Any]:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # read-only: git status must not rewrite the index

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()

    try:
        changed = git("status", "--porcelain").splitlines()
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed), "changed_files": changed}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def machine(python: Path) -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.system()} {platform.release()})"
    python_version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    make_version = subprocess.run(["make", "--version"], capture_output=True, text=True, check=False).stdout
    # Versions as the environment under test reports them (this script may run with another Python).
    query = (
        "import importlib.metadata as m, json, sys\n"
        "def version(name):\n"
        "    try:\n"
        "        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return 'not installed'\n"
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))"
    )
    listed = subprocess.run(
        [str(python), "-c", query, *PACKAGES], capture_output=True, text=True, check=False
    ).stdout
    versions = json.loads(listed) if listed.strip() else {}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": memory_gib,
        "os": os_name,
        "python": python_version,
        "make": make_version.splitlines()[0] if make_version else "unknown",
        "packages": versions,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_at_start": os.getloadavg(),
        **git_state(),
    }
