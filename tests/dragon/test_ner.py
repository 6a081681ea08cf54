"""Entity texts → BIO tags over text_parts (clinextract.dragon.ner)."""

from __future__ import annotations

import json

import pytest

from clinextract.dragon.ner import (
    entities_from_multi_tags,
    entities_from_tags,
    find_occurrences,
    first_only_labels,
    spans,
    split_group,
    tag_multi,
    tag_single,
)
from tests.paths import SYNTHETIC

SHARED = SYNTHETIC / "input"
PARTS = [
    "Patient",
    "presents",
    "with",
    "lesion",
    "of",
    "3.8",
    "mm.",
    "II",
    "Lesion",
    "of",
    "3.8",
    "mm",
    ".",
    "lesions",
    "seen",
]


def test_every_occurrence_is_found_case_and_tokenisation_tolerant():
    # "3.8mm" spans two parts; "mm." carries a full stop; the second "mm" is followed by
    # its own "." part, which is not swallowed.
    assert find_occurrences(PARTS, "3.8mm") == [(5, 6), (10, 11)]
    assert find_occurrences(PARTS, "3.8 MM.") == [(5, 6), (10, 11)]
    assert find_occurrences(PARTS, "LESION") == [(3, 3), (8, 8)]  # not inside "lesions"


def test_never_part_of_a_word():
    assert find_occurrences(PARTS, "esion") == []
    assert find_occurrences(PARTS, "present") == []
    assert find_occurrences(["the", "lesion", "of"], "he lesion") == []


def test_loose_matching_only_when_exact_characters_are_absent():
    parts = ["over-the-counter", "medication", "and", "over", "the", "counter"]
    # exact characters exist once: only that one
    assert find_occurrences(parts, "over-the-counter") == [(0, 0)]
    # the spaced form exists exactly at 3..5; the hyphen-less target finds both loosely
    assert find_occurrences(parts, "over the counter") == [(3, 5)]
    assert find_occurrences(["over-the", "counter"], "overthecounter") == [(0, 1)]


def test_tag_single_bio_every_occurrence_and_longest_first():
    tags = tag_single(PARTS, [("SIZE", "3.8 mm"), ("STRUCTURE", "lesion"), ("X", "lesion of")])
    assert tags == [
        "O",
        "O",
        "O",
        "B-X",
        "I-X",
        "B-SIZE",
        "I-SIZE",
        "O",
        "B-X",
        "I-X",
        "B-SIZE",
        "I-SIZE",
        "O",
        "O",
        "O",
    ]
    assert len(tags) == len(PARTS)


def test_tag_single_unknown_text_and_empty():
    assert tag_single(PARTS, [("X", "nowhere to be found")]) == ["O"] * len(PARTS)
    assert tag_single(PARTS, []) == ["O"] * len(PARTS)
    assert tag_single([], [("X", "a")]) == []


def test_naive_baseline_is_first_exact_match_only():
    tags = tag_single(PARTS, [("S", "lesion")], mode="naive")
    assert tags.count("B-S") == 1 and tags[3] == "B-S"
    assert tag_single(PARTS, [("S", "Lesion")], mode="naive")[8] == "B-S"  # case-sensitive
    assert tag_single(PARTS, [("S", "3.8mm")], mode="naive") == ["O"] * len(PARTS)


def test_first_only_labels_tag_just_the_first_occurrence():
    tags = tag_single(PARTS, [("S", "lesion")], first_only={"S"})
    assert tags.count("B-S") == 1 and tags[3] == "B-S"


def test_multi_label_groups_follow_the_model_numbers_not_list_position():
    parts = ["I+II", "lesion", "of", "8.0", "cm", ".", "III", "lesion", "of", "2", "mm"]
    # listed out of order, and group 1 and 0 share a text: both tags on those parts
    entities = [("2-lesion", "2 mm"), ("1-lesion", "8.0 cm"), ("0-lesion", "8.0 cm")]
    tags = tag_multi(parts, entities)
    assert tags[3] == ["B-0-lesion", "B-1-lesion"]
    assert tags[4] == ["I-0-lesion", "I-1-lesion"]
    assert tags[9] == ["B-2-lesion"] and tags[10] == ["I-2-lesion"]
    assert tags[0] == ["O"] and len(tags) == len(parts)


