"""Measuring one child process (wall time, peak RSS, the other load of the machine) and summarising runs.

Every measured command is one child started with ``subprocess.Popen`` and reaped with ``os.wait4``,
which returns its resource usage; see docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

COMMAND_TIMEOUT = 3 * 3600  # seconds; a hung command is killed and reported as failed
_DONE_IN = re.compile(r"pipeline\.([\w-]+): done in ([0-9.]+) s")  # report-tables has a dash
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
    # User + system CPU seconds of the child and every descendant it waited for: on a shared machine the
    # comparable cost, where wall time also counts the other processes.
    cpu_seconds: float | None = None

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
    command: Sequence[str | Path],
    cwd: Path,
    env: dict[str, str],
    log: Path | None = None,
    memory: ConcurrentMemory | None = None,
) -> Measurement:
    """Run one command; time it and read its peak RSS with os.wait4. Output goes to files, then ``log``.
    ``memory``, if given, samples the memory of the command's session (and the stage servers') meanwhile."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy_before = machine_busy_seconds()
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(part) for part in command], cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        if memory is not None:
            memory.start(process.pid)
        # Kill only this process group, and only if it hangs.
        timer = threading.Timer(COMMAND_TIMEOUT, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            if memory is not None:
                memory.stop()
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
        # The sampler's CPU (this process's thread) is not the others' either.
        own = usage.ru_utime + usage.ru_stime + (memory.cpu_seconds if memory is not None else 0.0)
        other = max(0.0, (busy_after - busy_before - own) / seconds)
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(seconds, usage.ru_maxrss / 1024, process.returncode, stdout, stderr, other, cpu)


_SERVER_CHILD_PEAK = re.compile(r"^.*child \d+: exit status .*peak RSS (\d+) MB$", re.MULTILINE)


@contextlib.contextmanager
def private_stage_servers(env: dict[str, str], scratch: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """An environment whose make runs its stages through a stage server of its own, started cold.

    Under make, stages run in children of a preloading server (pipeline/core/stage_server.py) that the
    first stage starts in the background, so their CPU and memory are not make's descendants' and
    ``os.wait4`` does not see them. A fresh private socket folder (``XDG_RUNTIME_DIR``) per measured
    command gives it its own server, started as a user's first build starts one; ``with_stage_servers``
    adds that server's work to the measurement and stops it.
    """
    folder = Path(tempfile.mkdtemp(prefix="servers-", dir=scratch))
    folder.chmod(0o700)
    try:
        yield dict(env, XDG_RUNTIME_DIR=str(folder)), folder
    finally:
        stop_stage_servers(folder)
        with contextlib.suppress(OSError):
            for path in sorted(folder.rglob("*"), reverse=True):
                path.unlink() if not path.is_dir() else path.rmdir()
            folder.rmdir()


def stage_server_usage(folder: Path) -> tuple[float, float]:
    """CPU seconds of the servers under ``folder`` (their preload and every child they reaped, from
    /proc/<pid>/stat's utime, stime, cutime and cstime) and the largest peak RSS of a child, in MiB."""
    cpu = 0.0
    for lock in folder.glob("lsp-rap/stage-*.lock"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(lock.read_text().split()[0])
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    peaks = [
        int(peak)
        for log in folder.glob("lsp-rap/stage-*.log")
        for peak in _SERVER_CHILD_PEAK.findall(log.read_text())
    ]
    return cpu, float(max(peaks, default=0))


def stop_stage_servers(folder: Path) -> None:
    """Stop the servers under ``folder`` (SIGTERM: they exit at once) and wait until they are gone."""
    for lock in folder.glob("lsp-rap/stage-*.lock"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(lock.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)


def with_stage_servers(measurement: Measurement, folder: Path) -> Measurement:
    """The measurement with its stage server's CPU and peak memory counted as the command's own."""
    server_cpu, server_peak = stage_server_usage(folder)
    if not server_cpu:
        return measurement
    other = measurement.other_cores
    if other is not None and measurement.seconds > 0:
        other = max(0.0, other - server_cpu / measurement.seconds)
    return replace(
        measurement,
        max_rss_mib=max(measurement.max_rss_mib, server_peak),
        other_cores=other,
        cpu_seconds=(measurement.cpu_seconds or 0.0) + server_cpu,
    )


_SERVER_CHILD_STARTED = re.compile(r"^\S+ child (\d+): (\S+)(?: .*)? in (.+)$", re.MULTILINE)
_SERVER_CHILD_ENDED = re.compile(
    r"^\S+ child (\d+): exit status (-?\d+), ([0-9.]+) s user, ([0-9.]+) s system, peak RSS (\d+) MB$",
    re.MULTILINE,
)


def server_stages(folder: Path) -> dict[str, dict[str, float]]:
    """What the stage servers under ``folder`` ran, by stage: CPU seconds, peak RSS (MiB) and exit status of
    the child that ran it, from the lines the server logs when a child starts and when it ends
    (pipeline/core/stage_server.py). A stage the server did not run (its client ran it, because the server
    was still preloading) is not here; its clock line has its usage instead."""
    found: dict[str, dict[str, float]] = {}
    for log in folder.glob("lsp-rap/stage-*.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        stage_of = {pid: stage for pid, stage, _cwd in _SERVER_CHILD_STARTED.findall(text)}
        for pid, status, user, system, peak in _SERVER_CHILD_ENDED.findall(text):
            if pid in stage_of:
                found[stage_of[pid]] = {
                    "cpu_seconds": float(user) + float(system),
                    "max_rss_mib": float(peak),
                    "exit": int(status),
                }
    return found


def read_stage_clock(record: Path) -> list[dict[str, Any]]:
    """The lines benchmarks/stage_clock.py appended to ``record``: one per stage command make ran."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines() if line.strip()]


class ConcurrentMemory:
    """The largest total memory of a command's processes at any one time, sampled from /proc.

    Every ``interval`` seconds it sums the resident set (RSS, /proc/<pid>/stat) of every process in the
    command's session (make, its stages and their workers: the command is started in a session of its own)
    and in the sessions of the stage servers under ``servers`` (each server starts one; its children stay
    in it); new processes are looked for every ``FULL_SCAN_EVERY`` samples. Summed RSS counts pages shared
    by forked processes once per process, so it is an upper bound.
    The proportional set (PSS, /proc/<pid>/smaps_rollup: shared pages divided among the processes sharing
    them) is what they really take together, but reading it walks every page table (about 13 ms per GB
    resident), so it is read only when the summed RSS is within 5% of its highest so far, and no more often
    than keeps those reads under ``pss_budget`` of one core. A peak shorter than the interval can be missed.
    The sampling thread's own CPU time is kept, so it is not counted as other load.
    """

    FULL_SCAN_EVERY = 4

    def __init__(
        self, servers: Path | None, interval: float = 0.5, pss_budget: float = 0.02, near_peak: float = 0.95
    ) -> None:
        self.servers = servers
        self.interval = interval
        self.pss_budget = pss_budget
        self.near_peak = near_peak
        self.peak_rss_mib = 0.0
        self.peak_pss_mib = 0.0
        self.samples = 0
        self.pss_samples = 0
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, session: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(session,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sessions(self, session: int) -> set[int]:
        sessions = {session}
        if self.servers is not None:
            for lock in self.servers.glob("lsp-rap/stage-*.lock"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    sessions.add(int(lock.read_text().split()[0]))  # a server leads its own session
        return sessions

    def _resident(self, sessions: set[int], candidates: list[str] | None) -> tuple[list[str], float]:
        """The processes of ``sessions`` among ``candidates`` (every process when None) and their summed
        RSS (MiB)."""
        page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20
        if candidates is None:
            candidates = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
        pids, rss = [], 0.0
        for pid in candidates:
            try:
                fields = Path("/proc", pid, "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) in sessions:  # field 6, session id
                    rss += int(fields[21]) * page_mib  # field 24, resident pages
                    pids.append(pid)
            except (OSError, ValueError, IndexError):
                continue  # it ended meanwhile
        return pids, rss

    @staticmethod
    def _proportional(pids: list[str]) -> float:
        """The summed PSS (MiB) of ``pids``."""
        pss = 0.0
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path("/proc", pid, "smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) / 1024
                        break
        return pss

    def _run(self, session: int) -> None:
        next_pss = 0.0
        pids: list[str] = []
        while not self._stop.is_set():
            started = time.thread_time()
            # Every process is looked at every FULL_SCAN_EVERY samples (a new stage, a new worker); in
            # between only those found then: a few files instead of every process's on a shared machine.
            full = self.samples % self.FULL_SCAN_EVERY == 0
            pids, rss = self._resident(self._sessions(session), None if full else pids)
            self.peak_rss_mib = max(self.peak_rss_mib, rss)
            self.samples += 1
            if rss >= self.near_peak * self.peak_rss_mib and time.monotonic() >= next_pss:
                before = time.thread_time()
                self.peak_pss_mib = max(self.peak_pss_mib, self._proportional(pids))
                self.pss_samples += 1
                next_pss = time.monotonic() + (time.thread_time() - before) / self.pss_budget
            self.cpu_seconds += time.thread_time() - started
            self._stop.wait(self.interval)


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
    cpu_seconds: list[float] = field(default_factory=list)
    # Further measurements of a run by name (e.g. the largest concurrent memory of a `make all`).
    extras: dict[str, list[float]] = field(default_factory=dict)

    def add(self, measurement: Measurement, work: float | None = None) -> None:
        if not measurement.ok:
            self.failures.append(measurement.last_error())
            return
        self.seconds.append(measurement.seconds)
        self.rss_mib.append(measurement.max_rss_mib)
        if measurement.other_cores is not None:
            self.other_cores.append(measurement.other_cores)
        if measurement.cpu_seconds is not None:
            self.cpu_seconds.append(measurement.cpu_seconds)
        if work is not None:
            self.work_seconds.append(work)

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": summary(self.seconds),
            "max_rss_mib": summary(self.rss_mib),
            "in_stage_seconds": summary(self.work_seconds),
            "other_processes_cores": summary(self.other_cores),
            "cpu_seconds": summary(self.cpu_seconds),
            **{key: summary(values) for key, values in self.extras.items()},
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


def med(block: dict[str, Any] | None) -> float | None:
    return block["median"] if block else None
