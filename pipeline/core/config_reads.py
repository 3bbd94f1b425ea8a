"""Which config.yaml keys each stage's code reads, recorded as it runs: make's config dependencies.

The checked configuration (``pipeline.core.config.Config``) and its weighting record
(``pipeline.core.weighting_spec.WeightingSpec``) note the dotted config key behind every field their readers
touch, into whichever ``recording()`` scopes are open. ``pipeline.core.io.run_stage`` opens one around
each stage when ``PIPELINE_RECORD_CONFIG_READS`` names a folder, and saves what was read there as
``<stage>.json``; the figure stage also saves each figure's own reads as ``figure.<name>.json``. A test runs
every stage so (the shared build of the test suite, tests/built_project.py) and holds the committed record,
``config_reads.json`` beside this module, equal to what was read; ``pipeline.core.config_slices`` gives
each stage the slice of config.yaml its record names, so an edit reruns exactly the stages that read the
key. A stage that reads the file as a whole (the report shows it) records ``WHOLE_FILE``.

What a run does not execute it does not record: a key read only on a path the bundled configuration never
takes (a weighting method that is not configured) is missing until a run takes that path.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

RECORD_ENV = "PIPELINE_RECORD_CONFIG_READS"
# The key of a read of config.yaml as a whole (its text, its parsed mapping, its path's time).
WHOLE_FILE = "config.yaml"
RECORD = Path(__file__).with_name("config_reads.json")

_scopes: list[set[str]] = []


def note(keys: tuple[str, ...] | set[str] | frozenset[str]) -> None:
    """Record that ``keys`` were read, in every open scope."""
    for scope in _scopes:
        scope.update(keys)


@contextmanager
def recording() -> Iterator[set[str]]:
    """A scope: the set it yields fills with every key read until it closes (scopes nest)."""
    keys: set[str] = set()
    _scopes.append(keys)
    try:
        yield keys
    finally:
        _scopes.remove(keys)


@contextmanager
def unrecorded() -> Iterator[None]:
    """Reads that are bookkeeping, not use: hashing the config to decide staleness, say."""
    saved = _scopes[:]
    _scopes.clear()
    try:
        yield
    finally:
        _scopes[:] = saved


class RecordsReads:
    """For the frozen records built from config.yaml: reading a field named in ``_config_keys`` (a class
    attribute: field -> dotted keys) notes those keys. Costs one dictionary look-up a read when no scope
    is open."""

    _config_keys: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __getattribute__(self, name: str) -> Any:
        if _scopes and name[0] != "_":
            keys = type(self)._config_keys.get(name)
            if keys:
                note(keys)
        return object.__getattribute__(self, name)


def record_folder() -> Path | None:
    """Where this process saves what it read (``PIPELINE_RECORD_CONFIG_READS``), or None: not recording."""
    folder = os.environ.get(RECORD_ENV)
    return Path(folder) if folder else None


def save(folder: Path, name: str, keys: set[str] | frozenset[str]) -> None:
    """Add ``keys`` to the record ``<folder>/<name>.json`` (a stage that runs twice records both runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    known = set(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else set()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(sorted(known | set(keys)), indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)


def collect(folder: Path) -> dict[str, dict[str, list[str]]]:
    """The records saved in ``folder`` in the committed record's shape: ``{"stages": {stage: keys},
    "figures": {figure: keys}}``, keys sorted (every command run through ``run_stage`` is a "stage" here;
    the committed record keeps the chain's)."""
    record: dict[str, dict[str, list[str]]] = {"stages": {}, "figures": {}}
    for path in sorted(folder.glob("*.json")):
        keys = sorted(json.loads(path.read_text(encoding="utf-8")))
        kind, _, name = path.stem.partition(".")
        if kind == "figure":
            record["figures"][name] = keys
        else:
            record["stages"][path.stem] = keys
    return record


@functools.cache
def committed() -> dict[str, dict[str, list[str]]]:
    """The committed record (``config_reads.json``), read once a process (the figure stage asks per figure).
    Treat it as read-only."""
    return json.loads(RECORD.read_text(encoding="utf-8"))


def render(record: dict[str, dict[str, list[str]]]) -> str:
    """The record as the committed file holds it."""
    return json.dumps(record, indent=1, sort_keys=True) + "\n"
