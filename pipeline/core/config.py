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

from pipeline.core.config_choices import INSTRUMENTS, MATURITY_DEFINITIONS
from pipeline.core.config_reads import WHOLE_FILE, RecordsReads
from pipeline.core.errors import PipelineError
from pipeline.core.paths import PROJECT_ROOT, relative_to_root
from pipeline.core.weighting_spec import METHODS as WEIGHTING_METHODS
from pipeline.core.weighting_spec import REPLICATE_CHECK_MAX_LSPS, WeightingSpec
from pipeline.core.yaml_text import load_yaml

DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"
INPUT_FORMATS = ("csv", "xlsx", "xls", "ods", "sav", "dta", "por")
# A compressed export (.csv.gz, .zip) is named by what it holds; ingest opens the container.
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".zip": "csv",
    ".xlsx": "xlsx",
    ".xls": "xls",
    ".ods": "ods",
    ".sav": "sav",
    ".zsav": "sav",
    ".dta": "dta",
    ".por": "por",
}
_FORMAT_ALIASES = {"zsav": "sav", "tsv": "csv", "txt": "csv"}

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
    "weighting": (dict, True),
    "models": (dict, False),
    "release": (dict, False),
}
# The publication's release metadata, shown on the report and the spreadsheets' cover (all text).
_RELEASE = {"date": (str, True), "status": (str, True), "contact": (str, True), "next_update": (str, True)}
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
    "extra_header_rows": (int, False, (0, None)),
    "column_map": (dict, False),
    # true: a codebook column absent from the export stops the run (default: not answered, one line each)
    "require_every_column": (bool, False),
    # true: merged cells in a workbook's data area take the merged value, one line per cell (default: stop)
    "fill_merged_cells": (bool, False),
}
_SYNTHETIC = {
    "seed": (int, True, (0, 2**32 - 1)),
    # One coordinator per LSP: at most the frame's 388.
    "n_coordinators": (int, True, (1, 388)),
    "n_partners": (int, True, (1, None)),
    "out_dir": (str, True),
}
_SEEDS = {
    "methods_validation": (int, True, (0, 2**32 - 1)),
    "weighting_bootstrap": (int, False, (0, 2**32 - 1)),
}
# Below 1, disclosure control would silently publish every cell.
_DISCLOSURE = {"min_cell": (int, True, (1, None))}
_MATURITY = {
    "primary": (str, True),
    "alternatives": (list, True),
    "mature_min_years": (int, True, (1, 100)),
}
_WEIGHTING = {
    "primary": (str, True),
    "alternatives": (list, True),
    "margins": (list, True),
    "bounds": ((list, type(None)), True),
    "trim": ((list, type(None)), True),
    "min_cell_respondents": (int, True, (1, None)),
    "bootstrap_replicates": (int, True, (2, None)),
    # Above this many frame LSPs the replicate check runs on a seeded random subsample of them.
    "replicate_check_max_lsps": (int, False, (100, None)),
    # true, false or "leverage" (the correction unit by unit; pipeline.survey.calibration.calibrate)
    "variance_df_adjustment": ((bool, str), True),
    "unit_fpc": (bool, True),
    # design (R's degrees of freedom) or bell_mccaffrey (each estimate's own; pipeline.survey.small_sample)
    "interval_df": (str, False),
}
# Frame variables a margin may name (pipeline.study.weighting.frame_variables); the last three are
# numeric: their totals are calibrated within the margin's cells.
WEIGHTING_MARGIN_COLUMNS = (
    *("authority_type", "tier", "region", "laa_round", "imd_band", "case_study"),
    *("imd_score", "pct_most_deprived", "lsoa_count"),
)
_MODELS = {
    "primary": (dict, True),
    # Rubin's rules need a between-imputation variance: two imputations at least.
    "imputations": (int, True, (2, 1000)),
    "imputation_seed": (int, True, (0, 2**32 - 1)),
    "variance_df_adjustment": (bool, True),
}
_PRIMARY_TEST = {"instrument": (str, True), "outcome": (str, True)}
# The two headlines, each with one pre-specified primary test (docs/models.md).
PRIMARY_HEADLINES = ("tier", "maturity")
# overall_7s: the adjusted effect on the mean of the seven 7S scale scores (a t test);
# joint_7s: the adjusted effects on the seven scale scores tested jointly (a Wald F).
PRIMARY_OUTCOMES = ("overall_7s", "joint_7s")
# Used when config.yaml has no `models` block.
DEFAULT_MODELS = {
    "primary": {
        "tier": {"instrument": "coordinator", "outcome": "overall_7s"},
        "maturity": {"instrument": "coordinator", "outcome": "overall_7s"},
    },
    "imputations": 20,
    "imputation_seed": 20090501,
    "variance_df_adjustment": True,
}
SECTIONS = {
    "config": _TOP_LEVEL,
    "dataset": _DATASET,
    "dataset.inputs[]": _INPUT,
    "synthetic": _SYNTHETIC,
    "seeds": _SEEDS,
    "disclosure": _DISCLOSURE,
    "maturity": _MATURITY,
    "weighting": _WEIGHTING,
    "models": _MODELS,
    "models.primary.tier": _PRIMARY_TEST,
    "models.primary.maturity": _PRIMARY_TEST,
    "release": _RELEASE,
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
    # Rows under the header that are not respondents (a survey tool's question-text or option rows);
    # None: detect the SurveyMonkey and Qualtrics layouts.
    extra_header_rows: int | None = None
    require_every_column: bool = False
    fill_merged_cells: bool = False


@dataclass(frozen=True)
class PrimaryTest:
    """The pre-specified primary test of one headline."""

    headline: str  # tier | maturity
    instrument: str  # coordinator | partner
    outcome: str  # overall_7s | joint_7s


@dataclass(frozen=True)
class Config(RecordsReads):
    """The validated configuration, with absolute paths. Reading a field records the config keys it comes
    from (``CONFIG_KEYS``; pipeline.core.config_reads), which is how make knows what each stage reads."""

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
    weighting: WeightingSpec | None = None  # the weighting: section
    primary_tests: tuple[PrimaryTest, ...] = ()
    imputations: int = DEFAULT_MODELS["imputations"]
    imputation_seed: int = DEFAULT_MODELS["imputation_seed"]
    model_df_adjustment: bool = DEFAULT_MODELS["variance_df_adjustment"]
    # The release: block (date, status, contact, next update), or None when the config has none.
    release: dict[str, str] | None = None

    @property
    def maturity_definitions(self) -> tuple[str, ...]:
        """The primary definition first, then the alternatives."""
        return (self.maturity_primary, *self.maturity_alternatives)


# The config.yaml keys behind each field of Config: what reading the field records. The weighting record
# notes its own fields' keys (pipeline.core.weighting_spec); the path of the file and its parsed text stand
# for the whole file.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "source": (WHOLE_FILE,),
    "raw": (WHOLE_FILE,),
    "synthetic_data": ("dataset.synthetic",),
    "frame": ("dataset.frame",),
    "codebook": ("dataset.codebook",),
    "published_figures": ("dataset.published_figures",),
    "published_targets": ("dataset.published_targets",),
    "inputs": ("dataset.inputs",),
    "synthetic_seed": ("synthetic.seed",),
    "n_coordinators": ("synthetic.n_coordinators",),
    "n_partners": ("synthetic.n_partners",),
    "synthetic_dir": ("synthetic.out_dir",),
    "methods_validation_seed": ("seeds.methods_validation",),
    "processed_dir": ("processed_dir",),
    "analysis_dir": ("analysis_dir",),
    "figures_dir": ("figures_dir",),
    "min_cell": ("disclosure.min_cell",),
    "maturity_primary": ("maturity.primary",),
    "maturity_alternatives": ("maturity.alternatives",),
    "mature_min_years": ("maturity.mature_min_years",),
    "primary_tests": ("models.primary",),
    "imputations": ("models.imputations",),
    "imputation_seed": ("models.imputation_seed",),
    "model_df_adjustment": ("models.variance_df_adjustment",),
    "release": ("release",),
}
Config._config_keys = CONFIG_KEYS


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
        wrong_bool = isinstance(value, bool) and bool not in (
            expected if isinstance(expected, tuple) else (expected,)
        )
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
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{name}: not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{name}: cannot be read ({error})") from None
    except yaml.YAMLError as error:
        # PyYAML's message spans several lines; the run stops with one.
        raise PipelineError(f"{name}: not valid YAML ({' '.join(str(error).split())})") from None
    except PipelineError as error:  # a key given twice
        raise PipelineError(f"{name}: {error}") from None
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
    weighting = _parse_weighting(raw["weighting"], raw["seeds"])
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
        suffixes = [suffix.lower() for suffix in input_path.suffixes]
        if suffixes and suffixes[-1] == ".gz":
            suffixes = suffixes[:-1] or [".csv"]
        file_format = entry.get("format") or _FORMAT_BY_SUFFIX.get(suffixes[-1] if suffixes else "")
        file_format = _FORMAT_ALIASES.get(file_format, file_format)
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
                extra_header_rows=entry.get("extra_header_rows"),
                require_every_column=entry.get("require_every_column", False),
                fill_merged_cells=entry.get("fill_merged_cells", False),
            )
        )
    if not inputs:
        raise PipelineError("config: dataset.inputs lists no input file")
    models = _parse_models(raw.get("models", DEFAULT_MODELS))
    if "release" in raw:
        _check(raw["release"], _RELEASE, "release")
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
        weighting=weighting,
        release=dict(raw["release"]) if "release" in raw else None,
        **models,
    )


