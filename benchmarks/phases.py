"""The phases of a run: import floor, `make all` (cold, no-op, rebuilds, config edits), the engine
against R, `make test`, every stage alone, the scaling runs and ingest + validate at 50,000 rows.

Each phase takes the run's ``Context`` and returns its measurements; bench.py's ``run_all`` lists them
in order, so a new phase is one function here and one line there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from measure import (
    _FIGURE_CPU,
    _OUT_OF_DATE,
    ConcurrentMemory,
    Measurement,
    Series,
    growth_exponent,
    med,
    private_stage_servers,
    read_stage_clock,
    run_measured,
    server_stages,
    stage_server_usage,
    summary,
    with_stage_servers,
)
from sandbox import (
    BENCH_DIR,
    MAKEFILE_FRAME,
    MAKEFILE_RAW,
    REBUILDS,
    ROOT,
    STAGE_IMPORTS,
    STAGE_MODULES,
    STAGE_NAMES,
    STAGES,
    check_installed,
    check_makefile,
    copy_project,
)


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
        """``make <target>`` in ``copy``, its stages' CPU and memory counted wherever they ran (a stage
        server of its own, started cold: ``private_stage_servers``)."""
        with private_stage_servers(self.env, self.scratch) as (env, folder):
            measurement = run_measured(["make", f"VENV={self.venv}", target], copy, env, log)
            return with_stage_servers(measurement, folder)


def stages_run(make_output: str, python: Path) -> list[str]:
    """The stages a make run executed, from the commands it echoed."""
    pattern = re.compile(rf"^{re.escape(str(python))} -m pipeline ([\w-]+)", re.MULTILINE)
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


# Edits of config.yaml: a name, the key edited, and its (old text, new text) replacements. What each
# may rebuild is not listed by hand: it is the stages whose code reads the key (as recorded from the code
# as it runs, pipeline/core/config_reads.json, which tests/test_config_reads.py holds to a fresh
# recording) and the report, which shows config.yaml whole; and only figures whose pixels change.
CONFIG_EDITS = (
    (
        "maturity_primary",
        "maturity.primary",
        (
            ("primary: development_stage", "primary: years_joint_working"),
            ("alternatives: [years_joint_working,", "alternatives: [development_stage,"),
        ),
    ),
    ("min_cell", "disclosure.min_cell", (("min_cell: 5", "min_cell: 10"),)),
)


def stages_reading(key: str, project: Path) -> list[str]:
    """The stages whose code reads ``key`` (or a section holding it), and the report."""
    recorded = json.loads((project / "pipeline" / "core" / "config_reads.json").read_text(encoding="utf-8"))
    readers = {
        stage
        for stage, keys in recorded["stages"].items()
        if any(key == read or key.startswith(read + ".") for read in keys)
    }
    return sorted(readers | {"report"})


_DRAWN = re.compile(r"pipeline\.figures: wrote \S*?(\w+)\.\{png")


def bench_edits(context: Context, copy: Path, logs: Path) -> Series:
    """Once, in a built copy: each config edit of CONFIG_EDITS, then registering one more figure; what
    ran, which figures were drawn, and whether each drawn figure's PNG really changed."""
    series = Series()
    config = copy / "config.yaml"
    original = config.read_text(encoding="utf-8")
    for key, config_key, replacements in CONFIG_EDITS:
        allowed = stages_reading(config_key, copy)
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
                    "allowed": allowed,
                    "drawn": drawn,
                    "drawn_unchanged": same,
                    "failure": None if result.ok else result.last_error(),
                }
            )
        )
        progress(f"edit {key}: ran {', '.join(ran)}; drew {len(drawn)} figures ({len(same)} unchanged)")
        context.make(copy, logs / f"edit_{key}_back.log")
    registry = copy / "pipeline" / "study" / "outputs" / "figures.py"  # as tests/test_make.py edits it
    source = registry.read_text(encoding="utf-8")
    end = "    return tuple(specs)\n"
    added = (
        '    specs.append(Figure("barriers_again", "barriers", (ESTIMATES,), "estimates", ESTIMATE_FIGURE))\n'
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
            f"ran {', '.join(entry['ran']) or 'nothing'}"
            + (f" (may run: {', '.join(entry['allowed'])})" if "allowed" in entry else "")
            + f"; drew {len(entry['drawn'])} figures ({figures})"
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
    """`make test` once in a fresh copy, as CI runs it on a clean clone (no caches, no built outputs): as
    `.ci/run` does, with the browser tools in place (untimed) and REQUIRE_BROWSER=1, so the browser tests
    run and are timed instead of being skipped where Chromium or axe-core is missing."""
    series = Series()
    copy = copy_project(context.scratch / "make_test")
    shutil.rmtree(copy / ".make", ignore_errors=True)  # make's bookkeeping and caches: a clone has none
    tools = subprocess.run(
        ["make", f"VENV={context.venv}", "browser-tools"],
        cwd=copy,
        env=context.env,
        capture_output=True,
        text=True,
    )
    if tools.returncode != 0:
        progress(f"make test: make browser-tools failed; the browser tests will fail: {tools.stderr[-300:]}")
    with private_stage_servers({**context.env, "REQUIRE_BROWSER": "1"}, context.scratch) as (env, folder):
        measurement = run_measured(
            ["make", f"VENV={context.venv}", "test"], copy, env, context.logs / "make_test.log"
        )
        measurement = with_stage_servers(measurement, folder)
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
            results["total"].cpu_seconds.append(sum(results[name].cpu_seconds[-1] for name in STAGE_NAMES))
        shutil.rmtree(copy, ignore_errors=True)
    return results


def scaled_config(copy: Path, data: Path, out: Path) -> Path:
    """A configuration (absolute paths) reading the scaled CSV exports and frame; outputs under ``out``.

    Not used by the scaling runs (they run `make all` in a scaled copy: ``scaled_project``); it is for
    running single stages by hand on a scaled survey (``PIPELINE_CONFIG=<this file> python -m pipeline
    <stage>``), e.g. to profile one stage."""
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


# ----------------------------------------------------------------------------------------- scaling
# Each scale's row is `make all` as a user with a survey K times the bundled one runs it: in a fresh copy
# of the project whose data/raw holds the K-times exports and frame and whose config.yaml names them, the
# environment installed, every output cold, make's own -j and the stage server on. Every stage command
# runs behind benchmarks/stage_clock.py (make's STAGE, given on the command line), which gives each stage
# its own wall time, CPU and peak RSS; the stage server's log gives those of the stages it ran.

SCALED_FILES = ("coordinator.csv", "partner.csv", "frame.csv")  # as benchmarks/scaled_survey.py writes them
STAGE_CLOCK = BENCH_DIR / "stage_clock.py"


def scaled_export_name(instrument: str, scale: int) -> str:
    return f"synthetic_{instrument}_survey_2008_{scale}x.csv"


def scaled_inputs_text(config_text: str, inputs: list[tuple[str, str]]) -> str:
    """config.yaml with ``dataset.inputs`` replaced by ``inputs`` ((path, instrument) pairs), everything
    else (comments included) as it was: the edit a survey office makes to read its own exports."""
    lines = config_text.splitlines(keepends=True)
    try:
        first = lines.index("  inputs:\n") + 1
    except ValueError:
        sys.exit("bench: config.yaml has no `  inputs:` line under dataset; update scaled_inputs_text")
    last = first
    while last < len(lines) and lines[last].startswith("    "):
        last += 1
    block = [f"    - path: {path}\n      instrument: {instrument}\n" for path, instrument in inputs]
    return "".join(lines[:first] + block + lines[last:])


def scaled_project(target: Path, data: Path, scale: int) -> Path:
    """A fresh copy of the project, as a survey office with a survey ``scale`` times the bundled one has
    it: data/raw holds its two exports and its frame in place of the bundled ones, config.yaml's
    ``dataset.inputs`` names the exports, and nothing is built (no outputs, no .make)."""
    import yaml  # in the project's environment, which runs this script

    copy = copy_project(target)
    shutil.rmtree(copy / ".make", ignore_errors=True)  # a fresh clone has none: make writes it first
    check_makefile(copy)
    config = copy / "config.yaml"
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    frame = raw["dataset"]["frame"]
    if frame != f"{MAKEFILE_RAW}/{MAKEFILE_FRAME}":
        sys.exit(f"bench: config.yaml's frame is {frame}, the Makefile's {MAKEFILE_RAW}/{MAKEFILE_FRAME}")
    # The bundled exports go (and their other formats: the .sav beside the coordinator CSV).
    for entry in raw["dataset"]["inputs"]:
        bundled = copy / entry["path"]
        for path in bundled.parent.glob(f"{bundled.stem}.*"):
            path.unlink()
    shutil.copyfile(data / "frame.csv", copy / frame)
    inputs = []
    for instrument in ("coordinator", "partner"):
        name = f"{MAKEFILE_RAW}/{scaled_export_name(instrument, scale)}"
        shutil.copyfile(data / f"{instrument}.csv", copy / name)
        inputs.append((name, instrument))
    edited = scaled_inputs_text(config.read_text(encoding="utf-8"), inputs)
    read_back = yaml.safe_load(edited)["dataset"]["inputs"]
    if read_back != [{"path": path, "instrument": instrument} for path, instrument in inputs]:
        sys.exit(f"bench: editing config.yaml's dataset.inputs gave {read_back}")
    config.write_text(edited, encoding="utf-8")
    return copy


def stage_of(command: list[str]) -> str:
    """The pipeline command of a stage command line (``... -m pipeline figures --stale-only``)."""
    at = command.index("pipeline") if "pipeline" in command else -1
    return command[at + 1] if 0 <= at < len(command) - 1 else " ".join(command)


def stage_rows(
    clock: list[dict[str, Any]],
    served: dict[str, dict[str, float]],
    in_stage: dict[str, float],
    stderr: str,
    started_at: float,
) -> list[dict[str, Any]]:
    """One row per stage command make ran, in the order they started: when it started and ended (seconds
    from make's start), wall time, CPU seconds and peak RSS (the client's, plus the server child's where
    the stage server ran it), the stage's own logged time, where it ran, and for a stage that stopped
    its one error line."""
    rows = []
    for line in sorted(clock, key=lambda line: line["started_at"]):
        stage = stage_of(line["command"])
        server = served.get(stage)
        cpu = line["user_seconds"] + line["system_seconds"] + (server["cpu_seconds"] if server else 0.0)
        row: dict[str, Any] = {
            "stage": stage,
            "start": round(line["started_at"] - started_at, 3),
            "end": round(line["ended_at"] - started_at, 3),
            "seconds": line["seconds"],
            "cpu_seconds": cpu,
            "max_rss_mib": max(line["max_rss_mib"], server["max_rss_mib"] if server else 0.0),
            "in_stage_seconds": in_stage.get(stage),
            "where": "stage server" if server else "own process",
            "exit": line["exit"],
        }
        if line["exit"] != 0:
            errors = [text for text in stderr.splitlines() if text.startswith(f"error: {stage}: ")]
            signal_note = (
                f"killed by signal {-line['exit']}" if line["exit"] < 0 else f"exit code {line['exit']}"
            )
            row["error"] = errors[-1] if errors else signal_note
        rows.append(row)
    return rows


def make_failure(rows: list[dict[str, Any]], measurement: Measurement) -> str | None:
    """None for a build that finished; else the first stage that stopped and its line (or make's)."""
    if measurement.ok:
        return None
    stopped = sorted((row for row in rows if row["exit"] != 0), key=lambda row: row["end"])
    if stopped:
        return f"{stopped[0]['stage']} stopped: {stopped[0]['error']}"
    return f"make stopped: {measurement.last_error()}"


def scaled_data(
    context: Context, source: Path, scale: int, reuse: Path | None
) -> tuple[Path, dict[str, Any]]:
    """The scaled exports and frame: ``reuse/<scale>/data`` if it holds all three files (counted here),
    else generated by benchmarks/scaled_survey.py in ``source`` (timed, reported apart from the build)."""
    given = reuse / str(scale) / "data" if reuse is not None else None
    if given is not None and all((given / name).is_file() for name in SCALED_FILES):
        counts = {name.removesuffix(".csv"): count_csv_rows(given / name) for name in SCALED_FILES}
        progress(f"{scale}x: reusing {given} (not generated)")
        return given, {
            "lsps": counts["frame"],
            "coordinator": counts["coordinator"],
            "partner": counts["partner"],
            "generation": {"reused": str(given)},
        }
    data = context.scratch / f"scale_{scale}" / "data"
    generation = run_measured(
        [
            context.python,
            source / "benchmarks" / "scaled_survey.py",
            "--scale",
            str(scale),
            "--out-dir",
            data,
        ],
        source,
        dict(context.env, PYTHONPATH=str(source)),
        context.logs / f"scale_{scale}" / "generate.log",
    )
    if not generation.ok:
        return data, {"generation_error": generation.last_error()}
    counts = json.loads(generation.stdout.strip().splitlines()[-1])
    return data, {
        "lsps": counts["lsps"],
        "coordinator": counts["coordinator"],
        "partner": counts["partner"],
        "generation": {"seconds": generation.seconds, "max_rss_mib": generation.max_rss_mib},
    }


def count_csv_rows(path: Path) -> int:
    """Data rows of a CSV file (its records less the header; a quoted field may hold a line break)."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def bench_scale(context: Context, source: Path, scale: int, reuse: Path | None = None) -> dict[str, Any]:
    """``make all`` on a survey ``scale`` times the bundled one, ``context.runs`` times, each in a fresh
    scaled copy (``scaled_project``): end to end, per stage, and the largest concurrent memory."""
    data, survey = scaled_data(context, source, scale, reuse)
    if "generation_error" in survey:
        progress(f"{scale}x: generation FAILED: {survey['generation_error']}")
        return {"scale": scale, **survey}
    generation = survey["generation"]
    progress(
        f"{scale}x: {survey['coordinator']} + {survey['partner']} responses, {survey['lsps']} LSPs"
        + (
            f", generated in {generation['seconds']:.1f} s (peak RSS {generation['max_rss_mib']:.0f} MiB)"
            if "seconds" in generation
            else ""
        )
    )
    check_installed(context.venv, source)
    results = {name: Series() for name in (*STAGE_NAMES, "total")}
    timelines = []
    for run in range(context.runs):
        folder = context.scratch / f"scale_{scale}" / f"run_{run}"
        project = scaled_project(folder / "project", data, scale)
        record = folder / "stage_clock.jsonl"
        log = context.logs / f"scale_{scale}" / f"run_{run}.log"
        progress(f"{scale}x run {run + 1}/{context.runs}: make all")
        stage = f"{context.python} -I -S {STAGE_CLOCK} {record} $(PY) -m pipeline"
        with private_stage_servers(context.env, context.scratch) as (env, servers):
            memory = ConcurrentMemory(servers)
            started_at = time.time()
            measurement = run_measured(
                ["make", f"VENV={context.venv}", f"STAGE={stage}", "all"], project, env, log, memory
            )
            server_cpu, _peak = stage_server_usage(servers)
            measurement = with_stage_servers(measurement, servers)
            served = server_stages(servers)
        # The server's own CPU: its preload (and serving), without the stages its children ran.
        server_own = max(0.0, server_cpu - sum(stage["cpu_seconds"] for stage in served.values()))
        rows = stage_rows(
            read_stage_clock(record), served, measurement.stage_seconds(), measurement.stderr, started_at
        )
        failure = make_failure(rows, measurement)
        for row in rows:
            series = results.get(row["stage"])
            if series is None:  # config-slices: in the timeline only
                continue
            if row["exit"] != 0:
                series.failures.append(row["error"])
                continue
            series.seconds.append(row["seconds"])
            series.cpu_seconds.append(row["cpu_seconds"])
            series.rss_mib.append(row["max_rss_mib"])
            if row["in_stage_seconds"] is not None:
                series.work_seconds.append(row["in_stage_seconds"])
        total = results["total"]
        if failure is None:
            total.add(measurement)
            total.extras.setdefault("concurrent_rss_mib", []).append(memory.peak_rss_mib)
            total.extras.setdefault("concurrent_pss_mib", []).append(memory.peak_pss_mib)
            total.extras.setdefault("server_own_cpu_seconds", []).append(server_own)
            total.extras.setdefault("memory_sampler_cpu_seconds", []).append(memory.cpu_seconds)
        else:
            total.failures.append(failure)
        timelines.append(
            {
                "rows": rows,
                "failure": failure,
                "seconds": measurement.seconds,
                "cpu_seconds": measurement.cpu_seconds,
                "max_rss_mib": measurement.max_rss_mib,
                "concurrent_rss_mib": memory.peak_rss_mib,
                "concurrent_pss_mib": memory.peak_pss_mib,
                "server_own_cpu_seconds": server_own,
                "memory_samples": memory.samples,
                "memory_pss_samples": memory.pss_samples,
                "memory_sampler_cpu_seconds": memory.cpu_seconds,
                "other_processes_cores": measurement.other_cores,
                "load_average": os.getloadavg(),
            }
        )
        cpu = measurement.cpu_seconds or 0.0
        progress(
            f"{scale}x run {run + 1}: {measurement.seconds:.1f} s wall, {cpu:.1f} CPU-s, largest process "
            f"{measurement.max_rss_mib:.0f} MiB, together at most {memory.peak_pss_mib:.0f} MiB "
            f"(PSS; RSS {memory.peak_rss_mib:.0f}; sampling them took {memory.cpu_seconds:.1f} CPU-s, not "
            "counted); " + (f"MISS: {failure}" if failure else "finished")
        )
        for row in rows:
            progress(
                f"  {row['stage']}: {row['start']:.1f}-{row['end']:.1f} s, {row['cpu_seconds']:.1f} CPU-s, "
                f"{row['max_rss_mib']:.0f} MiB ({row['where']})"
                + (f"; {row['error']}" if "error" in row else "")
            )
        shutil.rmtree(folder, ignore_errors=True)
    if "reused" not in generation:  # generated here, in the scratch folder; never delete a reused survey
        shutil.rmtree(data, ignore_errors=True)
    return {
        "scale": scale,
        "lsps": survey["lsps"],
        "responses": survey["coordinator"] + survey["partner"],
        "coordinator": survey["coordinator"],
        "partner": survey["partner"],
        "generation": generation,
        "stages": results,
        "timelines": timelines,
    }


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


def exponents(scaling: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Growth exponents per stage and end to end (``make all``), of wall time ("process"), CPU time and
    in-stage time: fitted over all scales, and local between the last two."""
    entries = [entry for entry in scaling if "stages" in entry]
    sizes = [entry["scale"] for entry in entries]
    result = {}
    for name in (*STAGE_NAMES, "total"):
        blocks = [entry["stages"][name] for entry in entries if name in entry["stages"]]
        if len(blocks) < len(entries):  # a stage some run's chain did not have
            continue
        process = [med(b["seconds"]) for b in blocks]
        cpu = [med(b.get("cpu_seconds")) for b in blocks]
        in_stage = [med(b["in_stage_seconds"]) for b in blocks]
        result["end to end" if name == "total" else name] = {
            "process": growth_exponent(sizes, process),
            "cpu": growth_exponent(sizes, cpu),
            "in_stage": growth_exponent(sizes, in_stage),
            "in_stage_local": growth_exponent(sizes[-2:], in_stage[-2:]) if len(sizes) > 2 else None,
        }
    return result
