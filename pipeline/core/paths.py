"""Where the project is: every relative path is anchored here, never on the working directory."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def relative_to_root(path: Path) -> str:
    """The path as the project shows it to people: relative to the project root where it lies inside it."""
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.as_posix()
