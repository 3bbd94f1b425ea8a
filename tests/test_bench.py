"""The benchmark's scaling rows (benchmarks/): `make all` on a scaled copy of the project, each stage's
clock, the stage server's per-stage lines, the concurrent memory sampler, and how a stopped stage becomes
a MISS naming the stage and its line. Cheap pieces only: `make bench` itself is never run by the tests
(it takes minutes; docs/benchmarks.md), and nothing here asserts a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import measure  # noqa: E402  (the benchmark's sibling modules import each other by name)
import phases  # noqa: E402
import render  # noqa: E402
import targets  # noqa: E402
from sandbox import STAGE_NAMES  # noqa: E402

# The two lines pipeline/core/stage_server.py logs for a child it ran (its format, with its time stamp).
SERVER_LOG = """\
06:30:00 server started: preloading
06:30:03 listening (preload could not import: none)
06:30:03 child 4101: validate in /tmp/project
06:30:05 child 4101: exit status 0, 1.50 s user, 0.25 s system, peak RSS 300 MB
06:30:05 child 4102: figures --stale-only in /tmp/project
06:30:06 child 4103: improvement in /tmp/project
06:30:09 child 4103: exit status 2, 3.00 s user, 0.50 s system, peak RSS 900 MB
06:30:20 child 4102: exit status 0, 20.00 s user, 1.00 s system, peak RSS 1200 MB
"""


def clock_line(stage: str, start: float, seconds: float, cpu: float, rss: float, code: int = 0) -> dict:
    extra = ["--stale-only"] if stage == "figures" else []
    return {
        "command": ["/venv/bin/python", "-m", "pipeline", stage, *extra],
        "started_at": 1000.0 + start,
        "ended_at": 1000.0 + start + seconds,
        "seconds": seconds,
        "user_seconds": cpu,
        "system_seconds": 0.0,
        "max_rss_mib": rss,
        "exit": code,
        "pid": 1,
    }


def test_server_stages_reads_each_child_by_stage(tmp_path: Path) -> None:
    (tmp_path / "lsp-rap").mkdir()
    (tmp_path / "lsp-rap" / "stage-abc.log").write_text(SERVER_LOG, encoding="utf-8")
    assert measure.server_stages(tmp_path) == {
        "validate": {"cpu_seconds": 1.75, "max_rss_mib": 300.0, "exit": 0},
        "figures": {"cpu_seconds": 21.0, "max_rss_mib": 1200.0, "exit": 0},
        "improvement": {"cpu_seconds": 3.5, "max_rss_mib": 900.0, "exit": 2},
    }


def test_the_server_log_format_is_the_one_parsed() -> None:
    # The bench reads the server's lines: if the server's wording changes, this must fail, not the bench's
    # numbers silently vanish.
    source = (ROOT / "pipeline" / "core" / "stage_server.py").read_text(encoding="utf-8")
    assert "self.log(f\"child {pid}: {' '.join(request['arguments'])} in {request['cwd']}\")" in source
    assert 'f"child {pid}: exit status {os.waitstatus_to_exitcode(status)}, "' in source
    assert 'f"{usage.ru_utime:.2f} s user, {usage.ru_stime:.2f} s system, "' in source
    assert 'f"peak RSS {usage.ru_maxrss // 1024} MB"' in source


def test_stage_rows_join_the_clock_and_the_server_and_name_the_stage_that_stopped() -> None:
    clock = [
        clock_line("ingest", 0.5, 2.0, 1.8, 400.0),
        clock_line("validate", 2.6, 2.1, 0.05, 30.0),
        clock_line("improvement", 6.0, 3.2, 0.04, 30.0, code=2),
        clock_line("figures", 5.0, 15.0, 0.1, 30.0),
    ]
    served = {
        "validate": {"cpu_seconds": 1.75, "max_rss_mib": 300.0, "exit": 0},
        "figures": {"cpu_seconds": 21.0, "max_rss_mib": 1200.0, "exit": 0},
        "improvement": {"cpu_seconds": 3.5, "max_rss_mib": 900.0, "exit": 2},
    }
    stderr = (
        "pipeline.ingest: done in 1.70 s\n"
        "pipeline.validate: done in 1.60 s\n"
        "error: improvement: analysis/improvement_tool.html would be 2.2 MB, over its 1 MB limit\n"
        "make: *** [Makefile:272: analysis/improvement_tool.html] Error 2\n"
        "pipeline.figures: done in 14.00 s\n"
        "make: *** Waiting for unfinished jobs....\n"
    )
    in_stage = measure.Measurement(0, 0, 2, "", stderr).stage_seconds()
    rows = phases.stage_rows(clock, served, in_stage, stderr, started_at=1000.0)
    assert [row["stage"] for row in rows] == ["ingest", "validate", "figures", "improvement"]
    by_stage = {row["stage"]: row for row in rows}
    assert by_stage["ingest"] == {
        "stage": "ingest",
        "start": 0.5,
        "end": 2.5,
        "seconds": 2.0,
        "cpu_seconds": 1.8,
        "max_rss_mib": 400.0,
        "in_stage_seconds": 1.7,
        "where": "own process",
        "exit": 0,
    }
    assert by_stage["figures"]["cpu_seconds"] == pytest.approx(21.1)
    assert by_stage["figures"]["max_rss_mib"] == 1200.0
    assert by_stage["figures"]["where"] == "stage server"
    assert by_stage["improvement"]["error"] == (
        "error: improvement: analysis/improvement_tool.html would be 2.2 MB, over its 1 MB limit"
    )
    failed = measure.Measurement(20.0, 1200.0, 2, "", stderr)
    assert phases.make_failure(rows, failed) == (
        "improvement stopped: error: improvement: analysis/improvement_tool.html would be 2.2 MB, "
        "over its 1 MB limit"
    )
    assert phases.make_failure(rows, measure.Measurement(20.0, 1200.0, 0, "", "")) is None
    # make stopped with no stage stopping (its own error): make's line.
    assert phases.make_failure(rows[:2], failed) == "make stopped: make: *** Waiting for unfinished jobs...."


def test_stage_clock_records_the_command_and_passes_its_exit_status_on(tmp_path: Path) -> None:
    record = tmp_path / "clock.jsonl"
    clock = [sys.executable, "-I", "-S", str(ROOT / "benchmarks" / "stage_clock.py"), str(record)]
    finished = subprocess.run([*clock, sys.executable, "-c", "print('out')"], capture_output=True, text=True)
    stopped = subprocess.run(
        [*clock, "sh", "-c", "echo 'error: x: y' >&2; exit 3"], capture_output=True, text=True
    )
    assert (finished.returncode, finished.stdout) == (0, "out\n")
    assert (stopped.returncode, stopped.stderr) == (3, "error: x: y\n")
    lines = measure.read_stage_clock(record)
    assert [line["command"][-2:] for line in lines] == [
        ["-c", "print('out')"],
        ["-c", "echo 'error: x: y' >&2; exit 3"],
    ]
    assert [line["exit"] for line in lines] == [0, 3]
    for line in lines:
        assert line["ended_at"] == pytest.approx(line["started_at"] + line["seconds"])
        assert line["max_rss_mib"] > 0
        assert set(line) == {
            "command",
            "started_at",
            "ended_at",
            "seconds",
            "user_seconds",
            "system_seconds",
            "max_rss_mib",
            "exit",
            "pid",
        }


def test_concurrent_memory_sums_the_session_it_watches() -> None:
    # A child that holds 200 MiB until told to end: every sample while it waits sees at least that.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    memory = measure.ConcurrentMemory(None, interval=0.05)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "1\n"
        memory.start(holder.pid)
        while memory.samples < 3:
            memory._stop.wait(0.05)
    finally:
        memory.stop()
        holder.communicate("\n")
    assert memory.peak_rss_mib >= 200
    assert memory.peak_pss_mib >= 200


def test_scaled_project_holds_the_scaled_survey_where_make_and_config_look(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    raw = ROOT / "data" / "raw"
    (data / "frame.csv").write_text("lsp_id\nscaled frame\n", encoding="utf-8")
    (data / "coordinator.csv").write_text("coordinator export\n", encoding="utf-8")
    (data / "partner.csv").write_text("partner export\n", encoding="utf-8")
    project = phases.scaled_project(tmp_path / "project", data, 7)
    files = sorted(path.name for path in (project / "data" / "raw").iterdir())
    bundled = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    exports = [Path(entry["path"]) for entry in bundled["dataset"]["inputs"]]
    expected = sorted(
        {path.name for path in raw.iterdir() if path.stem not in {export.stem for export in exports}}
        | {"synthetic_coordinator_survey_2008_7x.csv", "synthetic_partner_survey_2008_7x.csv"}
    )
    assert files == expected
    assert (project / "data" / "raw" / "lsp_frame_2008.csv").read_text() == "lsp_id\nscaled frame\n"
    assert (
        project / "data" / "raw" / "synthetic_partner_survey_2008_7x.csv"
    ).read_text() == "partner export\n"
    assert not (project / ".make").exists()
    assert not (project / "data" / "processed" / "analysis_base.parquet").exists()
    config = yaml.safe_load((project / "config.yaml").read_text(encoding="utf-8"))
    assert config["dataset"]["inputs"] == [
        {"path": "data/raw/synthetic_coordinator_survey_2008_7x.csv", "instrument": "coordinator"},
        {"path": "data/raw/synthetic_partner_survey_2008_7x.csv", "instrument": "partner"},
    ]
    # Nothing else of config.yaml changed, comments included.
    original = (ROOT / "config.yaml").read_text(encoding="utf-8").splitlines()
    edited = (project / "config.yaml").read_text(encoding="utf-8").splitlines()
    removed = [line for line in original if line not in edited]
    assert removed == [
        "    - path: data/raw/synthetic_coordinator_survey_2008.csv",
        "    - path: data/raw/synthetic_partner_survey_2008.xlsx",
        "      sheet: responses",
    ]
    assert len(edited) == len(original) - 1


def scaling_entry(failure: str | None) -> dict:
    """A report's 1000x entry as bench_scale returns it (Series as JSON), finished or stopped."""
    stages = {name: measure.Series() for name in (*STAGE_NAMES, "total")}
    for name in STAGE_NAMES[:7]:
        stages[name].seconds.append(10.0)
        stages[name].cpu_seconds.append(9.0)
        stages[name].rss_mib.append(1000.0)
    total = stages["total"]
    if failure:
        stages["improvement"].failures.append(failure.split(" stopped: ", 1)[1])
        total.failures.append(failure)
    else:
        for name in STAGE_NAMES[7:]:
            stages[name].seconds.append(10.0)
            stages[name].cpu_seconds.append(9.0)
            stages[name].rss_mib.append(1000.0)
        total.seconds.append(150.0)
        total.cpu_seconds.append(280.0)
        total.rss_mib.append(1900.0)
        total.extras["concurrent_pss_mib"] = [2500.0]
        total.extras["concurrent_rss_mib"] = [3000.0]
    row = {"stage": "ingest", "start": 0.0, "end": 10.0, "seconds": 10.0, "cpu_seconds": 9.0}
    row |= {"max_rss_mib": 1000.0, "in_stage_seconds": 9.5, "where": "own process", "exit": 0}
    return {
        "scale": 1000,
        "lsps": 388_000,
        "responses": 473_000,
        "generation": {"seconds": 60.0, "max_rss_mib": 1700.0},
        "stages": {name: series.as_json() for name, series in stages.items()},
        "timelines": [{"rows": [row], "failure": failure, "max_rss_mib": 2100.0}],
    }


