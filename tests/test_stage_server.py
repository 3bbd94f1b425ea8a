"""The preloading fork server (pipeline/core/stage_server.py): a stage run through it is the stage run in a
fresh process (same bytes, same lines, same exit status, the client's environment), killing the client
kills the stage, SIGINT reaches it, a server for another environment is never used, and wherever the
server cannot serve the stage runs in-process as before.

Each test talks to a server of its own: a private socket folder (XDG_RUNTIME_DIR) is part of the server's
key, so the servers `make` starts elsewhere are never touched; every server started here is stopped by
its pid at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core import stage_server
from pipeline.core.paths import PROJECT_ROOT

pytestmark = pytest.mark.xdist_group("stage_server")

# What a stage reads and runs: the code, the raw data and the config (no outputs, no environment).
PROJECT_FILES = ("pipeline", "data/raw", "config.yaml", "Makefile", "pyproject.toml")
OUTPUTS = ("data/processed", "analysis")
WAIT = 180.0  # generous: a loaded CI machine; nothing here is a timing assertion


def _copy_project(target: Path) -> Path:
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    (target / "data/processed").mkdir(exist_ok=True)
    return target


def _environment(runtime: Path, enabled: str = "1", idle: str = "120") -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    environment.update(
        {
            stage_server.ENABLE: enabled,
            stage_server.IDLE: idle,
            "XDG_RUNTIME_DIR": str(runtime),
            "MAKELEVEL": "1",  # as in a make recipe
            "PYTHONDONTWRITEBYTECODE": "1",  # as on these machines: no __pycache__ beside the code
        }
    )
    environment.pop("PIPELINE_RECORD_CONFIG_READS", None)
    return environment


def _interruptible() -> None:
    # A shell starts a background command (`make test &`) with SIGINT ignored, and a process started so
    # ignores it too, as does a server it starts and every stage that server forks: the Ctrl-C test would
    # then see the stage run on. The stage commands here start as from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stage(project: Path, environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *arguments],
        cwd=project,
        env=environment,
        preexec_fn=_interruptible,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _folder(runtime: Path) -> Path:
    return runtime / "lsp-rap"


def _log(runtime: Path) -> str:
    return "".join(path.read_text() for path in sorted(_folder(runtime).glob("stage-*.log")))


def _server_pids(runtime: Path) -> list[int]:
    pids = []
    for lock in _folder(runtime).glob("stage-*.lock"):
        text = lock.read_text().strip()
        if text.isdigit() and _alive(int(text)):
            pids.append(int(text))
    return pids


def _wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop_servers(runtime: Path) -> None:
    for pid in _server_pids(runtime):
        os.kill(pid, signal.SIGTERM)
    _wait_for(lambda: not _server_pids(runtime), "the test's servers to stop", 30)


def _snapshot(project: Path) -> dict[str, bytes]:
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for folder in OUTPUTS
        for path in sorted((project / folder).rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def _lines(text: str) -> list[str]:
    """A run's lines without its timings (the only thing allowed to differ)."""
    return [re.sub(r"done in [0-9.]+ s", "done in T s", line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def runtime() -> Iterator[Path]:
    # A short path: a Unix socket's path is limited to 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="lsr-", dir="/tmp"))
    try:
        yield folder
    finally:
        _stop_servers(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def served(runtime: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A project copy run ingest -> validate -> derive without the server, then through it; the outputs
    and lines of both runs."""
    project = _copy_project(tmp_path_factory.mktemp("served"))
    chain = ("ingest", "validate", "derive")
    off = _environment(runtime, enabled="0")
    fresh = [_stage(project, off, name) for name in chain]
    assert [run.returncode for run in fresh] == [0, 0, 0], fresh[-1].stderr
    assert not _folder(runtime).exists() or not list(_folder(runtime).iterdir())  # =0 starts nothing
    expected = _snapshot(project)

    on = _environment(runtime)
    assert _stage(project, on, "ingest").returncode == 0  # no server yet: starts one, runs in its child
    # The server listened before it imported anything and served the stage that started it between two
    # imports, once the first stage's libraries were in.
    started = _log(runtime)
    assert re.search(r"listening; preloading\n(.*\n)*.*child \d+: ingest in ", started), started
    _wait_for(lambda: "preloaded (could not import: none)" in _log(runtime), "the server to preload")
    for folder in OUTPUTS:
        for path in (project / folder).rglob("*"):
            if path.is_file():
                path.unlink()
    through = [_stage(project, on, name) for name in chain]
    return {"project": project, "fresh": fresh, "through": through, "expected": expected, "on": on}


def test_stages_through_the_server_write_the_same_bytes_and_lines(served, runtime):
    log = _log(runtime)
    for name in ("ingest", "validate", "derive"):
        assert re.search(rf"child \d+: {name} in {re.escape(str(served['project']))}", log), log
    assert [run.returncode for run in served["through"]] == [0, 0, 0]
    assert _snapshot(served["project"]) == served["expected"]
    for fresh, through in zip(served["fresh"], served["through"], strict=True):
        assert _lines(through.stdout) == _lines(fresh.stdout)
        assert _lines(through.stderr) == _lines(fresh.stderr)


@pytest.mark.parametrize(
    "arguments",
    [("analyse", "--config", "missing.yaml"), ("validate", "--no-such-option"), ("report", "--help")],
)
def test_error_lines_and_exit_codes_are_a_fresh_processs(served, runtime, arguments):
    project = served["project"]
    fresh = _stage(project, _environment(runtime, enabled="0"), *arguments)
    through = _stage(project, served["on"], *arguments)
    assert (through.returncode, through.stdout, through.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )
    assert fresh.returncode == (0 if "--help" in arguments else 2)
    assert "Traceback" not in through.stderr
    assert re.search(rf"child (\d+): {re.escape(' '.join(arguments))} in", _log(runtime))


def test_the_stage_sees_the_clients_environment(served, runtime, tmp_path):
    """The config-key recording (tests/test_config_reads.py) is switched on by an environment variable."""
    environment = dict(served["on"], PIPELINE_RECORD_CONFIG_READS=str(tmp_path))
    runs = re.compile(r"child \d+: derive in")
    before = len(runs.findall(_log(runtime)))
    assert _stage(served["project"], environment, "derive").returncode == 0
    assert len(runs.findall(_log(runtime))) == before + 1  # it did run in a child of the server
    recorded = [json.loads(path.read_text()) for path in tmp_path.iterdir()]
    assert recorded, "the child did not see PIPELINE_RECORD_CONFIG_READS"


def test_the_children_share_the_pipelines_compiled_code_and_see_an_edit_at_once(served, runtime):
    """With PYTHONDONTWRITEBYTECODE=1 nothing is written beside the code: each module is compiled once per
    server into its private folder, by path and source bytes, so an edited module is compiled afresh."""
    project = served["project"]
    compiled = list(_folder(runtime).glob("stage-*.bytecode/*.code"))
    assert compiled, "no stage stored the pipeline's compiled modules"
    assert not list(project.rglob("__pycache__")) and not list(project.rglob("*.pyc"))
    cli = project / "pipeline" / "stages" / "validate.py"
    original = cli.read_text(encoding="utf-8")
    try:
        cli.write_text(original + '\nimport sys as _sys\n_sys.stderr.write("edited validate\\n")\n')
        through = _stage(project, served["on"], "validate")
        assert through.returncode == 0 and "edited validate" in through.stderr, through.stderr
    finally:
        cli.write_text(original, encoding="utf-8")
    again = _stage(project, served["on"], "validate")
    assert again.returncode == 0 and "edited validate" not in again.stderr
    assert len(list(_folder(runtime).glob("stage-*.bytecode/*.code"))) > len(compiled)


def _start_analyse(served, runtime, stderr: Path) -> tuple[subprocess.Popen[bytes], int]:
    with stderr.open("wb") as handle:
        client = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "analyse"],
            cwd=served["project"],
            env=served["on"],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            preexec_fn=_interruptible,
        )
    found: list[int] = []

    def started() -> bool:
        match = re.findall(r"child (\d+): analyse in", _log(runtime))
        found[:] = [int(pid) for pid in match]
        return bool(found) and found[-1] not in served.setdefault("seen", set())

    _wait_for(started, "the server to fork the analyse stage")
    served["seen"].add(found[-1])
    return client, found[-1]


def test_killing_the_client_kills_the_stage(served, runtime, tmp_path):
    """make killed with SIGKILL (tests/test_crash_safety.py) kills its stage clients: their stages die too."""
    client, child = _start_analyse(served, runtime, tmp_path / "stderr")
    assert _alive(child)
    client.kill()
    client.wait()
    _wait_for(lambda: not _alive(child), "the orphaned stage to be killed", 30)
    # The server logs the kill and then the reaping; wait for the second line, not for the scheduler.
    _wait_for(
        lambda: f"child {child}: exit status -9" in _log(runtime), "the killed stage's exit in the log", 30
    )
    assert f"child {child}: its client is gone: killed" in _log(runtime)


def test_sigint_to_the_client_interrupts_the_stage(served, runtime, tmp_path):
    stderr = tmp_path / "stderr"
    client, child = _start_analyse(served, runtime, stderr)
    # Once the stage runs (its first line), Ctrl-C is the stage's one-line interruption, exit 130.
    _wait_for(lambda: b"pipeline.stages.analyse" in stderr.read_bytes(), "the stage's first line")
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=WAIT) == 130
    assert stderr.read_text().splitlines()[-1] == "error: analyse: interrupted"
    assert f"child {child}: forwarded signal {int(signal.SIGINT)}" in _log(runtime)
    assert f"child {child}: exit status 130" in _log(runtime)


def test_a_server_refuses_another_environments_request(served, runtime):
    """A client whose key differs (another install, an edited server) is refused and runs the stage itself."""
    [path] = _folder(runtime).glob("stage-*.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(path))
        stage_server._send_message(connection, {"key": "0" * 32, "arguments": ["ingest"]}, [0, 1, 2])
        connection.settimeout(30)
        assert stage_server._Replies(connection).next() == {"refused": "another environment"}
    assert f"refused a request for key '{'0' * 32}'" in _log(runtime)


def test_the_key_follows_the_install_the_server_code_and_the_blas_threads(tmp_path, monkeypatch):
    environment = {"OPENBLAS_NUM_THREADS": "1", "MAKEFLAGS": "-j2"}
    key = stage_server.server_key(environment)
    assert stage_server.server_key(dict(environment, MAKEFLAGS="-j1", PYTEST_XDIST_WORKER="gw1")) == key
    assert stage_server.server_key(dict(environment, OPENBLAS_NUM_THREADS="2")) != key

    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    (tmp_path / ".installed").write_text("numpy==2.0\n")
    installed = stage_server.server_key(environment)
    (tmp_path / ".installed").write_text("numpy==2.1\n")
    assert stage_server.server_key(environment) != installed

    edited = tmp_path / "stage_server.py"
    edited.write_bytes(Path(stage_server.__file__).read_bytes() + b"\n# edited\n")
    before = stage_server.server_key(environment)
    monkeypatch.setattr(stage_server, "__file__", str(edited))
    assert stage_server.server_key(environment) != before


def test_a_runner_of_many_stages_uses_the_server_and_a_stage_by_hand_does_not():
    """make's recipes and `lsp-rap run`'s stages go through the server; a stage run by hand, or with the
    variable 0, is one whole process. `lsp-rap run` names itself as pipeline.core.paths says."""
    from pipeline.core import paths

    assert stage_server.RUNNER == paths.RUNNER_ENV
    base = {key: value for key, value in os.environ.items() if key not in ("MAKELEVEL", paths.RUNNER_ENV)}
    base[stage_server.ENABLE] = "1"
    assert stage_server.enabled({**base, "MAKELEVEL": "1"})
    assert stage_server.enabled({**base, paths.RUNNER_ENV: "1"})
    assert not stage_server.enabled(base)
    assert not stage_server.enabled({**base, paths.RUNNER_ENV: "1", stage_server.ENABLE: "0"})


def test_where_no_server_can_serve_the_stage_runs_here(served, tmp_path):
    """A socket folder others could enter is never used: the stage runs in-process and starts nothing. Nor
    is the server used outside make (a stage timed by hand or by the benchmark is all its own process)."""
    runtime = Path(tempfile.mkdtemp(prefix="lsr-", dir="/tmp"))
    try:
        by_hand = _environment(runtime)
        del by_hand["MAKELEVEL"]
        result = _stage(served["project"], by_hand, "ingest")
        assert result.returncode == 0, result.stderr
        assert not _folder(runtime).exists()
        _folder(runtime).mkdir(mode=0o755)
        os.chmod(_folder(runtime), 0o755)
        result = _stage(served["project"], _environment(runtime), "ingest")
        assert result.returncode == 0, result.stderr
        assert "pipeline.ingest: done in" in result.stderr
        assert list(_folder(runtime).iterdir()) == []
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_an_idle_server_exits_by_itself_and_a_new_one_clears_dead_ones_files(served):
    runtime = Path(tempfile.mkdtemp(prefix="lsr-", dir="/tmp"))
    try:
        _folder(runtime).mkdir(mode=0o700)
        dead = [_folder(runtime) / f"stage-{'d' * 32}.{suffix}" for suffix in ("lock", "log", "sock")]
        for path in dead:
            path.write_text("a server of an earlier install\n")
        dead_code = _folder(runtime) / f"stage-{'d' * 32}.bytecode"
        dead_code.mkdir()
        (dead_code / "module.code").write_bytes(b"compiled by a server killed outright")
        assert _stage(served["project"], _environment(runtime, idle="1"), "ingest").returncode == 0
        _wait_for(lambda: "listening" in _log(runtime), "the server to listen")
        assert [path for path in [*dead, dead_code] if path.exists()] == []
        assert list(_folder(runtime).glob("*.bytecode/*.code"))  # its own, while it lives
        _wait_for(lambda: not _server_pids(runtime), "the idle server to exit")
        assert "idle for 1 s: exiting" in _log(runtime)
        assert list(_folder(runtime).glob("*.bytecode")) == []  # gone with it
        assert list(_folder(runtime).glob("*.sock")) == []
    finally:
        _stop_servers(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
