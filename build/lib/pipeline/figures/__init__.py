"""The figure stage's registry view and staleness rules.

The figures themselves are declared in the output registry (``pipeline.study.outputs.figures``): name,
module, inputs, the check ``make verify`` applies, and the columns of the plotted numbers. Extension point: a
new figure is one module here exposing ``build(inputs, **params) -> Figure``, one ``Figure`` in the registry
and its name in the Makefile's FIGURE_NAMES (a test checks the two agree). This module imports no plotting
library, so listing figures and deciding which are stale is cheap.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from pipeline.core.codebook import Codebook
from pipeline.core.dependencies import command_sources
from pipeline.study.outputs import (
    BASE,
    COMPARISONS,
    ESTIMATES,
    FIGURE_SUFFIXES,
    FRAME,
    PUBLISHED,
    Figure,
    figures,
)

__all__ = ["BASE", "COMPARISONS", "ESTIMATES", "FRAME", "PUBLISHED", "Figure", "registry"]


def registry(codebook: Codebook) -> dict[str, Figure]:
    """Every figure by name, in build order."""
    return {figure.name: figure for figure in figures(codebook)}


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


def output_paths(out_dir: Path, name: str) -> list[Path]:
    return [out_dir / f"{name}.{suffix}" for suffix in FIGURE_SUFFIXES]


def stamp_path(out_dir: Path, name: str) -> Path:
    """Where the digest of a figure's sources is kept, beside its files (hidden: not an output)."""
    return out_dir / f".{name}.sources.sha256"


def sources_digest(dependencies: list[Path]) -> str:
    """One sha256 over the contents of everything a figure is drawn from, in the given order."""
    digest = hashlib.sha256()
    for path in dependencies:
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"missing")
    return digest.hexdigest()


def stale(spec: Figure, out_dir: Path, dependencies: list[Path]) -> bool:
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