def test_a_stopped_stage_makes_the_1000x_rows_a_miss_naming_it() -> None:
    line = "improvement stopped: error: improvement: the page would be 90 MB, over its 1 MB limit"
    report = {"scaling": [scaling_entry(line)]}
    found = {target.name: target for target in targets.scale_1000x_targets(report)}
    assert [target.passed for target in found.values()] == [False, False]
    assert found["1000x end to end <= 3 min"].detail == f"did not finish: {line}"
    rss = found["1000x peak RSS <= 2 GB (1907 MiB), largest single process"]
    assert rss.detail == f"did not finish: {line}; 2100 MiB up to then"
    report["exponents"] = phases.exponents(report["scaling"])
    markdown = "\n".join(render.scaling_tables(report, report["scaling"]))
    assert f"| result | MISS: {line} |" in markdown
    assert (
        "| `improvement` | STOPPED: error: improvement: the page would be 90 MB, over its 1 MB limit |"
        in markdown
    )
    assert "| `report` | not run (make stopped) |" in markdown


def test_a_finished_1000x_build_is_judged_on_wall_time_and_the_largest_process() -> None:
    report = {"scaling": [scaling_entry(None)]}
    time_target, rss_target = targets.scale_1000x_targets(report)
    assert time_target.passed is True and time_target.detail.startswith("150.0 (150.0-150.0) s <= 180.0")
    assert "CPU 280.0 s" in time_target.detail
    assert rss_target.passed is True
    assert (
        rss_target.detail
        == "1900.0 (1900.0-1900.0) MiB <= 1907.3, 1 runs; all processes together at most 2500 MiB (PSS)"
    )


