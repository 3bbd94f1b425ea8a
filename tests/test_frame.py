"""The sampling frame in data/raw: the real 388 LSPs, with ids kept as text."""


def test_frame_has_388_unique_lsps(frame):
    assert len(frame) == 388
    assert frame["lsp_id"].is_unique


def test_frame_counts_by_authority_type(frame):
    assert frame["authority_type"].value_counts().to_dict() == {
        "shire_district": 238,
        "unitary": 47,
        "metropolitan_district": 36,
        "county": 34,
        "london_borough": 33,
    }


def test_frame_counts_by_tier_follow_authority_type(frame):
    assert frame["tier"].value_counts().to_dict() == {"multi": 272, "single": 116}
    single = frame["authority_type"].isin(["metropolitan_district", "london_borough", "unitary"])
    assert (frame.loc[single, "tier"] == "single").all()
    assert (frame.loc[~single, "tier"] == "multi").all()


def test_county_ids_keep_their_leading_zeros(frame):
    assert "09" in set(frame.loc[frame["authority_type"] == "county", "lsp_id"])
    assert frame["lsp_id"].str.len().isin([2, 4]).all()


def test_frame_has_150_laa_areas_and_17_case_studies(frame):
    assert frame["laa_area_id"].nunique() == 150
    assert (frame["case_study_2008"] == "true").sum() == 17
