"""The report's sensitivity statement takes its sizes from the validation's file, never from typed numbers.

docs/methods_validation_informative.csv is written by ``make validate-methods`` (pipeline.checks.
informative_nonresponse): how far maturity-driven nonresponse moves item differences and the primary
tests under the primary weighting. The statement must quote those sizes, apply them to the findings, and
follow the file when it changes; the committed file must be the configured primary weighting's.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.checks.weighting_validation import margins_label
from pipeline.core.config import load_config
from pipeline.core.paths import INFORMATIVE_NONRESPONSE_RESULTS
from pipeline.stages.report import read_table
from pipeline.stages.report_inference import Z_95, maturity_sensitivity_statement, sensitivity_sentence


@pytest.fixture(scope="module")
def sizes() -> pd.DataFrame:
    if not INFORMATIVE_NONRESPONSE_RESULTS.exists():
        pytest.fail(f"{INFORMATIVE_NONRESPONSE_RESULTS} is missing: run make validate-methods")
    return read_table(INFORMATIVE_NONRESPONSE_RESULTS)


def findings(sizes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item findings just either side of the survival line at each simulated move, and primary tests."""
    rows = []
    for _, size in sizes[sizes["quantity"].eq("item differences")].iterrows():
        shift = size["mean_shrinkage_pp"] / 100
        for k, margin in enumerate((-0.02, 0.02, 5.0)):
            rows.append(
                {
                    "test": "difference (design-based t)",
                    "weighting": "weighted",
                    "measure": "agree",
                    "instrument": size["instrument"],
                    "group": size["comparison"].removesuffix(" difference"),
                    "item": f"q{k}",
                    # |estimate| - shift = (1.96 + margin) SE, with SE 0.05
                    "estimate": -(shift + (Z_95 + margin) * 0.05),
                    "se": 0.05,
                    "p_fdr": 0.001,
                }
            )
    comparisons = pd.DataFrame(rows).drop_duplicates(["instrument", "group", "item"])
    primary = pd.DataFrame(
        [
            {
                "instrument": "coordinator",
                "headline": h,
                "outcome": "overall_7s",
                "estimate": 0.3,
                "se": 0.1,
                "df": 165.0,
                "p": 0.003,
            }
            for h in ("tier", "maturity")
        ]
    )
    return comparisons, primary


def test_committed_sizes_are_the_primary_weightings_and_cover_every_strength(sizes):
    spec = load_config().weighting
    assert set(sizes["weighting"]) == {spec.primary}
    assert set(sizes["margins"]) == {margins_label(spec.margins)}
    for strength, group in sizes.groupby("response_log_odds_per_sd"):
        items = group[group["quantity"].eq("item differences")]
        assert len(items) == 4, strength  # coordinators and partners, tier and maturity
        assert group["simulations"].min() >= 20
        assert items["mean_shrinkage_pp"].notna().all()


@pytest.mark.parametrize("strength", [1.0, 2.0])
def test_statement_quotes_the_files_sizes_and_applies_them(sizes, strength):
    sizes = sizes[sizes["response_log_odds_per_sd"].eq(strength)]
    comparisons, primary = findings(sizes)
    statement = maturity_sensitivity_statement(comparisons, primary, sizes)
    items = statement[statement["finding"].str.contains("items")]
    file_items = sizes[sizes["quantity"].eq("item differences")]
    assert len(items) == len(file_items) == 4
    for (_, row), (_, size) in zip(items.iterrows(), file_items.iterrows(), strict=True):
        assert row["moved towards zero"].startswith(f"{size['mean_shrinkage_pp']:.1f} pp on average")
        assert f"{size['largest_item_shrinkage_pp']:.1f} pp for the most moved" in row["moved towards zero"]
        # Of the three findings, the one 0.02 SE outside the line and the one far outside survive the mean
        # move; the one 0.02 SE inside does not.
        assert int(row["still significant"].split(" ")[0]) == 2
    tests = statement[statement["finding"].str.startswith("primary test")]
    assert len(tests) == len(sizes[sizes["quantity"].eq("primary test")])
    for _, row in tests.iterrows():
        effect = row["finding"].split("adjusted ")[1].split(" effect")[0]
        size = sizes[sizes["quantity"].eq("primary test") & sizes["comparison"].eq(f"{effect} difference")]
        assert row["moved towards zero"] == f"{100 * size['relative_shrinkage'].iloc[0]:.0f}% of the effect"
    assert sensitivity_sentence(statement).startswith(
        f"At response odds multiplied by {sizes['response_odds_per_sd'].iloc[0]:.2f} per SD of maturity"
    )


def test_a_rerun_that_changes_the_sizes_changes_the_statement(sizes):
    comparisons, primary = findings(sizes)
    before = maturity_sensitivity_statement(comparisons, primary, sizes)
    larger = sizes.assign(
        mean_shrinkage_pp=sizes["mean_shrinkage_pp"] + 20.0,
        largest_item_shrinkage_pp=sizes["largest_item_shrinkage_pp"] + 20.0,
        relative_shrinkage=sizes["relative_shrinkage"].where(sizes["relative_shrinkage"].isna(), 0.9),
    )
    after = maturity_sensitivity_statement(comparisons, primary, larger)
    assert not before["moved towards zero"].equals(after["moved towards zero"])
    items = after[after["finding"].str.contains("items")]
    # Moved 20 pp more, only the finding far inside the line (5 SE = 25 pp) still survives.
    assert items["still significant"].str.startswith("1 ").all()
    assert (after.loc[after["finding"].str.startswith("primary test"), "still significant"] == "0").all()
