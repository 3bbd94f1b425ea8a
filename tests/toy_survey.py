"""A small random survey in the validated layout, for tests of the stages after validation.

Deliberately simpler than the synthetic generator (pipeline/synthetic/simulate.py), so that the analysis
tests do not depend on the generator's calibration: answers are independent draws, except that multi-tier
coordinators are pushed towards disagreement on every Likert item by ``tier_shift`` (a planted effect the
tests can look for).
"""

from __future__ import annotations

import functools

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


@functools.cache
def toy_analysis(seed: int = 7, tier_shift: float = 1.0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The toy survey through derive and analyse, computed once per test session (treat as read-only)."""
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
