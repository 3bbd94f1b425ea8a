"""A temporary copy of config.yaml with other inputs: the one writer behind conftest's ``write_config``
fixture and the bad-input corpus' command-line cases (which start in a session fixture, before any
test's temporary folder exists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.core.config import DEFAULT_CONFIG
from pipeline.core.paths import PROJECT_ROOT

# The dataset's reference files, made absolute: a relative path in a config is read from the config's folder.
REFERENCE_FILES = ("frame", "codebook", "published_figures", "published_targets")


def write_config_copy(
    folder: Path, inputs: list[dict[str, Any]], *, processed_dir: Path | None = None, **dataset: Any
) -> Path:
    """Write ``folder``/config.yaml: config.yaml with ``inputs``, the ``dataset`` keys given, absolute
    reference paths and a processed_dir (``folder``/processed unless given); returns its path."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for key in REFERENCE_FILES:
        raw["dataset"][key] = str(PROJECT_ROOT / raw["dataset"][key])
    raw["dataset"].update(dataset)
    raw["dataset"]["inputs"] = inputs
    raw["processed_dir"] = str(processed_dir or folder / "processed")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path
