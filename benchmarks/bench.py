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
- scaling: synthetic surveys at ``--scales`` times the bundled size (benchmarks/scaled_survey.py), each
  built end to end by ``make all`` as a user runs it (make's -j, the stage server on) in a copy whose
  data/raw holds the scaled exports and frame; wall, CPU (the stage server's included), peak RSS of the
  largest process and of all processes together, each stage's share, and the growth exponent (log-log
  slope of time against size) per stage and end to end;
- the survey engine against R's survey package on the study's per-item work at 191, 1,901 and 19,012
  respondents (benchmarks/engine_vs_r.py; skipped, and said so, without Rscript and the package);
- ``make test`` in a fresh copy (``--no-test`` skips it);
- the CPU seconds of each figure, as the figure stage logs them in the cold builds.

Time is wall-clock time of the child process; peak memory is ``ru_maxrss`` from ``os.wait4`` on that
child (for ``make`` it covers make and every stage it waited for). Each stage also logs its own time
("done in X s", excluding interpreter start-up and imports), reported as the in-stage time.

``--only PHASE[,PHASE]`` runs just the named phases (``imports``, ``make``, ``stages``, ``test``,
``engine``, ``scaling``, ``ingest50k``), e.g. ``make bench BENCH_ARGS="--only scaling --scales 1000"``
for the 1000x end-to-end row alone; the targets it cannot judge read N/A.

Results: benchmarks/results.md and benchmarks/results.json (and the table in docs/benchmarks.md),
re-written by every full run; ``--quick`` and ``--only`` write under benchmarks/runs/ instead. Stage
logs of every run are kept under benchmarks/runs/<date>/ (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, also when imported
from phases import (
    Context,
    bench_engine_vs_r,
    bench_imports,
    bench_ingest_50k,
    bench_make,
    bench_make_test,
    bench_scale,
    bench_stages,
    exponents,
    progress,
)
from render import ingest_50k_markdown, results_markdown, update_docs
from sandbox import (
    BENCH_DIR,
    IMPORT_FLOOR,
    RESULTS_JSON,
    RESULTS_MD,
    ROOT,
    RUNS_DIR,
    child_environment,
    copy_project,
    installed_bytecode,
    machine,
)
from targets import evaluate

# The phases a run can be limited to (--only), in the order a full run takes them.
PHASES = ("imports", "make", "stages", "test", "engine", "scaling", "ingest50k")
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
    parser.add_argument(
        "--scaled-data",
        type=Path,
        metavar="DIR",
        help="reuse the scaled surveys in DIR/<K>/data (coordinator.csv, partner.csv, frame.csv, as "
        "benchmarks/scaled_survey.py writes them) instead of generating them; a scale without them is "
        "generated (default: generate every scale)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies (printed at the end)")
    parser.add_argument(
        "--ingest-50k",
        action="store_true",
        help="only time ingest + validate on 50,000-row files, and print it (the same as --only ingest50k)",
    )
    parser.add_argument(
        "--only",
        metavar="PHASE[,PHASE]",
        help=f"run only these phases, of {', '.join(PHASES)} (e.g. --only scaling --scales 1000 for the "
        "1000x row alone); results go under benchmarks/runs unless --out-dir says otherwise",
    )
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.runs, arguments.scales, arguments.engine_sizes = 1, "10", "191"
    arguments.scale_list = [int(part) for part in arguments.scales.split(",") if part.strip()]
    if arguments.scaled_data is not None:
        arguments.scaled_data = arguments.scaled_data.resolve()
    if arguments.runs < 1 or any(scale < 1 for scale in arguments.scale_list):
        parser.error("--runs and every scale must be positive integers")
    if arguments.only is not None:
        chosen = [part.strip() for part in arguments.only.split(",") if part.strip()]
        unknown = [part for part in chosen if part not in PHASES]
        if unknown or not chosen:
            parser.error(f"--only takes phases of {', '.join(PHASES)}; got {arguments.only!r}")
        arguments.phases = tuple(phase for phase in PHASES if phase in chosen)
    else:
        skipped = {"test"} if arguments.no_test else set()
        skipped |= {"engine"} if arguments.no_r else set()
        arguments.phases = tuple(phase for phase in PHASES if phase not in skipped)
    if arguments.ingest_50k:
        arguments.phases = ("ingest50k",)
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
    if arguments.phases == ("ingest50k",):
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
    partial = arguments.quick or arguments.only is not None
    out_dir = (arguments.out_dir or (logs if partial else BENCH_DIR)).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULTS_MD.name).write_text(markdown, encoding="utf-8")
    (out_dir / RESULTS_JSON.name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if out_dir == BENCH_DIR and not partial:
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
            "phases": list(arguments.phases),
            "scales": arguments.scale_list,
            "scaled_data": str(arguments.scaled_data) if arguments.scaled_data else "generated",
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
    phases: list[tuple[str, str, Callable[[Context], Any]]] = [
        ("imports", "imports", bench_imports),
        ("make", "make all", bench_make),
        ("stages", "stages", bench_stages),
    ]
    bundled: dict[str, Any] = {}
    for key, label, phase in phases:
        if key in arguments.phases:
            progress(f"--- {label}")
            bundled[key] = phase(context)
    report["bundled"] = {}
    if "imports" in bundled:
        report["bundled"]["import_floor"] = bundled["imports"]["floor"].as_json()
        report["bundled"]["stage_imports"] = bundled["imports"]["stage_imports"].as_json()
    if "make" in bundled:
        report["bundled"]["make"] = {key: series.as_json() for key, series in bundled["make"].items()}
    if "stages" in bundled:
        report["bundled"]["stages"] = {key: series.as_json() for key, series in bundled["stages"].items()}
    if "test" in arguments.phases:
        progress("--- make test")
        report["bundled"]["make_test"] = bench_make_test(context)["make_test"].as_json()
    if "engine" in arguments.phases:
        progress("--- engine vs R")
        report["engine_vs_r"] = bench_engine_vs_r(context)
    report["scaling"] = []
    if arguments.scale_list and "scaling" in arguments.phases:
        copy = copy_project(context.scratch / "scaling")
        for scale in arguments.scale_list:
            progress(f"--- scale {scale}x")
            entry = bench_scale(context, copy, scale, arguments.scaled_data)
            if "stages" in entry:
                entry["stages"] = {key: series.as_json() for key, series in entry["stages"].items()}
            report["scaling"].append(entry)
    report["exponents"] = exponents(report["scaling"])
    if "ingest50k" in arguments.phases:
        progress("--- ingest + validate at 50,000 rows")
        report["ingest_50k"] = bench_ingest_50k(context)
    return report


def main_ingest_50k(context: Context) -> None:
    block = bench_ingest_50k(context)
    print(ingest_50k_markdown(block))


if __name__ == "__main__":
    main()
