"""The figures of the study: a registry of figure names, the module that draws each, and its inputs.

Extension point: a new figure is one module exposing ``build(inputs, **params) -> Figure`` plus one
``FigureSpec`` in ``registry()`` and its name in the Makefile's FIGURE_NAMES (a test checks the two
agree). This module imports no plotting library, so listing figures and deciding which are stale is cheap.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.dependencies import command_sources

# Inputs a figure can read; the Makefile lists the same files as the figure rule's prerequisites.
BASE, FRAME, ESTIMATES, COMPARISONS, PUBLISHED = "base", "frame", "estimates", "comparisons", "published"


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its name, the module under pipeline.figures that builds it, and the build arguments."""

    name: str
    module: str
    inputs: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def build(self, inputs: Any) -> Any:
        module = importlib.import_module(f"pipeline.figures.{self.module}")
        return module.build(inputs, **self.params)


LIKERT_GROUPS = ("tier", "maturity")


def registry(codebook: Codebook) -> dict[str, FigureSpec]:
    """Every figure, in build order; Likert figures for each 7S element of the codebook."""
    specs = [FigureSpec("coverage", "coverage", (BASE, FRAME))]
    for element in codebook.elements:
        for group in LIKERT_GROUPS:
            specs.append(
                FigureSpec(
                    f"likert_{element}_{group}", "likert", (BASE, FRAME), {"element": element, "group": group}
                )
            )
    specs += [
        FigureSpec("challenge", "challenge", (ESTIMATES,)),
        FigureSpec("financial_influence", "financial_influence", (ESTIMATES,)),
        FigureSpec("barriers", "barriers", (ESTIMATES,)),
        FigureSpec("support_costs_known", "support_costs_known", (ESTIMATES,)),
        FigureSpec("resources_mapped", "resources_mapped", (ESTIMATES,)),
        FigureSpec("support_team_composition", "support_team_composition", (ESTIMATES,)),
        FigureSpec("forest", "forest", (COMPARISONS,)),
        FigureSpec("maturity_profile", "maturity_profile", (ESTIMATES,)),
        FigureSpec("case_studies", "case_studies", (FRAME,)),
        FigureSpec("published", "published", (PUBLISHED,)),
    ]
    return {spec.name: spec for spec in specs}


@functools.cache
def shared_sources(root: Path) -> tuple[str, ...]:
    """The files every figure is drawn with besides its own module: what the figure stage's command runs
    (its transitive imports, as make sees them in SOURCES_figures), sorted."""
    return tuple(command_sources("pipeline.figures.__main__", root))


def module_sources(module: str, root: Path) -> tuple[str, ...]:
    """A figure module and whatever it imports that the stage does not already run."""
    shared = set(shared_sources(root))
    own = command_sources(f"pipeline.figures.{module}", root)
    return tuple(path for path in own if path not in shared)


OUTPUT_SUFFIXES = ("png", "svg", "csv", "caption.txt")


def output_paths(out_dir: Path, name: str) -> list[Path]:
    return [out_dir / f"{name}.{suffix}" for suffix in OUTPUT_SUFFIXES]


def stamp_path(out_dir: Path, name: str) -> Path:
    """Where the digest of a figure's sources is kept, beside its files (hidden: not an output)."""
    return out_dir / f".{name}.sources.sha256"


def sources_digest(dependencies: list[Path]) -> str:
    """One sha256 over the contents of everything a figure is drawn from, in the given order."""
    digest = hashlib.sha256()
    for path in dependencies:
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"missing")
    return digest.hexdigest()


def stale(spec: FigureSpec, out_dir: Path, dependencies: list[Path]) -> bool:
    """True when a figure must be redrawn: one of its four files is missing, or something it is drawn
    from is newer than them *and* has different contents from when it was last drawn.

    ``dependencies`` is everything the figure is drawn from (shared code, its module, config, codebook,
    environment, its inputs). The times are make's rule, applied per figure; the contents spare a redraw
    when an upstream stage reran and wrote the same bytes (a touched module, an unchanged table), which
    is most reruns, since every stage's output is deterministic.
    """
    outputs = output_paths(out_dir, spec.name)
    if not all(path.exists() for path in outputs):
        return True
    newest_source = max(path.stat().st_mtime_ns for path in dependencies if path.exists())
    if min(path.stat().st_mtime_ns for path in outputs) >= newest_source:
        return False
    stamp = stamp_path(out_dir, spec.name)
    return not stamp.exists() or stamp.read_text(encoding="utf-8").strip() != sources_digest(dependencies)
