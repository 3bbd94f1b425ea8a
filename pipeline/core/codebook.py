"""The codebook of both instruments, loaded and checked once.

Everything that knows about survey variables asks this module: label maps for ingest, allowed codes and
ranges for the validation schemas, scale membership for derive, labels for tables and figures. Nothing
restates a variable's codes by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.yaml_text import load_yaml

VARIABLE_TYPES = (
    "id",
    "likert5",
    "yes_no",
    "single_choice",
    "multiple_choice",
    "band",
    "count",
    "year",
    "free_text",
)
CODED_TYPES = ("likert5", "yes_no", "single_choice", "multiple_choice", "band")
NUMERIC_TYPES = ("count", "year")
GOVERNANCE_LAYERS = ("strategic", "executive", "operational")
VARIABLE_FIELDS = (
    "name",
    "label",
    "instruments",
    "question",
    "type",
    "value_set",
    "missing",
    "range",
    "required",
    "element",
    "in_scale",
    "governance_layer",
    "reverse",
    "question_group",
    "asked_if",
    "publish",
    "provenance",
    "provenance_note",
)
_PROVENANCE = re.compile(r"^(assumed|para \d+|Figure \d+|Table \d+)$")
_ASKED_IF = re.compile(r"^(?P<variable>[a-z_0-9]+) (?P<op>==|>=) (?P<value>-?\d+)$")


@dataclass(frozen=True)
class Variable:
    """One column of one or both instruments, as the codebook defines it."""

    name: str
    label: str
    instruments: tuple[str, ...]
    question: str
    type: str
    provenance: str
    provenance_note: str
    value_set: str | None = None
    codes: dict[int, str] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)
    range: tuple[int, int] | None = None
    required: bool = False
    element: str | None = None
    in_scale: bool = False
    governance_layer: str | None = None
    reverse: bool = False
    question_group: str | None = None
    asked_if: str | None = None
    publish: bool = True

    @property
    def allowed_codes(self) -> dict[int, str]:
        """Substantive and missing codes together: every value a valid cell may hold."""
        return {**self.codes, **self.missing}

    @property
    def is_coded(self) -> bool:
        return self.type in CODED_TYPES

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_text(self) -> bool:
        return self.type in ("id", "free_text")

    def asked_if_parts(self) -> tuple[str, str, int] | None:
        """The routing condition as (variable, operator, value), or None when always asked."""
        if self.asked_if is None:
            return None
        match = _ASKED_IF.match(self.asked_if)
        assert match is not None  # checked when the codebook was loaded
        return match["variable"], match["op"], int(match["value"])


@dataclass(frozen=True)
class Codebook:
    """The parsed codebook: survey metadata, value sets and variables in questionnaire order."""

    path: Path
    survey: dict[str, Any]
    instruments: dict[str, dict[str, str]]
    elements: dict[str, str]
    element_groups: dict[str, list[str]]
    missing_codes: dict[int, str]
    value_sets: dict[str, dict[int, str]]
    agree_codes: tuple[int, ...]
    variables: tuple[Variable, ...]

    @cached_property
    def by_name(self) -> dict[str, Variable]:
        return {variable.name: variable for variable in self.variables}

    def __getitem__(self, name: str) -> Variable:
        return self.by_name[name]

    def for_instrument(self, instrument: str) -> tuple[Variable, ...]:
        """The variables of one instrument, in questionnaire order."""
        if instrument not in self.instruments:
            raise PipelineError(
                f"unknown instrument {instrument!r}; the codebook has {list(self.instruments)}"
            )
        return tuple(v for v in self.variables if instrument in v.instruments)

    def columns(self, instrument: str) -> list[str]:
        return [v.name for v in self.for_instrument(instrument)]

    def likert_items(self, instrument: str | None = None) -> tuple[Variable, ...]:
        pool = self.variables if instrument is None else self.for_instrument(instrument)
        return tuple(v for v in pool if v.type == "likert5")

    def scale_items(self, element: str, instrument: str | None = None) -> tuple[Variable, ...]:
        """The Likert items that make up one 7S element's scale (for one instrument if given)."""
        return tuple(v for v in self.likert_items(instrument) if v.in_scale and v.element == element)

    def unpublishable(self) -> tuple[str, ...]:
        """Columns that must never reach a published output (ids and free text)."""
        return tuple(v.name for v in self.variables if not v.publish)


def load_codebook(path: Path) -> Codebook:
    """Read and check the codebook; a malformed codebook stops the run with one message."""
    try:
        raw = load_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: codebook not found") from None
    except yaml.YAMLError as error:
        raise PipelineError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    except PipelineError as error:  # a variable or a code given twice
        raise PipelineError(f"{path}: {error}") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: the codebook must be a YAML mapping")
    try:
        return _parse(Path(path), raw)
    except (KeyError, TypeError, ValueError) as error:
        raise PipelineError(f"{path}: malformed codebook ({error})") from None


