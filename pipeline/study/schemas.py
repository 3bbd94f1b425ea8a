"""Pandera schemas of the tidy survey tables and of the sampling frame, generated from the codebook.

No code is restated here: the allowed codes, ranges, id patterns and required flags all come from
``data/raw/codebook.yaml``. The survey schemas check the tidy *text* table that ingest writes, before
any numeric conversion, so a label ingest could not translate is reported with its original value.

Check names (the ``check`` column of rejected.csv):
  allowed_codes           a coded cell is not one of the variable's codes (substantive or missing)
  integer                 a count or year is not a whole number
  range_or_missing_code   a count or year is outside its range and not one of its missing codes
  respondent_id_pattern   the id does not match the instrument's respondent_id_pattern
  required                a required coded/numeric variable holds a missing code
  not_nullable            a required id (respondent_id, lsp_id) is empty
  field_uniqueness        respondent_id repeated (validate renames it; see pipeline/stages/validate.py)

Pandera is imported here and in pipeline/stages/validate.py only.
"""

from __future__ import annotations

import functools
import os
import weakref
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.config import ValidationDepth, get_config_context, get_config_global
from pandera.engines import pandas_engine
from pandera.errors import SchemaErrors

from pipeline.core.codebook import Codebook, Variable
from pipeline.core.errors import PipelineError
from pipeline.study.vocabulary import AUTHORITY_TIERS, INSTRUMENTS

FAILURE_COLUMNS = ["index", "column", "check", "value"]
_TRUTHY = ("True", "true", "1")  # what pandera itself accepts as "enabled" (pandera.config)


def _codes_as_text(codes: dict[int, str]) -> list[str]:
    return [str(code) for code in codes]


def _is_integer_text(values: pd.Series) -> pd.Series:
    return values.str.fullmatch(r"-?\d+").fillna(False).astype(bool)


def _as_integers(values: pd.Series) -> pd.Series:
    """Integer text as numbers; anything else (and empty cells) as NA."""
    return pd.to_numeric(values.where(_is_integer_text(values)), errors="coerce")


def valid_cells(values: pd.Series, variable: Variable) -> pd.Series:
    """The cells of a coded or numeric variable's text column that its column schema accepts: an allowed
    code; or integer text within the variable's range, or one of its missing codes."""
    if variable.is_numeric:
        low, high = variable.range or (0, 0)
        valid = _as_integers(values).between(low, high) | values.isin(_codes_as_text(variable.missing))
    else:
        valid = values.isin(_codes_as_text(variable.allowed_codes))
    return valid.fillna(False).astype(bool)


def _in_range_or_missing(variable: Variable) -> pa.Check:
    def check(values: pd.Series) -> pd.Series:
        # Text that is not an integer is the "integer" check's failure: do not report it twice.
        return _as_integers(values).isna() | valid_cells(values, variable)

    return pa.Check(check, name="range_or_missing_code")


def _answered(variable: Variable) -> pa.Check:
    missing = _codes_as_text(variable.missing)
    return pa.Check(lambda values: ~values.isin(missing), name="required")


class TextDtype(pandas_engine.STRING):
    """Pandera's ``"string"`` dtype, with the same contract and the same failures, answered in one word
    where the whole column passes.

    Pandera's check of a column already of pandas' string dtype returns one True per cell, and pandera
    then builds an empty table of failure cases and a message with its printout for every column: half
    of validate's time, spent saying that nothing failed. Here a column that passes as a whole says so
    with ``True``; every other column (wrong storage, object cells that are not all text, numbers) gets
    pandera's own answer, element by element where it gives one, so its failures read as before.
    """

    def check(self, pandera_dtype: Any, data_container: Any = None) -> Any:
        result = super().check(pandera_dtype, data_container)
        if isinstance(result, np.ndarray) and result.all():
            return True
        return result


TEXT = TextDtype()


