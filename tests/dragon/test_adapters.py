"""One adapter per label type: schema from the job's labels ↔ prediction value.

Job folders are written to tmp_path; records are hand-made dicts shaped like the
pipeline's records (units, no model)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from clinextract.dragon.adapters import ADAPTERS, make_adapter
from clinextract.dragon.instructions import GENERIC, TASKS, instruction_for
from clinextract.dragon.jobs import LABEL_TYPES, load_job
from clinextract.dragon.logprobs import bool_probabilities, bool_probability


def make_job(
    tmp_path: Path,
    label: str,
    train: list,
    test: list | None = None,
    name: str = "Task999_demo",
    input_name: str = "text",
    side: str = "left",
):
    folder = tmp_path / f"{name}-fold0"
    folder.mkdir()
    cfg = {
        "jobid": 1,
        "task_name": name,
        "input_name": input_name,
        "label_name": label,
        "recommended_truncation_side": side,
        "version": "1.0",
    }
    (folder / "nlp-task-configuration.json").write_text(json.dumps(cfg))
    rows = [{"uid": f"c{i}", input_name: x, label: y} for i, (x, y) in enumerate(train)]
    (folder / "nlp-training-dataset.json").write_text(json.dumps(rows[: max(1, len(rows) - 1)]))
    (folder / "nlp-validation-dataset.json").write_text(json.dumps(rows[len(rows) - 1 :]))
    tests = test or [x for x, _ in train]
    (folder / "nlp-test-dataset.json").write_text(
        json.dumps([{"uid": f"t{i}", input_name: x} for i, x in enumerate(tests)])
    )
    job = load_job(folder)
    return job, make_adapter(job, instruction_for(job.task_name, job.label_name))


def ok(fields: dict, raw: str | None = None, logprobs: list | None = None) -> dict:
    return {
        "status": "success",
        "fields": fields,
        "raw_output": raw or json.dumps(fields),
        "logprobs": logprobs,
    }


FAILED = {"status": "failure", "fields": {"answer": None}, "raw_output": None}


def test_every_label_type_has_an_adapter_and_a_generic_instruction():
    assert set(ADAPTERS) == set(LABEL_TYPES) == set(GENERIC)
    assert len(TASKS) == 28


def test_single_binary_probability_from_logprobs_and_prior_on_failure(tmp_path):
    job, a = make_job(
        tmp_path,
        "single_label_binary_classification_target",
        [("a", True), ("b", False), ("c", True), ("d", True)],
    )
    assert a.schema.json_schema["properties"] == {"answer": {"type": "boolean"}}
    assert a.top_logprobs > 0
    assert a.answer(job.training[0]) == {"answer": True}
    logprobs = [
        ['{"', -0.1, {}],
        ["answer", -0.1, {}],
        ['":', -0.1, {}],
        ["true", -1.0, {' "': -0.5, " true": math.log(0.3), " false": math.log(0.1)}],
        ["}", -0.1, {}],
    ]
    p = a.predict(ok({"answer": True}, '{"answer":true}', logprobs), job.test[0])
    assert p == pytest.approx(0.75)
    assert a.variants(ok({"answer": True}, '{"answer":true}', logprobs), job.test[0]) == {
        "hard": 1.0
    }
    assert a.predict(ok({"answer": False}), job.test[0]) == 0.0  # no logprobs: hard label
    assert a.predict(FAILED, job.test[0]) == 0.75  # training prior
    assert a.predict(None, job.test[0]) == 0.75


def test_bool_probability_spellings_and_missing_side():
    assert bool_probability(
        {"true": math.log(0.2), "True": math.log(0.2), " false": math.log(0.2)}, True
    ) == pytest.approx(2 / 3)
    assert bool_probability({"tr": math.log(0.5), "f": math.log(0.5)}, True) == pytest.approx(0.5)
    # only "true" listed: "false" gets half of the smallest listed probability
    p = bool_probability({"true": math.log(0.6), "x": math.log(0.1)}, True)
    assert p == pytest.approx(0.6 / 0.65)
    assert bool_probability({"x": -1.0}, False) == 0.0  # neither side: the hard answer


def test_bool_probabilities_need_tokens_that_spell_the_text():
    lp = [
        ['{"a":', -0.1, {}],
        ["false", -0.1, {"false": -0.1, "true": -2.4}],
        [',"b":', -0.1, {}],
        ["true", -0.1, {"true": -0.2, "false": -0.2}],
        ["}", 0, {}],
    ]
    probs = bool_probabilities('{"a":false,"b":true}', lp)
    assert probs["a"] == pytest.approx(math.exp(-2.4) / (math.exp(-2.4) + math.exp(-0.1)))
    assert probs["b"] == pytest.approx(0.5)
    assert bool_probabilities('{"a":true}', [["nothing", 0, {}]]) == {}
    assert bool_probabilities('{"a":true}', None) == {}


def test_multi_binary_length_from_labels_and_named_sub_labels(tmp_path):
    labels = [("a", [True, False, True]), ("b", [False, False, True]), ("c", [True, True, True])]
    job, a = make_job(tmp_path, "multi_label_binary_classification_target", labels)
    assert list(a.schema.json_schema["properties"]) == ["label_1", "label_2", "label_3"]
    assert a.predict(FAILED, job.test[0]) == pytest.approx([2 / 3, 1 / 3, 1.0])
    hard = ok({"label_1": True, "label_2": False, "label_3": True})
    assert a.variants(hard, job.test[0]) == {"hard": [1.0, 0.0, 1.0], "model_only": [1.0, 0.0, 1.0]}
    # pooled AUC: the training rate of each label is combined with the model's P(true)
    # in logit space (P clipped to [0.01, 0.99])
    p = a.predict(hard, job.test[0])
    odds = [2 * 99, (1 / 2) / 99, 99 * 99]  # a rate of 1.0 is clipped to 0.99 too
    assert p == pytest.approx([o / (1 + o) for o in odds])
    lp = [
        ['{"label_1":', 0, {}],
        ["true", 0, {"true": math.log(0.6), "false": math.log(0.4)}],
        [',"label_2":', 0, {}],
        ["false", 0, {"true": math.log(0.6), "false": math.log(0.4)}],
        [',"label_3":', 0, {}],
        ["true", 0, {"true": math.log(0.6), "false": math.log(0.4)}],
        ["}", 0, {}],
    ]
    same = a.predict(
        ok(hard["fields"], '{"label_1":true,"label_2":false,"label_3":true}', lp), job.test[0]
    )
    assert same[2] > same[0] > same[1]  # equal model confidence: ordered by training rate
    # a named DRAGON task with the right number of sub-labels gets their names
    named = tmp_path / "named"
    named.mkdir()
    seven = [("r", [True] * 7), ("s", [False] * 7)]
    _, b = make_job(
        named,
        "multi_label_binary_classification_target",
        seven,
        name="Task015_colon_pathology_clf",
        input_name="text_parts",
    )
    assert list(b.schema.json_schema["properties"])[:2] == ["biopsy", "cancer"]


def test_single_multi_class_classes_from_training_sorted_numerically(tmp_path):
    labels = [("a", "10"), ("b", "2"), ("c", "2"), ("d", "0")]
    job, a = make_job(tmp_path, "single_label_multi_class_classification_target", labels)
    assert a.schema.json_schema["properties"]["answer"]["enum"] == ["0", "2", "10"]
    assert a.predict(ok({"answer": "10"}), job.test[0]) == "10"
    assert a.predict(FAILED, job.test[0]) == "2"  # majority
    with pytest.raises(ValueError):
        a.schema.validate_json('{"answer":"3"}')  # never seen in training: not allowed


def test_multi_multi_class_per_position_classes(tmp_path):
    labels = [("a", ["flu", "rest"]), ("b", ["cold", "rest"]), ("c", ["flu", "pills"])]
    job, a = make_job(tmp_path, "multi_label_multi_class_classification_target", labels)
    props = a.schema.json_schema["properties"]
    assert props["label_1"]["enum"] == ["cold", "flu"]
    assert props["label_2"]["enum"] == ["pills", "rest"]
    assert a.predict(FAILED, job.test[0]) == ["flu", "rest"]
    assert a.predict(ok({"label_1": "cold", "label_2": "pills"}), job.test[0]) == ["cold", "pills"]


def test_single_regression_median_fallback(tmp_path):
    job, a = make_job(
        tmp_path, "single_label_regression_target", [("a", 10.0), ("b", 30), ("c", 20.0)]
    )
    assert a.predict(ok({"answer": "7.5"}), job.test[0]) == 7.5
    assert a.predict(FAILED, job.test[0]) == 20.0
    assert a.answer(job.training[0]) == {"answer": "10"}
    # digits, not a JSON number: a run-away "15.0000…" cannot be written
    a.schema.validate_json('{"answer":"123.5"}')
    for bad in ('{"answer":"15.00"}', '{"answer":"12345"}', '{"answer":"-1"}'):
        with pytest.raises(ValueError):
            a.schema.validate_json(bad)


def test_multi_regression_never_null(tmp_path):
    labels = [("a", [1.0, None, 5.0]), ("b", [3.0, None, None]), ("c", [2.0, 8.0, None])]
    job, a = make_job(tmp_path, "multi_label_regression_target", labels)
    assert a.answer(job.training[0]) == {"label_1": "1", "label_2": None, "label_3": "5"}
    pred = a.predict(ok({"label_1": "4", "label_2": None, "label_3": None}), job.test[0])
    assert pred == [4.0, 8.0, 5.0]  # nulls become that position's training median
    assert a.predict(None, job.test[0]) == [2.0, 8.0, 5.0]
    assert all(isinstance(v, float) for v in pred)


def test_ner_schema_from_training_tags_and_prediction_length(tmp_path):
    train = [
        (
            ["Jan", "de", "Vries", "op", "1", "mei"],
            ["B-PER", "I-PER", "I-PER", "O", "B-DAT", "I-DAT"],
        ),
        (["Piet", "gezien"], ["B-PER", "O"]),
    ]
    job, a = make_job(
        tmp_path,
        "named_entity_recognition_target",
        train,
        test=[["Gezien", "door", "jan", "de", "vries", ";", "jan", "de", "vries"]],
        input_name="text_parts",
    )
    assert set(a.schema.json_schema["properties"]) == {"DAT", "PER"}
    assert a.answer(job.training[0]) == {"DAT": ["1 mei"], "PER": ["Jan de Vries"]}
    tags = a.predict(ok({"PER": ["Jan de Vries"], "DAT": []}), job.test[0])
    assert tags == ["O", "O", "B-PER", "I-PER", "I-PER", "O", "B-PER", "I-PER", "I-PER"]
    assert a.variants(ok({"PER": ["Jan de Vries"], "DAT": []}), job.test[0]) == {
        "first_match": ["O"] * 9
    }  # the naive baseline misses the lower-case name
    assert a.predict(FAILED, job.test[0]) == ["O"] * 9


def test_multi_ner_grouped_schema_numbers_and_types(tmp_path):
    train = [
        (
            ["I", "lesion", "3", "mm", "II", "cyst", "4", "mm"],
            [
                ["O"],
                ["B-1-kind"],
                ["B-1-size"],
                ["I-1-size"],
                ["O"],
                ["B-2-kind"],
                ["B-2-size"],
                ["I-2-size"],
            ],
        )
    ]
    job, a = make_job(
        tmp_path, "multi_label_named_entity_recognition_target", train * 2, input_name="text_parts"
    )
    item = a.schema.json_schema["properties"]["entities"]["items"]["properties"]
    assert item["n"]["enum"] == [1, 2] and item["type"]["enum"] == ["kind", "size"]
    assert "numbered from 1" in a.guidance
    answer = a.answer(job.training[0])
    assert answer["entities"][0] == {"n": 1, "type": "kind", "text": "lesion"}
    fields = {
        "entities": [
            {"n": 2, "type": "size", "text": "3 mm"},
            {"n": 1, "type": "kind", "text": "cyst"},
        ]
    }
    tags = a.predict(ok(fields), job.test[0])
    assert tags[2] == ["B-2-size"] and tags[5] == ["B-1-kind"] and tags[0] == ["O"]
    assert len(tags) == 8


def test_a_partial_record_keeps_its_valid_labels_and_falls_back_for_the_failed_ones(tmp_path):
    train = [("a", ["x", "p"]), ("b", ["x", "q"]), ("c", ["y", "q"]), ("d", ["x", "q"])]
    job, a = make_job(tmp_path, "multi_label_multi_class_classification_target", train)
    first, second = a.fields
    partial = {
        "status": "partial",
        "fields": {first: "y", second: None},
        "field_errors": {second: "not one of the allowed values"},
        "raw_output": "{}",
    }
    assert a.predict(partial, job.test[0]) == ["y", a.majority[1]]
    assert a.predict(FAILED, job.test[0]) == list(a.majority)
