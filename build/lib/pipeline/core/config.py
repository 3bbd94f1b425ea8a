"""The one configuration file (config.yaml), read and checked before any stage runs.

Paths are anchored on the project root, never on the working directory. An unknown key, a missing key
or a value of the wrong type stops the run with one message naming the key.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.study.vocabulary import INSTRUMENTS, MATURITY_DEFINITIONS

DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"
INPUT_FORMATS = ("csv", "xlsx", "sav")
_FORMAT_BY_SUFFIX = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".sav": "sav"}

# key: (type, required) or (type, required, (lowest, highest)): a number outside its range is refused,
# since a seed of -1, a min_cell of 0 or a header row of 0 would not fail loudly later. Nested mappings are
# described by their own tables; README.md ("Configuration") documents every key (a test holds it to these).
_TOP_LEVEL = {
    "dataset": (dict, True),
    "synthetic": (dict, True),
    "seeds": (dict, True),
    "processed_dir": (str, True),
    "analysis_dir": (str, True),
    "figures_dir": (str, True),
    "disclosure": (dict, True),
    "maturity": (dict, True),
}
_DATASET = {
    "synthetic": (bool, True),
    "frame": (str, True),
    "codebook": (str, True),
    "published_figures": (str, True),
    "published_targets": (str, True),
    "inputs": (list, True),
}
_INPUT = {
    "path": (str, True),
    "instrument": (str, True),
    "format": (str, False),
    "sheet": ((str, int), False, (0, None)),
    "encoding": (str, False),
    "header_row": (int, False, (1, None)),
    "column_map": (dict, False),
}
_SYNTHETIC = {
    "seed": (int, True, (0, 2**32 - 1)),
    # One coordinator per LSP: at most the frame's 388.
    "n_coordinators": (int, True, (1, 388)),
    "n_partners": (int, True, (1, None)),
    "out_dir": (str, True),
}
_SEEDS = {"methods_validation": (int, True, (0, 2**32 - 1))}
# Below 1, disclosure control would silently publish every cell.
_DISCLOSURE = {"min_cell": (int, True, (1, None))}
_MATURITY = {
    "primary": (str, True),
    "alternatives": (list, True),
    "mature_min_years": (int, True, (1, 100)),
}
SECTIONS = {
    "config": _TOP_LEVEL,
    "dataset": _DATASET,
    "dataset.inputs[]": _INPUT,
    "synthetic": _SYNTHETIC,
    "seeds": _SEEDS,
    "disclosure": _DISCLOSURE,
    "maturity": _MATURITY,
}


@dataclass(frozen=True)
class InputFile:
    """One survey export and how to read it."""

    path: Path
    instrument: str
    format: str
    sheet: str | int | None = None
    encoding: str | None = None
    header_row: int | None = None
    column_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The validated configuration, with absolute paths."""

    source: Path
    synthetic_data: bool
    frame: Path
    codebook: Path
    published_figures: Path
    published_targets: Path
    inputs: tuple[InputFile, ...]
    synthetic_seed: int
    n_coordinators: int
    n_partners: int
    synthetic_dir: Path
    methods_validation_seed: int
    processed_dir: Path
    analysis_dir: Path
    figures_dir: Path
    min_cell: int
    maturity_primary: str
    maturity_alternatives: tuple[str, ...]
    mature_min_years: int
    raw: dict[str, Any]

    @property
    def maturity_definitions(self) -> tuple[str, ...]:
        """The primary definition first, then the alternatives."""
        return (self.maturity_primary, *self.maturity_alternatives)


def _check(mapping: Any, spec: dict[str, tuple[Any, ...]], where: str) -> None:
    if not isinstance(mapping, dict):
        raise PipelineError(f"config: {where} must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - set(spec))
    if unknown:
        raise PipelineError(f"config: unknown key {where}.{unknown[0]} (allowed: {', '.join(spec)})")
    for key, (expected, required, *bounds) in spec.items():
        if key not in mapping:
            if required:
                raise PipelineError(f"config: missing key {where}.{key}")
            continue
        value = mapping[key]
        # bool is an int in Python; a seed of `true` is a mistake, not a seed.
        wrong_bool = isinstance(value, bool) and expected is not bool
        if wrong_bool or not isinstance(value, expected):
            wanted = (
                expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            )
            raise PipelineError(
                f"config: {where}.{key} must be {wanted}, got {type(value).__name__} ({value!r})"
            )
        if bounds and isinstance(value, int):
            lowest, highest = bounds[0]
            if value < lowest or (highest is not None and value > highest):
                allowed = f"at least {lowest}" if highest is None else f"from {lowest} to {highest}"
                raise PipelineError(f"config: {where}.{key} must be {allowed}, got {value}")


def _resolve(root: Path, relative: str) -> Path:
    path = Path(relative)
    return path if path.is_absolute() else root / path


def load_config(path: Path | None = None) -> Config:
    """Read config.yaml (or PIPELINE_CONFIG, or the given path) and check every key.

    Every error names the configuration file, since PIPELINE_CONFIG may point at another one.
    """
    path = Path(path or os.environ.get("PIPELINE_CONFIG") or DEFAULT_CONFIG).resolve()
    name = f"config {relative_to_root(path)}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{name}: not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{name}: cannot be read ({error})") from None
    except yaml.YAMLError as error:
        # PyYAML's message spans several lines; the run stops with one.
        raise PipelineError(f"{name}: not valid YAML ({' '.join(str(error).split())})") from None
    try:
        return _parse(path, raw)
    except PipelineError as error:
        raise PipelineError(f"{name}: {str(error).removeprefix('config: ')}") from None