def column_schema(variable: Variable, id_pattern: str) -> pa.Column:
    """The checks of one codebook variable over its text column."""
    checks: list[pa.Check] = []
    if variable.is_coded:
        checks.append(
            pa.Check.isin(_codes_as_text(variable.allowed_codes), name="allowed_codes", error="allowed_codes")
        )
    elif variable.is_numeric:
        checks.append(pa.Check(_is_integer_text, name="integer"))
        checks.append(_in_range_or_missing(variable))
    elif variable.name == "respondent_id":
        checks.append(
            pa.Check.str_matches(id_pattern, name="respondent_id_pattern", error="respondent_id_pattern")
        )
    if variable.required and not variable.is_text and variable.missing:
        checks.append(_answered(variable))
    return pa.Column(
        TEXT,
        checks=checks,
        # Ingest turns an empty coded or numeric cell into "-9", so only text columns may be <NA>;
        # a required id never.
        nullable=variable.type == "free_text" or (variable.is_text and not variable.required),
        unique=variable.name == "respondent_id",
        required=True,
    )


# One schema per codebook object and instrument: pandera deep-copies every column when a schema is made
# (about 3 ms an instrument, more than checking a small export takes), and validate makes one per
# instrument per run; the property and bad-input tests validate hundreds of small tables. A codebook is
# frozen, and the weak reference makes sure a new codebook at a reused id() gets its own schemas.
_SCHEMAS: dict[tuple[int, str], tuple[weakref.ref, pa.DataFrameSchema]] = {}


def response_schema(codebook: Codebook, instrument: str) -> pa.DataFrameSchema:
    """The schema of one instrument's tidy text table (source columns and extras are not checked).

    Made once per codebook and instrument; callers must not change it (pandera's methods that alter a
    schema return a new one)."""
    key = (id(codebook), instrument)
    cached = _SCHEMAS.get(key)
    if cached is not None and cached[0]() is codebook:
        return cached[1]
    schema = _response_schema(codebook, instrument)
    _SCHEMAS[key] = (weakref.ref(codebook), schema)
    return schema


def _response_schema(codebook: Codebook, instrument: str) -> pa.DataFrameSchema:
    pattern = codebook.instruments[instrument]["respondent_id_pattern"]
    return pa.DataFrameSchema(
        {variable.name: column_schema(variable, pattern) for variable in codebook.for_instrument(instrument)},
        name=f"responses_{instrument}",
        strict=False,
        coerce=False,
    )


def frame_schema() -> pa.DataFrameSchema:
    """The sampling frame, read as text: one row per LSP with a known type, tier and LAA area."""
    non_empty = pa.Check(lambda values: values.str.strip().str.len() > 0, name="non_empty")
    return pa.DataFrameSchema(
        {
            "lsp_id": pa.Column(str, [non_empty], unique=True),
            "authority_name": pa.Column(str, [non_empty]),
            "authority_type": pa.Column(
                str, pa.Check.isin(list(AUTHORITY_TIERS), name="authority_type", error="authority_type")
            ),
            "tier": pa.Column(
                str, pa.Check.isin(sorted(set(AUTHORITY_TIERS.values())), name="tier", error="tier")
            ),
            "region": pa.Column(str, [non_empty]),
            "laa_area_id": pa.Column(str, [non_empty]),
            "laa_round": pa.Column(
                str, pa.Check.isin(["", "1", "2", "3"], name="laa_round", error="laa_round")
            ),
            "case_study_2008": pa.Column(
                str, pa.Check.isin(["true", "false"], name="true_or_false", error="true_or_false")
            ),
        },
        checks=[
            pa.Check(
                lambda frame: frame["tier"].eq(frame["authority_type"].map(AUTHORITY_TIERS)),
                name="tier_matches_authority_type",
            )
        ],
        name="lsp_frame",
        strict=False,
        coerce=False,
    )


def failures(schema: pa.DataFrameSchema, table: pd.DataFrame) -> pd.DataFrame:
    """Every failure of a lazy validation as (index, column, check, value); empty when the table passes.

    A failure that belongs to no row (a missing column, a wrong dtype) has a null index: the caller
    treats it as a structural error, not a rejected row.
    """
    try:
        schema.validate(table, lazy=True)
    except SchemaErrors as error:
        cases = error.failure_cases
        return pd.DataFrame(
            {
                "index": cases["index"].astype("Int64"),
                "column": cases["column"].astype("string"),
                "check": cases["check"].astype("string"),
                "value": cases["failure_case"].astype("string"),
            }
        ).reset_index(drop=True)
    return no_failures()


