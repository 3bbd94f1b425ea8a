"""Where the project is: every relative path is anchored here, never on the working directory."""

from __future__ import annotations

import os
from pathlib import Path

_SOURCE_TREE = Path(__file__).resolve().parents[2]
# Run from the source tree (make, python -m pipeline), the root is the tree itself. Installed as a package
# (pip install .), the code lives in site-packages and the project is where the data are: LSP_RAP_ROOT,
# else the working directory the command is run from.
PROJECT_ROOT = (
    _SOURCE_TREE
    if (_SOURCE_TREE / "pyproject.toml").is_file()
    else Path(os.environ.get("LSP_RAP_ROOT") or Path.cwd()).resolve()
)


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
