"""make's own view of the Makefile: each target's prerequisites as ``make -pnq`` prints its database, for the
tests that hold a rule to something else (the import graph, ``lsp-rap run``'s chain)."""

from __future__ import annotations

import subprocess
import sys

from pipeline.core.paths import PROJECT_ROOT


def make_prerequisites() -> dict[str, set[str]]:
    """Each target's prerequisites as make's database has them after reading the Makefile (special targets
    such as ``.PHONY`` and variable lines left out)."""
    database = subprocess.run(
        ["make", "-pnq", f"VENV={sys.prefix}", "all"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    rules: dict[str, set[str]] = {}
    for line in database.splitlines():
        target, colon, prerequisites = line.partition(":")
        if colon and not line.startswith(("#", "\t", " ", ".")) and "=" not in line and " " not in target:
            rules.setdefault(target, set()).update(prerequisites.split())
    return rules
