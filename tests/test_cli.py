"""Every command of `lsp-rap` answers -h and --help with its own usage and writes nothing: not in the folder
it is run from (`dependencies --help` once wrote a file named `--help` there), not in the project."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS, main
from pipeline.core.paths import PROJECT_ROOT

# The project's own files a command could write by mistake (outputs are written only by a command that runs,
# and generated folders may be written by other tests meanwhile).
WATCHED = ("pipeline", "data/raw", "docs")


def _state() -> dict[str, int]:
    files = [path for path in PROJECT_ROOT.iterdir() if path.is_file()]
    for folder in WATCHED:
        files += [path for path in (PROJECT_ROOT / folder).rglob("*") if path.is_file()]
    return {path.relative_to(PROJECT_ROOT).as_posix(): path.stat().st_mtime_ns for path in files}


def _exit_code(arguments: list[str]) -> int:
    try:
        main(arguments)
    except SystemExit as stopped:
        return stopped.code if isinstance(stopped.code, int) else 1
    return 0


def test_every_command_is_asked():
    assert {"init", "run", "dependencies", "config-slices", "ingest", "figures"} <= set(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_shows_the_usage_and_writes_nothing(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["lsp-rap"])
    before = _state()
    for flag in ("--help", "-h"):
        assert _exit_code([command, flag]) == 0, (command, flag)
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: lsp-rap {command}"), (command, flag, shown[:200])
        assert list(Path(tmp_path).iterdir()) == [], (command, flag)
    assert _state() == before
