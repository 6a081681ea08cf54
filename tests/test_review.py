"""review.py and gold.py: decisions in reviews.jsonl (crash-safe, the latest counts),
gold in and out (CSV, JSON, Label Studio), agreement and Cohen's kappa, and reviewed
records as few-shot examples. Runs are the synthetic run folder (tests/synthetic_run.py,
no model) and a run of the real pipeline with the FakeEngine (tests/fakes.py): fakes, so
every model value is known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinextract.errors import ConfigError
from clinextract.gold import read_gold, write_gold
from clinextract.review import ACCEPT, CORRECT, RunReview, cohens_kappa, reviewed_examples, stats
from tests.studio.helpers import fake_run, make_workspace
from tests.synthetic_run import make_run


@pytest.fixture()
def synthetic(tmp_path: Path) -> RunReview:
    return RunReview(make_run(tmp_path, 12))


@pytest.fixture()
def lesions(tmp_path: Path) -> RunReview:
    # model: r1 right 6 · r2 left 12 · r3 left null · r4 failed (null)
    return RunReview(fake_run(make_workspace(tmp_path)))


def test_columns_come_from_the_manifests_schema(synthetic: RunReview) -> None:
    kinds = {c.path: c.kind for c in synthetic.columns}
    assert kinds == {
        "onderzoek": "choice",
        "regio": "text",
        "nodus.aanwezig": "yes/no",
        "nodus.grootte_mm": "integer",
        "bevindingen": "list",
        "controle": "yes/no",
    }
    size = synthetic.by_path["nodus.grootte_mm"]
    assert (size.minimum, size.maximum, size.nullable) == (0, 300, True)


def test_a_decision_is_accept_or_correct_and_checked(synthetic: RunReview) -> None:
    model = synthetic.model_value(0, "onderzoek")
    assert synthetic.decision(0, "onderzoek", model, "anna").action == ACCEPT
    other = next(v for v in ("CT", "MRI") if v != model)
    d = synthetic.decision(0, "onderzoek", other, "anna")
    assert (d.action, d.model_value, d.value, d.id) == (CORRECT, model, other, "r00000")
    with pytest.raises(ConfigError, match="not one of"):
        synthetic.decision(0, "onderzoek", "PET", "anna")
    with pytest.raises(ConfigError, match="above the maximum 300"):
        synthetic.decision(0, "nodus.grootte_mm", 301, "anna")
    with pytest.raises(ConfigError, match="reviewer"):
        synthetic.decision(0, "controle", True, " ")
    with pytest.raises(ConfigError, match="not a field"):
        synthetic.decision(0, "nodus", {}, "anna")
    assert synthetic.decision(0, "regio", None, "anna").value is None  # not in the report


def test_decisions_are_appended_and_the_latest_counts(synthetic: RunReview) -> None:
    before = synthetic.folder.records_path.read_bytes()
    synthetic.record([synthetic.decision(1, "controle", True, "anna")])
    synthetic.record([synthetic.decision(1, "controle", False, "anna")])
    synthetic.record([synthetic.decision(1, "controle", True, "bob")])
    lines = synthetic.folder.reviews_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and set(json.loads(lines[0])) == {
        "row", "id", "field", "model_value", "value", "action", "reviewer", "at"
    }  # fmt: skip
    assert synthetic.folder.records_path.read_bytes() == before  # the records are not edited
    assert synthetic.reviewed("anna") == {1: {"controle": False}}
    assert synthetic.reviewed() == {1: {"controle": True}}  # anyone's latest: bob's
    assert len(synthetic.latest()) == 2


def test_a_half_written_line_is_cut_off(synthetic: RunReview) -> None:
    synthetic.record([synthetic.decision(2, "controle", True, "anna")])
    with synthetic.folder.reviews_path.open("a", encoding="utf-8") as fh:
        fh.write('{"row": 2, "id": "r00002", "field": "contr')  # killed while writing
    assert len(synthetic.decisions()) == 1  # the half line is not a decision
    synthetic.record([synthetic.decision(3, "controle", False, "anna")])
    lines = synthetic.folder.reviews_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["row"] for line in lines] == [2, 3]


def test_gold_round_trips_through_csv_and_json(lesions: RunReview, tmp_path: Path) -> None:
    gold_in = tmp_path / "gold_in.csv"
    gold_in.write_text("id,side,size_mm\nr1,right,6\nr2,right,\nr9,left,3\n", encoding="utf-8")
    gold = read_gold(gold_in, lesions.columns, id_field="id")
    decisions, unknown = lesions.import_gold(gold, "anna")
    assert unknown == ["r9"] and len(decisions) == 4
    assert [d.action for d in decisions] == [ACCEPT, ACCEPT, CORRECT, CORRECT]
    expected = {"r1": {"side": "right", "size_mm": 6}, "r2": {"side": "right", "size_mm": None}}
    assert lesions.gold() == expected
    for name in ("out.csv", "out.json", "out.jsonl"):
        write_gold(tmp_path / name, lesions.gold(), lesions.columns, "id")
        assert read_gold(tmp_path / name, lesions.columns) == expected, name
    nested = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert nested[1] == {"id": "r2", "side": "right", "size_mm": None}


def test_unreviewed_fields_are_absent_not_null(synthetic: RunReview, tmp_path: Path) -> None:
    synthetic.record(
        [
            synthetic.decision(0, "nodus.aanwezig", False, "anna"),
            synthetic.decision(0, "nodus.grootte_mm", None, "anna"),
            synthetic.decision(4, "bevindingen", ["Geen pleuravocht."], "anna"),
        ]
    )
    gold = synthetic.gold()
    assert gold == {
        "r00000": {"nodus.aanwezig": False, "nodus.grootte_mm": None},
        "r00004": {"bevindingen": ["Geen pleuravocht."]},
    }
    write_gold(tmp_path / "g.json", gold, synthetic.columns, "uid")
    items = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert items[0] == {"uid": "r00000", "nodus": {"aanwezig": False, "grootte_mm": None}}
    assert items[1] == {"uid": "r00004", "bevindingen": ["Geen pleuravocht."]}
    write_gold(tmp_path / "g.csv", gold, synthetic.columns, "uid")
    assert read_gold(tmp_path / "g.csv", synthetic.columns) == gold  # null spelled `null`
    assert read_gold(tmp_path / "g.json", synthetic.columns) == gold


def test_a_label_studio_export_is_read(lesions: RunReview, tmp_path: Path) -> None:
    export = [
        {
            "id": 1,
            "data": {"text": "…", "id": "r1"},
            "annotations": [
                {
                    "updated_at": "2025-01-02",
                    "result": [
                        {"from_name": "side", "type": "choices", "value": {"choices": ["left"]}},
                        {"from_name": "size_mm", "type": "number", "value": {"number": 7}},
                        {"from_name": "evidence", "type": "labels", "value": {"labels": ["x"]}},
                    ],
                },
                {"updated_at": "2025-01-01", "result": []},  # an older one
            ],
        },
        {
            "id": 2,
            "data": {"text": "…", "id": "r2"},
            "annotations": [{"result": [{"from_name": "side", "value": {"choices": ["left"]}}]}],
        },
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    gold = read_gold(path, lesions.columns)
    # a field the project labels that an annotation leaves out is null ("not in the report")
    assert gold == {"r1": {"side": "left", "size_mm": 7}, "r2": {"side": "left", "size_mm": None}}


def test_bad_gold_is_one_clear_error(lesions: RunReview, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,side\nr1,up\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="r1.*side.*not one of"):
        read_gold(bad, lesions.columns)
    bad.write_text("nr,foo\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no id column"):
        read_gold(bad, lesions.columns)


def test_stats_agreement_and_kappa(lesions: RunReview) -> None:
    lesions.record(
        lesions.decision(row, "side", value, who)
        for who, values in (("anna", ["right", "left", "left"]), ("bob", ["right", "left", "none"]))
        for row, value in enumerate(values)
    )
    (side,) = stats(lesions)
    assert (side.field, side.reviewed, side.reviewers, side.shared) == ("side", 3, 2, 3)
    assert side.agreement == pytest.approx(5 / 6)  # bob corrected r3
    # anna right,left,left; bob right,left,none: po 2/3, pe (1·1 + 2·1 + 0)/9 = 1/3 → 1/2
    assert side.kappa == pytest.approx(0.5)
    assert cohens_kappa(["a", "a"], ["a", "a"]) is None
    assert cohens_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)


def test_fully_reviewed_records_become_examples(lesions: RunReview) -> None:
    lesions.record(
        [
            lesions.decision(1, "side", "left", "anna"),
            lesions.decision(1, "size_mm", 12, "anna"),
            lesions.decision(2, "side", "none", "anna"),  # size not reviewed: not an example
        ]
    )
    pool = reviewed_examples(lesions.folder.path, lesions.schema)
    assert len(pool) == 1
    (example,) = pool.examples
    assert example.input == "Left lung: lesion of 12 mm, spiculated."
    assert json.loads(example.output) == {"side": "left", "size_mm": 12}
    (origin,) = pool.sources
    assert origin["ids"] == ["r2"] and origin["count"] == 1
    assert origin["reviews"] == str(lesions.folder.reviews_path)
    # a report is never its own example
    assert pool.select(example.input, 1) == []


def test_no_reviewed_record_is_an_error(lesions: RunReview) -> None:
    with pytest.raises(ConfigError, match="no fully reviewed record"):
        reviewed_examples(lesions.folder.path, lesions.schema)


def test_a_run_with_examples_from_uses_the_reviewed_records(tmp_path: Path) -> None:
    """The pipeline with the FakeEngine (fakes.py): the reviewed record is in the prompt
    of the other reports, never in its own, and the manifest names its source."""
    from clinextract.pipeline import run_task
    from clinextract.store import RunFolder
    from clinextract.task import load_task
    from tests.fakes import FakeEngine
    from tests.studio.helpers import fake_answer, write_task

    settings = make_workspace(tmp_path)
    reviewed = RunReview(fake_run(settings))
    reviewed.record(
        [reviewed.decision(1, "side", "left", "anna"), reviewed.decision(1, "size_mm", 12, "a")]
    )
    prompts: list[tuple[str, bool]] = []  # (the report asked about, the example given)

    def answer(request):  # noqa: ANN001, ANN202
        shown = any(m["content"] == '{"side":"left","size_mm":12.0}' for m in request.messages)
        prompts.append((request.messages[-1]["content"], shown))
        return fake_answer(request)

    again = settings.model_copy(
        update={"run_name": "again", "num_examples": 1, "examples_from": [reviewed.folder.path]}
    )
    engine = FakeEngine(answer, capacity=1, threaded=False)
    try:
        (summary,) = run_task(load_task(write_task(settings), again), again, engine=engine)
    finally:
        engine.close()
    without = [report for report, shown in prompts if not shown]
    assert len(without) == 1 and "spiculated" in without[0]  # r2 is not its own example
    manifest = RunFolder(summary.run_dir).manifest()
    (source,) = manifest["examples"]["sources"]
    assert (source["source"], source["ids"], source["count"]) == ("reviews", ["r2"], 1)
    assert manifest["examples"]["num_examples"] == 1
    assert "examples_from" not in manifest["output_config"]
