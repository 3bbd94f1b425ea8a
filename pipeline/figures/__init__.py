"""The figure stage's registry view and staleness rules.

The figures themselves are declared in the output registry (``pipeline.study.outputs.figures``): name,
module, inputs, the check ``make verify`` applies, and the columns of the plotted numbers. Extension point: a
new figure is one module here exposing ``build(inputs, **params) -> Figure``, one ``Figure`` in the registry
and its name in the Makefile's FIGURE_NAMES (a test checks the two agree). This module imports no plotting
library, so listing figures and deciding which are stale is cheap.

A figure is redrawn only when something it is drawn from changed, at two levels of detail: its sources
(its own registry entry, module and shared drawing code, the codebook, the environment, the config keys
it reads (``config_keys``) and its input files: ``sources_digest``), and, when those changed, the content
of the built figure (the data of every layer, labels, caption and plotted table: ``content_digest``),
which spares the redraw when an input changed only in parts the figure does not show (a new maturity
definition leaves the tier figures as they were). The registry itself is no figure's source: adding a
figure draws only that one.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.core import config_reads
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

__all__ = [
    "BASE",
    "COMPARISONS",
    "ESTIMATES",
    "FRAME",
    "PUBLISHED",
    "Figure",
    "build_figure",
    "figure_module",
    "registry",
]


def config_keys(figure: Figure) -> tuple[str, ...]:
    """The dotted config keys a figure's code read when it was last drawn on the bundled survey (the
    committed record, pipeline/core/config_reads.json); a figure not in the record yet (just registered)
    counts as reading every key the figure stage reads, until the record is remade."""
    record = config_reads.committed()
    return tuple(record["figures"].get(figure.name, record["stages"].get("figures", ())))


def identity(figure: Figure) -> bytes:
    """A figure's registry entry as bytes: what the registry says about it, nothing about the others."""
    return json.dumps(
        [figure.name, figure.module, list(figure.inputs), figure.params, sorted(config_keys(figure))],
        sort_keys=True,
        default=str,
    ).encode()


def registry(codebook: Codebook) -> dict[str, Figure]:
    """Every figure by name, in build order."""
    return {figure.name: figure for figure in figures(codebook)}


def figure_module(figure: Figure) -> ModuleType:
    """The module that draws `figure` (the registry names it; the figure stage finds and imports it)."""
    return importlib.import_module(f"pipeline.figures.{figure.module}")


def build_figure(figure: Figure, inputs: Any) -> Any:
    """Draw a registered figure (imports its module, and so the plotting library, only now), titled with
    the finding its own plotted numbers state (``with_finding_title``)."""
    from pipeline.figures.common import with_finding_title

    built = figure_module(figure).build(inputs, **figure.params)
    return with_finding_title(
        built, figure.name, tuple(column.name for column in figure.columns), inputs.codebook
    )


@functools.cache
def shared_sources(root: Path) -> tuple[str, ...]:
    """The files every figure is drawn with besides its own module: what the figure stage's command runs
    (its transitive imports, as make sees them in SOURCES_figures), sorted."""
    return tuple(command_sources("pipeline.figures.__main__", root))


# Files every stage process runs that draw nothing: the entry point, the import reader, the registries and
# the stage's driver. Make reruns the stage when they change, but no figure is drawn with them (each
# figure's registry entry is hashed instead), so registering a figure draws that one only.
NOT_DRAWING = (
    "pipeline/__main__.py",
    "pipeline/cli.py",
    "pipeline/core/dependencies.py",
    "pipeline/core/config_slices.py",
    "pipeline/figures/__init__.py",
    "pipeline/figures/__main__.py",
)
# The output registry, every module of it.
NOT_DRAWING_PACKAGES = ("pipeline/study/outputs/",)


@functools.cache
def drawing_sources(root: Path) -> tuple[str, ...]:
    """The shared files that turn a figure's data into marks: ``shared_sources`` less ``NOT_DRAWING``."""
    return tuple(
        path
        for path in shared_sources(root)
        if path not in NOT_DRAWING and not path.startswith(NOT_DRAWING_PACKAGES)
    )


