"""The sampling frame: the one reader every stage, figure and tool uses, with the frame's checks.

The frame is read as text (ids keep their leading zeros) and checked against its schema
(``pipeline.study.schemas.frame_schema``) before anyone uses it, so a broken frame stops the run with one
message naming the file, row and column, wherever it is read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.paths import relative_to_root
from pipeline.study.schemas import failures, frame_schema


def read_frame(path: Path) -> pd.DataFrame:
    """Read the sampling frame as text and check it; a missing, empty, unparseable or invalid file is one
    clear error naming it."""
    name = relative_to_root(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise PipelineError(f"{name}: not found") from None
    except IsADirectoryError:
        raise PipelineError(f"{name}: is a folder, not the frame file; check dataset.frame") from None
    except pd.errors.EmptyDataError:
        raise PipelineError(f"{name}: is empty; the frame needs a header and one row per LSP") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        problem = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PipelineError(
            f"{name}: cannot be read as a UTF-8 CSV ({problem}); fix the frame file"
        ) from None
    except OSError as error:
        raise PipelineError(f"{name}: cannot be read ({error.strerror})") from None
    check_frame(frame, name)
    return frame


def check_frame(frame: pd.DataFrame, name: str = "lsp_frame_2008.csv") -> None:
    """Refuse a frame that breaks its schema, naming the first failing rows and columns."""
    frame = frame.reset_index(drop=True)
    if frame.empty:
        raise PipelineError(f"{name}: has no rows; the frame needs one row per LSP")
    found = failures(frame_schema(), frame)
    # The tier/type check spans columns; pandera reports it for each of them: keep the tier cell.
    tier_check = found["check"].eq("tier_matches_authority_type")
    found = found[~tier_check | found["column"].eq("tier")]
    if found.empty:
        return
    if found["index"].isna().any():
        structural = found[found["index"].isna()].iloc[0]
        if structural["check"] == "column_in_dataframe":
            raise PipelineError(f"{name}: column {structural['value']} is missing; fix the frame file")
        raise PipelineError(f"{name}: {structural['check']} ({structural['value']}); fix the frame file")
    found = found.sort_values(["index", "column", "check"], kind="stable")
    described = []
    for _, failure in found.head(3).iterrows():
        position = int(failure["index"])
        lsp = frame.loc[position, "lsp_id"] if "lsp_id" in frame else "?"
        described.append(
            f"row {position + 2} (lsp_id {lsp}) column {failure['column']}: "
            f"{failure['value']!r} fails {failure['check']}"
        )
    more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
    raise PipelineError(f"{name}: {'; '.join(described)}{more}; fix the frame before validating")
