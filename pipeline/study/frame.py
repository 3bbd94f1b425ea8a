"""The sampling frame: the one reader every stage, figure and tool uses, with the frame's checks.

The frame is read as text (ids keep their leading zeros) and checked against its schema
(``pipeline.study.schemas.frame_schema``) before anyone uses it, so a broken frame stops the run with one
message naming the file, row and column, wherever it is read.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text
from pipeline.core.paths import PROJECT_ROOT, relative_to_root

log = logging.getLogger("pipeline.study.frame")

# Every stage reads the frame, and checking it meant importing pandera (about 0.6 CPU-s a process) even
# in stages that validate nothing else. A frame that passed is remembered in make's bookkeeping folder,
# keyed by its bytes, the checking code (this module, the schemas and every project module they import,
# listed below and held to the imports by a test) and the pandera and pandas versions: the same bytes
# checked by the same code pass again, so only a frame not seen before is checked, and any edit of the
# file or of the checks is checked afresh.
CHECKED_FRAMES = PROJECT_ROOT / ".make" / "checked-frames"
CHECK_CODE = (
    "study/frame.py",
    "study/schemas.py",
    "study/vocabulary.py",
    "core/codebook.py",
    "core/config_choices.py",
    "core/errors.py",
    "core/yaml_text.py",
)


def read_frame(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the sampling frame as text and check it; a missing, empty, unparseable or invalid file is one
    clear error naming it.

    ``columns`` keeps just those columns, in that order (a stage that reads a few need not hold all 29:
    at Place-Survey size the frame is about 200 MB). A frame already checked is parsed for just those; one
    not seen before is read whole and checked first.
    """
    name = relative_to_root(path)
    stamp = _checked_stamp(path)
    checked = stamp is not None and stamp.is_file()
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            usecols=list(columns) if columns is not None and checked else None,
        )
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
    if not checked:
        check_frame(frame, name)
        if stamp is not None:
            try:
                write_text(stamp, f"{name}: passed its schema\n")
            except (OSError, PipelineError) as error:  # a read-only checkout checks the frame every time
                log.debug("frame check not remembered: %s", error)
    return frame if columns is None else frame[list(columns)]


def _checked_stamp(path: Path) -> Path | None:
    """Where a pass of this frame's bytes under this checking code is remembered (None: unreadable)."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes())
        here = Path(__file__).parent.parent
        for source in CHECK_CODE:
            digest.update(b"\0" + (here / source).read_bytes())
        for package in ("pandera", "pandas"):
            digest.update(f"\0{package} {metadata.version(package)}".encode())
    except (OSError, metadata.PackageNotFoundError):
        return None
    return CHECKED_FRAMES / f"{digest.hexdigest()}.ok"


def check_frame(frame: pd.DataFrame, name: str = "lsp_frame_2008.csv") -> None:
    """Refuse a frame that breaks its schema, naming the first failing rows and columns."""
    from pipeline.study.schemas import failures, frame_schema  # pandera: only when a frame is checked

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
