"""Generate the synthetic CSV fixtures the survey-engine tests run on.

Run from the project root: ``.venv/bin/python tests/survey/make_datasets.py``. The output is
deterministic (one seeded generator), so rerunning it rewrites byte-identical files; the R
reference values in ``fixtures/r_reference.json`` are computed from these CSVs by
``tests/survey/r/make_fixtures.R`` and must be regenerated whenever the CSVs change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = 20080401

# Frame counts N_h (LSPs per authority type) and achieved sample sizes: coordinators n_h (one per
# responding LSP) and partners m_h (LSPs with at least one responding board member).
FRAME = {
    "county": 34,
    "shire_district": 238,
    "metropolitan_district": 36,
    "london_borough": 33,
    "unitary": 47,
}
COORD_N = {
    "county": 20,
    "shire_district": 110,
    "metropolitan_district": 19,
    "london_borough": 17,
    "unitary": 25,
}
PARTNER_M = {
    "county": 14,
    "shire_district": 88,
    "metropolitan_district": 15,
    "london_borough": 14,
    "unitary": 19,
}
SINGLE_TIER = {"metropolitan_district", "london_borough", "unitary"}
REGIONS = np.array(["north", "midlands", "south"])
ROLES = np.array(["public", "private", "voluntary"])


def _ordinal(rng: np.random.Generator, eta: np.ndarray) -> np.ndarray:
    # Latent logistic variable cut at fixed thresholds: a proportional-odds truth.
    cuts = np.array([-2.0, -0.8, 0.4, 1.8])
    latent = eta + rng.logistic(size=eta.shape)
    return 1 + (latent[:, None] > cuts[None, :]).sum(axis=1)


def _with_missing(rng: np.random.Generator, x: np.ndarray, k: int) -> np.ndarray:
    out = x.astype(float)
    out[rng.choice(x.size, size=k, replace=False)] = np.nan
    return out


def coordinators(rng: np.random.Generator) -> pd.DataFrame:
    strata = np.repeat(list(COORD_N), list(COORD_N.values()))
    n = strata.size
    tier = np.where(np.isin(strata, list(SINGLE_TIER)), "single_tier", "two_tier")
    region = rng.choice(REGIONS, size=n, p=[0.35, 0.3, 0.35])
    single = (tier == "single_tier").astype(float)
    north = (region == "north").astype(float)
    south = (region == "south").astype(float)
    eta = 0.7 * single - 0.5 * north + 0.3 * south
    item_bin = (rng.random(n) < 1 / (1 + np.exp(-(0.2 + eta)))).astype(int)
    item_ord = _ordinal(rng, eta)
    score = np.clip(np.round(5 + 1.5 * eta + rng.normal(0, 2, n)), 0, 10)
    return pd.DataFrame(
        {
            "lsp_id": [f"C{i:03d}" for i in range(1, n + 1)],
            "authority_type": strata,
            "N_h": [FRAME[s] for s in strata],
            "tier": tier,
            "region": region,
            "item_bin": _with_missing(rng, item_bin, 5),
            "item_ord": _with_missing(rng, item_ord, 9),
            "score": score,
        }
    )


def partners(rng: np.random.Generator, n_partners: int = 282) -> pd.DataFrame:
    lsp_strata = np.repeat(list(PARTNER_M), list(PARTNER_M.values()))
    m = lsp_strata.size
    # Every LSP has one respondent; the rest are spread unevenly so cluster sizes vary from 1 up.
    sizes = 1 + rng.multinomial(n_partners - m, rng.dirichlet(np.full(m, 1.5)))
    lsp_tier = np.where(np.isin(lsp_strata, list(SINGLE_TIER)), "single_tier", "two_tier")
    lsp_region = rng.choice(REGIONS, size=m, p=[0.35, 0.3, 0.35])
    lsp_effect = rng.normal(0, 0.8, m)  # shared within an LSP: makes the clustering matter
    idx = np.repeat(np.arange(m), sizes)
    n = idx.size
    strata = lsp_strata[idx]
    role = rng.choice(ROLES, size=n, p=[0.5, 0.2, 0.3])
    eta = (
        0.6 * (lsp_tier[idx] == "single_tier")
        - 0.4 * (lsp_region[idx] == "north")
        + 0.5 * (role == "public")
        + lsp_effect[idx]
    )
    item_bin = (rng.random(n) < 1 / (1 + np.exp(-(-0.1 + eta)))).astype(int)
    item_ord = _ordinal(rng, eta)
    w = np.array([FRAME[s] / PARTNER_M[s] for s in strata])
    return pd.DataFrame(
        {
            "respondent_id": [f"R{i:03d}" for i in range(1, n + 1)],
            "lsp_id": [f"P{j:03d}" for j in idx + 1],
            "authority_type": strata,
            "N_h": [FRAME[s] for s in strata],
            "w": w,
            "tier": lsp_tier[idx],
            "region": lsp_region[idx],
            "role": role,
            "item_bin": _with_missing(rng, item_bin, 6),
            "item_ord": _with_missing(rng, item_ord, 10),
        }
    )


def lonely(rng: np.random.Generator) -> pd.DataFrame:
    """A small clustered design with one single-PSU stratum and degenerate domains.

    Stratum ``B`` has one PSU (the lonely-PSU rules differ there); in domain ``grp == "g3"`` the
    item is always 1 and in ``grp == "g4"`` always 0; domain ``g4`` touches a single PSU of stratum
    ``C`` although ``C`` has four (a lonely PSU inside a domain only).
    """
    psus = {"A": 3, "B": 1, "C": 4, "D": 2}
    popsize = {"A": 10, "B": 5, "C": 12, "D": 6}
    rows = []
    k = 0
    for h, n_psu in psus.items():
        for j in range(n_psu):
            k += 1
            for _ in range(int(rng.integers(2, 5))):
                rows.append((h, f"{h}{j + 1}", popsize[h], popsize[h] / n_psu))
    df = pd.DataFrame(rows, columns=["stratum", "psu", "N_h", "w"])
    n = len(df)
    df["y"] = (rng.random(n) < 0.45).astype(int)
    df["x"] = np.round(rng.normal(10, 3, n), 1)
    grp = rng.choice(np.array(["g1", "g2"]), size=n)
    grp[df["psu"].to_numpy() == "D1"] = "g3"
    grp[df["psu"].to_numpy() == "C2"] = "g4"
    df["grp"] = grp
    df.loc[df["grp"] == "g3", "y"] = 1
    df.loc[df["grp"] == "g4", "y"] = 0
    return df


def lsp_scores(rng: np.random.Generator) -> pd.DataFrame:
    """A continuous frame variable (an IMD-like score, higher in single-tier areas) for every LSP of the
    coordinator and partner fixtures, for calibration on numeric totals."""
    coordinator_types = np.repeat(list(COORD_N), list(COORD_N.values()))
    partner_types = np.repeat(list(PARTNER_M), list(PARTNER_M.values()))
    ids = [f"C{i:03d}" for i in range(1, coordinator_types.size + 1)]
    ids += [f"P{j:03d}" for j in range(1, partner_types.size + 1)]
    types = np.concatenate([coordinator_types, partner_types])
    base = np.where(np.isin(types, list(SINGLE_TIER)), 27.0, 16.0)
    return pd.DataFrame(
        {"lsp_id": ids, "imd_score": np.round(base * np.exp(rng.normal(0, 0.4, types.size)), 2)}
    )


def main() -> None:
    rng = np.random.default_rng(SEED)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    coordinators(rng).to_csv(FIXTURES / "coordinators.csv", index=False)
    partners(rng).to_csv(FIXTURES / "partners.csv", index=False)
    lonely(rng).to_csv(FIXTURES / "lonely.csv", index=False)
    # Its own generator, so the files above stay byte-identical.
    lsp_scores(np.random.default_rng([SEED, 1])).to_csv(FIXTURES / "lsp_scores.csv", index=False)


if __name__ == "__main__":
    main()
