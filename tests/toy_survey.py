"""A small random survey in the validated layout, for tests of the stages after validation.

Deliberately simpler than the synthetic generator (pipeline/synthetic/simulate.py), so that the analysis
tests do not depend on the generator's calibration: answers are independent draws, except that multi-tier
coordinators are pushed towards disagreement on every Likert item by ``tier_shift`` (a planted effect the
tests can look for).
"""

from __future__ import annotations

import fcntl
import functools
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.codebook import Codebook
from pipeline.study.frame import read_frame


def toy_validated(
    codebook: Codebook,
    frame: pd.DataFrame,
    seed: int = 1,
    n_coordinators: int = 191,
    n_partners: int = 282,
    tier_shift: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """Validated coordinator and partner tables: every codebook column, ids as strings, codes as Int64."""
    rng = np.random.default_rng(seed)
    lsps = frame["lsp_id"].to_numpy()
    coordinator_lsps = rng.choice(lsps, size=n_coordinators, replace=False)
    partner_lsps = rng.choice(lsps, size=n_partners, replace=True)
    multi = frame.set_index("lsp_id")["tier"].eq("multi")
    tables = {}
    for instrument, lsp_ids, prefix in (
        ("coordinator", coordinator_lsps, "C"),
        ("partner", partner_lsps, "P"),
    ):
        n = len(lsp_ids)
        is_multi = multi.loc[lsp_ids].to_numpy()
        columns: dict[str, object] = {}
        for variable in codebook.for_instrument(instrument):
            if variable.name == "respondent_id":
                columns[variable.name] = pd.array(
                    [f"{prefix}{k:04d}" for k in range(1, n + 1)], dtype="string"
                )
            elif variable.name == "lsp_id":
                columns[variable.name] = pd.array(lsp_ids, dtype="string")
            elif variable.type == "free_text":
                columns[variable.name] = pd.array([pd.NA] * n, dtype="string")
            elif variable.type == "likert5":
                shift = np.where(is_multi & (instrument == "coordinator"), tier_shift, 0.0)
                latent = rng.normal(3.3, 1.1, size=n) - shift
                codes = np.clip(np.rint(latent), 1, 5).astype(int)
                codes[rng.random(n) < 0.05] = -8
                codes[rng.random(n) < 0.03] = -9
                columns[variable.name] = pd.array(codes, dtype="Int64")
            elif variable.codes:
                columns[variable.name] = pd.array(rng.choice(sorted(variable.codes), size=n), dtype="Int64")
            elif variable.range is not None:
                low, high = variable.range
                columns[variable.name] = pd.array(rng.integers(low, high + 1, size=n), dtype="Int64")
            else:
                columns[variable.name] = pd.array(rng.integers(0, 20, size=n), dtype="Int64")
        table = pd.DataFrame(columns)
        for variable in codebook.for_instrument(instrument):
            parts = variable.asked_if_parts()
            if parts is None:
                continue
            condition, operator, value = parts
            codes = table[condition]
            asked = codes.eq(value) if operator == "==" else codes.ge(value)
            table[variable.name] = table[variable.name].where(asked, -1)
        tables[instrument] = table
    return tables


# A folder every process of this test run shares (set by tests/conftest.py): the toy analysis is computed
# by the first process that needs it and read from there by the others (pytest-xdist's workers).
SHARED_FOLDER_ENV = "PYTEST_LSP_SHARED_FOLDER"


@functools.cache
def toy_analysis(seed: int = 7, tier_shift: float = 1.0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The toy survey through derive and analyse, computed once per test run (treat as read-only).

    Under pytest-xdist the first worker to ask computes it (about 6 CPU-s) and leaves a pickle in the run's
    shared folder under a file lock; the other reads it. A pickle keeps every dtype and value exactly."""
    shared = os.environ.get(SHARED_FOLDER_ENV)
    if not shared:
        return _toy_analysis(seed, tier_shift)
    path = Path(shared) / f"toy_analysis-{seed}-{tier_shift!r}.pickle"
    with (Path(shared) / f"{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        computed = _toy_analysis(seed, tier_shift)
        partial = path.with_suffix(".tmp")
        partial.write_bytes(pickle.dumps(computed, protocol=pickle.HIGHEST_PROTOCOL))
        partial.replace(path)
        return computed


def _toy_analysis(seed: int, tier_shift: float) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import load_config
    from pipeline.stages.analyse import analyse
    from pipeline.stages.derive import derive

    config = load_config()
    codebook = load_codebook(config.codebook)
    frame = read_frame(config.frame)
    base, reliability = derive(
        toy_validated(codebook, frame, seed=seed, tier_shift=tier_shift), frame, codebook, config
    )
    tables = analyse(base, frame, codebook, config)
    return base, tables | {"scale_reliability": reliability}