def no_failures() -> pd.DataFrame:
    """What ``failures`` returns for a table that passes: no lines, the same columns and dtypes."""
    # Empty arrays of the final dtypes: the same frame as empty Series cast afterwards, at an eighth of the
    # cost (validate asks for one per instrument that passes or has no rows).
    columns = {name: pd.array([], dtype="Int64" if name == "index" else "string") for name in FAILURE_COLUMNS}
    return pd.DataFrame(columns, index=pd.RangeIndex(0))


@functools.cache
def _canary_schema() -> pa.DataFrameSchema:
    """A one-column schema the canary table fails: made once (making it is most of the canary's cost), run
    on every call."""
    return pa.DataFrameSchema({"x": pa.Column("string", pa.Check.isin(["1"]))})


def ensure_validation_enabled() -> None:
    """Refuse to run when pandera validation is switched off (environment or runtime config).

    ``PANDERA_VALIDATION_ENABLED`` other than True/true/1, or ``PANDERA_VALIDATION_DEPTH=SCHEMA_ONLY``,
    makes every ``validate`` call a silent no-op for data checks: every row would pass. As a last
    guard, a known-bad table must fail.
    """
    setting = os.environ.get("PANDERA_VALIDATION_ENABLED")
    if setting is not None and setting not in _TRUTHY:
        raise PipelineError(
            f"PANDERA_VALIDATION_ENABLED={setting} switches schema validation off; "
            "the pipeline will not run unvalidated: unset it"
        )
    for config in (get_config_global(), get_config_context()):
        if not config.validation_enabled:
            raise PipelineError(
                "pandera validation is switched off (pandera.config validation_enabled=False); "
                "the pipeline will not run unvalidated"
            )
        if config.validation_depth == ValidationDepth.SCHEMA_ONLY:
            raise PipelineError(
                "pandera validation depth is SCHEMA_ONLY (PANDERA_VALIDATION_DEPTH?), which skips every "
                "data check; unset it"
            )
    if not len(failures(_canary_schema(), pd.DataFrame({"x": pd.array(["2"], dtype="string")}))):
        raise PipelineError("pandera validation does not reject a known-bad table; check the pandera setup")


# ------------------------------------------------------------------------------------------ output tables
# The analysis base and every analysis table are checked against the output registry when written: the
# columns it declares, in its order, and nothing else, each holding the kind of value it says. A wrong
# table is a bug in a stage, stopped before a reader sees it.
def _holds_kind(kind: str) -> pa.Check:
    def check(values: pd.Series) -> bool:
        present = values.dropna()
        if present.empty:
            return True
        if kind == "text":
            return bool(
                pd.api.types.is_string_dtype(values)
                or isinstance(values.dtype, pd.CategoricalDtype)
                or present.map(lambda value: isinstance(value, str)).all()
            )
        if kind == "boolean":
            return bool(
                pd.api.types.is_bool_dtype(values) or present.map(lambda v: isinstance(v, bool)).all()
            )
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            return False
        if kind == "integer":
            return bool((present.astype(float) % 1 == 0).all())
        return True

    return pa.Check(check, name=f"holds_{kind}", error=f"values are not all {kind}")


def output_schema(output: Any, codebook: Codebook) -> pa.DataFrameSchema:
    """The schema of one registered output table (``pipeline.study.outputs.Output``)."""
    columns: dict[str, pa.Column] = {}
    if output.codebook_columns:
        # Stacked as derive stacks them: the first instrument's variables, then the other's own.
        first = [v.name for v in codebook.variables if INSTRUMENTS[0] in v.instruments]
        rest = [v.name for v in codebook.variables if v.name not in first]
        columns |= {name: pa.Column(nullable=True) for name in [*first, *rest]}
    for column in output.columns or ():
        columns[column.name] = pa.Column(checks=[_holds_kind(column.kind)], nullable=column.nullable)
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=output.name)


def check_output(name: str, table: pd.DataFrame, codebook: Codebook) -> None:
    """Stop with one message when a table about to be written breaks its registered schema."""
    from pipeline.study.outputs import tables

    registered = {output.name: output for output in tables(codebook)}
    found = failures(output_schema(registered[name], codebook), table.reset_index(drop=True))
    if not found.empty:
        first = found.iloc[0]
        raise PipelineError(
            f"output {name} breaks its registered schema (pipeline/study/outputs/): column "
            f"{first['column']}: {first['check']} ({first['value']}); {len(found)} failure(s)"
        )
