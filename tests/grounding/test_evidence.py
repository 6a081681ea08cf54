"""Evidence spans (units, no model): every span is the report's own text at its offsets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clinextract.grounding.evidence import Source, evidence, similar

REPORT = (
    "CT thorax zonder contrast. Klinische vraagstelling: Man, 66 jaar, roker. "
    "Bevindingen: Solide nodus van 7 mm in de linker bovenkwab. Tweede nodulus van 1,4 cm "
    "rechts. Geen pleuravocht. Conclusie: longnoduli. Controle CT over 6 maanden geadviseerd."
)


def entries(path, value, node=None):
    return evidence(Source(REPORT), path, value, node or {})


def assert_spans(found, text=REPORT):
    for e in found:
        if e["match"] != "none":
            assert text[e["start"] : e["end"]] == e["text"]


def test_a_choice_is_found_as_written_case_insensitively():
    found = entries("onderzoek", "ct thorax", {"enum": ["ct thorax", "MRI"]})
    assert found[0] == {"text": "CT thorax", "start": 0, "end": 9, "match": "exact"}


def test_a_number_with_its_unit_near_the_fields_words():
    found = entries("grootte_mm", 7, {"description": "grootte van de nodus in mm"})
    assert found[0]["text"] == "7 mm" and found[0]["match"] == "exact"
    assert entries("leeftijd", 66, {"description": "leeftijd in jaren"})[0]["text"] == "66 jaar"
    in_cm = entries("nodus_mm", 14, {"description": "grootte in mm"})
    assert in_cm[0]["text"] == "1,4 cm" and in_cm[0]["match"] == "fuzzy"
    assert entries("x", 123, {})[0]["match"] == "none"


def test_booleans_rest_on_the_sentence_that_names_them():
    yes = entries("follow_up", True, {"description": "wordt controle geadviseerd"})
    assert "Controle CT" in yes[0]["text"] and yes[0]["match"] == "fuzzy"
    no = entries("pleuravocht", False, {"description": "is er pleuravocht"})
    assert no[0]["text"] == "Geen pleuravocht"
    never = entries("ascites", False, {"description": "is er ascites"})  # not mentioned
    assert never[0]["match"] == "none"


def test_inflections_and_compound_heads_match_first_parts_do_not():
    assert similar("noduli", "nodus") and similar("nodulaire", "longnodulus")
    assert similar("tumor", "colontumor") and similar("controle-echo", "controle")
    assert not similar("contrast", "controle") and not similar("long", "longnodulus")
    found = entries("bevindingen[0]", "longnodulus", {})
    assert found[0]["match"] == "fuzzy" and "nodu" in found[0]["text"].lower()


def test_nothing_to_point_at_is_none():
    for value in (None, [], ""):
        assert entries("x", value) == [{"text": None, "start": None, "end": None, "match": "none"}]


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    value=st.one_of(
        st.text(max_size=20),
        st.integers(-1000, 100000),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.booleans(),
    ),
)
def test_every_span_is_the_source_text_at_its_offsets(text, value):
    found = evidence(Source(text), "some_field", value, {"description": "grootte in mm"})
    assert found and all(e["match"] in ("exact", "fuzzy", "none") for e in found)
    assert_spans(found, text)


def test_offsets_hold_where_lower_casing_changes_the_length():
    # "İ".lower() is two characters: the lowered copy must keep the report's offsets
    text = "İİ Ankara: nodus van 7 mm. Geen ascites."
    found = evidence(Source(text), "grootte_mm", 7, {"description": "grootte in mm"})
    assert found[0]["text"] == "7 mm" and found[0]["start"] == text.index("7 mm")
    assert evidence(Source(text), "plaats", "ankara", {})[0]["text"] == "Ankara"
    assert evidence(Source(text), "ascites", False, {})[0]["text"] == "Geen ascites"