@functools.cache
def module_sources(module: str, root: Path) -> tuple[str, ...]:
    """A figure module and whatever it imports that the stage does not already run (worked out once per
    module and process: the fourteen Likert figures share one module, and each figure's sources are
    asked for twice)."""
    shared = set(shared_sources(root))
    own = command_sources(f"pipeline.figures.{module}", root)
    return tuple(path for path in own if path not in shared)


def output_paths(out_dir: Path, name: str) -> list[Path]:
    return [out_dir / f"{name}.{suffix}" for suffix in FIGURE_SUFFIXES]


def stamp_path(out_dir: Path, name: str) -> Path:
    """Where the digest of a figure's sources is kept, beside its files (hidden: not an output)."""
    return out_dir / f".{name}.sources.sha256"


def content_stamp_path(out_dir: Path, name: str) -> Path:
    """Where the digest of a figure's drawn content is kept (see ``content_digest``)."""
    return out_dir / f".{name}.content.sha256"


def sources_digest(dependencies: list[Path], *extra: bytes) -> str:
    """One sha256 over the contents of everything a figure is drawn from, in the given order, and
    ``extra`` (its spec and its slice of the config)."""
    digest = hashlib.sha256()
    for path in dependencies:
        digest.update(_file_digest(path))
    for part in extra:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _file_digest(path: Path) -> bytes:
    """sha256 of a file's bytes (b"missing" if there is none), hashed once per process for each version of
    the file (inode, size, modification and change times: any write changes the change time, which no one
    can set back): the figures share their inputs and code, and the analysis base of a large survey is
    large."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return b"missing"
    return _digest_of(path, (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns))


@functools.lru_cache(maxsize=512)
def _digest_of(path: Path, version: tuple[int, int, int, int]) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def stale(
    spec: Figure,
    out_dir: Path,
    dependencies: list[Path],
    extra: tuple[bytes, ...] = (),
    watched: tuple[Path, ...] = (),
) -> bool:
    """True when a figure must be redrawn: one of its four files or its record is missing, or something it
    is drawn from is newer than the record of what it was drawn from *and* has different contents.

    ``dependencies`` is everything the figure is drawn from (shared code, its module, config, codebook,
    environment, its inputs), ``extra`` the bytes of its spec and config slice, ``watched`` files whose
    time counts but whose contents the digest leaves to ``extra`` (config.yaml: only the figure's keys
    matter). The record (``stamp_path``) is rewritten when the figure is drawn and its time renewed when
    it is found up to date, never the figure's own files, so the times are make's rule applied per
    figure; the contents spare a redraw when an upstream stage reran and wrote the same bytes (a touched
    module, an unchanged table), which is most reruns, since every stage's output is deterministic.
    """
    stamp = stamp_path(out_dir, spec.name)
    if not stamp.exists() or not all(path.exists() for path in output_paths(out_dir, spec.name)):
        return True
    newest_source = max(path.stat().st_mtime_ns for path in (*dependencies, *watched) if path.exists())
    if stamp.stat().st_mtime_ns >= newest_source:
        return False
    return stamp.read_text(encoding="utf-8").strip() != sources_digest(dependencies, *extra)


def content_digest(sources: str, figure: Any) -> str:
    """sha256 of what a built figure shows: the code digest ``sources`` (its module, shared code,
    codebook, environment: everything that turns data into marks) and the figure's own data, every
    layer's data, the labels, the caption, the plotted table and the size. Equal digests draw equal
    images, so a figure whose inputs changed only where it does not look is not redrawn."""
    plot = figure.plot
    digest = hashlib.sha256(sources.encode())

    def frame_bytes(data: Any) -> bytes:
        to_csv = getattr(data, "to_csv", None)
        return to_csv(index=False, lineterminator="\n").encode() if to_csv else repr(data).encode()

    parts = [
        frame_bytes(figure.table),
        figure.caption.encode(),
        repr(figure.size).encode(),
        json.dumps(dict(plot.labels.iterfields()), sort_keys=True, default=str).encode(),
        frame_bytes(plot.data),
    ]
    for layer in plot.layers:
        parts += [type(layer.geom).__name__.encode(), frame_bytes(layer._data), repr(layer.mapping).encode()]
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()
