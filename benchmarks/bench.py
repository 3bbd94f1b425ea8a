"""Benchmark the pipeline: ``make bench`` (or ``python benchmarks/bench.py [--runs N] [--scales ...]``).

Prints figures, never fails a build on them. Everything runs in temporary copies of the project (no
.git, .venv, caches or generated outputs), with this project's virtual environment, so the working tree
is never touched. What it measures, each as the median, minimum and maximum of ``--runs`` runs:

- the import floor: one Python process importing the libraries the stages import (found by importing
  each stage's module in a child and listing what it loaded from site-packages), the way a user's
  process imports them: with PYTHONDONTWRITEBYTECODE=1 (as on these machines) and only the bytecode
  `make venv` compiled at install;
- cold ``make all`` on the bundled survey (a fresh copy each run), then a no-op ``make all``, the
  rebuilds after touching one figure module (time only), after editing it (a comment added: the figure
  stage compares contents) and after editing the validate module;
- every stage of the bundled survey run alone in a fresh copy, in the Makefile's order;
- scaling: synthetic surveys at ``--scales`` times the bundled size (benchmarks/scaled_survey.py),
  every stage timed, and the growth exponent (log-log slope of time against size) per stage and end
  to end;
- the survey engine against R's survey package on the study's per-item work at 191, 1,901 and 19,012
  respondents (benchmarks/engine_vs_r.py; skipped, and said so, without Rscript and the package);
- ``make test`` in a fresh copy (``--no-test`` skips it);
- the CPU seconds of each figure, as the figure stage logs them in the cold builds.

Time is wall-clock time of the child process; peak memory is ``ru_maxrss`` from ``os.wait4`` on that
child (for ``make`` it covers make and every stage it waited for). Each stage also logs its own time
("done in X s", excluding interpreter start-up and imports), reported as the in-stage time.

Results: benchmarks/results.md and benchmarks/results.json (and the table in docs/benchmarks.md),
re-written by every full run; ``--quick`` writes under benchmarks/runs/ instead. Stage logs of every run
are kept under benchmarks/runs/<date>/ (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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
FIGURE_MODULE = "pipeline/figures/barriers.py"  # a module that draws one figure
VALIDATE_MODULE = "pipeline/stages/validate.py"
# Partial rebuilds, in this order: (key, module, edited); not edited means only its time is updated.
REBUILDS = (
    ("touch_figure_mtime", FIGURE_MODULE, False),
    ("touch_figure", FIGURE_MODULE, True),
    ("touch_validate", VALIDATE_MODULE, True),
)
PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "pandera", "plotnine", "matplotlib", "pyarrow")
COMMAND_TIMEOUT = 3 * 3600  # seconds; a hung command is killed and reported as failed

# Targets of issue 7.
NOOP_TARGET_S = 0.5
COLD_FLOOR_MULTIPLE = 3.0
EXPONENT_TARGET = 1.1
# Targets of issue 17.
COLD_TARGET_S = 20.0
FIGURE_CPU_TARGET_S = 1.0
ENGINE_RATIO_TARGET = 0.10
OLR_FIT_TARGET_S = 0.030
MAKE_TEST_TARGET_S = 180.0
E2E_1000X_TARGET_S = 180.0
RSS_1000X_TARGET_MIB = 2048.0  # 2 GB taken as 2 GiB
REBUILD_TARGETS = {
    "maturity_primary": "changing maturity.primary rebuilds only maturity-dependent outputs",
    "min_cell": "disclosure.min_cell: 10 rebuilds only what it changes",
    "add_figure": "adding one figure draws only that figure",
}
BUSY_CORES = 0.25  # other processes using this many cores during a measurement are reported

# Copy the project without these: version control, environments, caches, generated outputs.
_SKIP_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".mypy_cache"}
_SKIP_TOP = {".git", ".venv", "figures"}
_SKIP_RELATIVE = {"benchmarks/runs"}
_DONE_IN = re.compile(r"pipeline\.(\w+): done in ([0-9.]+) s")
_OUT_OF_DATE = re.compile(r"(\d+) of (\d+) figures out of date")
_FIGURE_CPU = re.compile(r"pipeline\.figures: wrote \S+ \(\d+ rows plotted\) in [0-9.]+ s, ([0-9.]+) CPU-s")


# --------------------------------------------------------------------------------------- measuring


@dataclass
class Measurement:
    """One child process: wall time, peak RSS of it and its waited-for descendants, exit code, output."""

    seconds: float
    max_rss_mib: float
    returncode: int
    stdout: str
    stderr: str
    other_cores: float | None = None  # CPU used by other processes meanwhile, in cores

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def stage_seconds(self) -> dict[str, float]:
        """The in-stage times the stages log ("pipeline.<stage>: done in X s")."""
        return {stage: float(seconds) for stage, seconds in _DONE_IN.findall(self.stderr)}

    def last_error(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit code {self.returncode}"


def run_measured(
    command: Sequence[str | Path], cwd: Path, env: dict[str, str], log: Path | None = None
) -> Measurement:
    """Run one command; time it and read its peak RSS with os.wait4. Output goes to files, then ``log``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy_before = machine_busy_seconds()
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(part) for part in command], cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        # Kill only this process group, and only if it hangs.
        timer = threading.Timer(COMMAND_TIMEOUT, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        busy_after = machine_busy_seconds()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(map(str, command))}\n# cwd {cwd}\n{stdout}\n# stderr\n{stderr}")
    other = None
    if busy_before is not None and busy_after is not None and seconds > 0:
        own = usage.ru_utime + usage.ru_stime
        other = max(0.0, (busy_after - busy_before - own) / seconds)
    return Measurement(seconds, usage.ru_maxrss / 1024, process.returncode, stdout, stderr, other)


