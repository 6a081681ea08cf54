"""evaluation.py (the one metric code of `clinextract evaluate` and the Studio's Evaluate
page), checked against values worked out by hand; gold is read from a CSV by gold.py."""

from __future__ import annotations

import pytest

from clinextract import evaluation as ev
from clinextract.columns import Column, schema_columns
from clinextract.gold import read_gold

COLUMNS = [
    Column("side", "choice", nullable=True, choices=("left", "right")),
    Column("size", "number", nullable=True),
    Column("smoker", "yes/no", nullable=True),
    Column("codes", "list", item_kind="text"),
    Column("note", "text", nullable=True),
]
KINDS = {c.path: c.kind for c in COLUMNS}
PRED = {
    "1": {"side": "left", "size": 6.0, "smoker": True, "codes": ["a", "b"], "note": "x"},
    "2": {"side": "right", "size": 10.0, "smoker": False, "codes": ["a"], "note": "Y "},
    "3": {"side": "left", "size": None, "smoker": None, "codes": [], "note": None},
    "4": {"side": None, "size": 3.0, "smoker": True, "codes": ["c"], "note": "z"},
    "9": {"side": "left", "size": 1.0, "smoker": True, "codes": [], "note": "q"},
}
# id 5 has no prediction; row 4's size and row 3's smoker are empty cells
GOLD_CSV = (
    "id,side,size,smoker,codes,note\n"
    '1,left,6,yes,"[""a""]",x\n'
    '2,left,"12,0",0,"[""a""]",y\n'
    "3,right,4,,[],w\n"
    "4,right,,true,c;d,z\n"
    "5,left,1,no,[],v\n"
)


def gold(tmp_path, empty: str) -> dict:  # noqa: ANN001
    path = tmp_path / "gold.csv"
    path.write_text(GOLD_CSV, encoding="utf-8")
    return read_gold(path, COLUMNS, empty=empty)


@pytest.fixture()
def scores(tmp_path) -> dict[str, ev.FieldScore]:  # noqa: ANN001
    evaluation = ev.evaluate({"run": PRED}, gold(tmp_path, "skip"), KINDS, resamples=200)
    assert evaluation.matched == 4
    assert evaluation.gold_only == ["5"] and evaluation.pred_only == {"run": ["9"]}
    return {s.field: s for s in evaluation.scores["run"]}


def test_choice_accuracy_and_macro_f1(scores: dict) -> None:
    side = scores["side"]
    # gold: left, left, right, right; predicted: left, right, left, (none)
    assert (side.n, side.missing) == (4, 1)
    assert side.accuracy == pytest.approx(1 / 4)
    # left: tp 1, fp 1, fn 1 → 1/2; right: tp 0, fp 1, fn 2 → 0; macro = 1/4
    assert side.f1 == pytest.approx(0.25)
    assert side.mae is None
    low, high = side.accuracy_ci
    assert 0 <= low <= side.accuracy <= high <= 1


def test_number_accuracy_mae_and_missing(scores: dict) -> None:
    size = scores["size"]
    # rows with gold: 1 (6 vs 6), 2 (12,0 vs 10), 3 (4 vs none); row 4 not annotated
    assert (size.n, size.missing) == (3, 1)
    assert size.accuracy == pytest.approx(1 / 3)
    assert size.mae == pytest.approx((0 + 2) / 2)
    assert size.f1 is None and size.mae_ci is not None


def test_yes_no_words_are_read(scores: dict) -> None:
    smoker = scores["smoker"]
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
    assert note.accuracy == pytest.approx(3 / 4)
    assert note.f1 is None and note.missing == 1


def test_an_empty_gold_cell_means_null_unless_told(tmp_path) -> None:  # noqa: ANN001
    evaluation = ev.evaluate({"run": PRED}, gold(tmp_path, "null"), KINDS, resamples=0)
    scores = {s.field: s for s in evaluation.scores["run"]}
    size, smoker = scores["size"], scores["smoker"]
    assert (size.n, size.missing) == (4, 1)
    assert size.accuracy == pytest.approx(1 / 4) and size.mae == pytest.approx(1.0)
    assert (smoker.n, smoker.missing, smoker.accuracy) == (4, 0, pytest.approx(1.0))
    assert size.accuracy_ci is None  # resamples=0: no intervals


def test_runs_side_by_side_on_the_rows_they_share(tmp_path) -> None:  # noqa: ANN001
    better = {k: dict(v) for k, v in PRED.items() if k != "4"}
    better["2"]["side"] = "left"
    evaluation = ev.evaluate({"a": PRED, "b": better}, gold(tmp_path, "skip"), KINDS)
    assert evaluation.matched == 3  # id 4 is not in run b
    side = {run: s[0] for run, s in evaluation.scores.items()}
    assert side["a"].accuracy == pytest.approx(1 / 3)
    assert side["b"].accuracy == pytest.approx(2 / 3)
    wide = ev.side_by_side(evaluation)
    assert list(wide.columns) == ["field", "metric", "n", "a", "b"]
    row = wide[(wide.field == "side") & (wide.metric == "accuracy")].iloc[0]
    assert row["b"].startswith("0.67 [")


def test_bootstrap_is_paired_and_deterministic() -> None:
    w1, w2 = ev.bootstrap_weights(5, 50, seed=1), ev.bootstrap_weights(5, 50, seed=1)
    assert (w1 == w2).all() and (w1.sum(axis=1) == 5).all()
    s = ev.score_field("x", "choice", ["a"] * 10, ["a"] * 10, ev.bootstrap_weights(10, 100))
    assert s.accuracy == 1.0 and s.accuracy_ci == (1.0, 1.0)


def test_null_is_a_label_only_where_gold_holds_it() -> None:
    assert ev.macro_f1([True, None, False], [True, None, None]) == pytest.approx(5 / 9)
    assert ev.macro_f1(["a", "a", "b"], ["a", None, "b"]) == pytest.approx(5 / 6)


def test_confusion_counts_every_label_pair() -> None:
    cells = ev.confusion(["left", "left", "right"], ["left", None, "left"])
    table = {(g, p): c for g, p, c in cells.itertuples(index=False)}
    assert table[("left", "left")] == 1 and table[("left", "(none)")] == 1
    assert table[("right", "left")] == 1 and sum(table.values()) == 3 and len(table) == 9
    yes_no = ev.confusion([True, False], [True, True])
    assert set(yes_no["gold"]) == {"yes", "no"}
    schema = {"properties": {"exam": {"anyOf": [{"enum": ["CT thorax", "MRI"]}, {"type": "null"}]}}}
    spellings = ev.choice_spellings(schema_columns(schema)[0])
    assert spellings == {"ct thorax": "CT thorax", "mri": "MRI"}
    cells = ev.confusion([ev.normalize("CT Thorax ", "choice")], ["mri"], spellings)
    assert set(cells["gold"]) == {"CT thorax", "MRI"}


def test_ids_match_as_text() -> None:
    evaluation = ev.evaluate({"r": {7.0: {"x": "a"}}}, {"7": {"x": "A"}}, {"x": "text"})
    assert evaluation.matched == 1 and evaluation.scores["r"][0].accuracy == 1.0


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
    kinds = {c.path: c.kind for c in schema_columns(schema)}
    assert kinds == {"a": "integer", "b": "choice", "c": "yes/no", "d": "list", "e.f": "text"}
    assert ev.infer_kind([True, None, False]) == "yes/no"
    assert ev.infer_kind([1, 2.5, None]) == "number"
    assert ev.infer_kind(["a", 1]) == "text"
