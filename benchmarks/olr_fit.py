"""Time one proportional-odds fit (svyolr, tier + region) at 19,012 respondents; prints CPU milliseconds.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/olr_fit.py

The partners' fixture (tests/survey/fixtures/partners.csv) is replicated to 19,012 rows, each copy its own
LSPs, answers jittered. Reports the median CPU time of a cold fit (null-model start), a warm-started fit
(start= a previous fit, as across items) and the analytic-Hessian variant. A measurement, not a test.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.survey import SurveyDesign, svyolr

ROWS = 19_012
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "survey" / "fixtures" / "partners.csv"


def main() -> None:
    partners = pd.read_csv(FIXTURE)
    copies = int(np.ceil(ROWS / len(partners)))
    big = pd.concat(
        [partners.assign(lsp_id=partners["lsp_id"] + f"_{k}") for k in range(copies)], ignore_index=True
    ).iloc[:ROWS]
    rng = np.random.default_rng(1)
    jitter = rng.integers(-1, 2, len(big))
    big["item_ord"] = np.where(big["item_ord"].notna(), np.clip(big["item_ord"] + jitter, 1, 5), np.nan)
    design = SurveyDesign(weights="w", cluster="lsp_id", strata="authority_type").prepare(big)
    terms = ["tier", "region"]
    first = svyolr(design, "item_ord", terms)

    def cpu_ms(fit, repeats: int = 15) -> float:
        times = []
        for _ in range(repeats):
            started = time.process_time()
            fit()
            times.append(time.process_time() - started)
        return 1000 * float(np.median(times))

    print(f"svyolr at {ROWS} rows, median CPU ms:")
    print(f"  cold start        {cpu_ms(lambda: svyolr(design, 'item_ord', terms)):.1f}")
    print(f"  warm start        {cpu_ms(lambda: svyolr(design, 'item_ord', terms, start=first)):.1f}")
    print(f"  analytic Hessian  {cpu_ms(lambda: svyolr(design, 'item_ord', terms, hessian='analytic')):.1f}")


if __name__ == "__main__":
    main()