def test_growth_exponents_of_the_build_and_each_stage() -> None:
    def entry(scale: int, seconds: float, cpu: float) -> dict:
        stages = {}
        for name in (*STAGE_NAMES, "total"):
            series = measure.Series(seconds=[seconds], cpu_seconds=[cpu], work_seconds=[seconds / 2])
            stages[name] = series.as_json()
        return {"scale": scale, "stages": stages}

    # Time x10 when size x10 (slope 1); CPU x100 (slope 2).
    found = phases.exponents([entry(10, 3.0, 2.0), entry(100, 30.0, 200.0)])
    assert found["end to end"]["process"] == pytest.approx(1.0)
    assert found["end to end"]["cpu"] == pytest.approx(2.0)
    assert found["analyse"]["in_stage"] == pytest.approx(1.0)
    assert found["analyse"]["in_stage_local"] is None


def test_reused_scaled_data_is_counted_not_generated(tmp_path: Path) -> None:
    data = tmp_path / "surveys" / "3" / "data"
    data.mkdir(parents=True)
    (data / "frame.csv").write_text("lsp_id,name\nA,one\nB,two\nC,three\n", encoding="utf-8")
    (data / "coordinator.csv").write_text('lsp_id,comment\nA,"two\nlines"\nB,\n', encoding="utf-8")
    (data / "partner.csv").write_text("lsp_id\nA\n", encoding="utf-8")
    context = phases.Context(Path(sys.prefix), Path(sys.executable), {}, tmp_path, tmp_path / "logs", 1)
    found, survey = phases.scaled_data(context, ROOT, 3, tmp_path / "surveys")
    assert found == data
    assert survey == {
        "lsps": 3,
        "coordinator": 2,
        "partner": 1,
        "generation": {"reused": str(data)},
    }