def test_numbered_items_repeating_words_share_the_occurrences_in_reading_order():
    parts = ["II", "lesion", "14", "mm", "IV", "lesion", "14", "mm", "V", "cyst", "9", "mm"]
    tags = tag_multi(parts, [("3-lesion", "14 mm"), ("1-lesion", "14 mm"), ("4-lesion", "9 mm")])
    assert tags[2] == ["B-1-lesion"] and tags[6] == ["B-3-lesion"] and tags[10] == ["B-4-lesion"]
    # one item, two occurrences: every occurrence, as usual
    tags = tag_multi(parts, [("1-lesion", "14 mm")])
    assert tags[2] == tags[6] == ["B-1-lesion"]


def test_multi_label_order_is_numeric_so_substring_matching_picks_the_right_tag():
    parts = ["x"]
    tags = tag_multi(parts, [("11-lesion", "x"), ("1-lesion", "x"), ("2-lesion", "x")])
    assert tags == [["B-1-lesion", "B-2-lesion", "B-11-lesion"]]


def test_spans_read_bio_like_the_evaluator():
    assert spans(["I-X", "I-X", "O", "B-Y", "I-Y", "B-Y", "I-Z"]) == [
        ("X", 0, 1),
        ("Y", 3, 4),
        ("Y", 5, 5),
        ("Z", 6, 6),
    ]
    assert split_group("12-locatie naald") == (12, "locatie naald")
    assert split_group("STRUCTURE") == (None, "STRUCTURE")


def test_gold_round_trip():
    parts = ["a", "b", "c", "d"]
    assert entities_from_tags(parts, ["B-X", "I-X", "O", "B-Y"]) == [("X", "a b"), ("Y", "d")]
    multi = [["B-0-l", "B-1-l"], ["I-0-l", "I-1-l"], ["O"], ["B-1-l"]]
    assert entities_from_multi_tags(parts, multi) == [("0-l", "a b"), ("1-l", "a b"), ("1-l", "d")]
    assert tag_multi(parts, entities_from_multi_tags(parts, multi)) == [
        ["B-0-l", "B-1-l"],
        ["I-0-l", "I-1-l"],
        ["O"],
        ["B-1-l"],
    ]


def test_first_only_labels_learned_from_training_tags():
    # PREFIX is tagged once though its words repeat; STRUCTURE at every occurrence
    parts = ["Patient", "presents", "lesion", "Patient", "presents", "lesion"]
    tags = ["B-PREFIX", "I-PREFIX", "B-STRUCTURE", "O", "O", "B-STRUCTURE"]
    assert first_only_labels([(parts, tags)] * 3) == {"PREFIX"}


@pytest.mark.parametrize("task", ["Task108_Example_sl_ner", "Task109_Example_ml_ner"])
def test_gold_answers_align_back_onto_the_synthetic_validation_tags(task):
    """What the alignment can reach when the model names exactly the gold entities:
    the gold tags come back for nearly every case (Task109 repeats sizes across lesions)."""
    from clinextract.dragon.adapters import make_adapter
    from clinextract.dragon.instructions import instruction_for
    from clinextract.dragon.jobs import load_job

    job = load_job(SHARED / f"{task}-fold0")
    adapter = make_adapter(job, instruction_for(job.task_name, job.label_name))
    same = 0
    for case in job.validation:
        record = {"status": "success", "fields": adapter.answer(case)}
        same += adapter.predict(record, case) == case[job.label_name]
    assert same / len(job.validation) >= (0.99 if "sl_ner" in task else 0.8)
    json.dumps(adapter.schema.json_schema)  # the schema is plain JSON
