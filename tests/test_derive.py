"""Derive stage: frame joins, reversed scale items, Cronbach's alpha and the maturity definitions."""

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.stages.derive import derive
from pipeline.study.scales import scale_items
from pipeline.study.vocabulary import (
    COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES,
    LESS_MATURE,
    MORE_MATURE,
    maturity_column,
    scale_column,
)


def _responses(codebook, instrument, rows):
    """A validated table: every codebook column, 'not answered' unless the row says otherwise."""
    table = {}
    for variable in codebook.for_instrument(instrument):
        if variable.is_text:
            table[variable.name] = pd.array([row.get(variable.name) for row in rows], dtype="string")
        else:
            table[variable.name] = pd.array([row.get(variable.name, -9) for row in rows], dtype="Int64")
    return pd.DataFrame(table)


def _all_items(codebook, value):
    return {v.name: value for v in codebook.likert_items()}


@pytest.fixture(scope="module")
def derived(codebook, frame, config):
    coordinators = _responses(
        codebook,
        "coordinator",
        [
            # Bolton: metropolitan district, stage 4, joint working since 1995, agrees with everything.
            {
                "respondent_id": "C0001",
                "lsp_id": "00BL",
                "development_stage": 4,
                "joint_working_year": 1995,
                **_all_items(codebook, 4),
            },
            # Bedfordshire: county, stage 1, began 2005, disagrees with everything.
            {
                "respondent_id": "C0002",
                "lsp_id": "09",
                "development_stage": 1,
                "joint_working_year": 2005,
                **_all_items(codebook, 2),
            },
            {"respondent_id": "C0003", "lsp_id": "00EX", "development_stage": -8, "joint_working_year": -9},
        ],
    )
    partners = _responses(
        codebook,
        "partner",
        [
            {"respondent_id": "P0001", "lsp_id": "00BL", **_all_items(codebook, 5)},
            {"respondent_id": "P0002", "lsp_id": "09", **_all_items(codebook, 3)},
            {"respondent_id": "P0003", "lsp_id": "00EX"},
            {"respondent_id": "P0004", "lsp_id": "00AA"},  # City of London: its coordinator did not answer
        ],
    )
    return derive({"coordinator": coordinators, "partner": partners}, frame, codebook, config)


def test_frame_variables_are_joined(derived):
    base, _ = derived
    bolton = base[base["lsp_id"] == "00BL"]
    assert set(bolton["authority_type"]) == {"metropolitan_district"}
    assert set(bolton["tier"]) == {"single"}
    assert set(base.loc[base["lsp_id"] == "09", "tier"]) == {"multi"}
    assert len(base) == 7


def test_reverse_worded_items_are_flipped_in_the_scale(derived, codebook):
    base, _ = derived
    # All items answered 4 (agree): the reversed item contributes 2, so a 4-item scale with one
    # reversed item averages (4 + 4 + 4 + 2) / 4 = 3.5.
    bolton = base[base["respondent_id"] == "C0001"].iloc[0]
    for element in codebook.elements:
        items = scale_items(codebook, element, "coordinator")
        expected = np.mean([2 if v.reverse else 4 for v in items])
        assert bolton[scale_column(element)] == pytest.approx(expected)


def test_a_scale_needs_half_its_items(derived):
    base, _ = derived
    unanswered = base[base["respondent_id"] == "C0003"].iloc[0]
    assert pd.isna(unanswered[scale_column("style")])


def test_development_stage_maturity_is_inherited_by_partners(derived):
    base, _ = derived
    maturity = base.set_index("respondent_id")[maturity_column("development_stage")]
    assert maturity["C0001"] == MORE_MATURE and maturity["P0001"] == MORE_MATURE
    assert maturity["C0002"] == LESS_MATURE and maturity["P0002"] == LESS_MATURE
    assert pd.isna(maturity["C0003"]) and pd.isna(maturity["P0003"])  # don't know
    assert pd.isna(maturity["P0004"])  # no coordinator answer for that LSP


def test_years_of_joint_working_maturity(derived):
    base, _ = derived
    maturity = base.set_index("respondent_id")[maturity_column("years_joint_working")]
    assert maturity["C0001"] == MORE_MATURE  # 13 years by 2008
    assert maturity["C0002"] == LESS_MATURE  # 3 years
    assert pd.isna(maturity["C0003"])


