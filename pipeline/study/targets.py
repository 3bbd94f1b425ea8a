"""The published targets: data/raw/published_targets.yaml, read once, for every user.

Each entry of the report's published figures either maps to a quantity of the survey's data (instrument,
codebook variable, the codes counted, the domain) or says why it cannot. The analyse stage sets our
estimates beside the published numbers (pipeline.study.published) and the synthetic generator is
calibrated to the same quantities (pipeline.synthetic); both read the file through `load_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT

DEFAULT_TARGETS_PATH = PROJECT_ROOT / "data" / "raw" / "published_targets.yaml"


@dataclass(frozen=True)
class Target:
    """One calibration quantity from data/raw/published_targets.yaml."""

    figure_id: str
    key: str
    quantity: str
    method: str
    value_basis: str
    published: str
    value: float | None
    tolerance: float | None
    bounds: tuple[float, float] | None
    instrument: str | None = None
    variable: str | None = None
    event: tuple[int, ...] = ()
    authority_types: tuple[str, ...] | None = None
    condition: tuple[str, int] | None = None


@dataclass(frozen=True)
class TargetFile:
    figures: tuple[dict[str, Any], ...]
    targets: tuple[Target, ...]

    def by_key(self) -> dict[str, Target]:
        return {target.key: target for target in self.targets}


def load_targets(path: Path) -> TargetFile:
    """Read the published targets; a malformed file stops the run with one message."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: published targets not found") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("figures"), list):
        raise PipelineError(f"{path}: expected a list under 'figures'")
    targets = []
    try:
        for figure in raw["figures"]:
            if figure["status"] == "not a target":
                if not figure.get("reason"):
                    raise ValueError(f"{figure['id']}: a non-target needs its reason")
                continue
            for entry in figure["quantities"]:
                condition = None
                if entry.get("condition"):
                    name, _, code = entry["condition"].partition(" == ")
                    condition = (name, int(code))
                targets.append(
                    Target(
                        figure_id=figure["id"],
                        key=entry["key"],
                        quantity=" ".join(str(entry["quantity"]).split()),
                        method=entry["method"],
                        value_basis=entry["value_basis"],
                        published=str(entry["published"]),
                        value=None if entry.get("value") is None else float(entry["value"]),
                        tolerance=None if entry.get("tolerance") is None else float(entry["tolerance"]),
                        bounds=tuple(entry["bounds"]) if entry.get("bounds") else None,
                        instrument=entry.get("instrument"),
                        variable=entry.get("variable"),
                        event=tuple(entry.get("event") or ()),
                        authority_types=tuple(entry["authority_types"])
                        if entry.get("authority_types")
                        else None,
                        condition=condition,
                    )
                )
    except (KeyError, TypeError, ValueError) as error:
        raise PipelineError(f"{path}: malformed targets file ({error})") from None
    return TargetFile(figures=tuple(raw["figures"]), targets=tuple(targets))