def _parse(path: Path, raw: Any) -> Config:
    """The checked configuration of the file at ``path`` (already read as ``raw``)."""
    _check(raw, _TOP_LEVEL, "config")
    _check(raw["dataset"], _DATASET, "dataset")
    _check(raw["synthetic"], _SYNTHETIC, "synthetic")
    _check(raw["seeds"], _SEEDS, "seeds")
    _check(raw["disclosure"], _DISCLOSURE, "disclosure")
    _check(raw["maturity"], _MATURITY, "maturity")
    maturity = raw["maturity"]
    for definition in (maturity["primary"], *maturity["alternatives"]):
        if definition not in MATURITY_DEFINITIONS:
            raise PipelineError(
                f"config: maturity definition {definition!r} is not one of {', '.join(MATURITY_DEFINITIONS)}"
            )
    if maturity["primary"] in maturity["alternatives"]:
        raise PipelineError("config: maturity.alternatives must not repeat maturity.primary")
    # Relative paths are relative to the project root wherever the config file is (config.yaml says so):
    # a config kept elsewhere still names the project's own data/raw, data/processed, ...
    root = PROJECT_ROOT
    inputs = []
    for number, entry in enumerate(raw["dataset"]["inputs"], start=1):
        where = f"dataset.inputs[{number}]"
        _check(entry, _INPUT, where)
        if entry["instrument"] not in INSTRUMENTS:
            raise PipelineError(
                f"config: {where}.instrument must be coordinator or partner, got {entry['instrument']!r}"
            )
        input_path = _resolve(root, entry["path"])
        file_format = entry.get("format") or _FORMAT_BY_SUFFIX.get(input_path.suffix.lower())
        if file_format not in INPUT_FORMATS:
            raise PipelineError(
                f"config: {where}: cannot tell the format of {entry['path']}; "
                f"set format to one of {INPUT_FORMATS}"
            )
        inputs.append(
            InputFile(
                path=input_path,
                instrument=entry["instrument"],
                format=file_format,
                sheet=entry.get("sheet"),
                encoding=entry.get("encoding"),
                header_row=entry.get("header_row"),
                column_map=dict(entry.get("column_map") or {}),
            )
        )
    if not inputs:
        raise PipelineError("config: dataset.inputs lists no input file")
    dataset, synthetic = raw["dataset"], raw["synthetic"]
    return Config(
        source=path,
        synthetic_data=dataset["synthetic"],
        frame=_resolve(root, dataset["frame"]),
        codebook=_resolve(root, dataset["codebook"]),
        published_figures=_resolve(root, dataset["published_figures"]),
        published_targets=_resolve(root, dataset["published_targets"]),
        inputs=tuple(inputs),
        synthetic_seed=synthetic["seed"],
        n_coordinators=synthetic["n_coordinators"],
        n_partners=synthetic["n_partners"],
        synthetic_dir=_resolve(root, synthetic["out_dir"]),
        methods_validation_seed=raw["seeds"]["methods_validation"],
        processed_dir=_resolve(root, raw["processed_dir"]),
        analysis_dir=_resolve(root, raw["analysis_dir"]),
        figures_dir=_resolve(root, raw["figures_dir"]),
        min_cell=raw["disclosure"]["min_cell"],
        maturity_primary=maturity["primary"],
        maturity_alternatives=tuple(maturity["alternatives"]),
        mature_min_years=maturity["mature_min_years"],
        raw=raw,
    )


# ------------------------------------------------------------------------------------ stage command lines
# Each stage's options default to paths under the configured folders. The parser is built without reading
# the config, so `--help` works whatever state the config is in; the defaults are shown as templates
# ("{processed_dir}/analysis_base.parquet") and filled in from the config after parsing.
FOLDER_KEYS = ("processed_dir", "analysis_dir", "figures_dir", "synthetic_dir")
_TEMPLATES = "_path_templates"


def stage_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser for a stage's command, with the ``--config`` option every stage takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="the configuration file (default: $PIPELINE_CONFIG if set, else config.yaml at the project "
        "root); its relative paths are relative to the project root",
    )
    parser.set_defaults(**{_TEMPLATES: {}})
    return parser


def path_option(parser: argparse.ArgumentParser, flag: str, default: str, help: str) -> None:
    """A path option whose default is a template over the configured folders (``FOLDER_KEYS``)."""
    dest = flag.lstrip("-").replace("-", "_")
    parser.add_argument(flag, type=Path, default=None, metavar="PATH", help=f"{help} (default: {default})")
    parser.get_default(_TEMPLATES)[dest] = default


def parse_stage_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> tuple[argparse.Namespace, Config]:
    """Parse a stage's arguments, then read the config they name and fill in the path defaults from it."""
    arguments = parser.parse_args(argv)
    config = load_config(arguments.config)
    folders = {key: getattr(config, key).as_posix() for key in FOLDER_KEYS}
    for dest, template in getattr(arguments, _TEMPLATES).items():
        if getattr(arguments, dest) is None:
            setattr(arguments, dest, Path(template.format(**folders)))
    return arguments, config