def test_first_round_laa_maturity_comes_from_the_frame_for_everyone(derived, frame):
    base, _ = derived
    first_round = set(frame.loc[frame["laa_round"] == "1", "lsp_id"])
    expected = base["lsp_id"].isin(first_round).map({True: MORE_MATURE, False: LESS_MATURE})
    assert base[maturity_column("laa_first_round")].tolist() == expected.tolist()


def test_composite_maturity_excludes_the_element_compared(derived, codebook):
    base, _ = derived
    for element in codebook.elements:
        column = maturity_column("composite_other_elements", element)
        by_id = base.set_index("respondent_id")[column]
        assert by_id["C0001"] == MORE_MATURE and by_id["C0002"] == LESS_MATURE
    # An outcome outside the 7S scales is split by the one declared composite, not by a guess per caller.
    assert maturity_column("composite_other_elements") == maturity_column(
        "composite_other_elements", COMPOSITE_ELEMENT_FOR_OTHER_OUTCOMES
    )


def test_without_a_coordinator_composite_no_lsp_is_split(codebook, frame, config):
    """No coordinator answered enough to score the other elements: there is no median to split at, so
    every respondent's composite maturity is unknown, not "less mature"."""
    coordinators = _responses(
        codebook, "coordinator", [{"respondent_id": "C0001", "lsp_id": "00BL", "development_stage": 4}]
    )
    partners = _responses(
        codebook, "partner", [{"respondent_id": "P0001", "lsp_id": "00BL", **_all_items(codebook, 5)}]
    )
    base, _ = derive({"coordinator": coordinators, "partner": partners}, frame, codebook, config)
    for element in codebook.elements:
        assert base[maturity_column("composite_other_elements", element)].isna().all(), element


def test_reliability_table_has_every_scale_for_each_instrument(derived, codebook):
    _, reliability = derived
    assert len(reliability) == 2 * len(codebook.elements)
    assert (reliability["n_items"] >= 3).all()


def test_derive_does_not_change_its_inputs(codebook, frame, config):
    coordinators = _responses(codebook, "coordinator", [{"respondent_id": "C0001", "lsp_id": "00BL"}])
    partners = _responses(codebook, "partner", [{"respondent_id": "P0001", "lsp_id": "00BL"}])
    before = coordinators.copy(), partners.copy()
    derive({"coordinator": coordinators, "partner": partners}, frame, codebook, config)
    pd.testing.assert_frame_equal(coordinators, before[0])
    pd.testing.assert_frame_equal(partners, before[1])


def _one_coordinator_each(codebook, lsp_ids):
    coordinators = _responses(
        codebook,
        "coordinator",
        [
            {"respondent_id": f"C{n:04d}", "lsp_id": lsp, "development_stage": 3}
            for n, lsp in enumerate(lsp_ids)
        ],
    )
    partners = _responses(codebook, "partner", [{"respondent_id": "P0001", "lsp_id": lsp_ids[0]}])
    return {"coordinator": coordinators, "partner": partners}


def test_responses_naming_an_lsp_outside_the_frame_stop_in_one_line(codebook, frame, config):
    with pytest.raises(PipelineError, match="responses name LSPs not in the frame: NOPE"):
        derive(_one_coordinator_each(codebook, ["00BL", "NOPE"]), frame, codebook, config)


def test_a_frame_listing_an_lsp_twice_stops_in_one_line(codebook, frame, config):
    twice = pd.concat([frame, frame[frame["lsp_id"] == "09"]], ignore_index=True)
    with pytest.raises(PipelineError, match="the frame lists LSPs more than once: 09"):
        derive(_one_coordinator_each(codebook, ["00BL"]), twice, codebook, config)


def test_two_coordinator_rows_for_one_lsp_stop_in_one_line(codebook, frame, config):
    # Validation keeps one coordinator per LSP; derive refuses rather than pick one's maturity.
    with pytest.raises(PipelineError, match="LSPs with more than one coordinator row: 09"):
        derive(_one_coordinator_each(codebook, ["00BL", "09", "09"]), frame, codebook, config)
