"""Command lines run as the stage server runs a stage: forked from one process that has imported the
libraries once, instead of one interpreter start and one import of pandas, pandera and scipy per command.

A test that checks what a command prints and its exit status (``--help``, a one-line error, a stage run on
a small input) starts a fresh ``python -m <module>`` for it, and most of such a process's CPU is imports
the test does not look at. ``run_commands`` starts one runner process instead, which imports the
commands' modules once (and with them the libraries they use), then forks one child per command. Each
child drops every pipeline module the runner imported (the pipeline is imported afresh, as by a new
process) and sets itself up with the stage server's own code for its children (``_fresh_stdio``,
``_forget_pipeline_and_state``, ``_exit_status``, ``_leave``; tests/test_stage_server.py holds the server's
children to a fresh process's outputs and exit statuses): the command's working folder, environment,
arguments and ``sys.path``, stdio on files, a numpy seed of its own, the interpreter's exit status and its
output for an uncaught exception.

A command whose environment differs from the runner's in anything read at import or start-up (the
variables the stage server keys on, and pandera's ``PANDERA_*``, read when pandera is imported) is run as a
plain subprocess, as before; so is every command when the runner itself fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.paths import PROJECT_ROOT


@dataclass(frozen=True)
class Command:
    """``python -m <module> <arguments>`` in ``cwd`` with ``environment`` (default: this process's)."""

    module: str
    arguments: tuple[str, ...] = ()
    environment: Mapping[str, str] | None = None
    cwd: Path = PROJECT_ROOT
    extra: Mapping[str, str] = field(default_factory=dict)  # added to the environment

    def env(self) -> dict[str, str]:
        return {**(os.environ if self.environment is None else self.environment), **self.extra}

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.arguments]


_RUNNER = r"""
import importlib, json, os, sys, time, warnings
from pipeline import cli
from pipeline.core import stage_server

commands = json.loads(sys.stdin.read())
# The libraries the commands use, imported once: each command's module (a stage's, for `-m pipeline`),
# whose pipeline modules every child then drops and imports afresh.
for command in commands:
    name, arguments = command["module"], command["arguments"]
    if name == "pipeline" and arguments and arguments[0] in cli.COMMANDS:
        name = cli.COMMANDS[arguments[0]].module
    try:
        with warnings.catch_warnings():  # nothing is shown here, and no warning is used up
            warnings.simplefilter("ignore")
            importlib.import_module(name)
    except BaseException:  # the child says what is wrong
        pass
children = []
for command in commands:
    pid = os.fork()
    if pid == 0:
        try:
            streams = [os.open(os.devnull, os.O_RDONLY)] + [
                os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                for path in (command["stdout"], command["stderr"])
            ]
            for target, fd in enumerate(streams):
                os.dup2(fd, target, inheritable=True)
                os.close(fd)
            stage_server._fresh_stdio()
            os.chdir(command["cwd"])
            os.environ.clear()
            os.environ.update(command["environment"])
            time.tzset()
            # `python -m` puts the working folder first on the path and the module's file in argv[0].
            sys.path[0] = command["cwd"]
            sys.argv[:] = ["-m", *command["arguments"]]
            stage_server._forget_pipeline_and_state()
        except BaseException:
            os._exit(70)
        code, interrupted = 0, False
        try:
            import runpy

            runpy.run_module(command["module"], run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stage_server._exit_status(stop.code)
        except KeyboardInterrupt:
            sys.excepthook(*sys.exc_info())
            interrupted = True
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        stage_server._leave(code, interrupted)
    children.append(pid)
print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]))
"""


def _read_at_start(environment: Mapping[str, str]) -> dict[str, str]:
    from pipeline.core.stage_server import KEYED_NAMES, KEYED_PREFIXES

    return {
        name: value
        for name, value in environment.items()
        if name.startswith((*KEYED_PREFIXES, "PANDERA_")) or name in KEYED_NAMES
    }


def _plain(command: Command, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command.argv(),
        cwd=command.cwd,
        env=command.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_commands(commands: Sequence[Command], timeout: float = 300) -> list[subprocess.CompletedProcess[str]]:
    """Run every command (side by side) and return what each printed and its exit status, in order."""
    runner_environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    shared = _read_at_start(runner_environment)
    forked = [index for index, command in enumerate(commands) if _read_at_start(command.env()) == shared]
    results: dict[int, subprocess.CompletedProcess[str]] = {}
    with tempfile.TemporaryDirectory(prefix="forked-") as folder:
        requests = [
            {
                "module": commands[index].module,
                "arguments": list(commands[index].arguments),
                "environment": commands[index].env(),
                "cwd": str(commands[index].cwd),
                "stdout": f"{folder}/{index}.out",
                "stderr": f"{folder}/{index}.err",
            }
            for index in forked
        ]
        statuses = None
        if requests:
            runner = subprocess.run(
                [sys.executable, "-c", _RUNNER],
                input=json.dumps(requests),
                cwd=PROJECT_ROOT,
                env=runner_environment,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if runner.returncode == 0:
                statuses = json.loads(runner.stdout.strip().splitlines()[-1])
        for position, index in enumerate(forked if statuses is not None else ()):
            results[index] = subprocess.CompletedProcess(
                commands[index].argv(),
                statuses[position],
                Path(requests[position]["stdout"]).read_text(encoding="utf-8", errors="replace"),
                Path(requests[position]["stderr"]).read_text(encoding="utf-8", errors="replace"),
            )
    return [
        results[index] if index in results else _plain(command, timeout)
        for index, command in enumerate(commands)
    ]
