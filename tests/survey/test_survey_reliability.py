"""Cronbach's alpha (pipeline/survey/reliability.py) against R (r/make_alpha_fixture.R writes the fixture)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.survey.reliability import cronbach_alpha

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "r_alpha.json").read_text())
ITEMS = pd.read_csv(FIXTURES / "cfa_items.csv")


def test_fixture_is_from_the_committed_items():
    assert hashlib.md5((FIXTURES / "cfa_items.csv").read_bytes()).hexdigest() == REFERENCE["meta"]["csv_md5"]


def _case_items(case: dict) -> pd.DataFrame:
    """The case's items and rows as R scored them."""
    rows = ITEMS if case["group"] == "all" else ITEMS[ITEMS["group"] == case["group"]]
    items = rows[case["items"]].astype(float).reset_index(drop=True)
    if case["blanked"]:
        # R blanks every fifth row of the first item and every seventh of the second (from rows 1 and 2).
        items.iloc[:: case["blanked"][0], 0] = np.nan
        items.iloc[1 :: case["blanked"][1], 1] = np.nan
    return items


@pytest.mark.parametrize(
    "case", REFERENCE["cases"], ids=lambda c: f"{c['scale']}-{c['group']}-{c['blanked']}"
)
def test_alpha_matches_r(case):
    alpha, n_complete = cronbach_alpha(_case_items(case))
    assert n_complete == case["n_complete"]
    assert alpha == pytest.approx(case["alpha"], rel=1e-12)


def test_alpha_is_undefined_without_two_items_or_two_complete_respondents():
    one_item = ITEMS[["scs_shared_vision"]]
    assert np.isnan(cronbach_alpha(one_item)[0])
    assert np.isnan(cronbach_alpha(ITEMS.iloc[:1, :4])[0])


@pytest.mark.parametrize(
    "case", REFERENCE["cases"], ids=lambda c: f"{c['scale']}-{c['group']}-{c['blanked']}"
)
def test_a_float_matrix_gives_the_frames_alpha_to_the_bit(case):
    # The derive stage passes its NaN matrix; the frame path is the one checked against R above.
    items = _case_items(case)
    from_frame = cronbach_alpha(items)
    from_matrix = cronbach_alpha(items.to_numpy())
    assert from_matrix[1] == from_frame[1]
    assert np.float64(from_matrix[0]).tobytes() == np.float64(from_frame[0]).tobytes()
    assert np.isnan(cronbach_alpha(items.to_numpy()[:1])[0])
