"""The survey engine against R's survey package on the study's per-item work, same data, same run.

``python benchmarks/engine_vs_r.py [--sizes 191,1901,19012] [--out-dir DIR]`` (with the project on
PYTHONPATH) writes, for each size, a synthetic coordinator survey (stratified by authority type with a
finite population correction, as the study's coordinator design) and times the same work in both:

- for each of 60 Likert items (five categories, about 5% not answered): the proportion agreeing with a
  logit-scale 95% CI in every tier and in every authority type (R: ``svyby(~agree, ~tier, des,
  svyciprop, method = "logit")``), the Rao-Scott F test of the item's categories by tier (R:
  ``svychisq(~item + tier, des, statistic = "F")``) and the proportional-odds regression of the item
  on tier and maturity (R: ``svyolr(factor(item) ~ tier + maturity, des)``);
- the engine twice: the batch path the analysis stage uses (``batch_means`` over all items per domain)
  and the plain per-item path (``svyciprop`` per item and domain).

Each side's time is the CPU time (user + system) of the work alone, measured inside its own process
after its libraries are loaded and the data read: R's ``proc.time()`` and Python's
``time.process_time()``, each around the same loop including the design declaration. The numbers are
compared too (largest differences printed), so a fast wrong answer cannot pass. Prints one JSON
document; ``make bench`` runs it and prints the ratios. Without ``Rscript`` and the survey package it
says so and times the engine alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Before numpy: one BLAS thread per process, as every stage runs (pipeline/__init__.py).
import pipeline  # noqa: F401

# isort: split
import numpy as np
import pandas as pd

R_SCRIPT = Path(__file__).with_name("engine_vs_r.R")
SIZES = (191, 1901, 19012)
ITEMS = 60
SEED = 20080
# The 388 LSPs of 2008 by authority type (the frame's counts); a survey of n respondents is drawn from
# a population of these times ceil(n / 191), allocated in proportion.
AUTHORITY_TYPES = {"county": 34, "district": 238, "unitary": 47, "metropolitan": 36, "london": 33}
MULTI_TIER = {"county", "district"}
MATURITY = ("early", "developing", "mature")


def make_data(n: int, seed: int = SEED) -> pd.DataFrame:
    """A synthetic coordinator survey of ``n`` respondents: strata, fpc, tier, maturity, 60 items."""
    rng = np.random.default_rng(seed + n)
    multiple = -(-n // 191)
    population = {name: count * multiple for name, count in AUTHORITY_TYPES.items()}
    total = sum(population.values())
    exact = {name: n * count / total for name, count in population.items()}
    sample = {name: int(share) for name, share in exact.items()}
    # Largest remainders make the sizes sum to n.
    for name in sorted(exact, key=lambda k: exact[k] - sample[k], reverse=True)[: n - sum(sample.values())]:
        sample[name] += 1
    authority = np.repeat(list(sample), list(sample.values()))
    frame = pd.DataFrame(
        {
            "authority_type": authority,
            "N_h": [population[a] for a in authority],
            "tier": np.where(np.isin(authority, list(MULTI_TIER)), "multi", "single"),
        }
    )
    maturity = rng.choice(len(MATURITY), size=n, p=[0.3, 0.4, 0.3])
    frame["maturity"] = np.asarray(MATURITY)[maturity]
    latent_group = 0.35 * (frame["tier"].eq("single").to_numpy()) + 0.45 * maturity
    cuts = np.array([-1.5, -0.5, 0.6, 1.8])
    for item in range(ITEMS):
        shift = rng.normal(0.0, 0.4)
        latent = latent_group * rng.uniform(0.3, 1.2) + shift + rng.logistic(size=n)
        values = (1 + np.searchsorted(cuts, latent)).astype(float)
        values[rng.random(n) < 0.05] = np.nan
        frame[f"q{item + 1:02d}"] = values
    return frame


def item_names() -> list[str]:
    return [f"q{item + 1:02d}" for item in range(ITEMS)]


def engine_work(data: pd.DataFrame, path: str = "batch") -> dict[str, Any]:
    """The per-item work with the engine; results keyed as the R script writes them."""
    from pipeline.survey import SurveyDesign, svychisq, svyciprop, svyolr
    from pipeline.survey.batch import batch_means, logit_intervals

    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(data)
    items = item_names()
    agree = np.where(data[items].isna(), np.nan, (data[items] >= 4).astype(float))
    cis: dict[str, list[float]] = {}
    for by in ("tier", "authority_type"):
        values = data[by].to_numpy()
        for level in sorted(set(values)):
            mask = values == level
            if path == "batch":
                batch = batch_means(design, agree, mask)
                low, high = logit_intervals(batch.estimate, batch.se, batch.df, 0.95)
                estimates = zip(batch.estimate, low, high, strict=True)
            else:
                estimates = (
                    (fit.estimate, fit.ci_low, fit.ci_high)
                    for fit in (svyciprop(design, agree[:, k], domain=mask) for k in range(len(items)))
                )
            for item, (estimate, low, high) in zip(items, estimates, strict=True):
                cis[f"{item}|{by}|{level}"] = [float(estimate), float(low), float(high)]
    tier = data["tier"].to_numpy()
    tests, odds, fit_seconds = {}, {}, []
    for item in items:
        tests[item] = float(svychisq(design, data[item].to_numpy(), tier).f)
        started = time.process_time()
        fit = svyolr(design, item, ["tier", "maturity"])
        fit_seconds.append(time.process_time() - started)
        odds[item] = [float(value) for value in fit.coefficients.to_numpy()]
    return {"ci": cis, "rao_scott_f": tests, "olr_coefficients": odds, "olr_fit_cpu_seconds": fit_seconds}


def time_engine(data: pd.DataFrame, path: str) -> tuple[float, dict[str, Any]]:
    started = time.process_time()
    results = engine_work(data, path)
    return time.process_time() - started, results


def r_available() -> str | None:
    """None when Rscript with the survey package can run; otherwise why not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    check = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('survey', quietly = TRUE))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if check.returncode == 0 else "R's survey package is not installed"