def machine_busy_seconds() -> float | None:
    """CPU seconds spent by the whole machine so far, idle and I/O wait excluded (from /proc/stat)."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Series:
    """Repeated measurements of one thing."""

    seconds: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    work_seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    other_cores: list[float] = field(default_factory=list)

    def add(self, measurement: Measurement, work: float | None = None) -> None:
        if not measurement.ok:
            self.failures.append(measurement.last_error())
            return
        self.seconds.append(measurement.seconds)
        self.rss_mib.append(measurement.max_rss_mib)
        if measurement.other_cores is not None:
            self.other_cores.append(measurement.other_cores)
        if work is not None:
            self.work_seconds.append(work)

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": summary(self.seconds),
            "max_rss_mib": summary(self.rss_mib),
            "in_stage_seconds": summary(self.work_seconds),
            "other_processes_cores": summary(self.other_cores),
            "notes": self.notes,
            "failures": self.failures,
        }


def summary(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": [round(value, 4) for value in values],
    }


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def growth_exponent(sizes: Sequence[float], times: Sequence[float | None]) -> float | None:
    """Least-squares slope of log(time) on log(size); None with fewer than two usable points."""
    points = [(math.log(s), math.log(t)) for s, t in zip(sizes, times, strict=True) if t and t > 0]
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


# ------------------------------------------------------------------------------------ environment


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


# ------------------------------------------------------------------------------------------ phases


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Context:
    venv: Path
    python: Path
    env: dict[str, str]
    scratch: Path
    logs: Path
    runs: int
    engine_sizes: str = "191,1901,19012"

    def make(self, copy: Path, log: Path, target: str = "all") -> Measurement:
        return run_measured(["make", f"VENV={self.venv}", target], copy, self.env, log)


def stages_run(make_output: str, python: Path) -> list[str]:
    """The stages a make run executed, from the commands it echoed."""
    pattern = re.compile(rf"^{re.escape(str(python))} -m pipeline (\w+)", re.MULTILINE)
    return pattern.findall(make_output)


def figures_note(measurement: Measurement) -> str:
    found = _OUT_OF_DATE.search(measurement.stderr)
    return f"{found[1]} of {found[2]} figures out of date" if found else "figures not run"


def stage_libraries(context: Context) -> list[str]:
    """Every module the stages' modules load from site-packages (their third-party imports, in full)."""
    query = (
        "import importlib, json, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(n for n, m in list(sys.modules.items())\n"
        "    if 'site-packages' in (getattr(m, '__file__', None) or '')\n"
        "    and getattr(getattr(m, '__spec__', None), 'name', None) == n)))"
    )
    env = dict(context.env, PYTHONPATH=str(ROOT))
    listed = subprocess.run(
        [str(context.python), "-c", query, *STAGE_MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(listed.stdout.strip().splitlines()[-1])


def bench_imports(context: Context) -> dict[str, Series]:
    """The import floor (what the stages import), and for comparison the issue-7 floor."""
    libraries = stage_libraries(context)
    tops = sorted({name.split(".")[0] for name in libraries})
    progress(f"the stages import {len(libraries)} modules from site-packages ({', '.join(tops)})")
    floor = f"import importlib; [importlib.import_module(n) for n in {libraries!r}]"
    results = {}
    for key, statement in (("floor", floor), ("stage_imports", STAGE_IMPORTS)):
        series = results[key] = Series()
        series.notes.append(", ".join(tops) if key == "floor" else statement)
        # One unmeasured run warms the page cache (and the bytecode cache, with --warm-bytecode-cache).
        run_measured([context.python, "-c", statement], context.scratch, context.env)
        for run in range(context.runs):
            measurement = run_measured(
                [context.python, "-c", statement],
                context.scratch,
                context.env,
                context.logs / f"{key}_{run}.log",
            )
            series.add(measurement)
            progress(f"{key} imports {run + 1}/{context.runs}: {measurement.seconds:.2f} s")
    return results


def bench_make(context: Context) -> dict[str, Series]:
    """Cold, no-op and two rebuilds of `make all` in a fresh copy per run."""
    results = {name: Series() for name in ("cold", "noop", *(key for key, _, _ in REBUILDS), "figure_cpu")}
    for run in range(context.runs):
        copy = copy_project(context.scratch / f"make_{run}")
        check_makefile(copy)
        check_installed(context.venv, copy)
        logs = context.logs / f"make_{run}"
        cold = context.make(copy, logs / "cold.log")
        results["cold"].add(cold)
        results["cold"].notes.append(figures_note(cold))
        # Each figure's own CPU seconds, as the figure stage logs them (every figure is drawn cold).
        results["figure_cpu"].seconds += [float(value) for value in _FIGURE_CPU.findall(cold.stderr)]
        if cold.other_cores is not None:
            results["figure_cpu"].other_cores.append(cold.other_cores)
        progress(f"cold make all {run + 1}/{context.runs}: {cold.seconds:.1f} s ({figures_note(cold)})")
        if not cold.ok:
            shutil.rmtree(copy, ignore_errors=True)
            continue
        noop = context.make(copy, logs / "noop.log")
        results["noop"].add(noop)
        ran = stages_run(noop.stdout, context.python)
        results["noop"].notes.append("nothing to be done" if not ran else f"ran {', '.join(ran)}")
        for key, module, edit in REBUILDS:
            if edit:
                # A real edit (a comment line): the figure stage compares contents, not only times.
                with open(copy / module, "a", encoding="utf-8") as handle:
                    handle.write(f"\n# edited by benchmarks/bench.py ({key})\n")
            else:
                os.utime(copy / module)
            rebuild = context.make(copy, logs / f"{key}.log")
            results[key].add(rebuild)
            ran = stages_run(rebuild.stdout, context.python)
            results[key].notes.append(f"ran {', '.join(ran) or 'nothing'}; {figures_note(rebuild)}")
            progress(f"{key} {run + 1}/{context.runs}: {rebuild.seconds:.1f} s ({results[key].notes[-1]})")
        if run == 0:
            results["edits"] = bench_edits(context, copy, logs)
        shutil.rmtree(copy, ignore_errors=True)
    return results


# Edits of config.yaml (key, old text, new text) and what each should rebuild: the stages that read
# the key (and the report, which shows the whole file), and only figures whose pixels change.
CONFIG_EDITS = (
    (
        "maturity_primary",
        (
            ("primary: development_stage", "primary: years_joint_working"),
            ("alternatives: [years_joint_working,", "alternatives: [development_stage,"),
        ),
        # The models read maturity too, and the spreadsheets hold the tables.
        ("analyse", "models", "figures", "report", "spreadsheets"),
    ),
    (
        "min_cell",
        (("min_cell: 5", "min_cell: 10"),),
        ("analyse", "nonresponse", "models", "figures", "report", "spreadsheets"),
    ),
)
_DRAWN = re.compile(r"pipeline\.figures: wrote \S*?(\w+)\.\{png")


def bench_edits(context: Context, copy: Path, logs: Path) -> Series:
    """Once, in a built copy: each config edit of CONFIG_EDITS, then registering one more figure; what
    ran, which figures were drawn, and whether each drawn figure's PNG really changed."""
    series = Series()
    config = copy / "config.yaml"
    original = config.read_text(encoding="utf-8")
    for key, replacements, allowed in CONFIG_EDITS:
        before = {path.name: path.read_bytes() for path in (copy / "figures").glob("*.png")}
        edited = original
        for old, new in replacements:
            edited = edited.replace(old, new)
        config.write_text(edited, encoding="utf-8")
        result = context.make(copy, logs / f"edit_{key}.log")
        config.write_text(original, encoding="utf-8")
        ran = stages_run(result.stdout, context.python)
        drawn = sorted(set(_DRAWN.findall(result.stderr)))
        same = [
            name
            for name in drawn
            if (copy / "figures" / f"{name}.png").read_bytes() == before.get(f"{name}.png")
        ]
        passed = result.ok and set(ran) <= set(allowed) and not same
        series.notes.append(
            json.dumps(
                {
                    "key": key,
                    "passed": passed,
                    "seconds": round(result.seconds, 1),
                    "ran": ran,
                    "drawn": drawn,
                    "drawn_unchanged": same,
                    "failure": None if result.ok else result.last_error(),
                }
            )
        )
        progress(f"edit {key}: ran {', '.join(ran)}; drew {len(drawn)} figures ({len(same)} unchanged)")
        context.make(copy, logs / f"edit_{key}_back.log")
    registry = copy / "pipeline" / "study" / "outputs.py"
    source = registry.read_text(encoding="utf-8")
    end = "    return tuple(specs)\n"
    added = (
        '    specs.append(Figure("barriers_again", "barriers", (ESTIMATES,), "estimates", _ESTIMATE_FIGURE))'
        "\n"
    )
    registry.write_text(source.replace(end, added + end, 1), encoding="utf-8")
    # The figure stage only: the report refuses a figure that no section shows, as it should.
    result = context.make(copy, logs / "edit_add_figure.log", "figures")
    registry.write_text(source, encoding="utf-8")
    drawn = sorted(set(_DRAWN.findall(result.stderr)))
    series.notes.append(
        json.dumps(
            {
                "key": "add_figure",
                "passed": result.ok and drawn == ["barriers_again"],
                "seconds": round(result.seconds, 1),
                "ran": stages_run(result.stdout, context.python),
                "drawn": drawn,
                "drawn_unchanged": [],
                "failure": None if result.ok else result.last_error(),
            }
        )
    )
    progress(f"registering one figure: drew {', '.join(drawn) or 'nothing'}")
    return series


def rebuild_targets(edits: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The edit measurements as targets: PASS when only the stages reading the key ran and every figure
    drawn changed (or, for a new figure, only it was drawn)."""
    found = {}
    for note in (edits or {}).get("notes", []):
        entry = json.loads(note)
        figures = ", ".join(entry["drawn"]) or "none"
        detail = (
            f"ran {', '.join(entry['ran']) or 'nothing'}; drew {len(entry['drawn'])} figures ({figures})"
            + (
                f"; {len(entry['drawn_unchanged'])} of them with unchanged PNGs"
                if entry["drawn_unchanged"]
                else ""
            )
            + f"; {entry['seconds']} s"
            + (f"; failed: {entry['failure']}" if entry["failure"] else "")
        )
        found[entry["key"]] = {"passed": entry["passed"], "detail": detail}
    return found


def bench_engine_vs_r(context: Context) -> dict[str, Any]:
    """The engine and R's survey package on the same per-item work (benchmarks/engine_vs_r.py)."""
    env = dict(context.env, PYTHONPATH=str(ROOT))
    runs: list[dict[str, Any]] = []
    for run in range(context.runs):
        measurement = run_measured(
            [context.python, BENCH_DIR / "engine_vs_r.py", "--sizes", context.engine_sizes],
            ROOT,
            env,
            context.logs / f"engine_vs_r_{run}.log",
        )
        if not measurement.ok:
            progress(f"engine vs R FAILED: {measurement.last_error()}")
            return {"error": measurement.last_error(), "runs": runs}
        result = json.loads(measurement.stdout.strip().splitlines()[-1])
        result["other_cores"] = measurement.other_cores
        runs.append(result)
        for entry in result["sizes"]:
            ratio = f"{entry['ratio_batch']:.3f} of R's CPU time" if "ratio_batch" in entry else "R not run"
            progress(
                f"engine vs R {run + 1}/{context.runs}, {entry['respondents']:,} respondents: "
                f"engine {entry['engine_batch_cpu_seconds']:.2f} CPU-s, {ratio}; "
                f"olr fit {entry['olr_fit_cpu_seconds']['median'] * 1000:.1f} ms"
            )
        if result["r"] != "available":
            progress(f"engine vs R: {result['r']}; R's side skipped")
    sizes = [entry["respondents"] for entry in runs[0]["sizes"]] if runs else []
    by_size = {}
    for k, n in enumerate(sizes):
        entries = [run["sizes"][k] for run in runs]

        def gather(key: str, entries: list[dict[str, Any]] = entries) -> dict[str, Any] | None:
            return summary([entry[key] for entry in entries if key in entry])

        by_size[str(n)] = {
            "engine_batch_cpu_seconds": gather("engine_batch_cpu_seconds"),
            "engine_plain_cpu_seconds": gather("engine_plain_cpu_seconds"),
            "r_cpu_seconds": gather("r_cpu_seconds"),
            "ratio_batch": gather("ratio_batch"),
            "ratio_plain": gather("ratio_plain"),
            "olr_fit_cpu_seconds": summary([entry["olr_fit_cpu_seconds"]["median"] for entry in entries]),
            "largest_difference_from_r": entries[-1].get("largest_difference_from_r"),
        }
    loads = [run["other_cores"] for run in runs if run.get("other_cores") is not None]
    return {
        "r": runs[0]["r"] if runs else "not run",
        "sizes": by_size,
        "other_processes_cores": summary(loads),
    }


def bench_make_test(context: Context) -> dict[str, Series]:
    """`make test` once in a fresh copy, as CI runs it on a clean clone (no caches, no built outputs)."""
    series = Series()
    copy = copy_project(context.scratch / "make_test")
    measurement = run_measured(
        ["make", f"VENV={context.venv}", "test"], copy, context.env, context.logs / "make_test.log"
    )
    series.add(measurement)
    tail = [line for line in measurement.stdout.splitlines() if " passed" in line or " failed" in line]
    series.notes.append(tail[-1].strip("= ") if tail else measurement.last_error())
    progress(f"make test: {measurement.seconds:.0f} s ({series.notes[-1]})")
    shutil.rmtree(copy, ignore_errors=True)
    return {"make_test": series}


def run_stages(
    context: Context, copy: Path, env: dict[str, str], logs: Path, results: dict[str, Series]
) -> tuple[float, float] | None:
    """Run every stage once in order; returns (total process time, total in-stage time) or None."""
    total = work_total = 0.0
    for name, arguments in STAGES:
        measurement = run_measured([context.python, *arguments], copy, env, logs / f"{name}.log")
        work = measurement.stage_seconds().get(name)
        results[name].add(measurement, work)
        if not measurement.ok:
            progress(f"  {name} FAILED: {measurement.last_error()}")
            return None
        total += measurement.seconds
        work_total += work or 0.0
        progress(
            f"  {name}: {measurement.seconds:.1f} s (in stage {work or 0:.1f} s), "
            f"peak RSS {measurement.max_rss_mib:.0f} MiB"
        )
    return total, work_total


def bench_stages(context: Context) -> dict[str, Series]:
    """Every stage of the bundled survey, run alone in a fresh copy per run."""
    results = {name: Series() for name in (*STAGE_NAMES, "total")}
    for run in range(context.runs):
        copy = copy_project(context.scratch / f"stages_{run}")
        progress(f"stages on the bundled survey {run + 1}/{context.runs}")
        totals = run_stages(context, copy, context.env, context.logs / f"stages_{run}", results)
        if totals is not None:
            results["total"].seconds.append(totals[0])
            results["total"].work_seconds.append(totals[1])
            results["total"].rss_mib.append(max(results[name].rss_mib[-1] for name in STAGE_NAMES))
        shutil.rmtree(copy, ignore_errors=True)
    return results


def scaled_config(copy: Path, data: Path, out: Path) -> Path:
    """A configuration (absolute paths) reading the scaled CSV exports and frame; outputs under ``out``."""
    import yaml  # in the project's environment, which runs this script

    raw = yaml.safe_load((copy / "config.yaml").read_text(encoding="utf-8"))
    dataset = raw["dataset"]
    for key in ("codebook", "published_figures", "published_targets"):
        dataset[key] = str((copy / dataset[key]).resolve())
    dataset["frame"] = str(data / "frame.csv")
    dataset["inputs"] = [
        {"path": str(data / "coordinator.csv"), "instrument": "coordinator", "format": "csv"},
        {"path": str(data / "partner.csv"), "instrument": "partner", "format": "csv"},
    ]
    raw["synthetic"]["out_dir"] = str(out / "synthetic")
    raw["processed_dir"] = str(out / "processed")
    raw["analysis_dir"] = str(out / "analysis")
    raw["figures_dir"] = str(out / "figures")
    target = out / "config.yaml"
    out.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return target


def bench_scale(context: Context, copy: Path, scale: int) -> dict[str, Any]:
    data = context.scratch / f"scale_{scale}" / "data"
    env = dict(context.env, PYTHONPATH=str(copy))
    generation = run_measured(
        [context.python, copy / "benchmarks" / "scaled_survey.py", "--scale", str(scale), "--out-dir", data],
        copy,
        env,
        context.logs / f"scale_{scale}" / "generate.log",
    )
    if not generation.ok:
        progress(f"{scale}x: generation FAILED: {generation.last_error()}")
        return {"scale": scale, "generation_error": generation.last_error()}
    counts = json.loads(generation.stdout.strip().splitlines()[-1])
    progress(
        f"{scale}x: generated {counts['coordinator']} + {counts['partner']} responses, {counts['lsps']} LSPs "
        f"in {generation.seconds:.1f} s (peak RSS {generation.max_rss_mib:.0f} MiB)"
    )
    results = {name: Series() for name in (*STAGE_NAMES, "total")}
    for run in range(context.runs):
        out = context.scratch / f"scale_{scale}" / f"run_{run}"
        env_run = dict(context.env, PIPELINE_CONFIG=str(scaled_config(copy, data, out)))
        progress(f"{scale}x run {run + 1}/{context.runs}")
        totals = run_stages(context, copy, env_run, context.logs / f"scale_{scale}" / f"run_{run}", results)
        if totals is not None:
            results["total"].seconds.append(totals[0])
            results["total"].work_seconds.append(totals[1])
            results["total"].rss_mib.append(max(results[name].rss_mib[-1] for name in STAGE_NAMES))
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    return {
        "scale": scale,
        "lsps": counts["lsps"],
        "responses": counts["coordinator"] + counts["partner"],
        "coordinator": counts["coordinator"],
        "partner": counts["partner"],
        "generation": {"seconds": generation.seconds, "max_rss_mib": generation.max_rss_mib},
        "stages": results,
    }


# ----------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    passed: bool | None  # None: could not be measured
    detail: str

    def line(self) -> str:
        verdict = {True: "PASS", False: "MISS", None: "N/A "}[self.passed]
        return f"{verdict}  {self.name}: {self.detail}"


def compare(name: str, value: float | None, limit: float | None, unit: str, what: str = "") -> Target:
    """PASS/MISS of value <= limit, with the margin and the ratio to the target."""
    if value is None or limit is None:
        return Target(name, None, "not measured")
    digits = {"s": 2, "MiB": 0}.get(unit, 2)
    unit = f" {unit}" if unit else ""
    margin = limit - value
    verdict = f"under by {margin:.{digits}f}{unit}" if margin >= 0 else f"over by {-margin:.{digits}f}{unit}"
    return Target(
        name,
        margin >= 0,
        f"{value:.{digits}f}{unit} {'<=' if margin >= 0 else '>'} {what}{limit:.{digits}f}{unit} "
        f"({verdict}, {value / limit:.2f}x the target)",
    )


def spread_target(
    name: str, block: dict[str, Any] | None, limit: float, unit: str, load: dict[str, Any] | None
) -> Target:
    """PASS/MISS of a median against its limit, printed as median (min-max) with the other load."""
    if not block:
        return Target(name, None, "not measured")
    scale, shown = (1000.0, "ms") if unit == "ms" else (1.0, unit)
    digits = 3 if unit == "" else (1 if unit in ("ms", "MiB") or block["median"] * scale >= 10 else 2)
    value = block["median"]

    def number(x: float) -> str:
        return f"{x * scale:.{digits}f}"

    spread = f"{number(value)} ({number(block['min'])}-{number(block['max'])}){' ' + shown if shown else ''}"
    where = f"; other load {load['median']:.2f} cores (max {load['max']:.2f})" if load else ""
    return Target(
        name,
        value <= limit,
        f"{spread} {'<=' if value <= limit else '>'} {number(limit)}, {len(block['runs'])} runs{where}",
    )


def issue_17_targets(report: dict[str, Any]) -> list[Target]:
    """The targets of issue 17, each as median (min-max) with the load of the rest of the machine."""
    bundled = report["bundled"]
    make = bundled["make"]
    cold = make["cold"]
    targets = [
        spread_target(
            "cold make all <= 20 s wall (bytecode only as make venv installs it)",
            cold["seconds"],
            COLD_TARGET_S,
            "s",
            cold["other_processes_cores"],
        ),
        spread_target(
            "figures <= 1.0 CPU-s each (median over every figure of every cold build)",
            make["figure_cpu"]["seconds"],
            FIGURE_CPU_TARGET_S,
            "CPU-s",
            make["figure_cpu"]["other_processes_cores"],
        ),
    ]
    measured = rebuild_targets(report["bundled"]["make"].get("edits"))
    for key, name in REBUILD_TARGETS.items():
        found = measured.get(key)
        targets.append(
            Target(name, found["passed"], found["detail"]) if found else Target(name, None, "not measured")
        )
    engine = report.get("engine_vs_r", {})
    if engine.get("r") != "available":
        targets.append(Target("engine <= 0.10 of R survey's CPU time", None, f"skipped: {engine.get('r')}"))
    for n, entry in engine.get("sizes", {}).items():
        if engine.get("r") == "available":
            targets.append(
                spread_target(
                    f"engine per-item work <= 0.10 of R survey's CPU time, {int(n):,} respondents",
                    entry["ratio_batch"],
                    ENGINE_RATIO_TARGET,
                    "",
                    engine.get("other_processes_cores"),
                )
            )
    biggest_n = max((int(n) for n in engine.get("sizes", {})), default=0)
    largest = engine.get("sizes", {}).get(str(biggest_n))
    targets.append(
        spread_target(
            f"proportional-odds fit at {biggest_n or 19012:,} respondents <= 30 ms (median of 60 fits)",
            largest["olr_fit_cpu_seconds"] if largest else None,
            OLR_FIT_TARGET_S,
            "ms",
            engine.get("other_processes_cores"),
        )
    )
    test = bundled.get("make_test")
    targets.append(
        spread_target(
            "make test <= 3 min in a fresh copy",
            test["seconds"] if test else None,
            MAKE_TEST_TARGET_S,
            "s",
            test["other_processes_cores"] if test else None,
        )
        if test and not test["failures"]
        else Target(
            "make test <= 3 min in a fresh copy",
            False if test else None,
            f"failed: {test['failures'][0]}" if test else "not run (--no-test)",
        )
    )
    biggest = {entry["scale"]: entry for entry in report["scaling"] if "stages" in entry}.get(1000)
    if biggest is None:
        targets += [
            Target("1000x end to end <= 3 min", None, "1000x not run"),
            Target("1000x peak RSS <= 2 GB", None, "1000x not run"),
        ]
    else:
        total = biggest["stages"]["total"]
        load = biggest["stages"]["analyse"]["other_processes_cores"]
        if total["seconds"]:
            targets.append(
                spread_target("1000x end to end <= 3 min", total["seconds"], E2E_1000X_TARGET_S, "s", load)
            )
            targets.append(
                spread_target(
                    "1000x peak RSS <= 2 GB (2048 MiB)",
                    total["max_rss_mib"],
                    RSS_1000X_TARGET_MIB,
                    "MiB",
                    load,
                )
            )
        else:
            targets.append(
                Target("1000x end to end <= 3 min", False, "a stage failed: " + "; ".join(total["failures"]))
            )
    return targets


def evaluate(report: dict[str, Any]) -> list[Target]:
    bundled = report["bundled"]
    targets = [
        compare("no-op make all <= 0.5 s", med(bundled["make"]["noop"]["seconds"]), NOOP_TARGET_S, "s"),
    ]
    notes = bundled["make"]["touch_figure"]["notes"]
    if not notes:
        targets.append(Target("touching one figure module rebuilds only that figure", None, "not measured"))
    else:
        only_one = all(
            re.fullmatch(r"ran figures, report; 1 of \d+ figures out of date", note) for note in notes
        )
        targets.append(
            Target(
                f"editing {FIGURE_MODULE} rebuilds only that figure",
                bool(only_one),
                "; ".join(sorted(set(notes))) + f" ({len(notes)} of {len(notes)} runs)",
            )
        )
    floor = med(bundled["import_floor"]["seconds"])
    targets.append(
        compare(
            "cold make all <= 3 x import floor",
            med(bundled["make"]["cold"]["seconds"]),
            floor * COLD_FLOOR_MULTIPLE if floor else None,
            "s",
            f"3 x {floor:.2f} s = " if floor else "",
        )
    )
    for key, label in (("process", "process time"), ("in_stage", "in-stage time")):
        for name, exponents in report["exponents"].items():
            targets.append(
                compare(
                    f"growth exponent <= 1.1, {name}, {label}",
                    exponents.get(key),
                    EXPONENT_TARGET,
                    "",
                )
            )
    return issue_17_targets(report) + targets


def med(block: dict[str, Any] | None) -> float | None:
    return block["median"] if block else None


# ----------------------------------------------------------------------------------------- tables


def fmt_seconds(block: dict[str, Any] | None) -> str:
    if not block:
        return "–"
    return f"{block['median']:.2f} ({block['min']:.2f}–{block['max']:.2f})"


def fmt_mib(block: dict[str, Any] | None) -> str:
    if not block:
        return "–"
    if block["max"] - block["min"] < 0.5:
        return f"{block['median']:.0f}"
    return f"{block['median']:.0f} ({block['min']:.0f}–{block['max']:.0f})"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def results_markdown(report: dict[str, Any], targets: list[Target]) -> str:
    m = report["machine"]
    settings = report["settings"]
    bundled = report["bundled"]
    runs = settings["runs"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items())
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({' '.join(settings['argv']) or 'default options'}) on {m['date']}. "
        f"Times in seconds, peak RSS in MiB; each cell is the median (min–max) of {runs} runs.",
        "",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores ({m['cores_available']} available), "
        f"{m['memory_gib']} GiB memory; {m['os']}",
        f"- **Software**: Python {m['python']}, {m['make']}; {packages}",
        f"- **Code**: git commit {m['commit']}" + (" with uncommitted changes" if m["dirty"] else ""),
        f"- **Bytecode**: {settings['bytecode']}",
        "",
        "## Bundled survey (191 coordinators, 282 partners)",
        "",
    ]
    make = bundled["make"]

    def row(label: str, block: dict[str, Any], notes: str = "") -> list[str]:
        notes = "; ".join([notes, *block["failures"][:1]]).strip("; ")
        return [
            label,
            fmt_seconds(block["seconds"]),
            fmt_seconds(block["in_stage_seconds"]),
            fmt_mib(block["max_rss_mib"]),
            fmt_load(block),
            notes,
        ]

    rows = [
        row(
            f"import floor ({IMPORT_FLOOR})",
            bundled["import_floor"],
            first(bundled["import_floor"]["notes"]),
        ),
        row(
            f"for comparison, the issue-7 floor: `{STAGE_IMPORTS}`",
            bundled["stage_imports"],
            "no stage imports statsmodels.api",
        ),
        row("cold `make all` (fresh copy)", make["cold"], first(make["cold"]["notes"])),
        row("no-op `make all`", make["noop"], first(make["noop"]["notes"])),
        row(
            f"`make all` after `touch {FIGURE_MODULE}` (time only, same contents)",
            make["touch_figure_mtime"],
            first(make["touch_figure_mtime"]["notes"]),
        ),
        row(
            f"`make all` after editing `{FIGURE_MODULE}` (a comment added)",
            make["touch_figure"],
            first(make["touch_figure"]["notes"]),
        ),
        row(
            f"`make all` after editing `{VALIDATE_MODULE}` (a comment added)",
            make["touch_validate"],
            first(make["touch_validate"]["notes"]),
        ),
    ]
    if make.get("figure_cpu", {}).get("seconds"):
        cpu = make["figure_cpu"]["seconds"]
        rows.append(
            [
                "one figure, CPU seconds (every figure of every cold build)",
                f"{cpu['median']:.2f} ({cpu['min']:.2f}–{cpu['max']:.2f})",
                "",
                "",
                fmt_load(make["figure_cpu"]),
                f"{len(cpu['runs'])} figures drawn",
            ]
        )
    if bundled.get("make_test"):
        test = bundled["make_test"]
        rows.append(row("`make test` in a fresh copy", test, first(test["notes"])))
    for name in STAGE_NAMES:
        rows.append(row(f"stage `{name}` alone", bundled["stages"][name]))
    rows.append(row("all stages one by one (sum; peak = max)", bundled["stages"]["total"]))
    lines += table(
        ["what", "time (s)", "in-stage time (s)", "peak RSS (MiB)", "other load (cores)", "notes"], rows
    )
    lines += ["", "## Scaling (synthetic surveys at K times the bundled size)", ""]
    scaling = [entry for entry in report["scaling"] if "stages" in entry]
    failed = [entry for entry in report["scaling"] if "stages" not in entry]
    if scaling:
        lines += scaling_tables(report, scaling)
    for entry in failed:
        lines.append(f"- {entry['scale']}x: generation failed: {entry['generation_error']}")
    lines += engine_table(report.get("engine_vs_r"))
    lines += ["", load_note(report)]
    lines += ["", "## Targets", "", "```", *(target.line() for target in targets), "```", ""]
    return "\n".join(lines)


def engine_table(engine: dict[str, Any] | None) -> list[str]:
    """The engine against R's survey package (benchmarks/engine_vs_r.py), one row per size."""
    if not engine:
        return []
    lines = ["", "## The survey engine against R's survey package (same data, same run)", ""]
    if engine.get("error"):
        return [*lines, f"Failed: {engine['error']}"]
    if engine["r"] != "available":
        lines += [f"R's side skipped: {engine['r']}. The engine's times alone:", ""]

    def cell(block: dict[str, Any] | None, scale: float = 1.0, digits: int = 2) -> str:
        if not block:
            return "–"
        return (
            f"{block['median'] * scale:.{digits}f} "
            f"({block['min'] * scale:.{digits}f}–{block['max'] * scale:.{digits}f})"
        )

    def gaps(entry: dict[str, Any]) -> str:
        found = entry.get("largest_difference_from_r") or {}
        return ", ".join(f"{key} {value:.1e}" for key, value in found.items()) or "–"

    lines += table(
        [
            "respondents",
            "R (CPU-s)",
            "engine, batch path (CPU-s)",
            "ratio",
            "engine, per-item path (CPU-s)",
            "ratio",
            "one olr fit (ms)",
            "largest difference from R",
        ],
        [
            [
                f"{int(n):,}",
                cell(entry["r_cpu_seconds"]),
                cell(entry["engine_batch_cpu_seconds"]),
                cell(entry["ratio_batch"], digits=3),
                cell(entry["engine_plain_cpu_seconds"]),
                cell(entry["ratio_plain"], digits=3),
                cell(entry["olr_fit_cpu_seconds"], 1000.0, 1),
                gaps(entry),
            ]
            for n, entry in engine["sizes"].items()
        ],
    )
    lines += [
        "",
        "Per size: 60 Likert items; per item the proportion agreeing with a logit 95% CI by tier and by "
        "authority type, the Rao-Scott F by tier and the proportional-odds fit on tier + maturity. CPU "
        "time of the work alone in each process (libraries loaded, data read). The olr coefficients "
        "differ from R's by R's default optimiser tolerance (the engine converges fully).",
    ]
    return lines


def scaling_tables(report: dict[str, Any], scaling: list[dict[str, Any]]) -> list[str]:
    """Three tables over the scales run: process time, in-stage time, peak RSS."""
    scales = [f"{entry['scale']}x" for entry in scaling]
    names = [*STAGE_NAMES, "total"]

    def label(name: str) -> str:
        return "end to end (sum of stages)" if name == "total" else f"`{name}`"

    def cell(entry: dict[str, Any], name: str, key: str, fmt: Callable[[Any], str]) -> str:
        block = entry["stages"][name]
        return f"FAILED: {block['failures'][0]}" if block["failures"] else fmt(block[key])

    def exponent(name: str, key: str) -> str:
        return fmt_exponent(report["exponents"].get("end to end" if name == "total" else name, {}).get(key))

    sizes = ["responses (LSPs)", *(f"{e['responses']:,} ({e['lsps']:,})" for e in scaling)]
    generation = [
        "generation, not pipeline (1 run)",
        *(f"{e['generation']['seconds']:.2f}" for e in scaling),
    ]
    lines = ["### Process time (s)", ""]
    lines += table(
        ["stage", *scales, "exponent"],
        [
            [*sizes, ""],
            [*generation, ""],
            *(
                [label(n), *(cell(e, n, "seconds", fmt_seconds) for e in scaling), exponent(n, "process")]
                for n in names
            ),
        ],
    )
    lines += ["", "### In-stage time (s), as each stage logs it (no interpreter start-up or imports)", ""]
    lines += table(
        ["stage", *scales, "exponent", "local exponent, last two scales"],
        [
            [
                label(n),
                *(cell(e, n, "in_stage_seconds", fmt_seconds) for e in scaling),
                exponent(n, "in_stage"),
                exponent(n, "in_stage_local"),
            ]
            for n in names
        ],
    )
    lines += ["", "### Peak RSS (MiB)", ""]
    lines += table(
        ["stage", *scales],
        [
            ["generation, not pipeline (1 run)", *(f"{e['generation']['max_rss_mib']:.0f}" for e in scaling)],
            *([label(n), *(cell(e, n, "max_rss_mib", fmt_mib) for e in scaling)] for n in names),
        ],
    )
    lines += ["", "### Other load (cores used by other processes meanwhile; median, max)", ""]
    lines += table(
        ["stage", *scales],
        [[label(n), *(fmt_load(e["stages"][n]) for e in scaling)] for n in STAGE_NAMES],
    )
    lines += [
        "",
        "Exponent: least-squares slope of log(median time) on log(size) over all the scales run; the "
        "local exponent is the slope between the last two scales. Process time includes interpreter "
        "start-up and imports (a fixed cost that flattens the slope); in-stage time does not. End to end "
        "peak RSS is the largest stage's.",
    ]
    return lines


def fmt_load(block: dict[str, Any]) -> str:
    load = block.get("other_processes_cores")
    return "–" if not load else f"{load['median']:.2f}, {load['max']:.2f}"


def load_note(report: dict[str, Any]) -> str:
    """How busy the rest of the machine was while the measurements ran."""
    bundled = report["bundled"]
    blocks = [bundled["import_floor"], bundled["stage_imports"], *bundled["make"].values()]
    blocks += [block for key, block in bundled["stages"].items() if key != "total"]
    for entry in report["scaling"]:
        blocks += [block for key, block in entry.get("stages", {}).items() if key != "total"]
    values = [
        value for block in blocks for value in (block.get("other_processes_cores") or {}).get("runs", [])
    ]
    busy = sum(value >= BUSY_CORES for value in values)
    return (
        "Other load: CPU used by other processes while a command ran, from /proc/stat minus the "
        f"command's own CPU time, in cores ({report['machine']['cores_available']} available). "
        f"{busy} of {len(values)} measured commands ran while other processes used {BUSY_CORES} cores "
        "or more; on a shared machine that slows them, so compare like with like."
    )


def first(notes: Sequence[str]) -> str:
    distinct = sorted(set(notes))
    return "; ".join(distinct) if len(distinct) <= 2 else f"{distinct[0]} (and {len(distinct) - 1} others)"


def fmt_exponent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def update_docs(markdown: str) -> None:
    """Copy the results (without their title) between the markers of docs/benchmarks.md."""
    if not DOCS.exists():
        return
    text = DOCS.read_text(encoding="utf-8")
    if DOCS_START not in text or DOCS_END not in text:
        return
    # Drop the title; every heading goes one level down, under the document's own section.
    lines = markdown.split("\n")[2:]
    body = "\n".join(f"#{line}" if line.startswith("#") else line for line in lines).strip("\n")
    head, rest = text.split(DOCS_START, 1)
    _, tail = rest.split(DOCS_END, 1)
    DOCS.write_text(f"{head}{DOCS_START}\n{body}\n{DOCS_END}{tail}", encoding="utf-8")


# ------------------------------------------------------------------------------------------- main


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement (default 3)")
    parser.add_argument(
        "--scales",
        default="10,100,1000",
        help="comma-separated multiples of the bundled size (default 10,100,1000)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 run, scale 10 only; results under benchmarks/runs"
    )
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the environment (default: .venv)")
    parser.add_argument(
        "--warm-bytecode-cache",
        action="store_true",
        help="cache every module's bytecode in the scratch folder (default: as a user's process runs, "
        "PYTHONDONTWRITEBYTECODE=1 with the bytecode make venv compiled)",
    )
    parser.add_argument("--no-test", action="store_true", help="do not time `make test` in a fresh copy")
    parser.add_argument("--no-r", action="store_true", help="do not compare the engine with R")
    parser.add_argument(
        "--engine-sizes",
        default="191,1901,19012",
        help="respondents of the engine-against-R comparison (default 191,1901,19012)",
    )
    parser.add_argument(
        "--out-dir", type=Path, help="where to write results.md and results.json (default: benchmarks/)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies (printed at the end)")
    parser.add_argument(
        "--ingest-50k",
        action="store_true",
        help="only time ingest + validate on 50,000-row files, and print it",
    )
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.runs, arguments.scales, arguments.engine_sizes = 1, "10", "191"
    arguments.scale_list = [int(part) for part in arguments.scales.split(",") if part.strip()]
    if arguments.runs < 1 or any(scale < 1 for scale in arguments.scale_list):
        parser.error("--runs and every scale must be positive integers")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    venv = arguments.venv.resolve()
    python = venv / "bin" / "python"
    if not python.exists():
        sys.exit(f"bench: {python} not found; run `make venv` first")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = RUNS_DIR / stamp
    scratch = Path(tempfile.mkdtemp(prefix="lsp-bench-"))
    pycache = scratch / "pycache" if arguments.warm_bytecode_cache else None
    context = Context(
        venv, python, child_environment(venv, pycache), scratch, logs, arguments.runs, arguments.engine_sizes
    )
    progress(f"scratch {scratch}; logs {logs.relative_to(ROOT)}")
    started = time.perf_counter()
    if arguments.ingest_50k:
        try:
            main_ingest_50k(context)
        finally:
            if not arguments.keep:
                shutil.rmtree(scratch, ignore_errors=True)
        return
    try:
        report = run_all(context, arguments)
    finally:
        if not arguments.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    report["settings"]["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    targets = evaluate(report)
    report["targets"] = [{"name": t.name, "pass": t.passed, "detail": t.detail} for t in targets]
    markdown = results_markdown(report, targets) + ingest_50k_markdown(report.get("ingest_50k"))
    out_dir = (arguments.out_dir or (logs if arguments.quick else BENCH_DIR)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULTS_MD.name).write_text(markdown, encoding="utf-8")
    (out_dir / RESULTS_JSON.name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if out_dir == BENCH_DIR:
        update_docs(markdown)
    print(markdown)
    print(
        f"bench: wrote {out_dir / RESULTS_MD.name} and {RESULTS_JSON.name} "
        f"in {report['settings']['elapsed_seconds']:.0f} s"
    )
    if arguments.keep:
        print(f"bench: scratch kept in {scratch}")


def run_all(context: Context, arguments: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": machine(context.python),
        "settings": {
            "argv": sys.argv[1:],
            "runs": arguments.runs,
            "scales": arguments.scale_list,
            "bytecode": (
                "cached (--warm-bytecode-cache: PYTHONPYCACHEPREFIX in the scratch folder, warmed by one "
                "unmeasured import)"
                if arguments.warm_bytecode_cache
                else "as a user's process runs: PYTHONDONTWRITEBYTECODE=1, "
                f"{installed_bytecode(context.venv)}; the pipeline's own modules compiled in every process"
            ),
            "import_floor": IMPORT_FLOOR,
        },
    }
    phases: list[tuple[str, Callable[[Context], Any]]] = [
        ("imports", bench_imports),
        ("make all", bench_make),
        ("stages", bench_stages),
    ]
    bundled: dict[str, Any] = {}
    for label, phase in phases:
        progress(f"--- {label}")
        bundled[label] = phase(context)
    report["bundled"] = {
        "import_floor": bundled["imports"]["floor"].as_json(),
        "stage_imports": bundled["imports"]["stage_imports"].as_json(),
        "make": {key: series.as_json() for key, series in bundled["make all"].items()},
        "stages": {key: series.as_json() for key, series in bundled["stages"].items()},
    }
    if not arguments.no_test:
        progress("--- make test")
        report["bundled"]["make_test"] = bench_make_test(context)["make_test"].as_json()
    if not arguments.no_r:
        progress("--- engine vs R")
        report["engine_vs_r"] = bench_engine_vs_r(context)
    report["scaling"] = []
    if arguments.scale_list:
        copy = copy_project(context.scratch / "scaling")
        for scale in arguments.scale_list:
            progress(f"--- scale {scale}x")
            entry = bench_scale(context, copy, scale)
            if "stages" in entry:
                entry["stages"] = {key: series.as_json() for key, series in entry["stages"].items()}
            report["scaling"].append(entry)
    report["exponents"] = exponents(report["scaling"])
    progress("--- ingest + validate at 50,000 rows")
    report["ingest_50k"] = bench_ingest_50k(context)
    return report


def exponents(scaling: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Growth exponents per stage and end to end: fitted over all scales, and local between the last two."""
    entries = [entry for entry in scaling if "stages" in entry]
    sizes = [entry["scale"] for entry in entries]
    result = {}
    for name in (*STAGE_NAMES, "total"):
        blocks = [entry["stages"][name] for entry in entries]
        process = [med(b["seconds"]) for b in blocks]
        in_stage = [med(b["in_stage_seconds"]) for b in blocks]
        result["end to end" if name == "total" else name] = {
            "process": growth_exponent(sizes, process),
            "in_stage": growth_exponent(sizes, in_stage),
            "in_stage_local": growth_exponent(sizes[-2:], in_stage[-2:]) if len(sizes) > 2 else None,
        }
    return result


# ------------------------------------------------------------------ ingest + validate at 50,000 rows
# Issue 15: how long ingest and validate take on a 50,000-row coordinator CSV and a 50,000-row partner
# workbook (benchmarks/ingest_50k.py makes them from the committed exports). ``--ingest-50k`` runs this
# section alone and prints it; a full run adds it to the report.

INGEST_50K_STAGES = STAGES[:2]  # ingest, validate: as the Makefile runs them


def ingest_50k_config(copy: Path, data: Path, out: Path, inputs: list[dict[str, str]]) -> Path:
    """A configuration (absolute paths) reading the given 50,000-row inputs and frame; outputs in ``out``."""
    import yaml

    raw = yaml.safe_load((copy / "config.yaml").read_text(encoding="utf-8"))
    for key in ("codebook", "published_figures", "published_targets"):
        raw["dataset"][key] = str((copy / raw["dataset"][key]).resolve())
    raw["dataset"]["frame"] = str(data / "frame.csv")
    raw["dataset"]["inputs"] = inputs
    raw["processed_dir"] = str(out / "processed")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "config.yaml"
    target.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return target


def bench_ingest_50k(context: Context) -> dict[str, Any]:
    """Ingest then validate, each as its own process, on each 50,000-row file alone and on both together."""
    copy = copy_project(context.scratch / "ingest_50k_copy")
    data = context.scratch / "ingest_50k" / "data"
    env = dict(context.env, PYTHONPATH=str(copy))
    generation = run_measured(
        [context.python, copy / "benchmarks" / "ingest_50k.py", "--out-dir", data],
        copy,
        env,
        context.logs / "ingest_50k" / "generate.log",
    )
    if not generation.ok:
        progress(f"ingest 50k: generation FAILED: {generation.last_error()}")
        return {"generation_error": generation.last_error()}
    progress(f"ingest 50k: files written in {generation.seconds:.1f} s")
    files = {
        "coordinator CSV": [{"path": str(data / "coordinator.csv"), "instrument": "coordinator"}],
        "partner XLSX": [{"path": str(data / "partner.xlsx"), "instrument": "partner"}],
    }
    files["both"] = files["coordinator CSV"] + files["partner XLSX"]
    results: dict[str, dict[str, Series]] = {}
    for label, inputs in files.items():
        results[label] = {name: Series() for name, _ in INGEST_50K_STAGES}
        for run in range(context.runs):
            out = context.scratch / "ingest_50k" / f"{label.replace(' ', '_')}_{run}"
            env_run = dict(context.env, PIPELINE_CONFIG=str(ingest_50k_config(copy, data, out, inputs)))
            for name, arguments in INGEST_50K_STAGES:
                log = context.logs / "ingest_50k" / f"{label.replace(' ', '_')}_{run}_{name}.log"
                measurement = run_measured([context.python, *arguments], copy, env_run, log)
                results[label][name].add(measurement, measurement.stage_seconds().get(name))
                if not measurement.ok:
                    progress(f"  {label} {name} FAILED: {measurement.last_error()}")
                    break
                progress(
                    f"  {label} run {run + 1}: {name} {measurement.seconds:.1f} s "
                    f"(in stage {measurement.stage_seconds().get(name) or 0:.1f} s), "
                    f"peak RSS {measurement.max_rss_mib:.0f} MiB"
                )
            shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    return {
        "rows": {"coordinator": 50_000, "partner": 50_000},
        "generation_seconds": generation.seconds,
        "files": {
            label: {name: s.as_json() for name, s in stages.items()} for label, stages in results.items()
        },
    }


def ingest_50k_markdown(block: dict[str, Any] | None) -> str:
    """The section of results.md for the 50,000-row ingest and validate timings."""
    if not block or "files" not in block:
        return ""
    rows = []
    for label, stages in block["files"].items():
        ingest, validate = stages["ingest"], stages["validate"]
        total = [(med(ingest["seconds"]) or 0) + (med(validate["seconds"]) or 0)]
        rows.append(
            [
                label,
                fmt_seconds(ingest["seconds"]),
                fmt_seconds(ingest["in_stage_seconds"]),
                fmt_seconds(validate["seconds"]),
                fmt_seconds(validate["in_stage_seconds"]),
                f"{total[0]:.1f} s",
                f"{max(med(ingest['max_rss_mib']) or 0, med(validate['max_rss_mib']) or 0):.0f} MiB",
            ]
        )
    lines = [
        "",
        "## Ingest and validate at 50,000 rows",
        "",
        "A 50,000-row coordinator CSV and a 50,000-row partner workbook (.xlsx), cycled from the committed "
        "exports (benchmarks/ingest_50k.py); each stage is its own process (median of the runs; in-stage "
        "time excludes start-up and imports).",
        "",
        *table(
            [
                "input",
                "ingest",
                "ingest in stage",
                "validate",
                "validate in stage",
                "ingest + validate",
                "peak RSS",
            ],
            rows,
        ),
    ]
    return "\n".join(lines) + "\n"


def main_ingest_50k(context: Context) -> None:
    block = bench_ingest_50k(context)
    print(ingest_50k_markdown(block))


if __name__ == "__main__":
    main()
