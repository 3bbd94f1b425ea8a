"""Shared plumbing for every stage: atomic writes, hashes, logging with timings, the command-line wrapper.

Every output is written to a temporary file in the same folder and renamed into place, so a crash never
leaves a half-written file that make would take for finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pipeline.core import config_reads
from pipeline.core.errors import PipelineError

log = logging.getLogger("pipeline")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise PipelineError(f"{target.parent}: cannot write here ({error.strerror})") from None
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        # mkstemp creates files readable by the owner only; outputs should look like any other file.
        os.chmod(temporary_path, 0o644)
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(target: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces ``target`` when closed without error."""
    with atomic_path(target) as temporary, open(temporary, mode, **kwargs) as handle:
        yield handle


def write_text(target: Path, text: str) -> None:
    with atomic_open(target, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_open(target, "wb") as handle:
        handle.write(data)


def write_json(target: Path, payload: Any) -> None:
    """Write JSON with sorted keys and a final newline, so equal content gives equal bytes."""
    write_text(target, json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")


def write_parquet(frame: Any, target: Path) -> None:
    """Write a data frame as parquet without pandas metadata that could vary between runs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(target) as temporary:
        pq.write_table(table, temporary, compression="zstd", write_statistics=False)


def write_csv(frame: Any, target: Path) -> None:
    with atomic_path(target) as temporary:
        frame.to_csv(temporary, index=False, lineterminator="\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr, force=True)


def run_stage(name: str, main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a stage's command-line entry: time it, and turn a PipelineError into one line and exit 2.

    With ``PIPELINE_RECORD_CONFIG_READS`` set, the config keys the stage read are saved there
    (pipeline.core.config_reads)."""
    setup_logging()
    stage_log = logging.getLogger(f"pipeline.{name}")
    started = time.perf_counter()
    record = config_reads.record_folder()
    try:
        with config_reads.recording() if record else contextlib.nullcontext(set()) as keys:
            main(argv)
        if record:
            config_reads.save(record, name, keys)
    except PipelineError as error:
        print(f"error: {name}: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"error: {name}: interrupted", file=sys.stderr)
        sys.exit(130)
    stage_log.info("done in %.2f s", time.perf_counter() - started)