def _bounds(value: Any, key: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise PipelineError(f"config: weighting.{key} must be null or [lower, upper], got {value!r}")
    lower, upper = float(value[0]), float(value[1])
    if not 0 <= lower < 1 < upper:
        raise PipelineError(f"config: weighting.{key} must satisfy 0 <= lower < 1 < upper, got {value!r}")
    return lower, upper


def _parse_weighting(section: Any, seeds: dict[str, Any]) -> WeightingSpec:
    _check(section, _WEIGHTING, "weighting")
    for method in (section["primary"], *section["alternatives"]):
        if method not in WEIGHTING_METHODS:
            raise PipelineError(
                f"config: weighting method {method!r} is not one of {', '.join(WEIGHTING_METHODS)}"
            )
    margins = []
    for margin in section["margins"]:
        columns = [margin] if isinstance(margin, str) else margin
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise PipelineError(
                f"config: weighting.margins entries must be a column or a list of columns, got {margin!r}"
            )
        for column in columns:
            if column not in WEIGHTING_MARGIN_COLUMNS:
                allowed = ", ".join(WEIGHTING_MARGIN_COLUMNS)
                raise PipelineError(f"config: weighting margin column {column!r} is not one of {allowed}")
        margins.append(tuple(columns))
    if section["variance_df_adjustment"] not in (True, False, "leverage"):
        raise PipelineError("config: weighting.variance_df_adjustment must be true, false or leverage")
    interval_df = section.get("interval_df", "design")
    if interval_df not in ("design", "bell_mccaffrey"):
        raise PipelineError("config: weighting.interval_df must be design or bell_mccaffrey")
    bounds, trim = _bounds(section["bounds"], "bounds"), _bounds(section["trim"], "trim")
    if "logit" in (section["primary"], *section["alternatives"]) and bounds is None:
        raise PipelineError("config: weighting.bounds are required for the logit weighting")
    return WeightingSpec(
        primary=section["primary"],
        alternatives=tuple(section["alternatives"]),
        margins=tuple(margins),
        bounds=bounds,
        trim=trim,
        min_cell_respondents=section["min_cell_respondents"],
        bootstrap_replicates=section["bootstrap_replicates"],
        replicate_check_max_lsps=section.get("replicate_check_max_lsps", REPLICATE_CHECK_MAX_LSPS),
        variance_df_adjustment=section["variance_df_adjustment"],
        unit_fpc=section["unit_fpc"],
        interval_df=interval_df,
        seed=seeds.get("weighting_bootstrap", 20080402),
    )


def _parse_models(models: Any) -> dict[str, Any]:
    """The `models` block: one primary test per headline, and the imputation settings."""
    _check(models, _MODELS, "models")
    _check(models["primary"], {h: (dict, True) for h in PRIMARY_HEADLINES}, "models.primary")
    tests = []
    for headline in PRIMARY_HEADLINES:
        entry = models["primary"][headline]
        where = f"models.primary.{headline}"
        _check(entry, _PRIMARY_TEST, where)
        if entry["instrument"] not in INSTRUMENTS:
            raise PipelineError(f"config: {where}.instrument must be coordinator or partner")
        if entry["outcome"] not in PRIMARY_OUTCOMES:
            raise PipelineError(f"config: {where}.outcome must be one of {', '.join(PRIMARY_OUTCOMES)}")
        tests.append(PrimaryTest(headline, entry["instrument"], entry["outcome"]))
    return {
        "primary_tests": tuple(tests),
        "imputations": models["imputations"],
        "imputation_seed": models["imputation_seed"],
        "model_df_adjustment": models["variance_df_adjustment"],
    }


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
    for dest, template in getattr(arguments, _TEMPLATES).items():
        if getattr(arguments, dest) is None:
            # Only the folders the default names are read: a stage that never writes under figures_dir
            # does not depend on it (pipeline.core.config_reads).
            used = {key for key in FOLDER_KEYS if f"{{{key}}}" in template}
            folders = {key: getattr(config, key).as_posix() for key in used}
            setattr(arguments, dest, Path(template.format(**folders)))
    return arguments, config
