"""The codebook: complete for every item the report names, and strict about its own shape."""

from pathlib import Path

import pytest
import yaml

from pipeline.core.codebook import CODED_TYPES, load_codebook
from pipeline.core.config import load_config
from pipeline.core.errors import PipelineError
from pipeline.study.vocabulary import INSTRUMENTS

# Every survey item the report digest names, with the codebook variable that carries it and the
# provenance it must cite.
REPORT_ITEMS = {
    "members_challenge_performance": "para 57",
    "receive_performance_info": "para 58",
    "understand_performance_info": "para 58",
    "confident_using_info": "para 58",
    "para59_item": "para 59",
    "influence_financial_resources": "Figure 12",
    "resources_mapped": "para 94",
    "barrier_information_quality": "Figure 16",
    "support_team_partner_staff": "para 128",
    "research_budget_band": "para 128",
    "research_budget_joint": "para 128",
    "support_costs_known": "Figure 17",
    "chair_type": "Table 3",
    "layer_strategic_forum": "para 44",
    "layer_executive_board": "para 44",
    "layer_theme_groups": "para 44",
    "development_stage": "Figure 2",
    "joint_working_year": "para 16",
}


@pytest.mark.parametrize(("name", "provenance"), REPORT_ITEMS.items())
def test_every_item_the_report_names_is_in_the_codebook(codebook, name, provenance):
    assert codebook[name].provenance == provenance


def test_challenge_is_asked_of_both_instruments_and_para58_of_partners(codebook):
    assert codebook["members_challenge_performance"].instruments == INSTRUMENTS
    assert codebook["influence_financial_resources"].instruments == INSTRUMENTS
    for name in ("receive_performance_info", "understand_performance_info", "confident_using_info"):
        assert "partner" in codebook[name].instruments


def test_chair_has_table_3s_eight_categories(codebook):
    assert list(codebook["chair_type"].codes.values()) == [
        "Council leader or elected mayor",
        "Other cabinet member",
        "Council officer",
        "Other public-sector manager",
        "Private sector",
        "Faith representative",
        "Third-sector representative",
        "Other",
    ]


def test_development_stage_has_the_four_stages_in_order(codebook):
    assert list(codebook["development_stage"].codes.values()) == [
        "Networking",
        "Coordination",
        "Cooperation",
        "Collaboration",
    ]


def test_the_three_governance_layers_are_covered(codebook):
    layers = {v.governance_layer for v in codebook.variables if v.question_group == "governance_layers"}
    assert layers == {"strategic", "executive", "operational"}


def test_partner_sectors(codebook):
    assert set(codebook["partner_sector"].codes.values()) >= {
        "Council",
        "Health",
        "Police",
        "Fire and rescue",
        "Jobcentre Plus",
        "Voluntary and community sector",
        "Business",
        "Faith",
        "Other",
    }


@pytest.mark.parametrize("instrument", list(INSTRUMENTS))
def test_every_7s_element_has_at_least_three_scale_items(codebook, instrument):
    for element in codebook.elements:
        assert len(codebook.scale_items(element, instrument)) >= 3, element


def test_every_variable_has_type_codes_and_provenance(codebook):
    for variable in codebook.variables:
        assert variable.type and variable.provenance and variable.provenance_note, variable.name
        if variable.type in CODED_TYPES:
            assert variable.codes, variable.name
        if variable.provenance == "assumed":
            assert len(variable.provenance_note) > 20, variable.name


def test_ids_and_free_text_are_never_published(codebook):
    assert set(codebook.unpublishable()) == {"respondent_id", "lsp_id", "comments"}


def test_reverse_worded_items_exist_in_several_elements(codebook):
    elements = {v.element for v in codebook.likert_items() if v.reverse}
    assert len(elements) >= 3


def _write_variant(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(load_config().codebook.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw["variables"][5].update(type="likert7"), "type 'likert7'"),
        (lambda raw: raw["variables"][5].pop("provenance"), "no provenance"),
        (lambda raw: raw["variables"][5].update(provenance="somewhere"), "provenance 'somewhere'"),
        (lambda raw: raw["variables"][5].update(element="vision"), "element 'vision'"),
        (lambda raw: raw["variables"].append(dict(raw["variables"][0])), "defined twice"),
        (lambda raw: raw["variables"][5].update(colour="red"), "unknown fields ['colour']"),
    ],
)
def test_a_malformed_codebook_is_refused_with_the_reason(tmp_path, mutate, message):
    with pytest.raises(PipelineError, match="malformed codebook") as error:
        load_codebook(_write_variant(tmp_path, mutate))
    assert message in str(error.value)