def time_r(csv: Path, out: Path) -> tuple[float, dict[str, Any]]:
    completed = subprocess.run(
        ["Rscript", str(R_SCRIPT), str(csv), str(out)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"Rscript failed: {completed.stderr.strip().splitlines()[-1:]}")
    results = json.loads(out.read_text(encoding="utf-8"))
    return float(results.pop("cpu_seconds")), results


def largest_differences(engine: dict[str, Any], r: dict[str, Any]) -> dict[str, float]:
    """The largest absolute difference of each kind of result between the engine and R."""

    def gap(key: str) -> float:
        left, right = engine[key], r[key]
        values = [
            abs(float(a) - float(b))
            for name in left
            for a, b in zip(np.atleast_1d(left[name]), np.atleast_1d(right[name]), strict=True)
            if not (np.isnan(float(a)) and np.isnan(float(b)))
        ]
        return max(values) if values else float("nan")

    return {key: gap(key) for key in ("ci", "rao_scott_f", "olr_coefficients")}


def compare_at(n: int, scratch: Path, with_r: bool) -> dict[str, Any]:
    data = make_data(n)
    csv = scratch / f"survey_{n}.csv"
    data.to_csv(csv, index=False, na_rep="NA")
    entry: dict[str, Any] = {"respondents": n, "items": ITEMS}
    entry["engine_batch_cpu_seconds"], batch = time_engine(data, "batch")
    entry["engine_plain_cpu_seconds"], _ = time_engine(data, "plain")
    fits = batch["olr_fit_cpu_seconds"]
    entry["olr_fit_cpu_seconds"] = {"median": statistics.median(fits), "min": min(fits), "max": max(fits)}
    if with_r:
        entry["r_cpu_seconds"], r_results = time_r(csv, scratch / f"r_{n}.json")
        entry["ratio_batch"] = entry["engine_batch_cpu_seconds"] / entry["r_cpu_seconds"]
        entry["ratio_plain"] = entry["engine_plain_cpu_seconds"] / entry["r_cpu_seconds"]
        entry["largest_difference_from_r"] = largest_differences(batch, r_results)
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="respondents, comma-separated")
    arguments = parser.parse_args(argv)
    sizes = [int(part) for part in arguments.sizes.split(",") if part.strip()]
    missing = r_available()
    report: dict[str, Any] = {"r": missing or "available", "sizes": []}
    scratch = Path(tempfile.mkdtemp(prefix="engine-vs-r-"))
    # One untimed pass loads the engine's lazily imported modules, as R has loaded its package.
    engine_work(make_data(min(sizes)))
    try:
        for n in sizes:
            entry = compare_at(n, scratch, with_r=missing is None)
            report["sizes"].append(entry)
            print(f"engine_vs_r: {n} respondents done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
