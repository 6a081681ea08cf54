"""Evaluation metrics, checked against values worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from clinextract.errors import ConfigError
from clinextract.studio import metrics

PRED = pd.DataFrame(
    [
        {"_id": "1", "side": "left", "size": 6.0, "smoker": True, "codes": ["a", "b"], "note": "x"},
        {"_id": "2", "side": "right", "size": 10.0, "smoker": False, "codes": ["a"], "note": "Y "},
        {"_id": "3", "side": "left", "size": None, "smoker": None, "codes": [], "note": None},
        {"_id": "4", "side": None, "size": 3.0, "smoker": True, "codes": ["c"], "note": "z"},
        {"_id": "9", "side": "left", "size": 1.0, "smoker": True, "codes": [], "note": "q"},
    ],
    dtype=object,
)
# gold as a CSV gives it: every cell a string; id 5 has no prediction row
GOLD = pd.DataFrame(
    [
        {"id": "1", "side": "Left", "size": "6", "smoker": "yes", "codes": '["a"]', "note": "x"},
        {"id": "2", "side": "left", "size": "12,0", "smoker": "0", "codes": '["a"]', "note": "y"},
        {"id": "3", "side": "right", "size": "4", "smoker": "", "codes": "[]", "note": "w"},
        {"id": "4", "side": "right", "size": "", "smoker": "true", "codes": "c;d", "note": "z"},
        {"id": "5", "side": "left", "size": "1", "smoker": "no", "codes": "[]", "note": "v"},
    ],
    dtype=object,
)
KINDS = {"side": "choice", "size": "number", "smoker": "yes/no", "codes": "list", "note": "text"}


@pytest.fixture(scope="module")
def scores() -> dict[str, metrics.FieldScore]:
    evaluation = metrics.evaluate(
        PRED, GOLD, pred_id="_id", gold_id="id", kinds=KINDS, empty_gold="skip"
    )
    assert evaluation.matched == 4
    assert evaluation.gold_only == ["5"] and evaluation.pred_only == ["9"]
    return {s.field: s for s in evaluation.scores}


def test_choice_accuracy_and_macro_f1(scores: dict) -> None:
    side = scores["side"]
    # only the 4 matched rows count (gold id 5 was not in the run)
    # gold: left, left, right, right; predicted: left, right, left, (none)
    assert (side.n, side.missing) == (4, 1)
    assert side.accuracy == pytest.approx(1 / 4)
    # left: tp 1, fp 1, fn 1 → 1/2; right: tp 0, fp 1, fn 2 → 0; macro = 1/4
    assert side.f1 == pytest.approx(0.25)
    assert side.mae is None


def test_number_accuracy_mae_and_missing(scores: dict) -> None:
    size = scores["size"]
    # rows with gold: 1 (6 vs 6), 2 (12,0 vs 10), 3 (4 vs none); row 4 not annotated
    assert (size.n, size.missing) == (3, 1)
    assert size.accuracy == pytest.approx(1 / 3)
    assert size.mae == pytest.approx((0 + 2) / 2)
    assert size.f1 is None


def test_yes_no_words_are_read(scores: dict) -> None:
    smoker = scores["smoker"]
    # gold: yes, 0, true (row 3 not annotated); predicted: True, False, True
    assert (smoker.n, smoker.missing) == (3, 0)
    assert smoker.accuracy == pytest.approx(1.0) and smoker.f1 == pytest.approx(1.0)


def test_lists_are_sets_with_micro_f1(scores: dict) -> None:
    codes = scores["codes"]
    # gold {a} {a} {} {c,d}; pred {a,b} {a} {} {c}
    assert codes.accuracy == pytest.approx(2 / 4)
    # tp 1+1+0+1 = 3, fp 1 (b), fn 1 (d) → 6/8
    assert codes.f1 == pytest.approx(0.75)


def test_text_is_compared_trimmed_and_case_folded(scores: dict) -> None:
    note = scores["note"]
    # x=x, y=Y (trimmed), w vs none, z=z
    assert note.accuracy == pytest.approx(3 / 4)
    assert note.f1 is None and note.missing == 1


def test_an_empty_gold_cell_means_null_by_default() -> None:
    evaluation = metrics.evaluate(PRED, GOLD, pred_id="_id", gold_id="id", kinds=KINDS)
    scores = {s.field: s for s in evaluation.scores}
    size, smoker = scores["size"], scores["smoker"]
    # size: 6=6, 12 vs 10, 4 vs none, gold null vs 3
    assert (size.n, size.missing) == (4, 1)
    assert size.accuracy == pytest.approx(1 / 4) and size.mae == pytest.approx(1.0)
    # smoker: row 3's empty gold and null prediction now agree
    assert (smoker.n, smoker.missing, smoker.accuracy) == (4, 0, pytest.approx(1.0))
    with pytest.raises(ConfigError, match="empty_gold"):
        metrics.evaluate(PRED, GOLD, pred_id="_id", gold_id="id", kinds=KINDS, empty_gold="x")


def test_null_is_a_label_only_where_gold_holds_it() -> None:
    # true 1; null: tp 1, fp 1 (the last row) → 2/3; false: fn 1 → 0
    assert metrics.macro_f1([True, None, False], [True, None, None]) == pytest.approx(5 / 9)
    # without null in gold, a null prediction only misses: a: 2/3, b: 1
    assert metrics.macro_f1(["a", "a", "b"], ["a", None, "b"]) == pytest.approx(5 / 6)


def test_confusion_counts_every_label_pair() -> None:
    cells = metrics.confusion(["left", "left", "right"], ["left", None, "left"])
    table = {(g, p): c for g, p, c in cells.itertuples(index=False)}
    assert table == {
        ("left", "left"): 1,
        ("left", "right"): 0,
        ("left", "(none)"): 1,
        ("right", "left"): 1,
        ("right", "right"): 0,
        ("right", "(none)"): 0,
        ("(none)", "left"): 0,
        ("(none)", "right"): 0,
        ("(none)", "(none)"): 0,
    }
    yes_no = metrics.confusion([True, False], [True, True])
    assert set(yes_no["gold"]) == {"yes", "no"}
    schema = {"properties": {"exam": {"anyOf": [{"enum": ["CT thorax", "MRI"]}, {"type": "null"}]}}}
    spellings = metrics.choice_spellings(schema, "exam")
    assert spellings == {"ct thorax": "CT thorax", "mri": "MRI"}
    cells = metrics.confusion([metrics.normalize("CT Thorax ", "choice")], ["mri"], spellings)
    assert set(cells["gold"]) == {"CT thorax", "MRI"}


def test_ids_match_as_text_and_duplicates_are_refused() -> None:
    pred = pd.DataFrame([{"id": 7.0, "x": "a"}], dtype=object)
    gold = pd.DataFrame([{"id": "7", "x": "A"}], dtype=object)
    evaluation = metrics.evaluate(pred, gold, pred_id="id", gold_id="id", kinds={"x": "text"})
    assert evaluation.matched == 1 and evaluation.scores[0].accuracy == 1.0
    twice = pd.DataFrame([{"id": "1", "x": "a"}, {"id": "1", "x": "b"}], dtype=object)
    with pytest.raises(ConfigError, match="'1' more than once"):
        metrics.evaluate(pred, twice, pred_id="id", gold_id="id", kinds={"x": "text"})
    with pytest.raises(ConfigError, match="no column 'nope'"):
        metrics.evaluate(pred, gold, pred_id="nope", gold_id="id", kinds={})


def test_kinds_from_a_schema_and_from_values() -> None:
    schema = {
        "properties": {
            "a": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "b": {"enum": ["x", "y", None]},
            "c": {"type": ["boolean", "null"]},
            "d": {"type": "array", "items": {"type": "string"}},
            "e": {"type": "object", "properties": {"f": {"type": "string"}}},
        }
    }
    assert metrics.schema_kinds(schema) == {
        "a": "integer",
        "b": "choice",
        "c": "yes/no",
        "d": "list",
        "e": "group",
    }
    assert metrics.infer_kind([True, None, False]) == "yes/no"
    assert metrics.infer_kind([1, 2.5, None]) == "number"
    assert metrics.infer_kind(["a", 1]) == "text"
