"""Where the project is: every relative path is anchored here, never on the working directory."""

from __future__ import annotations

import os
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parents[2]
# Where the project is named (LSP_RAP_ROOT: `lsp-rap run --project DIR` sets it for every stage it runs),
# that is the root. Otherwise, run from the source tree (make, python -m pipeline), the root is the tree
# itself; installed as a package (pip install .), the code lives in site-packages and the project is the
# working directory the command is run from.
ROOT_ENV = "LSP_RAP_ROOT"
PROJECT_ROOT = (
    Path(os.environ[ROOT_ENV]).resolve()
    if os.environ.get(ROOT_ENV)
    else _SOURCE_TREE
    if (_SOURCE_TREE / "pyproject.toml").is_file()
    else Path.cwd().resolve()
)
# Set by `lsp-rap run` for the stages it runs: their errors then name that command, not make.
RUNNER_ENV = "LSP_RAP_RUNNER"
# Make targets that `lsp-rap run` does not build: each is its own command.
NOT_RUN = ("synthetic", "verify", "validate-methods")


def rebuild_command(make_target: str = "all") -> str:
    """The command that builds what a stage found missing, in the terms of how the pipeline is being run:
    under make (MAKELEVEL) or in a source tree with its Makefile, ``make <target>``; from ``lsp-rap run``
    or an installed package's project (no Makefile), ``lsp-rap run`` for any stage's output, or the tool's
    own command (``lsp-rap synthetic``)."""
    if not os.environ.get("MAKELEVEL") and (
        os.environ.get(RUNNER_ENV) or not (PROJECT_ROOT / "Makefile").is_file()
    ):
        return f"lsp-rap {make_target}" if make_target in NOT_RUN else "lsp-rap run"
    return f"make {make_target}"


def relative_to_root(path: Path) -> str:
    """The path as the project shows it to people: relative to the project root where it lies inside it."""
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.as_posix()


# The committed method-validation results of the weightings (make validate-methods writes them; the report
# quotes them when present).
WEIGHTING_VALIDATION_RESULTS = PROJECT_ROOT / "docs" / "methods_validation_weighting.csv"
# How far maturity-driven nonresponse moves the study's findings under the primary weighting (written by
# the same run; the report's sensitivity statement takes its sizes from it).
INFORMATIVE_NONRESPONSE_RESULTS = PROJECT_ROOT / "docs" / "methods_validation_informative.csv"


def figures_checked_path(figures_dir: Path) -> Path:
    """The figure stage's own stamp (the Makefile's FIGURES_CHECKED): when it last checked every figure
    against its sources. make reruns the stage when a source is newer than it; a figure whose files come
    out the same keeps them, times included, so nothing made from the figures reruns (the report)."""
    return figures_dir / ".checked"