def _parse(path: Path, raw: dict[str, Any]) -> Codebook:
    problems: list[str] = []
    missing_codes = {int(code): str(label) for code, label in raw["missing_codes"].items()}
    value_sets = {
        name: {int(code): str(label) for code, label in codes.items()}
        for name, codes in raw["value_sets"].items()
    }
    elements = dict(raw["elements"])
    instruments = dict(raw["instruments"])
    variables: list[Variable] = []
    seen: set[str] = set()
    for entry in raw["variables"]:
        name = entry.get("name", "?")
        unknown = set(entry) - set(VARIABLE_FIELDS)
        if unknown:
            problems.append(f"{name}: unknown fields {sorted(unknown)}")
        for required_field in ("label", "instruments", "question", "type", "provenance", "provenance_note"):
            if not entry.get(required_field):
                problems.append(f"{name}: no {required_field}")
        if name in seen:
            problems.append(f"{name}: defined twice")
        seen.add(name)
        variable_type = entry.get("type")
        if variable_type not in VARIABLE_TYPES:
            problems.append(f"{name}: type {variable_type!r} is not one of {VARIABLE_TYPES}")
        if not set(entry.get("instruments", [])) <= set(instruments):
            problems.append(f"{name}: instruments {entry.get('instruments')} not all in {list(instruments)}")
        value_set = entry.get("value_set")
        codes: dict[int, str] = {}
        if variable_type in CODED_TYPES:
            if value_set not in value_sets:
                problems.append(f"{name}: coded type needs a known value_set, got {value_set!r}")
            else:
                codes = value_sets[value_set]
        elif value_set is not None:
            problems.append(f"{name}: type {variable_type} takes no value_set")
        missing = {}
        for code in entry.get("missing", []) or []:
            if int(code) not in missing_codes:
                problems.append(f"{name}: missing code {code} is not declared in missing_codes")
            else:
                missing[int(code)] = missing_codes[int(code)]
        if set(codes) & set(missing):
            problems.append(f"{name}: a code is both substantive and missing")
        value_range = entry.get("range")
        if variable_type in NUMERIC_TYPES:
            if not (
                isinstance(value_range, list) and len(value_range) == 2 and value_range[0] <= value_range[1]
            ):
                problems.append(f"{name}: {variable_type} needs range [min, max]")
            elif set(missing) & set(range(value_range[0], value_range[1] + 1)):
                problems.append(f"{name}: a missing code falls inside the valid range")
        element = entry.get("element")
        if element is not None and element not in elements:
            problems.append(f"{name}: element {element!r} not in {list(elements)}")
        if entry.get("in_scale") and (variable_type != "likert5" or element is None):
            problems.append(f"{name}: only likert5 items with an element can be in a scale")
        layer = entry.get("governance_layer")
        if layer is not None and layer not in GOVERNANCE_LAYERS:
            problems.append(f"{name}: governance_layer {layer!r} not in {GOVERNANCE_LAYERS}")
        provenance = str(entry.get("provenance", ""))
        if not _PROVENANCE.match(provenance):
            problems.append(
                f"{name}: provenance {provenance!r} must be 'assumed', 'para N', 'Figure N' or 'Table N'"
            )
        asked_if = entry.get("asked_if")
        if asked_if is not None:
            match = _ASKED_IF.match(asked_if)
            if match is None or match["variable"] not in seen:
                problems.append(f"{name}: asked_if {asked_if!r} must be '<earlier variable> ==|>= <code>'")
            if -1 not in missing:
                problems.append(
                    f"{name}: a routed item needs the not-applicable code -1 among its missing codes"
                )
        if variable_type == "multiple_choice" and not entry.get("question_group"):
            problems.append(f"{name}: a multiple_choice option needs its question_group")
        variables.append(
            Variable(
                name=name,
                label=str(entry.get("label", "")),
                instruments=tuple(entry.get("instruments", ())),
                question=str(entry.get("question", "")),
                type=str(variable_type),
                provenance=provenance,
                provenance_note=str(entry.get("provenance_note", "")),
                value_set=value_set,
                codes=codes,
                missing=missing,
                range=tuple(value_range) if value_range else None,
                required=bool(entry.get("required", False)),
                element=element,
                in_scale=bool(entry.get("in_scale", False)),
                governance_layer=layer,
                reverse=bool(entry.get("reverse", False)),
                question_group=entry.get("question_group"),
                asked_if=asked_if,
                publish=bool(entry.get("publish", True)),
            )
        )
    if problems:
        raise ValueError("; ".join(problems))
    return Codebook(
        path=path,
        survey=dict(raw["survey"]),
        instruments=instruments,
        elements=elements,
        element_groups=dict(raw.get("element_groups", {})),
        missing_codes=missing_codes,
        value_sets=value_sets,
        agree_codes=tuple(int(code) for code in raw["agree_codes"]),
        variables=tuple(variables),
    )
